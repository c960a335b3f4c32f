//! The only module that touches the output directory (DESIGN.md §3).
//!
//! It owns the ownership manifest `.meshrender/owned.json`, and decides, from a complete
//! in-memory render, what a run would add, change, prune or refuse ([`analyze`]); [`apply`]
//! then writes: each file through a temp file + rename in its own directory, unchanged files
//! untouched (their mtime stays), pruned files deleted with the directories they leave empty,
//! and the manifest last, as the commit point. A file not in the manifest is never touched,
//! and an owned file edited by hand is never overwritten or deleted, unless `--force`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

pub const MANIFEST: &str = ".meshrender/owned.json";
/// The manifest a render is about to make true, written before it touches any file and
/// removed once the manifest is written: after an interruption, the next run knows every
/// file it finds with these bytes as its own (a first render included) and finishes the job.
pub const PENDING: &str = ".meshrender/pending.json";
use crate::fsutil::{Batch, TMP_SUFFIX, write_atomic};
pub use crate::sops::SealRecord;

pub use crate::digest::sha256_hex;

/// One rendered file: its bytes and the cluster it belongs to (`None`: mesh-wide).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderedFile {
    pub bytes: Vec<u8>,
    pub cluster: Option<String>,
    /// Holds a private key or a token (plaintext mode): written with mode 0600.
    pub secret: bool,
    /// A Secret sealed with SOPS (`bytes` then are the sealed file, or empty when it cannot
    /// be sealed here).
    pub sealed: Option<SealState>,
}

/// A sealed file, as this run could render it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SealState {
    /// Sealed: the bytes (also in [`RenderedFile::bytes`]) and what the manifest records.
    Sealed { bytes: Vec<u8>, record: SealRecord },
    /// Its secret inputs or the data key are not here (CI): the file on disk stands if the
    /// manifest recorded the same public fingerprint for exactly those bytes.
    Unavailable {
        fingerprint: String,
        missing: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnedFile {
    pub path: String,
    pub sha256: String,
    pub cluster: Option<String>,
    /// Sealed with SOPS: its fingerprint, keyed plaintext digest and `lastmodified`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sops: Option<SealRecord>,
}

/// `.meshrender/owned.json`: sorted, no timestamps.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub tool: String,
    pub spec_sha256: String,
    pub files: Vec<OwnedFile>,
}

impl Manifest {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = serde_json::to_string_pretty(self).expect("manifest serializes");
        s.push('\n');
        s.into_bytes()
    }

    fn owned(&self) -> BTreeMap<&str, &OwnedFile> {
        self.files.iter().map(|f| (f.path.as_str(), f)).collect()
    }
}

/// What a run does (or, for `check`, would do) to one path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Rendered, not on disk: will be written.
    Added,
    /// Owned, untouched since meshrender wrote it, and the render differs: will be rewritten.
    Changed,
    /// On disk with exactly the rendered bytes.
    Unchanged,
    /// Owned, no longer rendered: will be deleted.
    Removed,
    /// Owned, but its bytes changed since meshrender wrote it (render refuses without --force).
    HandEdited,
    /// On disk, not owned, and not what meshrender would write (render refuses without --force).
    Foreign,
    /// A sealed (SOPS) file whose public content changed, or was never sealed, and this run
    /// lacks a key to seal it: drift for `check`; `render` stops (exit 2).
    NeedsKey,
}

impl Status {
    pub fn is_drift(self) -> bool {
        self != Status::Unchanged
    }

    pub fn word(self) -> &'static str {
        match self {
            Status::Added => "added",
            Status::Changed => "changed",
            Status::Unchanged => "unchanged",
            Status::Removed => "removed",
            Status::HandEdited => "hand-edited",
            Status::Foreign => "foreign",
            Status::NeedsKey => "needs-key",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub path: String,
    pub cluster: Option<String>,
    pub status: Status,
    /// For `hand-edited`/`foreign` entries that would be removed rather than rewritten.
    pub removing: bool,
}

#[derive(Clone, Debug)]
pub struct Analysis {
    /// Sorted by path.
    pub entries: Vec<Entry>,
    /// The manifest a successful apply writes.
    pub manifest: Manifest,
    /// True when the manifest on disk differs from `manifest` (or is missing).
    pub manifest_changed: bool,
    /// The directory has content but no manifest: a first render would take it over.
    pub unmanaged_nonempty: bool,
    /// No manifest on disk at all (a missing manifest is drift; a stale one is bookkeeping).
    pub manifest_missing: bool,
}

impl Analysis {
    /// Paths render must refuse to touch without `--force`.
    pub fn refusals(&self) -> Vec<&Entry> {
        self.entries
            .iter()
            .filter(|e| matches!(e.status, Status::HandEdited | Status::Foreign))
            .collect()
    }

    pub fn drift(&self) -> Vec<&Entry> {
        self.entries
            .iter()
            .filter(|e| e.status.is_drift())
            .collect()
    }
}

#[derive(Debug)]
pub enum OutputError {
    Io(String),
    /// The manifest exists but cannot be read as one.
    BadManifest(String),
}

impl std::fmt::Display for OutputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OutputError::Io(s) | OutputError::BadManifest(s) => f.write_str(s),
        }
    }
}

fn io(path: &Path, e: std::io::Error) -> OutputError {
    OutputError::Io(format!("{}: {e}", path.display()))
}

pub fn read_manifest(out: &Path) -> Result<Option<Manifest>, OutputError> {
    read_manifest_at(out, MANIFEST)
}

fn read_manifest_at(out: &Path, rel: &str) -> Result<Option<Manifest>, OutputError> {
    let path = out.join(rel);
    let m: Manifest = match std::fs::read(&path) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| {
            OutputError::BadManifest(format!(
                "{}: not a meshrender ownership manifest ({e}); restore it from version control, or remove it and render with --force",
                path.display()
            ))
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(&path, e)),
    };
    // The manifest lives in a repository others can edit: a path in it must name a file
    // inside the output directory, or `render` would delete (and `diff` print) it elsewhere.
    if let Some(bad) = m.files.iter().find(|f| !is_confined(&f.path)) {
        return Err(OutputError::BadManifest(format!(
            "{}: lists `{}`, which is not a relative path inside the output directory; meshrender never reads, writes or deletes outside it (restore the manifest from version control)",
            path.display(),
            bad.path.escape_debug()
        )));
    }
    Ok(Some(m))
}

/// A manifest or rendered path that stays inside the output directory: relative, `/`
/// separated, no empty, `.` or `..` component, no backslash or NUL.
pub fn is_confined(rel: &str) -> bool {
    !rel.is_empty()
        && !rel.starts_with('/')
        && !rel.contains(['\\', '\0'])
        && rel
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
}

/// Refuses a path of the output directory whose parent directories (or the file itself) is
/// a symbolic link: meshrender never writes or deletes through one. `checked` caches the
/// directories already known to be real.
fn no_links(out: &Path, rel: &str, checked: &mut BTreeSet<String>) -> Result<(), OutputError> {
    // The directories only: the file itself is opened with O_NOFOLLOW by read_opt.
    let Some((dirs, _file)) = rel.rsplit_once('/') else {
        return Ok(());
    };
    let mut prefix = String::new();
    for (i, part) in dirs.split('/').enumerate() {
        if i > 0 {
            prefix.push('/');
        }
        prefix.push_str(part);
        if checked.contains(&prefix) {
            continue;
        }
        let p = out.join(&prefix);
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(OutputError::Io(format!(
                    "{}: is a symbolic link; meshrender does not write, read or delete through links in the output directory (replace it with a real directory or file)",
                    p.display()
                )));
            }
            Ok(m) if m.is_dir() => {
                checked.insert(prefix.clone());
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io(&p, e)),
        }
    }
    Ok(())
}

/// The bytes of a file of the output directory, `None` when absent. The file itself is
/// opened without following a symbolic link (`O_NOFOLLOW`: one syscall, no extra `lstat`);
/// its directories were checked by [`no_links`].
fn read_opt(path: &Path) -> Result<Option<Vec<u8>>, OutputError> {
    use std::io::Read;
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NOFOLLOW);
    }
    match opts.open(path) {
        Ok(mut f) => {
            let mut b = Vec::new();
            match f.read_to_end(&mut b) {
                Ok(_) => Ok(Some(b)),
                Err(e) if e.kind() == std::io::ErrorKind::IsADirectory => Ok(Some(Vec::new())),
                Err(e) => Err(io(path, e)),
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::IsADirectory => Ok(Some(Vec::new())),
        #[cfg(unix)]
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => Err(OutputError::Io(format!(
            "{}: is a symbolic link; meshrender does not write, read or delete through links in the output directory (replace it with a real file)",
            path.display()
        ))),
        Err(e) => Err(io(path, e)),
    }
}

/// The bytes of one file of the output directory as it is now (`None`: absent), read the way
/// [`analyze`] reads them (never through a link): what `diff` and the review compare with.
pub fn read_existing(out: &Path, rel: &str) -> Result<Option<Vec<u8>>, OutputError> {
    if !is_confined(rel) {
        return Ok(None);
    }
    no_links(out, rel, &mut BTreeSet::new())?;
    read_opt(&out.join(rel))
}

fn dir_has_content(out: &Path) -> Result<bool, OutputError> {
    match std::fs::read_dir(out) {
        Ok(mut it) => Ok(it.next().is_some()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io(out, e)),
    }
}

/// Compares the render with the directory and its manifest. `scope`: when given, only files
/// of these clusters are rendered and pruned; other owned files stay as they are.
pub fn analyze(
    out: &Path,
    rendered: &BTreeMap<String, RenderedFile>,
    scope: Option<&BTreeSet<String>>,
    tool: &str,
    spec_sha256: &str,
) -> Result<Analysis, OutputError> {
    let old = read_manifest(out)?;
    let pending = read_manifest_at(out, PENDING)?;
    let unmanaged_nonempty = old.is_none() && pending.is_none() && dir_has_content(out)?;
    // sha256 of the bytes an interrupted render meant to write, by path: ours too.
    let intended: BTreeMap<&str, &str> = pending
        .iter()
        .flat_map(|m| &m.files)
        .map(|f| (f.path.as_str(), f.sha256.as_str()))
        .collect();
    let empty = Manifest {
        tool: String::new(),
        spec_sha256: String::new(),
        files: Vec::new(),
    };
    let old_ref = old.as_ref().unwrap_or(&empty);
    let owned = old_ref.owned();
    let in_scope = |cluster: &Option<String>| match (scope, cluster) {
        (None, _) => true,
        (Some(s), Some(c)) => s.contains(c),
        (Some(_), None) => false,
    };

    let mut entries = Vec::new();
    let mut new_files: BTreeMap<String, OwnedFile> = BTreeMap::new();
    // The output directory itself may be a link (the user's choice); nothing below it.
    let mut real_dirs = BTreeSet::new();
    for (path, f) in rendered {
        if !in_scope(&f.cluster) {
            continue;
        }
        no_links(out, path, &mut real_dirs)?;
        let disk = read_opt(&out.join(path))?;
        let ours = |d: &[u8]| {
            let h = sha256_hex(d);
            owned.get(path.as_str()).is_some_and(|o| o.sha256 == h)
                || intended.get(path.as_str()).is_some_and(|s| *s == h)
        };
        if let Some(SealState::Unavailable { fingerprint, .. }) = &f.sealed {
            // Cannot be sealed here: the file stands if it is the one sealed for the same
            // public content; otherwise it is stale and only a render with the keys can say how.
            let kept = owned.get(path.as_str()).filter(|o| {
                o.sops
                    .as_ref()
                    .is_some_and(|r| &r.fingerprint == fingerprint)
                    && disk.as_deref().is_some_and(|d| sha256_hex(d) == o.sha256)
            });
            entries.push(Entry {
                path: path.clone(),
                cluster: f.cluster.clone(),
                status: if kept.is_some() {
                    Status::Unchanged
                } else {
                    Status::NeedsKey
                },
                removing: false,
            });
            if let Some(o) = kept {
                new_files.insert(path.clone(), (*o).clone());
            } else if let Some(o) = owned.get(path.as_str()) {
                new_files.insert(path.clone(), (*o).clone());
            }
            continue;
        }
        let status = match (&disk, owned.get(path.as_str())) {
            (None, _) => Status::Added,
            (Some(d), _) if *d == f.bytes => Status::Unchanged,
            (Some(d), _) if ours(d) => Status::Changed,
            (Some(_), Some(_)) => Status::HandEdited,
            (Some(_), None) => Status::Foreign,
        };
        entries.push(Entry {
            path: path.clone(),
            cluster: f.cluster.clone(),
            status,
            removing: false,
        });
        new_files.insert(
            path.clone(),
            OwnedFile {
                path: path.clone(),
                sha256: sha256_hex(&f.bytes),
                cluster: f.cluster.clone(),
                sops: match &f.sealed {
                    Some(SealState::Sealed { record, .. }) => Some(record.clone()),
                    _ => None,
                },
            },
        );
    }
    // Owned files no longer rendered: the manifest's, and those an interrupted render meant
    // to write (pending) that this render does not.
    let mut candidates: Vec<&OwnedFile> = old_ref.files.iter().collect();
    if let Some(p) = &pending {
        candidates.extend(
            p.files
                .iter()
                .filter(|f| !owned.contains_key(f.path.as_str())),
        );
    }
    for o in candidates {
        if rendered.get(&o.path).is_some_and(|f| in_scope(&f.cluster)) {
            continue;
        }
        if !in_scope(&o.cluster) || rendered.contains_key(&o.path) {
            // Out of scope: keep ownership as it was.
            new_files.entry(o.path.clone()).or_insert_with(|| o.clone());
            continue;
        }
        no_links(out, &o.path, &mut real_dirs)?;
        match read_opt(&out.join(&o.path))? {
            None => {} // already gone (e.g. an interrupted prune): just forget it
            Some(d) => entries.push(Entry {
                path: o.path.clone(),
                cluster: o.cluster.clone(),
                status: if sha256_hex(&d) == o.sha256
                    || intended.get(o.path.as_str()) == Some(&sha256_hex(&d).as_str())
                {
                    Status::Removed
                } else {
                    Status::HandEdited
                },
                removing: true,
            }),
        }
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    let manifest = Manifest {
        tool: tool.to_owned(),
        spec_sha256: spec_sha256.to_owned(),
        files: new_files.into_values().collect(),
    };
    let manifest_changed = old.as_ref() != Some(&manifest);
    Ok(Analysis {
        entries,
        manifest,
        manifest_changed,
        unmanaged_nonempty,
        manifest_missing: old.is_none(),
    })
}

/// What [`apply`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ApplyReport {
    pub written: Vec<String>,
    pub deleted: Vec<String>,
    pub unchanged: Vec<String>,
}

/// Carries out an analysis (the caller has already refused or been forced). Writes changed
/// files, deletes pruned ones, then the manifest. Leftover temp files of an interrupted run
/// are removed first.
pub fn apply(
    out: &Path,
    analysis: &Analysis,
    rendered: &BTreeMap<String, RenderedFile>,
) -> Result<ApplyReport, OutputError> {
    apply_with_progress(out, analysis, rendered, |_| {})
}

/// [`apply`], calling `staged(cluster)` as soon as the last file of that cluster is staged
/// (its new bytes written to temp files, or deleted): progress as it happens. Everything
/// staged becomes durable together, in [`fsutil::Batch::commit`], before this returns.
pub fn apply_with_progress(
    out: &Path,
    analysis: &Analysis,
    rendered: &BTreeMap<String, RenderedFile>,
    mut staged: impl FnMut(&str),
) -> Result<ApplyReport, OutputError> {
    std::fs::create_dir_all(out).map_err(|e| io(out, e))?;
    remove_stale_temps(out)?;
    let touches = analysis
        .entries
        .iter()
        .any(|e| e.removing || e.status != Status::Unchanged);
    if touches {
        let p = out.join(PENDING);
        write_atomic(&p, &analysis.manifest.to_bytes(), 0o644).map_err(|err| io(&p, err))?;
    }
    let mut report = ApplyReport::default();
    let mut batch = Batch::new(out);
    // the index of the last entry of each cluster's directory (its few gitops/ files follow)
    let mut last: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, e) in analysis.entries.iter().enumerate() {
        if let Some(c) = &e.cluster
            && e.path.starts_with("clusters/")
        {
            last.insert(c.as_str(), i);
        }
    }
    for (i, e) in analysis.entries.iter().enumerate() {
        if e.removing {
            let p = out.join(&e.path);
            std::fs::remove_file(&p).map_err(|err| io(&p, err))?;
            remove_empty_parents(out, &p);
            report.deleted.push(e.path.clone());
        } else if e.status == Status::Unchanged {
            // A secret file from before 0600 was enforced: tighten it without rewriting.
            #[cfg(unix)]
            if rendered[&e.path].secret {
                use std::os::unix::fs::PermissionsExt;
                let p = out.join(&e.path);
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600))
                    .map_err(|err| io(&p, err))?;
            }
            report.unchanged.push(e.path.clone());
        } else {
            let f = &rendered[&e.path];
            let p = out.join(&e.path);
            batch
                .stage(&p, &f.bytes, if f.secret { 0o600 } else { 0o644 })
                .map_err(|err| io(&p, err))?;
            report.written.push(e.path.clone());
        }
        if let Some(c) = &e.cluster
            && last.get(c.as_str()) == Some(&i)
        {
            staged(c);
        }
    }
    // Every changed file at once: two durability barriers in all, not one fsync per file
    // (fsutil's module docs give the reasoning); the manifest follows, last.
    batch.commit().map_err(|err| io(out, err))?;
    if analysis.manifest_changed {
        let p = out.join(MANIFEST);
        write_atomic(&p, &analysis.manifest.to_bytes(), 0o644).map_err(|err| io(&p, err))?;
    }
    // The manifest is true now: the journal of intentions goes (also one left by an
    // interrupted run that this one completed).
    let pending = out.join(PENDING);
    match std::fs::remove_file(&pending) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(&pending, e)),
    }
    Ok(report)
}

fn remove_stale_temps(out: &Path) -> Result<(), OutputError> {
    for e in walkdir::WalkDir::new(out)
        .into_iter()
        .filter_map(Result::ok)
    {
        let name = e.file_name().to_string_lossy();
        if e.file_type().is_file() && name.starts_with('.') && name.ends_with(TMP_SUFFIX) {
            std::fs::remove_file(e.path()).map_err(|err| io(e.path(), err))?;
        }
    }
    Ok(())
}

/// Removes the directories between `file` and `out` that are now empty.
fn remove_empty_parents(out: &Path, file: &Path) {
    let mut dir = file.parent();
    while let Some(d) = dir {
        if d == out || !d.starts_with(out) {
            break;
        }
        if std::fs::remove_dir(d).is_err() {
            break; // not empty (or not ours to remove)
        }
        dir = d.parent();
    }
}

/// Text of `bytes` with Secret values replaced by short hashes, so diffs show which values
/// changed without showing them. Only files holding a `kind: Secret` with data are changed.
pub fn redact_secrets(text: &str) -> String {
    let is_secret = text.lines().any(|l| l == "kind: Secret")
        && text.lines().any(|l| l == "data:" || l == "stringData:");
    if !is_secret {
        return text.to_owned();
    }
    let mut out = String::new();
    let mut in_data = false;
    for line in text.lines() {
        if line == "data:" || line == "stringData:" {
            in_data = true;
            out.push_str(line);
        } else if in_data && line.starts_with(' ') {
            let indent = line.len() - line.trim_start().len();
            let body = line.trim_start();
            let short = &sha256_hex(body.as_bytes())[..12];
            match body.split_once(": ") {
                Some((k, v)) if indent == 2 && v != "|" => out.push_str(&format!(
                    "{}{k}: <redacted sha256:{short}>",
                    &line[..indent]
                )),
                Some((_, "|")) => out.push_str(line),
                _ => out.push_str(&format!(
                    "{}<redacted line sha256:{short}>",
                    &line[..indent]
                )),
            }
        } else {
            in_data = false;
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_values_but_keeps_keys() {
        let t =
            "kind: Secret\ndata:\n  ca-key.pem: c2VjcmV0\nstringData:\n  c2: |\n    token: abc\n";
        let r = redact_secrets(t);
        assert!(!r.contains("c2VjcmV0") && !r.contains("abc"), "{r}");
        assert!(r.contains("ca-key.pem: <redacted sha256:"));
        assert!(r.contains("  c2: |"));
        let plain = "kind: ConfigMap\ndata:\n  a: b\n";
        assert_eq!(redact_secrets(plain), plain);
    }
}
