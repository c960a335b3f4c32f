//! Located YAML tree → typed [`Spec`], reporting every type error and unknown field at once.
//!
//! Each mapping is read through [`Fields`], which remembers which keys were consumed; the
//! rest are reported as unknown with a "did you mean" hint. A value of the wrong type is
//! reported and skipped, so decoding always goes on and later problems are found too.

use super::parse::{Key, Node, Value};
use super::*;
use crate::diag::Code;

/// Decoding state: the diagnostics, and which paths the spec wrote (so validation can tell a
/// missing field from one that was present but invalid, already reported here).
pub struct Ctx {
    pub diags: Diagnostics,
    pub written: std::collections::BTreeSet<String>,
    pub nulls: std::collections::BTreeSet<String>,
}

impl std::ops::Deref for Ctx {
    type Target = Diagnostics;
    fn deref(&self) -> &Diagnostics {
        &self.diags
    }
}

impl std::ops::DerefMut for Ctx {
    fn deref_mut(&mut self) -> &mut Diagnostics {
        &mut self.diags
    }
}

struct Fields<'a> {
    path: String,
    entries: &'a [(Key, Node)],
    used: Vec<bool>,
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
    fn of(node: &'a Node, path: &str, d: &mut Ctx) -> Option<Fields<'a>> {
        match &node.value {
            Value::Map(entries) => Some(Fields {
                path: path.to_owned(),
                entries,
                used: vec![false; entries.len()],
            }),
            Value::Null => Some(Fields {
                path: path.to_owned(),
                entries: &[],
                used: Vec::new(),
            }),
            other => {
                d.error(
                    Code::E002,
                    node.loc,
                    format!("{} must be a mapping, found {}", show(path), other.kind()),
                );
                None
            }
        }
    }

    /// The value under `key`; `None` when absent or explicitly null.
    fn get(&mut self, key: &str) -> Option<&'a Node> {
        let i = self.entries.iter().position(|(k, _)| k.name == key)?;
        self.used[i] = true;
        let n = &self.entries[i].1;
        if n.value == Value::Null {
            None
        } else {
            Some(n)
        }
    }

    fn sub(&self, key: &str) -> String {
        join(&self.path, key)
    }

    fn string(&mut self, key: &str, d: &mut Ctx) -> Option<Sp<String>> {
        let path = self.sub(key);
        self.get(key).and_then(|n| string(n, &path, d))
    }

    fn finish(self, known: &[&str], d: &mut Ctx) {
        for ((k, v), used) in self.entries.iter().zip(&self.used) {
            if *used {
                let path = join(&self.path, &k.name);
                if v.value == Value::Null {
                    d.nulls.insert(path);
                } else {
                    d.written.insert(path);
                }
                continue;
            }
            let msg = format!("unknown field `{}` in {}", k.name, show(&self.path));
            match did_you_mean(&k.name, known) {
                Some(s) => d.error_help(Code::E003, k.loc, msg, format!("did you mean `{s}`?")),
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

fn string(n: &Node, path: &str, d: &mut Ctx) -> Option<Sp<String>> {
    match &n.value {
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

fn uint(n: &Node, path: &str, d: &mut Ctx) -> Option<Sp<u32>> {
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

fn boolean(n: &Node, path: &str, d: &mut Ctx) -> Option<Sp<bool>> {
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

fn list<'a>(n: &'a Node, path: &str, d: &mut Ctx) -> &'a [Node] {
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

/// `istio.version` is text like "1.28"; an unquoted `1.28` is read by YAML as a number and
/// accepted when it prints back unambiguously. `1.3` could mean 1.30 and is refused.
fn version(n: &Node, d: &mut Ctx) -> Option<Sp<String>> {
    match &n.value {
        Value::Float(f) if f.fract() == 0.0 => {
            d.error_help(
                Code::E002,
                n.loc,
                format!("`istio.version` is the number {f:.1}, which YAML reads as {f}"),
                "quote the minor version, e.g. version: \"1.28\"",
            );
            None
        }
        Value::Float(f) => {
            let text = format!("{f}");
            let minor = text.split('.').nth(1).unwrap_or("");
            if minor.len() == 1 && minor != "6" && minor != "7" && minor != "8" && minor != "9" {
                d.error_help(
                    Code::E002,
                    n.loc,
                    format!("`istio.version` is the number {text}, which YAML reads without trailing zeros"),
                    format!("quote the version: version: \"{text}0\" (or \"{text}\")"),
                );
                None
            } else {
                Some(Sp::new(text, n.loc))
            }
        }
        _ => string(n, "istio.version", d),
    }
}

const TOP: &[&str] = &[
    "apiVersion",
    "kind",
    "meshID",
    "istio",
    "trustDomain",
    "pki",
    "secrets",
    "clusters",
    "federation",
    "verification",
    "gitops",
];

/// Decodes the tree, appending problems to `diags`.
pub fn decode(root: &Node, diags: &mut Diagnostics) -> Spec {
    let mut ctx = Ctx {
        diags: std::mem::take(diags),
        written: Default::default(),
        nulls: Default::default(),
    };
    let mut spec = decode_root(root, &mut ctx);
    *diags = ctx.diags;
    spec.written = ctx.written;
    spec.nulls = ctx.nulls;
    spec
}

fn decode_root(root: &Node, d: &mut Ctx) -> Spec {
    let mut spec = Spec::default();
    let Some(mut f) = Fields::of(root, "", d) else {
        return spec;
    };
    spec.api_version = f.string("apiVersion", d);
    spec.kind = f.string("kind", d);
    spec.mesh_id = f.string("meshID", d);
    spec.istio = f.get("istio").and_then(|n| istio(n, d));
    spec.trust_domain = f.string("trustDomain", d);
    if let Some(n) = f.get("pki") {
        spec.pki = pki(n, d);
    }
    spec.secrets = f.get("secrets").and_then(|n| secrets(n, d));
    spec.clusters = f.get("clusters").map(|n| {
        let items = list(n, "clusters", d);
        let v = items
            .iter()
            .enumerate()
            .filter_map(|(i, c)| cluster(c, &format!("clusters[{i}]"), d))
            .collect();
        Sp::new(v, n.loc)
    });
    spec.federation = f.get("federation").and_then(|n| federation(n, d));
    spec.verification = f.get("verification").and_then(|n| {
        let mut v = Fields::of(n, "verification", d)?;
        let enabled = v
            .get("enabled")
            .and_then(|e| boolean(e, "verification.enabled", d));
        v.finish(&["enabled"], d);
        Some(Sp::new(Verification { enabled }, n.loc))
    });
    spec.gitops = f.get("gitops").and_then(|n| gitops(n, d));
    f.finish(TOP, d);
    spec
}

fn gitops(n: &Node, d: &mut Ctx) -> Option<Sp<Gitops>> {
    let mut f = Fields::of(n, "gitops", d)?;
    let mut out = Gitops {
        repo_url: f.string("repoURL", d),
        revision: f.string("revision", d),
        path: f.string("path", d),
        ..Gitops::default()
    };
    out.argocd = f.get("argocd").and_then(|a| {
        let mut g = Fields::of(a, "gitops.argocd", d)?;
        let v = ArgoCd {
            namespace: g.string("namespace", d),
            project: g.string("project", d),
        };
        g.finish(&["namespace", "project"], d);
        Some(Sp::new(v, a.loc))
    });
    out.flux = f.get("flux").and_then(|a| {
        let mut g = Fields::of(a, "gitops.flux", d)?;
        let source_ref = g.get("sourceRef").and_then(|s| {
            let mut h = Fields::of(s, "gitops.flux.sourceRef", d)?;
            let r = StoreRef {
                kind: h.string("kind", d),
                name: h.string("name", d),
            };
            h.finish(&["kind", "name"], d);
            Some(Sp::new(r, s.loc))
        });
        let v = Flux {
            namespace: g.string("namespace", d),
            source_ref,
            chart_version: g.string("chartVersion", d),
        };
        g.finish(&["namespace", "sourceRef", "chartVersion"], d);
        Some(Sp::new(v, a.loc))
    });
    f.finish(&["repoURL", "revision", "path", "argocd", "flux"], d);
    Some(Sp::new(out, n.loc))
}

fn istio(n: &Node, d: &mut Ctx) -> Option<Sp<Istio>> {
    let mut f = Fields::of(n, "istio", d)?;
    let out = Istio {
        version: f.get("version").and_then(|v| version(v, d)),
        revision: f.string("revision", d),
        hub: f.string("hub", d),
        tag: f.string("tag", d),
    };
    f.finish(&["version", "revision", "hub", "tag"], d);
    Some(Sp::new(out, n.loc))
}

fn subject(n: &Node, path: &str, d: &mut Ctx) -> CertSubject {
    let Some(mut f) = Fields::of(n, path, d) else {
        return CertSubject::default();
    };
    let vpath = f.sub("validityDays");
    let out = CertSubject {
        organization: f.string("organization", d),
        common_name: f.string("commonName", d),
        validity_days: f.get("validityDays").and_then(|v| uint(v, &vpath, d)),
    };
    f.finish(&["organization", "commonName", "validityDays"], d);
    out
}

fn pki(n: &Node, d: &mut Ctx) -> Pki {
    let mut out = Pki {
        loc: n.loc,
        ..Pki::default()
    };
    let Some(mut f) = Fields::of(n, "pki", d) else {
        return out;
    };
    out.dir = f.string("dir", d);
    out.key_algorithm = f.string("keyAlgorithm", d);
    if let Some(r) = f.get("root") {
        out.root = subject(r, "pki.root", d);
    }
    if let Some(r) = f.get("intermediate") {
        out.intermediate = subject(r, "pki.intermediate", d);
    }
    f.finish(&["dir", "keyAlgorithm", "root", "intermediate"], d);
    out
}

fn secrets(n: &Node, d: &mut Ctx) -> Option<Sp<Secrets>> {
    let mut f = Fields::of(n, "secrets", d)?;
    let mut out = Secrets {
        mode: f.string("mode", d),
        ..Secrets::default()
    };
    out.external_secrets = f.get("externalSecrets").and_then(|e| {
        let mut g = Fields::of(e, "secrets.externalSecrets", d)?;
        let store_ref = g.get("storeRef").and_then(|s| {
            let mut h = Fields::of(s, "secrets.externalSecrets.storeRef", d)?;
            let r = StoreRef {
                kind: h.string("kind", d),
                name: h.string("name", d),
            };
            h.finish(&["kind", "name"], d);
            Some(Sp::new(r, s.loc))
        });
        let key_prefix = g.string("keyPrefix", d);
        g.finish(&["storeRef", "keyPrefix"], d);
        Some(Sp::new(
            ExternalSecrets {
                store_ref,
                key_prefix,
            },
            e.loc,
        ))
    });
    out.sops = f.get("sops").and_then(|s| {
        let mut g = Fields::of(s, "secrets.sops", d)?;
        let age_recipients = g
            .get("ageRecipients")
            .map(|l| {
                list(l, "secrets.sops.ageRecipients", d)
                    .iter()
                    .filter_map(|r| string(r, "secrets.sops.ageRecipients[]", d))
                    .collect()
            })
            .unwrap_or_default();
        g.finish(&["ageRecipients"], d);
        Some(Sp::new(Sops { age_recipients }, s.loc))
    });
    f.finish(&["mode", "externalSecrets", "sops"], d);
    Some(Sp::new(out, n.loc))
}

fn cluster(n: &Node, path: &str, d: &mut Ctx) -> Option<Cluster> {
    let mut f = Fields::of(n, path, d)?;
    let mut c = Cluster {
        loc: n.loc,
        name: f.string("name", d),
        network: f.string("network", d),
        role: f.string("role", d),
        control_plane: f.string("controlPlane", d),
        ..Cluster::default()
    };
    let ewpath = f.sub("eastWestGateway");
    c.east_west_gateway = f.get("eastWestGateway").and_then(|e| {
        let mut g = Fields::of(e, &ewpath, d)?;
        let gw = EastWestGateway {
            address: g.string("address", d),
            service_type: g.string("serviceType", d),
            port: g
                .get("port")
                .and_then(|p| uint(p, &format!("{ewpath}.port"), d)),
        };
        g.finish(&["address", "serviceType", "port"], d);
        Some(Sp::new(gw, e.loc))
    });
    let apath = f.sub("apiServer");
    c.api_server = f.get("apiServer").and_then(|e| {
        let mut g = Fields::of(e, &apath, d)?;
        let a = ApiServer {
            server: g.string("server", d),
            ca_file: g.string("caFile", d),
            token_file: g.string("tokenFile", d),
        };
        g.finish(&["server", "caFile", "tokenFile"], d);
        Some(Sp::new(a, e.loc))
    });
    f.finish(
        &[
            "name",
            "network",
            "role",
            "controlPlane",
            "eastWestGateway",
            "apiServer",
        ],
        d,
    );
    Some(c)
}

fn federation(n: &Node, d: &mut Ctx) -> Option<Sp<Federation>> {
    let mut f = Fields::of(n, "federation", d)?;
    let mut out = Federation {
        address_pool: f.string("addressPool", d),
        ..Federation::default()
    };
    if let Some(l) = f.get("services") {
        for (i, s) in list(l, "federation.services", d).iter().enumerate() {
            let path = format!("federation.services[{i}]");
            let Some(mut g) = Fields::of(s, &path, d) else {
                continue;
            };
            let mut svc = FederatedService {
                name: g.string("name", d),
                namespace: g.string("namespace", d),
                cluster: g.string("cluster", d),
                ..FederatedService::default()
            };
            if let Some(p) = g.get("ports") {
                for (j, port) in list(p, &format!("{path}.ports"), d).iter().enumerate() {
                    let ppath = format!("{path}.ports[{j}]");
                    let Some(mut h) = Fields::of(port, &ppath, d) else {
                        continue;
                    };
                    let sp = ServicePort {
                        name: h.string("name", d),
                        number: h
                            .get("number")
                            .and_then(|x| uint(x, &format!("{ppath}.number"), d)),
                        protocol: h.string("protocol", d),
                    };
                    h.finish(&["name", "number", "protocol"], d);
                    svc.ports.push(Sp::new(sp, port.loc));
                }
            }
            if let Some(c) = g.get("consumers") {
                svc.consumers = list(c, &format!("{path}.consumers"), d)
                    .iter()
                    .filter_map(|x| string(x, &format!("{path}.consumers[]"), d))
                    .collect();
            }
            g.finish(&["name", "namespace", "cluster", "ports", "consumers"], d);
            out.services.push(Sp::new(svc, s.loc));
        }
    }
    if let Some(c) = f.get("coreDNS")
        && let Some(g) = Fields::of(c, "federation.coreDNS", d)
    {
        for (k, v) in g.entries {
            let path = format!("federation.coreDNS.{}", k.name);
            let ip = Fields::of(v, &path, d).and_then(|mut h| {
                let ip = h.string("istiocorednsClusterIP", d);
                h.finish(&["istiocorednsClusterIP"], d);
                ip
            });
            out.core_dns.push((Sp::new(k.name.clone(), k.loc), ip));
        }
    }
    f.finish(&["addressPool", "services", "coreDNS"], d);
    Some(Sp::new(out, n.loc))
}
