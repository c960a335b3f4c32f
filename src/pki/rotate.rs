//! Offline CA rotation: a new intermediate for one cluster, and Istio's three-step multi-root
//! procedure for the mesh root. Each command edits only `pki.dir`; the next `render` turns
//! the change into `cacerts` (and, during a root rotation, the istiod settings it needs).
//!
//! Root rotation state lives in `pki.dir/rotation.json` and the new root in
//! `pki.dir/next-root/`:
//! 1. a new root is created and every cluster's `root-cert.pem` becomes old + new root;
//! 2. every intermediate is re-issued under the new root (old files kept in `backup-<serial>/`);
//! 3. the old root is retired to `retired-root-<fingerprint>/`, the new root becomes the root,
//!    and every `root-cert.pem` holds only it. The state file goes away.
//!
//! Every step must be rendered and applied on every cluster before the next one.

use std::path::Path;

use super::*;

pub const STATE_FILE: &str = "rotation.json";
pub use super::layout::NEXT_ROOT_DIR;
use super::layout::RETIRED_ROOT_PREFIX;

#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
struct State {
    step: u8,
    new_root_fingerprint: String,
}

/// The root-rotation step recorded in `pki.dir`, if a rotation is in progress.
pub fn read_state(s: &PkiSettings) -> Result<Option<u8>, PkiError> {
    let path = s.dir.join(STATE_FILE);
    match read_opt(&path)? {
        None => Ok(None),
        Some(t) => match serde_json::from_str::<State>(&t) {
            Ok(st) if st.step == 1 || st.step == 2 => Ok(Some(st.step)),
            Ok(st) => Err(err(format!(
                "{}: unknown rotation step {}",
                display(s, STATE_FILE),
                st.step
            ))),
            Err(e) => Err(err(format!(
                "{}: not a rotation state file: {e}",
                display(s, STATE_FILE)
            ))),
        },
    }
}

fn write_state(s: &PkiSettings, st: &State) -> Result<(), PkiError> {
    let mut t = serde_json::to_string_pretty(st).expect("serializes");
    t.push('\n');
    write_file(&s.dir.join(STATE_FILE), &t, 0o644)
}

/// Moves the current intermediate files of `name` into `backup-<serial>/`. Returns its path.
fn backup_intermediate(s: &PkiSettings, name: &str) -> Result<String, PkiError> {
    let cdir = s.dir.join(name);
    let cert = read_opt(&cdir.join(CA_CERT))?.ok_or_else(|| {
        err(format!(
            "{}: missing; nothing to rotate",
            display(s, &format!("{name}/{CA_CERT}"))
        ))
    })?;
    let der = verify::certs_der(&cert);
    let serial = der
        .first()
        .and_then(|d| verify::info(d).ok())
        .map(|i| i.serial.replace(':', ""))
        .unwrap_or_else(|| "unknown".to_owned());
    let rel = format!("{name}/backup-{serial}");
    let bdir = s.dir.join(&rel);
    for f in [CA_CERT, CA_KEY, CERT_CHAIN, ROOT_CERT] {
        if let Some(t) = read_opt(&cdir.join(f))? {
            write_file(&bdir.join(f), &t, if f == CA_KEY { 0o600 } else { 0o644 })?;
        }
    }
    Ok(display(s, &rel))
}

fn issue_into(s: &PkiSettings, name: &str, roots: &Roots) -> Result<(), PkiError> {
    let (rc, rk) = roots.signing().ok_or_else(|| {
        err(format!(
            "{}: needed to issue a new intermediate",
            display(s, ROOT_KEY)
        ))
    })?;
    let (c, k) = issue_intermediate(s, name, rc, rk)?;
    let cdir = s.dir.join(name);
    write_file(&cdir.join(CA_KEY), &k, 0o600)?;
    write_file(&cdir.join(CA_CERT), &c, 0o644)?;
    let chain = format!(
        "{}{}",
        c,
        if rc.ends_with('\n') {
            rc.to_owned()
        } else {
            format!("{rc}\n")
        }
    );
    write_file(&cdir.join(CERT_CHAIN), &chain, 0o644)?;
    write_file(&cdir.join(ROOT_CERT), &roots.bundle(), 0o644)?;
    Ok(())
}

/// Issues a new intermediate for `name` under the signing root, keeping the old one as a
/// backup. The existing material is verified first. Returns human-readable lines.
pub fn rotate_intermediate(
    s: &PkiSettings,
    clusters: &[String],
    name: &str,
) -> Result<Vec<String>, PkiError> {
    ensure(s, clusters, Mode::ReadOnly)?;
    let mut created = Vec::new();
    let roots = load_roots(s, Mode::ReadOnly, &mut created)?;
    if roots.signing().is_none() {
        return Err(err(format!(
            "{}: needed to issue a new intermediate; nothing was changed",
            display(s, ROOT_KEY)
        )));
    }
    let backup = backup_intermediate(s, name)?;
    issue_into(s, name, &roots)?;
    Ok(vec![
        format!("{name}: old intermediate kept in {backup}/"),
        format!(
            "{name}: new intermediate in {}",
            display(s, &format!("{name}/{CA_CERT}"))
        ),
        "render and apply to update that cluster's cacerts".to_owned(),
    ])
}

/// A step of the multi-root rotation (Istio's procedure for replacing the mesh root).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum RootStep {
    /// 1: issue (or take) the new root and make every cluster trust both roots.
    TrustBoth = 1,
    /// 2: re-issue every intermediate under the new root.
    Reissue = 2,
    /// 3: retire the old root.
    DropOld = 3,
}

impl RootStep {
    pub const ALL: [RootStep; 3] = [RootStep::TrustBoth, RootStep::Reissue, RootStep::DropOld];

    /// The step numbered `n` (1, 2 or 3).
    pub fn from_number(n: u8) -> Option<RootStep> {
        RootStep::ALL.into_iter().find(|s| s.number() == n)
    }

    pub fn number(self) -> u8 {
        self as u8
    }
}

/// One step of the multi-root rotation. Refuses to run out of order.
pub fn rotate_root(
    s: &PkiSettings,
    clusters: &[String],
    step: RootStep,
) -> Result<Vec<String>, PkiError> {
    ensure(s, clusters, Mode::ReadOnly)?;
    let current = read_state(s)?;
    let expected_before = step.number().checked_sub(1).filter(|n| *n > 0);
    if current != expected_before {
        let now = match current {
            None => "no root rotation is in progress".to_owned(),
            Some(n) => format!("step {n} is the last one done"),
        };
        let next = current.map_or(1, |n| n + 1);
        return Err(err(format!(
            "refusing step {}: {now}; run step {next} next (and render and apply it on every cluster first)",
            step.number()
        )));
    }
    let lines = match step {
        RootStep::TrustBoth => trust_both(s, clusters)?,
        RootStep::Reissue => reissue(s, clusters)?,
        RootStep::DropOld => drop_old(s, clusters)?,
    };
    // The result must verify like any loaded PKI.
    ensure(s, clusters, Mode::ReadOnly)?;
    Ok(lines)
}

/// Step 1: the new root in `next-root/`, and both roots in every cluster's `root-cert.pem`.
fn trust_both(s: &PkiSettings, clusters: &[String]) -> Result<Vec<String>, PkiError> {
    let mut created = Vec::new();
    let mut lines = Vec::new();
    let ndir = s.dir.join(NEXT_ROOT_DIR);
    let (c, k) = match (
        read_opt(&ndir.join(ROOT_CERT))?,
        read_opt(&ndir.join(ROOT_KEY))?,
    ) {
        (Some(c), Some(k)) => {
            lines.push(format!(
                "using the new root already in {}/",
                display(s, NEXT_ROOT_DIR)
            ));
            (c, k)
        }
        _ => {
            let (c, k) = issue_root(s)?;
            write_file(&ndir.join(ROOT_KEY), &k, 0o600)?;
            write_file(&ndir.join(ROOT_CERT), &c, 0o644)?;
            lines.push(format!("new root in {}/", display(s, NEXT_ROOT_DIR)));
            (c, k)
        }
    };
    let der = verify::certs_der(&c);
    let fp = der
        .first()
        .map(|d| verify::fingerprint(d))
        .unwrap_or_default();
    let probs = der
        .first()
        .map(|d| {
            verify::verify_root(
                d,
                Some(&k),
                &display(s, "next-root/root-cert.pem"),
                &display(s, "next-root/root-key.pem"),
                time::OffsetDateTime::now_utc().unix_timestamp(),
            )
        })
        .unwrap_or_else(|| vec!["next-root/root-cert.pem: no certificate".to_owned()]);
    if !probs.is_empty() {
        return Err(PkiError { messages: probs });
    }
    write_state(
        s,
        &State {
            step: 1,
            new_root_fingerprint: fp,
        },
    )?;
    let roots = load_roots(s, Mode::ReadOnly, &mut created)?;
    for name in clusters {
        write_file(&s.dir.join(name).join(ROOT_CERT), &roots.bundle(), 0o644)?;
    }
    lines.push("every cluster's root-cert.pem now holds the old and the new root".to_owned());
    lines.push("render, then apply on EVERY cluster (and restart istiod) before step 2".to_owned());
    Ok(lines)
}

/// Step 2: every intermediate re-issued under the new root (the old ones kept as backups).
fn reissue(s: &PkiSettings, clusters: &[String]) -> Result<Vec<String>, PkiError> {
    let mut created = Vec::new();
    let mut lines = Vec::new();
    let mut st: State =
        serde_json::from_str(&read_opt(&s.dir.join(STATE_FILE))?.unwrap_or_default())
            .map_err(|e| err(format!("{}: {e}", display(s, STATE_FILE))))?;
    st.step = 2;
    write_state(s, &st)?;
    let roots = load_roots(s, Mode::ReadOnly, &mut created)?;
    for name in clusters {
        let b = backup_intermediate(s, name)?;
        issue_into(s, name, &roots)?;
        lines.push(format!(
            "{name}: intermediate re-issued under the new root (old one in {b}/)"
        ));
    }
    lines.push("render, then apply on every cluster before step 3".to_owned());
    Ok(lines)
}

/// Step 3: the old root retired, the new root the mesh root.
fn drop_old(s: &PkiSettings, clusters: &[String]) -> Result<Vec<String>, PkiError> {
    let mut created = Vec::new();
    let roots = load_roots(s, Mode::ReadOnly, &mut created)?;
    let (nc, nk) = roots.next.clone().ok_or_else(|| err("no next root"))?;
    let old_fp = verify::certs_der(&roots.cert)
        .first()
        .map(|d| verify::fingerprint(d).replace(':', "")[..16].to_owned())
        .unwrap_or_else(|| "unknown".to_owned());
    let retired = s.dir.join(format!("{RETIRED_ROOT_PREFIX}{old_fp}"));
    write_file(&retired.join(ROOT_CERT), &roots.cert, 0o644)?;
    if let Some(k) = &roots.key {
        write_file(&retired.join(ROOT_KEY), k, 0o600)?;
    }
    write_file(&s.dir.join(ROOT_KEY), &nk, 0o600)?;
    write_file(&s.dir.join(ROOT_CERT), &nc, 0o644)?;
    for name in clusters {
        write_file(&s.dir.join(name).join(ROOT_CERT), &nc, 0o644)?;
    }
    remove(&s.dir.join(NEXT_ROOT_DIR).join(ROOT_CERT))?;
    remove(&s.dir.join(NEXT_ROOT_DIR).join(ROOT_KEY))?;
    let _ = std::fs::remove_dir(s.dir.join(NEXT_ROOT_DIR));
    remove(&s.dir.join(STATE_FILE))?;
    Ok(vec![
        format!(
            "old root retired to {}/",
            display(s, &format!("{RETIRED_ROOT_PREFIX}{old_fp}"))
        ),
        "the new root is now the mesh root; every root-cert.pem holds only it".to_owned(),
        "render and apply on every cluster to finish the rotation".to_owned(),
    ])
}

fn remove(p: &Path) -> Result<(), PkiError> {
    match std::fs::remove_file(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(err(format!("{}: cannot remove: {e}", p.display()))),
    }
}
