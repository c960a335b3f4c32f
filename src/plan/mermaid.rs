//! The generated README's "Topology at a glance": a Mermaid `flowchart` of the mesh (clusters
//! grouped by network, which primary reads which cluster, which primary serves which remote,
//! east-west gateways) and the counts a reviewer checks (remote secrets, API servers each
//! primary watches). Computed here, so the template only prints text. Node ids are derived
//! from names (DNS-1123 labels: `c_` + `-` as `_`; networks by sorted position), labels are
//! escaped; everything sorted. Above [`MAX_DRAWN`] clusters the diagram collapses to one node
//! per network, and says so.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::{Mesh, Topology};

/// Clusters drawn one by one; beyond this, one node per network.
pub const MAX_DRAWN: usize = 40;

#[derive(Serialize)]
pub struct Watch {
    pub primary: String,
    pub api_servers: usize,
}

#[derive(Serialize)]
pub struct Glance {
    pub diagram: String,
    pub collapsed: bool,
    pub max_drawn: usize,
    pub remote_secrets: usize,
    pub watches: Vec<Watch>,
}

fn node(name: &str) -> String {
    format!("c_{}", name.replace('-', "_"))
}

/// A label inside `["…"]`: Mermaid's entity codes for the characters that end or break it.
fn label(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '"' => "#quot;".to_owned(),
            '<' => "#lt;".to_owned(),
            '>' => "#gt;".to_owned(),
            '#' => "#35;".to_owned(),
            c if c.is_control() => " ".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

pub fn glance(mesh: &Mesh, topo: &Topology) -> Glance {
    let mut by_network: BTreeMap<&str, Vec<&crate::model::Cluster>> = BTreeMap::new();
    for c in &mesh.clusters {
        by_network.entry(&c.network).or_default().push(c);
    }
    let net_id: BTreeMap<&str, String> = by_network
        .keys()
        .enumerate()
        .map(|(i, n)| (*n, format!("n{i}")))
        .collect();
    let mut watches: Vec<Watch> = topo
        .clusters
        .iter()
        .filter(|f| f.primary)
        .map(|f| Watch {
            primary: f.name.clone(),
            api_servers: f.reads.len(),
        })
        .collect();
    watches.sort_by(|a, b| a.primary.cmp(&b.primary));
    let remote_secrets = watches.iter().map(|w| w.api_servers).sum();
    let collapsed = mesh.clusters.len() > MAX_DRAWN;
    let mut out = String::from("flowchart LR\n");
    if collapsed {
        let network_of: BTreeMap<&str, &str> = mesh
            .clusters
            .iter()
            .map(|c| (c.name.as_str(), c.network.as_str()))
            .collect();
        for (net, cs) in &by_network {
            let primaries = cs.iter().filter(|c| c.is_primary()).count();
            out.push_str(&format!(
                "  {}[\"network {}: {} clusters ({} primaries, {} remotes)\"]\n",
                net_id[net],
                label(net),
                cs.len(),
                primaries,
                cs.len() - primaries
            ));
        }
        // Reads between networks, counted (a `"*"` primary counts every other cluster).
        let mut edges: BTreeMap<(&str, &str), usize> = BTreeMap::new();
        for f in topo.clusters.iter().filter(|f| f.primary) {
            let from = network_of[f.name.as_str()];
            if f.reads.is_everyone() {
                for (net, cs) in &by_network {
                    let n = cs.len() - usize::from(*net == from);
                    if n > 0 {
                        *edges.entry((from, net)).or_default() += n;
                    }
                }
            } else {
                for r in &f.reads {
                    if let Some(to) = network_of.get(r.as_str()) {
                        *edges.entry((from, to)).or_default() += 1;
                    }
                }
            }
        }
        for ((a, b), n) in edges {
            out.push_str(&format!(
                "  {} -->|\"{n} reads\"| {}\n",
                net_id[a], net_id[b]
            ));
        }
        return Glance {
            diagram: out,
            collapsed,
            max_drawn: MAX_DRAWN,
            remote_secrets,
            watches,
        };
    }
    for (net, cs) in &by_network {
        out.push_str(&format!(
            "  subgraph {}[\"network {}\"]\n",
            net_id[net],
            label(net)
        ));
        let mut cs = cs.clone();
        cs.sort_by(|a, b| a.name.cmp(&b.name));
        for c in cs {
            let role = if c.is_primary() { "primary" } else { "remote" };
            let ew = if topo.facts(&c.name).is_some_and(|f| f.needs_east_west) {
                ", east-west gateway"
            } else {
                ""
            };
            let shape = if c.is_primary() {
                ("[", "]")
            } else {
                ("(", ")")
            };
            out.push_str(&format!(
                "    {}{}\"{}<br/>{role}{ew}\"{}\n",
                node(&c.name),
                shape.0,
                label(&c.name),
                shape.1
            ));
        }
        out.push_str("  end\n");
    }
    let mut facts: Vec<_> = topo.clusters.iter().filter(|f| f.primary).collect();
    facts.sort_by(|a, b| a.name.cmp(&b.name));
    for f in facts {
        for r in &f.reads {
            if f.serves.binary_search(r).is_ok() {
                out.push_str(&format!("  {} ==>|serves| {}\n", node(&f.name), node(r)));
            } else {
                out.push_str(&format!("  {} -->|reads| {}\n", node(&f.name), node(r)));
            }
        }
    }
    Glance {
        diagram: out,
        collapsed,
        max_drawn: MAX_DRAWN,
        remote_secrets,
        watches,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_ids_are_identifiers() {
        assert_eq!(label("a\"b<c>#"), "a#quot;b#lt;c#gt;#35;");
        assert_eq!(node("eu-hub-1"), "c_eu_hub_1");
    }
}
