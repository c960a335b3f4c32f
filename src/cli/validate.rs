//! `meshrender validate`: parse and validate a spec, printing every problem at once (text on
//! stderr, or `--format json` diagnostic events on stdout).

use std::path::Path;

use serde_json::json;

use super::{ExitCode, Format, Result, events, spec_name, warn};
use crate::load_mesh;

pub(super) fn run(spec: &Path, format: Format) -> Result<ExitCode> {
    let (mesh, warnings) = load_mesh(spec, &spec_name(spec))?;
    warn(&warnings);
    let n = mesh.clusters.len();
    if format == Format::Json {
        events::diagnostics(&warnings);
        events::summary(
            "ok",
            json!({"errors": 0, "warnings": warnings.diagnostics.items.len(),
                   "meshID": mesh.mesh_id, "istio": mesh.version.to_string(), "clusters": n}),
        );
    }
    eprintln!(
        "{}: ok: mesh {} for Istio {}, {n} cluster{}",
        spec_name(spec),
        mesh.mesh_id,
        mesh.version,
        if n == 1 { "" } else { "s" }
    );
    Ok(ExitCode::Ok)
}
