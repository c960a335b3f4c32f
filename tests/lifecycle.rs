//! The GitOps lifecycle of an output directory, driven through the binary: render, re-render,
//! hand edits, foreign files, --force, pruning a removed cluster, interrupted writes,
//! --cluster scoping, check/diff exit codes and JSON events.

mod common;

use common::{code, run, stderr, stdout};

use std::path::{Path, PathBuf};

const SPEC: &str = r#"apiVersion: meshrender/v1alpha1
kind: Mesh
meshID: mesh1
istio: {version: "1.28"}
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
    (t, d)
}

fn mtimes(dir: &Path) -> Vec<(PathBuf, std::time::SystemTime)> {
    let mut v: Vec<_> = walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            (
                e.path().to_path_buf(),
                e.metadata().unwrap().modified().unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn full_lifecycle() {
    let (_t, d) = setup();
    let out = d.join("out");

    // First render.
    let o = run(&d, &["render", "mesh.yaml", "-o", "out"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stderr(&o).contains("warning: secrets.mode is plaintext"));
    assert!(!stderr(&o).contains("SECRETVALUE"), "secrets never printed");
    assert!(out.join(".meshrender/owned.json").is_file());
    assert!(out.join(".sourceignore").is_file());
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join(".meshrender/owned.json")).unwrap())
            .unwrap();
    let paths: Vec<&str> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted, "manifest is sorted");
    assert!(paths.contains(&"clusters/cluster3/namespace.yaml"));

    // Re-render changes nothing, not even mtimes.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let before = mtimes(&out);
    let o = run(
        &d,
        &["render", "mesh.yaml", "-o", "out", "--format", "json"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(before, mtimes(&out), "an unchanged render rewrites nothing");
    let events: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let summary = events.last().unwrap();
    assert_eq!(summary["event"], "summary");
    assert_eq!(summary["written"], 0);
    assert!(
        events[..events.len() - 1]
            .iter()
            .all(|e| e["status"] == "unchanged")
    );
    assert_eq!(code(&run(&d, &["check", "mesh.yaml", "-o", "out"])), 0);
    assert_eq!(code(&run(&d, &["diff", "mesh.yaml", "-o", "out"])), 0);

    // A hand edit: render refuses (3) naming the path and writes nothing; check reports it.
    let edited = out.join("clusters/cluster1/namespace.yaml");
    let mut text = std::fs::read_to_string(&edited).unwrap();
    text.push_str("# hand edit\n");
    std::fs::write(&edited, &text).unwrap();
    let before = mtimes(&out);
    let o = run(&d, &["render", "mesh.yaml", "-o", "out"]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(stderr(&o).contains("clusters/cluster1/namespace.yaml"));
    assert_eq!(before, mtimes(&out));
    let o = run(&d, &["check", "mesh.yaml", "-o", "out"]);
    assert_eq!(code(&o), 1);
    assert!(
        stdout(&o).contains("hand-edited  clusters/cluster1/namespace.yaml"),
        "{}",
        stdout(&o)
    );
    let o = run(&d, &["check", "mesh.yaml", "-o", "out", "--format", "json"]);
    assert_eq!(code(&o), 1);
    assert!(stdout(&o).lines().any(|l| l.contains("\"hand-edited\"")));

    // --force overwrites it.
    let o = run(&d, &["render", "mesh.yaml", "-o", "out", "--force"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(code(&run(&d, &["check", "mesh.yaml", "-o", "out"])), 0);

    // A foreign file next to a cluster's files, then the cluster is removed from the spec:
    // its files are pruned, the foreign file survives, empty directories go.
    std::fs::write(out.join("clusters/cluster3/NOTES.txt"), "mine\n").unwrap();
    std::fs::write(out.join("clusters/cluster1/NOTES.txt"), "mine too\n").unwrap();
    let spec = SPEC.split("  - name: cluster3").next().unwrap().to_owned();
    std::fs::write(d.join("mesh.yaml"), &spec).unwrap();
    let o = run(&d, &["check", "mesh.yaml", "-o", "out"]);
    assert_eq!(code(&o), 1);
    assert!(
        stdout(&o).contains("removed      clusters/cluster3/namespace.yaml"),
        "{}",
        stdout(&o)
    );
    assert!(
        stdout(&o).contains("removed      clusters/cluster2/expose-istiod.yaml"),
        "{}",
        stdout(&o)
    );
    let o = run(&d, &["render", "mesh.yaml", "-o", "out"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("cluster3: removed from the spec"),
        "{}",
        stderr(&o)
    );
    assert!(!out.join("clusters/cluster3/namespace.yaml").exists());
    assert!(
        !out.join("clusters/cluster3/install").exists(),
        "emptied directories are removed"
    );
    assert!(
        !out.join("clusters/cluster2/remote-secret-cluster3.yaml")
            .exists()
    );
    assert_eq!(
        std::fs::read_to_string(out.join("clusters/cluster3/NOTES.txt")).unwrap(),
        "mine\n"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("clusters/cluster1/NOTES.txt")).unwrap(),
        "mine too\n"
    );
    assert_eq!(code(&run(&d, &["check", "mesh.yaml", "-o", "out"])), 0);

    // An interrupted render: new bytes of one file written and a temp file left behind, but
    // no manifest update. The next render repairs it.
    let spec2 = spec.replace("https://203.0.113.1:6443", "https://203.0.113.99:6443");
    std::fs::write(d.join("mesh.yaml"), &spec2).unwrap();
    let scratch = d.join("scratch");
    let o = run(&d, &["render", "mesh.yaml", "-o", "scratch"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let changed: Vec<String> = stdout(&run(&d, &["check", "mesh.yaml", "-o", "out"]))
        .lines()
        .filter(|l| l.starts_with("changed "))
        .map(|l| l.split_whitespace().nth(1).unwrap().to_owned())
        .collect();
    assert_eq!(changed, ["clusters/cluster2/remote-secret-cluster1.yaml"]);
    std::fs::copy(scratch.join(&changed[0]), out.join(&changed[0])).unwrap();
    std::fs::write(
        out.join("clusters/cluster1/.namespace.yaml.meshrender-tmp"),
        "partial",
    )
    .unwrap();
    let o = run(&d, &["render", "mesh.yaml", "-o", "out"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        !out.join("clusters/cluster1/.namespace.yaml.meshrender-tmp")
            .exists()
    );
    assert_eq!(code(&run(&d, &["check", "mesh.yaml", "-o", "out"])), 0);
}

#[test]
fn first_render_into_a_foreign_directory_refuses() {
    let (_t, d) = setup();
    let out = d.join("out");
    std::fs::create_dir_all(out.join("clusters/cluster1")).unwrap();
    std::fs::write(
        out.join("clusters/cluster1/namespace.yaml"),
        "hand written\n",
    )
    .unwrap();
    let o = run(&d, &["render", "mesh.yaml", "-o", "out"]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("has no .meshrender/owned.json"),
        "{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("refused: clusters/cluster1/namespace.yaml: not written by meshrender")
    );
    assert_eq!(
        std::fs::read_to_string(out.join("clusters/cluster1/namespace.yaml")).unwrap(),
        "hand written\n"
    );
    assert!(!out.join(".meshrender").exists());
    let o = run(&d, &["render", "mesh.yaml", "-o", "out", "--force"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(code(&run(&d, &["check", "mesh.yaml", "-o", "out"])), 0);
}

#[test]
fn cluster_scope_renders_and_prunes_only_that_cluster() {
    let (_t, d) = setup();
    let o = run(&d, &["render", "mesh.yaml", "-o", "out"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // Change something that affects cluster1 and cluster2.
    std::fs::write(
        d.join("mesh.yaml"),
        SPEC.replace("https://203.0.113.1:6443", "https://203.0.113.111:6443"),
    )
    .unwrap();
    let o = run(
        &d,
        &[
            "render",
            "mesh.yaml",
            "-o",
            "out",
            "--cluster",
            "cluster1",
            "--format",
            "json",
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    for line in stdout(&o).lines() {
        let e: serde_json::Value = serde_json::from_str(line).unwrap();
        if e["event"] == "file" {
            assert_eq!(e["cluster"], "cluster1", "{line}");
        }
    }
    let check = stdout(&run(&d, &["check", "mesh.yaml", "-o", "out"]));
    assert!(
        check.contains("clusters/cluster2/remote-secret-cluster1.yaml"),
        "{check}"
    );
    assert!(!check.contains("clusters/cluster1/"), "{check}");
    let o = run(
        &d,
        &["render", "mesh.yaml", "-o", "out", "--cluster", "nope"],
    );
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("--cluster nope"));
}

#[test]
fn diff_redacts_secrets_unless_asked() {
    let (_t, d) = setup();
    assert_eq!(code(&run(&d, &["render", "mesh.yaml", "-o", "out"])), 0);
    for c in ["c1", "c2", "c3"] {
        std::fs::write(
            d.join(format!("{c}.token")),
            format!("rotated-{c}-SECRETVALUE\n"),
        )
        .unwrap();
    }
    let o = run(&d, &["diff", "mesh.yaml", "-o", "out"]);
    assert_eq!(code(&o), 1);
    let text = stdout(&o);
    assert!(
        text.contains("--- a/clusters/cluster1/remote-secret-cluster2.yaml"),
        "{text}"
    );
    assert!(text.contains("<redacted"), "{text}");
    assert!(!text.contains("SECRETVALUE"), "{text}");
    let o = run(&d, &["diff", "mesh.yaml", "-o", "out", "--show-secrets"]);
    assert!(stdout(&o).contains("rotated-c2-SECRETVALUE"));
}

#[test]
fn check_never_creates_keys() {
    let (_t, d) = setup();
    let o = run(&d, &["check", "mesh.yaml", "-o", "out"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("pki/root-cert.pem: missing"),
        "{}",
        stderr(&o)
    );
    assert!(!d.join("pki").exists());
    assert!(!d.join("out").exists());
}

/// Plaintext mode without one cluster's `tokenFile` (DESIGN §8 / issue 9): the rest renders,
/// the remote secrets that need that token are pending (W004, listed in the README), `check`
/// passes with the same warning, and giving the token later completes the mesh.
#[test]
fn a_missing_token_leaves_only_its_remote_secrets_pending() {
    let (_t, d) = setup();
    let spec = SPEC.replace(", tokenFile: c3.token}", "}");
    std::fs::write(d.join("mesh.yaml"), &spec).unwrap();
    let o = run(&d, &["render", "mesh.yaml", "-o", "out"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stderr(&o).contains("warning[W004]"), "{}", stderr(&o));
    let out = d.join("out");
    // cluster2 serves cluster3, and cluster1 reads it too: both secrets for cluster3 pending
    for primary in ["cluster1", "cluster2"] {
        let p = out.join(format!("clusters/{primary}/remote-secret-cluster3.yaml"));
        assert!(!p.exists(), "{} rendered without a token", p.display());
    }
    assert!(
        out.join("clusters/cluster1/remote-secret-cluster2.yaml")
            .exists()
    );
    assert!(out.join("clusters/cluster3/reader-token.yaml").exists());
    let readme = std::fs::read_to_string(out.join("README.md")).unwrap();
    assert!(readme.contains("## Pending"), "{readme}");
    assert!(
        readme.contains("clusters/cluster2/remote-secret-cluster3.yaml"),
        "{readme}"
    );
    let check = run(&d, &["check", "mesh.yaml", "-o", "out"]);
    assert_eq!(code(&check), 0, "{}", stderr(&check));
    assert!(stderr(&check).contains("pending"), "{}", stderr(&check));
    // the token arrives: the mesh completes
    std::fs::write(d.join("mesh.yaml"), SPEC).unwrap();
    let o = run(&d, &["render", "mesh.yaml", "-o", "out"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        out.join("clusters/cluster2/remote-secret-cluster3.yaml")
            .exists()
    );
    assert!(!stderr(&o).contains("W004"));
}

/// Every file below `dir`, relative, sorted.
fn files(dir: &Path) -> std::collections::BTreeSet<String> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            e.path()
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

#[test]
fn narrowing_reads_prunes_exactly_the_dropped_pairs() {
    let (_t, d) = setup();
    let o = run(&d, &["render", "mesh.yaml", "-o", "out"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let before = files(&d.join("out"));
    assert!(before.contains("clusters/cluster2/remote-secret-cluster1.yaml"));
    // cluster2 now reads only the remote it serves: the pair (cluster2, cluster1) goes, and
    // cluster1, read by no primary any more, needs no reader token.
    std::fs::write(
        d.join("mesh.yaml"),
        SPEC.replace(
            "    network: network2\n    eastWestGateway: {address: 203.0.113.20}",
            "    network: network2\n    reads: [cluster3]\n    eastWestGateway: {address: 203.0.113.20}",
        ),
    )
    .unwrap();
    let o = run(&d, &["render", "mesh.yaml", "-o", "out"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let after = files(&d.join("out"));
    let gone: Vec<&String> = before.difference(&after).collect();
    let gone_secrets: Vec<&&String> = gone
        .iter()
        .filter(|p| p.contains("remote-secret-"))
        .collect();
    assert_eq!(
        gone_secrets,
        [&&"clusters/cluster2/remote-secret-cluster1.yaml".to_owned()],
        "{gone:?}"
    );
    assert!(
        gone.iter()
            .all(|p| p.ends_with("remote-secret-cluster1.yaml")
                || p.as_str() == "clusters/cluster1/reader-token.yaml"),
        "{gone:?}"
    );
    assert!(
        after.is_subset(&before),
        "nothing new: {:?}",
        after.difference(&before)
    );
    assert!(after.contains("clusters/cluster1/remote-secret-cluster2.yaml"));
    assert!(after.contains("clusters/cluster2/remote-secret-cluster3.yaml"));
    let o = run(&d, &["check", "mesh.yaml", "-o", "out"]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
}

/// Every path under `dir` (directories too) with its bytes and mode: a refused run must leave
/// exactly this as it was.
fn tree(dir: &Path) -> Vec<(String, Option<Vec<u8>>, u32)> {
    use std::os::unix::fs::PermissionsExt;
    walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .map(|e| {
            let rel = e
                .path()
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let mode = e.metadata().unwrap().permissions().mode();
            let bytes = e
                .file_type()
                .is_file()
                .then(|| std::fs::read(e.path()).unwrap());
            (rel, bytes, mode)
        })
        .collect()
}

#[test]
fn a_refusal_found_after_staging_began_leaves_the_tree_as_it_was() {
    let (_t, d) = setup();
    let out = d.join("out");
    let o = run(&d, &["render", "mesh.yaml", "-o", "out"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));

    // A new cluster listed first (its directory would be created early), a change that
    // touches every cluster, and a hand edit in a file that is compared last of all (the
    // mesh-wide README) and in the last cluster.
    let spec = SPEC
        .replace("meshID: mesh1", "meshID: mesh2")
        .replace(
            "clusters:\n",
            "clusters:\n  - name: cluster0\n    network: network1\n    role: remote\n    controlPlane: cluster1\n    eastWestGateway: {address: 203.0.113.40}\n    apiServer: {server: \"https://203.0.113.4:6443\", caFile: ca.pem, tokenFile: c1.token}\n",
        );
    std::fs::write(d.join("mesh.yaml"), &spec).unwrap();
    for f in ["README.md", "clusters/cluster3/namespace.yaml"] {
        let p = out.join(f);
        let mut text = std::fs::read_to_string(&p).unwrap();
        text.push_str("\n# hand edit\n");
        std::fs::write(&p, text).unwrap();
    }
    let before = tree(&out);
    let o = run(&d, &["render", "mesh.yaml", "-o", "out"]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("refused: README.md: edited by hand"), "{err}");
    assert!(
        err.contains("refused: clusters/cluster3/namespace.yaml: edited by hand"),
        "{err}"
    );
    // Progress was printed per cluster as each was compared, before the refusal.
    let c0 = err.find("cluster0: ").expect(&err);
    let c1 = err.find("cluster1: ").expect(&err);
    assert!(c0 < c1 && c1 < err.find("refused:").unwrap(), "{err}");
    assert!(err.contains("mesh-wide files: "), "{err}");
    assert_eq!(
        before,
        tree(&out),
        "no temp file, new directory or journal is left, no byte or mode changed"
    );
    assert!(!out.join("clusters/cluster0").exists());

    // With --force the same render goes through, and then the tree checks clean.
    let o = run(&d, &["render", "mesh.yaml", "-o", "out", "--force"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(out.join("clusters/cluster0/namespace.yaml").is_file());
    assert_eq!(code(&run(&d, &["check", "mesh.yaml", "-o", "out"])), 0);
}

#[test]
fn render_prints_one_progress_line_per_cluster_in_order() {
    let (_t, d) = setup();
    let o = run(&d, &["render", "mesh.yaml", "-o", "out"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let err = stderr(&o);
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.contains(" files (") && l.ends_with(" unchanged)"))
        .collect();
    let names: Vec<&str> = lines.iter().map(|l| l.split(':').next().unwrap()).collect();
    assert_eq!(
        names,
        ["cluster1", "cluster2", "cluster3", "mesh-wide files"],
        "{err}"
    );
    for l in &lines {
        // "NAME: N files (W to write, U unchanged)" with N = W + U; all new on a first render.
        let nums: Vec<usize> = l
            .split(|c: char| !c.is_ascii_digit())
            .filter(|s| !s.is_empty())
            .filter_map(|s| s.parse().ok())
            .collect();
        let (n, w, u) = (
            nums[nums.len() - 3],
            nums[nums.len() - 2],
            nums[nums.len() - 1],
        );
        assert_eq!((n, w, u), (n, n, 0), "{l}");
        assert!(n > 0, "{l}");
    }
    // A re-render: the same lines, in the same order, every file unchanged.
    let o = run(&d, &["render", "mesh.yaml", "-o", "out"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let again = stderr(&o);
    let expected: Vec<String> = lines
        .iter()
        .map(|l| {
            let (name, rest) = l.split_once(": ").unwrap();
            let n = rest.split(' ').next().unwrap();
            format!("{name}: {n} files (0 to write, {n} unchanged)")
        })
        .collect();
    let progress: Vec<&str> = again
        .lines()
        .filter(|l| l.contains(" files (") && l.ends_with(" unchanged)"))
        .collect();
    assert_eq!(progress, expected, "{again}");
}

/// A first render killed before its journal existed leaves `.meshrender/` with a temp file of
/// `pending.json` (and perhaps empty directories): nothing a user could lose, so the next
/// render takes the directory over without `--force`. A real file still makes it foreign.
#[test]
fn what_a_render_killed_before_its_journal_leaves_is_not_foreign() {
    let (_t, d) = setup();
    let out = d.join("out");
    std::fs::create_dir_all(out.join(".meshrender")).unwrap();
    std::fs::create_dir_all(out.join("clusters/cluster1/install")).unwrap();
    let tmp = out.join(".meshrender/.pending.json.4242.meshrender-tmp");
    std::fs::write(&tmp, "{\"too").unwrap();
    let o = run(&d, &["render", "mesh.yaml", "-o", "out"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(!tmp.exists());
    assert_eq!(code(&run(&d, &["check", "mesh.yaml", "-o", "out"])), 0);

    let other = d.join("other");
    std::fs::create_dir_all(other.join("empty")).unwrap();
    std::fs::write(other.join("empty/.notes.meshrender-tmp.txt"), "mine\n").unwrap();
    let o = run(&d, &["render", "mesh.yaml", "-o", "other"]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(stderr(&o).contains("is not empty"), "{}", stderr(&o));
}

/// `render mesh.yaml -o OUT` in `d` with files limited to 2 KiB (SIGXFSZ ignored, so a write
/// past it fails as on a full disk).
fn render_with_file_limit(d: &Path, out: &str) -> std::process::Output {
    let bin = env!("CARGO_BIN_EXE_meshrender");
    std::process::Command::new("bash")
        .args([
            "-c",
            &format!("trap '' XFSZ; ulimit -f 2; exec {bin} render mesh.yaml -o {out}"),
        ])
        .current_dir(d)
        .output()
        .unwrap()
}

/// A render that fails while staging (here: a file-size limit, as a full disk would) leaves
/// no temp file, no half-written secret and no directory it created.
#[test]
fn a_render_failing_while_staging_leaves_nothing() {
    let (_t, d) = setup();
    // The PKI first, so the failure comes while the output is staged.
    assert_eq!(code(&run(&d, &["render", "mesh.yaml", "-o", "first"])), 0);
    let o = render_with_file_limit(&d, "out");
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let left: Vec<String> = walkdir::WalkDir::new(d.join("out"))
        .into_iter()
        .filter_map(Result::ok)
        .map(|e| e.path().display().to_string())
        .collect();
    assert!(left.is_empty(), "a failed first render left {left:?}");

    // Over an existing tree: a changed spec, the same limit: the tree is as it was.
    std::fs::write(
        d.join("mesh.yaml"),
        SPEC.replace("meshID: mesh1", "meshID: mesh2"),
    )
    .unwrap();
    let before = tree(&d.join("first"));
    let o = render_with_file_limit(&d, "first");
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert_eq!(before, tree(&d.join("first")));
}

/// A manifest listing a path twice (edited by hand, or merged badly): the last entry counts,
/// as it always did, so a file only meshrender wrote is not taken for a hand edit.
#[test]
fn a_duplicate_manifest_entry_counts_as_its_last() {
    let (_t, d) = setup();
    let out = d.join("out");
    assert_eq!(code(&run(&d, &["render", "mesh.yaml", "-o", "out"])), 0);
    let p = out.join(".meshrender/owned.json");
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    let files = m["files"].as_array_mut().unwrap();
    let i = files.iter().position(|f| f["path"] == "README.md").unwrap();
    let mut stale = files[i].clone();
    stale["sha256"] = serde_json::json!("0".repeat(64));
    files.insert(i, stale);
    std::fs::write(&p, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
    std::fs::write(
        d.join("mesh.yaml"),
        SPEC.replace("meshID: mesh1", "meshID: mesh2"),
    )
    .unwrap();
    let o = run(&d, &["render", "mesh.yaml", "-o", "out"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(code(&run(&d, &["check", "mesh.yaml", "-o", "out"])), 0);
}

/// Temp files an earlier, killed run left are removed by the next render that commits, and
/// kept by one that is refused (a refused render changes nothing at all).
#[test]
fn stale_temp_files_go_only_with_a_committed_render() {
    let (_t, d) = setup();
    let out = d.join("out");
    assert_eq!(code(&run(&d, &["render", "mesh.yaml", "-o", "out"])), 0);
    let stale = out.join("clusters/cluster2/.namespace.yaml.99999.meshrender-tmp");
    std::fs::write(&stale, "partial").unwrap();
    let edited = out.join("clusters/cluster1/namespace.yaml");
    let mut text = std::fs::read_to_string(&edited).unwrap();
    text.push_str("# hand edit\n");
    std::fs::write(&edited, &text).unwrap();
    assert_eq!(code(&run(&d, &["render", "mesh.yaml", "-o", "out"])), 3);
    assert!(stale.exists(), "a refused render leaves even stale temps");
    let o = run(&d, &["render", "mesh.yaml", "-o", "out", "--force"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(!stale.exists());
}
