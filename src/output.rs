//! The only module that writes to the output directory.
//!
//! It is handed a complete, in-memory render; nothing is written before the whole render
//! succeeded. Each file goes to a temp file in its own directory and is renamed into place,
//! and a file whose bytes are already right is not touched (its mtime stays).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// What a write did, per file.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WriteReport {
    pub written: Vec<String>,
    pub unchanged: Vec<String>,
}

/// Writes `files` (relative path → bytes) under `out`.
pub fn write_tree(out: &Path, files: &BTreeMap<String, Vec<u8>>) -> std::io::Result<WriteReport> {
    let mut report = WriteReport::default();
    for (rel, bytes) in files {
        let path = out.join(rel);
        if std::fs::read(&path).is_ok_and(|old| &old == bytes) {
            report.unchanged.push(rel.clone());
            continue;
        }
        write_atomic(&path, bytes)?;
        report.written.push(rel.clone());
    }
    Ok(report)
}

/// Temp file in the target's directory, fsync, rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.meshrender-tmp"));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
