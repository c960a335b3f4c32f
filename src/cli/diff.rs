//! `meshrender diff`: a unified diff of what `render` would change, secret values redacted
//! unless `--show-secrets`; with `--summary` (or `--format markdown|json`) the changed
//! objects and their runtime effects instead (`cli::review`, `impact`). The manifest's own
//! bookkeeping (spec digest, tool version, hashes) is not a change: exit 0 when no rendered
//! file differs.

use std::path::Path;

use super::prepare::prepare;
use super::{DiffFormat, Error, ExitCode, Result, display, events, review};
use crate::output::{self, Status};
use crate::pki;

pub(super) fn run(
    spec: &Path,
    out: &Path,
    show_secrets: bool,
    summary: bool,
    format: DiffFormat,
) -> Result<ExitCode> {
    let p = prepare(
        spec,
        out,
        pki::Mode::ReadOnly,
        None,
        output::Keep::Drift,
        |_| {},
    )?;
    let drift = p.analysis.drift();
    let missing_manifest = p.analysis.manifest_missing && p.analysis.rendered > 0;
    let changed = !drift.is_empty() || missing_manifest;
    if summary || format != DiffFormat::Text {
        let r = review::review(&p, out)?;
        match format {
            DiffFormat::Text => review::print_text(&r),
            DiffFormat::Markdown => print!("{}", review::markdown(&r)),
            DiffFormat::Json => {
                review::print_events(&r);
                let mut counts = review::counts(&r);
                counts["drift"] = serde_json::json!(drift.len());
                events::summary(if changed { "drift" } else { "ok" }, counts);
            }
        }
    } else {
        unified(&p, out, show_secrets)?;
    }
    if missing_manifest {
        eprintln!("note: {} is missing; render writes it", output::MANIFEST);
    }
    if changed {
        Ok(ExitCode::Drift)
    } else {
        note_unchanged(out, p.analysis.manifest_changed);
        Ok(ExitCode::Ok)
    }
}

/// The message of a diff/check that finds nothing rendered changed.
pub(super) fn note_unchanged(out: &Path, manifest_stale: bool) {
    if manifest_stale {
        eprintln!(
            "{}: nothing rendered changed (the spec or tool change alters no rendered object; only {} bookkeeping differs, the next render refreshes it)",
            display(out),
            output::MANIFEST
        );
    } else {
        eprintln!("{}: nothing rendered changed", display(out));
    }
}

fn unified(p: &super::prepare::Prepared, out: &Path, show_secrets: bool) -> Result<()> {
    for e in p.analysis.drift() {
        if e.status == Status::NeedsKey {
            eprintln!(
                "note: {}: sealed (SOPS); its public content changed or it was never sealed, and this machine lacks a key to seal it (render where the keys are)",
                e.path
            );
            continue;
        }
        let old = output::read_existing(out, &e.path)
            .map_err(|x| Error::Message(x.to_string()))?
            .unwrap_or_default();
        let new = if e.removing {
            Vec::new()
        } else {
            p.analysis
                .kept
                .get(&e.path)
                .map(|f| f.bytes.clone())
                .unwrap_or_default()
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
    Ok(())
}
