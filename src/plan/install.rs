//! `install/istiooperator.yaml`: the istioctl input of a cluster (the replicated-control-planes
//! shape for Istio 1.6–1.7), and the install facts the Helm values share with it.

use serde::Serialize;

use super::names::{injection_path, operator_name};
use super::{Applied, ClusterFiles, Ctx, KeyValue, kv};
use crate::istio::{ExternalIstiodSetting, RemoteModel};
use crate::model::{Dataplane, Role};

/// What the install inputs of one cluster (IstioOperator and Helm values) are derived from.
pub(super) struct Inputs {
    /// `primary`, `primary, serving a, b` or `remote of p`, for comments.
    pub role: String,
    /// A remote on the `remote` profile (istiod-less remote).
    pub remote_profile: bool,
    /// A primary that serves remotes.
    pub serves: bool,
    pub trust_domain: Option<String>,
    pub remote_pilot_address: Option<String>,
    /// `meshConfig.defaultConfig.proxyMetadata` entries.
    pub proxy_metadata: Vec<(&'static str, String)>,
    /// The istiod chart's `env` entries.
    pub helm_env: Vec<(&'static str, String)>,
    /// `istio.dataplane: ambient` (multi-network multi-primary, ISTIO-FACTS §9.3).
    pub ambient: bool,
}

#[derive(Serialize)]
struct Operator<'a> {
    name: String,
    role: &'a str,
    profile: Option<&'static str>,
    revision: &'a Option<String>,
    hub: &'a Option<String>,
    tag: &'a Option<String>,
    trust_domain: &'a Option<String>,
    mesh_id: Option<&'a str>,
    network: &'a str,
    external_istiod_global: bool,
    pilot_env: Vec<KeyValue>,
    /// `components.pilot.k8s.env` (ambient's multi-network switches).
    pilot_k8s_env: Vec<KeyValue>,
    proxy_metadata: Vec<KeyValue>,
    remote_pilot_address: &'a Option<String>,
    injection_path: Option<String>,
}

#[derive(Serialize)]
struct ReplicatedOperator<'a> {
    name: String,
    version: String,
    revision: &'a Option<String>,
    hub: &'a Option<String>,
    tag: &'a Option<String>,
    trust_domain: &'a Option<String>,
    search_namespaces: Vec<String>,
    /// The 1.6 patch releases' `multiCluster.globalDomainSuffix` and `includeEnvoyFilter`.
    global_domain_suffix: bool,
    node_port: bool,
}

pub(super) fn plan(x: &Ctx, out: &mut ClusterFiles) -> Inputs {
    let (mesh, c, f) = (x.mesh, out.c, out.f);
    let v = mesh.version;
    let serves = !f.serves.is_empty();
    let ext = if serves {
        v.external_istiod_setting()
    } else {
        ExternalIstiodSetting::None
    };
    // During a root rotation istiod must accept both roots and proxies must take trust
    // bundles over XDS (Istio's multi-root procedure); only where an istiod runs.
    let rotating = x.pki.rotation.is_some() && f.runs_istiod;
    let mut pilot_env = Vec::new();
    if ext == ExternalIstiodSetting::PilotEnv {
        pilot_env.push(("EXTERNAL_ISTIOD", "true".to_owned()));
    }
    let mut helm_env = Vec::new();
    let mut proxy_metadata = Vec::new();
    let ambient = mesh.dataplane == Dataplane::Ambient;
    // Ambient's multi-network switches, as Istio's ambient multicluster guide sets them:
    // `components.pilot.k8s.env` in the IstioOperator, `env` in the istiod chart.
    let mut ambient_env = Vec::new();
    if ambient {
        ambient_env.push(("AMBIENT_ENABLE_MULTI_NETWORK", "true".to_owned()));
        if v.ambient_needs_baggage_env() {
            ambient_env.push(("AMBIENT_ENABLE_BAGGAGE", "true".to_owned()));
        }
        helm_env.extend(ambient_env.iter().cloned());
    }
    if rotating {
        pilot_env.push(("ISTIO_MULTIROOT_MESH", "true".to_owned()));
        helm_env.push(("ISTIO_MULTIROOT_MESH", "true".to_owned()));
        proxy_metadata.push(("PROXY_CONFIG_XDS_AGENT", "true".to_owned()));
    }
    let inputs = Inputs {
        role: match &c.role {
            Role::Primary if serves => format!("primary, serving {}", f.serves.join(", ")),
            Role::Primary => "primary".to_owned(),
            Role::Remote { control_plane } => format!("remote of {control_plane}"),
        },
        remote_profile: !f.primary && v.remote_model() == RemoteModel::RemoteProfile,
        serves,
        trust_domain: (mesh.trust_domain != "cluster.local").then(|| mesh.trust_domain.clone()),
        remote_pilot_address: c
            .control_plane()
            .and_then(|p| x.cluster(p))
            .and_then(|p| p.east_west.as_ref())
            .map(|g| g.address.clone()),
        proxy_metadata,
        helm_env,
        ambient,
    };
    // `overrides.meshConfig` under `overrides.istioOperator` (which may set meshConfig too)
    let o = &c.overrides;
    let overlay = crate::overlay::merged(
        o.mesh_config
            .as_ref()
            .map(|m| serde_json::json!({ "meshConfig": m }))
            .as_ref(),
        o.istio_operator.as_ref(),
    );
    if v.is_replicated_control_plane_era() {
        // 1.6.0's file adds `{{ namespace }}.global`, which the 1.6 patch releases removed
        // in favour of `multiCluster.globalDomainSuffix` and `includeEnvoyFilter`
        // (ISTIO-FACTS §9.2): meshrender renders the 1.6.0 shape only for `tag: 1.6.0`, the
        // patch releases' otherwise (what anyone installing 1.6 today gets).
        let mut search = vec!["global".to_owned()];
        let six_oh = v.minor == 6 && mesh.charts.version.as_deref() == Some("1.6.0");
        if six_oh {
            search.push(
                "{{ valueOrDefault .DeploymentMeta.Namespace \"default\" }}.global".to_owned(),
            );
        }
        let global_domain_suffix = v.minor == 6 && !six_oh;
        out.add_overlaid(
            "install/istiooperator.yaml",
            "istiooperator.replicated.yaml.j2",
            Applied::No,
            ReplicatedOperator {
                name: operator_name(mesh),
                version: v.to_string(),
                revision: &mesh.revision,
                hub: &mesh.hub,
                tag: &mesh.tag,
                trust_domain: &inputs.trust_domain,
                search_namespaces: search,
                global_domain_suffix,
                node_port: c.east_west.as_ref().is_some_and(|g| g.node_port),
            },
            overlay,
        );
    } else {
        out.add_overlaid(
            "install/istiooperator.yaml",
            "istiooperator.yaml.j2",
            Applied::No,
            Operator {
                name: operator_name(mesh),
                role: &inputs.role,
                profile: if ambient {
                    Some("ambient")
                } else if f.primary {
                    None
                } else {
                    v.remote_profile()
                },
                revision: &mesh.revision,
                hub: &mesh.hub,
                tag: &mesh.tag,
                trust_domain: &inputs.trust_domain,
                mesh_id: (!inputs.remote_profile).then_some(mesh.mesh_id.as_str()),
                network: &c.network,
                external_istiod_global: ext == ExternalIstiodSetting::GlobalValue,
                pilot_env: kv(&pilot_env),
                pilot_k8s_env: kv(&ambient_env),
                proxy_metadata: kv(&inputs.proxy_metadata),
                remote_pilot_address: &inputs.remote_pilot_address,
                injection_path: inputs.remote_profile.then(|| injection_path(c)),
            },
            overlay,
        );
    }
    inputs
}
