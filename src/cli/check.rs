//! `meshrender check`: render in memory and list what differs from the output directory;
//! exit 1 on any difference. Never writes and never generates keys.

use std::path::Path;

use serde_json::json;

use super::prepare::prepare;
use super::{ExitCode, Format, Result, display, events, spec_name};
use crate::{output, pki};

pub(super) fn run(spec: &Path, out: &Path, format: Format) -> Result<ExitCode> {
    let p = prepare(spec, out, pki::Mode::ReadOnly, None)?;
    let drift = p.analysis.drift();
    let manifest_stale = p.analysis.manifest_changed;
    for e in &drift {
        if format == Format::Json {
            events::file(e.status.word(), &e.path, &e.cluster);
        } else {
            println!("{:<12} {}", e.status.word(), e.path);
        }
    }
    if manifest_stale && drift.is_empty() {
        if format == Format::Json {
            events::file("changed", output::MANIFEST, &None);
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
        events::summary(
            if drifted { "drift" } else { "ok" },
            json!({"drift": drift.len()}),
        );
    }
    if drifted {
        eprintln!(
            "{}: out of date with {} ({} path{}); run `meshrender render` to update it",
            display(out),
            spec_name(spec),
            drift.len().max(1),
            if drift.len() == 1 { "" } else { "s" }
        );
        Ok(ExitCode::Drift)
    } else {
        eprintln!("{}: up to date", display(out));
        Ok(ExitCode::Ok)
    }
}
