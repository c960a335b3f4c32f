//! Each `clusters/<name>/` directory is what Argo CD or Flux applies: `kubectl kustomize` must
//! build it, and the objects it builds must be exactly those of the files its
//! `kustomization.yaml` lists (with the kustomization's own `patches` applied); that list must
//! be every manifest of the directory (all but `install/` and nested kustomization roots such
//! as `verify/`), sorted. Other kustomizations (`gitops/flux/…`, `verify/`) must build to the
//! objects they list too. Runs when `kubectl` is on PATH; otherwise prints a skip message.

mod common;
mod variants;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use common::*;
use variants::*;

fn kubectl_available() -> bool {
    let ok = Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success());
    require(ok, "kubectl on PATH (the kustomize build checks need it)")
}

fn write_tree(dir: &Path, files: &BTreeMap<String, Vec<u8>>) {
    for (rel, bytes) in files {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
}

/// A stable order for comparing object lists.
fn sorted(mut docs: Vec<Value>) -> Vec<Value> {
    docs.sort_by_key(|d| serde_json::to_string(d).unwrap());
    docs
}

/// Deep-merges the map `patch` into `obj` (a strategic-merge patch of maps only; `null`
/// deletes). Lists in a patch are not simulated: an error.
fn merge_patch(obj: &mut Value, patch: &Value, path: &str) -> Result<(), String> {
    match (obj, patch) {
        (Value::Object(o), Value::Object(p)) => {
            for (k, v) in p {
                let child = format!("{path}.{k}");
                if v.is_null() {
                    o.remove(k);
                } else if v.is_array() {
                    return Err(format!("{child}: list patches are not simulated"));
                } else if v.is_object() && o.get(k).is_some_and(Value::is_object) {
                    merge_patch(o.get_mut(k).unwrap(), v, &child)?;
                } else {
                    o.insert(k.clone(), v.clone());
                }
            }
            Ok(())
        }
        _ => Err(format!("{path}: not a map")),
    }
}

/// `a/b/../c` → `a/c` (the paths of the rendered tree never leave it).
fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            ".." => {
                parts.pop();
            }
            "." | "" => {}
            p => parts.push(p),
        }
    }
    parts.join("/")
}

/// What `kubectl kustomize` must build from the kustomization `k` in directory `dir` (a path
/// of `files`): the objects of its resources, with its `patches` applied.
fn expected_build(
    files: &BTreeMap<String, Vec<u8>>,
    dir: &str,
    k: &Value,
    id: &str,
    failures: &mut Vec<String>,
) -> Vec<Value> {
    for key in k.as_object().unwrap().keys() {
        if !matches!(
            key.as_str(),
            "apiVersion" | "kind" | "metadata" | "resources" | "patches"
        ) {
            failures.push(format!(
                "{id}: kustomization field {key} is not simulated by this test"
            ));
        }
    }
    let mut objects = Vec::new();
    for r in k["resources"].as_array().into_iter().flatten() {
        let r = r.as_str().unwrap_or("?");
        match files.get(&normalize(&format!("{dir}/{r}"))) {
            Some(b) => objects.extend(yaml_docs(&String::from_utf8(b.clone()).unwrap())),
            None => failures.push(format!("{id}: lists {r}, which was not rendered")),
        }
    }
    for (i, p) in k["patches"].as_array().into_iter().flatten().enumerate() {
        let target = &p["target"];
        let patch = yaml_docs(p["patch"].as_str().unwrap_or_default());
        let [patch] = patch.as_slice() else {
            failures.push(format!("{id}: patches[{i}] is not one document"));
            continue;
        };
        let mut matched = 0;
        for o in &mut objects {
            let hit = ["kind", "name", "namespace"].iter().all(|f| {
                let want = &target[*f];
                let have = if *f == "kind" {
                    &o["kind"]
                } else {
                    &o["metadata"][*f]
                };
                want.is_null() || want == have
            });
            if hit {
                matched += 1;
                if let Err(e) = merge_patch(o, patch, "") {
                    failures.push(format!("{id}: patches[{i}]: {e}"));
                }
            }
        }
        if matched == 0 {
            failures.push(format!("{id}: patches[{i}] targets no object: {target}"));
        }
    }
    objects
}

/// Builds every kustomization of `files` with `kubectl kustomize` and compares the output
/// with the objects of the files it lists (its patches applied); for `clusters/<name>/`, the
/// list must also be every applied file of the directory, sorted. Problems are appended to
/// `failures`; returns the number of cluster directories built.
fn check_tree(label: &str, files: &BTreeMap<String, Vec<u8>>, failures: &mut Vec<String>) -> usize {
    let tmp = tempfile::tempdir().unwrap();
    write_tree(tmp.path(), files);
    let with_dirs: BTreeSet<&str> = files
        .keys()
        .filter_map(|k| k.strip_prefix("clusters/"))
        .filter_map(|k| k.split_once('/').map(|(c, _)| c))
        .collect();
    for c in &with_dirs {
        if !files.contains_key(&format!("clusters/{c}/kustomization.yaml")) {
            failures.push(format!("{label}: clusters/{c} has no kustomization.yaml"));
        }
    }
    let mut clusters = 0;
    for dir in files
        .keys()
        .filter_map(|k| k.strip_suffix("/kustomization.yaml"))
    {
        let id = format!("{label}: {dir}");
        let k = yaml_docs(
            &String::from_utf8(files[&format!("{dir}/kustomization.yaml")].clone()).unwrap(),
        )
        .remove(0);
        let resources: Vec<String> = k["resources"]
            .as_array()
            .map(|r| {
                r.iter()
                    .map(|x| x.as_str().unwrap_or("?").to_owned())
                    .collect()
            })
            .unwrap_or_default();
        if let Some(c) = dir.strip_prefix("clusters/").filter(|c| !c.contains('/')) {
            clusters += 1;
            // The list: every manifest (*.yaml) of the directory, sorted; nothing from
            // install/ (istioctl/Helm inputs) nor from a nested kustomization root (verify/,
            // applied on its own). Other files (a CoreDNS snippet) are not objects.
            let prefix = format!("clusters/{c}/");
            let nested_roots: Vec<&str> = files
                .keys()
                .filter_map(|p| p.strip_prefix(&prefix))
                .filter_map(|p| p.strip_suffix("kustomization.yaml"))
                .filter(|p| !p.is_empty())
                .collect();
            let mut applied: Vec<String> = files
                .keys()
                .filter_map(|p| p.strip_prefix(&prefix))
                .filter(|p| p.ends_with(".yaml") && *p != "kustomization.yaml")
                .filter(|p| !p.starts_with("install/"))
                .filter(|p| !nested_roots.iter().any(|r| p.starts_with(r)))
                .map(str::to_owned)
                .collect();
            applied.sort();
            if resources != applied {
                failures.push(format!(
                    "{id}: kustomization resources {resources:?}, applied files {applied:?}"
                ));
            }
        }
        // Flux's stage roots list the files of clusters/<name>/ from outside their root:
        // kustomize-controller builds without load restrictions (inside the source), so
        // they are built the same way here; every other root builds with the defaults.
        let mut cmd = Command::new("kubectl");
        cmd.arg("kustomize").arg(tmp.path().join(dir));
        if dir.starts_with("gitops/flux/clusters/") {
            cmd.args(["--load-restrictor", "LoadRestrictionsNone"]);
        }
        let out = cmd.output().expect("run kubectl kustomize");
        if !out.status.success() {
            failures.push(format!(
                "{id}: kubectl kustomize exited {}:\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
            continue;
        }
        let built = sorted(yaml_docs(&String::from_utf8(out.stdout).unwrap()));
        let listed = sorted(expected_build(files, dir, &k, &id, failures));
        if built != listed {
            let show = |v: &[Value]| serde_json::to_string_pretty(v).unwrap() + "\n";
            let (w, g) = (show(&listed), show(&built));
            failures.push(format!(
                "{id}: kustomize output differs from the listed files (- listed, + built):\n{}",
                similar::TextDiff::from_lines(&w, &g)
                    .unified_diff()
                    .context_radius(3)
            ));
        }
    }
    clusters
}

#[test]
fn every_golden_cluster_directory_builds_with_kubectl_kustomize() {
    if !kubectl_available() {
        return;
    }
    let mut failures = Vec::new();
    let mut built = 0;
    for case in cases() {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        built += check_tree(&name, &render_spec(&case.join("spec.yaml")), &mut failures);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(built >= 10, "built {built} cluster directories");
}

#[test]
fn every_reference_variant_cluster_directory_builds_with_kubectl_kustomize() {
    if !kubectl_available() {
        return;
    }
    let mut failures = Vec::new();
    for (label, files) in all_variants() {
        check_tree(&label, &files, &mut failures);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `123` and `true` are valid cluster IDs (DNS-1123 labels). Unquoted, kustomize rejects
/// `metadata.name: 123` in the remote's kustomization ("cannot unmarshal number into Go struct
/// field ObjectMeta.metadata.name of type string") and the primary's remote secret with data
/// key `123:` ("json: unsupported type: map[interface {}]interface {}").
#[test]
fn cluster_directories_build_when_the_cluster_id_reads_as_a_number_or_boolean() {
    if !kubectl_available() {
        return;
    }
    let mut failures = Vec::new();
    // and every other word or number form YAML 1.1 (kubectl) or 1.2 reads as a non-string
    for id in [
        "123",
        "true",
        "0x1f",
        "0b101",
        "0o17",
        "017",
        "1e3",
        "yes",
        "no",
        "on",
        "off",
        "y",
        "null",
        "2001-12-14",
    ] {
        let files = render_variant(PRIMARY_REMOTE, rename_cluster("cluster2", id));
        check_tree(&format!("remote named {id}"), &files, &mut failures);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
