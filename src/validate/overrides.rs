//! `overrides` (mesh-wide and `clusters[].overrides`, DESIGN §7): each value checked where it
//! was written, then the mesh-wide ones merged under each cluster's (the cluster wins).
//!
//! Refused (E050): an override path that would change a value meshrender derives from the
//! topology or from another spec field (cluster name, network, meshID, remotePilotAddress,
//! the injection path, external istiod, the profile, the revision, hub and tag, the trust
//! domain, the multi-root switches). A path touches a derived value when it names it, names
//! one of its ancestors with a value that is not a mapping (which replaces it), or writes
//! below it. Refused too (E051): an override of a file this mesh (or cluster) does not render.
//! Warned (W010): an IstioOperator path the target Istio version does not have (istioctl
//! rejects unknown fields), from `iop_fields`.

use super::iop_fields;
use crate::diag::{Code, Diagnostics, Loc};
use crate::istio::Version;
use crate::model::{Dataplane, Overrides, Topology};
use crate::overlay::merged;
use crate::spec::parse::{Node, Value};
use crate::spec::{self, Field, Spec};

/// Which file an override part goes into.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    MeshConfig,
    HelmBase,
    HelmIstiod,
    HelmGateway,
    IstioOperator,
    EastWestOperator,
}

impl Part {
    fn key(self) -> &'static str {
        match self {
            Part::MeshConfig => "meshConfig",
            Part::HelmBase => "helm.base",
            Part::HelmIstiod => "helm.istiod",
            Part::HelmGateway => "helm.eastWestGateway",
            Part::IstioOperator => "istioOperator",
            Part::EastWestOperator => "eastWestGatewayOperator",
        }
    }

    /// The paths meshrender derives in this part, with what decides them.
    fn protected(self) -> &'static [(&'static [&'static str], &'static str)] {
        const ROTATION: &str = "the root rotation (`meshrender pki rotate-root`)";
        match self {
            Part::MeshConfig => &[
                (&["trustDomain"], "`trustDomain`"),
                (
                    &["defaultConfig", "proxyMetadata", "PROXY_CONFIG_XDS_AGENT"],
                    ROTATION,
                ),
            ],
            Part::HelmBase => &[
                (&["profile"], "the cluster's role (`role`)"),
                (&["defaultRevision"], "`istio.revision`"),
            ],
            Part::HelmIstiod => &[
                (
                    &["profile"],
                    "the cluster's role (`role`, `istio.dataplane`)",
                ),
                (&["revision"], "`istio.revision`"),
                (&["global", "hub"], "`istio.hub`"),
                (&["global", "tag"], "`istio.tag`"),
                (&["global", "meshID"], "`meshID`"),
                (
                    &["global", "multiCluster", "clusterName"],
                    "`clusters[].name`",
                ),
                (&["global", "network"], "`clusters[].network`"),
                (
                    &["global", "externalIstiod"],
                    "the remotes a primary serves",
                ),
                (&["global", "configCluster"], "the cluster's role (`role`)"),
                (
                    &["global", "remotePilotAddress"],
                    "the primary's `eastWestGateway.address`",
                ),
                (
                    &["istiodRemote", "injectionPath"],
                    "the remote's name and network",
                ),
                (
                    &["istiodRemote", "injectionURL"],
                    "the remote's name and network",
                ),
                (&["meshConfig", "trustDomain"], "`trustDomain`"),
                (
                    &[
                        "meshConfig",
                        "defaultConfig",
                        "proxyMetadata",
                        "PROXY_CONFIG_XDS_AGENT",
                    ],
                    ROTATION,
                ),
                (&["env", "EXTERNAL_ISTIOD"], "the remotes a primary serves"),
                (&["env", "ISTIO_MULTIROOT_MESH"], ROTATION),
                (
                    &["env", "AMBIENT_ENABLE_MULTI_NETWORK"],
                    "`istio.dataplane`",
                ),
                (&["env", "AMBIENT_ENABLE_BAGGAGE"], "`istio.dataplane`"),
            ],
            Part::HelmGateway => &[
                (&["name"], "meshrender (the east-west gateway's name)"),
                (&["networkGateway"], "`clusters[].network`"),
                (&["revision"], "`istio.revision`"),
                (
                    &["service", "type"],
                    "`clusters[].eastWestGateway.serviceType`",
                ),
                (
                    &["service", "annotations", "traffic.istio.io/nodeSelector"],
                    "`clusters[].eastWestGateway.serviceType`",
                ),
                (
                    &["labels", "topology.istio.io/network"],
                    "`clusters[].network`",
                ),
            ],
            Part::IstioOperator => &[
                (
                    &["profile"],
                    "the cluster's role (`role`, `istio.dataplane`)",
                ),
                (&["revision"], "`istio.revision`"),
                (&["hub"], "`istio.hub`"),
                (&["tag"], "`istio.tag`"),
                (&["meshConfig", "trustDomain"], "`trustDomain`"),
                (
                    &[
                        "meshConfig",
                        "defaultConfig",
                        "proxyMetadata",
                        "PROXY_CONFIG_XDS_AGENT",
                    ],
                    ROTATION,
                ),
                (&["values", "global", "meshID"], "`meshID`"),
                (
                    &["values", "global", "multiCluster", "clusterName"],
                    "`clusters[].name`",
                ),
                (
                    &["values", "global", "multiCluster", "globalDomainSuffix"],
                    "`federation`",
                ),
                (
                    &["values", "global", "multiCluster", "includeEnvoyFilter"],
                    "`federation`",
                ),
                (
                    &["values", "global", "podDNSSearchNamespaces"],
                    "`federation`",
                ),
                (&["values", "global", "network"], "`clusters[].network`"),
                (
                    &["values", "global", "externalIstiod"],
                    "the remotes a primary serves",
                ),
                (
                    &["values", "global", "remotePilotAddress"],
                    "the primary's `eastWestGateway.address`",
                ),
                (
                    &["values", "pilot", "env", "EXTERNAL_ISTIOD"],
                    "the remotes a primary serves",
                ),
                (
                    &["values", "pilot", "env", "ISTIO_MULTIROOT_MESH"],
                    ROTATION,
                ),
                (
                    &["values", "istiodRemote", "injectionPath"],
                    "the remote's name and network",
                ),
                (
                    &["values", "istiodRemote", "injectionURL"],
                    "the remote's name and network",
                ),
                (
                    &["components", "pilot", "k8s", "env"],
                    "`istio.dataplane` (a list replaces meshrender's; add istiod env under `values.pilot.env`)",
                ),
                (
                    &["components", "ingressGateways"],
                    "`federation` (a list replaces meshrender's)",
                ),
            ],
            Part::EastWestOperator => &[
                (&["profile"], "meshrender (`empty`: only the gateway)"),
                (&["revision"], "`istio.revision`"),
                (&["hub"], "`istio.hub`"),
                (&["tag"], "`istio.tag`"),
                (
                    &["components", "ingressGateways"],
                    "`clusters[].network` and `eastWestGateway` (a list replaces meshrender's; set gateway values under `values.gateways.istio-ingressgateway`)",
                ),
                (&["values", "global", "meshID"], "`meshID`"),
                (&["values", "global", "network"], "`clusters[].network`"),
                (
                    &["values", "global", "multiCluster", "clusterName"],
                    "`clusters[].name`",
                ),
                (
                    &[
                        "values",
                        "gateways",
                        "istio-ingressgateway",
                        "injectionTemplate",
                    ],
                    "meshrender (gen-eastwest-gateway.sh's `gateway` template)",
                ),
                (
                    &["values", "gateways", "istio-ingressgateway", "type"],
                    "`clusters[].eastWestGateway.serviceType`",
                ),
            ],
        }
    }
}

/// One written override part: where it is, its tree, its JSON value.
struct Written<'a> {
    path: String,
    node: &'a Node,
}

fn parts<'a>(o: &'a spec::Overrides, path: &str) -> Vec<(Part, Written<'a>)> {
    let mut out = Vec::new();
    let mut add = |part: Part, f: &'a Field<Node>| {
        if let Some(v) = f.value() {
            out.push((
                part,
                Written {
                    path: format!("{path}.{}", part.key()),
                    node: &v.value,
                },
            ));
        }
    };
    add(Part::MeshConfig, &o.mesh_config);
    if let Some(h) = o.helm.value() {
        add(Part::HelmBase, &h.value.base);
        add(Part::HelmIstiod, &h.value.istiod);
        add(Part::HelmGateway, &h.value.east_west_gateway);
    }
    add(Part::IstioOperator, &o.istio_operator);
    add(Part::EastWestOperator, &o.east_west_gateway_operator);
    out
}

/// Every leaf of an override tree: its path segments, the location of its key, and whether
/// its value is a (non-empty) mapping (never: leaves stop there).
fn leaves<'a>(n: &'a Node, at: &mut Vec<&'a str>, loc: Loc, out: &mut Vec<(Vec<&'a str>, Loc)>) {
    match &n.value {
        Value::Map(entries) if !entries.is_empty() => {
            for (k, v) in entries {
                at.push(&k.name);
                leaves(v, at, k.loc, out);
                at.pop();
            }
        }
        _ => out.push((at.clone(), loc)),
    }
}

fn show(segments: &[&str]) -> String {
    segments.join(".")
}

/// Checks one written `overrides` (mesh-wide when `cluster` is `None`).
fn check_one(
    o: &spec::Overrides,
    path: &str,
    cluster: Option<(&str, bool)>,
    v: Option<Version>,
    dataplane: Dataplane,
    d: &mut Diagnostics,
) {
    for (part, w) in parts(o, path) {
        let gateway_part = matches!(part, Part::HelmGateway | Part::EastWestOperator);
        let helm_part = matches!(part, Part::HelmBase | Part::HelmIstiod | Part::HelmGateway);
        if let Some(v) = v
            && helm_part
            && !v.has_helm_values()
        {
            d.error_help(
                Code::E051,
                w.node.loc,
                format!(
                    "`{}`: meshrender renders Helm values only for Istio ≥ 1.24 (this mesh is {v})",
                    w.path
                ),
                "set the same value through `overrides.istioOperator`",
            );
            continue;
        }
        if gateway_part && dataplane == Dataplane::Ambient {
            d.error_help(
                Code::E051,
                w.node.loc,
                format!(
                    "`{}`: an ambient mesh's east-west gateway is a Gateway API Gateway that istiod deploys, not a chart or an IstioOperator",
                    w.path
                ),
                "remove it; configure the gateway through its GatewayClass parameters",
            );
            continue;
        }
        if let Some((name, false)) = cluster
            && gateway_part
        {
            d.error_help(
                Code::E051,
                w.node.loc,
                format!("`{}`: cluster {name} has no east-west gateway", w.path),
                "an east-west gateway is rendered on every cluster of a multi-network mesh and on a primary that serves remotes",
            );
            continue;
        }
        let mut found = Vec::new();
        leaves(w.node, &mut Vec::new(), w.node.loc, &mut found);
        for (leaf, loc) in &found {
            for (q, why) in part.protected() {
                // `components.ingressGateways` of the control plane is meshrender's only in
                // 1.6–1.7's file (the replicated control planes' gateway)
                if part == Part::IstioOperator
                    && *q == ["components", "ingressGateways"].as_slice()
                    && !v.is_some_and(|v| v.is_replicated_control_plane_era())
                {
                    continue;
                }
                let n = leaf.len().min(q.len());
                if leaf[..n] == q[..n] {
                    let touched = show(q);
                    let message = if leaf.len() < q.len() {
                        format!(
                            "`{}.{}` replaces `{touched}`, a value meshrender derives",
                            w.path,
                            show(leaf)
                        )
                    } else {
                        format!(
                            "`{}.{}` would change `{touched}`, a value meshrender derives",
                            w.path,
                            show(leaf)
                        )
                    };
                    d.error_help(
                        Code::E050,
                        *loc,
                        message,
                        format!("it follows {why}; remove the override"),
                    );
                    break;
                }
            }
        }
        if let Some(v) = v
            && matches!(part, Part::IstioOperator | Part::EastWestOperator)
        {
            for (segments, loc, message) in iop_fields::unknown(w.node, v) {
                d.warning_help(
                    Code::W010,
                    loc,
                    format!("`{}.{}`: {message}", w.path, segments),
                    "istioctl rejects unknown IstioOperator fields; check the spelling and the Istio version (`spec.unvalidatedValues` takes values istioctl does not check)",
                );
            }
        }
    }
}

fn json(f: &Field<Node>) -> Option<serde_json::Value> {
    f.value().map(|n| n.value.to_json())
}

fn resolved(o: Option<&spec::Overrides>) -> Overrides {
    let Some(o) = o else {
        return Overrides::default();
    };
    let helm = o.helm.value().map(|h| &h.value);
    Overrides {
        mesh_config: json(&o.mesh_config),
        helm_base: helm.and_then(|h| json(&h.base)),
        helm_istiod: helm.and_then(|h| json(&h.istiod)),
        helm_gateway: helm.and_then(|h| json(&h.east_west_gateway)),
        istio_operator: json(&o.istio_operator),
        east_west_operator: json(&o.east_west_gateway_operator),
    }
}

/// Checks every `overrides` of the spec and returns each cluster's resolved overrides, by its
/// index in `clusters` (mesh-wide merged under the cluster's own).
pub(super) fn check(
    spec: &Spec,
    v: Option<Version>,
    dataplane: Dataplane,
    topo: Option<&Topology>,
    d: &mut Diagnostics,
) -> Vec<Overrides> {
    let mesh = spec.overrides.value().map(|o| &o.value);
    if let Some(o) = mesh {
        check_one(o, "overrides", None, v, dataplane, d);
    }
    let mesh = resolved(mesh);
    let Some(list) = spec.clusters.value() else {
        return Vec::new();
    };
    list.value
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let own = c.overrides.value().map(|o| &o.value);
            if let Some(o) = own {
                let name = c.name.value().map(|n| n.value.as_str());
                let gateway = match (name, topo) {
                    (Some(n), Some(t)) => t.facts(n).is_none_or(|f| f.needs_east_west),
                    _ => true,
                };
                check_one(
                    o,
                    &format!("clusters[{i}].overrides"),
                    name.map(|n| (n, gateway)),
                    v,
                    dataplane,
                    d,
                );
            }
            let own = resolved(own);
            Overrides {
                mesh_config: merged(mesh.mesh_config.as_ref(), own.mesh_config.as_ref()),
                helm_base: merged(mesh.helm_base.as_ref(), own.helm_base.as_ref()),
                helm_istiod: merged(mesh.helm_istiod.as_ref(), own.helm_istiod.as_ref()),
                helm_gateway: merged(mesh.helm_gateway.as_ref(), own.helm_gateway.as_ref()),
                istio_operator: merged(mesh.istio_operator.as_ref(), own.istio_operator.as_ref()),
                east_west_operator: merged(
                    mesh.east_west_operator.as_ref(),
                    own.east_west_operator.as_ref(),
                ),
            }
        })
        .collect()
}
