//! A small validator for the structural OpenAPI v3 schemas of Kubernetes CRDs, enough to check
//! rendered objects against the CRDs in `../shared` without a cluster.
//!
//! What it checks, as the API server does: `type` (object, array, string, integer, boolean,
//! number), `nullable`, `x-kubernetes-int-or-string`, `properties` with unknown fields rejected
//! (unless `x-kubernetes-preserve-unknown-fields: true` or `additionalProperties` allows
//! them), `additionalProperties` (bool or schema), `required`, `enum`, `items`,
//! `minimum`/`maximum` (and the exclusive forms), `minLength`/`maxLength`, `pattern` (the
//! `regex` crate, see [`Regex`]), `minItems`/`maxItems`, `uniqueItems`, `x-kubernetes-list-type`
//! (`set`, `map` with `x-kubernetes-list-map-keys`), `minProperties`/`maxProperties`, and the
//! junctors `allOf`/`anyOf`/`oneOf`/`not` as value validations (inside them no field is
//! "unknown", as in a structural schema). Not checked: `format`, CEL
//! `x-kubernetes-validations`, defaulting.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

// ---------------------------------------------------------------------------------------
// CRD catalog
// ---------------------------------------------------------------------------------------

#[derive(Debug)]
pub struct CrdVersion {
    pub name: String,
    pub served: bool,
    pub schema: Value,
}

#[derive(Debug)]
pub struct Crd {
    /// `metadata.name` of the CRD, e.g. `gateways.networking.istio.io`.
    pub name: String,
    pub group: String,
    pub kind: String,
    pub versions: Vec<CrdVersion>,
    pub source: PathBuf,
}

impl Crd {
    pub fn version(&self, v: &str) -> Option<&CrdVersion> {
        self.versions.iter().find(|x| x.name == v)
    }
}

#[derive(Debug, Default)]
pub struct Catalog {
    pub crds: Vec<Crd>,
}

/// How an object was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    /// Against `openAPIV3Schema` of this CRD (metadata.name) and version.
    Schema { crd: String, version: String },
    /// No CRD in the catalog for its group: apiVersion, kind and metadata only.
    NoCrd,
}

impl Catalog {
    /// Every `CustomResourceDefinition` document of every file.
    pub fn load(files: &[PathBuf]) -> Catalog {
        let mut crds = Vec::new();
        for f in files {
            let text =
                std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            let docs: Vec<Value> = serde_saphyr::from_multiple(&text)
                .unwrap_or_else(|e| panic!("{}: not YAML: {e}", f.display()));
            for d in docs {
                if d["kind"] != "CustomResourceDefinition" {
                    continue;
                }
                crds.push(crd_from(&d, f));
            }
        }
        Catalog { crds }
    }

    pub fn find(&self, group: &str, kind: &str) -> Option<&Crd> {
        self.crds
            .iter()
            .find(|c| c.group == group && c.kind == kind)
    }

    pub fn has_group(&self, group: &str) -> bool {
        self.crds.iter().any(|c| c.group == group)
    }

    /// Checks one object: apiVersion, kind and metadata always; the whole object against its
    /// CRD's schema where the catalog has a CRD for its group. Errors are `path: message`.
    pub fn check_object(&self, obj: &Value) -> Result<Checked, Vec<String>> {
        let mut errs = Vec::new();
        let api = obj["apiVersion"].as_str().unwrap_or_default();
        let kind = obj["kind"].as_str().unwrap_or_default();
        if api.is_empty() {
            errs.push("apiVersion: missing or not a string".to_owned());
        }
        if kind.is_empty() {
            errs.push("kind: missing or not a string".to_owned());
        }
        check_metadata(&obj["metadata"], &mut errs);
        if !errs.is_empty() {
            return Err(errs);
        }
        let (group, version) = match api.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api),
        };
        let Some(crd) = self.find(group, kind) else {
            if self.has_group(group) {
                return Err(vec![format!(
                    "kind: group {group} has no CRD for kind {kind}"
                )]);
            }
            return Ok(Checked::NoCrd);
        };
        let Some(ver) = crd.version(version) else {
            let have: Vec<&str> = crd.versions.iter().map(|v| v.name.as_str()).collect();
            return Err(vec![format!(
                "apiVersion: CRD {} has no version {version} (it has {})",
                crd.name,
                have.join(", ")
            )]);
        };
        if !ver.served {
            return Err(vec![format!(
                "apiVersion: version {version} of CRD {} is not served (served: false)",
                crd.name
            )]);
        }
        // apiVersion, kind and metadata are the API server's (checked above), whatever the
        // root schema declares or requires of them.
        let mut body = obj.as_object().cloned().unwrap_or_default();
        let mut root = ver.schema.clone();
        for k in ["apiVersion", "kind", "metadata"] {
            body.remove(k);
            if let Some(req) = root.get_mut("required").and_then(Value::as_array_mut) {
                req.retain(|r| r != k);
            }
        }
        validate(&root, &Value::Object(body), "", &mut errs);
        if errs.is_empty() {
            Ok(Checked::Schema {
                crd: crd.name.clone(),
                version: version.to_owned(),
            })
        } else {
            Err(errs)
        }
    }
}

fn crd_from(d: &Value, f: &Path) -> Crd {
    let spec = &d["spec"];
    let name = d["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let versions = spec["versions"]
        .as_array()
        .unwrap_or_else(|| panic!("{}: CRD {name} has no spec.versions", f.display()))
        .iter()
        .map(|v| CrdVersion {
            name: v["name"].as_str().unwrap_or_default().to_owned(),
            served: v["served"] == true,
            schema: v["schema"]["openAPIV3Schema"].clone(),
        })
        .collect();
    Crd {
        group: spec["group"].as_str().unwrap_or_default().to_owned(),
        kind: spec["names"]["kind"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        name,
        versions,
        source: f.to_path_buf(),
    }
}

/// DNS-1123 subdomain: what the API server requires of most object names.
pub fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253 && !s.is_empty() && s.split('.').all(is_dns1123_label)
}

pub fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// A label or annotation key: an optional DNS-subdomain prefix and `/`, then a name of at
/// most 63 characters from `[-._a-zA-Z0-9]`, starting and ending alphanumeric.
pub fn is_qualified_name(key: &str) -> bool {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    prefix.is_none_or(is_dns1123_subdomain) && !name.is_empty() && is_label_value(name)
}

/// A label value: empty, or at most 63 characters from `[-._a-zA-Z0-9]`, starting and ending
/// alphanumeric.
pub fn is_label_value(v: &str) -> bool {
    let b = v.as_bytes();
    b.is_empty()
        || (b.len() <= 63
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric())
}

/// `metadata`: name (DNS-1123 subdomain), namespace (label) when present, labels and
/// annotations maps from qualified names to strings (the API server rejects a boolean label
/// value), label values valid.
fn check_metadata(md: &Value, errs: &mut Vec<String>) {
    let Some(md) = md.as_object() else {
        errs.push("metadata: missing or not an object".to_owned());
        return;
    };
    match md.get("name").and_then(Value::as_str) {
        Some(n) if is_dns1123_subdomain(n) => {}
        Some(n) => errs.push(format!("metadata.name: {n:?} is not a DNS-1123 subdomain")),
        None => errs.push("metadata.name: missing or not a string".to_owned()),
    }
    if let Some(ns) = md.get("namespace")
        && !ns.as_str().is_some_and(is_dns1123_label)
    {
        errs.push(format!("metadata.namespace: {ns} is not a DNS-1123 label"));
    }
    for k in ["labels", "annotations"] {
        let Some(m) = md.get(k) else { continue };
        let Some(m) = m.as_object() else {
            errs.push(format!("metadata.{k}: not a map"));
            continue;
        };
        for (key, v) in m {
            if !is_qualified_name(key) {
                errs.push(format!(
                    "metadata.{k}: key {key:?} is not a qualified name ([prefix/]name)"
                ));
            }
            match v.as_str() {
                None => errs.push(format!("metadata.{k}.{key}: {v} is not a string")),
                Some(val) if k == "labels" && !is_label_value(val) => errs.push(format!(
                    "metadata.labels.{key}: {val:?} is not a valid label value"
                )),
                Some(_) => {}
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Schema validation
// ---------------------------------------------------------------------------------------

/// Validates `value` against the structural schema `schema`; violations are appended to
/// `errs` as `path: message` (`path` as given, then `.field` / `[index]`).
pub fn validate(schema: &Value, value: &Value, path: &str, errs: &mut Vec<String>) {
    check(schema, value, path, errs, true);
}

/// Whether `value` satisfies `schema` as a value validation (no unknown-field checks).
fn satisfies(schema: &Value, value: &Value) -> bool {
    let mut e = Vec::new();
    check(schema, value, "", &mut e, false);
    e.is_empty()
}

fn shown(path: &str) -> &str {
    if path.is_empty() {
        "<root>"
    } else {
        path.strip_prefix('.').unwrap_or(path)
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn is_integer(v: &Value) -> bool {
    v.as_number().is_some_and(|n| n.is_i64() || n.is_u64())
}

fn flag(schema: &Value, key: &str) -> bool {
    schema.get(key) == Some(&Value::Bool(true))
}

fn check(schema: &Value, value: &Value, path: &str, errs: &mut Vec<String>, structural: bool) {
    let at = shown(path);
    let Some(s) = schema.as_object() else {
        // `true`/absent schema: anything.
        if schema == &Value::Bool(false) {
            errs.push(format!("{at}: no value is allowed here"));
        }
        return;
    };
    if value.is_null() {
        if !flag(schema, "nullable")
            && (s.contains_key("type") || flag(schema, "x-kubernetes-int-or-string"))
        {
            errs.push(format!("{at}: null is not allowed (not nullable)"));
        }
        return;
    }
    // Types.
    if flag(schema, "x-kubernetes-int-or-string") {
        if !(is_integer(value) || value.is_string()) {
            errs.push(format!(
                "{at}: expected integer or string, got {}",
                type_name(value)
            ));
            return;
        }
    } else if let Some(t) = s.get("type").and_then(Value::as_str) {
        let ok = match t {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "integer" => is_integer(value),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            other => {
                errs.push(format!("{at}: schema has unknown type {other:?}"));
                return;
            }
        };
        if !ok {
            errs.push(format!("{at}: expected {t}, got {}", type_name(value)));
            return;
        }
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array)
        && !e.contains(value)
    {
        let allowed: Vec<String> = e.iter().map(Value::to_string).collect();
        errs.push(format!(
            "{at}: {value} is not one of [{}]",
            allowed.join(", ")
        ));
    }
    match value {
        Value::Number(n) => check_number(s, n.as_f64().unwrap_or(f64::NAN), at, errs),
        Value::String(v) => check_string(s, v, at, errs),
        Value::Array(items) => check_array(s, items, path, errs, structural),
        Value::Object(m) => check_object(schema, s, m, path, errs, structural),
        _ => {}
    }
    // Junctors: value validations.
    if let Some(all) = s.get("allOf").and_then(Value::as_array) {
        for (i, sub) in all.iter().enumerate() {
            if !satisfies(sub, value) {
                errs.push(format!("{at}: does not satisfy allOf[{i}] {sub}"));
            }
        }
    }
    if let Some(any) = s.get("anyOf").and_then(Value::as_array)
        && !any.iter().any(|sub| satisfies(sub, value))
    {
        errs.push(format!(
            "{at}: satisfies none of anyOf {}",
            Value::Array(any.clone())
        ));
    }
    if let Some(one) = s.get("oneOf").and_then(Value::as_array) {
        let n = one.iter().filter(|sub| satisfies(sub, value)).count();
        if n != 1 {
            errs.push(format!(
                "{at}: satisfies {n} of oneOf {} (exactly one required)",
                Value::Array(one.clone())
            ));
        }
    }
    if let Some(not) = s.get("not")
        && satisfies(not, value)
    {
        errs.push(format!("{at}: must not satisfy {not}"));
    }
}

fn check_number(s: &Map<String, Value>, n: f64, at: &str, errs: &mut Vec<String>) {
    if let Some(min) = s.get("minimum").and_then(Value::as_f64) {
        let excl = s.get("exclusiveMinimum") == Some(&Value::Bool(true));
        if n < min || (excl && n == min) {
            errs.push(format!("{at}: {n} is below the minimum {min}"));
        }
    }
    if let Some(max) = s.get("maximum").and_then(Value::as_f64) {
        let excl = s.get("exclusiveMaximum") == Some(&Value::Bool(true));
        if n > max || (excl && n == max) {
            errs.push(format!("{at}: {n} is above the maximum {max}"));
        }
    }
}

fn check_string(s: &Map<String, Value>, v: &str, at: &str, errs: &mut Vec<String>) {
    let len = v.chars().count() as u64;
    if let Some(min) = s.get("minLength").and_then(Value::as_u64)
        && len < min
    {
        errs.push(format!("{at}: {v:?} is shorter than {min}"));
    }
    if let Some(max) = s.get("maxLength").and_then(Value::as_u64)
        && len > max
    {
        errs.push(format!("{at}: {v:?} is longer than {max}"));
    }
    if let Some(p) = s.get("pattern").and_then(Value::as_str) {
        match Regex::new(p) {
            Ok(re) if !re.is_match(v) => {
                errs.push(format!("{at}: {v:?} does not match the pattern {p:?}"))
            }
            Ok(_) => {}
            Err(e) => errs.push(format!("{at}: unsupported pattern {p:?}: {e}")),
        }
    }
}

fn check_array(
    s: &Map<String, Value>,
    items: &[Value],
    path: &str,
    errs: &mut Vec<String>,
    structural: bool,
) {
    let at = shown(path);
    let n = items.len() as u64;
    if let Some(min) = s.get("minItems").and_then(Value::as_u64)
        && n < min
    {
        errs.push(format!("{at}: {n} items, at least {min} required"));
    }
    if let Some(max) = s.get("maxItems").and_then(Value::as_u64)
        && n > max
    {
        errs.push(format!("{at}: {n} items, at most {max} allowed"));
    }
    if let Some(item_schema) = s.get("items") {
        for (i, v) in items.iter().enumerate() {
            check(item_schema, v, &format!("{path}[{i}]"), errs, structural);
        }
    }
    let list_type = s.get("x-kubernetes-list-type").and_then(Value::as_str);
    if s.get("uniqueItems") == Some(&Value::Bool(true)) || list_type == Some("set") {
        let mut seen = BTreeSet::new();
        for (i, v) in items.iter().enumerate() {
            if !seen.insert(v.to_string()) {
                errs.push(format!("{at}[{i}]: duplicate item {v}"));
            }
        }
    }
    if list_type == Some("map") {
        let keys: Vec<&str> = s
            .get("x-kubernetes-list-map-keys")
            .and_then(Value::as_array)
            .map(|k| k.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut seen = BTreeSet::new();
        for (i, v) in items.iter().enumerate() {
            let id: Vec<String> = keys.iter().map(|k| v[*k].to_string()).collect();
            if !seen.insert(id.clone()) {
                errs.push(format!(
                    "{at}[{i}]: duplicate map-list key {} = {}",
                    keys.join(","),
                    id.join(",")
                ));
            }
        }
    }
}

fn check_object(
    schema: &Value,
    s: &Map<String, Value>,
    m: &Map<String, Value>,
    path: &str,
    errs: &mut Vec<String>,
    structural: bool,
) {
    let at = shown(path);
    let n = m.len() as u64;
    if let Some(min) = s.get("minProperties").and_then(Value::as_u64)
        && n < min
    {
        errs.push(format!("{at}: {n} fields, at least {min} required"));
    }
    if let Some(max) = s.get("maxProperties").and_then(Value::as_u64)
        && n > max
    {
        errs.push(format!("{at}: {n} fields, at most {max} allowed"));
    }
    if let Some(req) = s.get("required").and_then(Value::as_array) {
        for r in req.iter().filter_map(Value::as_str) {
            if !m.contains_key(r) {
                errs.push(format!("{at}: missing required field {r:?}"));
            }
        }
    }
    let props = s.get("properties").and_then(Value::as_object);
    let additional = s.get("additionalProperties");
    let preserve = flag(schema, "x-kubernetes-preserve-unknown-fields");
    let embedded = flag(schema, "x-kubernetes-embedded-resource");
    for (k, v) in m {
        let child = format!("{path}.{k}");
        if let Some(p) = props.and_then(|p| p.get(k)) {
            check(p, v, &child, errs, structural);
            continue;
        }
        match additional {
            Some(Value::Bool(false)) => errs.push(format!(
                "{}: unknown field (additionalProperties: false)",
                shown(&child)
            )),
            Some(Value::Bool(true)) => {}
            Some(a @ Value::Object(_)) => check(a, v, &child, errs, structural),
            _ => {
                let allowed = preserve
                    || !structural
                    || (embedded && matches!(k.as_str(), "apiVersion" | "kind" | "metadata"));
                if !allowed {
                    errs.push(format!("{}: unknown field", shown(&child)));
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// A small backtracking regex for CRD `pattern`s
// ---------------------------------------------------------------------------------------

/// A JSON Schema `pattern` (ECMA-262 subset the CRDs use), matched anywhere in the string as
/// JSON Schema specifies. Backed by the `regex` crate: like Go's regexp, which the API server
/// uses, it has no look-around or backreferences, and refuses them.
#[derive(Debug)]
pub struct Regex(regex::Regex);

impl Regex {
    pub fn new(pattern: &str) -> Result<Regex, String> {
        regex::Regex::new(pattern)
            .map(Regex)
            .map_err(|e| e.to_string())
    }

    pub fn is_match(&self, s: &str) -> bool {
        self.0.is_match(s)
    }
}
