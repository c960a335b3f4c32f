//! `install/helm/*.values.yaml` (Istio ≥ 1.24): the values of Istio's `base`, `istiod` and
//! `gateway` charts as data, one source for the values files and the GitOps releases.

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::install::Inputs;
use super::names::injection_path;
use super::{Applied, ClusterFiles, Ctx};
use crate::model::{Cluster, Mesh};

/// The Helm values of one cluster, for the values files and Flux.
pub(crate) struct ClusterHelm {
    pub base: Value,
    pub istiod: Value,
    pub gateway: Option<Value>,
}

#[derive(Serialize)]
struct Values<'a> {
    values: &'a Value,
}

#[derive(Serialize)]
struct IstiodValues<'a> {
    role: &'a str,
    revision: &'a Option<String>,
    values: &'a Value,
}

/// The `base` and `istiod` values files; `None` before Istio 1.24.
pub(super) fn plan(x: &Ctx, h: &Inputs, out: &mut ClusterFiles) -> Option<ClusterHelm> {
    if !x.mesh.version.has_helm_values() {
        return None;
    }
    let base = base_values(h);
    let istiod = istiod_values(x.mesh, out.c, h);
    out.add(
        "install/helm/base.values.yaml",
        "helm/base.values.yaml.j2",
        Applied::No,
        Values { values: &base },
    );
    out.add(
        "install/helm/istiod.values.yaml",
        "helm/istiod.values.yaml.j2",
        Applied::No,
        IstiodValues {
            role: &h.role,
            revision: &x.mesh.revision,
            values: &istiod,
        },
    );
    Some(ClusterHelm {
        base,
        istiod,
        gateway: None,
    })
}

/// The east-west gateway's values file; returns the values.
pub(super) fn plan_gateway(x: &Ctx, node_port: bool, out: &mut ClusterFiles) -> Value {
    let values = gateway_values(x.mesh, out.c, node_port);
    out.add(
        "install/helm/eastwest-gateway.values.yaml",
        "helm/eastwest-gateway.values.yaml.j2",
        Applied::No,
        Values { values: &values },
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

/// Values of the istio/base chart: `profile: remote` on remote clusters.
fn base_values(h: &Inputs) -> Value {
    if h.remote_profile {
        json!({ "profile": "remote" })
    } else {
        json!({})
    }
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
