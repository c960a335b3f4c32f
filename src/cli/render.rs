//! `meshrender render`: write every cluster's files into the output directory, refusing
//! files meshrender does not own unless `--force`, and report per cluster.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::json;

use super::prepare::{prepare, prepare_stream};
use super::{Error, ExitCode, Format, Result, display, events};
use crate::output::{self, Status};
use crate::{model, pki};

/// How progress and deletion lines name the files that belong to no cluster.
const MESH_WIDE: &str = "mesh-wide files";

pub(super) fn run(
    spec: &Path,
    out: &Path,
    clusters: &[String],
    force: bool,
    format: Format,
) -> Result<ExitCode> {
    let scope: Option<BTreeSet<String>> =
        (!clusters.is_empty()).then(|| clusters.iter().cloned().collect());
    if out.as_os_str() == "-" {
        if format == Format::Json {
            return Err(Error::Message(
                "-o - prints the rendered YAML on stdout, where --format json would print events; use one or the other".to_owned(),
            ));
        }
        return stream(spec, scope.as_ref());
    }
    // One progress line per cluster, printed as soon as that cluster's files are rendered,
    // compared and staged (written to temp files); the whole render becomes durable together
    // at the end, or, if it is refused, the staged files are removed and nothing changed.
    let p = prepare(
        spec,
        out,
        pki::Mode::Generate,
        scope.as_ref(),
        output::Keep::Stage { force },
        |r| {
            if r.to_write + r.unchanged == 0 {
                return;
            }
            eprintln!(
                "{}: {} files ({} to write, {} unchanged)",
                r.cluster.as_deref().unwrap_or(MESH_WIDE),
                r.to_write + r.unchanged,
                r.to_write,
                r.unchanged
            );
        },
    )?;
    let unsealable: Vec<String> = p
        .analysis
        .entries
        .iter()
        .filter(|e| e.status == Status::NeedsKey)
        .map(|e| {
            let why = match p.analysis.kept.get(&e.path).and_then(|f| f.sealed.as_ref()) {
                Some(output::SealState::Unavailable { missing, .. }) => missing.as_str(),
                _ => "a key",
            };
            format!("{}: must be sealed anew and needs {why}", e.path)
        })
        .collect();
    if !unsealable.is_empty() {
        return Err(Error::Message(format!(
            "nothing was written: {} sealed Secret(s) cannot be sealed on this machine:\n  {}\nrender where pki.dir holds the keys (and the token files exist)",
            unsealable.len(),
            unsealable.join("\n  ")
        )));
    }
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
                events::file("refused", &e.path, &e.cluster);
            }
        }
        if format == Format::Json {
            events::summary("refused", json!({"refused": refusals.len()}));
        }
        return Err(Error::Refused);
    }
    if p.mesh.secrets == model::SecretsMode::Plaintext {
        eprintln!(
            "warning: secrets.mode is plaintext: private keys and bearer tokens are written to {} (labs only; use external-secrets for anything shared)",
            display(out)
        );
    }
    // Deleted files by cluster (`None`: mesh-wide files), for the lines after the commit.
    let mut deleted: BTreeMap<Option<&str>, usize> = BTreeMap::new();
    for e in p.analysis.entries.iter().filter(|e| e.removing) {
        *deleted.entry(e.cluster.as_deref()).or_default() += 1;
    }
    let report = p
        .staged
        .commit(out, &p.analysis)
        .map_err(|e| Error::Message(e.to_string()))?;
    for (cluster, n) in &deleted {
        match cluster {
            Some(c) if p.mesh.cluster(c).is_none() => {
                eprintln!("{c}: removed from the spec ({n} files deleted)");
            }
            _ => eprintln!("{}: {n} files deleted", cluster.unwrap_or(MESH_WIDE)),
        }
    }
    eprintln!(
        "{}: {} written, {} unchanged, {} deleted",
        display(out),
        report.written.len(),
        report.unchanged.len(),
        report.deleted.len()
    );
    if format == Format::Json {
        for e in &p.analysis.entries {
            let status = if e.removing {
                "deleted"
            } else if e.status == Status::Unchanged {
                "unchanged"
            } else {
                "written"
            };
            events::file(status, &e.path, &e.cluster);
        }
        events::summary(
            "ok",
            json!({"written": report.written.len(), "deleted": report.deleted.len(),
                   "unchanged": report.unchanged.len()}),
        );
    }
    Ok(ExitCode::Ok)
}

/// Whether a rendered path is YAML, so it belongs in the `-o -` stream.
fn is_yaml(path: &str) -> bool {
    path.ends_with(".yaml") || path.ends_with(".yml")
}

/// `render -o -`: every rendered YAML file of the clusters in scope (all files, mesh-wide ones
/// included, without `--cluster`) as one stream on stdout, in path order, each after
/// `---` and `# Source: PATH`. Files that are not YAML (the generated READMEs, `.sourceignore`)
/// are left out and named on stderr. Nothing is written; CA material is never created.
fn stream(spec: &Path, scope: Option<&BTreeSet<String>>) -> Result<ExitCode> {
    use std::io::Write;
    let (mesh, files) = prepare_stream(spec, scope)?;
    if mesh.secrets == model::SecretsMode::Plaintext {
        eprintln!(
            "warning: secrets.mode is plaintext: private keys and bearer tokens are in this stream (labs only; use external-secrets for anything shared)"
        );
    }
    let in_scope = |c: &Option<String>| match (scope, c) {
        (None, _) => true,
        (Some(s), Some(c)) => s.contains(c),
        (Some(_), None) => false,
    };
    let mut text = String::new();
    let (mut shown, mut skipped) = (0, Vec::new());
    for (path, f) in &files {
        if !in_scope(&f.cluster) {
            continue;
        }
        if !is_yaml(path) {
            skipped.push(path.as_str());
            continue;
        }
        let body = String::from_utf8_lossy(&f.bytes);
        let body = body.strip_prefix("---\n").unwrap_or(&body);
        text.push_str("---\n# Source: ");
        text.push_str(path);
        text.push('\n');
        text.push_str(body);
        if !body.ends_with('\n') {
            text.push('\n');
        }
        shown += 1;
    }
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| Error::Message(format!("stdout: {e}")))?;
    eprintln!(
        "{shown} YAML file{} on stdout; nothing written",
        if shown == 1 { "" } else { "s" }
    );
    if !skipped.is_empty() {
        eprintln!("not YAML, left out: {}", skipped.join(", "));
    }
    Ok(ExitCode::Ok)
}
