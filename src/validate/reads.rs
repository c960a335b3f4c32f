//! `clusters[].reads` (DESIGN §7.1): which clusters a primary's istiod reads. Names or `"*"`
//! (the default, every other cluster); primaries only; never itself; every name a cluster of
//! the spec, once; and always the remotes the primary serves. Resolves each primary's list
//! into [`ClusterIn::reads`]. Linear in the spec size.

use std::collections::{BTreeMap, BTreeSet};

use super::clusters::ClusterIn;
use crate::diag::{Code, Diagnostics};
use crate::model::Role;
use crate::spec::Spec;
use crate::spec::decode::did_you_mean;

/// Checks every `reads` and stores the resolved lists (sorted) in `clusters`.
pub(super) fn check(
    spec: &Spec,
    replicated_era: bool,
    clusters: &mut [ClusterIn],
    d: &mut Diagnostics,
) {
    let list = spec
        .clusters
        .value()
        .map(|l| l.value.as_slice())
        .unwrap_or_default();
    let names: BTreeSet<&str> = list
        .iter()
        .filter_map(|c| c.name.value().map(|n| n.value.as_str()))
        .collect();
    let mut served: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for c in clusters.iter() {
        if let Role::Remote { control_plane } = &c.role {
            served
                .entry(control_plane.clone())
                .or_default()
                .push(c.name.value.clone());
        }
    }
    let mut known: Option<Vec<&str>> = None;
    for c in clusters.iter_mut() {
        let Some(reads) = list.get(c.index).and_then(|s| s.reads.value()) else {
            continue;
        };
        let me = c.name.value.as_str();
        if let Role::Remote { control_plane } = &c.role {
            d.error_help(
                Code::E040,
                reads.loc,
                format!("remote cluster `{me}` must not set `reads`: only a primary's istiod reads other clusters"),
                format!("remove `reads`; its primary `{control_plane}` always reads it, and chooses what else it reads with its own `reads`"),
            );
            continue;
        }
        if replicated_era {
            d.error_help(
                Code::E040,
                reads.loc,
                format!("cluster `{me}` sets `reads`, but before Istio 1.8 control planes never read other clusters"),
                "remove `reads`; replicated control planes share services through `federation`",
            );
            continue;
        }
        let mut star = None;
        let mut picked: BTreeSet<&str> = BTreeSet::new();
        let mut named = None;
        for item in &reads.value {
            let n = item.value.as_str();
            if n == "*" {
                if star.is_some() {
                    d.error_help(
                        Code::E044,
                        item.loc,
                        format!("cluster `{me}`: `reads` lists `\"*\"` twice"),
                        "write `\"*\"` once",
                    );
                }
                star.get_or_insert(item.loc);
                continue;
            }
            named.get_or_insert(item.loc);
            if n == me {
                d.error_help(
                    Code::E042,
                    item.loc,
                    format!("cluster `{me}` lists itself in `reads`"),
                    "remove it: istiod always knows its own cluster; `reads` names the other clusters it reads",
                );
            } else if !names.contains(n) {
                let known = known.get_or_insert_with(|| names.iter().copied().collect());
                let help = match did_you_mean(n, known) {
                    Some(h) => format!("did you mean `{h}`?"),
                    None => "name a cluster of `clusters`, or `\"*\"` for every other cluster"
                        .to_owned(),
                };
                d.error_help(
                    Code::E041,
                    item.loc,
                    format!("cluster `{me}` reads `{n}`, which is not a cluster of this mesh"),
                    help,
                );
            } else if !picked.insert(n) {
                d.error_help(
                    Code::E044,
                    item.loc,
                    format!("cluster `{me}`: `reads` lists `{n}` twice"),
                    "list each cluster once",
                );
            }
        }
        if let (Some(s), Some(_)) = (star, named) {
            d.error_help(
                Code::E045,
                s,
                format!(
                    "cluster `{me}`: `reads` mixes `\"*\"` (every other cluster) with cluster names"
                ),
                "write either `reads: [\"*\"]` or only the names of the clusters it reads",
            );
            continue;
        }
        if star.is_some() {
            continue;
        }
        for r in served.get(me).into_iter().flatten() {
            if !picked.contains(r.as_str()) {
                d.error_help(
                    Code::E043,
                    reads.loc,
                    format!("primary `{me}` serves remote `{r}` but its `reads` leaves `{r}` out"),
                    format!("add `{r}` to `reads`: a primary always reads the remotes it serves"),
                );
            }
        }
        c.reads = Some(picked.into_iter().map(str::to_owned).collect());
    }
}
