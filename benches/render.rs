//! Rendering and checking large meshes: 100 and 1000 clusters on many networks, one primary per
//! `MESHRENDER_BENCH_PRIMARY_EVERY` clusters (default 4) serving the others of its network,
//! secrets through External Secrets (so the spec needs no files). After one render that
//! generates the PKI, it times
//!
//! * (a) a full render into an empty directory (load_mesh + render_owned + analyze + apply, as
//!   `meshrender render` does them),
//! * (b) `check` of the unchanged tree in-process (load_mesh + render_owned(ReadOnly) + analyze),
//! * (c) the same through the release binary, `meshrender check` (process start included),
//!
//! and reports whether `check` of 100 clusters stays under the 100 ms target.
//!
//!     cargo bench --bench render
//!     MESHRENDER_BENCH_RUNS=5 cargo bench --bench render      # repetitions (default 5)
//!     MESHRENDER_BENCH_SIZES=100,300 cargo bench --bench render
//!
//! Without `--bench` (e.g. `cargo test --benches`) it runs once on 12 clusters as a smoke test.

mod common;

use common::{fmt, measure};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use meshrender::output::{self, RenderedFile};
use meshrender::{Options, load_mesh, pki, render_owned, tool_version};

const TARGET_CHECK_100: Duration = Duration::from_millis(100);

/// A multi-network primary-remote mesh of `n` clusters: groups of `every` clusters share a
/// network; the first of each group is a primary serving the rest.
fn spec(n: usize, every: usize) -> String {
    let mut s = String::from(
        "apiVersion: meshrender/v1alpha1\nkind: Mesh\nmeshID: bench\nistio: {version: \"1.28\"}\n\
         secrets:\n  mode: external-secrets\n  externalSecrets:\n    storeRef: {kind: ClusterSecretStore, name: mesh-secrets}\n    keyPrefix: meshes/bench\n\
         clusters:\n",
    );
    for i in 0..n {
        let g = i / every;
        let name = format!("c{i:04}");
        let ip = format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256);
        s.push_str(&format!("  - name: {name}\n    network: net{g:03}\n"));
        if i % every != 0 {
            s.push_str(&format!(
                "    role: remote\n    controlPlane: c{:04}\n",
                g * every
            ));
        }
        s.push_str(&format!(
            "    eastWestGateway: {{address: {ip}}}\n    apiServer: {{server: \"https://{ip}:6443\"}}\n"
        ));
    }
    s
}

struct Mesh {
    _dir: tempfile::TempDir,
    spec: PathBuf,
    /// The rendered tree `check` compares with.
    out: PathBuf,
    files: usize,
    bytes: usize,
}

/// What the binary does before rendering: load, validate, and record the reproduce command
/// the generated README shows.
fn load(spec: &Path, out: &Path) -> (meshrender::model::Mesh, Options) {
    let (mesh, _warnings) = load_mesh(spec, "mesh.yaml").unwrap_or_else(|e| panic!("{e}"));
    let options = Options {
        reproduce: meshrender::cli::reproduce_command(spec, out),
        ..Default::default()
    };
    (mesh, options)
}

fn render_into(spec: &Path, out: &Path, mode: pki::Mode) -> BTreeMap<String, RenderedFile> {
    let (mesh, options) = load(spec, out);
    let (files, _material) = render_owned(&mesh, mode, &options).unwrap_or_else(|e| panic!("{e}"));
    let spec_sha = output::sha256_hex(&std::fs::read(spec).unwrap());
    // What `render --force` does with a complete render: compare and stage, then commit.
    let commit = || -> Result<(), output::OutputError> {
        let mut a = output::Analyzer::new(out, None, output::Keep::Stage { force: true })?;
        a.add(&files)?;
        let (analysis, staged) = a.finish(&tool_version(), &spec_sha)?;
        staged.commit(out, &analysis).map(|_| ())
    };
    commit().unwrap_or_else(|e| panic!("{e}"));
    files
}

/// check = load_mesh + render_owned(ReadOnly) + analyze; returns the number of drifted paths.
fn check(spec: &Path, out: &Path) -> usize {
    check_phases(spec, out).0
}

/// As [`check`], also returning the time of each phase: load_mesh, render_owned, analyze.
fn check_phases(spec: &Path, out: &Path) -> (usize, [Duration; 3]) {
    let t = Instant::now();
    let (mesh, options) = load(spec, out);
    let load = t.elapsed();
    let t = Instant::now();
    let (files, _material) =
        render_owned(&mesh, pki::Mode::ReadOnly, &options).unwrap_or_else(|e| panic!("{e}"));
    let render = t.elapsed();
    let t = Instant::now();
    let spec_sha = output::sha256_hex(&std::fs::read(spec).unwrap());
    let analysis = output::analyze(out, &files, None, &tool_version(), &spec_sha)
        .unwrap_or_else(|e| panic!("{e}"));
    let drift = analysis.drift().len() + usize::from(analysis.manifest_changed);
    (drift, [load, render, t.elapsed()])
}

fn setup(n: usize, every: usize) -> Mesh {
    let dir = tempfile::tempdir().unwrap();
    let spec_path = dir.path().join("mesh.yaml");
    std::fs::write(&spec_path, spec(n, every)).unwrap();
    let out = dir.path().join("out");
    let files = render_into(&spec_path, &out, pki::Mode::Generate);
    Mesh {
        spec: spec_path,
        out,
        files: files.len(),
        bytes: files.values().map(|f| f.bytes.len()).sum(),
        _dir: dir,
    }
}

/// The release binary: Cargo's path for it, or `meshrender` beside the bench's target dir.
fn binary() -> Option<PathBuf> {
    if let Some(p) = option_env!("CARGO_BIN_EXE_meshrender") {
        let p = PathBuf::from(p);
        if p.is_file() {
            return Some(p);
        }
    }
    let exe = std::env::current_exe().ok()?;
    // target/<profile>/deps/render-<hash> → target/<profile>/meshrender
    let p = exe.parent()?.parent()?.join("meshrender");
    p.is_file().then_some(p)
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let runs: usize = if bench {
        common::env_count("MESHRENDER_BENCH_RUNS", 5)
    } else {
        1
    };
    let every: usize = common::env_count("MESHRENDER_BENCH_PRIMARY_EVERY", 4);
    let sizes: Vec<usize> = if bench {
        common::env_sizes(&[100, 1000])
    } else {
        vec![12]
    };
    let bin = binary();
    println!(
        "render: multi-network primary-remote, 1 primary per {every} clusters, external-secrets; {runs} run(s) per figure{}",
        if bench {
            ""
        } else {
            " (smoke run: pass --bench)"
        }
    );
    match &bin {
        Some(b) => println!("binary: {}", b.display()),
        None => println!("binary: not found next to the bench executable; (c) skipped"),
    }
    println!(
        "{:>8} {:>9} {:>9} {:>8}  {:>13} {:>13}  {:>13} {:>13}  {:>13} {:>13}",
        "clusters",
        "primaries",
        "files",
        "MiB",
        "(a) render med",
        "min",
        "(b) check med",
        "min",
        "(c) bin med",
        "min"
    );
    let mut check_100 = None;
    for n in sizes {
        let setup_start = Instant::now();
        let m = setup(n, every);
        let setup_time = setup_start.elapsed();
        assert_eq!(check(&m.spec, &m.out), 0, "a fresh render has no drift");

        let scratch = tempfile::tempdir().unwrap();
        let mut i = 0;
        let (a_med, a_min, ()) = measure(runs, || {
            i += 1;
            let out = scratch.path().join(format!("out{i}"));
            render_into(&m.spec, &out, pki::Mode::ReadOnly);
        });
        drop(scratch);
        let (b_med, b_min, ()) = measure(runs, || {
            assert_eq!(check(&m.spec, &m.out), 0);
        });
        let c = bin.as_ref().map(|b| {
            measure(runs, || {
                let o = Command::new(b)
                    .arg("check")
                    .arg(&m.spec)
                    .arg("-o")
                    .arg(&m.out)
                    .output()
                    .expect("runs meshrender");
                assert!(
                    o.status.success(),
                    "meshrender check: {}{}",
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                );
            })
        });
        if n == 100 {
            check_100 = Some((b_med, c.map(|c| c.0)));
        }
        let (c_med, c_min) = c.map_or(("-".to_owned(), "-".to_owned()), |(a, b, ())| {
            (fmt(a), fmt(b))
        });
        println!(
            "{:>8} {:>9} {:>9} {:>8.1}  {:>13} {:>13}  {:>13} {:>13}  {:>13} {:>13}",
            n,
            n.div_ceil(every),
            m.files,
            m.bytes as f64 / (1024.0 * 1024.0),
            fmt(a_med),
            fmt(a_min),
            fmt(b_med),
            fmt(b_min),
            c_med,
            c_min
        );
        let (_, [load, rend, analyze]) = check_phases(&m.spec, &m.out);
        println!(
            "{:>8} first render with PKI generation: {}; one check by phase: load_mesh {}, render_owned {}, analyze {}",
            "",
            fmt(setup_time),
            fmt(load),
            fmt(rend),
            fmt(analyze)
        );
    }
    if let Some((lib, bin)) = check_100 {
        let fig = bin.unwrap_or(lib);
        println!(
            "target: check of 100 clusters under {} ms: {} (median {} {})",
            TARGET_CHECK_100.as_millis(),
            if fig < TARGET_CHECK_100 {
                "MET"
            } else {
                "NOT MET"
            },
            fmt(fig),
            if bin.is_some() {
                "through the binary"
            } else {
                "in-process"
            }
        );
    }
}
