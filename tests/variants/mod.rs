//! Variants of the specs under `tests/reference-specs/<name>/`: the spec's data is edited
//! (another Istio version, a revision, another secrets mode, renamed clusters…) and rendered
//! in memory with the fixture `pki/` and `creds/` of `<name>` (read-only).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::common::{render_spec, root, yaml_file};

pub type Tree = BTreeMap<String, Vec<u8>>;

/// Istio's "Multi-Primary on different networks": cluster1/network1, cluster2/network2.
pub const MULTI_PRIMARY: &str = "multi-primary-multi-network";
/// Istio's "Primary-Remote on different networks": primary cluster1/network1 serving remote
/// cluster2/network2.
pub const PRIMARY_REMOTE: &str = "primary-remote-multi-network";
pub const REFERENCE_SPECS: [&str; 2] = [MULTI_PRIMARY, PRIMARY_REMOTE];
/// Replicated control planes (Istio 1.6–1.7): httpbin.bar of cluster2 consumed by cluster1.
pub const FEDERATION: &str = "federation";

pub fn spec_dir(name: &str) -> PathBuf {
    root().join("tests/reference-specs").join(name)
}

/// The data of `tests/reference-specs/<name>/spec.yaml`.
pub fn base_spec(name: &str) -> Value {
    spec_data(&spec_dir(name))
}

fn spec_data(dir: &Path) -> Value {
    let name = dir.display();
    let mut docs = yaml_file(&dir.join("spec.yaml"));
    assert_eq!(docs.len(), 1, "{name}: one spec document");
    docs.remove(0)
}

/// `p` relative to `base`, as an absolute path string.
fn absolute(base: &Path, p: &Value) -> Value {
    json!(base.join(p.as_str().expect("a path")).to_string_lossy())
}

/// Renders a variant of the reference spec `name`: `edit` changes its data, which is then
/// written (as JSON, a subset of YAML) to a temporary directory with every file path made
/// absolute, so the variant uses the fixture `pki/` and `creds/` of `name`.
pub fn render_variant(name: &str, edit: impl FnOnce(&mut Value)) -> Tree {
    render_dir_variant(&spec_dir(name), edit)
}

/// Renders a variant of the golden case `tests/cases/<name>/` (its fixture `pki/`, `creds/`).
pub fn render_case_variant(name: &str, edit: impl FnOnce(&mut Value)) -> Tree {
    render_dir_variant(&root().join("tests/cases").join(name), edit)
}

fn render_dir_variant(base: &Path, edit: impl FnOnce(&mut Value)) -> Tree {
    let base = base.to_path_buf();
    let mut spec = spec_data(&base);
    let pki_dir = spec["pki"]["dir"].clone();
    spec["pki"]["dir"] = absolute(&base, &pki_dir);
    for c in spec["clusters"].as_array_mut().expect("clusters") {
        if let Some(a) = c.get_mut("apiServer").and_then(Value::as_object_mut) {
            for key in ["caFile", "tokenFile"] {
                if let Some(p) = a.get(key).cloned() {
                    a.insert(key.to_owned(), absolute(&base, &p));
                }
            }
        }
    }
    edit(&mut spec);
    WRITTEN
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(spec.clone());
    let tmp = tempfile::tempdir().expect("temp dir");
    let path = tmp.path().join("spec.yaml");
    std::fs::write(&path, serde_json::to_string_pretty(&spec).unwrap()).unwrap();
    render_spec(&path)
}

/// Every variant spec rendered so far in this test process (what `tests/spec_schema.rs` checks
/// against the JSON Schema).
static WRITTEN: std::sync::Mutex<Vec<Value>> = std::sync::Mutex::new(Vec::new());

/// The variant specs rendered so far (by [`all_variants`] and the like), in order.
#[allow(dead_code)]
pub fn written_specs() -> Vec<Value> {
    WRITTEN.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// An edit that sets `istio.version`.
pub fn version(v: &str) -> impl FnOnce(&mut Value) + '_ {
    move |s: &mut Value| s["istio"]["version"] = json!(v)
}

pub fn minor(v: &str) -> u32 {
    v.strip_prefix("1.").unwrap().parse().unwrap()
}

pub const KEY_PREFIX: &str = "meshes/reference";

/// An edit that switches to `secrets.mode: external-secrets` (keyPrefix [`KEY_PREFIX`]).
pub fn external_secrets(s: &mut Value) {
    s["secrets"] = json!({
        "mode": "external-secrets",
        "externalSecrets": {
            "storeRef": {"kind": "ClusterSecretStore", "name": "mesh-secrets"},
            "keyPrefix": KEY_PREFIX,
        },
    });
}

/// An edit that renames cluster `from` to `to` everywhere it is referenced.
pub fn rename_cluster<'a>(from: &'a str, to: &'a str) -> impl FnOnce(&mut Value) + 'a {
    move |s: &mut Value| {
        for c in s["clusters"].as_array_mut().unwrap() {
            for k in ["name", "controlPlane"] {
                if c.get(k).is_some_and(|n| n == from) {
                    c[k] = json!(to);
                }
            }
        }
    }
}

/// Every variant the schema and kustomize tests render: both reference specs, each remote
/// model and API version era, both secrets modes. (label, tree)
pub fn all_variants() -> Vec<(String, Tree)> {
    let mut out = Vec::new();
    for name in REFERENCE_SPECS {
        for v in [
            "1.8", "1.11", "1.15", "1.21", "1.22", "1.24", "1.28", "1.31",
        ] {
            out.push((
                format!("{name} {v} plaintext"),
                render_variant(name, version(v)),
            ));
            out.push((
                format!("{name} {v} external-secrets"),
                render_variant(name, |s| {
                    s["istio"]["version"] = json!(v);
                    external_secrets(s);
                }),
            ));
        }
        out.push((
            format!("{name} 1.31 revision 1-24-0"),
            render_variant(name, |s| s["istio"]["revision"] = json!("1-24-0")),
        ));
    }
    // Ambient multicluster at its first release, at v1beta1 → v1 of the Gateway API, newest.
    for v in ["1.27", "1.28", "1.29", "1.31"] {
        out.push((
            format!("{MULTI_PRIMARY} {v} ambient"),
            render_variant(MULTI_PRIMARY, ambient(v)),
        ));
    }
    // Sail Operator CRs: sidecar primary-remote, and ambient.
    out.push((
        format!("{PRIMARY_REMOTE} 1.30.3 sail"),
        render_variant(PRIMARY_REMOTE, sail("1.30", "1.30.3", None)),
    ));
    out.push((
        format!("{MULTI_PRIMARY} 1.30.3 ambient sail revision"),
        render_variant(MULTI_PRIMARY, |s| {
            ambient("1.30")(s);
            sail("1.30", "1.30.3", Some("canary"))(s);
        }),
    ));
    // GitOps on a gateway chart with the broken schema (ISTIO-FACTS §9.1 #7), from OCI.
    out.push((
        format!("{PRIMARY_REMOTE} 1.26.2 gitops oci"),
        render_variant(PRIMARY_REMOTE, gitops_at("1.26", "1.26.2")),
    ));
    for v in ["1.6", "1.7"] {
        out.push((
            format!("{FEDERATION} {v} plaintext"),
            render_variant(FEDERATION, version(v)),
        ));
        out.push((
            format!("{FEDERATION} {v} external-secrets"),
            render_variant(FEDERATION, |s| {
                s["istio"]["version"] = json!(v);
                external_secrets(s);
            }),
        ));
    }
    out
}

/// An edit that targets release `tag` of `minor` with charts from Istio's OCI registry and
/// both GitOps consumers, in external-secrets mode.
pub fn gitops_at<'a>(minor: &'a str, tag: &'a str) -> impl FnOnce(&mut Value) + 'a {
    move |s: &mut Value| {
        s["istio"]["version"] = json!(minor);
        s["istio"]["tag"] = json!(tag);
        s["istio"]["charts"] = json!({"repository": "oci://ghcr.io/istio/release/charts"});
        external_secrets(s);
        s["gitops"] = json!({
            "repoURL": "https://git.example.com/platform/mesh.git",
            "path": "meshes/reference",
            "argocd": {},
            "flux": {},
        });
    }
}

/// An edit that makes the mesh ambient at `minor`, with the verification bundle.
pub fn ambient(minor: &str) -> impl FnOnce(&mut Value) + '_ {
    move |s: &mut Value| {
        s["istio"]["version"] = json!(minor);
        s["istio"]["dataplane"] = json!("ambient");
        s["verification"] = json!({"enabled": true});
    }
}

/// An edit that adds `istio.sail` at release `tag` of `minor` (and a revision).
pub fn sail<'a>(
    minor: &'a str,
    tag: &'a str,
    revision: Option<&'a str>,
) -> impl FnOnce(&mut Value) + 'a {
    move |s: &mut Value| {
        s["istio"]["version"] = json!(minor);
        s["istio"]["tag"] = json!(tag);
        s["istio"]["sail"] = json!({});
        if let Some(r) = revision {
            s["istio"]["revision"] = json!(r);
        }
    }
}
