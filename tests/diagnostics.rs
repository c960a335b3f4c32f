//! Diagnostic snapshots: each `tests/diagnostics/<name>.yaml` is a broken spec and
//! `<name>.expected` the exact text meshrender prints for it (shown as `<name>.yaml`, so the
//! snapshots do not depend on where the repository lives). Fixture inputs named by the specs
//! live under `tests/diagnostics/files/`.
//!
//! `UPDATE_GOLDEN=1 cargo test --test diagnostics` rewrites the `.expected` files; review that
//! diff like code: every message must be clear, say what was expected, and point at the line
//! and column of the mistake.
//!
//! Also here: the CLI contract for broken specs (exit 2, output directory untouched), the
//! `init` starters validating and rendering, and a deterministic "no panic on any input" test.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use meshrender::{Failure, load_mesh};

use common::{root, update_golden};

/// Snapshots whose only problem concerns the file as a whole, so no `:LINE:COL:` is printed.
const FILE_WIDE: &[&str] = &["comment-only", "empty-spec", "not-utf8"];

/// Snapshots without the `N errors found; nothing was rendered` summary (none: every failure,
/// including a non-UTF-8 spec, goes through `Diagnostics::render`).
const NO_SUMMARY: &[&str] = &[];

/// Codes no snapshot can show, each with its reason (none today: every code is reachable
/// from a spec file). Every other code of `Code::ALL` must appear in at least one snapshot:
/// errors in `tests/diagnostics/*.expected`, warnings in `tests/diagnostics/warnings/`.
const UNREACHABLE_CODES: &[(&str, &str)] = &[];

/// Every code a snapshot must cover, derived from the `Code` enum.
fn codes_to_cover(prefix: char) -> Vec<String> {
    meshrender::diag::Code::ALL
        .iter()
        .map(|c| c.to_string())
        .filter(|c| c.starts_with(prefix))
        .filter(|c| UNREACHABLE_CODES.iter().all(|(u, _)| u != c))
        .collect()
}

const MODELS: &[&str] = &[
    "multi-primary",
    "multi-network",
    "primary-remote",
    "primary-remote-multi-network",
];

fn diag_dir() -> PathBuf {
    root().join("tests").join("diagnostics")
}

/// `(name, path)` of every `tests/diagnostics/*.yaml`, sorted by name.
fn broken_specs() -> Vec<(String, PathBuf)> {
    let mut v: Vec<(String, PathBuf)> = std::fs::read_dir(diag_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| (p.file_stem().unwrap().to_string_lossy().into_owned(), p))
        .collect();
    v.sort();
    v
}

/// The diagnostics text for a spec that must be invalid.
fn diagnostics_of(name: &str, path: &Path) -> Result<String, String> {
    match load_mesh(path, &format!("{name}.yaml")) {
        Err(Failure::Invalid(report)) => Ok(report.render()),
        Err(other) => Err(format!(
            "{name}.yaml: expected Failure::Invalid, got {other:?}"
        )),
        Ok(_) => Err(format!(
            "{name}.yaml: expected the spec to be invalid, but it validated"
        )),
    }
}

/// Whether a line is a located diagnostic `NAME.yaml:LINE:COL: error[E…`.
fn is_located_error(line: &str, file: &str) -> bool {
    let Some(rest) = line.strip_prefix(file).and_then(|r| r.strip_prefix(':')) else {
        return false;
    };
    let mut parts = rest.splitn(3, ':');
    let (Some(l), Some(c), Some(tail)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let number = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && s != "0";
    number(l) && number(c) && tail.starts_with(" error[E")
}

fn codes_in(text: &str) -> BTreeSet<String> {
    text.match_indices("error[E")
        .filter_map(|(i, _)| text.get(i + 6..i + 10))
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_broken_spec_matches_its_snapshot() {
    let specs = broken_specs();
    assert!(
        specs.len() >= 16,
        "expected at least 16 broken specs, found {}",
        specs.len()
    );
    let mut failures = Vec::new();
    let mut covered = BTreeSet::new();
    for (name, path) in &specs {
        let got = match diagnostics_of(name, path) {
            Ok(t) => t,
            Err(e) => {
                failures.push(e);
                continue;
            }
        };
        let file = format!("{name}.yaml");
        covered.extend(codes_in(&got));

        // Shape of the output, independent of the snapshot.
        let located = got.lines().filter(|l| is_located_error(l, &file)).count();
        if FILE_WIDE.contains(&name.as_str()) {
            if located != 0 {
                failures.push(format!(
                    "{file}: listed as file-wide but has located errors:\n{got}"
                ));
            }
        } else if located == 0 {
            failures.push(format!(
                "{file}: no `{file}:LINE:COL: error[E…` line:\n{got}"
            ));
        }
        if !NO_SUMMARY.contains(&name.as_str()) && !got.ends_with("nothing was rendered\n") {
            failures.push(format!("{file}: no summary line at the end:\n{got}"));
        }
        for line in got.lines() {
            let ok = line.starts_with(&format!("{file}:")) || line.starts_with("  help: ");
            if !ok {
                failures.push(format!("{file}: unexpected line shape {line:?}"));
            }
        }

        check_snapshot(path, &got, &mut failures);
    }
    for code in codes_to_cover('E') {
        if !covered.contains(&code) {
            failures.push(format!("no snapshot covers {code}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{}\n\nIf the change is intended: UPDATE_GOLDEN=1 cargo test --test diagnostics, then review the diff.",
        failures.join("\n\n")
    );
}

#[test]
fn every_snapshot_has_its_spec() {
    let names: BTreeSet<String> = broken_specs().into_iter().map(|(n, _)| n).collect();
    for e in std::fs::read_dir(diag_dir()).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|e| e == "expected") {
            let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
            assert!(
                names.contains(&stem),
                "{}: no {stem}.yaml beside it",
                p.display()
            );
        }
    }
}

#[test]
fn one_run_reports_every_independent_mistake() {
    let path = diag_dir().join("many-mistakes.yaml");
    let text = diagnostics_of("many-mistakes", &path).unwrap();
    let codes = codes_in(&text);
    for code in [
        "E002", "E003", "E005", "E012", "E013", "E015", "E017", "E019", "E021", "E022", "E030",
    ] {
        assert!(codes.contains(code), "{code} missing from:\n{text}");
    }
    let errors = text.lines().filter(|l| l.contains(": error[E")).count();
    assert!(errors >= 12, "only {errors} errors:\n{text}");
    assert!(
        text.ends_with(&format!(
            "many-mistakes.yaml: {errors} errors found; nothing was rendered\n"
        )),
        "{text}"
    );
}

// ---------------------------------------------------------------------------------------
// The binary.

fn meshrender(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meshrender"))
        .args(args)
        .current_dir(dir)
        .env_remove("UPDATE_GOLDEN")
        .output()
        .unwrap()
}

fn show(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Everything under `dir`: directories and files (with contents), by relative path.
fn tree_state(dir: &Path) -> BTreeMap<String, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let e = e.unwrap();
        let rel = e
            .path()
            .strip_prefix(dir)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let content = if e.file_type().is_file() {
            Some(std::fs::read(e.path()).unwrap())
        } else {
            None
        };
        out.insert(
            format!("{rel}{}", if content.is_none() { "/" } else { "" }),
            content,
        );
    }
    out
}

fn copy_tree(from: &Path, to: &Path) {
    for e in walkdir::WalkDir::new(from) {
        let e = e.unwrap();
        let dest = to.join(e.path().strip_prefix(from).unwrap());
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

#[test]
fn cli_refuses_broken_specs_and_leaves_the_output_untouched() {
    // Work on a copy, so nothing the binary might create lands in the source tree.
    let work = tempfile::tempdir().unwrap();
    let specs_dir = work.path().join("specs");
    copy_tree(&diag_dir(), &specs_dir);
    // A previous render's output, plus files meshrender does not own.
    let previous = tempfile::tempdir().unwrap();
    copy_tree(
        &root().join("tests/cases/multi-primary/expected"),
        previous.path(),
    );
    std::fs::write(previous.path().join("NOTES.txt"), "hand-written, keep\n").unwrap();
    std::fs::create_dir_all(previous.path().join(".meshrender")).unwrap();
    std::fs::write(
        previous.path().join(".meshrender/owned.json"),
        "{\"files\": []}\n",
    )
    .unwrap();
    let specs_before = tree_state(&specs_dir);

    let mut failures = Vec::new();
    for (name, _) in broken_specs() {
        let file = format!("{name}.yaml");
        let expected = std::fs::read_to_string(diag_dir().join(format!("{name}.expected")))
            .unwrap_or_default();

        let v = meshrender(&specs_dir, &["validate", &file]);
        if v.status.code() != Some(2) {
            failures.push(format!("validate {file}: want exit 2\n{}", show(&v)));
        } else if !expected.is_empty() && String::from_utf8_lossy(&v.stderr) != expected {
            failures.push(format!(
                "validate {file}: stderr is not {name}.expected\n{}",
                show(&v)
            ));
        }
        if !v.stdout.is_empty() {
            failures.push(format!("validate {file}: wrote to stdout\n{}", show(&v)));
        }

        let out = work.path().join(format!("out-{name}"));
        copy_tree(previous.path(), &out);
        let before = tree_state(&out);
        let r = meshrender(&specs_dir, &["render", &file, "-o", &out.to_string_lossy()]);
        if r.status.code() != Some(2) {
            failures.push(format!("render {file}: want exit 2\n{}", show(&r)));
        } else if !expected.is_empty() && String::from_utf8_lossy(&r.stderr) != expected {
            failures.push(format!(
                "render {file}: stderr is not {name}.expected\n{}",
                show(&r)
            ));
        }
        let after = tree_state(&out);
        if before != after {
            let changed: Vec<&String> = before
                .keys()
                .chain(after.keys())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .filter(|k| before.get(*k) != after.get(*k))
                .collect();
            failures.push(format!(
                "render {file}: the output directory changed: {changed:?}"
            ));
        }
        // A never-existing output directory is not created either.
        let fresh = work.path().join(format!("fresh-{name}"));
        let r = meshrender(
            &specs_dir,
            &["render", &file, "-o", &fresh.to_string_lossy()],
        );
        if r.status.code() != Some(2) || fresh.exists() {
            failures.push(format!(
                "render {file} into a new directory: want exit 2 and no directory\n{}",
                show(&r)
            ));
        }
    }
    if tree_state(&specs_dir) != specs_before {
        failures.push("the specs' directory changed (e.g. pki/ created)".to_owned());
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn init_starters_validate_and_render() {
    for model in MODELS {
        let dir = tempfile::tempdir().unwrap();
        let init = meshrender(dir.path(), &["init", "--model", model]);
        assert_eq!(init.status.code(), Some(0), "init {model}\n{}", show(&init));
        std::fs::write(dir.path().join("mesh.yaml"), &init.stdout).unwrap();

        let v = meshrender(dir.path(), &["validate", "mesh.yaml"]);
        assert_eq!(v.status.code(), Some(0), "validate {model}\n{}", show(&v));
        assert!(
            String::from_utf8_lossy(&v.stderr).contains("mesh.yaml: ok: "),
            "validate {model}\n{}",
            show(&v)
        );

        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let r = meshrender(dir.path(), &["render", "mesh.yaml", "-o", "out"]);
        assert_eq!(r.status.code(), Some(0), "render {model}\n{}", show(&r));
        let files = tree_state(&out);
        assert!(
            files.keys().any(|k| k.starts_with("clusters/cluster1/")),
            "render {model}: nothing under clusters/cluster1: {:?}",
            files.keys().collect::<Vec<_>>()
        );
        assert!(
            dir.path().join("pki").join("root-cert.pem").is_file(),
            "render {model}: no pki/ beside the spec"
        );
    }
}

#[test]
fn init_rejects_an_unknown_model() {
    let dir = tempfile::tempdir().unwrap();
    let o = meshrender(dir.path(), &["init", "--model", "multi-primery"]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(o.stdout.is_empty(), "{}", show(&o));
}

// ---------------------------------------------------------------------------------------
// No panics on any input.

/// splitmix64: small, deterministic, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Replacement scalars: wrong types, extremes, odd Unicode.
fn odd_values() -> Vec<String> {
    vec![
        "[]".into(),
        "{}".into(),
        "~".into(),
        "-1".into(),
        "0".into(),
        "99999999999999999999".into(),
        "1e309".into(),
        "-.inf".into(),
        ".nan".into(),
        "1.0".into(),
        "1.".into(),
        "true".into(),
        "\"\"".into(),
        "''".into(),
        "x".repeat(70_000),
        "a-".repeat(40),
        "\"\u{202e}cluster1\u{200d}\"".into(),
        "\u{feff}cluster1".into(),
        "İstanbul-ß-ﬁ".into(),
        "\"𝟙.𝟚𝟠\"".into(),
        "\"\\u0000\"".into(),
        "\"\\t \\r\"".into(),
        "https://[::1".into(),
        "https://[::1]:0".into(),
        "https://:6443".into(),
        "https://203.0.113.1:".into(),
        "files/".into(),
        "/".into(),
        "..".into(),
        "../../../../../../etc/hostname".into(),
        "files/ca.der".into(),
        "&a [*a]".into(),
        "*undefined".into(),
        "!!binary aGVsbG8=".into(),
        "|\n  multi\n  line".into(),
    ]
}

fn char_floor(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Deterministic mutations of one spec text.
fn mutations(text: &str, rng: &mut Rng) -> Vec<String> {
    let mut out = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let join = |ls: &[&str]| {
        let mut s = ls.join("\n");
        s.push('\n');
        s
    };
    // Truncations at every Nth byte.
    let step = (text.len() / 6).max(1);
    let mut i = step / 2;
    while i < text.len() {
        out.push(text[..char_floor(text, i)].to_owned());
        i += step;
    }
    if lines.is_empty() {
        return out;
    }
    let odd = odd_values();
    for _ in 0..3 {
        // Delete a line.
        let mut ls = lines.clone();
        ls.remove(rng.below(ls.len()));
        out.push(join(&ls));
        // Duplicate a line.
        let mut ls = lines.clone();
        let k = rng.below(ls.len());
        ls.insert(k, lines[k]);
        out.push(join(&ls));
        // Swap two lines.
        let mut ls = lines.clone();
        let (a, b) = (rng.below(ls.len()), rng.below(ls.len()));
        ls.swap(a, b);
        out.push(join(&ls));
    }
    // Replace scalars after `key: ` (block or flow style) with odd values.
    let candidates: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.contains(": ") && !l.trim_start().starts_with('#'))
        .map(|(i, _)| i)
        .collect();
    for _ in 0..5 {
        if candidates.is_empty() {
            break;
        }
        let k = *rng.pick(&candidates);
        let line = lines[k];
        let colons: Vec<usize> = line.match_indices(": ").map(|(i, _)| i).collect();
        let at = *rng.pick(&colons) + 2;
        let rest = &line[at..];
        let end = rest.find([',', '}']).map_or(line.len(), |e| at + e);
        let value = rng.pick(&odd);
        let mut ls: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
        ls[k] = format!("{}{}{}", &line[..at], value, &line[end..]);
        out.push(ls.join("\n") + "\n");
    }
    // Re-indent a line, and splice odd text at a random byte.
    let mut ls: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
    let k = rng.below(ls.len());
    ls[k] = format!("{}{}", " ".repeat(rng.below(5)), ls[k].trim_start());
    out.push(ls.join("\n") + "\n");
    let at = char_floor(text, rng.below(text.len() + 1));
    let odd_text = [
        "\t", "\"", "'", "[", "{", "- ", ": ", "\u{0}", "\r", "&x ", "*x", "!",
    ];
    out.push(format!(
        "{}{}{}",
        &text[..at],
        rng.pick(&odd_text),
        &text[at..]
    ));
    out
}

#[test]
fn no_panics_on_mutated_specs() {
    let mut seeds: Vec<(PathBuf, String)> = Vec::new();
    for case in common::cases() {
        let text = std::fs::read_to_string(case.join("spec.yaml")).unwrap();
        seeds.push((case, text));
    }
    for (_, path) in broken_specs() {
        let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
        seeds.push((diag_dir(), text));
    }
    // Hostile shapes no mutation of a spec produces.
    let deep = format!("clusters: {}{}\n", "[".repeat(5_000), "]".repeat(5_000));
    let laughs = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n\
         c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n\
         e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nclusters: [*e, *e, *e, *e, *e, *e, *e, *e]\n";
    let extra = [
        String::new(),
        "---\n".to_owned(),
        "---\na: 1\n---\nb: 2\n".to_owned(),
        "- just\n- a\n- list\n".to_owned(),
        "\"a string\"\n".to_owned(),
        "? [complex, key]\n: value\n".to_owned(),
        "1: 2\nnull: 3\ntrue: 4\n".to_owned(),
        deep,
        laughs.to_owned(),
    ];
    let mut inputs: Vec<(PathBuf, String)> = extra.into_iter().map(|t| (diag_dir(), t)).collect();
    let mut rng = Rng(0x6d65_7368_7265_6e64);
    for (base, text) in &seeds {
        inputs.push((base.clone(), text.clone()));
        for m in mutations(text, &mut rng) {
            inputs.push((base.clone(), m));
        }
    }
    assert!(inputs.len() >= 300, "only {} inputs", inputs.len());
    eprintln!("no-panic check over {} inputs", inputs.len());

    let mut panics = Vec::new();
    for (base, text) in &inputs {
        let r = catch_unwind(AssertUnwindSafe(|| {
            meshrender::validate::load_and_validate(text, base)
        }));
        if r.is_err() {
            let shown: String = text.chars().take(2_000).collect();
            panics.push(format!("panicked on (base {}):\n{shown}", base.display()));
        }
    }
    assert!(
        panics.is_empty(),
        "{} of {} inputs panicked:\n\n{}",
        panics.len(),
        inputs.len(),
        panics.join("\n\n")
    );
}

/// Valid specs that render with warnings: each `warnings/*.yaml` validates and its warnings
/// match `*.expected`; together they cover every warning code.
#[test]
fn warnings_match_their_snapshots() {
    let dir = root().join("tests/diagnostics/warnings");
    let mut specs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    specs.sort();
    assert!(!specs.is_empty(), "no spec in {}", dir.display());
    let mut failures = Vec::new();
    let mut covered = BTreeSet::new();
    for path in &specs {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let got = match load_mesh(path, &file) {
            Ok((_, warnings)) => warnings.render(),
            Err(e) => {
                failures.push(format!("{file}: expected a valid spec, got:\n{e}"));
                continue;
            }
        };
        if got.is_empty() {
            failures.push(format!("{file}: no warning"));
        }
        covered.extend(
            got.match_indices("warning[W")
                .filter_map(|(i, _)| got.get(i + 8..i + 12))
                .map(str::to_owned),
        );
        check_snapshot(path, &got, &mut failures);
    }
    for code in codes_to_cover('W') {
        if !covered.contains(&code) {
            failures.push(format!("no warning snapshot covers {code}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Compares `got` with the snapshot beside `spec` (`*.expected`), or writes it with
/// `UPDATE_GOLDEN=1`.
fn check_snapshot(spec: &Path, got: &str, failures: &mut Vec<String>) {
    let expected_path = spec.with_extension("expected");
    if update_golden() {
        std::fs::write(&expected_path, got).unwrap();
        return;
    }
    let file = spec.file_name().unwrap().to_string_lossy();
    match std::fs::read_to_string(&expected_path) {
        Ok(want) if want == got => {}
        Ok(want) => failures.push(format!(
            "{file}: diagnostics differ (- expected, + actual):\n{}",
            similar::TextDiff::from_lines(&want, got)
                .unified_diff()
                .context_radius(3)
                .header("expected", "actual")
        )),
        Err(e) => failures.push(format!(
            "{}: {e} (UPDATE_GOLDEN=1 creates it)",
            expected_path.display()
        )),
    }
}
