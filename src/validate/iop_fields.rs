//! The IstioOperator fields each Istio version has (`../shared/ISTIOOPERATOR-FIELDS.md`,
//! embedded: §1 top-level `spec` fields, §2 components, §3 `k8s`, and §7 — the full list of
//! `spec.values` paths, in `iop-values-paths.tsv`), for the unknown-path warning (W010) on
//! IstioOperator overrides. `tests/iop_fields.rs` keeps the embedded lists equal to the
//! document.
//!
//! What is checked: `spec` keys and components for every version; component and gateway
//! keys; `k8s` keys (each k8s type below is free); `spec.values` paths for Istio ≥ 1.24 (§7
//! lists master's; older releases had fields since removed, so older `values` are not
//! checked). Below a field of a free type (`Struct`, `Value`, a map, a list) anything goes.
//! `meshConfig` and `unvalidatedValues` are free.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use crate::diag::Loc;
use crate::istio::Version;
use crate::spec::decode::did_you_mean;
use crate::spec::parse::{Node, Value};

/// §1: field, first minor, last minor (inclusive), whether its value is free.
const TOP: &[(&str, u32, u32, bool)] = &[
    ("profile", 6, u32::MAX, false),
    ("installPackagePath", 6, u32::MAX, false),
    ("hub", 6, u32::MAX, false),
    ("tag", 6, u32::MAX, false),
    ("resourceSuffix", 6, 23, false),
    ("namespace", 6, u32::MAX, false),
    ("revision", 6, u32::MAX, false),
    ("compatibilityVersion", 21, u32::MAX, false),
    ("meshConfig", 6, u32::MAX, true),
    ("components", 6, u32::MAX, false),
    ("addonComponents", 6, 23, true),
    ("values", 6, u32::MAX, false),
    ("unvalidatedValues", 6, u32::MAX, true),
];

/// §2: component, first minor, last minor.
pub(crate) const COMPONENTS: &[(&str, u32, u32)] = &[
    ("base", 6, u32::MAX),
    ("pilot", 6, u32::MAX),
    ("proxy", 6, 6),
    ("sidecarInjector", 6, 6),
    ("citadel", 6, 6),
    ("nodeAgent", 6, 6),
    ("galley", 6, 6),
    ("policy", 6, 7),
    ("telemetry", 6, 7),
    ("cni", 6, u32::MAX),
    ("ztunnel", 20, u32::MAX),
    ("istiodRemote", 6, u32::MAX),
    ("ingressGateways", 6, u32::MAX),
    ("egressGateways", 6, u32::MAX),
];

const BASE_COMPONENT: &[&str] = &["enabled", "k8s"];
const COMPONENT: &[&str] = &["enabled", "namespace", "hub", "tag", "k8s"];
const GATEWAY: &[&str] = &["name", "label", "enabled", "namespace", "hub", "tag", "k8s"];

/// §3: the `k8s` (KubernetesResources) fields, the same 1.6 → 1.32; each value is a k8s type.
pub(crate) const K8S: &[&str] = &[
    "affinity",
    "env",
    "hpaSpec",
    "imagePullPolicy",
    "nodeSelector",
    "podDisruptionBudget",
    "podAnnotations",
    "priorityClassName",
    "readinessProbe",
    "replicaCount",
    "resources",
    "service",
    "strategy",
    "tolerations",
    "serviceAnnotations",
    "securityContext",
    "volumes",
    "volumeMounts",
    "overlays",
];

/// §7, `path<TAB>type` per line (list paths without their `[]`).
pub(crate) const VALUES_TSV: &str = include_str!("iop-values-paths.tsv");

/// §7 as a tree: path → whether it has listed children.
fn values_paths() -> &'static BTreeMap<String, bool> {
    static PATHS: OnceLock<BTreeMap<String, bool>> = OnceLock::new();
    PATHS.get_or_init(|| {
        let mut m: BTreeMap<String, bool> = BTreeMap::new();
        for line in VALUES_TSV.lines() {
            let Some((path, _)) = line.split_once('\t') else {
                continue;
            };
            m.entry(path.to_owned()).or_insert(false);
            if let Some((parent, _)) = path.rsplit_once('.') {
                m.insert(parent.to_owned(), true);
            }
        }
        m
    })
}

type Finding = (String, Loc, String);

fn entries(n: &Node) -> &[(crate::spec::parse::Key, Node)] {
    match &n.value {
        Value::Map(e) => e,
        _ => &[],
    }
}

fn unknown_key(key: &str, known: &[&str], what: &str, v: Version) -> String {
    match did_you_mean(key, known) {
        Some(s) => format!("not {what} in Istio {v}; did you mean `{s}`?"),
        None => format!("not {what} in Istio {v}"),
    }
}

fn join(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_owned()
    } else {
        format!("{at}.{key}")
    }
}

/// Every path of an IstioOperator `spec` override that `v` does not have: (path, location
/// of its key, message).
pub(crate) fn unknown(spec: &Node, v: Version) -> Vec<Finding> {
    let m = v.minor;
    let mut out = Vec::new();
    let top: Vec<&str> = TOP
        .iter()
        .filter(|t| t.1 <= m && m <= t.2)
        .map(|t| t.0)
        .collect();
    for (k, val) in entries(spec) {
        if !top.contains(&k.name.as_str()) {
            let msg = unknown_key(&k.name, &top, "an IstioOperator `spec` field", v);
            out.push((k.name.clone(), k.loc, msg));
            continue;
        }
        match k.name.as_str() {
            "components" => components(val, v, &mut out),
            "values" if m >= 24 => values(val, "values", v, &mut out),
            _ => {}
        }
    }
    out
}

fn components(n: &Node, v: Version, out: &mut Vec<Finding>) {
    let m = v.minor;
    let known: Vec<&str> = COMPONENTS
        .iter()
        .filter(|c| c.1 <= m && m <= c.2)
        .map(|c| c.0)
        .collect();
    for (k, val) in entries(n) {
        let at = format!("components.{}", k.name);
        if !known.contains(&k.name.as_str()) {
            let msg = unknown_key(&k.name, &known, "an IstioOperator component", v);
            out.push((at, k.loc, msg));
            continue;
        }
        match (k.name.as_str(), &val.value) {
            ("ingressGateways" | "egressGateways", Value::Seq(items)) => {
                for (i, item) in items.iter().enumerate() {
                    fields(item, &format!("{at}[{i}]"), GATEWAY, v, out);
                }
            }
            ("base", _) => fields(val, &at, BASE_COMPONENT, v, out),
            _ => fields(val, &at, COMPONENT, v, out),
        }
    }
}

fn fields(n: &Node, at: &str, known: &[&str], v: Version, out: &mut Vec<Finding>) {
    for (k, val) in entries(n) {
        let path = join(at, &k.name);
        if !known.contains(&k.name.as_str()) {
            let msg = unknown_key(&k.name, known, "a field of this component", v);
            out.push((path, k.loc, msg));
        } else if k.name == "k8s" {
            for (k2, _) in entries(val) {
                if !K8S.contains(&k2.name.as_str()) {
                    let msg = unknown_key(&k2.name, K8S, "a `k8s` field", v);
                    out.push((join(&path, &k2.name), k2.loc, msg));
                }
            }
        }
    }
}

fn values(n: &Node, at: &str, v: Version, out: &mut Vec<Finding>) {
    let paths = values_paths();
    for (k, val) in entries(n) {
        let path = join(at, &k.name);
        match paths.get(&path) {
            None => {
                let prefix = format!("{at}.");
                let siblings: Vec<&str> = paths
                    .range(prefix.clone()..)
                    .take_while(|(p, _)| p.starts_with(&prefix))
                    .filter_map(|(p, _)| p.strip_prefix(&prefix))
                    .filter(|rest| !rest.contains('.'))
                    .collect();
                let msg = unknown_key(&k.name, &siblings, "an IstioOperator `values` field", v);
                out.push((path, k.loc, msg));
            }
            Some(true) => values(val, &path, v, out),
            Some(false) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(yaml: &str) -> Node {
        crate::spec::parse::parse(yaml).expect("test YAML parses")
    }

    fn paths(yaml: &str, minor: u32) -> Vec<String> {
        unknown(&node(yaml), Version { minor })
            .into_iter()
            .map(|f| f.0)
            .collect()
    }

    #[test]
    fn known_paths_pass_and_typos_are_found() {
        let spec = "values:\n  pilot:\n    resources:\n      requests:\n        cpu: 500m\n    env:\n      ANY: x\n  gateways:\n    istio-ingressgateway:\n      serviceAnnotations:\n        a: b\n  global:\n    proxy:\n      resources: {}\nmeshConfig:\n  anything: 1\ncomponents:\n  pilot:\n    k8s:\n      resources: {}\n";
        assert_eq!(paths(spec, 28), Vec::<String>::new());
        assert_eq!(
            paths("values:\n  pilot:\n    resourcse: {}\n", 28),
            ["values.pilot.resourcse"]
        );
        assert_eq!(
            paths("components:\n  pilot:\n    k8s:\n      replicas: 2\n", 28),
            ["components.pilot.k8s.replicas"]
        );
        assert_eq!(paths("resourceSuffix: x\n", 24), ["resourceSuffix"]);
        assert_eq!(paths("resourceSuffix: x\n", 23), Vec::<String>::new());
        assert_eq!(
            paths("components:\n  ztunnel: {}\n", 18),
            ["components.ztunnel"]
        );
        // values are checked from 1.24 on only
        assert_eq!(paths("values:\n  nope: 1\n", 20), Vec::<String>::new());
    }
}
