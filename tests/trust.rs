//! Trust and safety of the files meshrender reads and writes (DESIGN §9): CI needs no
//! secret, interrupted PKI writes are recovered, the output directory cannot be turned
//! against its user (manifest paths, symlinks), and `pki.dir` stays out of the output.

mod common;

use std::path::{Path, PathBuf};

use common::*;

const SPEC: &str = r#"apiVersion: meshrender/v1alpha1
kind: Mesh
meshID: trust
istio: {version: "1.28"}
secrets:
  mode: external-secrets
  externalSecrets:
    storeRef: {kind: ClusterSecretStore, name: mesh-secrets}
clusters:
  - name: cluster1
    network: network1
    eastWestGateway: {address: 203.0.113.10}
    apiServer: {server: "https://203.0.113.1:6443"}
  - name: cluster2
    network: network2
    eastWestGateway: {address: 203.0.113.20}
    apiServer: {server: "https://203.0.113.2:6443"}
"#;

fn setup(spec: &str) -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().to_path_buf();
    std::fs::write(d.join("mesh.yaml"), spec).unwrap();
    (t, d)
}

fn keys(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with("-key.pem"))
        .map(|e| e.path().to_path_buf())
        .collect()
}

/// DESIGN §9.1: with every `*-key.pem` removed, `check` and `diff` of an external-secrets mesh
/// work as with the keys; `render` of an unchanged mesh too (it issues nothing).
#[test]
fn ci_needs_no_private_key_in_external_secrets_mode() {
    let (_t, d) = setup(SPEC);
    assert_eq!(code(&run(&d, &["render", "mesh.yaml", "-o", "out"])), 0);
    let removed = keys(&d.join("pki"));
    assert_eq!(removed.len(), 3, "root and two intermediates: {removed:?}");
    for k in &removed {
        std::fs::remove_file(k).unwrap();
    }
    let check = run(&d, &["check", "mesh.yaml", "-o", "out"]);
    assert_eq!(code(&check), 0, "{}", stderr(&check));
    let diff = run(&d, &["diff", "mesh.yaml", "-o", "out"]);
    assert_eq!(code(&diff), 0, "{}", stderr(&diff));
    let render = run(&d, &["render", "mesh.yaml", "-o", "out"]);
    assert_eq!(code(&render), 0, "{}", stderr(&render));
    // a change that needs a new intermediate needs the root key, and says so
    std::fs::write(
        d.join("mesh.yaml"),
        format!("{SPEC}  - name: cluster3\n    network: network3\n    eastWestGateway: {{address: 203.0.113.30}}\n    apiServer: {{server: \"https://203.0.113.3:6443\"}}\n"),
    )
    .unwrap();
    let o = run(&d, &["render", "mesh.yaml", "-o", "out"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("root-key.pem"), "{}", stderr(&o));
}

/// Plaintext `cacerts` embed the keys: without them `check` fails with a precise message.
#[test]
fn plaintext_mode_still_needs_the_keys() {
    let spec = SPEC
        .replace(
            "  mode: external-secrets\n  externalSecrets:\n    storeRef: {kind: ClusterSecretStore, name: mesh-secrets}\n",
            "  mode: plaintext\n",
        )
        .replace("apiServer: {server: \"https://203.0.113.1:6443\"}", "apiServer: {server: \"https://203.0.113.1:6443\", caFile: ca.pem, tokenFile: t}")
        .replace("apiServer: {server: \"https://203.0.113.2:6443\"}", "apiServer: {server: \"https://203.0.113.2:6443\", caFile: ca.pem, tokenFile: t}");
    let (_t, d) = setup(&spec);
    std::fs::copy(
        root().join("tests/cases/revisioned/creds/cluster2-ca.pem"),
        d.join("ca.pem"),
    )
    .unwrap();
    std::fs::write(d.join("t"), "token\n").unwrap();
    assert_eq!(code(&run(&d, &["render", "mesh.yaml", "-o", "out"])), 0);
    std::fs::remove_file(d.join("pki/cluster1/ca-key.pem")).unwrap();
    let check = run(&d, &["check", "mesh.yaml", "-o", "out"]);
    assert_eq!(code(&check), 2, "{}", stderr(&check));
    assert!(
        stderr(&check).contains("cluster1/ca-key.pem: missing"),
        "{}",
        stderr(&check)
    );
}

/// An interrupted issue leaves a key without its certificate (keys are written first):
/// `check` names it, the next `render` issues the certificate for that same key.
#[test]
fn a_key_without_its_certificate_is_recovered_by_render() {
    let (_t, d) = setup(SPEC);
    assert_eq!(code(&run(&d, &["render", "mesh.yaml", "-o", "out"])), 0);
    let key = std::fs::read(d.join("pki/cluster2/ca-key.pem")).unwrap();
    std::fs::remove_file(d.join("pki/cluster2/ca-cert.pem")).unwrap();
    let check = run(&d, &["check", "mesh.yaml", "-o", "out"]);
    assert_eq!(code(&check), 2);
    assert!(stderr(&check).contains("interrupted"), "{}", stderr(&check));
    let o = run(&d, &["render", "mesh.yaml", "-o", "out"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        std::fs::read(d.join("pki/cluster2/ca-key.pem")).unwrap(),
        key
    );
    assert!(d.join("pki/cluster2/ca-cert.pem").exists());
    // the root too: a root key alone is self-signed again, never replaced
    let root_key = std::fs::read(d.join("pki/root-key.pem")).unwrap();
    std::fs::remove_file(d.join("pki/root-cert.pem")).unwrap();
    for c in ["cluster1", "cluster2"] {
        std::fs::remove_dir_all(d.join("pki").join(c)).unwrap();
    }
    let o = run(&d, &["render", "mesh.yaml", "-o", "out2"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(std::fs::read(d.join("pki/root-key.pem")).unwrap(), root_key);
    assert!(d.join("pki/root-cert.pem").exists());
}
