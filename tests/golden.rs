//! Golden-file tests: each `tests/cases/<name>/` holds `spec.yaml`, fixture inputs (`creds/`,
//! `pki/`) and `expected/`, the exact tree meshrender must render. A missing, extra or changed
//! file fails. `UPDATE_GOLDEN=1 cargo test --test golden` rewrites `expected/` (and creates
//! missing fixture PKI); review that diff like code.
//!
//! The generated `README.md` is prose: it is an exact golden file only in [`README_GOLDEN`];
//! elsewhere its headings, in order, must match the case's `readme-sections.txt`, so a wording
//! change touches three goldens, not every case.

mod common;

use std::collections::BTreeSet;

use common::*;

/// The cases whose generated README is checked byte for byte.
const README_GOLDEN: &[&str] = &[
    "multi-primary",
    "primary-remote-multi-network",
    "gitops-argocd-flux",
    "ambient-multi-network",
];

/// The Markdown headings of a README, one per line.
fn headings(readme: &[u8]) -> String {
    String::from_utf8_lossy(readme)
        .lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn every_case_renders_exactly_its_expected_tree() {
    let mut failures = Vec::new();
    let cases = cases();
    assert!(
        cases.len() >= 6,
        "expected the golden cases, found {}",
        cases.len()
    );
    for case in cases {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let mut got = render_spec(&case.join("spec.yaml"));
        let expected_dir = case.join("expected");
        if !README_GOLDEN.contains(&name.as_str()) {
            let readme = got.remove("README.md").unwrap_or_default();
            let sections = headings(&readme);
            let sections_path = case.join("readme-sections.txt");
            if update_golden() {
                std::fs::write(&sections_path, &sections).unwrap();
            } else {
                match std::fs::read_to_string(&sections_path) {
                    Ok(want) if want == sections => {}
                    Ok(want) => failures.push(format!(
                        "{name}: README.md headings differ (- expected, + rendered):\n{}",
                        similar::TextDiff::from_lines(&want, &sections).unified_diff()
                    )),
                    Err(e) => failures.push(format!("{}: {e}", sections_path.display())),
                }
            }
            if sections.lines().count() < 3 {
                failures.push(format!(
                    "{name}: README.md has too few sections:\n{sections}"
                ));
            }
        }
        if update_golden() {
            let _ = std::fs::remove_dir_all(&expected_dir);
            for (rel, bytes) in &got {
                let p = expected_dir.join(rel);
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(p, bytes).unwrap();
            }
            continue;
        }
        let want = read_tree(&expected_dir);
        let paths: BTreeSet<&String> = got.keys().chain(want.keys()).collect();
        for p in paths {
            match (got.get(p), want.get(p)) {
                (Some(_), None) => failures.push(format!("{name}: extra file {p}")),
                (None, Some(_)) => failures.push(format!("{name}: missing file {p}")),
                (Some(g), Some(w)) if g != w => {
                    let diff = similar::TextDiff::from_lines(
                        std::str::from_utf8(w).unwrap_or("<binary>"),
                        std::str::from_utf8(g).unwrap_or("<binary>"),
                    );
                    failures.push(format!(
                        "{name}: {p} differs (- expected, + rendered):\n{}",
                        diff.unified_diff().context_radius(2)
                    ));
                }
                _ => {}
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{}\n\nIf the change is intended: UPDATE_GOLDEN=1 cargo test --test golden, then review the diff.",
        failures.join("\n")
    );
}

#[test]
fn rendering_twice_gives_identical_bytes() {
    for case in cases() {
        let a = render_spec(&case.join("spec.yaml"));
        let b = render_spec(&case.join("spec.yaml"));
        assert_eq!(a, b, "{}", case.display());
    }
}

#[test]
fn every_rendered_file_is_well_formed() {
    for case in cases() {
        for (rel, bytes) in render_spec(&case.join("spec.yaml")) {
            let text = String::from_utf8(bytes).unwrap_or_else(|_| panic!("{rel} is not UTF-8"));
            assert!(
                text.ends_with('\n') && !text.ends_with("\n\n"),
                "{rel}: one trailing newline"
            );
            assert!(!text.contains('\r'), "{rel}: LF line endings");
            assert!(!text.contains('\t'), "{rel}: no tabs");
            for line in text.lines() {
                assert_eq!(
                    line,
                    line.trim_end(),
                    "{rel}: trailing whitespace in {line:?}"
                );
            }
            if !rel.ends_with(".yaml") {
                continue;
            }
            let docs = yaml_docs(&text);
            assert!(!docs.is_empty(), "{rel}: no YAML document");
            if rel.contains("/install/helm/") {
                // Helm values files are values, not objects.
                continue;
            }
            for doc in docs {
                let api = doc["apiVersion"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{rel}: apiVersion"));
                let kind = doc["kind"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{rel}: kind"));
                assert!(!api.is_empty() && !kind.is_empty(), "{rel}");
                let name = doc["metadata"]["name"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{rel}: metadata.name"));
                assert!(!name.is_empty(), "{rel}");
                let want_ns = if rel.contains("/verify/") {
                    "sample"
                } else {
                    "istio-system"
                };
                let cluster_object = !rel.contains("/install/")
                    && !rel.starts_with("gitops/")
                    && kind != "Kustomization"
                    && kind != "Namespace";
                if cluster_object {
                    assert_eq!(
                        doc["metadata"]["namespace"], want_ns,
                        "{rel}: {kind}/{name} carries its namespace"
                    );
                }
                if rel.starts_with("gitops/") && api != "kustomize.config.k8s.io/v1beta1" {
                    assert!(
                        doc["metadata"]["namespace"]
                            .as_str()
                            .is_some_and(|n| !n.is_empty()),
                        "{rel}: {kind}/{name} carries its namespace"
                    );
                }
            }
        }
    }
}
