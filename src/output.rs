//! The only module that touches the output directory (DESIGN.md §3).
//!
//! It owns the ownership manifest `.meshrender/owned.json`, and decides, from the render
//! as it arrives one cluster at a time ([`Analyzer`]), what a run would add, change, prune or
//! refuse; [`Staged::commit`] then writes: each file through a temp file + rename in its own
//! directory, unchanged files untouched (their mtime stays), pruned files deleted with the
//! directories they leave empty, and the manifest last, as the commit point. A file not in the manifest is never touched,
//! and an owned file edited by hand is never overwritten or deleted, unless `--force`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

pub const MANIFEST: &str = ".meshrender/owned.json";
/// The manifest a render is about to make true, written before it touches any file and
/// removed once the manifest is written: after an interruption, the next run knows every
/// file it finds with these bytes as its own (a first render included) and finishes the job.
pub const PENDING: &str = ".meshrender/pending.json";
use crate::fsutil::{Batch, is_temp_name, write_atomic};
pub use crate::sops::SealRecord;

pub use crate::digest::sha256_hex;

/// One rendered file: its bytes and the cluster it belongs to (`None`: mesh-wide).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderedFile {
    pub bytes: Vec<u8>,
    /// SHA-256 of `bytes`, hex, as the manifest records it; computed where the file is
    /// rendered ([`RenderedFile::new`]), on the render thread, not by the writer.
    pub sha256: String,
    pub cluster: Option<String>,
    /// Holds a private key or a token (plaintext mode): written with mode 0600.
    pub secret: bool,
    /// A Secret sealed with SOPS (`bytes` then are the sealed file, or empty when it cannot
    /// be sealed here).
    pub sealed: Option<SealState>,
}

impl RenderedFile {
    /// A rendered file and its digest.
    pub fn new(
        bytes: Vec<u8>,
        cluster: Option<String>,
        secret: bool,
        sealed: Option<SealState>,
    ) -> Self {
        RenderedFile {
            sha256: sha256_hex(&bytes),
            bytes,
            cluster,
            secret,
            sealed,
        }
    }
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
    pub sops: Option<Box<SealRecord>>,
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
    /// The manifest a successful commit writes.
    pub manifest: Manifest,
    /// True when the manifest on disk differs from `manifest` (or is missing).
    pub manifest_changed: bool,
    /// The directory has content but no manifest: a first render would take it over.
    pub unmanaged_nonempty: bool,
    /// No manifest on disk at all (a missing manifest is drift; a stale one is bookkeeping).
    pub manifest_missing: bool,
    /// How many files the render produced (in scope or not).
    pub rendered: usize,
    /// What [`Keep`] asked to keep of the rendered files, by path.
    pub kept: BTreeMap<String, RenderedFile>,
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
    // Read as any file of the output is (bounded in size, no symbolic link followed).
    let Some(b) = read_opt(&path)? else {
        return Ok(None);
    };
    let m: Manifest = serde_json::from_slice(&b).map_err(|e| {
        OutputError::BadManifest(format!(
            "{}: not a meshrender ownership manifest ({e}); restore it from version control, or remove it and render with --force",
            path.display()
        ))
    })?;
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

/// The largest file of the output directory `check`, `diff` and `render` read (1 GiB): far
/// above anything meshrender writes (the README of a 10,000-cluster mesh is tens of MB), so
/// a larger file was not written by meshrender and is an error.
const MAX_OUTPUT_FILE: u64 = 1 << 30;

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
        // O_NONBLOCK: a FIFO planted in the output must not hang the open (no effect on a
        // regular file); it is refused below.
        opts.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    match opts.open(path) {
        Ok(mut f) => {
            // The size from one `fstat` sizes the buffer, and the file is read up to it:
            // open, fstat, read, close — where `read_to_end` adds a seek and a read that
            // only confirms the end (a third of `check`'s system calls per file). The output
            // directory is locked against other meshrender runs meanwhile; a file another
            // program appends to between the fstat and the read is read as it was at the
            // fstat (as any read sees a file as it was at some moment).
            let size = match f.metadata() {
                Ok(m) if m.is_dir() => return Ok(Some(Vec::new())),
                Ok(m) if !m.is_file() => {
                    return Err(OutputError::Io(format!(
                        "{}: not a regular file (meshrender writes only regular files)",
                        path.display()
                    )));
                }
                Ok(m) => m.len(),
                Err(e) => return Err(io(path, e)),
            };
            let mut b = Vec::new();
            // A huge (or sparse) file is an error, not an abort: refused above a fixed size
            // (an allocator that overcommits would grant the buffer and the reads would
            // fill memory until the kernel kills the process), or when the buffer cannot be
            // had.
            let too_large = |n: u64| {
                std::io::Error::new(
                    std::io::ErrorKind::OutOfMemory,
                    format!("{n} bytes, too large to read"),
                )
            };
            let read = if size == 0 {
                // Empty as far as fstat knows (a /proc-like file, say): read what is there,
                // up to the same bound.
                f.by_ref()
                    .take(MAX_OUTPUT_FILE + 1)
                    .read_to_end(&mut b)
                    .and_then(|n| {
                        if n as u64 > MAX_OUTPUT_FILE {
                            Err(too_large(n as u64))
                        } else {
                            Ok(())
                        }
                    })
            } else {
                usize::try_from(size)
                    .ok()
                    .filter(|_| size <= MAX_OUTPUT_FILE)
                    .and_then(|n| b.try_reserve_exact(n).ok())
                    .ok_or_else(|| too_large(size))
                    .and_then(|()| f.by_ref().take(size).read_to_end(&mut b).map(drop))
            };
            read.map(|()| Some(b)).map_err(|e| io(path, e))
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

/// Whether `out` holds anything a user could lose: a file or link other than a meshrender
/// temp file. Empty directories and temp files are what a render killed before its journal
/// existed leaves (`.meshrender/` and a half-written `pending.json` temp file): taking those
/// over loses nothing, and refusing them would make an interrupted first render need `--force`.
fn dir_has_content(out: &Path) -> Result<bool, OutputError> {
    if let Err(e) = std::fs::symlink_metadata(out) {
        return match e.kind() {
            std::io::ErrorKind::NotFound => Ok(false),
            _ => Err(io(out, e)),
        };
    }
    for e in walkdir::WalkDir::new(out).min_depth(1) {
        let e = e.map_err(|err| {
            let path = err.path().unwrap_or(out).to_path_buf();
            io(&path, err.into())
        })?;
        if e.file_type().is_dir() {
            continue;
        }
        if !(e.file_type().is_file() && is_temp_name(&e.file_name().to_string_lossy())) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Compares a complete in-memory render with the directory and its manifest (an
/// [`Analyzer`] fed one chunk). `scope`: when given, only files of these clusters are
/// rendered and pruned; other owned files stay as they are.
pub fn analyze(
    out: &Path,
    rendered: &BTreeMap<String, RenderedFile>,
    scope: Option<&BTreeSet<String>>,
    tool: &str,
    spec_sha256: &str,
) -> Result<Analysis, OutputError> {
    let mut a = Analyzer::new(out, scope, Keep::Nothing)?;
    a.add(rendered)?;
    Ok(a.finish(tool, spec_sha256)?.0)
}

/// What an [`Analyzer`] keeps of the rendered files besides the entries (a few hundred bytes
/// per file: path, cluster, status, digest).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keep {
    /// Nothing (`check` in text form: it only names paths).
    Nothing,
    /// The rendered files that drift, with their bytes (`diff`, the review): memory follows
    /// the change, not the mesh.
    Drift,
    /// `render`: every file that must be written is staged (written to its temp name) as its
    /// chunk arrives and its bytes dropped; [`Staged::commit`] later makes them durable and
    /// renames them. Without `force`, staging stops at the first file the run will refuse.
    Stage { force: bool },
}

/// The comparison of a render with the output directory, one chunk (a cluster's files, then
/// the mesh-wide ones) at a time: [`Analyzer::add`] each chunk as it is rendered, then
/// [`Analyzer::finish`] decides the pruning and the manifest. Peak memory is one chunk plus
/// the entries.
pub struct Analyzer {
    out: std::path::PathBuf,
    scope: Option<BTreeSet<String>>,
    keep: Keep,
    /// The manifest on disk, its files sorted by path without duplicates (looked up by
    /// binary search: no second copy of every path).
    old: Option<Manifest>,
    /// The manifest on disk was not sorted or listed a path twice: it is rewritten.
    old_unsorted: bool,
    pending: Option<Manifest>,
    /// sha256 of the bytes an interrupted render meant to write, by path: ours too.
    intended: BTreeMap<String, String>,
    unmanaged_nonempty: bool,
    /// One per rendered file in scope, in the order the chunks came (each sorted by path).
    entries: Vec<Entry>,
    /// What the new manifest records, in the same order (sorted by `finish`).
    new_files: Vec<OwnedFile>,
    /// Rendered files out of scope (`--cluster`), and their cluster: not pruned, not compared.
    out_of_scope: BTreeMap<String, Option<String>>,
    rendered: usize,
    real_dirs: BTreeSet<String>,
    kept: BTreeMap<String, RenderedFile>,
    batch: Option<Batch>,
    /// Unchanged secret files, tightened to 0600 by the commit.
    secret_unchanged: Vec<String>,
}

/// What one chunk added: the cluster it was for (`None`: mesh-wide files) and its counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChunkReport {
    pub cluster: Option<String>,
    /// Files in scope: new or changed (to be written), and unchanged.
    pub to_write: usize,
    pub unchanged: usize,
}

/// The files a render staged, ready to be made durable and renamed.
pub struct Staged {
    batch: Option<Batch>,
    secret_unchanged: Vec<String>,
}

impl Analyzer {
    /// Reads the manifest (and the journal of an interrupted render). With [`Keep::Stage`],
    /// a first render writes an empty journal before its first temp file; leftover temp
    /// files of an interrupted run are removed only by [`Staged::commit`].
    pub fn new(
        out: &Path,
        scope: Option<&BTreeSet<String>>,
        keep: Keep,
    ) -> Result<Analyzer, OutputError> {
        let mut old = read_manifest(out)?;
        let mut old_unsorted = false;
        if let Some(m) = &mut old
            && !m.files.windows(2).all(|w| w[0].path < w[1].path)
        {
            // A path listed twice: the last entry counts (as a map read from the file would
            // have it). Reversed, then a stable sort: each path's last entry comes first.
            m.files.reverse();
            m.files.sort_by(|a, b| a.path.cmp(&b.path));
            m.files.dedup_by(|a, b| a.path == b.path);
            old_unsorted = true;
        }
        let pending = read_manifest_at(out, PENDING)?;
        let unmanaged_nonempty = old.is_none() && pending.is_none() && dir_has_content(out)?;
        let intended = pending
            .iter()
            .flat_map(|m| &m.files)
            .map(|f| (f.path.clone(), f.sha256.clone()))
            .collect();
        let batch = match keep {
            Keep::Stage { force } if force || !unmanaged_nonempty => {
                let mut b = Batch::new(out);
                if old.is_none() && pending.is_none() {
                    // A first render: an empty journal before the first temp file, so that
                    // after an interruption while staging, the next render knows the
                    // directory (temp files and empty directories) as its own work.
                    let empty = Manifest {
                        tool: String::new(),
                        spec_sha256: String::new(),
                        files: Vec::new(),
                    };
                    let p = out.join(PENDING);
                    b.journal(&p, &empty.to_bytes()).map_err(|e| io(&p, e))?;
                }
                Some(b)
            }
            _ => None,
        };
        Ok(Analyzer {
            out: out.to_path_buf(),
            scope: scope.cloned(),
            keep,
            old,
            old_unsorted,
            pending,
            intended,
            unmanaged_nonempty,
            entries: Vec::new(),
            new_files: Vec::new(),
            out_of_scope: BTreeMap::new(),
            rendered: 0,
            real_dirs: BTreeSet::new(),
            kept: BTreeMap::new(),
            batch,
            secret_unchanged: Vec::new(),
        })
    }

    /// The SOPS records of the manifest on disk, by path: what keeps an unchanged sealed
    /// file byte-identical.
    pub fn sealed_records(&self) -> BTreeMap<String, SealRecord> {
        self.old
            .iter()
            .flat_map(|m| &m.files)
            .filter_map(|f| Some((f.path.clone(), (**f.sops.as_ref()?).clone())))
            .collect()
    }

    fn in_scope(&self, cluster: &Option<String>) -> bool {
        match (&self.scope, cluster) {
            (None, _) => true,
            (Some(s), Some(c)) => s.contains(c),
            (Some(_), None) => false,
        }
    }

    fn owned_file(&self, path: &str) -> Option<&OwnedFile> {
        find_owned(self.old.as_ref(), path)
    }

    /// Compares one chunk of the render with the directory (and stages what must be written).
    pub fn add(
        &mut self,
        chunk: &BTreeMap<String, RenderedFile>,
    ) -> Result<ChunkReport, OutputError> {
        let mut report = ChunkReport::default();
        for (path, f) in chunk {
            if report.cluster.is_none() && path.starts_with("clusters/") {
                report.cluster = f.cluster.clone();
            }
            self.rendered += 1;
            if !self.in_scope(&f.cluster) {
                self.out_of_scope.insert(path.clone(), f.cluster.clone());
                continue;
            }
            let (status, owned) = self.compare(path, f)?;
            if let Some(o) = owned {
                self.new_files.push(o);
            }
            self.entries.push(Entry {
                path: path.clone(),
                cluster: f.cluster.clone(),
                status,
                removing: false,
            });
            if status == Status::Unchanged {
                report.unchanged += 1;
                if f.secret {
                    self.secret_unchanged.push(path.clone());
                }
                continue;
            }
            report.to_write += 1;
            match self.keep {
                Keep::Nothing => {}
                Keep::Drift => {
                    self.kept.insert(path.clone(), f.clone());
                }
                Keep::Stage { force } => {
                    let refused = status == Status::NeedsKey
                        || (!force && matches!(status, Status::HandEdited | Status::Foreign));
                    if refused {
                        // The run will be refused: nothing more is staged (what was is
                        // removed when the batch is dropped), and the reason is kept.
                        self.batch = None;
                        if status == Status::NeedsKey {
                            self.kept.insert(path.clone(), f.clone());
                        }
                    } else if let Some(b) = &mut self.batch {
                        let p = self.out.join(path);
                        b.stage(&p, &f.bytes, if f.secret { 0o600 } else { 0o644 })
                            .map_err(|err| io(&p, err))?;
                    }
                }
            }
        }
        Ok(report)
    }

    /// The status of one rendered file, and what the manifest records of it.
    fn compare(
        &mut self,
        path: &str,
        f: &RenderedFile,
    ) -> Result<(Status, Option<OwnedFile>), OutputError> {
        no_links(&self.out, path, &mut self.real_dirs)?;
        let disk = read_opt(&self.out.join(path))?;
        let owned = self.owned_file(path);
        if let Some(SealState::Unavailable { fingerprint, .. }) = &f.sealed {
            // Cannot be sealed here: the file stands if it is the one sealed for the same
            // public content; otherwise it is stale and only a render with the keys can say how.
            let kept = owned.filter(|o| {
                o.sops
                    .as_ref()
                    .is_some_and(|r| &r.fingerprint == fingerprint)
                    && disk.as_deref().is_some_and(|d| sha256_hex(d) == o.sha256)
            });
            let status = if kept.is_some() {
                Status::Unchanged
            } else {
                Status::NeedsKey
            };
            return Ok((status, owned.cloned()));
        }
        let ours = |d: &[u8]| {
            let h = sha256_hex(d);
            owned.is_some_and(|o| o.sha256 == h) || self.intended.get(path).is_some_and(|s| *s == h)
        };
        let status = match (&disk, owned) {
            (None, _) => Status::Added,
            (Some(d), _) if *d == f.bytes => Status::Unchanged,
            (Some(d), _) if ours(d) => Status::Changed,
            (Some(_), Some(_)) => Status::HandEdited,
            (Some(_), None) => Status::Foreign,
        };
        let record = OwnedFile {
            path: path.to_owned(),
            sha256: f.sha256.clone(),
            cluster: f.cluster.clone(),
            sops: match &f.sealed {
                Some(SealState::Sealed { record, .. }) => Some(Box::new(record.clone())),
                _ => None,
            },
        };
        Ok((status, Some(record)))
    }

    /// Owned files no longer rendered (pruning), the manifest a successful render writes, and
    /// what was staged.
    pub fn finish(
        mut self,
        tool: &str,
        spec_sha256: &str,
    ) -> Result<(Analysis, Staged), OutputError> {
        // Every rendered file in scope, sorted: what pruning must not remove.
        self.entries.sort_by(|a, b| a.path.cmp(&b.path));
        let rendered_here = |path: &str| {
            self.entries
                .binary_search_by(|e| e.path.as_str().cmp(path))
                .is_ok()
        };
        // Owned files no longer rendered: the manifest's, and those an interrupted render
        // meant to write (pending) that this render does not.
        let old = self.old.take();
        let pending = self.pending.take();
        let candidates = old.iter().flat_map(|m| &m.files).chain(
            pending
                .iter()
                .flat_map(|m| &m.files)
                .filter(|f| find_owned(old.as_ref(), &f.path).is_none()),
        );
        let mut removals = Vec::new();
        let mut kept_out_of_scope = Vec::new();
        for o in candidates {
            if rendered_here(&o.path) {
                continue;
            }
            if !self.in_scope(&o.cluster) || self.out_of_scope.contains_key(&o.path) {
                // Out of scope: keep ownership as it was.
                kept_out_of_scope.push(o.clone());
                continue;
            }
            no_links(&self.out, &o.path, &mut self.real_dirs)?;
            match read_opt(&self.out.join(&o.path))? {
                None => {} // already gone (e.g. an interrupted prune): just forget it
                Some(d) => {
                    let h = sha256_hex(&d);
                    let status =
                        if h == o.sha256 || self.intended.get(&o.path).is_some_and(|s| *s == h) {
                            Status::Removed
                        } else {
                            if self.keep == (Keep::Stage { force: false }) {
                                self.batch = None;
                            }
                            Status::HandEdited
                        };
                    removals.push(Entry {
                        path: o.path.clone(),
                        cluster: o.cluster.clone(),
                        status,
                        removing: true,
                    });
                }
            }
        }
        self.entries.extend(removals);
        self.entries.sort_by(|a, b| a.path.cmp(&b.path));
        let mut files = std::mem::take(&mut self.new_files);
        files.extend(kept_out_of_scope);
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let manifest = Manifest {
            tool: tool.to_owned(),
            spec_sha256: spec_sha256.to_owned(),
            files,
        };
        let manifest_changed = self.old_unsorted || old.as_ref() != Some(&manifest);
        let manifest_missing = old.is_none();
        drop(old);
        let analysis = Analysis {
            rendered: self.rendered,
            entries: std::mem::take(&mut self.entries),
            manifest,
            manifest_changed,
            unmanaged_nonempty: self.unmanaged_nonempty,
            manifest_missing,
            kept: std::mem::take(&mut self.kept),
        };
        let staged = Staged {
            batch: self.batch.take(),
            secret_unchanged: std::mem::take(&mut self.secret_unchanged),
        };
        Ok((analysis, staged))
    }
}

/// What [`Staged::commit`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ApplyReport {
    pub written: Vec<String>,
    pub deleted: Vec<String>,
    pub unchanged: Vec<String>,
}

impl Staged {
    /// Carries out the analysis the files were staged for (the caller has already refused or
    /// been forced): every staged file and the journal of intentions (`pending.json`) made
    /// durable at once, the journal put in place, then the pruned files deleted, every
    /// staged file renamed and made durable at once, then the manifest, last, as the commit
    /// point ([`fsutil::Batch`]: two durability barriers in all, not one fsync per file;
    /// fsutil's module docs give the reasoning).
    pub fn commit(self, out: &Path, analysis: &Analysis) -> Result<ApplyReport, OutputError> {
        let Some(mut batch) = self.batch else {
            return Err(OutputError::Io(
                "internal error: a refused render was asked to commit".to_owned(),
            ));
        };
        std::fs::create_dir_all(out).map_err(|e| io(out, e))?;
        let touches = analysis
            .entries
            .iter()
            .any(|e| e.removing || e.status != Status::Unchanged);
        let (pending, manifest) = (out.join(PENDING), out.join(MANIFEST));
        let bytes = analysis.manifest.to_bytes();
        // A render that changes files: the journal and the manifest ride the batch's two
        // barriers (fsutil's module docs); the journal is in place and durable after the
        // flush, before anything is deleted or renamed.
        if touches {
            batch
                .stage_journal(&pending, &bytes)
                .map_err(|err| io(&pending, err))?;
            if analysis.manifest_changed {
                batch
                    .stage_manifest(&manifest, &bytes)
                    .map_err(|err| io(&manifest, err))?;
            }
        }
        batch.flush().map_err(|err| io(out, err))?;
        let mut report = ApplyReport::default();
        for e in &analysis.entries {
            if e.removing {
                let p = out.join(&e.path);
                std::fs::remove_file(&p).map_err(|err| io(&p, err))?;
                remove_empty_parents(out, &p);
                batch.removed(&p);
                report.deleted.push(e.path.clone());
            } else if e.status == Status::Unchanged {
                report.unchanged.push(e.path.clone());
            } else {
                report.written.push(e.path.clone());
            }
        }
        // A secret file from before 0600 was enforced: tightened without rewriting.
        #[cfg(unix)]
        for rel in &self.secret_unchanged {
            use std::os::unix::fs::PermissionsExt;
            let p = out.join(rel);
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600))
                .map_err(|err| io(&p, err))?;
        }
        // Temp files an interrupted run left (not this run's): removed only now, so a refused
        // render leaves even those as they were.
        remove_stale_temps(out, &batch)?;
        batch.commit().map_err(|err| io(out, err))?;
        // Nothing else changed (the spec's digest or the tool version did): the manifest
        // alone, at once.
        if analysis.manifest_changed && !touches {
            write_atomic(&manifest, &bytes, 0o644).map_err(|err| io(&manifest, err))?;
        }
        // The manifest is true now: the journal of intentions goes (also one left by an
        // interrupted run that this one completed).
        match std::fs::remove_file(&pending) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&pending, e)),
        }
        Ok(report)
    }
}

/// The file `path` of `manifest` (its files sorted by path, as [`Analyzer::new`] leaves them).
fn find_owned<'m>(manifest: Option<&'m Manifest>, path: &str) -> Option<&'m OwnedFile> {
    let files = &manifest?.files;
    let i = files.binary_search_by(|f| f.path.as_str().cmp(path)).ok()?;
    Some(&files[i])
}

fn remove_stale_temps(out: &Path, batch: &Batch) -> Result<(), OutputError> {
    for e in walkdir::WalkDir::new(out)
        .into_iter()
        .filter_map(Result::ok)
    {
        if e.file_type().is_file()
            && is_temp_name(&e.file_name().to_string_lossy())
            && !batch.is_staged(e.path())
        {
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
