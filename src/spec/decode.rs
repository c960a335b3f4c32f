//! Located YAML tree → typed [`Spec`], reporting every type error and unknown field at once.
//!
//! Each mapping is read through [`Fields`], which remembers which keys were consumed; the
//! rest are reported as unknown with a "did you mean" hint. A value of the wrong type is
//! reported and skipped, so decoding always goes on and later problems are found too.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use super::parse::{Key, Node, Value};
use super::*;
use crate::diag::Code;

/// What one traced decode saw: every `(mapping path, key)` asked for and every path read as
/// a mapping, list indices written `[]` and a mapping of free keys (`federation.coreDNS`)
/// asked for `*`. Only [`key_paths`] turns tracing on.
#[derive(Default)]
struct Trace {
    keys: BTreeSet<(String, String)>,
    maps: BTreeSet<String>,
}

thread_local! {
    static TRACE: RefCell<Option<Trace>> = const { RefCell::new(None) };
}

/// `clusters[3].apiServer` → `clusters[].apiServer`.
fn generic(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut in_index = false;
    for c in path.chars() {
        match c {
            '[' => {
                in_index = true;
                out.push('[');
            }
            ']' => {
                in_index = false;
                out.push(']');
            }
            _ if in_index => {}
            c => out.push(c),
        }
    }
    out
}

fn trace(f: impl FnOnce(&mut Trace)) {
    TRACE.with(|t| {
        if let Some(t) = t.borrow_mut().as_mut() {
            f(t);
        }
    });
}

/// The shape a spec key takes, as [`key_paths`] finds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// A mapping whose keys are listed too.
    Map,
    /// A list of mappings.
    ListOfMaps,
    /// A scalar, or a list of scalars.
    Scalar,
}

/// Every key path the decoder knows (`clusters[].apiServer.caFile`; `*` for a free key),
/// with its shape, found by decoding: starting from an empty spec, each key the decoder asks
/// for is written as a mapping, then a list of one mapping, then a scalar, until the decoder
/// reads it as such, and its own keys are found in the next round. So the list is what
/// `decode` asks for, not a second list kept by hand (the schema test compares the two).
pub fn key_paths() -> BTreeMap<String, Shape> {
    let mut shapes: BTreeMap<String, Shape> = BTreeMap::new();
    loop {
        let root = build(&shapes, "");
        TRACE.with(|t| *t.borrow_mut() = Some(Trace::default()));
        decode(&root, &mut Diagnostics::default());
        let seen = TRACE.with(|t| t.borrow_mut().take()).unwrap_or_default();
        let mut changed = false;
        for (path, key) in &seen.keys {
            let full = join(path, key);
            let next = match shapes.get(&full) {
                None => Some(Shape::Map),
                Some(Shape::Map) if !seen.maps.contains(&full) => Some(Shape::ListOfMaps),
                Some(Shape::ListOfMaps) if !seen.maps.contains(&format!("{full}[]")) => {
                    Some(Shape::Scalar)
                }
                _ => None,
            };
            if let Some(n) = next {
                shapes.insert(full, n);
                changed = true;
            }
        }
        if !changed {
            return shapes;
        }
    }
}

/// The spec tree `shapes` describes, under `path`.
fn build(shapes: &BTreeMap<String, Shape>, path: &str) -> Node {
    let loc = Loc::FILE;
    let prefix = if path.is_empty() {
        String::new()
    } else {
        format!("{path}.")
    };
    let entries = shapes
        .iter()
        .filter_map(|(p, shape)| {
            let rest = p.strip_prefix(&prefix)?;
            if rest.contains('.') || rest.contains("[]") {
                return None;
            }
            let value = match shape {
                Shape::Map => build(shapes, p),
                Shape::ListOfMaps => Node {
                    loc,
                    value: Value::Seq(vec![build(shapes, &format!("{p}[]"))]),
                },
                Shape::Scalar => Node {
                    loc,
                    value: Value::Str("x".to_owned()),
                },
            };
            Some((
                Key {
                    loc,
                    name: rest.to_owned(),
                },
                value,
            ))
        })
        .collect();
    Node {
        loc,
        value: Value::Map(entries),
    }
}

struct Fields<'a> {
    path: String,
    entries: &'a [(Key, Node)],
    used: Vec<bool>,
    /// Every key asked for, in order: the known keys of this mapping.
    asked: Vec<&'static str>,
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn show(path: &str) -> String {
    if path.is_empty() {
        "the top level".to_owned()
    } else {
        format!("`{path}`")
    }
}

/// The closest known name to `unknown`, if it is close enough to be a likely typo.
pub fn did_you_mean<'k>(unknown: &str, known: &[&'k str]) -> Option<&'k str> {
    let lower = unknown.to_ascii_lowercase();
    known
        .iter()
        .map(|k| (strsim::jaro_winkler(&lower, &k.to_ascii_lowercase()), *k))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

impl<'a> Fields<'a> {
    fn of(node: &'a Node, path: &str, d: &mut Diagnostics) -> Option<Fields<'a>> {
        let entries: &'a [(Key, Node)] = match &node.value {
            Value::Map(entries) => entries,
            Value::Null => &[],
            other => {
                d.error(
                    Code::E002,
                    node.loc,
                    format!("{} must be a mapping, found {}", show(path), other.kind()),
                );
                return None;
            }
        };
        trace(|t| {
            t.maps.insert(generic(path));
        });
        Some(Fields {
            path: path.to_owned(),
            entries,
            used: vec![false; entries.len()],
            asked: Vec::new(),
        })
    }

    /// The node under `key` (null included), recorded as known and, if present, used.
    fn entry(&mut self, key: &'static str) -> Option<&'a Node> {
        self.asked.push(key);
        trace(|t| {
            t.keys.insert((generic(&self.path), key.to_owned()));
        });
        let i = self.entries.iter().position(|(k, _)| k.name == key)?;
        self.used[i] = true;
        Some(&self.entries[i].1)
    }

    /// A key the spec format no longer has, so that its own diagnostic replaces "unknown
    /// field": marked used, but not known (never suggested, not in [`key_paths`]).
    fn retired(&mut self, key: &str) -> Option<&'a Node> {
        let i = self.entries.iter().position(|(k, _)| k.name == key)?;
        self.used[i] = true;
        Some(&self.entries[i].1).filter(|n| n.value != Value::Null)
    }

    /// Marks the mapping as one of free keys (each decoded by the caller), for [`key_paths`].
    fn free_keys(&self) {
        trace(|t| {
            t.keys.insert((generic(&self.path), "*".to_owned()));
        });
    }

    /// The node under `key`; `None` when absent or null.
    fn node(&mut self, key: &'static str) -> Option<&'a Node> {
        self.entry(key).filter(|n| n.value != Value::Null)
    }

    /// The field under `key`, decoded by `decode` (which reports a wrong value and returns
    /// `None`, making the field [`Field::Invalid`]).
    fn field<T>(
        &mut self,
        key: &'static str,
        d: &mut Diagnostics,
        decode: impl FnOnce(&'a Node, &str, &mut Diagnostics) -> Option<Sp<T>>,
    ) -> Field<T> {
        match self.entry(key) {
            None => Field::Absent,
            Some(n) if n.value == Value::Null => Field::Null,
            Some(n) => decode(n, &join(&self.path, key), d).map_or(Field::Invalid, Field::Value),
        }
    }

    fn string(&mut self, key: &'static str, d: &mut Diagnostics) -> Field<String> {
        self.field(key, d, string)
    }

    /// Reports every key that was not asked for, with the asked keys as the known ones.
    fn finish(self, d: &mut Diagnostics) {
        let mut meant: Vec<&'static str> = Vec::new();
        for ((k, _), used) in self.entries.iter().zip(&self.used) {
            if *used {
                continue;
            }
            let known = &self.asked;
            let msg = format!("unknown field `{}` in {}", k.name, show(&self.path));
            match did_you_mean(&k.name, known) {
                Some(s) => {
                    // the first near miss of an absent field stands in for it
                    let absent = self.entries.iter().all(|(e, _)| e.name != s);
                    if absent && !meant.contains(&s) {
                        meant.push(s);
                        d.typos.push((self.path.clone(), k.loc, s));
                    }
                    d.error_help(Code::E003, k.loc, msg, format!("did you mean `{s}`?"))
                }
                None => d.error_help(
                    Code::E003,
                    k.loc,
                    msg,
                    format!("expected one of: {}", known.join(", ")),
                ),
            }
        }
    }
}

fn string(n: &Node, path: &str, d: &mut Diagnostics) -> Option<Sp<String>> {
    match &n.value {
        // No spec string may carry a control character: every one ends up in a file name,
        // an object, a comment or a command line, where a newline or an escape sequence
        // would change what the file means (or what a terminal shows).
        Value::Str(s) if s.chars().any(char::is_control) => {
            d.error_help(
                Code::E030,
                n.loc,
                format!(
                    "`{path}` contains a control character: {}",
                    s.escape_debug()
                ),
                "remove newlines, tabs and other control characters from the value",
            );
            None
        }
        Value::Str(s) => Some(Sp::new(s.clone(), n.loc)),
        Value::Int(_) | Value::Float(_) | Value::Bool(_) => {
            d.error_help(
                Code::E002,
                n.loc,
                format!("`{path}` must be a string, found {}", n.value.kind()),
                "put the value in double quotes",
            );
            None
        }
        other => {
            d.error(
                Code::E002,
                n.loc,
                format!("`{path}` must be a string, found {}", other.kind()),
            );
            None
        }
    }
}

fn uint(n: &Node, path: &str, d: &mut Diagnostics) -> Option<Sp<u32>> {
    match &n.value {
        Value::Int(i) if *i >= 0 && *i <= i64::from(u32::MAX) => Some(Sp::new(*i as u32, n.loc)),
        Value::Int(_) => {
            d.error(
                Code::E030,
                n.loc,
                format!("`{path}` must be a positive whole number"),
            );
            None
        }
        other => {
            d.error(
                Code::E002,
                n.loc,
                format!("`{path}` must be a whole number, found {}", other.kind()),
            );
            None
        }
    }
}

fn boolean(n: &Node, path: &str, d: &mut Diagnostics) -> Option<Sp<bool>> {
    match &n.value {
        Value::Bool(b) => Some(Sp::new(*b, n.loc)),
        other => {
            d.error(
                Code::E002,
                n.loc,
                format!("`{path}` must be true or false, found {}", other.kind()),
            );
            None
        }
    }
}

fn list<'a>(n: &'a Node, path: &str, d: &mut Diagnostics) -> &'a [Node] {
    match &n.value {
        Value::Seq(items) => items,
        other => {
            d.error(
                Code::E002,
                n.loc,
                format!("`{path}` must be a list, found {}", other.kind()),
            );
            &[]
        }
    }
}

/// A list whose items `item` decodes (each reporting its own problems); a value that is not
/// a list is reported and read as an empty list.
fn list_of<T>(
    n: &Node,
    path: &str,
    d: &mut Diagnostics,
    mut item: impl FnMut(&Node, &str, &mut Diagnostics) -> Option<T>,
) -> Option<Sp<Vec<T>>> {
    let items = list(n, path, d)
        .iter()
        .enumerate()
        .filter_map(|(i, x)| item(x, &format!("{path}[{i}]"), d))
        .collect();
    Some(Sp::new(items, n.loc))
}

/// A list of strings: items are reported as `path[]`.
fn strings(n: &Node, path: &str, d: &mut Diagnostics) -> Option<Sp<Vec<Sp<String>>>> {
    let item_path = format!("{path}[]");
    list_of(n, path, d, |x, _, d| string(x, &item_path, d))
}

/// `istio.version` is text like "1.28"; an unquoted `1.28` is read by YAML as a number and
/// accepted when it prints back unambiguously. `1.3` could mean 1.30 and is refused.
fn version(n: &Node, path: &str, d: &mut Diagnostics) -> Option<Sp<String>> {
    match &n.value {
        Value::Float(f) if f.fract() == 0.0 => {
            d.error_help(
                Code::E002,
                n.loc,
                format!("`{path}` is the number {f:.1}, which YAML reads as {f}"),
                "quote the minor version, e.g. version: \"1.28\"",
            );
            None
        }
        Value::Float(f) => {
            let text = format!("{f}");
            let minor = text.split('.').nth(1).unwrap_or("");
            if minor.len() == 1 && !["6", "7", "8", "9"].contains(&minor) {
                d.error_help(
                    Code::E002,
                    n.loc,
                    format!(
                        "`{path}` is the number {text}, which YAML reads without trailing zeros"
                    ),
                    format!("quote the version: version: \"{text}0\" (or \"{text}\")"),
                );
                None
            } else {
                Some(Sp::new(text, n.loc))
            }
        }
        _ => string(n, path, d),
    }
}

/// Decodes the tree, appending problems to `diags`.
pub fn decode(root: &Node, d: &mut Diagnostics) -> Spec {
    let mut spec = Spec::default();
    let Some(mut f) = Fields::of(root, "", d) else {
        return spec;
    };
    spec.api_version = f.string("apiVersion", d);
    spec.kind = f.string("kind", d);
    spec.mesh_id = f.string("meshID", d);
    spec.istio = f.field("istio", d, istio);
    spec.trust_domain = f.string("trustDomain", d);
    if let Some(n) = f.node("pki") {
        spec.pki = pki(n, d);
    }
    spec.secrets = f.field("secrets", d, secrets);
    spec.clusters = f.field("clusters", d, |n, path, d| list_of(n, path, d, cluster));
    spec.federation = f.field("federation", d, federation);
    spec.verification = f.field("verification", d, |n, path, d| {
        let mut v = Fields::of(n, path, d)?;
        let enabled = v.field("enabled", d, boolean);
        v.finish(d);
        Some(Sp::new(Verification { enabled }, n.loc))
    });
    spec.gitops = f.field("gitops", d, gitops);
    spec.overrides = f.field("overrides", d, overrides);
    f.finish(d);
    spec
}

/// `overrides` (mesh-wide or per cluster).
fn overrides(n: &Node, path: &str, d: &mut Diagnostics) -> Option<Sp<Overrides>> {
    let mut f = Fields::of(n, path, d)?;
    let o = Overrides {
        mesh_config: f.field("meshConfig", d, free_map),
        helm: f.field("helm", d, |h, path, d| {
            let mut g = Fields::of(h, path, d)?;
            let helm = HelmOverrides {
                base: g.field("base", d, free_map),
                istiod: g.field("istiod", d, free_map),
                east_west_gateway: g.field("eastWestGateway", d, free_map),
            };
            g.finish(d);
            Some(Sp::new(helm, h.loc))
        }),
        istio_operator: f.field("istioOperator", d, free_map),
        east_west_gateway_operator: f.field("eastWestGatewayOperator", d, free_map),
    };
    f.finish(d);
    Some(Sp::new(o, n.loc))
}

/// A mapping of free keys and values (an override), kept as its tree. Values must be
/// representable in the rendered YAML and JSON: finite numbers, no control characters in keys.
fn free_map(n: &Node, path: &str, d: &mut Diagnostics) -> Option<Sp<Node>> {
    // read as a mapping (for `key_paths`), but its keys are the user's
    Fields::of(n, path, d)?;
    let mut ok = true;
    check_free(n, path, d, &mut ok);
    ok.then(|| Sp::new(n.clone(), n.loc))
}

fn check_free(n: &Node, path: &str, d: &mut Diagnostics, ok: &mut bool) {
    match &n.value {
        Value::Float(x) if !x.is_finite() => {
            d.error_help(
                Code::E002,
                n.loc,
                format!("`{path}` must be a finite number, found {x}"),
                "write the number, or quote it to make it a string",
            );
            *ok = false;
        }
        Value::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                check_free(item, &format!("{path}[{i}]"), d, ok);
            }
        }
        Value::Map(entries) => {
            for (k, v) in entries {
                if k.name.chars().any(char::is_control) {
                    d.error_help(
                        Code::E030,
                        k.loc,
                        format!(
                            "a key under `{path}` contains a control character: {}",
                            k.name.escape_debug()
                        ),
                        "remove newlines, tabs and other control characters from the key",
                    );
                    *ok = false;
                    continue;
                }
                check_free(v, &join(path, &k.name), d, ok);
            }
        }
        _ => {}
    }
}

/// A `{kind, name}` reference (External Secrets store, Flux source).
fn store_ref(n: &Node, path: &str, d: &mut Diagnostics) -> Option<Sp<StoreRef>> {
    let mut f = Fields::of(n, path, d)?;
    let r = StoreRef {
        kind: f.string("kind", d),
        name: f.string("name", d),
    };
    f.finish(d);
    Some(Sp::new(r, n.loc))
}

fn gitops(n: &Node, path: &str, d: &mut Diagnostics) -> Option<Sp<Gitops>> {
    let mut f = Fields::of(n, path, d)?;
    let out = Gitops {
        repo_url: f.string("repoURL", d),
        revision: f.string("revision", d),
        path: f.string("path", d),
        argocd: f.field("argocd", d, |a, path, d| {
            let mut g = Fields::of(a, path, d)?;
            let v = ArgoCd {
                namespace: g.string("namespace", d),
                project: g.string("project", d),
            };
            g.finish(d);
            Some(Sp::new(v, a.loc))
        }),
        flux: f.field("flux", d, |a, path, d| {
            let mut g = Fields::of(a, path, d)?;
            let v = Flux {
                namespace: g.string("namespace", d),
                source_ref: g.field("sourceRef", d, store_ref),
            };
            if let Some(old) = g.retired("chartVersion") {
                d.error_help(
                    Code::E003,
                    old.loc,
                    "`gitops.flux.chartVersion` is gone: the chart version is mesh-wide now",
                    "move it to `istio.charts.version` (it also sets install/helm, Argo CD and Sail)",
                );
            }
            g.finish(d);
            Some(Sp::new(v, a.loc))
        }),
    };
    f.finish(d);
    Some(Sp::new(out, n.loc))
}

fn istio(n: &Node, path: &str, d: &mut Diagnostics) -> Option<Sp<Istio>> {
    let mut f = Fields::of(n, path, d)?;
    let out = Istio {
        version: f.field("version", d, version),
        revision: f.string("revision", d),
        hub: f.string("hub", d),
        tag: f.string("tag", d),
        dataplane: f.string("dataplane", d),
        charts: f.field("charts", d, |a, path, d| {
            let mut g = Fields::of(a, path, d)?;
            let v = Charts {
                repository: g.string("repository", d),
                version: g.string("version", d),
            };
            g.finish(d);
            Some(Sp::new(v, a.loc))
        }),
        sail: f.field("sail", d, |a, path, d| {
            let g = Fields::of(a, path, d)?;
            g.finish(d);
            Some(Sp::new((), a.loc))
        }),
    };
    f.finish(d);
    Some(Sp::new(out, n.loc))
}

fn subject(n: &Node, path: &str, d: &mut Diagnostics) -> CertSubject {
    let Some(mut f) = Fields::of(n, path, d) else {
        return CertSubject::default();
    };
    let out = CertSubject {
        organization: f.string("organization", d),
        common_name: f.string("commonName", d),
        validity_days: f.field("validityDays", d, uint),
    };
    f.finish(d);
    out
}

fn pki(n: &Node, d: &mut Diagnostics) -> Pki {
    let mut out = Pki {
        loc: n.loc,
        ..Pki::default()
    };
    let Some(mut f) = Fields::of(n, "pki", d) else {
        return out;
    };
    out.dir = f.string("dir", d);
    out.backend = f.string("backend", d);
    if let Some(cm) = f.node("certManager")
        && let Some(mut g) = Fields::of(cm, "pki.certManager", d)
    {
        out.cert_manager_issuer = g.field("issuerRef", d, store_ref);
        g.finish(d);
    }
    out.key_algorithm = f.string("keyAlgorithm", d);
    if let Some(r) = f.node("root") {
        out.root = subject(r, "pki.root", d);
    }
    if let Some(r) = f.node("intermediate") {
        out.intermediate = subject(r, "pki.intermediate", d);
    }
    f.finish(d);
    out
}

fn secrets(n: &Node, path: &str, d: &mut Diagnostics) -> Option<Sp<Secrets>> {
    let mut f = Fields::of(n, path, d)?;
    let out = Secrets {
        mode: f.string("mode", d),
        external_secrets: f.field("externalSecrets", d, |e, path, d| {
            let mut g = Fields::of(e, path, d)?;
            let v = ExternalSecrets {
                store_ref: g.field("storeRef", d, store_ref),
                key_prefix: g.string("keyPrefix", d),
                push_reader_tokens: g.field("pushReaderTokens", d, boolean),
            };
            g.finish(d);
            Some(Sp::new(v, e.loc))
        }),
        sops: f.field("sops", d, |s, path, d| {
            let mut g = Fields::of(s, path, d)?;
            let age_recipients = g
                .field("ageRecipients", d, strings)
                .value()
                .map(|l| l.value.clone())
                .unwrap_or_default();
            g.finish(d);
            Some(Sp::new(Sops { age_recipients }, s.loc))
        }),
    };
    f.finish(d);
    Some(Sp::new(out, n.loc))
}

fn cluster(n: &Node, path: &str, d: &mut Diagnostics) -> Option<Cluster> {
    let mut f = Fields::of(n, path, d)?;
    let c = Cluster {
        loc: n.loc,
        name: f.string("name", d),
        network: f.string("network", d),
        role: f.string("role", d),
        control_plane: f.string("controlPlane", d),
        reads: f.field("reads", d, strings),
        east_west_gateway: f.field("eastWestGateway", d, |e, path, d| {
            let mut g = Fields::of(e, path, d)?;
            let gw = EastWestGateway {
                address: g.string("address", d),
                service_type: g.string("serviceType", d),
                port: g.field("port", d, uint),
            };
            g.finish(d);
            Some(Sp::new(gw, e.loc))
        }),
        api_server: f.field("apiServer", d, |e, path, d| {
            let mut g = Fields::of(e, path, d)?;
            let a = ApiServer {
                server: g.string("server", d),
                ca_file: g.string("caFile", d),
                token_file: g.string("tokenFile", d),
                tls_server_name: g.string("tlsServerName", d),
            };
            g.finish(d);
            Some(Sp::new(a, e.loc))
        }),
        overrides: f.field("overrides", d, overrides),
    };
    f.finish(d);
    Some(c)
}

fn service_port(n: &Node, path: &str, d: &mut Diagnostics) -> Option<Sp<ServicePort>> {
    let mut h = Fields::of(n, path, d)?;
    let sp = ServicePort {
        name: h.string("name", d),
        number: h.field("number", d, uint),
        protocol: h.string("protocol", d),
    };
    h.finish(d);
    Some(Sp::new(sp, n.loc))
}

fn federated_service(n: &Node, path: &str, d: &mut Diagnostics) -> Option<Sp<FederatedService>> {
    let mut g = Fields::of(n, path, d)?;
    let svc = FederatedService {
        name: g.string("name", d),
        namespace: g.string("namespace", d),
        cluster: g.string("cluster", d),
        ports: g.field("ports", d, |p, path, d| list_of(p, path, d, service_port)),
        consumers: g.field("consumers", d, strings),
    };
    g.finish(d);
    Some(Sp::new(svc, n.loc))
}

fn federation(n: &Node, path: &str, d: &mut Diagnostics) -> Option<Sp<Federation>> {
    let mut f = Fields::of(n, path, d)?;
    let mut out = Federation {
        address_pool: f.string("addressPool", d),
        ..Federation::default()
    };
    if let Some(l) = f.node("services") {
        out.services = list_of(l, "federation.services", d, federated_service)
            .map(|l| l.value)
            .unwrap_or_default();
    }
    if let Some(c) = f.node("coreDNS")
        && let Some(g) = Fields::of(c, "federation.coreDNS", d)
    {
        g.free_keys();
        for (k, v) in g.entries {
            let path = format!("federation.coreDNS.{}", k.name);
            let ip = Fields::of(v, &path, d).map_or(Field::Absent, |mut h| {
                let ip = h.string("istiocorednsClusterIP", d);
                h.finish(d);
                ip
            });
            out.core_dns.push((Sp::new(k.name.clone(), k.loc), ip));
        }
    }
    f.finish(d);
    Some(Sp::new(out, n.loc))
}

/// `node` with every key at a position of `typos` renamed to the field it misspells, so a
/// second decode reads the value where the user meant it (a key's position is unique).
pub fn with_typos_fixed(node: &Node, typos: &BTreeMap<Loc, &'static str>) -> Node {
    let value = match &node.value {
        Value::Map(entries) => Value::Map(
            entries
                .iter()
                .map(|(k, v)| {
                    let name = typos
                        .get(&k.loc)
                        .map_or_else(|| k.name.clone(), |meant| (*meant).to_owned());
                    (Key { loc: k.loc, name }, with_typos_fixed(v, typos))
                })
                .collect(),
        ),
        Value::Seq(items) => Value::Seq(items.iter().map(|v| with_typos_fixed(v, typos)).collect()),
        other => other.clone(),
    };
    Node {
        loc: node.loc,
        value,
    }
}
