//! The review of a drift (`diff --summary`, `diff --format markdown`, `check --format json`):
//! each changed file's old bytes (on disk, read through `output`) and new bytes (rendered)
//! handed to [`crate::impact`], and the result printed as text lines, JSON events or a
//! Markdown pull-request comment. Secret values are never printed: objects are named only.

use std::path::Path;

use serde_json::json;

use super::prepare::Prepared;
use super::{Error, Result, events};
use crate::impact::{self, Review};
use crate::output::{self, Entry, Status};

/// The review of every drifted path of `p`.
pub(super) fn review(p: &Prepared, out: &Path) -> Result<Review> {
    let mut r = Review::default();
    for e in p.analysis.drift() {
        add(&mut r, p, out, e)?;
    }
    impact::sort(&mut r);
    Ok(r)
}

fn add(r: &mut Review, p: &Prepared, out: &Path, e: &Entry) -> Result<()> {
    let cluster = e.cluster.as_deref();
    if e.status == Status::NeedsKey {
        r.files.push(impact::FileNote {
            cluster: cluster
                .map(str::to_owned)
                .or_else(|| impact::cluster_of(&e.path)),
            path: e.path.clone(),
            note: "sealed (SOPS): cannot be sealed here to compare (render where the keys are)"
                .to_owned(),
        });
        return Ok(());
    }
    let old = output::read_existing(out, &e.path).map_err(|x| Error::Message(x.to_string()))?;
    let new = if e.removing {
        None
    } else {
        p.analysis.kept.get(&e.path).map(|f| f.bytes.as_slice())
    };
    impact::classify_file(r, &e.path, cluster, old.as_deref(), new);
    if matches!(e.status, Status::HandEdited | Status::Foreign) {
        r.files.push(impact::FileNote {
            cluster: cluster
                .map(str::to_owned)
                .or_else(|| impact::cluster_of(&e.path)),
            path: e.path.clone(),
            note: format!("{}: render refuses it without --force", e.status.word()),
        });
    }
    Ok(())
}

fn cluster_word(c: &Option<String>) -> &str {
    c.as_deref().unwrap_or("mesh-wide")
}

/// One line per changed object, then one per file note.
pub(super) fn print_text(r: &Review) {
    for o in &r.objects {
        println!(
            "{:<8} {} {} {} ({}): {}",
            o.change.word(),
            cluster_word(&o.cluster),
            o.kind,
            o.object(),
            o.path,
            impact::effect_text(o)
        );
    }
    for f in &r.files {
        println!(
            "{:<8} {} file {}: {}",
            "file",
            cluster_word(&f.cluster),
            f.path,
            f.note
        );
    }
}

/// `object` events (and `file` notes as `fileNote` events).
pub(super) fn print_events(r: &Review) {
    for o in &r.objects {
        events::object(o);
    }
    for f in &r.files {
        events::file_note(f);
    }
}

/// Counts for a summary: objects added, changed, removed.
pub(super) fn counts(r: &Review) -> serde_json::Value {
    let n = |c| r.objects.iter().filter(|o| o.change == c).count();
    json!({
        "objects": r.objects.len(),
        "objectsAdded": n(impact::Change::Added),
        "objectsChanged": n(impact::Change::Changed),
        "objectsRemoved": n(impact::Change::Removed),
    })
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The Markdown pull-request comment.
pub(super) fn markdown(r: &Review) -> String {
    use std::fmt::Write;
    let mut m = String::new();
    if r.objects.is_empty() {
        m.push_str("## meshrender: no rendered object changes\n\n");
        if r.files.is_empty() {
            m.push_str(
                "Nothing rendered changed: the spec or tool change alters no rendered file.\n",
            );
        } else {
            m.push_str("Files change, but no object in them does:\n\n");
            for f in &r.files {
                let _ = writeln!(
                    m,
                    "- `{}` ({}): {}",
                    f.path,
                    cluster_word(&f.cluster),
                    cell(&f.note)
                );
            }
        }
        return m;
    }
    let mut clusters: Vec<&Option<String>> = r.objects.iter().map(|o| &o.cluster).collect();
    clusters.dedup();
    let n = |c| r.objects.iter().filter(|o| o.change == c).count();
    let _ = writeln!(
        m,
        "## meshrender: {} object{} change{} in {} cluster director{}\n",
        r.objects.len(),
        if r.objects.len() == 1 { "" } else { "s" },
        if r.objects.len() == 1 { "s" } else { "" },
        clusters.len(),
        if clusters.len() == 1 { "y" } else { "ies" }
    );
    let _ = writeln!(
        m,
        "{} added, {} changed, {} removed\n",
        n(impact::Change::Added),
        n(impact::Change::Changed),
        n(impact::Change::Removed)
    );
    // Effects first: what a reviewer must not miss.
    let mut effects: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for o in &r.objects {
        for e in &o.effects {
            let v = effects.entry(e.as_str()).or_default();
            let c = cluster_word(&o.cluster);
            if !v.contains(&c) {
                v.push(c);
            }
        }
    }
    if !effects.is_empty() {
        m.push_str("**Runtime effects**\n\n");
        for (e, cs) in &effects {
            let _ = writeln!(m, "- **{}**: {}", cell(e), cs.join(", "));
        }
        m.push('\n');
    }
    for c in clusters {
        let _ = writeln!(m, "### {}\n", cluster_word(c));
        m.push_str("| change | kind | object | file | effect |\n|---|---|---|---|---|\n");
        for o in r.objects.iter().filter(|o| &o.cluster == c) {
            let effect = if o.effects.is_empty() {
                impact::NO_EFFECT.to_owned()
            } else {
                format!("**{}**", cell(&o.effects.join("; ")))
            };
            let _ = writeln!(
                m,
                "| {} | {} | `{}` | `{}` | {} |",
                o.change.word(),
                cell(&o.kind),
                cell(&o.object()),
                cell(&o.path),
                effect
            );
        }
        m.push('\n');
    }
    if !r.files.is_empty() {
        m.push_str("Files without an object change:\n\n");
        for f in &r.files {
            let _ = writeln!(
                m,
                "- `{}` ({}): {}",
                f.path,
                cluster_word(&f.cluster),
                cell(&f.note)
            );
        }
    }
    m
}
