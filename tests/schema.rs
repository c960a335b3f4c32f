//! Every rendered object against the upstream schema of its kind: Istio's CRDs
//! (`../shared/istio-reference/manifests/charts/base/files/crd-all.gen.yaml`), External
//! Secrets Operator's ExternalSecret CRD (`../shared/consumer-reference/external-secrets/`)
//! and the other consumer CRDs there (Argo CD, Flux, cert-manager, Gateway API), for the
//! `gitops/` objects. An object whose apiVersion maps to a CRD must use a served version and
//! satisfy its `openAPIV3Schema` (see `schema_validator` for what is checked). Kinds without a
//! CRD there (core v1 Secret and Namespace, kustomize.config.k8s.io Kustomization,
//! IstioOperator) get the apiVersion / kind / metadata checks only. The validator's own tests come first: they prove it rejects what the
//! API server rejects.

mod common;
mod schema_validator;
mod variants;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::{Value, json};

use common::*;
use schema_validator::{Catalog, Checked, Regex, validate};

fn errors(schema: Value, value: Value) -> Vec<String> {
    let mut e = Vec::new();
    validate(&schema, &value, "", &mut e);
    e
}

fn assert_rejects(schema: Value, value: Value, needle: &str) {
    let e = errors(schema.clone(), value.clone());
    assert!(
        e.iter().any(|m| m.contains(needle)),
        "expected an error containing {needle:?} for {value} against {schema}, got {e:?}"
    );
}

fn assert_accepts(schema: Value, value: Value) {
    let e = errors(schema.clone(), value.clone());
    assert!(e.is_empty(), "{value} against {schema}: {e:?}");
}

// ---------------------------------------------------------------------------------------
// The validator on tiny hand-made schemas
// ---------------------------------------------------------------------------------------

fn port_schema() -> Value {
    json!({
        "type": "object",
        "required": ["number", "protocol"],
        "properties": {
            "number": {"type": "integer", "minimum": 0, "maximum": 65535},
            "name": {"type": "string"},
            "protocol": {"type": "string", "enum": ["TCP", "UDP"]},
            "enabled": {"type": "boolean"},
            "weight": {"type": "number"},
            "hosts": {"type": "array", "items": {"type": "string"}},
        },
    })
}

#[test]
fn validator_accepts_a_valid_object() {
    assert_accepts(
        port_schema(),
        json!({"number": 80, "name": "http", "protocol": "TCP", "enabled": true,
               "weight": 0.5, "hosts": ["a", "b"]}),
    );
}

#[test]
fn validator_rejects_unknown_fields() {
    assert_rejects(
        port_schema(),
        json!({"number": 80, "protocol": "TCP", "nmae": "http"}),
        "nmae: unknown field",
    );
    // Nested, with the path.
    assert_rejects(
        json!({"type": "object", "properties": {"spec": port_schema()}}),
        json!({"spec": {"number": 80, "protocol": "TCP", "extra": 1}}),
        "spec.extra: unknown field",
    );
    // An object schema without properties prunes everything: every field is unknown.
    assert_rejects(
        json!({"type": "object"}),
        json!({"a": 1}),
        "a: unknown field",
    );
}

#[test]
fn validator_allows_unknown_fields_only_where_the_schema_says_so() {
    assert_accepts(
        json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true,
               "properties": {"a": {"type": "string"}}}),
        json!({"a": "x", "anything": {"goes": [1]}}),
    );
    // preserve-unknown-fields still validates the declared properties.
    assert_rejects(
        json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true,
               "properties": {"a": {"type": "string"}}}),
        json!({"a": 1}),
        "a: expected string, got integer",
    );
    assert_accepts(
        json!({"type": "object", "additionalProperties": true}),
        json!({"x": 1, "y": "z"}),
    );
    assert_rejects(
        json!({"type": "object", "additionalProperties": false, "properties": {"a": {}}}),
        json!({"a": 1, "b": 2}),
        "b: unknown field",
    );
    // A map of strings: values are validated against additionalProperties.
    let labels = json!({"type": "object", "additionalProperties": {"type": "string"}});
    assert_accepts(labels.clone(), json!({"istio": "eastwestgateway"}));
    assert_rejects(
        labels,
        json!({"istio/multiCluster": true}),
        "expected string, got boolean",
    );
}

#[test]
fn validator_rejects_wrong_types() {
    let cases = [
        (
            json!({"number": "80", "protocol": "TCP"}),
            "number: expected integer, got string",
        ),
        (
            json!({"number": 80.5, "protocol": "TCP"}),
            "number: expected integer, got number",
        ),
        (
            json!({"number": 80, "protocol": 6}),
            "protocol: expected string, got integer",
        ),
        (
            json!({"number": 80, "protocol": "TCP", "enabled": "true"}),
            "enabled: expected boolean, got string",
        ),
        (
            json!({"number": 80, "protocol": "TCP", "weight": "1"}),
            "weight: expected number, got string",
        ),
        (
            json!({"number": 80, "protocol": "TCP", "hosts": "a"}),
            "hosts: expected array, got string",
        ),
        (
            json!({"number": 80, "protocol": "TCP", "hosts": ["a", 1]}),
            "hosts[1]: expected string, got integer",
        ),
    ];
    for (value, needle) in cases {
        assert_rejects(port_schema(), value, needle);
    }
    assert_rejects(
        port_schema(),
        json!(["not", "an", "object"]),
        "expected object, got array",
    );
    assert_rejects(
        port_schema(),
        json!({"number": null, "protocol": "TCP"}),
        "null is not allowed",
    );
    assert_accepts(
        json!({"type": "object", "properties": {"a": {"type": "string", "nullable": true}}}),
        json!({"a": null}),
    );
}

#[test]
fn validator_rejects_missing_required_fields() {
    assert_rejects(
        port_schema(),
        json!({"number": 80}),
        "missing required field \"protocol\"",
    );
    assert_rejects(
        port_schema(),
        json!({}),
        "missing required field \"number\"",
    );
}

#[test]
fn validator_rejects_values_outside_an_enum() {
    assert_rejects(
        port_schema(),
        json!({"number": 80, "protocol": "tcp"}),
        "is not one of",
    );
    assert_rejects(json!({"enum": [1, 2]}), json!(3), "is not one of");
    assert_accepts(
        json!({"enum": ["PASSTHROUGH", "AUTO_PASSTHROUGH"]}),
        json!("AUTO_PASSTHROUGH"),
    );
}

#[test]
fn validator_checks_int_or_string_and_bounds() {
    let s = json!({"x-kubernetes-int-or-string": true,
                   "anyOf": [{"type": "integer"}, {"type": "string"}]});
    assert_accepts(s.clone(), json!(8080));
    assert_accepts(s.clone(), json!("http"));
    assert_rejects(s.clone(), json!(true), "expected integer or string");
    assert_rejects(s, json!(1.5), "expected integer or string");
    assert_rejects(
        port_schema(),
        json!({"number": 70000, "protocol": "TCP"}),
        "above the maximum",
    );
    assert_rejects(
        port_schema(),
        json!({"number": -1, "protocol": "TCP"}),
        "below the minimum",
    );
    assert_rejects(
        json!({"type": "string", "maxLength": 3}),
        json!("abcd"),
        "longer than 3",
    );
    assert_rejects(
        json!({"type": "string", "minLength": 1}),
        json!(""),
        "shorter than 1",
    );
    assert_rejects(
        json!({"type": "array", "maxItems": 1}),
        json!([1, 2]),
        "at most 1",
    );
    assert_rejects(
        json!({"type": "object", "minProperties": 1}),
        json!({}),
        "at least 1",
    );
}

#[test]
fn validator_checks_patterns() {
    let dns = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
    let s = json!({"type": "string", "pattern": dns});
    assert_accepts(s.clone(), json!("mesh-secrets"));
    assert_accepts(s.clone(), json!("vault.example.com"));
    assert_rejects(
        s.clone(),
        json!("Mesh_Secrets"),
        "does not match the pattern",
    );
    assert_rejects(s.clone(), json!("-x"), "does not match");
    assert_rejects(s, json!("x."), "does not match");
    // Unanchored patterns match anywhere.
    assert!(Regex::new("b+").unwrap().is_match("abbbc"));
    assert!(!Regex::new("^b+$").unwrap().is_match("abbbc"));
    let hex = Regex::new("(^$|^[a-f0-9]{64}$)").unwrap();
    assert!(hex.is_match(""));
    assert!(hex.is_match(&"a".repeat(64)));
    assert!(!hex.is_match(&"a".repeat(63)));
    assert!(!hex.is_match(&"g".repeat(64)));
    let key = Regex::new("^[-._a-zA-Z0-9]+$").unwrap();
    assert!(key.is_match("ca-cert.pem") && key.is_match("ca.crt") && !key.is_match("a/b"));
    assert!(Regex::new("^(a|bc){2,3}$").unwrap().is_match("abca"));
    assert!(!Regex::new("^(a|bc){2,3}$").unwrap().is_match("a"));
    assert!(
        Regex::new("(?=x)").is_err(),
        "lookahead is unsupported, not ignored"
    );
}

#[test]
fn validator_evaluates_one_of_and_any_of_as_value_validations() {
    // Istio's shape for "at most one of exact / prefix".
    let s = json!({
        "type": "object",
        "properties": {"exact": {"type": "string"}, "prefix": {"type": "string"}},
        "oneOf": [
            {"not": {"anyOf": [{"required": ["exact"]}, {"required": ["prefix"]}]}},
            {"required": ["exact"]},
            {"required": ["prefix"]},
        ],
    });
    assert_accepts(s.clone(), json!({}));
    assert_accepts(s.clone(), json!({"exact": "a"}));
    assert_rejects(s, json!({"exact": "a", "prefix": "b"}), "oneOf");
    assert_rejects(
        json!({"type": "object", "properties": {"a": {}, "b": {}},
               "anyOf": [{"required": ["a"]}, {"required": ["b"]}]}),
        json!({}),
        "anyOf",
    );
    assert_rejects(
        json!({"type": "array", "x-kubernetes-list-type": "map",
               "x-kubernetes-list-map-keys": ["name"],
               "items": {"type": "object", "properties": {"name": {"type": "string"}}}}),
        json!([{"name": "a"}, {"name": "a"}]),
        "duplicate map-list key",
    );
}

// ---------------------------------------------------------------------------------------
// The reference CRDs
// ---------------------------------------------------------------------------------------

/// Istio's CRDs and every CRD of the tools consuming the output (External Secrets, Argo CD,
/// Flux, cert-manager, Gateway API), from `../shared`.
fn crd_files(shared: &std::path::Path) -> Vec<PathBuf> {
    let mut files =
        vec![shared.join("istio-reference/manifests/charts/base/files/crd-all.gen.yaml")];
    let consumers = shared.join("consumer-reference");
    for e in walkdir::WalkDir::new(&consumers).sort_by_file_name() {
        let e = e.unwrap();
        if e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "yaml") {
            files.push(e.path().to_path_buf());
        }
    }
    assert!(
        files
            .iter()
            .any(|f| f.ends_with("external-secrets.io_externalsecrets.yaml")),
        "the ExternalSecret CRD is among {files:?}"
    );
    files
}

/// The catalog, loaded once per test binary (crd-all.gen.yaml is ~1 MB).
fn catalog() -> Option<&'static Catalog> {
    static CATALOG: OnceLock<Option<Catalog>> = OnceLock::new();
    CATALOG
        .get_or_init(|| shared().map(|s| Catalog::load(&crd_files(&s))))
        .as_ref()
}

#[test]
fn reference_crds_load_with_their_versions() {
    let Some(cat) = catalog() else { return };
    for (group, kind) in [
        ("networking.istio.io", "Gateway"),
        ("networking.istio.io", "VirtualService"),
        ("networking.istio.io", "ServiceEntry"),
        ("networking.istio.io", "DestinationRule"),
    ] {
        let crd = cat
            .find(group, kind)
            .unwrap_or_else(|| panic!("no CRD for {kind}"));
        for v in ["v1", "v1beta1", "v1alpha3"] {
            let ver = crd.version(v).unwrap_or_else(|| panic!("{kind} {v}"));
            assert!(ver.served, "{kind} {v} served");
            assert!(ver.schema.is_object(), "{kind} {v} has a schema");
        }
    }
    let es = cat
        .find("external-secrets.io", "ExternalSecret")
        .expect("ExternalSecret CRD");
    assert!(es.version("v1").unwrap().served);
    assert!(!es.version("v1beta1").unwrap().served);
}

/// Every `pattern` in the reference CRDs is within the supported regex subset, so no pattern
/// is ever skipped.
#[test]
fn every_pattern_in_the_reference_crds_is_supported() {
    let Some(cat) = catalog() else { return };
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(p)) = m.get("pattern") {
                    out.push(p.clone());
                }
                m.values().for_each(|x| walk(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut patterns = Vec::new();
    for crd in &cat.crds {
        for v in &crd.versions {
            walk(&v.schema, &mut patterns);
        }
    }
    assert!(!patterns.is_empty());
    for p in patterns {
        Regex::new(&p).unwrap_or_else(|e| panic!("pattern {p:?}: {e}"));
    }
}

/// The real schemas reject typical rendering mistakes (so a pass below means something).
#[test]
fn reference_crds_reject_typical_mistakes() {
    let Some(cat) = catalog() else { return };
    let gateway = json!({
        "apiVersion": "networking.istio.io/v1",
        "kind": "Gateway",
        "metadata": {"name": "cross-network-gateway", "namespace": "istio-system"},
        "spec": {
            "selector": {"istio": "eastwestgateway"},
            "servers": [{"port": {"number": 15443, "name": "tls", "protocol": "TLS"},
                         "tls": {"mode": "AUTO_PASSTHROUGH"}, "hosts": ["*.local"]}],
        },
    });
    assert_eq!(
        cat.check_object(&gateway),
        Ok(Checked::Schema {
            crd: "gateways.networking.istio.io".into(),
            version: "v1".into()
        })
    );
    type Mutation = Box<dyn Fn(&mut Value)>;
    let mutations: Vec<(&str, Mutation, &str)> = vec![
        (
            "port number as a string",
            Box::new(|g| g["spec"]["servers"][0]["port"]["number"] = json!("15443")),
            "expected integer",
        ),
        (
            "misspelt TLS mode",
            Box::new(|g| g["spec"]["servers"][0]["tls"]["mode"] = json!("AUTOPASSTHROUGH")),
            "is not one of",
        ),
        (
            "unknown field",
            Box::new(|g| g["spec"]["servers"][0]["tls"]["sni"] = json!("x")),
            "unknown field",
        ),
        (
            "missing port protocol",
            Box::new(|g| {
                g["spec"]["servers"][0]["port"]
                    .as_object_mut()
                    .unwrap()
                    .remove("protocol");
            }),
            "missing required field \"protocol\"",
        ),
        (
            "top-level typo",
            Box::new(|g| g["specs"] = json!({})),
            "specs: unknown field",
        ),
        (
            "unknown version",
            Box::new(|g| g["apiVersion"] = json!("networking.istio.io/v2")),
            "has no version v2",
        ),
        (
            "unknown kind in an Istio group",
            Box::new(|g| g["kind"] = json!("Gateways")),
            "no CRD for kind Gateways",
        ),
        (
            "label key with two slashes",
            Box::new(|g| g["metadata"]["labels"] = json!({"a/b/c": "x"})),
            "not a qualified name",
        ),
        (
            "label value with a space",
            Box::new(|g| g["metadata"]["labels"] = json!({"app": "a b"})),
            "not a valid label value",
        ),
        (
            "boolean label",
            Box::new(|g| g["metadata"]["labels"] = json!({"istio/multiCluster": true})),
            "is not a string",
        ),
    ];
    for (what, mutate, needle) in mutations {
        let mut g = gateway.clone();
        mutate(&mut g);
        let e = cat.check_object(&g).expect_err(what);
        assert!(e.iter().any(|m| m.contains(needle)), "{what}: {e:?}");
    }
    let es = json!({
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {"name": "cacerts", "namespace": "istio-system"},
        "spec": {
            "secretStoreRef": {"kind": "ClusterSecretStore", "name": "mesh-secrets"},
            "target": {"name": "cacerts", "template": {"type": "Opaque", "engineVersion": "v2"}},
            "data": [{"secretKey": "ca-cert.pem", "remoteRef": {"key": "k", "property": "ca-cert.pem"}}],
        },
    });
    assert!(cat.check_object(&es).is_ok(), "{:?}", cat.check_object(&es));
    let mut bad = es.clone();
    bad["apiVersion"] = json!("external-secrets.io/v1beta1");
    assert!(cat.check_object(&bad).unwrap_err()[0].contains("not served"));
    let mut bad = es.clone();
    bad["spec"]["secretStoreRef"]["kind"] = json!("Vault");
    assert!(cat.check_object(&bad).is_err());
    let mut bad = es.clone();
    bad["spec"]["secretStoreRef"]["name"] = json!("Mesh_Secrets");
    assert!(cat.check_object(&bad).unwrap_err()[0].contains("pattern"));
    let mut bad = es;
    bad["spec"]["data"][0]["remoteRef"] = json!({"property": "x"});
    assert!(cat.check_object(&bad).unwrap_err()[0].contains("\"key\""));
}

// ---------------------------------------------------------------------------------------
// Rendered output
// ---------------------------------------------------------------------------------------

/// Checks every object of every rendered file (Helm values files are values, not objects)
/// and returns how often each CRD version was used.
fn check_tree(
    cat: &Catalog,
    label: &str,
    files: &BTreeMap<String, Vec<u8>>,
    failures: &mut Vec<String>,
) -> BTreeMap<String, usize> {
    let mut used = BTreeMap::new();
    for (rel, bytes) in files {
        if !rel.ends_with(".yaml") || rel.contains("/install/helm/") {
            continue;
        }
        let text = String::from_utf8(bytes.clone()).unwrap();
        for doc in yaml_docs(&text) {
            let id = format!(
                "{label}: {rel}: {}/{}",
                doc["kind"].as_str().unwrap_or("?"),
                doc["metadata"]["name"].as_str().unwrap_or("?")
            );
            match cat.check_object(&doc) {
                Ok(Checked::Schema { crd, version }) => {
                    *used.entry(format!("{crd} {version}")).or_default() += 1
                }
                Ok(Checked::NoCrd) => *used.entry("(no CRD)".to_owned()).or_default() += 1,
                Err(e) => failures.extend(e.into_iter().map(|m| format!("{id}: {m}"))),
            }
        }
    }
    used
}

fn merge(into: &mut BTreeMap<String, usize>, from: BTreeMap<String, usize>) {
    for (k, n) in from {
        *into.entry(k).or_default() += n;
    }
}

#[test]
fn every_object_of_every_golden_case_satisfies_its_crd_schema() {
    let Some(cat) = catalog() else { return };
    let mut failures = Vec::new();
    let mut used = BTreeMap::new();
    for case in cases() {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let files = render_spec(&case.join("spec.yaml"));
        merge(&mut used, check_tree(cat, &name, &files, &mut failures));
    }
    eprintln!("objects checked, by CRD version: {used:#?}");
    assert!(
        failures.is_empty(),
        "schema violations:\n{}",
        failures.join("\n")
    );
    for must in [
        "gateways.networking.istio.io v1",
        "virtualservices.networking.istio.io v1",
        "externalsecrets.external-secrets.io v1",
        "helmreleases.helm.toolkit.fluxcd.io v2",
        "helmrepositories.source.toolkit.fluxcd.io v1",
        "gateways.gateway.networking.k8s.io v1",
        "applications.argoproj.io v1alpha1",
        "pushsecrets.external-secrets.io v1alpha1",
        "kustomizations.kustomize.toolkit.fluxcd.io v1",
        "certificates.cert-manager.io v1",
    ] {
        assert!(
            used.contains_key(must),
            "no object checked against {must}: {used:?}"
        );
    }
}

#[test]
fn every_object_of_the_reference_spec_variants_satisfies_its_crd_schema() {
    let Some(cat) = catalog() else { return };
    let mut failures = Vec::new();
    let mut used = BTreeMap::new();
    for (label, files) in variants::all_variants() {
        merge(&mut used, check_tree(cat, &label, &files, &mut failures));
    }
    eprintln!("objects checked, by CRD version: {used:#?}");
    assert!(
        failures.is_empty(),
        "schema violations:\n{}",
        failures.join("\n")
    );
    for must in [
        "gateways.networking.istio.io v1alpha3",
        "virtualservices.networking.istio.io v1alpha3",
        "gateways.networking.istio.io v1",
        "externalsecrets.external-secrets.io v1",
        "helmreleases.helm.toolkit.fluxcd.io v2",
        "helmrepositories.source.toolkit.fluxcd.io v1",
        "gateways.gateway.networking.k8s.io v1beta1",
        "gateways.gateway.networking.k8s.io v1",
        "istios.sailoperator.io v1",
        "istiocnis.sailoperator.io v1",
        "ztunnels.sailoperator.io v1",
    ] {
        assert!(
            used.contains_key(must),
            "no object checked against {must}: {used:?}"
        );
    }
}
