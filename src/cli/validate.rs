//! `meshrender validate`: parse and validate a spec, printing every problem at once.

use std::path::Path;

use super::{ExitCode, Result, display, warn};
use crate::load_mesh;

pub(super) fn run(spec: &Path) -> Result<ExitCode> {
    let (mesh, warnings) = load_mesh(spec, &display(spec))?;
    warn(&warnings);
    let n = mesh.clusters.len();
    eprintln!(
        "{}: ok: mesh {} for Istio {}, {n} cluster{}",
        display(spec),
        mesh.mesh_id,
        mesh.version,
        if n == 1 { "" } else { "s" }
    );
    Ok(ExitCode::Ok)
}
