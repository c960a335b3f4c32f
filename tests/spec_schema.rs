//! `schema/spec.schema.json` (printed by `meshrender schema`) stays true to the decoder:
//! - its key paths are exactly those `spec::decode` asks for (`meshrender::spec_key_paths`,
//!   found by decoding, not kept by hand), with the same shape (mapping, list of mappings,
//!   scalar), and every mapping but a free-key one has `additionalProperties: false`, as the
//!   decoder rejects unknown keys;
//! - every valid spec of the tests validates against it (golden cases, reference specs,
//!   warning snapshots, `examples/`, `init` output for every model, every variant the schema
//!   tests render), checked by an independent JSON Schema 2020-12 implementation (`jsonschema`);
//! - every diagnostics snapshot whose spec has an unknown field (E003) is rejected by it.

mod common;
mod variants;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use common::*;

fn schema() -> Value {
    serde_json::from_str(meshrender::spec_schema()).expect("the schema is JSON")
}

fn validator() -> jsonschema::Validator {
    jsonschema::draft202012::new(&schema()).expect("a valid draft 2020-12 schema")
}

/// Key paths of the schema, with their shape: `map`, `list` (of mappings), `scalar`.
fn schema_paths(node: &Value, path: &str, out: &mut BTreeMap<String, &'static str>) {
    let types = |n: &Value| -> Vec<String> {
        match &n["type"] {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a
                .iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        }
    };
    let join = |k: &str| {
        if path.is_empty() {
            k.to_owned()
        } else {
            format!("{path}.{k}")
        }
    };
    let child = |key: &str, sub: &Value, out: &mut BTreeMap<String, &'static str>| {
        let p = join(key);
        let t = types(sub);
        if t.iter().any(|t| t == "object") {
            out.insert(p.clone(), "map");
            schema_paths(sub, &p, out);
        } else if t.iter().any(|t| t == "array") && types(&sub["items"]).contains(&"object".into())
        {
            out.insert(p.clone(), "list");
            schema_paths(&sub["items"], &format!("{p}[]"), out);
        } else {
            out.insert(p, "scalar");
        }
    };
    if let Some(props) = node["properties"].as_object() {
        for (k, sub) in props {
            child(k, sub, out);
        }
    }
    if node["additionalProperties"].is_object() {
        child("*", &node["additionalProperties"], out);
    }
}

#[test]
fn the_schema_has_exactly_the_decoders_keys() {
    let mut from_schema = BTreeMap::new();
    schema_paths(&schema(), "", &mut from_schema);
    let from_decoder = meshrender::spec_key_paths();
    assert!(
        from_decoder.len() >= 60,
        "the decoder walk found only {} keys: {from_decoder:?}",
        from_decoder.len()
    );
    let mut problems = Vec::new();
    for (k, shape) in &from_decoder {
        match from_schema.get(k) {
            None => problems.push(format!(
                "`{k}` ({shape}): known to the decoder, not in the schema"
            )),
            Some(s) if s != shape => problems.push(format!(
                "`{k}`: the decoder reads a {shape}, the schema says {s}"
            )),
            Some(_) => {}
        }
    }
    for (k, shape) in &from_schema {
        if !from_decoder.contains_key(k) {
            problems.push(format!(
                "`{k}` ({shape}): in the schema, unknown to the decoder"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Every object schema describes its keys and refuses others (the decoder's E003), except a
/// mapping of free keys, whose values are described by `additionalProperties`.
#[test]
fn every_mapping_is_closed_and_every_key_described() {
    fn walk(n: &Value, path: &str, problems: &mut Vec<String>) {
        if let Some(props) = n["properties"].as_object() {
            if n["additionalProperties"] != Value::Bool(false)
                && props.is_empty()
                && !n["additionalProperties"].is_object()
            {
                problems.push(format!("`{path}`: additionalProperties is not false"));
            }
            if !props.is_empty() && n["additionalProperties"] != Value::Bool(false) {
                problems.push(format!("`{path}`: additionalProperties is not false"));
            }
            for (k, sub) in props {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                if sub["description"].as_str().is_none_or(|d| d.len() <= 10) {
                    problems.push(format!("`{p}`: no description"));
                }
                walk(sub, &p, problems);
                walk(&sub["items"], &format!("{p}[]"), problems);
            }
        }
        if n["additionalProperties"].is_object() {
            walk(&n["additionalProperties"], &format!("{path}.*"), problems);
        }
    }
    let mut problems = Vec::new();
    walk(&schema(), "", &mut problems);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn yaml_value(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn yaml_specs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    v.sort();
    v
}

#[test]
fn every_valid_spec_of_the_tests_validates() {
    let v = validator();
    let mut specs: Vec<(String, Value)> = Vec::new();
    for case in cases() {
        let p = case.join("spec.yaml");
        specs.push((p.display().to_string(), yaml_value(&p)));
    }
    for e in std::fs::read_dir(root().join("tests/reference-specs")).unwrap() {
        let p = e.unwrap().path().join("spec.yaml");
        specs.push((p.display().to_string(), yaml_value(&p)));
    }
    for p in yaml_specs(&root().join("tests/diagnostics/warnings"))
        .into_iter()
        .chain(yaml_specs(&root().join("examples")))
    {
        specs.push((p.display().to_string(), yaml_value(&p)));
    }
    let d = tempfile::tempdir().unwrap();
    for model in [
        "multi-primary",
        "multi-network",
        "primary-remote",
        "primary-remote-multi-network",
    ] {
        let o = run(d.path(), &["init", "--model", model]);
        assert_eq!(code(&o), 0);
        specs.push((
            format!("init --model {model}"),
            serde_saphyr::from_str(&stdout(&o)).unwrap(),
        ));
    }
    let cases_and_files = specs.len();
    variants::all_variants();
    for (i, s) in variants::written_specs().into_iter().enumerate() {
        specs.push((format!("variant #{i}"), s));
    }
    assert!(specs.len() > cases_and_files + 40, "{} specs", specs.len());
    let mut failures = Vec::new();
    for (name, spec) in &specs {
        let errors: Vec<String> = v
            .iter_errors(spec)
            .map(|e| format!("  {}: {e}", e.instance_path()))
            .collect();
        if !errors.is_empty() {
            failures.push(format!("{name}:\n{}", errors.join("\n")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The schema refuses what the decoder refuses as an unknown field.
#[test]
fn specs_with_an_unknown_field_are_refused() {
    let v = validator();
    let dir = root().join("tests/diagnostics");
    let mut checked = 0;
    for p in yaml_specs(&dir) {
        let expected = std::fs::read_to_string(p.with_extension("expected")).unwrap_or_default();
        if !expected.contains("error[E003]") {
            continue;
        }
        let Ok(spec) = serde_saphyr::from_str::<Value>(&std::fs::read_to_string(&p).unwrap())
        else {
            continue;
        };
        assert!(!v.is_valid(&spec), "{}: the schema accepts it", p.display());
        checked += 1;
    }
    assert!(checked >= 3, "only {checked} specs with E003");
}

/// `docs/spec.md` lists every field of the schema.
#[test]
fn the_spec_reference_lists_every_field() {
    let mut paths = BTreeMap::new();
    schema_paths(&schema(), "", &mut paths);
    let doc = std::fs::read_to_string(root().join("docs/spec.md")).unwrap();
    let missing: Vec<&String> = paths
        .keys()
        .filter(|p| !doc.contains(&format!("| `{p}` |")))
        .collect();
    assert!(missing.is_empty(), "docs/spec.md lacks {missing:?}");
}
