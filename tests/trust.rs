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

/// [`SPEC`] in plaintext mode, with the API server CA and a reader token as files.
fn setup_plaintext() -> (tempfile::TempDir, PathBuf) {
    let spec = SPEC
        .replace(
            "  mode: external-secrets\n  externalSecrets:\n    storeRef: {kind: ClusterSecretStore, name: mesh-secrets}\n",
            "  mode: plaintext\n",
        )
        .replace("6443\"}", "6443\", caFile: ca.pem, tokenFile: t}");
    let (t, d) = setup(&spec);
    std::fs::copy(
        root().join("tests/cases/revisioned/creds/cluster2-ca.pem"),
        d.join("ca.pem"),
    )
    .unwrap();
    std::fs::write(d.join("t"), "token\n").unwrap();
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
    let (_t, d) = setup_plaintext();
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

/// DESIGN §9.4: `.meshrender/owned.json` is in a repository others can edit; a path in it
/// that leaves the output directory makes every command refuse, and nothing outside is
/// touched.
#[test]
fn a_huge_sparse_file_in_the_output_is_an_error_not_an_abort() {
    // `check` sizes its read buffer from fstat: a 10 TiB sparse file must be refused, with
    // the output left as it was, not end the process in a failed allocation (nor, with an
    // allocator that overcommits, be read until memory runs out).
    let (_t, d) = setup(SPEC);
    assert_eq!(code(&run(&d, &["render", "mesh.yaml", "-o", "out"])), 0);
    let sparse = |p: &Path| {
        let file = std::fs::OpenOptions::new().write(true).open(p).unwrap();
        file.set_len(10 << 40).is_ok()
    };
    let f = d.join("out/clusters/cluster1/namespace.yaml");
    if !require(sparse(&f), "a file system that holds a 10 TiB sparse file") {
        return;
    }
    let check = ["check", "mesh.yaml", "-o", "out"];
    refused(
        &d,
        &check,
        "namespace.yaml: 10995116277760 bytes, too large to read",
    );
    assert_eq!(std::fs::metadata(&f).unwrap().len(), 10 << 40);

    // A FIFO in its place is refused at once, not waited on.
    std::fs::remove_file(&f).unwrap();
    let made = std::process::Command::new("mkfifo").arg(&f).status();
    if require(made.is_ok_and(|s| s.success()), "mkfifo") {
        refused(&d, &check, "namespace.yaml: not a regular file");
        std::fs::remove_file(&f).unwrap();
    }

    // The manifest is read the same way: a sparse one is refused, not read into memory.
    std::fs::write(&f, b"").unwrap();
    let m = d.join("out/.meshrender/owned.json");
    assert!(sparse(&m));
    for cmd in ["check", "render", "diff"] {
        refused(
            &d,
            &[cmd, "mesh.yaml", "-o", "out"],
            "owned.json: 10995116277760 bytes, too large to read",
        );
    }
    assert_eq!(std::fs::metadata(&m).unwrap().len(), 10 << 40);
}

#[test]
fn manifest_paths_outside_the_output_are_refused() {
    let (_t, d) = setup(SPEC);
    assert_eq!(code(&run(&d, &["render", "mesh.yaml", "-o", "out"])), 0);
    std::fs::write(d.join("victim.txt"), "keep me").unwrap();
    let manifest = d.join("out/.meshrender/owned.json");
    let original = std::fs::read_to_string(&manifest).unwrap();
    for bad in [
        "../victim.txt",
        "/etc/hostname",
        "clusters/../../victim.txt",
        "",
    ] {
        let mut m: serde_json::Value = serde_json::from_str(&original).unwrap();
        m["files"].as_array_mut().unwrap().push(serde_json::json!({
            "path": bad, "sha256": "00", "cluster": null
        }));
        std::fs::write(&manifest, serde_json::to_string(&m).unwrap()).unwrap();
        for cmd in ["render", "check", "diff"] {
            let o = run(&d, &[cmd, "mesh.yaml", "-o", "out"]);
            assert_eq!(code(&o), 2, "{cmd} with {bad:?}: {}", stderr(&o));
            assert!(
                stderr(&o).contains("not a relative path inside"),
                "{}",
                stderr(&o)
            );
        }
        assert_eq!(
            std::fs::read_to_string(d.join("victim.txt")).unwrap(),
            "keep me"
        );
    }
}

/// A directory symlink inside the output is never followed: not written through, not pruned
/// through.
#[cfg(unix)]
#[test]
fn symlinks_inside_the_output_are_not_followed() {
    let (_t, d) = setup(SPEC);
    assert_eq!(code(&run(&d, &["render", "mesh.yaml", "-o", "out"])), 0);
    let elsewhere = d.join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::fs::write(elsewhere.join("namespace.yaml"), "precious").unwrap();
    let c2 = d.join("out/clusters/cluster2");
    std::fs::remove_dir_all(&c2).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &c2).unwrap();
    let o = run(&d, &["render", "mesh.yaml", "-o", "out"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("symbolic link"), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(elsewhere.join("namespace.yaml")).unwrap(),
        "precious"
    );
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 1);
    // a file link too (it is never read, written or deleted through)
    std::fs::remove_file(&c2).unwrap();
    assert_eq!(code(&run(&d, &["render", "mesh.yaml", "-o", "out"])), 0);
    let readme = d.join("out/README.md");
    std::fs::remove_file(&readme).unwrap();
    std::os::unix::fs::symlink(elsewhere.join("namespace.yaml"), &readme).unwrap();
    for cmd in ["render", "check"] {
        let o = run(&d, &[cmd, "mesh.yaml", "-o", "out"]);
        assert_eq!(code(&o), 2, "{cmd}: {}", stderr(&o));
        assert!(stderr(&o).contains("symbolic link"), "{}", stderr(&o));
    }
    assert_eq!(
        std::fs::read_to_string(elsewhere.join("namespace.yaml")).unwrap(),
        "precious"
    );
}

/// `pki.dir` inside the output directory is an error, even with `--force`.
#[test]
fn pki_dir_inside_the_output_is_refused() {
    let spec = SPEC.replace(
        "istio: {version: \"1.28\"}",
        "istio: {version: \"1.28\"}\npki: {dir: out/pki}",
    );
    let (_t, d) = setup(&spec);
    for args in [
        &["render", "mesh.yaml", "-o", "out"][..],
        &["render", "mesh.yaml", "-o", "out", "--force"][..],
        &["render", "mesh.yaml", "-o", "./out/../out"][..],
    ] {
        let o = run(&d, args);
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("inside the output directory"),
            "{}",
            stderr(&o)
        );
    }
    assert!(!d.join("out").exists(), "nothing written");
}

/// Two first renders at once: the lock serializes them, so both end with one root and the
/// same tree (issue 11 reports 20 of 20 such trials left pki.dir inconsistent without a lock).
#[test]
fn concurrent_first_renders_share_one_root() {
    for _ in 0..5 {
        let (_t, d) = setup(SPEC);
        let spawn = |out: &str| {
            std::process::Command::new(BIN)
                .args(["render", "mesh.yaml", "-o", out])
                .current_dir(&d)
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (a, b) = (spawn("out-a"), spawn("out-b"));
        for child in [a, b] {
            let o = child.wait_with_output().unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        }
        let ca =
            |out: &str| std::fs::read(d.join(out).join("clusters/cluster1/cacerts.yaml")).unwrap();
        assert_eq!(
            ca("out-a"),
            ca("out-b"),
            "both renders used the same CA material"
        );
        let check = run(&d, &["check", "mesh.yaml", "-o", "out-a"]);
        assert_eq!(code(&check), 0, "{}", stderr(&check));
    }
}

/// Plaintext files that hold a private key or a token are 0600 whatever the umask; the rest
/// 0644.
#[cfg(unix)]
#[test]
fn plaintext_secrets_are_written_0600() {
    use std::os::unix::fs::PermissionsExt;
    let (_t, d) = setup_plaintext();
    assert_eq!(code(&run(&d, &["render", "mesh.yaml", "-o", "out"])), 0);
    let mode = |rel: &str| {
        std::fs::metadata(d.join("out").join(rel))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("clusters/cluster1/cacerts.yaml"), 0o600);
    assert_eq!(mode("clusters/cluster1/remote-secret-cluster2.yaml"), 0o600);
    assert_eq!(mode("clusters/cluster1/namespace.yaml"), 0o644);
    // an existing secret file that is broader is tightened on the next render
    let p = d.join("out/clusters/cluster2/cacerts.yaml");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(code(&run(&d, &["render", "mesh.yaml", "-o", "out"])), 0);
    assert_eq!(mode("clusters/cluster2/cacerts.yaml"), 0o600);
}

/// DESIGN §9.2: with `pki.backend: cert-manager` there is no local CA at all: render, check
/// and diff work without a `pki.dir` (and create none), `pki status` says what it covers,
/// rotation is refused with the reason.
#[test]
fn cert_manager_backend_needs_no_local_ca() {
    let spec = SPEC.replace(
        "istio: {version: \"1.28\"}",
        "istio: {version: \"1.28\"}\npki:\n  backend: cert-manager\n  certManager: {issuerRef: {kind: ClusterIssuer, name: mesh-root}}",
    );
    let (_t, d) = setup(&spec);
    for cmd in ["render", "check", "diff"] {
        let o = run(&d, &[cmd, "mesh.yaml", "-o", "out"]);
        assert_eq!(code(&o), 0, "{cmd}: {}", stderr(&o));
    }
    assert!(!d.join("pki").exists(), "no pki.dir is created");
    let cacerts = std::fs::read_to_string(d.join("out/clusters/cluster1/cacerts.yaml")).unwrap();
    assert!(cacerts.contains("kind: Certificate") && cacerts.contains("secretName: cacerts"));
    let status = run(&d, &["pki", "status", "mesh.yaml"]);
    assert_eq!(code(&status), 0, "{}", stderr(&status));
    assert!(
        stdout(&status).contains("cert-manager"),
        "{}",
        stdout(&status)
    );
    let rotate = run(&d, &["pki", "rotate-root", "mesh.yaml", "--step", "1"]);
    assert_eq!(code(&rotate), 2, "{}", stderr(&rotate));
    assert!(
        stderr(&rotate).contains("cert-manager"),
        "{}",
        stderr(&rotate)
    );
    let readme = std::fs::read_to_string(d.join("out/README.md")).unwrap();
    assert!(
        !readme.contains("/cacerts` |"),
        "no CA material to upload: {readme}"
    );
}

/// A spec of `n` clusters: 10 primaries, the rest remotes (many files, for kill tests).
fn hub_spec(n: usize) -> String {
    let mut s = String::from(
        "apiVersion: meshrender/v1alpha1\nkind: Mesh\nmeshID: kill\nistio: {version: \"1.28\"}\n\
         secrets:\n  mode: external-secrets\n  externalSecrets:\n    storeRef: {kind: ClusterSecretStore, name: mesh-secrets}\nclusters:\n",
    );
    for i in 0..n {
        let ip = format!("10.0.{}.{}", i / 256, i % 256);
        s.push_str(&format!("  - name: c{i:04}\n    network: net{}\n", i % 10));
        if i >= 10 {
            s.push_str(&format!(
                "    role: remote\n    controlPlane: c{:04}\n",
                i % 10
            ));
        }
        s.push_str(&format!(
            "    eastWestGateway: {{address: {ip}}}\n    apiServer: {{server: \"https://{ip}:6443\"}}\n"
        ));
    }
    s
}

/// DESIGN §9.4: kill -9 at any moment of a render (first or not) loses no file, and the next
/// `render` finishes the job without `--force` (before the journal, 39 of 50 interrupted first
/// renders were refused next time); `check` then passes.
#[test]
fn a_killed_render_is_finished_by_the_next_one() {
    let (_t, d) = setup(&hub_spec(120));
    // the PKI once, so the trials measure only the output
    assert_eq!(code(&run(&d, &["render", "mesh.yaml", "-o", "seed"])), 0);
    let mut interrupted = 0;
    for trial in 0..8u64 {
        let out = format!("out{trial}");
        // a first render killed, then (odd trials) a re-render of a changed spec killed too
        let mut kill_after = |ms: u64, spec: &str| {
            std::fs::write(d.join("mesh.yaml"), spec).unwrap();
            let mut child = std::process::Command::new(BIN)
                .args(["render", "mesh.yaml", "-o", &out])
                .current_dir(&d)
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(std::time::Duration::from_millis(ms));
            if child.try_wait().unwrap().is_none() {
                interrupted += 1;
            }
            let _ = child.kill();
            let _ = child.wait();
        };
        kill_after(20 + trial * 60, &hub_spec(120));
        if trial % 2 == 1 {
            assert_eq!(code(&run(&d, &["render", "mesh.yaml", "-o", &out])), 0);
            kill_after(30 + trial * 40, &hub_spec(110));
        }
        let o = run(&d, &["render", "mesh.yaml", "-o", &out]);
        assert_eq!(code(&o), 0, "trial {trial}: {}", stderr(&o));
        let check = run(&d, &["check", "mesh.yaml", "-o", &out]);
        assert_eq!(code(&check), 0, "trial {trial}: {}", stderr(&check));
        let leftovers: Vec<_> = walkdir::WalkDir::new(d.join(&out))
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".meshrender-tmp"))
            .collect();
        assert!(leftovers.is_empty(), "trial {trial}: {leftovers:?}");
        assert!(!d.join(&out).join(".meshrender/pending.json").exists());
    }
    assert!(
        interrupted >= 3,
        "only {interrupted} renders were really interrupted"
    );
}

/// `meshrender diff | head`: when the reader goes away, meshrender ends quietly (SIGPIPE, as
/// every Unix tool), not with a panic and exit 101.
#[cfg(unix)]
#[test]
fn a_closed_pipe_ends_quietly() {
    use std::io::Read;
    let (_t, d) = setup(&hub_spec(40));
    // the PKI first (diff never issues), then a diff against an empty directory: all of it
    assert_eq!(code(&run(&d, &["render", "mesh.yaml", "-o", "seed"])), 0);
    let mut child = std::process::Command::new(BIN)
        .args(["diff", "mesh.yaml", "-o", "out"])
        .current_dir(&d)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 64];
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut first)
        .unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_ne!(o.status.code(), Some(101), "{err}");
}

/// A CA key file others can read is not silent: every command names it.
#[cfg(unix)]
#[test]
fn a_world_readable_key_is_reported() {
    use std::os::unix::fs::PermissionsExt;
    let (_t, d) = setup(SPEC);
    assert_eq!(code(&run(&d, &["render", "mesh.yaml", "-o", "out"])), 0);
    let key = d.join("pki/cluster1/ca-key.pem");
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = run(&d, &["check", "mesh.yaml", "-o", "out"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("cluster1/ca-key.pem can be read by others"),
        "{}",
        stderr(&o)
    );
}
