//! `meshrender check`: render in memory and list what differs from the output directory;
//! exit 1 on any difference. Never writes and never generates keys. With `--format json`,
//! each drifted path is a `file` event, each changed object an `object` event (`impact`).
//! The manifest's own bookkeeping (spec digest, tool version) is not drift.

use std::path::Path;

use super::prepare::prepare;
use super::{ExitCode, Format, Result, display, events, review, spec_name};
use crate::{output, pki};

pub(super) fn run(spec: &Path, out: &Path, format: Format) -> Result<ExitCode> {
    // The text form names paths only; the JSON form reviews the changed objects.
    let keep = if format == Format::Json {
        output::Keep::Drift
    } else {
        output::Keep::Nothing
    };
    let p = prepare(spec, out, pki::Mode::ReadOnly, None, keep, |_| {})?;
    let drift = p.analysis.drift();
    let missing_manifest = p.analysis.manifest_missing && p.analysis.rendered > 0;
    for e in &drift {
        if format == Format::Json {
            events::file(e.status.word(), &e.path, &e.cluster);
        } else {
            println!("{:<12} {}", e.status.word(), e.path);
        }
    }
    if missing_manifest {
        if format == Format::Json {
            events::file("added", output::MANIFEST, &None);
        } else {
            println!("{:<12} {}", "added", output::MANIFEST);
        }
    }
    let drifted = !drift.is_empty() || missing_manifest;
    if format == Format::Json {
        let r = review::review(&p, out)?;
        review::print_events(&r);
        let mut counts = review::counts(&r);
        counts["drift"] = serde_json::json!(drift.len() + usize::from(missing_manifest));
        events::summary(if drifted { "drift" } else { "ok" }, counts);
    }
    if drifted {
        let n = drift.len() + usize::from(missing_manifest);
        eprintln!(
            "{}: out of date with {} ({} path{}); run `meshrender render` to update it",
            display(out),
            spec_name(spec),
            n,
            if n == 1 { "" } else { "s" }
        );
        Ok(ExitCode::Drift)
    } else {
        if p.analysis.manifest_changed {
            super::diff::note_unchanged(out, true);
        }
        eprintln!("{}: up to date", display(out));
        Ok(ExitCode::Ok)
    }
}
