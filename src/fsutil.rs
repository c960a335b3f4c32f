//! Atomic file writes shared by `output` (the output directory) and `pki` (pki.dir): a temp
//! file in the target's own directory, written with its final permissions, made durable,
//! renamed.
//!
//! [`write_atomic`] does that for one file (fsync per file: PKI material, the manifest).
//! [`Batch`] does it for a whole render with a constant number of durability barriers
//! instead of one `fsync` per file:
//!
//! 1. every file is written to its temp name (`.<name>.<pid>.meshrender-tmp`, unique per
//!    process), nothing renamed yet;
//! 2. barrier: the data of every temp file reaches the disk (`syncfs(2)` of the output's file
//!    system on Linux, one call; elsewhere `fsync` of each temp file, on all cores);
//! 3. every temp file is renamed over its target (a rename is atomic: a reader, or a crash,
//!    sees the old or the new file, whole, because the new data is already durable);
//! 4. barrier: the renames (directory entries) reach the disk (`syncfs` again; elsewhere
//!    `fsync` of every directory written to).
//!
//! An interruption before 3 leaves only temp files (removed by the next render); during 3,
//! some targets new and some old, each complete; after `Batch::commit` returns, everything
//! renamed is durable. That is the guarantee `write_atomic` gives, for any number of files.
//!
//! Two files of a batch have a place of their own in that order, so they need no barrier of
//! their own (each `write_atomic` is two `fsync`s, a few milliseconds on a slow disk):
//!
//! - the *journal* ([`Batch::stage_journal`], `pending.json`: what the render is about to
//!   write) is staged with the rest, so barrier 2 makes its data durable; it is renamed
//!   right after that barrier, and its directory synced, before any target is renamed or
//!   deleted ([`Batch::flush`]): whatever a crash leaves of steps 3–4, the journal saying
//!   what was meant is already on disk;
//! - the *manifest* ([`Batch::stage_manifest`], `owned.json`: the commit point) is staged
//!   with the rest too, and renamed only after barrier 4, its directory synced before
//!   `commit` returns: a crash before then leaves the old manifest and the journal (the
//!   next render finishes the work), never a manifest claiming renames that were lost.
//!
//! The marker a first render writes before staging ([`Batch::journal`]) keeps barriers of
//! its own ([`write_atomic`]): renamed in without them, a power loss could leave it present
//! but empty (the new name durable before its data), which the next render would refuse as
//! a broken journal.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Suffix of the temp files; a leftover one is what an interrupted write leaves behind.
pub const TMP_SUFFIX: &str = ".meshrender-tmp";

/// Whether a file name is a meshrender temp name (`.<file>.<pid>.meshrender-tmp`): reserved,
/// and what an interrupted write leaves behind.
pub fn is_temp_name(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(TMP_SUFFIX)
}

/// The temp name of `path`, unique to this process (two processes never share a temp file).
fn temp_path(path: &Path) -> PathBuf {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    dir.join(format!(".{name}.{}{TMP_SUFFIX}", std::process::id()))
}

/// Creates `tmp` with unix permissions `mode` and writes `bytes` to it (not synced).
fn write_temp(tmp: &Path, bytes: &[u8], mode: u32) -> std::io::Result<std::fs::File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(mode);
    }
    let mut f = opts.open(tmp)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    f.write_all(bytes)?;
    Ok(f)
}

/// Writes `bytes` to `path` atomically with unix permissions `mode`.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = temp_path(path);
    let result = (|| {
        let f = write_temp(&tmp, bytes, mode)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// A write batch being built: files are staged (written to their temp names) one by one, so
/// a caller can report progress as it goes, and [`Batch::commit`] makes them durable and
/// renames them. Dropped without a commit, it removes its temp files; no target is touched.
pub struct Batch {
    root: PathBuf,
    /// Temp name → the target it is renamed to.
    temps: BTreeMap<PathBuf, PathBuf>,
    handles: Vec<std::fs::File>,
    dirs: BTreeSet<PathBuf>,
    /// Directories this batch created, outermost first: removed again (when empty) if the
    /// batch is dropped without a commit, so a refused render leaves no trace.
    created: Vec<PathBuf>,
    /// A file written at once by [`Batch::journal`], removed again without a commit.
    journal: Option<PathBuf>,
    /// The journal of intentions (temp → target): renamed first, by [`Batch::flush`].
    first: Option<(PathBuf, PathBuf)>,
    /// The manifest (temp → target): renamed last, by [`Batch::commit`].
    last: Option<(PathBuf, PathBuf)>,
    /// Whether barrier 2 (and the journal's rename) are done.
    flushed: bool,
    /// Directories a deletion changed ([`Batch::removed`]): synced by barrier 4 where it is
    /// not one `syncfs`.
    emptied: BTreeSet<PathBuf>,
}

impl Batch {
    pub fn new(root: &Path) -> Batch {
        Batch {
            root: root.to_path_buf(),
            temps: BTreeMap::new(),
            handles: Vec::new(),
            dirs: BTreeSet::new(),
            created: Vec::new(),
            journal: None,
            first: None,
            last: None,
            flushed: false,
            emptied: BTreeSet::new(),
        }
    }

    /// Writes `bytes` to the temp name of `path` (not synced, not renamed).
    pub fn stage(&mut self, path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
        self.create_dir(path.parent().unwrap_or(Path::new(".")))?;
        let tmp = temp_path(path);
        // Known before it exists: a write that fails half-way (disk full) leaves a temp file
        // the drop removes.
        self.temps.insert(tmp.clone(), path.to_path_buf());
        self.write(&tmp, bytes, mode)
    }

    /// Stages the journal of intentions for `path`: renamed before every other file, once
    /// their data is durable, and durable itself before anything else changes (module docs).
    pub fn stage_journal(&mut self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        self.first = Some(self.stage_special(path, bytes)?);
        Ok(())
    }

    /// Stages the manifest for `path`: renamed after every other file is renamed and
    /// durable, and durable itself when [`Batch::commit`] returns (module docs).
    pub fn stage_manifest(&mut self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        self.last = Some(self.stage_special(path, bytes)?);
        Ok(())
    }

    /// Writes a journal or manifest to the temp name of `path` (its directory created):
    /// (temp, target), or an error with no temp file left.
    fn stage_special(&mut self, path: &Path, bytes: &[u8]) -> std::io::Result<(PathBuf, PathBuf)> {
        if self.flushed {
            return Err(std::io::Error::other(
                "internal error: a file staged after the flush",
            ));
        }
        self.create_dir(path.parent().unwrap_or(Path::new(".")))?;
        let tmp = temp_path(path);
        if let Err(e) = self.write(&tmp, bytes, 0o644) {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        Ok((tmp, path.to_path_buf()))
    }

    /// Writes a staged temp file, keeping its handle where barrier 2 needs it.
    fn write(&mut self, tmp: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
        let handle = write_temp(tmp, bytes, mode)?;
        if !HAS_SYNCFS {
            self.handles.push(handle);
        }
        Ok(())
    }

    /// Writes `bytes` to `path` at once and durably ([`write_atomic`]), as the first thing
    /// of the batch: a marker that survives an interruption (`kill -9`, a power loss), and is
    /// removed again (with the directories it needed) if the batch is dropped without a
    /// commit.
    pub fn journal(&mut self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        self.create_dir(path.parent().unwrap_or(Path::new(".")))?;
        write_atomic(path, bytes, 0o644)?;
        self.journal = Some(path.to_path_buf());
        Ok(())
    }

    /// Creates `dir` and its missing parents, remembering which it created.
    fn create_dir(&mut self, dir: &Path) -> std::io::Result<()> {
        if self.dirs.insert(dir.to_path_buf()) {
            let mut missing = Vec::new();
            let mut d = Some(dir);
            while let Some(p) = d {
                if p.as_os_str().is_empty() || std::fs::symlink_metadata(p).is_ok() {
                    break;
                }
                missing.push(p.to_path_buf());
                d = p.parent();
            }
            // One level at a time, each recorded as soon as it exists, so a failure half-way
            // still leaves the drop every directory it must remove.
            for p in missing.into_iter().rev() {
                match std::fs::create_dir(&p) {
                    Ok(()) => self.created.push(p),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }

    /// Records that the caller deleted `path` (after [`Batch::flush`]), and with it perhaps
    /// its emptied parents up to the batch's root: barrier 4 makes those deletions durable
    /// before the manifest goes in.
    pub fn removed(&mut self, path: &Path) {
        let mut dir = path.parent();
        while let Some(d) = dir.filter(|d| d.starts_with(&self.root)) {
            self.emptied.insert(d.to_path_buf());
            dir = d.parent();
        }
    }

    /// Whether `tmp` is one of this batch's temp files.
    pub fn is_staged(&self, tmp: &Path) -> bool {
        self.temps.contains_key(tmp)
            || [&self.first, &self.last]
                .into_iter()
                .flatten()
                .any(|(t, _)| t == tmp)
    }

    /// Barrier 2 (the data of every staged file is durable), then the journal, if one was
    /// staged, renamed into place and its directory synced: from here on, a caller may
    /// delete what the journal says goes. Nothing else is renamed yet.
    pub fn flush(&mut self) -> std::io::Result<()> {
        if self.flushed {
            return Ok(());
        }
        // The marker is either replaced by the journal now or, without one, stays the
        // commit's business: no longer removed by the drop either way.
        self.journal = None;
        let staged = !self.temps.is_empty() || self.first.is_some() || self.last.is_some();
        if staged {
            barrier(&self.root, &self.handles)?;
        }
        self.handles.clear();
        self.created.clear();
        if let Some((tmp, path)) = self.first.take() {
            let renamed = std::fs::rename(&tmp, &path);
            if renamed.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            renamed?;
            sync_dir(path.parent().unwrap_or(Path::new(".")))?;
        }
        self.flushed = true;
        Ok(())
    }

    /// [`Batch::flush`] if not done, renames, barrier 4, then the manifest, if one was
    /// staged, renamed into place and its directory synced: afterwards every staged file is
    /// in place and durable.
    pub fn commit(mut self) -> std::io::Result<()> {
        self.flush()?;
        // A manifest to commit means something changed, deletions included (done by the
        // caller after the flush and told with `removed`): they are made durable before it.
        if !self.temps.is_empty() || self.last.is_some() {
            // Renamed in place: if one rename fails, the drop still removes the temp files
            // left.
            for (tmp, path) in &self.temps {
                std::fs::rename(tmp, path)?;
            }
            self.temps.clear();
            if HAS_SYNCFS {
                syncfs(&self.root)?;
            } else {
                self.dirs.iter().try_for_each(|d| sync_dir(d))?;
                // An emptied directory may be gone itself: its surviving parent, also
                // recorded, holds that change.
                self.emptied.iter().try_for_each(|d| match sync_dir(d) {
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    other => other,
                })?;
            }
        }
        if let Some((tmp, path)) = &self.last {
            std::fs::rename(tmp, path)?;
            let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
            self.last = None;
            sync_dir(&dir)?;
        }
        Ok(())
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        let special = [&self.first, &self.last].into_iter().flatten();
        for tmp in self.temps.keys().chain(special.map(|(t, _)| t)) {
            let _ = std::fs::remove_file(tmp);
        }
        if let Some(j) = &self.journal {
            let _ = std::fs::remove_file(j);
        }
        for d in self.created.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
    }
}

#[cfg(target_os = "linux")]
const HAS_SYNCFS: bool = true;
#[cfg(not(target_os = "linux"))]
const HAS_SYNCFS: bool = false;

/// Makes the data of every file written so far durable: `syncfs` of `root`'s file system, or
/// `fsync` of each handle, spread over the cores.
fn barrier(root: &Path, handles: &[std::fs::File]) -> std::io::Result<()> {
    if HAS_SYNCFS {
        return syncfs(root);
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = handles.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let jobs: Vec<_> = handles
            .chunks(chunk)
            .map(|c| s.spawn(move || c.iter().try_for_each(std::fs::File::sync_all)))
            .collect();
        jobs.into_iter().try_for_each(|j| {
            j.join()
                .unwrap_or_else(|_| Err(std::io::Error::other("fsync thread panicked")))
        })
    })
}

/// `syncfs(2)` of the file system holding `root`.
#[cfg(target_os = "linux")]
fn syncfs(root: &Path) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let dir = std::fs::File::open(root)?;
    // SAFETY: `dir` is an open file descriptor for the duration of the call; syncfs only
    // reads it.
    let rc = unsafe { libc::syncfs(dir.as_raw_fd()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn syncfs(_root: &Path) -> std::io::Result<()> {
    Ok(())
}

/// Makes the entries of directory `dir` durable (unix; a no-op elsewhere).
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::fs::File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// Reads a regular file of at most `limit` bytes: a FIFO, a device (`/dev/zero`), a
/// directory or anything larger is refused before it is read, and a file that grows while
/// being read is cut off at `limit + 1` bytes and refused, so no input can hang meshrender or
/// exhaust its memory.
pub fn read_bounded(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    if meta.len() > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {limit} bytes"),
        ));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    std::fs::File::open(path)?
        .take(limit + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {limit} bytes"),
        ));
    }
    Ok(bytes)
}

/// The bytes of `path`, or `None` when it does not exist.
pub fn read_opt(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}
