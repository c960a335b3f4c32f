//! Impact-classified review through the binary (`diff --summary`, `diff --format markdown`,
//! `check --format json`): each scenario renders a temp copy of a spec, changes it (or its
//! pki.dir), and checks the changed objects and their runtime effects by name.

mod common;

use common::{code, run, stderr, stdout};

use std::path::{Path, PathBuf};

const SPEC: &str = r#"apiVersion: meshrender/v1alpha1
kind: Mesh
meshID: mesh1
istio: {version: "1.28", tag: "1.28.1"}
secrets: {mode: plaintext}
clusters:
  - name: cluster1
    network: network1
    eastWestGateway: {address: 203.0.113.10}
    apiServer: {server: "https://203.0.113.1:6443", caFile: ca.pem, tokenFile: c1.token}
  - name: cluster2
    network: network2
    eastWestGateway: {address: 203.0.113.20}
    apiServer: {server: "https://203.0.113.2:6443", caFile: ca.pem, tokenFile: c2.token}
  - name: cluster3
    network: network2
    role: remote
    controlPlane: cluster2
    eastWestGateway: {address: 203.0.113.30}
    apiServer: {server: "https://203.0.113.3:6443", caFile: ca.pem, tokenFile: c3.token}
"#;

/// A rendered temp copy of SPEC.
fn setup() -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().to_path_buf();
    std::fs::write(d.join("mesh.yaml"), SPEC).unwrap();
    let ca = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases/revisioned/creds/cluster2-ca.pem"),
    )
    .unwrap();
    std::fs::write(d.join("ca.pem"), ca).unwrap();
    for c in ["c1", "c2", "c3"] {
        std::fs::write(
            d.join(format!("{c}.token")),
            format!("token-{c}-SECRETVALUE\n"),
        )
        .unwrap();
    }
    let o = run(&d, &["render", "mesh.yaml", "-o", "out"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    (t, d)
}

fn edit(d: &Path, from: &str, to: &str) {
    let s = std::fs::read_to_string(d.join("mesh.yaml")).unwrap();
    assert!(s.contains(from), "{from}");
    std::fs::write(d.join("mesh.yaml"), s.replace(from, to)).unwrap();
}

/// `diff --summary` lines of changed objects (file notes left out), and the exit code.
fn summary(d: &Path) -> (Vec<String>, i32) {
    let o = run(d, &["diff", "mesh.yaml", "-o", "out", "--summary"]);
    assert!(code(&o) != 2, "{}", stderr(&o));
    assert!(!stdout(&o).contains("SECRETVALUE"), "secrets never printed");
    let lines = stdout(&o)
        .lines()
        .filter(|l| !l.starts_with("file "))
        .map(str::to_owned)
        .collect();
    (lines, code(&o))
}

fn has(lines: &[String], want: &str) {
    assert!(
        lines.iter().any(|l| l == want),
        "missing\n  {want}\nin\n{}",
        lines.join("\n")
    );
}

fn render(d: &Path) {
    let o = run(d, &["render", "mesh.yaml", "-o", "out"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

#[test]
fn istio_tag_change_restarts_istiod() {
    let (_t, d) = setup();
    edit(&d, "tag: \"1.28.1\"", "tag: \"1.28.2\"");
    let (l, c) = summary(&d);
    assert_eq!(c, 1);
    for cl in ["cluster1", "cluster2"] {
        has(
            &l,
            &format!(
                "changed  {cl} IstioOperator control-plane (clusters/{cl}/install/istiooperator.yaml): istiod restart (control plane rolls out)"
            ),
        );
        has(
            &l,
            &format!(
                "changed  {cl} HelmValues istiod (clusters/{cl}/install/helm/istiod.values.yaml): istiod restart (control plane rolls out)"
            ),
        );
    }
}

#[test]
fn comment_only_spec_edit_exits_0_and_says_so() {
    let (_t, d) = setup();
    let s = std::fs::read_to_string(d.join("mesh.yaml")).unwrap();
    std::fs::write(d.join("mesh.yaml"), format!("# a comment\n{s}")).unwrap();
    for args in [
        &["diff", "mesh.yaml", "-o", "out"][..],
        &["diff", "mesh.yaml", "-o", "out", "--summary"],
        &["check", "mesh.yaml", "-o", "out"],
    ] {
        let o = run(&d, args);
        assert_eq!(code(&o), 0, "{args:?}: {}", stderr(&o));
        assert_eq!(stdout(&o), "", "{args:?}");
        assert!(
            stderr(&o).contains("nothing rendered changed"),
            "{args:?}: {}",
            stderr(&o)
        );
    }
    let o = run(
        &d,
        &["diff", "mesh.yaml", "-o", "out", "--format", "markdown"],
    );
    assert_eq!(code(&o), 0);
    assert_eq!(
        stdout(&o),
        "## meshrender: no rendered object changes\n\nNothing rendered changed: the spec or tool change alters no rendered file.\n"
    );
    let o = run(&d, &["check", "mesh.yaml", "-o", "out", "--format", "json"]);
    assert_eq!(code(&o), 0);
    assert_eq!(
        stdout(&o),
        "{\"drift\":0,\"event\":\"summary\",\"objects\":0,\"objectsAdded\":0,\"objectsChanged\":0,\"objectsRemoved\":0,\"result\":\"ok\",\"version\":1}\n"
    );
}

#[test]
fn api_server_change_re_registers() {
    let (_t, d) = setup();
    edit(&d, "203.0.113.3:6443", "203.0.113.33:6443");
    let (l, c) = summary(&d);
    assert_eq!(c, 1);
    assert_eq!(
        l,
        [
            "changed  cluster1 Secret istio-system/istio-remote-secret-cluster3 (clusters/cluster1/remote-secret-cluster3.yaml): cluster cluster3 re-registered on primary cluster1",
            "changed  cluster2 Secret istio-system/istio-remote-secret-cluster3 (clusters/cluster2/remote-secret-cluster3.yaml): cluster cluster3 re-registered on primary cluster2",
        ]
    );
    // check --format json: file events, one object event per changed object, the summary.
    let o = run(&d, &["check", "mesh.yaml", "-o", "out", "--format", "json"]);
    assert_eq!(code(&o), 1);
    let ev: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|x| serde_json::from_str(x).unwrap())
        .collect();
    let objects: Vec<&serde_json::Value> = ev.iter().filter(|e| e["event"] == "object").collect();
    assert_eq!(objects.len(), 2);
    assert_eq!(
        *objects[0],
        serde_json::json!({"version": 1, "event": "object", "change": "changed", "cluster": "cluster1",
            "path": "clusters/cluster1/remote-secret-cluster3.yaml", "group": "", "kind": "Secret",
            "namespace": "istio-system", "name": "istio-remote-secret-cluster3",
            "effects": ["cluster cluster3 re-registered on primary cluster1"]})
    );
    let last = ev.last().unwrap();
    assert_eq!(
        (last["event"].as_str(), last["objects"].as_u64()),
        (Some("summary"), Some(2))
    );
}

#[test]
fn adding_a_cluster_registers_it_on_each_primary() {
    let (_t, d) = setup();
    std::fs::write(d.join("c4.token"), "token-c4-SECRETVALUE\n").unwrap();
    let s = std::fs::read_to_string(d.join("mesh.yaml")).unwrap();
    std::fs::write(
        d.join("mesh.yaml"),
        format!("{s}  - name: cluster4\n    network: network1\n    role: remote\n    controlPlane: cluster1\n    eastWestGateway: {{address: 203.0.113.40}}\n    apiServer: {{server: \"https://203.0.113.4:6443\", caFile: ca.pem, tokenFile: c4.token}}\n"),
    )
    .unwrap();
    let (l, c) = summary(&d);
    assert_eq!(c, 1);
    has(
        &l,
        "added    cluster1 Secret istio-system/istio-remote-secret-cluster4 (clusters/cluster1/remote-secret-cluster4.yaml): cluster cluster4 registered on primary cluster1",
    );
    has(
        &l,
        "added    cluster2 Secret istio-system/istio-remote-secret-cluster4 (clusters/cluster2/remote-secret-cluster4.yaml): cluster cluster4 registered on primary cluster2",
    );
}

#[test]
fn network_rename_changes_label_and_gateway() {
    let (_t, d) = setup();
    edit(&d, "network: network1", "network: west");
    let (l, _) = summary(&d);
    has(
        &l,
        "changed  cluster1 Namespace istio-system (clusters/cluster1/namespace.yaml): namespace network label: sidecar injection/routing change (network1 → west)",
    );
    has(
        &l,
        "changed  cluster1 IstioOperator eastwest (clusters/cluster1/install/eastwest-gateway.yaml): east-west gateway rollout",
    );
    has(
        &l,
        "changed  cluster1 HelmValues eastwest-gateway (clusters/cluster1/install/helm/eastwest-gateway.values.yaml): east-west gateway rollout",
    );
}

fn pki(d: &Path, args: &[&str]) {
    let mut a = vec!["pki"];
    a.extend_from_slice(args);
    let o = run(d, &a);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

#[test]
fn rotate_intermediate_reissues_certificates() {
    let (_t, d) = setup();
    pki(
        &d,
        &["rotate-intermediate", "mesh.yaml", "--cluster", "cluster2"],
    );
    let (l, _) = summary(&d);
    assert_eq!(
        l,
        [
            "changed  cluster2 Secret istio-system/cacerts (clusters/cluster2/cacerts.yaml): certificates re-issued: istiod restarts, workloads get new certs as they rotate"
        ]
    );
}

#[test]
fn root_rotation_steps() {
    let (_t, d) = setup();
    let cacerts = |step: &str| {
        format!(
            "changed  cluster1 Secret istio-system/cacerts (clusters/cluster1/cacerts.yaml): root rotation step {step}; certificates re-issued: istiod restarts, workloads get new certs as they rotate"
        )
    };
    pki(&d, &["rotate-root", "mesh.yaml", "--step", "1"]);
    let (l, _) = summary(&d);
    has(&l, &cacerts("1 of 3 (both roots trusted)"));
    has(
        &l,
        "changed  cluster1 IstioOperator control-plane (clusters/cluster1/install/istiooperator.yaml): istiod restart (control plane rolls out); root rotation step 1 of 3 (istiod accepts both roots)",
    );
    render(&d);
    pki(&d, &["rotate-root", "mesh.yaml", "--step", "2"]);
    let (l, _) = summary(&d);
    has(&l, &cacerts("2 of 3 (intermediate under the new root)"));
    render(&d);
    pki(&d, &["rotate-root", "mesh.yaml", "--step", "3"]);
    let (l, _) = summary(&d);
    has(&l, &cacerts("3 of 3 (old root dropped)"));
    has(
        &l,
        "changed  cluster1 IstioOperator control-plane (clusters/cluster1/install/istiooperator.yaml): istiod restart (control plane rolls out); root rotation step 3 of 3 (multi-root settings removed)",
    );
}

#[test]
fn markdown_summary_shape() {
    let (_t, d) = setup();
    edit(&d, "203.0.113.3:6443", "203.0.113.33:6443");
    let o = run(
        &d,
        &[
            "diff",
            "mesh.yaml",
            "-o",
            "out",
            "--summary",
            "--format",
            "markdown",
        ],
    );
    assert_eq!(code(&o), 1);
    assert_eq!(
        stdout(&o),
        "## meshrender: 2 objects change in 2 cluster directories

0 added, 2 changed, 0 removed

**Runtime effects**

- **cluster cluster3 re-registered on primary cluster1**: cluster1
- **cluster cluster3 re-registered on primary cluster2**: cluster2

### cluster1

| change | kind | object | file | effect |
|---|---|---|---|---|
| changed | Secret | `istio-system/istio-remote-secret-cluster3` | `clusters/cluster1/remote-secret-cluster3.yaml` | **cluster cluster3 re-registered on primary cluster1** |

### cluster2

| change | kind | object | file | effect |
|---|---|---|---|---|
| changed | Secret | `istio-system/istio-remote-secret-cluster3` | `clusters/cluster2/remote-secret-cluster3.yaml` | **cluster cluster3 re-registered on primary cluster2** |

"
    );
}

#[test]
fn hand_edited_unparsable_file_is_a_file_change() {
    let (_t, d) = setup();
    std::fs::write(d.join("out/clusters/cluster1/namespace.yaml"), "a: [\n").unwrap();
    let o = run(&d, &["diff", "mesh.yaml", "-o", "out", "--summary"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(stdout(&o).contains("file     cluster1 file clusters/cluster1/namespace.yaml: does not parse as YAML: reported as a file"), "{}", stdout(&o));
}
