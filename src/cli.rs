//! Command-line interface (DESIGN.md §5): argument parsing and exit codes. Each command is a
//! short composition of library calls; progress and diagnostics go to stderr, machine-readable
//! events (`--format json`) to stdout.
//!
//! Exit codes: 0 success / no drift; 1 drift (check/diff); 2 invalid spec, usage or I/O
//! error; 3 refused to overwrite or delete a foreign or hand-edited file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand, ValueEnum};
use serde_json::json;

use crate::output::{self, Analysis, RenderedFile, Status};
use crate::{Failure, init, load_mesh, model, pki, render_owned, tool_version};

pub const EXIT_OK: i32 = 0;
pub const EXIT_DRIFT: i32 = 1;
pub const EXIT_ERROR: i32 = 2;
pub const EXIT_REFUSED: i32 = 3;

#[derive(Parser, Debug)]
#[command(
    name = "meshrender",
    version,
    about = "Render per-cluster Istio multicluster manifests from one topology spec, offline"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print a commented starter spec for one of Istio's multicluster models
    Init {
        /// multi-primary | multi-network | primary-remote | primary-remote-multi-network
        #[arg(long, default_value = "multi-primary")]
        model: String,
    },
    /// Parse and validate a spec; print every problem at once
    Validate {
        /// The topology spec file
        spec: PathBuf,
    },
    /// Render every cluster's files into the output directory (generates missing CA material)
    Render {
        /// The topology spec file
        spec: PathBuf,
        /// Output directory
        #[arg(short = 'o', long = "out")]
        out: PathBuf,
        /// Render and prune only these clusters (repeatable)
        #[arg(long = "cluster", value_name = "NAME")]
        clusters: Vec<String>,
        /// Overwrite or delete files meshrender does not own or that were edited by hand
        #[arg(long)]
        force: bool,
        /// Output format of the per-file events
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Render in memory and compare with the output directory; exit 1 on any difference
    Check {
        spec: PathBuf,
        #[arg(short = 'o', long = "out")]
        out: PathBuf,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// CA material: status, intermediate rotation, root rotation
    #[command(subcommand)]
    Pki(PkiCommand),
    /// Print a unified diff of what `render` would change (secret values redacted)
    Diff {
        spec: PathBuf,
        #[arg(short = 'o', long = "out")]
        out: PathBuf,
        /// Show secret values in the diff
        #[arg(long)]
        show_secrets: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum PkiCommand {
    /// Show every certificate of pki.dir: subject, key, serial, expiry, fingerprint
    Status {
        spec: PathBuf,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Issue a new intermediate for one cluster (the old one is kept as a backup)
    RotateIntermediate {
        spec: PathBuf,
        #[arg(long, value_name = "NAME")]
        cluster: String,
    },
    /// One step of the multi-root rotation: 1 trust both roots, 2 re-issue intermediates,
    /// 3 drop the old root
    RotateRoot {
        spec: PathBuf,
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=3))]
        step: u8,
    },
}

/// Runs the command line and returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_ERROR } else { EXIT_OK };
            let _ = e.print();
            return code;
        }
    };
    run(cli)
}

pub fn run(cli: Cli) -> i32 {
    match cli.command {
        Command::Init { model } => cmd_init(&model),
        Command::Validate { spec } => cmd_validate(&spec),
        Command::Render {
            spec,
            out,
            clusters,
            force,
            format,
        } => cmd_render(&spec, &out, &clusters, force, format),
        Command::Check { spec, out, format } => cmd_check(&spec, &out, format),
        Command::Diff {
            spec,
            out,
            show_secrets,
        } => cmd_diff(&spec, &out, show_secrets),
        Command::Pki(PkiCommand::Status { spec, format }) => cmd_pki_status(&spec, format),
        Command::Pki(PkiCommand::RotateIntermediate { spec, cluster }) => {
            cmd_pki_rotate(&spec, |m, cs| {
                if !cs.contains(&cluster) {
                    return Err(pki::PkiError {
                        messages: vec![format!(
                            "--cluster {cluster}: not a cluster with its own intermediate (clusters with cacerts: {})",
                            cs.join(", ")
                        )],
                    });
                }
                pki::rotate::rotate_intermediate(&m.pki, cs, &cluster)
            })
        }
        Command::Pki(PkiCommand::RotateRoot { spec, step }) => {
            cmd_pki_rotate(&spec, |m, cs| pki::rotate::rotate_root(&m.pki, cs, step))
        }
    }
}

fn fail(e: &Failure) -> i32 {
    eprintln!("{e}");
    EXIT_ERROR
}

fn display(p: &Path) -> String {
    p.display().to_string()
}

fn cmd_init(model: &str) -> i32 {
    match init::starter(model) {
        Some(text) => {
            print!("{text}");
            EXIT_OK
        }
        None => {
            eprintln!("error: unknown model `{model}`; expected one of:");
            for (name, _, about) in init::MODELS {
                eprintln!("  {name:<30} {about}");
            }
            EXIT_ERROR
        }
    }
}

fn cmd_validate(spec: &Path) -> i32 {
    match load_mesh(spec, &display(spec)) {
        Ok((mesh, warnings)) => {
            eprint!("{warnings}");
            eprintln!(
                "{}: ok: mesh {} for Istio {}, {} cluster{}",
                display(spec),
                mesh.mesh_id,
                mesh.version,
                mesh.clusters.len(),
                if mesh.clusters.len() == 1 { "" } else { "s" }
            );
            EXIT_OK
        }
        Err(e) => fail(&e),
    }
}

/// Everything the render-like commands share: the validated mesh, the in-memory render and
/// its comparison with the output directory.
struct Prepared {
    mesh: model::Mesh,
    files: BTreeMap<String, RenderedFile>,
    analysis: Analysis,
}

fn prepare(
    spec: &Path,
    out: &Path,
    mode: pki::Mode,
    scope: Option<&BTreeSet<String>>,
) -> Result<Prepared, i32> {
    let (mut mesh, warnings) = load_mesh(spec, &display(spec)).map_err(|e| fail(&e))?;
    eprint!("{warnings}");
    mesh.reproduce = reproduce_command(spec, out);
    if let Some(scope) = scope {
        let unknown: Vec<&String> = scope.iter().filter(|c| mesh.cluster(c).is_none()).collect();
        if !unknown.is_empty() {
            let names: Vec<&str> = mesh.clusters.iter().map(|c| c.name.as_str()).collect();
            eprintln!(
                "error: --cluster {}: not a cluster of this mesh (clusters: {})",
                unknown
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                names.join(", ")
            );
            return Err(EXIT_ERROR);
        }
    }
    let (files, material) = render_owned(&mesh, mode).map_err(|e| fail(&e))?;
    for f in &material.created {
        // The path as seen from the working directory (pki.dir is relative to the spec).
        eprintln!("pki: created {}", mesh.pki.dir.join(f).display());
    }
    let spec_bytes = std::fs::read(spec).map_err(|e| {
        eprintln!("{}: {e}", display(spec));
        EXIT_ERROR
    })?;
    let analysis = output::analyze(
        out,
        &files,
        scope,
        &tool_version(),
        &output::sha256_hex(&spec_bytes),
    )
    .map_err(|e| {
        eprintln!("error: {e}");
        EXIT_ERROR
    })?;
    Ok(Prepared {
        mesh,
        files,
        analysis,
    })
}

/// `meshrender render <spec> -o .` with the spec's path relative to the output directory, so
/// the command is exact when run there and the same wherever the tree was rendered from.
pub fn reproduce_command(spec: &Path, out: &Path) -> Option<String> {
    let rel = relative_path(out, spec)?;
    Some(format!("meshrender render {rel} -o ."))
}

/// The path of `to` as seen from directory `from`, both taken relative to the current
/// directory and normalized lexically.
fn relative_path(from: &Path, to: &Path) -> Option<String> {
    use std::path::Component;
    let cwd = std::env::current_dir().ok()?;
    let norm = |p: &Path| -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        for c in cwd.join(p).components() {
            match c {
                Component::ParentDir => {
                    v.pop();
                }
                Component::Normal(s) => v.push(s.to_string_lossy().into_owned()),
                _ => {}
            }
        }
        v
    };
    let (f, t) = (norm(from), norm(to));
    let common = f.iter().zip(&t).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".to_owned(); f.len() - common];
    parts.extend(t[common..].iter().cloned());
    let s = parts.join("/");
    (!s.is_empty() && !s.contains(char::is_whitespace)).then_some(s)
}

fn event(status: &str, path: &str, cluster: &Option<String>) {
    println!(
        "{}",
        json!({"event": "file", "status": status, "path": path, "cluster": cluster})
    );
}

fn cmd_render(spec: &Path, out: &Path, clusters: &[String], force: bool, format: Format) -> i32 {
    let scope: Option<BTreeSet<String>> =
        (!clusters.is_empty()).then(|| clusters.iter().cloned().collect());
    let p = match prepare(spec, out, pki::Mode::Generate, scope.as_ref()) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let refusals = p.analysis.refusals();
    if !force && (p.analysis.unmanaged_nonempty || !refusals.is_empty()) {
        if p.analysis.unmanaged_nonempty {
            eprintln!(
                "error: {} is not empty and has no {}: meshrender will not take over a directory it did not write",
                display(out),
                output::MANIFEST
            );
        }
        for e in &refusals {
            let what = match (e.status, e.removing) {
                (Status::Foreign, _) => "not written by meshrender",
                (_, true) => "edited by hand since meshrender wrote it, and no longer rendered",
                _ => "edited by hand since meshrender wrote it",
            };
            eprintln!("refused: {}: {what}", e.path);
            if format == Format::Json {
                event("refused", &e.path, &e.cluster);
            }
        }
        eprintln!(
            "error: nothing was written; move those files away, or render with --force to overwrite them"
        );
        if format == Format::Json {
            println!(
                "{}",
                json!({"event": "summary", "result": "refused", "refused": refusals.len()})
            );
        }
        return EXIT_REFUSED;
    }
    if p.mesh.secrets == model::SecretsMode::Plaintext {
        eprintln!(
            "warning: secrets.mode is plaintext: private keys and bearer tokens are written to {} (labs only; use external-secrets for anything shared)",
            display(out)
        );
    }
    let report = match output::apply(out, &p.analysis, &p.files) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_ERROR;
        }
    };
    if format == Format::Json {
        for e in &p.analysis.entries {
            let status = if e.removing {
                "deleted"
            } else if e.status == Status::Unchanged {
                "unchanged"
            } else {
                "written"
            };
            event(status, &e.path, &e.cluster);
        }
        println!(
            "{}",
            json!({"event": "summary", "result": "ok", "written": report.written.len(),
                   "deleted": report.deleted.len(), "unchanged": report.unchanged.len()})
        );
    }
    // One progress line per cluster, including clusters removed from the spec.
    let mut per_cluster: BTreeMap<String, [usize; 3]> = BTreeMap::new();
    for c in &p.mesh.clusters {
        if scope.as_ref().is_none_or(|s| s.contains(&c.name)) {
            per_cluster.insert(c.name.clone(), [0; 3]);
        }
    }
    for e in &p.analysis.entries {
        let Some(c) = &e.cluster else { continue };
        let n = per_cluster.entry(c.clone()).or_insert([0; 3]);
        let i = if e.removing {
            2
        } else if e.status == Status::Unchanged {
            1
        } else {
            0
        };
        n[i] += 1;
    }
    for (name, [written, unchanged, deleted]) in per_cluster {
        if p.mesh.cluster(&name).is_none() {
            eprintln!("{name}: removed from the spec ({deleted} files deleted)");
            continue;
        }
        let mut line = format!(
            "{name}: {} files ({written} written, {unchanged} unchanged",
            written + unchanged
        );
        if deleted > 0 {
            line.push_str(&format!(", {deleted} deleted"));
        }
        line.push(')');
        eprintln!("{line}");
    }
    EXIT_OK
}

fn cmd_check(spec: &Path, out: &Path, format: Format) -> i32 {
    let p = match prepare(spec, out, pki::Mode::ReadOnly, None) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let drift = p.analysis.drift();
    let manifest_stale = p.analysis.manifest_changed;
    for e in &drift {
        if format == Format::Json {
            event(e.status.word(), &e.path, &e.cluster);
        } else {
            println!("{:<12} {}", e.status.word(), e.path);
        }
    }
    if manifest_stale && drift.is_empty() {
        if format == Format::Json {
            event("changed", output::MANIFEST, &None);
        } else {
            println!(
                "{:<12} {} (spec or tool changed)",
                "changed",
                output::MANIFEST
            );
        }
    }
    let drifted = !drift.is_empty() || manifest_stale;
    if format == Format::Json {
        println!(
            "{}",
            json!({"event": "summary", "result": if drifted { "drift" } else { "ok" }, "drift": drift.len()})
        );
    }
    if drifted {
        eprintln!(
            "{}: out of date with {} ({} path{}); run `meshrender render` to update it",
            display(out),
            display(spec),
            drift.len().max(1),
            if drift.len() == 1 { "" } else { "s" }
        );
        EXIT_DRIFT
    } else {
        eprintln!("{}: up to date", display(out));
        EXIT_OK
    }
}

fn cmd_diff(spec: &Path, out: &Path, show_secrets: bool) -> i32 {
    let p = match prepare(spec, out, pki::Mode::ReadOnly, None) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let drift = p.analysis.drift();
    for e in &drift {
        let old = std::fs::read(out.join(&e.path)).unwrap_or_default();
        let new = if e.removing {
            Vec::new()
        } else {
            p.files[&e.path].bytes.clone()
        };
        let (old, new) = (String::from_utf8_lossy(&old), String::from_utf8_lossy(&new));
        let (old, new) = if show_secrets {
            (old.to_string(), new.to_string())
        } else {
            (output::redact_secrets(&old), output::redact_secrets(&new))
        };
        let a = if matches!(e.status, Status::Added) {
            "/dev/null".to_owned()
        } else {
            format!("a/{}", e.path)
        };
        let b = if e.removing {
            "/dev/null".to_owned()
        } else {
            format!("b/{}", e.path)
        };
        let diff = similar::TextDiff::from_lines(&old, &new);
        print!("{}", diff.unified_diff().context_radius(3).header(&a, &b));
        if matches!(e.status, Status::HandEdited | Status::Foreign) {
            eprintln!(
                "note: {} is {}; render refuses it without --force",
                e.path,
                e.status.word()
            );
        }
    }
    if drift.is_empty() && !p.analysis.manifest_changed {
        EXIT_OK
    } else {
        EXIT_DRIFT
    }
}

fn cmd_pki_rotate(
    spec: &Path,
    f: impl FnOnce(&model::Mesh, &[String]) -> Result<Vec<String>, pki::PkiError>,
) -> i32 {
    let (mesh, warnings) = match load_mesh(spec, &display(spec)) {
        Ok(x) => x,
        Err(e) => return fail(&e),
    };
    eprint!("{warnings}");
    match f(&mesh, &crate::clusters_needing_ca(&mesh)) {
        Ok(lines) => {
            for l in lines {
                eprintln!("pki: {l}");
            }
            EXIT_OK
        }
        Err(e) => fail(&Failure::Pki(e)),
    }
}

fn cmd_pki_status(spec: &Path, format: Format) -> i32 {
    let (mesh, warnings) = match load_mesh(spec, &display(spec)) {
        Ok(x) => x,
        Err(e) => return fail(&e),
    };
    eprint!("{warnings}");
    let rows = pki::status::collect(&mesh.pki, &crate::clusters_needing_ca(&mesh));
    match format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&rows).expect("status serializes")
        ),
        Format::Text => print!("{}", pki::status::table(&rows)),
    }
    for r in &rows {
        if let Some(days) = r.days_left
            && days < pki::status::WARN_DAYS
        {
            eprintln!(
                "warning: {} expires in {days} days ({})",
                r.file,
                r.not_after.as_deref().unwrap_or("?")
            );
        }
    }
    EXIT_OK
}
