//! `clusters`: names, networks, roles and east-west gateways of each cluster, on their own
//! (the topology rules between clusters are in `topology`).

use std::collections::BTreeMap;

use super::formats::{is_dns1123_label, is_ip_or_hostname, is_label_value};
use super::require;
use crate::diag::{Code, Diagnostic, Diagnostics, Loc};
use crate::model::Role;
use crate::pki::layout::{NEXT_ROOT_DIR, RETIRED_ROOT_PREFIX};
use crate::spec::decode::did_you_mean;
use crate::spec::{self, Field, Sp, Spec};

/// A cluster whose name, network and role are sound.
pub(super) struct ClusterIn {
    pub index: usize,
    pub loc: Loc,
    pub name: Sp<String>,
    pub network: String,
    pub role: Role,
    pub ew: EastWest,
    pub api_server: Option<Sp<spec::ApiServer>>,
    /// `reads`, resolved by `reads::check`: `None` = every other cluster.
    pub reads: Option<Vec<String>>,
}

/// `eastWestGateway`, as far as it is valid.
#[derive(Default)]
pub(super) struct EastWest {
    pub address: Option<String>,
    /// An address was written (valid or not): E018 must not fire for it.
    pub address_written: bool,
    /// Where the address is written, when valid.
    pub address_loc: Option<Loc>,
    pub loc: Option<Loc>,
    pub node_port: bool,
    /// `eastWestGateway.port`, when given.
    pub port: Option<u16>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum RoleKind {
    Primary,
    Remote,
    /// Misspelt: its own error is reported; nothing is inferred from it.
    Unknown,
}

/// Returns the clusters that could be read, and whether all of them could.
pub(super) fn check(spec: &Spec, d: &mut Diagnostics) -> (Vec<ClusterIn>, bool) {
    let list = match &spec.clusters {
        Field::Value(list) => list,
        Field::Null => {
            d.error(
                Code::E029,
                Loc::new(1, 1),
                "`clusters` has no entries: the mesh needs at least one cluster",
            );
            return (Vec::new(), false);
        }
        Field::Absent => {
            d.error(
                Code::E029,
                Loc::new(1, 1),
                "missing required field `clusters`: the mesh has no clusters",
            );
            return (Vec::new(), false);
        }
        Field::Invalid => return (Vec::new(), false),
    };
    if list.value.is_empty() {
        d.error(
            Code::E029,
            list.loc,
            "`clusters` is empty: the mesh needs at least one cluster",
        );
        return (Vec::new(), false);
    }
    let roles = role_kinds(&list.value);
    let mut ok = true;
    let mut seen: BTreeMap<&str, Loc> = BTreeMap::new();
    let mut out = Vec::new();
    for (index, c) in list.value.iter().enumerate() {
        let path = format!("clusters[{index}]");
        let name = require(&c.name, c.loc, &format!("{path}.name"), d);
        if let Some(n) = name {
            ok &= check_name(n, &mut seen, d);
        }
        let network = require(&c.network, c.loc, &format!("{path}.network"), d);
        if let Some(net) = network
            && !is_label_value(&net.value)
        {
            d.error(
                Code::E030,
                net.loc,
                format!("network `{}` must be a label value (letters, digits, '-', '_', '.', at most 63)", net.value),
            );
            ok = false;
        }
        let shown = name.map_or("?", |n| n.as_str());
        let role = role(c, &path, shown, &roles, d);
        let ew = east_west(c, &path, d, &mut ok);
        match (name, network, role) {
            (Some(n), Some(net), Some(role)) => out.push(ClusterIn {
                index,
                loc: c.loc,
                name: n.clone(),
                network: net.value.clone(),
                role,
                ew,
                api_server: c.api_server.value().cloned(),
                reads: None,
            }),
            _ => ok = false,
        }
    }
    (out, ok)
}

/// What each named cluster is, as written (for `controlPlane` references).
fn role_kinds(list: &[spec::Cluster]) -> BTreeMap<&str, RoleKind> {
    let mut roles = BTreeMap::new();
    for c in list {
        if let Some(n) = c.name.value() {
            let kind = match c.role.value().map(|r| r.value.as_str()) {
                None | Some("primary") => RoleKind::Primary,
                Some("remote") => RoleKind::Remote,
                Some(_) => RoleKind::Unknown,
            };
            roles.entry(n.value.as_str()).or_insert(kind);
        }
    }
    roles
}

/// A cluster name: not reserved, a DNS-1123 label, not seen before.
fn check_name<'a>(
    n: &'a Sp<String>,
    seen: &mut BTreeMap<&'a str, Loc>,
    d: &mut Diagnostics,
) -> bool {
    let mut ok = true;
    if n.value == NEXT_ROOT_DIR || n.value.starts_with(RETIRED_ROOT_PREFIX) {
        d.error_help(
            Code::E013,
            n.loc,
            format!("cluster name `{}` is reserved", n.value),
            "pki.dir uses `next-root/` and `retired-root-*/` for root rotation; choose another name",
        );
        ok = false;
    }
    if !is_dns1123_label(&n.value) {
        d.error_help(
            Code::E013,
            n.loc,
            format!("cluster name `{}` is not a DNS-1123 label", n.value),
            "it is the Istio cluster ID and a directory name: use lower-case letters, digits and '-', at most 63 characters",
        );
        ok = false;
    }
    if let Some(first) = seen.get(n.value.as_str()) {
        d.error_help(
            Code::E012,
            n.loc,
            format!("duplicate cluster name `{}`", n.value),
            format!("first defined at line {}, column {}", first.line, first.col),
        );
        ok = false;
    } else {
        seen.insert(&n.value, n.loc);
    }
    ok
}

/// The role of a cluster, with its `controlPlane` resolved against the other clusters.
fn role(
    c: &spec::Cluster,
    path: &str,
    shown: &str,
    roles: &BTreeMap<&str, RoleKind>,
    d: &mut Diagnostics,
) -> Option<Role> {
    let role_loc = c.role.value().map_or(c.loc, |r| r.loc);
    match c.role.value().map(|r| r.value.as_str()) {
        None | Some("primary") => {
            let Some(cp) = c.control_plane.value() else {
                return Some(Role::Primary);
            };
            let help = if c.role.value().is_none() {
                "a cluster without `role` is a primary; add `role: remote` to make it a remote of that cluster"
            } else {
                "a primary runs its own control plane; set `role: remote` to make it a remote of that cluster"
            };
            d.error_help(
                Code::E017,
                cp.loc,
                format!("primary cluster `{shown}` must not set `controlPlane`"),
                help,
            );
            None
        }
        Some("remote") => {
            let Some(cp) = c.control_plane.value() else {
                d.error_help(
                    Code::E014,
                    role_loc,
                    format!("remote cluster `{shown}` needs `controlPlane`"),
                    "name the primary cluster whose istiod serves it",
                );
                return None;
            };
            control_plane(cp, shown, roles, d)
        }
        Some(other) => {
            d.error_help(
                Code::E005,
                role_loc,
                format!("`{path}.role` `{other}` is not a role"),
                match did_you_mean(other, &["primary", "remote"]) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => "expected one of: primary, remote".to_owned(),
                },
            );
            None
        }
    }
}

/// A remote's `controlPlane`: it must name a primary of this mesh.
fn control_plane(
    cp: &Sp<String>,
    shown: &str,
    roles: &BTreeMap<&str, RoleKind>,
    d: &mut Diagnostics,
) -> Option<Role> {
    match roles.get(cp.value.as_str()) {
        None => {
            let primaries: Vec<&str> = roles
                .iter()
                .filter(|(n, k)| **k == RoleKind::Primary && **n != shown)
                .map(|(n, _)| *n)
                .collect();
            let mut diag = Diagnostic::error(
                Code::E015,
                cp.loc,
                format!(
                    "`controlPlane` names `{}`, which is not a cluster of this mesh",
                    cp.value
                ),
            );
            if let Some(h) = did_you_mean(&cp.value, &primaries) {
                diag = diag.with_help(format!("did you mean `{h}`?"));
            } else if !primaries.is_empty() {
                diag = diag.with_help(format!("primaries of this mesh: {}", primaries.join(", ")));
            }
            d.push(diag);
            None
        }
        Some(RoleKind::Remote) => {
            d.error_help(
                Code::E016,
                cp.loc,
                format!(
                    "`controlPlane` names `{}`, which is a remote cluster",
                    cp.value
                ),
                "a remote is served by a primary: name a cluster with `role: primary`",
            );
            None
        }
        Some(RoleKind::Unknown) => None,
        Some(RoleKind::Primary) => Some(Role::Remote {
            control_plane: cp.value.clone(),
        }),
    }
}

/// `eastWestGateway`: service type, port and address; clears `ok` on any error.
fn east_west(c: &spec::Cluster, path: &str, d: &mut Diagnostics, ok: &mut bool) -> EastWest {
    let Some(gw) = c.east_west_gateway.value() else {
        return EastWest::default();
    };
    let mut ew = EastWest {
        loc: Some(gw.loc),
        address_written: gw.value.address.is_written(),
        ..EastWest::default()
    };
    if let Some(t) = gw.value.service_type.value() {
        match t.value.as_str() {
            "LoadBalancer" => {}
            "NodePort" => ew.node_port = true,
            other => {
                d.error_help(
                    Code::E005,
                    t.loc,
                    format!("`{path}.eastWestGateway.serviceType` `{other}` is not supported"),
                    "expected one of: LoadBalancer, NodePort",
                );
                *ok = false;
            }
        }
    }
    if let Some(p) = gw.value.port.value() {
        match u16::try_from(p.value) {
            Ok(n) if n > 0 => ew.port = Some(n),
            _ => {
                d.error(
                    Code::E030,
                    p.loc,
                    format!(
                        "`{path}.eastWestGateway.port` {} is not between 1 and 65535",
                        p.value
                    ),
                );
                *ok = false;
            }
        }
    }
    if let Some(a) = gw.value.address.value() {
        if is_ip_or_hostname(&a.value) {
            ew.address = Some(a.value.clone());
            ew.address_loc = Some(a.loc);
        } else {
            d.error(
                Code::E030,
                a.loc,
                format!(
                    "`{path}.eastWestGateway.address` `{}` is not an IP address or hostname",
                    a.value
                ),
            );
            *ok = false;
        }
    }
    ew
}
