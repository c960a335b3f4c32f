//! `install/helm/*.values.yaml` (Istio ≥ 1.24): the values of Istio's `base`, `istiod` and
//! `gateway` charts as data, one source for the values files and the GitOps releases.

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::install::Inputs;
use super::names::injection_path;
use super::{Applied, ClusterFiles, Ctx};
use crate::model::{Cluster, Mesh};
use crate::overlay::merge;

/// The Helm values of one cluster, for the values files and Flux.
pub(crate) struct ClusterHelm {
    pub base: Value,
    pub istiod: Value,
    pub gateway: Option<Value>,
    /// Ambient only: the `cni` and `ztunnel` charts.
    pub ambient: Option<AmbientHelm>,
}

/// The node-level charts of an ambient data plane.
pub(crate) struct AmbientHelm {
    pub cni: Value,
    pub ztunnel: Value,
}

#[derive(Serialize)]
struct Values<'a> {
    /// The `helm install` command(s) for this values file, one per comment line.
    install: Vec<String>,
    values: &'a Value,
}

#[derive(Serialize)]
struct Chart<'a> {
    chart: &'a str,
    install: Vec<String>,
    values: &'a Value,
}

#[derive(Serialize)]
struct IstiodValues<'a> {
    role: &'a str,
    install: Vec<String>,
    values: &'a Value,
}

/// `helm install` for one chart of `mesh.charts` with its values file: `istio/<chart>` after
/// `helm repo add` for an HTTPS repository, the full `oci://…/<chart>` reference for OCI;
/// `--version` when the chart version is known; `--skip-schema-validation` for the gateway
/// charts whose schema rejects every value (ISTIO-FACTS §9.1 #7).
pub(crate) fn install_commands(
    mesh: &Mesh,
    c: &Cluster,
    release: &str,
    chart: &str,
    values_file: &str,
) -> Vec<String> {
    let mut out = Vec::new();
    let chart_ref = if mesh.charts.is_oci() {
        format!("{}/{chart}", mesh.charts.repository)
    } else {
        out.push(format!("helm repo add istio {}", mesh.charts.repository));
        format!("istio/{chart}")
    };
    let mut cmd = format!("helm install {release} {chart_ref}");
    if let Some(v) = &mesh.charts.version {
        cmd.push_str(&format!(" --version {v}"));
    }
    cmd.push_str(&format!(
        " -n istio-system --kube-context {} -f {values_file}",
        c.name
    ));
    if chart == "gateway"
        && mesh
            .version
            .gateway_chart_schema_broken(mesh.charts.version.as_deref())
    {
        cmd.push_str(" --skip-schema-validation");
    }
    out.push(cmd);
    out
}

/// The `base` and `istiod` values files; `None` before Istio 1.24.
pub(super) fn plan(x: &Ctx, h: &Inputs, out: &mut ClusterFiles) -> Option<ClusterHelm> {
    if !x.mesh.version.has_helm_values() {
        return None;
    }
    // Overrides last, over everything meshrender computes (validation refused the derived
    // paths): `meshConfig` into the chart's `meshConfig`, then the chart's own overrides.
    let o = &out.c.overrides;
    let mut base = base_values(x.mesh, h);
    if let Some(b) = &o.helm_base {
        merge(&mut base, b);
    }
    let mut istiod = istiod_values(x.mesh, out.c, h);
    if let Some(m) = &o.mesh_config {
        merge(&mut istiod, &json!({ "meshConfig": m }));
    }
    if let Some(i) = &o.helm_istiod {
        merge(&mut istiod, i);
    }
    let istiod_release = match &x.mesh.revision {
        Some(r) => format!("istiod-{r}"),
        None => "istiod".to_owned(),
    };
    out.add(
        "install/helm/base.values.yaml",
        "helm/base.values.yaml.j2",
        Applied::No,
        Values {
            install: install_commands(
                x.mesh,
                out.c,
                "istio-base",
                "base",
                "install/helm/base.values.yaml",
            ),
            values: &base,
        },
    );
    out.add(
        "install/helm/istiod.values.yaml",
        "helm/istiod.values.yaml.j2",
        Applied::No,
        IstiodValues {
            role: &h.role,
            install: install_commands(
                x.mesh,
                out.c,
                &istiod_release,
                "istiod",
                "install/helm/istiod.values.yaml",
            ),
            values: &istiod,
        },
    );
    let ambient = h.ambient.then(|| {
        let cni = cni_values(x.mesh);
        let ztunnel = ztunnel_values(x.mesh, out.c);
        for (chart, release, values) in
            [("cni", "istio-cni", &cni), ("ztunnel", "ztunnel", &ztunnel)]
        {
            let path = format!("install/helm/{chart}.values.yaml");
            out.add(
                path.clone(),
                "helm/ambient.values.yaml.j2",
                Applied::No,
                Chart {
                    chart,
                    install: install_commands(x.mesh, out.c, release, chart, &path),
                    values,
                },
            );
        }
        AmbientHelm { cni, ztunnel }
    });
    Some(ClusterHelm {
        base,
        istiod,
        gateway: None,
        ambient,
    })
}

/// The east-west gateway's values file; returns the values.
pub(super) fn plan_gateway(x: &Ctx, node_port: bool, out: &mut ClusterFiles) -> Value {
    let mut values = gateway_values(x.mesh, out.c, node_port);
    if let Some(g) = &out.c.overrides.helm_gateway {
        merge(&mut values, g);
    }
    out.add(
        "install/helm/eastwest-gateway.values.yaml",
        "helm/eastwest-gateway.values.yaml.j2",
        Applied::No,
        Values {
            install: install_commands(
                x.mesh,
                out.c,
                "istio-eastwestgateway",
                "gateway",
                "install/helm/eastwest-gateway.values.yaml",
            ),
            values: &values,
        },
    );
    values
}

fn object(pairs: &[(&str, String)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), json!(v)))
            .collect(),
    )
}

/// Values of the istio/base chart: `profile: remote` on remote clusters; with a revision,
/// `defaultRevision: <rev>`, else the chart's `istiod-default-validator` points at a Service
/// `istiod` that a revision-only install never creates and config validation is silently off
/// (ISTIO-FACTS §9.2).
fn base_values(mesh: &Mesh, h: &Inputs) -> Value {
    let mut v = Map::new();
    if let Some(r) = &mesh.revision {
        v.insert("defaultRevision".into(), json!(r));
    }
    if h.remote_profile {
        v.insert("profile".into(), json!("remote"));
    }
    Value::Object(v)
}

/// Values of the istio/istiod chart (flattened chart values), as in the multicluster guide's
/// Helm instructions.
fn istiod_values(mesh: &Mesh, c: &Cluster, h: &Inputs) -> Value {
    let mut global = Map::new();
    if let Some(hub) = &mesh.hub {
        global.insert("hub".into(), json!(hub));
    }
    if let Some(tag) = &mesh.tag {
        global.insert("tag".into(), json!(tag));
    }
    if !h.remote_profile {
        global.insert("meshID".into(), json!(mesh.mesh_id));
    }
    global.insert("multiCluster".into(), json!({ "clusterName": c.name }));
    global.insert("network".into(), json!(c.network));
    if h.serves {
        global.insert("externalIstiod".into(), json!(true));
    }
    let mut top = Map::new();
    if h.ambient {
        top.insert("profile".into(), json!("ambient"));
    }
    if h.remote_profile {
        global.insert("configCluster".into(), json!(true));
        if let Some(a) = &h.remote_pilot_address {
            global.insert("remotePilotAddress".into(), json!(a));
        }
        top.insert("profile".into(), json!("remote"));
        top.insert(
            "istiodRemote".into(),
            json!({ "injectionPath": injection_path(c) }),
        );
    }
    top.insert("global".into(), Value::Object(global));
    if let Some(r) = &mesh.revision {
        top.insert("revision".into(), json!(r));
    }
    let mut mesh_config = Map::new();
    if let Some(td) = &h.trust_domain {
        mesh_config.insert("trustDomain".into(), json!(td));
    }
    if !h.proxy_metadata.is_empty() {
        mesh_config.insert(
            "defaultConfig".into(),
            json!({ "proxyMetadata": object(&h.proxy_metadata) }),
        );
    }
    if !mesh_config.is_empty() {
        top.insert("meshConfig".into(), Value::Object(mesh_config));
    }
    if !h.helm_env.is_empty() {
        top.insert("env".into(), object(&h.helm_env));
    }
    Value::Object(top)
}

/// Values of the istio/cni chart for ambient: the ambient profile (and the revision).
fn cni_values(mesh: &Mesh) -> Value {
    let mut v = Map::new();
    v.insert("profile".into(), json!("ambient"));
    if let Some(r) = &mesh.revision {
        v.insert("revision".into(), json!(r));
    }
    Value::Object(v)
}

/// Values of the istio/ztunnel chart: the cluster's name and network (else ztunnel reports
/// cluster `Kubernetes` and no network: ISTIO-FACTS §9.3), and the revision's istiod.
fn ztunnel_values(mesh: &Mesh, c: &Cluster) -> Value {
    let mut v = Map::new();
    if let Some(hub) = &mesh.hub {
        v.insert("hub".into(), json!(hub));
    }
    if let Some(tag) = &mesh.tag {
        v.insert("tag".into(), json!(tag));
    }
    v.insert("multiCluster".into(), json!({ "clusterName": c.name }));
    v.insert("network".into(), json!(c.network));
    if let Some(r) = &mesh.revision {
        v.insert("revision".into(), json!(r));
    }
    Value::Object(v)
}

/// Values of the istio/gateway chart as the east-west gateway (`networkGateway`).
fn gateway_values(mesh: &Mesh, c: &Cluster, node_port: bool) -> Value {
    let mut v = Map::new();
    v.insert("name".into(), json!("istio-eastwestgateway"));
    v.insert("networkGateway".into(), json!(c.network));
    if let Some(r) = &mesh.revision {
        v.insert("revision".into(), json!(r));
    }
    if node_port {
        v.insert(
            "service".into(),
            json!({
                "type": "NodePort",
                "annotations": { "traffic.istio.io/nodeSelector": super::eastwest::NODE_SELECTOR },
            }),
        );
    }
    Value::Object(v)
}
