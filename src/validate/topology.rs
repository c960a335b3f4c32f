//! Rules between clusters and the Istio version: which models a version supports, who needs
//! an east-west gateway address, whose API server must be readable.

use super::clusters::ClusterIn;
use crate::diag::{Code, Diagnostics, Loc};
use crate::istio::Version;
use crate::model::Topology;
use crate::spec::Spec;

/// Models the target version cannot run: remotes before 1.8, `federation` from 1.8.
pub(super) fn version_rules(spec: &Spec, v: Version, d: &mut Diagnostics) {
    if v.is_replicated_control_plane_era() {
        let clusters = spec
            .clusters
            .value()
            .map(|l| l.value.as_slice())
            .unwrap_or_default();
        for r in clusters.iter().filter_map(|c| c.role.value()) {
            if r.value == "remote" {
                d.error_help(
                    Code::E020,
                    r.loc,
                    format!("remote clusters need Istio 1.8 or newer; Istio {v} has only replicated control planes"),
                    "make every cluster a primary and share services through `federation`, or target Istio 1.8+",
                );
            }
        }
    }
    if let Some(f) = spec.federation.value()
        && v.at_least(8)
    {
        d.error_help(
            Code::E020,
            f.loc,
            format!("`federation` (replicated control planes with `*.global` names) does not work with Istio {v}"),
            "it was deprecated in Istio 1.8 and broken by the 1.8.6/1.9.5 security fix; remove `federation` and use the multi-network models, which route `*.cluster.local` names through east-west gateways",
        );
    }
}

/// Ambient multicluster (ISTIO-FACTS §9.3) is Istio ≥ 1.27, multi-primary on several
/// networks only: E020 for an older target, E034 for a remote or a single network.
pub(super) fn ambient(
    spec: &Spec,
    v: Option<Version>,
    dataplane_loc: Loc,
    clusters: &[ClusterIn],
    d: &mut Diagnostics,
) {
    if let Some(v) = v
        && !v.supports_ambient_multicluster()
    {
        d.error_help(
            Code::E020,
            dataplane_loc,
            format!("ambient multicluster needs Istio 1.27 or newer; the target is {v}"),
            "target Istio 1.27+ (beta from 1.29), or use `dataplane: sidecar`",
        );
    }
    let list = spec
        .clusters
        .value()
        .map(|l| l.value.as_slice())
        .unwrap_or_default();
    for r in list.iter().filter_map(|c| c.role.value()) {
        if r.value == "remote" {
            d.error_help(
                Code::E034,
                r.loc,
                "ambient multicluster has no remote clusters: every cluster runs its own istiod",
                "make this cluster a primary (remove `role` and `controlPlane`), or use `istio.dataplane: sidecar`",
            );
        }
    }
    for c in clusters.iter().filter(|c| c.ew.node_port) {
        d.error_help(
            Code::E034,
            c.ew.loc.unwrap_or(c.loc),
            format!(
                "cluster `{}`: an ambient east-west gateway is a Gateway API Gateway that istiod deploys behind a LoadBalancer Service; `serviceType: NodePort` is not rendered for it",
                c.name.value
            ),
            "remove `serviceType` (LoadBalancer), or use `istio.dataplane: sidecar`",
        );
    }
    let networks: std::collections::BTreeSet<&str> =
        clusters.iter().map(|c| c.network.as_str()).collect();
    if clusters.len() > 1 && networks.len() == 1 {
        d.error_help(
            Code::E034,
            dataplane_loc,
            format!(
                "ambient multicluster is supported on several networks only; every cluster is on `{}`",
                clusters[0].network
            ),
            "give each cluster its own network (ambient joins networks through HBONE east-west gateways), or use `istio.dataplane: sidecar`",
        );
    }
}

/// E018 (an east-west address is needed) and E019 (an API server must be readable).
pub(super) fn check(topo: &Topology, clusters: &[ClusterIn], d: &mut Diagnostics) {
    for c in clusters {
        let f = topo
            .facts(&c.name.value)
            .expect("derived from the same list");
        if f.needs_east_west && !c.ew.address_written {
            let why = if topo.multi_network {
                "the mesh spans several networks, so every cluster needs an east-west gateway"
            } else {
                "it serves remote clusters, which reach its istiod through the east-west gateway"
            };
            d.error_help(
                Code::E018,
                c.ew.loc.unwrap_or(c.loc),
                format!("cluster `{}` needs `eastWestGateway.address`: {why}", c.name.value),
                "set the externally reachable IP or hostname of its east-west gateway, e.g. `eastWestGateway: {address: 203.0.113.10}`",
            );
        }
        if f.read_by_primary && c.api_server.is_none() {
            let readers: Vec<&str> = topo
                .clusters
                .iter()
                .filter(|o| o.reads.contains(&c.name.value))
                .map(|o| o.name.as_str())
                .collect();
            let who = match readers.as_slice() {
                [one] => format!("primary {one} must"),
                [init @ .., last] => format!("primaries {} and {last} must", init.join(", ")),
                [] => "primaries must".to_owned(),
            };
            d.error_help(
                Code::E019,
                c.loc,
                format!(
                    "cluster `{}` needs `apiServer`: {who} read its API server for endpoint discovery",
                    c.name.value
                ),
                "add `apiServer: {server: https://HOST:6443, caFile: FILE}`, or leave the cluster out of those primaries' `reads` (a cluster no primary reads needs no `apiServer`)",
            );
        }
    }
}

/// A primary serving remotes hands its east-west address to them as `remotePilotAddress`.
/// Istio 1.8–1.14 remotes (their own istiod) write it into `Endpoints istiod-remote` as an IP,
/// so a hostname is rejected by the API server (E031); from 1.15 Istio renders an ExternalName
/// Service for a hostname, which Istio's guide calls unsuitable for AWS EKS (W002).
/// ISTIO-FACTS §9.1 #5.
pub(super) fn remote_pilot_addresses(
    topo: &Topology,
    v: Version,
    clusters: &[ClusterIn],
    d: &mut Diagnostics,
) {
    for c in clusters {
        let (Some(addr), Some(loc)) = (&c.ew.address, c.ew.address_loc) else {
            continue;
        };
        let serves = topo
            .facts(&c.name.value)
            .is_some_and(|f| !f.serves.is_empty());
        if !serves || addr.parse::<std::net::IpAddr>().is_ok() {
            continue;
        }
        if v.remote_pilot_address_must_be_ip() {
            d.error_help(
                Code::E031,
                loc,
                format!(
                    "cluster `{}` serves remote clusters, so its east-west address `{addr}` must be an IP address with Istio {v}",
                    c.name.value
                ),
                "Istio 1.8–1.14 remotes put remotePilotAddress into `Endpoints istiod-remote`, which takes only IPs; use the gateway's IP, or target Istio 1.15+",
            );
        } else {
            d.warning_help(
                Code::W002,
                loc,
                format!(
                    "cluster `{}` serves remote clusters through the hostname `{addr}`: Istio makes `istiod-remote` an ExternalName Service for it",
                    c.name.value
                ),
                "Istio's guide says ExternalName is not suitable for AWS EKS load balancers; prefer a stable IP where your platform gives one",
            );
        }
    }
}
