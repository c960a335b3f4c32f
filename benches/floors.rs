//! meshrender next to the floors of its work, measured in the same run (interleaved), so a
//! busy or slow disk moves both:
//!
//! * fresh `meshrender render` (PKI present) vs the **write floor**: a plain program writing
//!   the same tree (each file to a temp name, one `sync -f` of the file system, renames,
//!   another `sync -f`, the same durability meshrender promises);
//! * `meshrender check` of the unchanged tree vs the **read floor**: reading every file of
//!   the tree and hashing it with SHA-256, measured twice: inside this process (`r-floor`, no
//!   process start) and as a plain program started and timed like meshrender (`r-fl proc`:
//!   this binary run again with `--read-floor DIR`);
//! * peak RSS of meshrender (one more, untimed, run under `/usr/bin/time -f %M` where present:
//!   the wrapper would add about 2 ms to every timed run);
//! * `meshrender validate` of 10,000 clusters (10 primaries).
//!
//! Every figure is the median of `MESHRENDER_BENCH_RUNS` interleaved runs (3 by default);
//! below 100 clusters each run renders (its floor and meshrender taking turns at going first)
//! and checks a tree, with their floors, 100/N times.
//!
//! Topologies (N clusters): `flat` N primaries on one network; `pairs` N/2 primaries each
//! serving one remote, on N/10 networks; `hub` 10 primaries serving the other N−10 as remotes.
//! N = 10, 100, 1000 (`flat` and `pairs` up to 300: N primaries read each other, N² files).
//!
//!     cargo bench --bench floors
//!     MESHRENDER_BENCH_RUNS=5 MESHRENDER_BENCH_SIZES=10,100 cargo bench --bench floors
//!
//! Without `--bench` (as `cargo test --benches` runs it) it does one quick round on 10
//! clusters as a smoke test.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

const BIN: &str = env!("CARGO_BIN_EXE_meshrender");

#[derive(Clone, Copy)]
enum Topology {
    Flat,
    Pairs,
    Hub,
}

impl Topology {
    fn name(self) -> &'static str {
        match self {
            Topology::Flat => "flat",
            Topology::Pairs => "pairs",
            Topology::Hub => "hub",
        }
    }

    fn max(self) -> usize {
        match self {
            Topology::Hub => 1000,
            _ => 300,
        }
    }
}

fn spec(t: Topology, n: usize) -> String {
    let mut s = String::from(
        "apiVersion: meshrender/v1alpha1\nkind: Mesh\nmeshID: bench\nistio: {version: \"1.28\"}\n\
         secrets:\n  mode: external-secrets\n  externalSecrets:\n    storeRef: {kind: ClusterSecretStore, name: mesh-secrets}\n\
         clusters:\n",
    );
    let networks = (n / 10).max(1);
    for i in 0..n {
        let ip = format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256);
        let (network, primary) = match t {
            Topology::Flat => (0, None),
            Topology::Pairs => ((i / 2) % networks, (i % 2 == 1).then(|| i - 1)),
            Topology::Hub => {
                let p = i % 10;
                (p, (i >= 10).then_some(p))
            }
        };
        s.push_str(&format!(
            "  - name: c{i:05}\n    network: net{network:03}\n"
        ));
        if let Some(p) = primary {
            s.push_str(&format!("    role: remote\n    controlPlane: c{p:05}\n"));
        }
        s.push_str(&format!(
            "    eastWestGateway: {{address: {ip}}}\n    apiServer: {{server: \"https://{ip}:6443\"}}\n"
        ));
    }
    s
}

/// Runs meshrender with `args` in `dir`, started and timed like the process read floor (no
/// wrapper process: `/usr/bin/time` adds about 2 ms to every run here); returns wall time.
fn meshrender(dir: &Path, args: &[&str]) -> Duration {
    let err_file = dir.join("stderr.txt");
    let start = Instant::now();
    let status = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&err_file).expect("a file for stderr"))
        .status()
        .expect("run meshrender");
    let wall = start.elapsed();
    assert!(
        status.success(),
        "meshrender {args:?}: {}",
        std::fs::read_to_string(&err_file).unwrap_or_default()
    );
    wall
}

/// Peak RSS (KiB) of one more, untimed, run of meshrender with `args` in `dir`, read with
/// `/usr/bin/time -f %M` (a process's own resource usage would count the bench's memory it
/// was forked from); `None` where `/usr/bin/time` is missing.
fn peak_rss(dir: &Path, args: &[&str]) -> Option<u64> {
    let time = Path::new("/usr/bin/time");
    if !time.exists() {
        return None;
    }
    let rss_file = dir.join("rss.txt");
    let out = Command::new(time)
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&rss_file)
        .arg(BIN)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run meshrender");
    assert!(
        out.status.success(),
        "meshrender {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(&rss_file)
        .ok()
        .and_then(|s| s.trim().lines().last()?.parse().ok())
}

/// Every file under `dir` (relative path, bytes).
fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e.path().strip_prefix(dir).unwrap().to_path_buf();
            (rel, std::fs::read(e.path()).unwrap())
        })
        .collect()
}

fn sync_fs(dir: &Path) {
    let ok = Command::new("sync")
        .arg("-f")
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "sync -f {}", dir.display());
}

/// The write floor: the same tree, temp files, one flush, renames, one flush.
fn write_floor(files: &[(PathBuf, Vec<u8>)], out: &Path) -> Duration {
    let start = Instant::now();
    let mut temps = Vec::with_capacity(files.len());
    let mut made = std::collections::BTreeSet::new();
    for (rel, bytes) in files {
        let p = out.join(rel);
        let dir = p.parent().unwrap().to_path_buf();
        if made.insert(dir.clone()) {
            std::fs::create_dir_all(&dir).unwrap();
        }
        let tmp = dir.join(format!(".{}.tmp", p.file_name().unwrap().to_string_lossy()));
        std::fs::File::create(&tmp)
            .unwrap()
            .write_all(bytes)
            .unwrap();
        temps.push((tmp, p));
    }
    sync_fs(out);
    for (tmp, p) in &temps {
        std::fs::rename(tmp, p).unwrap();
    }
    sync_fs(out);
    start.elapsed()
}

/// The read floor as a plain program: this bench binary started again (`--read-floor DIR`),
/// reading and hashing the tree, and exiting, timed from outside like meshrender (process
/// start and exit included, as they are in every meshrender figure).
fn read_floor_process(dir: &Path) -> Duration {
    let exe = std::env::current_exe().expect("the bench binary");
    let start = Instant::now();
    let ok = Command::new(exe)
        .arg("--read-floor")
        .arg(dir)
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let wall = start.elapsed();
    assert!(ok, "read floor of {}", dir.display());
    wall
}

/// The read floor: read and SHA-256 every file of `dir`.
fn read_floor(dir: &Path) -> Duration {
    let start = Instant::now();
    let mut n = 0usize;
    for e in walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
    {
        if e.file_type().is_file() {
            let bytes = std::fs::read(e.path()).unwrap();
            n += Sha256::digest(&bytes)[0] as usize;
        }
    }
    std::hint::black_box(n);
    start.elapsed()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    common::fmt(d)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--read-floor") {
        read_floor(Path::new(&args[i + 1]));
        return;
    }
    let bench = std::env::args().any(|a| a == "--bench");
    let runs: usize = if bench {
        common::env_count("MESHRENDER_BENCH_RUNS", 3)
    } else {
        1
    };
    let sizes: Vec<usize> = if bench {
        common::env_sizes(&[10, 100, 1000])
    } else {
        vec![10]
    };
    println!(
        "floors: {runs} interleaved run(s) per figure, medians{}",
        if bench {
            ""
        } else {
            " (smoke run: pass --bench)"
        }
    );
    println!(
        "{:<6} {:>5} {:>7}  {:>10} {:>10} {:>6}  {:>10} {:>10} {:>6} {:>10} {:>6}  {:>9} {:>9}",
        "topo",
        "N",
        "files",
        "render",
        "w-floor",
        "ratio",
        "check",
        "r-floor",
        "ratio",
        "r-fl proc",
        "ratio",
        "rss rend",
        "rss chk"
    );
    for t in [Topology::Flat, Topology::Pairs, Topology::Hub] {
        for &n in sizes.iter().filter(|&&n| n <= t.max()) {
            let tmp = tempfile::tempdir().unwrap();
            let d = tmp.path();
            std::fs::write(d.join("mesh.yaml"), spec(t, n)).unwrap();
            // the PKI is generated once; every measured render finds it present
            meshrender(d, &["render", "mesh.yaml", "-o", "seed"]);
            let files = tree(&d.join("seed"));
            let (mut render, mut wfloor, mut check, mut rfloor, mut pfloor) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
            // A small tree is written in tens of milliseconds and checked in a few, and the
            // disk's state (what else is dirty, which inodes were just freed) moves both:
            // below 100 clusters each run repeats them 100/N times, the render and its floor
            // taking turns at going first, so the medians are not one hiccup or one order.
            let reps = (100 / n).max(1);
            for r in 0..runs {
                for k in 0..reps {
                    let floor_dir = d.join(format!("floor{r}-{k}"));
                    let out = format!("out{r}-{k}");
                    if (r * reps + k) % 2 == 0 {
                        wfloor.push(write_floor(&files, &floor_dir));
                        render.push(meshrender(d, &["render", "mesh.yaml", "-o", &out]));
                    } else {
                        render.push(meshrender(d, &["render", "mesh.yaml", "-o", &out]));
                        wfloor.push(write_floor(&files, &floor_dir));
                    }
                    rfloor.push(read_floor(&d.join(&out)));
                    pfloor.push(read_floor_process(&d.join(&out)));
                    check.push(meshrender(d, &["check", "mesh.yaml", "-o", &out]));
                    std::fs::remove_dir_all(&floor_dir).ok();
                    if k + 1 < reps {
                        std::fs::remove_dir_all(d.join(&out)).ok();
                    }
                }
                // The last tree of the run stays until here, so the checks of a run see
                // the same tree the others did.
                std::fs::remove_dir_all(d.join(format!("out{r}-{}", reps - 1))).ok();
            }
            let rss_render = peak_rss(d, &["render", "mesh.yaml", "-o", "rss"]).unwrap_or(0);
            let rss_check = peak_rss(d, &["check", "mesh.yaml", "-o", "rss"]).unwrap_or(0);
            std::fs::remove_dir_all(d.join("rss")).ok();
            let (render, wfloor, check, rfloor, pfloor) = (
                median(render),
                median(wfloor),
                median(check),
                median(rfloor),
                median(pfloor),
            );
            println!(
                "{:<6} {:>5} {:>7}  {:>10} {:>10} {:>5.2}x  {:>10} {:>10} {:>5.2}x {:>10} {:>5.2}x  {:>7}MB {:>7}MB",
                t.name(),
                n,
                files.len(),
                ms(render),
                ms(wfloor),
                render.as_secs_f64() / wfloor.as_secs_f64(),
                ms(check),
                ms(rfloor),
                check.as_secs_f64() / rfloor.as_secs_f64(),
                ms(pfloor),
                check.as_secs_f64() / pfloor.as_secs_f64(),
                rss_render / 1024,
                rss_check / 1024,
            );
        }
    }
    // validation of a large mesh: 10,000 clusters, 10 primaries (hub) and all primaries (flat)
    let n = if bench { 10_000 } else { 100 };
    for t in [Topology::Hub, Topology::Flat] {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("mesh.yaml"), spec(t, n)).unwrap();
        let walls = (0..runs)
            .map(|_| meshrender(tmp.path(), &["validate", "mesh.yaml"]))
            .collect();
        let rss = peak_rss(tmp.path(), &["validate", "mesh.yaml"]).unwrap_or(0);
        println!(
            "validate {n} clusters ({}): {} (peak RSS {} MB)",
            t.name(),
            ms(median(walls)),
            rss / 1024
        );
    }
    println!(
        "targets (2 cores): render <= 2x w-floor; check <= 3x r-floor; hub 1000: render < 3 s, check < 1 s, RSS < 150 MB; validate 10,000 < 2 s, < 200 MB"
    );
}
