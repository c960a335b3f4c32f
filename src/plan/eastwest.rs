//! `install/eastwest-gateway.yaml`: what Istio's `gen-eastwest-gateway.sh` prints for the
//! target version (three shapes: 1.8–1.10, 1.11, 1.12+), and its Helm values from 1.24; for
//! an ambient mesh, the applied Gateway API Gateway `eastwest-gateway.yaml` instead.
//!
//! A NodePort gateway's Service carries `traffic.istio.io/nodeSelector: '{}'`: without it
//! istiod does not see a NodePort Service as the network's gateway and drops cross-network
//! endpoints (ISTIO-FACTS §9.1 #3); with it istiod uses the nodes' ExternalIP and the node
//! port of 15443.

use serde::Serialize;
use serde_json::Value;

use super::{Applied, ClusterFiles, Ctx, helm};
use crate::istio::EastWestShape;
use crate::model::Dataplane;

/// The `traffic.istio.io/nodeSelector` annotation value of a NodePort east-west gateway:
/// every node (users narrow it with an override).
pub(super) const NODE_SELECTOR: &str = "{}";

#[derive(Serialize)]
struct Env<'a> {
    comment: &'static str,
    name: &'static str,
    value: &'a str,
}

#[derive(Serialize)]
struct Port {
    name: &'static str,
    port: u16,
}

#[derive(Serialize)]
struct Gateway<'a> {
    version: String,
    script_args: String,
    node_selector: &'static str,
    revision: &'a str,
    hub: &'a Option<String>,
    tag: &'a Option<String>,
    network: &'a str,
    env: Vec<Env<'a>>,
    ports: [Port; 4],
    injection_template: bool,
    node_port: bool,
    mesh_id: Option<&'a str>,
}

#[derive(Serialize)]
struct AmbientGateway<'a> {
    api_version: &'static str,
    network: &'a str,
    revision: &'a Option<String>,
}

/// Plans the gateway input; returns its Helm values when the version has them.
pub(super) fn plan(x: &Ctx, out: &mut ClusterFiles) -> Option<Value> {
    if !out.f.needs_east_west {
        return None;
    }
    if x.mesh.dataplane == Dataplane::Ambient {
        // Ambient: a Gateway API Gateway that istiod deploys (class `istio-east-west`), as
        // `gen-eastwest-gateway.sh --network <n> --ambient` prints it; a cluster object, so it
        // is applied with the cluster's kustomization, after istiod (ISTIO-FACTS §9.3).
        out.add(
            "eastwest-gateway.yaml",
            "eastwest-gateway.ambient.yaml.j2",
            Applied::Cluster,
            AmbientGateway {
                api_version: x.mesh.version.ambient_gateway_api_version(),
                network: &out.c.network,
                revision: &x.mesh.revision,
            },
        );
        return None;
    }
    let (mesh, c) = (x.mesh, out.c);
    let v = mesh.version;
    let node_port = c.east_west.as_ref().is_some_and(|g| g.node_port);
    let shape = v.eastwest_shape();
    let ports = [
        Port {
            name: "status-port",
            port: 15021,
        },
        Port {
            name: "tls",
            port: 15443,
        },
        Port {
            name: "tls-istiod",
            port: 15012,
        },
        Port {
            name: "tls-webhook",
            port: 15017,
        },
    ];
    let mut env = Vec::new();
    let sni_dnat = match shape {
        EastWestShape::V1_9 => {
            Some("sni-dnat adds the clusters required for AUTO_PASSTHROUGH mode")
        }
        EastWestShape::V1_11 => Some(
            "sni-dnat adds the clusters required for AUTO_PASSTHROUGH mode (not required in Istio 1.11+, kept as the script does)",
        ),
        EastWestShape::Current => None,
    };
    if let Some(comment) = sni_dnat {
        env.push(Env {
            comment,
            name: "ISTIO_META_ROUTER_MODE",
            value: "sni-dnat",
        });
    }
    env.push(Env {
        comment: "traffic through this gateway should be routed inside the network",
        name: "ISTIO_META_REQUESTED_NETWORK_VIEW",
        value: &c.network,
    });
    let mut script_args = if shape == EastWestShape::Current {
        format!("--network {}", c.network)
    } else {
        format!(
            "--mesh {} --cluster {} --network {}",
            mesh.mesh_id, c.name, c.network
        )
    };
    if let Some(r) = &mesh.revision {
        script_args.push_str(&format!(" --revision {r}"));
    }
    out.add_overlaid(
        "install/eastwest-gateway.yaml",
        "eastwest-gateway.yaml.j2",
        Applied::No,
        Gateway {
            version: v.to_string(),
            script_args,
            node_selector: NODE_SELECTOR,
            revision: mesh.revision.as_deref().unwrap_or_default(),
            hub: &mesh.hub,
            tag: &mesh.tag,
            network: &c.network,
            env,
            ports,
            injection_template: matches!(shape, EastWestShape::V1_11 | EastWestShape::Current),
            node_port,
            mesh_id: (shape != EastWestShape::Current).then_some(mesh.mesh_id.as_str()),
        },
        c.overrides.east_west_operator.clone(),
    );
    v.has_helm_values()
        .then(|| helm::plan_gateway(x, node_port, out))
}
