//! What `render`, `check` and `diff` share: the validated mesh, the in-memory render, and its
//! comparison with the output directory.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::{Error, Result, display, warn};
use crate::output::{self, Analysis, RenderedFile};
use crate::{Failure, Options, load_mesh, model, pki, render_owned, tool_version};

pub(super) struct Prepared {
    pub mesh: model::Mesh,
    pub files: BTreeMap<String, RenderedFile>,
    pub analysis: Analysis,
}

pub(super) fn prepare(
    spec: &Path,
    out: &Path,
    mode: pki::Mode,
    scope: Option<&BTreeSet<String>>,
) -> Result<Prepared> {
    let (mesh, warnings) = load_mesh(spec, &display(spec))?;
    warn(&warnings);
    if let Some(scope) = scope {
        let unknown: Vec<&str> = scope
            .iter()
            .filter(|c| mesh.cluster(c).is_none())
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            let names: Vec<&str> = mesh.clusters.iter().map(|c| c.name.as_str()).collect();
            return Err(Error::Message(format!(
                "--cluster {}: not a cluster of this mesh (clusters: {})",
                unknown.join(", "),
                names.join(", ")
            )));
        }
    }
    let options = Options {
        reproduce: reproduce_command(spec, out),
    };
    let (files, material) = render_owned(&mesh, mode, &options)?;
    for f in &material.created {
        // The path as seen from the working directory (pki.dir is relative to the spec).
        eprintln!("pki: created {}", mesh.pki.dir.join(f).display());
    }
    let spec_bytes =
        std::fs::read(spec).map_err(|e| Failure::Other(format!("{}: {e}", display(spec))))?;
    let analysis = output::analyze(
        out,
        &files,
        scope,
        &tool_version(),
        &output::sha256_hex(&spec_bytes),
    )
    .map_err(|e| Error::Message(e.to_string()))?;
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
/// directory and normalized lexically (`..` resolved without following links).
fn relative_path(from: &Path, to: &Path) -> Option<String> {
    use std::path::{Component, PathBuf};
    let cwd = std::env::current_dir().ok()?;
    let norm = |p: &Path| -> PathBuf {
        let mut v = PathBuf::from("/");
        for c in cwd.join(p).components() {
            match c {
                Component::ParentDir => {
                    v.pop();
                }
                Component::Normal(s) => v.push(s),
                _ => {}
            }
        }
        v
    };
    let rel = pathdiff::diff_paths(norm(to), norm(from))?;
    let s = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/");
    (!s.is_empty() && !s.contains(char::is_whitespace)).then_some(s)
}
