//! Every rendered IstioOperator uses only fields its target Istio version has
//! (../shared/ISTIOOPERATOR-FIELDS.md): the version matrix of §4a for `spec.values` paths, the
//! top-level fields of §1 and the components of §2, and, for Istio ≥ 1.24, the full list of
//! `spec.values` paths of §7. Skips with a message where ../shared is absent.

mod common;

use std::collections::BTreeMap;

use common::*;
use serde_json::Value;

/// Istio minor → is `path` present, from the §4a matrix (`Y`/`D` present, `-` absent).
struct Matrix {
    columns: Vec<u32>,
    rows: BTreeMap<String, Vec<bool>>,
}

impl Matrix {
    fn parse(md: &str) -> Matrix {
        let section = md
            .split("### 4a.")
            .nth(1)
            .expect("§4a")
            .split("\n### ")
            .next()
            .unwrap();
        let mut lines = section.lines().filter(|l| l.starts_with('|'));
        let header = lines.next().unwrap();
        let columns: Vec<u32> = header
            .split('|')
            .skip(2)
            .filter(|c| !c.trim().is_empty())
            .map(|c| {
                c.trim()
                    .trim_start_matches("1.")
                    .trim_end_matches("-dev")
                    .parse()
                    .unwrap()
            })
            .collect();
        let mut rows = BTreeMap::new();
        for l in lines.skip(1) {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let path = cells[1].trim_matches('`').trim_end_matches("[]").to_owned();
            let present = cells[2..2 + columns.len()]
                .iter()
                .map(|c| *c != "-")
                .collect();
            rows.insert(path, present);
        }
        Matrix { columns, rows }
    }

    /// Presence of `path` in `minor`: the matrix column at or below it, with the document's
    /// spot checks for versions between columns.
    fn present(&self, path: &str, minor: u32) -> Option<bool> {
        let spot: &[(&str, u32)] = &[
            ("values.gateways.istio-ingressgateway.injectionTemplate", 10),
            ("values.revisionTags", 10),
            ("values.istiodRemote.injectionPath", 11),
            ("values.global.configCluster", 11),
        ];
        if let Some((_, since)) = spot.iter().find(|(p, _)| *p == path) {
            return Some(minor >= *since);
        }
        let row = self.rows.get(path)?;
        let col = self.columns.iter().rposition(|c| *c <= minor).unwrap_or(0);
        Some(row[col])
    }
}

/// Every path of `v` below `prefix`, leaves and inner nodes, list items as `[]`.
fn paths(prefix: &str, v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = format!("{prefix}.{k}");
                out.push(p.clone());
                paths(&p, x, out);
            }
        }
        Value::Array(a) => {
            for x in a {
                paths(prefix, x, out);
            }
        }
        _ => {}
    }
}

const TOP_FIELDS: &[&str] = &[
    "profile",
    "installPackagePath",
    "hub",
    "tag",
    "resourceSuffix",
    "namespace",
    "revision",
    "compatibilityVersion",
    "meshConfig",
    "components",
    "addonComponents",
    "values",
    "unvalidatedValues",
];

fn top_field_ok(field: &str, minor: u32) -> bool {
    match field {
        "resourceSuffix" | "addonComponents" => minor <= 23,
        "compatibilityVersion" => minor >= 21,
        f => TOP_FIELDS.contains(&f),
    }
}

fn component_ok(c: &str, minor: u32) -> bool {
    match c {
        "base" | "pilot" | "cni" | "istiodRemote" | "ingressGateways" | "egressGateways" => true,
        "ztunnel" => minor >= 18,
        "policy" | "telemetry" => minor <= 7,
        "proxy" | "sidecarInjector" | "citadel" | "nodeAgent" | "galley" => minor == 6,
        _ => false,
    }
}

#[test]
fn every_istiooperator_uses_only_fields_of_its_version() {
    let Some(shared) = shared() else { return };
    let md = std::fs::read_to_string(shared.join("ISTIOOPERATOR-FIELDS.md")).unwrap();
    let matrix = Matrix::parse(&md);
    assert!(
        matrix.rows.len() > 40 && matrix.columns.first() == Some(&6),
        "matrix parsed"
    );
    // §7: every spec.values path at master, for the ≥ 1.24 check.
    let master: Vec<String> = md
        .split("## 7.")
        .nth(1)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .map(|l| {
            l.split('`')
                .next()
                .unwrap()
                .trim_end_matches("[]")
                .to_owned()
        })
        .collect();
    assert!(master.len() > 300, "§7 parsed: {}", master.len());

    let mut checked = 0;
    let mut failures = Vec::new();
    for case in cases() {
        let spec = std::fs::read_to_string(case.join("spec.yaml")).unwrap();
        let version: String = spec
            .lines()
            .find_map(|l| l.trim().strip_prefix("version: "))
            .map(|v| v.trim_matches('"').to_owned())
            .unwrap();
        let minor: u32 = version.trim_start_matches("1.").parse().unwrap();
        for (rel, bytes) in render_spec(&case.join("spec.yaml")) {
            if !rel.ends_with(".yaml") || !rel.contains("/install/") || rel.contains("/helm/") {
                continue;
            }
            for doc in yaml_docs(std::str::from_utf8(&bytes).unwrap()) {
                if doc["kind"] != "IstioOperator" {
                    continue;
                }
                checked += 1;
                let name = format!("{}: {rel}", case.file_name().unwrap().to_string_lossy());
                for (k, _) in doc["spec"].as_object().unwrap() {
                    if !top_field_ok(k, minor) {
                        failures.push(format!(
                            "{name}: spec.{k} does not exist in Istio 1.{minor}"
                        ));
                    }
                }
                if let Some(comps) = doc["spec"]["components"].as_object() {
                    for (k, _) in comps {
                        if !component_ok(k, minor) {
                            failures.push(format!(
                                "{name}: spec.components.{k} does not exist in Istio 1.{minor}"
                            ));
                        }
                    }
                }
                let mut ps = Vec::new();
                paths("values", &doc["spec"]["values"], &mut ps);
                // The 1.6 patch releases' files carry these (ISTIO-FACTS §9.2); the matrix
                // follows 1.6.0.
                let patch_fields = [
                    "values.global.multiCluster.globalDomainSuffix",
                    "values.global.multiCluster.includeEnvoyFilter",
                ];
                for p in &ps {
                    if minor == 6 && patch_fields.contains(&p.as_str()) {
                        continue;
                    }
                    if matrix.present(p, minor) == Some(false) {
                        failures.push(format!(
                            "{name}: spec.{p} does not exist in Istio 1.{minor}"
                        ));
                    }
                    // ≥ 1.24: every path must be in the master list, or below a listed
                    // path of a free type (Struct, map, Value: no listed children), whose
                    // keys are data (pilot.env, serviceAnnotations, resources.requests).
                    if minor >= 24 {
                        let known = master.iter().any(|m| m == p)
                            || p.match_indices('.').any(|(i, _)| {
                                let prefix = &p[..i];
                                master.iter().any(|m| m == prefix)
                                    && !master.iter().any(|m| m.starts_with(&format!("{prefix}.")))
                            });
                        if !known {
                            failures.push(format!(
                                "{name}: spec.{p} is not a spec.values path of Istio ≥ 1.24"
                            ));
                        }
                    }
                }
            }
        }
    }
    assert!(checked >= 20, "only {checked} IstioOperators checked");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_checker_rejects_fields_a_version_lacks() {
    let Some(shared) = shared() else { return };
    let md = std::fs::read_to_string(shared.join("ISTIOOPERATOR-FIELDS.md")).unwrap();
    let m = Matrix::parse(&md);
    assert_eq!(m.present("values.global.externalIstiod", 7), Some(false));
    assert_eq!(m.present("values.global.externalIstiod", 8), Some(true));
    assert_eq!(m.present("values.istiocoredns", 12), Some(false));
    assert_eq!(
        m.present("values.global.controlPlaneSecurityEnabled", 8),
        Some(false)
    );
    assert_eq!(
        m.present("values.istiodRemote.injectionPath", 10),
        Some(false)
    );
    assert_eq!(
        m.present("values.istiodRemote.injectionPath", 11),
        Some(true)
    );
    assert_eq!(
        m.present("values.gateways.istio-ingressgateway.injectionTemplate", 9),
        Some(false)
    );
    assert!(!top_field_ok("addonComponents", 24));
    assert!(!component_ok("ztunnel", 17));
}

/// The `spec.values` paths meshrender embeds for the unknown-override warning (W010,
/// `src/validate/iop-values-paths.tsv`) are §7 of the document, path and type, list paths
/// without `[]`. `UPDATE_GOLDEN=1` rewrites the file from the document.
#[test]
fn embedded_values_paths_are_the_documents() {
    let Some(shared) = shared() else { return };
    let md = std::fs::read_to_string(shared.join("ISTIOOPERATOR-FIELDS.md")).unwrap();
    let section = md.split("## 7.").nth(1).expect("§7");
    let mut want = String::new();
    for line in section.lines().filter(|l| l.starts_with("| `values")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let path = cells[1].trim_matches('`').trim_end_matches("[]");
        want.push_str(&format!("{path}\t{}\n", cells[2]));
    }
    assert!(want.lines().count() > 300, "§7 lists the values paths");
    let file = root().join("src/validate/iop-values-paths.tsv");
    if update_golden() {
        std::fs::write(&file, &want).unwrap();
    }
    let have = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        have, want,
        "src/validate/iop-values-paths.tsv differs from §7"
    );
}
