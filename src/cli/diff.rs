//! `meshrender diff`: a unified diff of what `render` would change, secret values redacted
//! unless `--show-secrets`.

use std::path::Path;

use super::prepare::prepare;
use super::{ExitCode, Result};
use crate::output::{self, Status};
use crate::pki;

pub(super) fn run(spec: &Path, out: &Path, show_secrets: bool) -> Result<ExitCode> {
    let p = prepare(spec, out, pki::Mode::ReadOnly, None)?;
    let drift = p.analysis.drift();
    for e in &drift {
        if e.status == Status::NeedsKey {
            eprintln!(
                "note: {}: sealed (SOPS); its public content changed or it was never sealed, and this machine lacks a key to seal it (render where the keys are)",
                e.path
            );
            continue;
        }
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
        Ok(ExitCode::Ok)
    } else {
        Ok(ExitCode::Drift)
    }
}
