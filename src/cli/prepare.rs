//! What `render`, `check` and `diff` share: the validated mesh, the in-memory render, and its
//! comparison with the output directory.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::{Error, Result, display, spec_name, warn};
use crate::output::{self, Analysis, ChunkReport, Keep, RenderedFile};
use crate::{
    Options, load_mesh_bytes, model, pki, read_spec, render_chunks, render_owned, tool_version,
};

pub(super) struct Prepared {
    pub mesh: model::Mesh,
    /// The comparison; `analysis.kept` holds the rendered files the command asked to keep.
    pub analysis: Analysis,
    /// `render`: the files staged while the chunks arrived, to commit (or drop, if refused).
    pub staged: output::Staged,
    /// Held until the command ends: `pki.dir` and the output directory are ours alone.
    _locks: Vec<std::fs::File>,
}

/// The nearest existing directory at or above `p` (what to lock before `p` exists).
fn existing_dir(p: &Path) -> std::path::PathBuf {
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let mut d = abs.as_path();
    loop {
        if d.is_dir() {
            return d.to_path_buf();
        }
        match d.parent() {
            Some(parent) => d = parent,
            None => return abs,
        }
    }
}

/// Locks directory `dir` (the nearest existing ancestor of it): exclusively for a command
/// that writes, shared for one that only reads. A second meshrender on the same directory waits,
/// saying so; two first renders can no longer both generate a root.
fn lock(dir: &Path, exclusive: bool) -> Result<std::fs::File> {
    let target = existing_dir(dir);
    let f = std::fs::File::open(&target)
        .map_err(|e| Error::Message(format!("{}: cannot open to lock: {e}", target.display())))?;
    let tried = if exclusive {
        f.try_lock()
    } else {
        f.try_lock_shared()
    };
    match tried {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            eprintln!(
                "waiting: another meshrender is using {} (it holds the lock)",
                target.display()
            );
            let r = if exclusive { f.lock() } else { f.lock_shared() };
            r.map_err(|e| Error::Message(format!("{}: cannot lock: {e}", target.display())))?;
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(Error::Message(format!(
                "{}: cannot lock: {e}",
                target.display()
            )));
        }
    }
    Ok(f)
}

/// `pki.dir` inside the output directory would put the CA keys into the GitOps tree.
fn pki_outside_output(mesh: &model::Mesh, out: &Path) -> Result<()> {
    let lexical = |p: &Path| -> std::path::PathBuf {
        let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        let mut v = std::path::PathBuf::new();
        for c in abs.components() {
            match c {
                std::path::Component::ParentDir => {
                    v.pop();
                }
                std::path::Component::CurDir => {}
                c => v.push(c),
            }
        }
        // resolve links where the path exists, so a link cannot hide the nesting
        std::fs::canonicalize(&v).unwrap_or(v)
    };
    let (pki, out_abs) = (lexical(&mesh.pki.dir), lexical(out));
    if pki.starts_with(&out_abs) {
        return Err(Error::Message(format!(
            "pki.dir {} is inside the output directory {}: the CA keys would land in the GitOps tree; put pki.dir beside the spec, outside {}",
            mesh.pki.dir.display(),
            display(out),
            display(out)
        )));
    }
    Ok(())
}

/// Loads the spec, locks, then renders the mesh one cluster at a time, each chunk compared
/// with the output directory (and, for `render`, staged) as it arrives and then dropped:
/// `progress` gets each chunk's counts as it is done. `keep` says what is kept of the files.
pub(super) fn prepare(
    spec: &Path,
    out: &Path,
    mode: pki::Mode,
    scope: Option<&BTreeSet<String>>,
    keep: Keep,
    mut progress: impl FnMut(&ChunkReport),
) -> Result<Prepared> {
    // Read once: a spec on standard input cannot be read twice (and a file could change).
    let spec_bytes = read_spec(spec, &spec_name(spec))?;
    let spec_sha256 = output::sha256_hex(&spec_bytes);
    let (mesh, warnings) = load_mesh_bytes(spec_bytes, spec, &spec_name(spec))?;
    warn(&warnings);
    pki_outside_output(&mesh, out)?;
    // pki.dir first, then the output directory: one order, so two commands never deadlock.
    // Both targets are chosen before either is locked (one directory is locked once: a
    // second lock of it from this process would wait for itself).
    let exclusive = mode == pki::Mode::Generate;
    // The parents are locked, not the directories themselves, so the lock is the same file
    // whether or not pki.dir or the output exist yet (a render creating them and one
    // starting a moment later must meet on one lock).
    let parent = |p: &Path| {
        let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        existing_dir(abs.parent().unwrap_or(&abs))
    };
    let (pki_target, out_target) = (parent(&mesh.pki.dir), parent(out));
    let mut locks = vec![lock(&pki_target, exclusive)?];
    if out_target != pki_target {
        locks.push(lock(&out_target, exclusive)?);
    }
    check_scope(&mesh, scope)?;
    // Sealed files (SOPS) as the manifest records them: unchanged plaintext keeps its
    // `lastmodified`; without keys (CI) the file stands if its fingerprint is unchanged.
    let mut analyzer =
        output::Analyzer::new(out, scope, keep).map_err(|e| Error::Message(e.to_string()))?;
    let options = Options {
        reproduce: reproduce_command(spec, out),
        sealed: analyzer.sealed_records(),
    };
    let material = render_chunks(&mesh, mode, &options, |chunk| {
        let r = analyzer
            .add(&chunk)
            .map_err(|e| crate::Failure::Other(e.to_string()))?;
        progress(&r);
        Ok(())
    })?;
    report_material(&mesh, &material);
    let (analysis, staged) = analyzer
        .finish(&tool_version(), &spec_sha256)
        .map_err(|e| Error::Message(e.to_string()))?;
    Ok(Prepared {
        mesh,
        analysis,
        staged,
        _locks: locks,
    })
}

/// `--cluster` names must be clusters of the mesh.
fn check_scope(mesh: &model::Mesh, scope: Option<&BTreeSet<String>>) -> Result<()> {
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
    Ok(())
}

/// Warnings about loose CA keys, and the CA files a render created.
fn report_material(mesh: &model::Mesh, material: &pki::Material) {
    for k in &material.loose_keys {
        eprintln!(
            "warning: {} can be read by others than its owner; run `chmod 600` on it (a CA key)",
            mesh.pki.dir.join(k).display()
        );
    }
    for f in &material.created {
        // The path as seen from the working directory (pki.dir is relative to the spec).
        eprintln!("pki: created {}", mesh.pki.dir.join(f).display());
    }
}

/// `render -o -`: the validated mesh and its render in memory, with the CA material read and
/// never created (`pki.dir` holds a shared lock, as for `check`; nothing is written).
pub(super) fn prepare_stream(
    spec: &Path,
    scope: Option<&BTreeSet<String>>,
) -> Result<(model::Mesh, BTreeMap<String, RenderedFile>)> {
    let (mesh, warnings) = crate::load_mesh(spec, &spec_name(spec))?;
    warn(&warnings);
    let abs = std::path::absolute(&mesh.pki.dir).unwrap_or_else(|_| mesh.pki.dir.clone());
    let _lock = lock(&existing_dir(abs.parent().unwrap_or(&abs)), false)?;
    check_scope(&mesh, scope)?;
    let options = Options::default();
    let (files, material) = match render_owned(&mesh, pki::Mode::ReadOnly, &options) {
        Ok(r) => r,
        Err(crate::Failure::Pki(e)) => {
            return Err(Error::Message(format!(
                "render -o - never creates CA material, and {} is not complete:\n  {}\nrun `meshrender render {} -o DIR` once first (it creates the CA), then render to stdout",
                mesh.pki.dir.display(),
                e.to_string().replace('\n', "\n  "),
                display(spec)
            )));
        }
        Err(e) => return Err(e.into()),
    };
    report_material(&mesh, &material);
    let unsealed: Vec<&str> = files
        .iter()
        .filter(|(_, f)| matches!(f.sealed, Some(output::SealState::Unavailable { .. })))
        .map(|(p, _)| p.as_str())
        .collect();
    if !unsealed.is_empty() {
        return Err(Error::Message(format!(
            "render -o - cannot seal {} here (secrets.mode: sops needs the CA keys, token files and pki.dir/sops-data-key.pem): {}",
            unsealed.len(),
            unsealed.join(", ")
        )));
    }
    Ok((mesh, files))
}

/// `meshrender render <spec> -o .` with the spec's path relative to the output directory, so
/// the command is exact when run there and the same wherever the tree was rendered from.
pub fn reproduce_command(spec: &Path, out: &Path) -> Option<String> {
    if crate::is_stdin(spec) {
        return None;
    }
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
