//! The command-line conventions (issue 12 item 5) exercised as a user would: `render -o -`,
//! a spec on standard input, `validate --format json`, one JSON event shape across commands,
//! `schema`, `completions`, and a help text with an example for every argument and command.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::*;

/// A scratch directory with `init --model multi-network` as `mesh.yaml`.
fn starter() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let o = run(d.path(), &["init", "--model", "multi-network"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    std::fs::write(d.path().join("mesh.yaml"), &o.stdout).unwrap();
    d
}

/// Runs meshrender in `dir` with `input` on standard input.
fn run_stdin(dir: &Path, args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// Every line of stdout as a JSON event with `version: 1` and an `event` kind.
fn events(o: &Output) -> Vec<serde_json::Value> {
    let out = stdout(o);
    assert!(!out.is_empty(), "stdout is empty\n{}", stderr(o));
    out.lines()
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            assert_eq!(v["version"], 1, "{l}");
            assert!(v["event"].is_string(), "{l}");
            v
        })
        .collect()
}

/// `(source path, document text)` of each document of a `render -o -` stream.
fn stream_sources(text: &str) -> Vec<(String, String)> {
    assert!(text.starts_with("---\n# Source: "), "{text}");
    text.split("---\n# Source: ")
        .skip(1)
        .map(|part| {
            let (path, body) = part.split_once('\n').unwrap();
            (path.to_owned(), body.to_owned())
        })
        .collect()
}

#[test]
fn render_to_stdout_is_one_yaml_stream_and_writes_nothing() {
    let d = starter();
    // Without CA material: exit 2, a clear message, and no key generated.
    let o = run(d.path(), &["render", "mesh.yaml", "-o", "-"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stdout(&o).is_empty());
    assert!(
        stderr(&o).contains("never creates CA material")
            && stderr(&o).contains("run `meshrender render mesh.yaml -o DIR` once first"),
        "{}",
        stderr(&o)
    );
    assert!(!d.path().join("pki").exists(), "render -o - created pki/");

    let o = run(d.path(), &["render", "mesh.yaml", "-o", "out"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let pki_before = read_tree(&d.path().join("pki"));
    let out_files = read_tree(&d.path().join("out"));

    let o = run(d.path(), &["render", "mesh.yaml", "-o", "-"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = stdout(&o);
    let docs = stream_sources(&text);
    let paths: Vec<&str> = docs.iter().map(|(p, _)| p.as_str()).collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted, "documents in path order");
    // Exactly the YAML files `-o out` wrote, with the same bytes.
    let yaml: Vec<&String> = out_files
        .keys()
        .filter(|p| p.ends_with(".yaml") && !p.starts_with(".meshrender/"))
        .collect();
    assert_eq!(paths, yaml);
    for (path, body) in &docs {
        assert_eq!(
            body.as_bytes(),
            out_files[path]
                .strip_prefix(b"---\n")
                .unwrap_or(&out_files[path]),
            "{path}"
        );
        // each document (and each file's own documents) parses as YAML
        let _ = yaml_docs(body);
    }
    let all = yaml_docs(&text);
    assert!(all.len() >= docs.len());
    assert!(
        stderr(&o).contains("not YAML, left out: ") && stderr(&o).contains("README.md"),
        "{}",
        stderr(&o)
    );
    // Nothing written: pki and the output are as they were, no new directory appeared.
    assert_eq!(read_tree(&d.path().join("pki")), pki_before);
    assert_eq!(read_tree(&d.path().join("out")), out_files);
    assert!(!d.path().join("-").exists());

    // --cluster: only that cluster's files.
    let o = run(
        d.path(),
        &["render", "mesh.yaml", "-o", "-", "--cluster", "cluster2"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let docs = stream_sources(&stdout(&o));
    assert!(!docs.is_empty());
    assert!(
        docs.iter()
            .all(|(p, _)| p.starts_with("clusters/cluster2/")),
        "{docs:?}"
    );
    let o = run(
        d.path(),
        &["render", "mesh.yaml", "-o", "-", "--cluster", "nope"],
    );
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("--cluster nope"), "{}", stderr(&o));
    // --format json would mix events into the YAML.
    let o = run(
        d.path(),
        &["render", "mesh.yaml", "-o", "-", "--format", "json"],
    );
    assert_eq!(code(&o), 2);
}

#[test]
fn a_spec_of_dash_is_read_from_standard_input() {
    let d = starter();
    let spec = std::fs::read(d.path().join("mesh.yaml")).unwrap();
    let o = run_stdin(d.path(), &["validate", "-"], &spec);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stderr(&o).starts_with("<stdin>: ok: "), "{}", stderr(&o));

    // Diagnostics name the file <stdin>.
    let broken = String::from_utf8(spec.clone())
        .unwrap()
        .replace("network: network1", "netwrok: network1");
    let o = run_stdin(d.path(), &["validate", "-"], broken.as_bytes());
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("<stdin>:") && stderr(&o).contains("unknown field `netwrok`"),
        "{}",
        stderr(&o)
    );

    // Relative paths (pki.dir) resolve against the working directory.
    let o = run_stdin(d.path(), &["render", "-", "-o", "out"], &spec);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(d.path().join("pki/root-cert.pem").is_file());
    let o = run_stdin(d.path(), &["check", "-", "-o", "out"], &spec);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = run_stdin(d.path(), &["diff", "-", "-o", "out"], &spec);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = run_stdin(d.path(), &["render", "-", "-o", "-"], &spec);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = run_stdin(d.path(), &["pki", "status", "-"], &spec);
    assert_eq!(code(&o), 0, "{}", stderr(&o));

    // Bounded like a file: more than 64 MiB is refused.
    let big = vec![b'#'; (64 << 20) + 10];
    let o = run_stdin(d.path(), &["validate", "-"], &big);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("<stdin>: cannot read the spec"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn validate_json_prints_diagnostics_as_events() {
    let d = starter();
    let o = run(d.path(), &["validate", "mesh.yaml", "--format", "json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let ev = events(&o);
    assert_eq!(ev.last().unwrap()["event"], "summary");
    assert_eq!(ev.last().unwrap()["result"], "ok");

    let text = std::fs::read_to_string(d.path().join("mesh.yaml")).unwrap();
    std::fs::write(
        d.path().join("bad.yaml"),
        text.replace("role: primary", "role: primray"),
    )
    .unwrap();
    let o = run(d.path(), &["validate", "bad.yaml", "--format", "json"]);
    assert_eq!(code(&o), 2);
    let ev = events(&o);
    let diag = ev
        .iter()
        .find(|e| e["event"] == "diagnostic")
        .expect("a diagnostic event");
    assert_eq!(diag["code"], "E005");
    assert_eq!(diag["severity"], "error");
    assert_eq!(diag["file"], "bad.yaml");
    assert!(diag["line"].as_u64().unwrap() > 0);
    assert!(diag["column"].as_u64().unwrap() > 0);
    assert!(diag["message"].as_str().unwrap().contains("primray"));
    assert_eq!(diag["help"], "did you mean `primary`?");
    let last = ev.last().unwrap();
    assert_eq!(
        (&last["event"], &last["result"]),
        (&"summary".into(), &"invalid".into())
    );
    // The text form still goes to stderr.
    assert!(stderr(&o).contains("bad.yaml:"), "{}", stderr(&o));

    // The same for every command with --format json.
    for args in [
        &["render", "bad.yaml", "-o", "out", "--format", "json"][..],
        &["check", "bad.yaml", "-o", "out", "--format", "json"],
        &["pki", "status", "bad.yaml", "--format", "json"],
    ] {
        let o = run(d.path(), args);
        assert_eq!(code(&o), 2, "{args:?}");
        let ev = events(&o);
        assert!(ev.iter().any(|e| e["code"] == "E005"), "{args:?}: {ev:?}");
    }
    // A failure that is not a spec error is an `error` event.
    let o = run(d.path(), &["validate", "missing.yaml", "--format", "json"]);
    assert_eq!(code(&o), 2);
    let ev = events(&o);
    assert_eq!(ev[0]["event"], "error");
    assert!(ev[0]["message"].as_str().unwrap().contains("missing.yaml"));
}

#[test]
fn every_json_line_of_every_command_has_version_and_event() {
    let d = starter();
    let mut kinds = std::collections::BTreeSet::new();
    for args in [
        &["render", "mesh.yaml", "-o", "out", "--format", "json"][..],
        &["check", "mesh.yaml", "-o", "out", "--format", "json"],
        &["validate", "mesh.yaml", "--format", "json"],
        &["pki", "status", "mesh.yaml", "--format", "json"],
    ] {
        let o = run(d.path(), args);
        assert_eq!(code(&o), 0, "{args:?}: {}", stderr(&o));
        for e in events(&o) {
            kinds.insert(e["event"].as_str().unwrap().to_owned());
        }
    }
    for k in ["file", "summary", "certificate"] {
        assert!(kinds.contains(k), "{kinds:?}");
    }
    // docs/events.md documents every kind seen.
    let doc = std::fs::read_to_string(root().join("docs/events.md")).unwrap();
    kinds.extend(["diagnostic", "error", "backend"].map(String::from));
    for k in &kinds {
        assert!(
            doc.contains(&format!("`{k}`")),
            "docs/events.md does not document `{k}`"
        );
    }
}

#[test]
fn schema_and_init_point_at_each_other() {
    let d = tempfile::tempdir().unwrap();
    let o = run(d.path(), &["schema"]);
    assert_eq!(code(&o), 0);
    let schema: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    for model in [
        "multi-primary",
        "multi-network",
        "primary-remote",
        "primary-remote-multi-network",
    ] {
        let o = run(d.path(), &["init", "--model", model]);
        assert!(
            stdout(&o).starts_with("# yaml-language-server: $schema=meshrender.schema.json\n"),
            "{model}"
        );
    }
}

#[test]
fn completions_for_every_shell() {
    let d = tempfile::tempdir().unwrap();
    let o = run(d.path(), &["completions", "bash"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let bash = stdout(&o);
    for sub in [
        "init",
        "validate",
        "render",
        "check",
        "diff",
        "pki",
        "rotate-root",
        "schema",
        "completions",
    ] {
        assert!(bash.contains(sub), "bash completion lacks {sub}");
    }
    for shell in ["zsh", "fish", "powershell", "elvish"] {
        let o = run(d.path(), &["completions", shell]);
        assert_eq!(code(&o), 0, "{shell}");
        assert!(stdout(&o).contains("validate"), "{shell}");
    }
    assert_eq!(code(&run(d.path(), &["completions", "tcsh"])), 2);
}

/// Every command has a help text and an `Examples:` section; every argument and every value
/// of a value enum has a help text.
#[test]
fn every_command_and_argument_has_help_and_an_example() {
    fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
        let name = format!("{path} {}", cmd.get_name()).trim().to_owned();
        if cmd.get_about().is_none() && cmd.get_long_about().is_none() {
            missing.push(format!("`{name}`: no about"));
        }
        let after = cmd
            .get_after_help()
            .or(cmd.get_after_long_help())
            .map(|s| s.to_string())
            .unwrap_or_default();
        if !after.contains("Examples:\n  meshrender ") {
            missing.push(format!("`{name}`: no `Examples:` in after_help"));
        }
        for a in cmd.get_arguments() {
            let id = a.get_id().as_str();
            if id == "help" || id == "version" {
                continue;
            }
            let help = a
                .get_help()
                .or(a.get_long_help())
                .map(|s| s.to_string())
                .unwrap_or_default();
            if help.trim().is_empty() {
                missing.push(format!("`{name}` argument `{id}`: no help"));
            }
            let values = if a.get_action().takes_values() {
                a.get_possible_values()
            } else {
                Vec::new()
            };
            for v in values {
                if v.get_help().is_none() {
                    missing.push(format!(
                        "`{name}` argument `{id}` value `{}`: no help",
                        v.get_name()
                    ));
                }
            }
        }
        for s in cmd.get_subcommands() {
            if s.get_name() != "help" {
                walk(s, &name, missing);
            }
        }
    }
    let mut missing = Vec::new();
    let cmd = meshrender::cli::command();
    walk(&cmd, "", &mut missing);
    assert!(missing.is_empty(), "{}", missing.join("\n"));
    // The walk saw the whole tree (8 commands, 3 under pki).
    assert!(cmd.get_subcommands().count() >= 8);
}
