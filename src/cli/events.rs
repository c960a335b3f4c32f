//! The JSON event stream (`--format json`): the one place that builds the lines any command
//! prints on stdout in JSON mode. Every line is one JSON object with `"version"` (the schema
//! version of the stream, [`VERSION`]) and `"event"` (its kind), then the fields of that kind.
//! `docs/events.md` documents every kind and field; a new kind is one function here, one
//! section there.

use serde_json::{Map, Value, json};

use crate::diag::{Diagnostic, Severity, terminal_safe};

/// Schema version of the event stream. Bumped only for a change that breaks a reader (a field
/// removed or retyped); new kinds and new fields keep it.
pub const VERSION: u32 = 1;

/// One event line: `{"version": 1, "event": kind, ...fields}`. `fields` must be an object.
pub fn line(kind: &str, fields: Value) -> String {
    let mut m = Map::new();
    m.insert("version".to_owned(), json!(VERSION));
    m.insert("event".to_owned(), json!(kind));
    if let Value::Object(f) = fields {
        for (k, v) in f {
            if k != "version" && k != "event" {
                m.insert(k, v);
            }
        }
    }
    Value::Object(m).to_string()
}

/// Prints one event line on stdout.
pub fn emit(kind: &str, fields: Value) {
    println!("{}", line(kind, fields));
}

/// `file`: one output path and what happened (or would happen) to it.
pub fn file(status: &str, path: &str, cluster: &Option<String>) {
    emit(
        "file",
        json!({"status": status, "path": path, "cluster": cluster}),
    );
}

/// `object`: one changed object of a drifted file (kind, name, cluster, effects).
pub fn object(o: &crate::impact::ObjectChange) {
    emit(
        "object",
        json!({
            "change": o.change.word(),
            "cluster": o.cluster,
            "path": o.path,
            "group": o.group,
            "kind": o.kind,
            "namespace": o.namespace,
            "name": o.name,
            "effects": o.effects,
        }),
    );
}

/// `fileNote`: a drifted file that yields no object change (comments only, not YAML, …).
pub fn file_note(f: &crate::impact::FileNote) {
    emit(
        "fileNote",
        json!({"cluster": f.cluster, "path": f.path, "note": f.note}),
    );
}

/// `summary`: the last line of every command's stream; `result` and counts.
pub fn summary(result: &str, counts: Value) {
    let mut fields = json!({"result": result});
    if let (Value::Object(f), Value::Object(c)) = (&mut fields, counts) {
        f.extend(c);
    }
    emit("summary", fields);
}

/// `diagnostic`: one problem of a spec, as the text form shows it (cut at the same length,
/// control characters escaped: a value pasted by mistake never floods a log).
pub fn diagnostic(file: &str, d: &Diagnostic) {
    let located = d.loc.line != 0;
    emit(
        "diagnostic",
        json!({
            "code": d.code.to_string(),
            "severity": match d.severity { Severity::Error => "error", Severity::Warning => "warning" },
            "file": file,
            "line": located.then_some(d.loc.line),
            "column": located.then_some(d.loc.col),
            "message": terminal_safe(&d.message),
            "help": d.help.as_deref().map(terminal_safe),
        }),
    );
}

/// Every diagnostic of a report, sorted as the text form sorts them.
pub fn diagnostics(report: &crate::diag::Report) {
    for d in report.diagnostics.clone().sorted() {
        diagnostic(&report.file, &d);
    }
}

/// `certificate`: one row of `pki status`.
pub fn certificate(row: &crate::pki::status::Row) {
    emit(
        "certificate",
        serde_json::to_value(row).unwrap_or(Value::Null),
    );
}

/// `error`: a command failed before it could report anything else (I/O, PKI, usage).
pub fn error(message: &str) {
    emit("error", json!({"message": message}));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_has_version_and_kind() {
        let l = line("file", json!({"path": "a", "event": "x", "version": 9}));
        let v: Value = serde_json::from_str(&l).unwrap();
        assert_eq!(v, json!({"version": 1, "event": "file", "path": "a"}));
    }
}
