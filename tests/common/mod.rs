//! Test support shared by the integration tests: golden-tree comparison, YAML parsing of
//! rendered files, and the location of `../shared` reference material.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use meshrender::{Options, load_mesh, pki, render_mesh};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// True when CI runs the tests (`CI` set and not empty).
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

/// The one rule for what a test needs from the machine (`../shared`, `kubectl`, `openssl`):
/// when it is missing, the test fails in CI (CI provides everything, so a skip there would
/// hide a test that never ran) and is skipped with a message elsewhere.
pub fn require(available: bool, what: &str) -> bool {
    if !available {
        assert!(
            !in_ci(),
            "{what} is missing, and CI must run every test that needs it"
        );
        eprintln!("skipping: {what} is missing (CI provides it)");
    }
    available
}

/// `../shared`, or `None` (with a message) where it is absent, e.g. in a user's fresh clone.
pub fn shared() -> Option<PathBuf> {
    let p = root().join("..").join("shared");
    require(
        p.join("istio-reference").is_dir(),
        "../shared/istio-reference",
    )
    .then_some(p)
}

pub fn update_golden() -> bool {
    std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1")
}

/// Renders the spec at `spec` in memory with its fixture PKI (read-only: tests never create
/// keys, except under UPDATE_GOLDEN=1 where missing fixture material is generated once).
pub fn render_spec(spec: &Path) -> BTreeMap<String, Vec<u8>> {
    let (mesh, _) =
        load_mesh(spec, "spec.yaml").unwrap_or_else(|e| panic!("{}: {e}", spec.display()));
    // What the CLI records for `meshrender render <case>/spec.yaml -o <case>/expected`.
    let options = Options {
        reproduce: Some("meshrender render ../spec.yaml -o .".to_owned()),
        ..Default::default()
    };
    let mode = if update_golden() {
        pki::Mode::Generate
    } else {
        pki::Mode::ReadOnly
    };
    let (files, _) =
        render_mesh(&mesh, mode, &options).unwrap_or_else(|e| panic!("{}: {e}", spec.display()));
    files
}

/// Every regular file under `dir`, as relative path (with `/`) → bytes.
pub fn read_tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    if !dir.exists() {
        return out;
    }
    for e in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let e = e.unwrap();
        if e.file_type().is_file() {
            let rel = e.path().strip_prefix(dir).unwrap();
            let rel = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            out.insert(rel, std::fs::read(e.path()).unwrap());
        }
    }
    out
}

/// All YAML documents of a file (empty documents skipped).
pub fn yaml_docs(text: &str) -> Vec<serde_json::Value> {
    let docs: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(text).unwrap_or_else(|e| panic!("not valid YAML: {e}\n{text}"));
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

pub fn yaml_file(path: &Path) -> Vec<serde_json::Value> {
    yaml_docs(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

/// The case directories under tests/cases, sorted.
pub fn cases() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("tests/cases"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("spec.yaml").is_file())
        .collect();
    v.sort();
    v
}

/// The meshrender binary built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_meshrender");

/// Runs meshrender with `args` in `dir`.
pub fn run(dir: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("runs meshrender")
}

/// Runs meshrender with `args` in `dir` and asserts it refused (exit 2) saying `needle`.
pub fn refused(dir: &Path, args: &[&str], needle: &str) -> std::process::Output {
    let o = run(dir, args);
    assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
    assert!(stderr(&o).contains(needle), "{args:?}: {}", stderr(&o));
    o
}

pub fn code(o: &std::process::Output) -> i32 {
    o.status.code().expect("exit code")
}

pub fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
