//! Spec → resolved [`Mesh`], or every problem at once (DESIGN.md §1 "Validation").
//!
//! Rules run in a fixed order and never stop early: each one adds diagnostics and moves on,
//! so one run reports everything. Files named in the spec (CA bundles, tokens) are read here,
//! relative to the spec's directory, so later stages never touch the spec's inputs again.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::diag::{Code, Diagnostics, Loc};
use crate::istio::{self, Version};
use crate::model::*;
use crate::spec::{self, Sp, Spec};

pub const API_VERSION: &str = "meshrender/v1alpha1";
pub const KIND: &str = "Mesh";

/// A DNS-1123 label: lower-case alphanumerics and '-', starting and ending alphanumeric, ≤ 63.
pub fn is_dns1123_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A Kubernetes label value: ≤ 63 alphanumerics, '-', '_', '.', alphanumeric at both ends.
pub fn is_label_value(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && s.as_bytes()[0].is_ascii_alphanumeric()
        && s.as_bytes()[s.len() - 1].is_ascii_alphanumeric()
}

/// An IP address or a DNS name (RFC 1123 subdomain, case-insensitive, whose last label is not
/// all digits, so `203.0.113.300` is neither).
pub fn is_ip_or_hostname(s: &str) -> bool {
    if s.parse::<IpAddr>().is_ok() {
        return true;
    }
    let last_numeric = s
        .rsplit('.')
        .next()
        .is_some_and(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()));
    !s.is_empty()
        && s.len() <= 253
        && !last_numeric
        && s.split('.')
            .all(|l| is_dns1123_label(&l.to_ascii_lowercase()))
}

/// The value of a required field. A field the spec wrote with a wrong type was reported by
/// decoding already, so only a field that is absent (or written without a value) is reported.
fn require<'a, T>(
    spec: &Spec,
    v: &'a Option<Sp<T>>,
    parent: Loc,
    what: &str,
    d: &mut Diagnostics,
) -> Option<&'a Sp<T>> {
    if v.is_none() && !spec.written.contains(what) {
        if spec.nulls.contains(what) {
            d.error(
                Code::E004,
                parent,
                format!("required field `{what}` has no value"),
            );
        } else {
            d.error(
                Code::E004,
                parent,
                format!("missing required field `{what}`"),
            );
        }
    }
    v.as_ref()
}

/// Reads a file named in the spec, relative to `base`. Unreadable files become `E021`.
fn read_input(base: &Path, p: &Sp<String>, field: &str, d: &mut Diagnostics) -> Option<String> {
    let path = base.join(&p.value);
    match std::fs::read(&path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(s) => Some(s),
            Err(_) => {
                d.error(
                    Code::E022,
                    p.loc,
                    format!("`{field}`: {} is not UTF-8 text", p.value),
                );
                None
            }
        },
        Err(e) => {
            d.error(
                Code::E021,
                p.loc,
                format!("`{field}`: cannot read {}: {}", p.value, io_reason(&e)),
            );
            None
        }
    }
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => e.to_string(),
    }
}

/// A CA bundle must hold at least one PEM `CERTIFICATE` block and nothing else.
fn check_ca_bundle(text: &str, p: &Sp<String>, field: &str, d: &mut Diagnostics) -> bool {
    match pem::parse_many(text) {
        Ok(blocks) if blocks.is_empty() => {
            let hint = if text.trim().starts_with("LS0t") {
                "it looks base64-encoded: decode it (`base64 -d`) to get the PEM text"
            } else {
                "a CA bundle is PEM text with -----BEGIN CERTIFICATE----- blocks"
            };
            d.error_help(
                Code::E022,
                p.loc,
                format!("`{field}`: {} holds no PEM certificate", p.value),
                hint,
            );
            false
        }
        Ok(blocks) => {
            if let Some(i) = blocks.iter().position(|b| {
                b.tag() == "CERTIFICATE"
                    && x509_parser::parse_x509_certificate(b.contents()).is_err()
            }) {
                d.error(
                    Code::E022,
                    p.loc,
                    format!(
                        "`{field}`: {}: PEM block #{} is not an X.509 certificate",
                        p.value,
                        i + 1
                    ),
                );
                false
            } else if let Some(b) = blocks.iter().find(|b| b.tag() != "CERTIFICATE") {
                d.error_help(
                    Code::E022,
                    p.loc,
                    format!(
                        "`{field}`: {} holds a PEM block of type `{}`, expected only `CERTIFICATE`",
                        p.value,
                        b.tag()
                    ),
                    "a CA bundle is public: never put a private key in it",
                );
                false
            } else {
                true
            }
        }
        Err(e) => {
            d.error(
                Code::E022,
                p.loc,
                format!("`{field}`: {} is not valid PEM: {e}", p.value),
            );
            false
        }
    }
}

/// A bearer token: one line of printable, space-free ASCII. Its content is never printed.
fn check_token(text: &str, p: &Sp<String>, field: &str, d: &mut Diagnostics) -> Option<String> {
    let t = text.trim_end_matches(['\n', '\r']).trim();
    if t.is_empty() {
        d.error(
            Code::E022,
            p.loc,
            format!("`{field}`: {} is empty", p.value),
        );
        return None;
    }
    if !t.bytes().all(|b| b.is_ascii_graphic()) {
        d.error_help(
            Code::E022,
            p.loc,
            format!(
                "`{field}`: {} is not a bearer token (it must be one line without spaces)",
                p.value
            ),
            "write only the token, e.g. `kubectl -n istio-system get secret istio-reader-service-account-istio-remote-secret-token -o jsonpath='{.data.token}' | base64 -d > FILE`",
        );
        return None;
    }
    Some(t.to_owned())
}

/// Validates a decoded spec. `base` is the spec file's directory. Returns the mesh when there
/// is no error; the diagnostics may hold warnings either way.
pub fn validate(spec: &Spec, base: &Path) -> (Option<Mesh>, Diagnostics) {
    let mut d = Diagnostics::default();
    let top = Loc::new(1, 1);

    match &spec.api_version {
        None if !spec.written.contains("apiVersion") => d.error_help(
            Code::E004,
            top,
            "missing required field `apiVersion`",
            format!("add `apiVersion: {API_VERSION}`"),
        ),
        Some(v) if v.value != API_VERSION => d.error(
            Code::E010,
            v.loc,
            format!("`apiVersion` is `{}`, expected `{API_VERSION}`", v.value),
        ),
        _ => {}
    }
    match &spec.kind {
        None if !spec.written.contains("kind") => d.error_help(
            Code::E004,
            top,
            "missing required field `kind`",
            format!("add `kind: {KIND}`"),
        ),
        Some(v) if v.value != KIND => d.error(
            Code::E010,
            v.loc,
            format!("`kind` is `{}`, expected `{KIND}`", v.value),
        ),
        _ => {}
    }
    let mesh_id = require(spec, &spec.mesh_id, top, "meshID", &mut d).map(|m| m.value.clone());
    if let Some(m) = &spec.mesh_id
        && !is_label_value(&m.value)
    {
        d.error(
            Code::E030,
            m.loc,
            format!(
                "`meshID` `{}` must be a label value (letters, digits, '-', '_', '.', at most 63)",
                m.value
            ),
        );
    }

    // Istio version and install options.
    let mut version = None;
    let (mut revision, mut hub, mut tag) = (None, None, None);
    match &spec.istio {
        None => {
            if !spec.written.contains("istio") {
                d.error(Code::E004, top, "missing required section `istio`");
            }
        }
        Some(i) => {
            if let Some(v) = require(spec, &i.value.version, i.loc, "istio.version", &mut d) {
                match Version::parse(&v.value) {
                    Some(ver) if ver.is_supported() => version = Some(ver),
                    _ => {
                        let help = match v.value.split('.').collect::<Vec<_>>()[..] {
                            [a, b, _] if Version::parse(&format!("{a}.{b}")).is_some() => format!(
                                "`version` is the minor version: use version: \"{a}.{b}\" and put the patch release in `tag: {}`",
                                v.value
                            ),
                            _ => format!(
                                "use a minor version from \"{}\" to \"{}\", e.g. version: \"{}\"",
                                istio::OLDEST_RENDERED,
                                istio::NEWEST,
                                istio::NEWEST
                            ),
                        };
                        d.error_help(
                            Code::E011,
                            v.loc,
                            format!("unsupported Istio version `{}`", v.value),
                            help,
                        );
                    }
                }
            }
            if let Some(r) = &i.value.revision
                && !r.value.is_empty()
            {
                if is_dns1123_label(&r.value) {
                    revision = Some(r.value.clone());
                } else {
                    d.error_help(
                        Code::E013,
                        r.loc,
                        format!("`istio.revision` `{}` is not a DNS-1123 label", r.value),
                        "use lower-case letters, digits and '-', e.g. `1-28-2` or `canary`",
                    );
                }
            }
            hub = i.value.hub.as_ref().map(|h| h.value.clone());
            tag = i.value.tag.as_ref().map(|t| t.value.clone());
        }
    }

    let trust_domain = match &spec.trust_domain {
        Some(t) if is_ip_or_hostname(&t.value) => t.value.clone(),
        Some(t) => {
            d.error(
                Code::E030,
                t.loc,
                format!("`trustDomain` `{}` is not a DNS name", t.value),
            );
            String::new()
        }
        None => "cluster.local".to_owned(),
    };

    let pki = pki_settings(&spec.pki, base, &mut d);
    let (clusters, clusters_ok) = clusters(spec, &mut d);

    // Version-dependent model rules.
    let replicated_era = version.is_some_and(|v| v.is_replicated_control_plane_era());
    if let Some(v) = version {
        if replicated_era {
            for c in spec.clusters.iter().flat_map(|l| l.value.iter()) {
                if let Some(r) = &c.role
                    && r.value == "remote"
                {
                    d.error_help(
                        Code::E020,
                        r.loc,
                        format!("remote clusters need Istio 1.8 or newer; Istio {v} has only replicated control planes"),
                        "make every cluster a primary and share services through `federation`, or target Istio 1.8+",
                    );
                }
            }
        }
        if let Some(f) = &spec.federation
            && v.at_least(8)
        {
            d.error_help(
                Code::E020,
                f.loc,
                format!("`federation` (replicated control planes with `*.global` names) does not work with Istio {v}"),
                "it was deprecated in Istio 1.8 and broken by the 1.8.6/1.9.5 security fix; remove `federation` and use the multi-network models, which route `*.cluster.local` names through east-west gateways",
            );
        }
    }

    // Topology rules: who needs a gateway address, who must be readable.
    let topo = version.filter(|_| !clusters.is_empty()).map(|v| {
        Topology::derive(
            v,
            clusters
                .iter()
                .map(|c| (&c.name.value, &c.network, &c.role)),
        )
    });
    if let Some(topo) = &topo
        && !replicated_era
    {
        for c in &clusters {
            let f = topo
                .facts(&c.name.value)
                .expect("derived from the same list");
            if f.needs_east_west && !c.ew_address_written {
                let why = if topo.multi_network {
                    "the mesh spans several networks, so every cluster needs an east-west gateway"
                } else {
                    "it serves remote clusters, which reach its istiod through the east-west gateway"
                };
                d.error_help(
                    Code::E018,
                    c.ew_loc.unwrap_or(c.loc),
                    format!("cluster `{}` needs `eastWestGateway.address`: {why}", c.name.value),
                    "set the externally reachable IP or hostname of its east-west gateway, e.g. `eastWestGateway: {address: 203.0.113.10}`",
                );
            }
            if f.read_by_primary && c.api_server.is_none() {
                let readers: Vec<&str> = topo
                    .clusters
                    .iter()
                    .filter(|o| o.reads.contains(&c.name.value))
                    .map(|o| o.name.as_str())
                    .collect();
                let who = match readers.as_slice() {
                    [one] => format!("primary {one} must"),
                    [init @ .., last] => format!("primaries {} and {last} must", init.join(", ")),
                    [] => "primaries must".to_owned(),
                };
                d.error_help(
                    Code::E019,
                    c.loc,
                    format!(
                        "cluster `{}` needs `apiServer`: {who} read its API server for endpoint discovery",
                        c.name.value
                    ),
                    "add `apiServer: {server: https://HOST:6443, caFile: FILE}`",
                );
            }
        }
    }

    // Files named in the spec, for every cluster, whatever else is wrong with it.
    let mut api_servers: BTreeMap<usize, ApiServer> = BTreeMap::new();
    for (index, c) in spec
        .clusters
        .iter()
        .flat_map(|l| l.value.iter())
        .enumerate()
    {
        let Some(a) = &c.api_server else { continue };
        let prefix = format!("clusters[{index}].apiServer");
        let server = match &a.value.server {
            None => {
                require(
                    spec,
                    &a.value.server,
                    a.loc,
                    &format!("{prefix}.server"),
                    &mut d,
                );
                None
            }
            Some(s) => match url_problem(&s.value) {
                Some(problem) => {
                    d.error_help(
                        Code::E030,
                        s.loc,
                        format!("`{prefix}.server` `{}`: {problem}", s.value),
                        "istiod reads API servers over TLS: use https://HOST[:PORT]",
                    );
                    None
                }
                None => Some(s.value.clone()),
            },
        };
        let ca_pem = a.value.ca_file.as_ref().and_then(|p| {
            let field = format!("{prefix}.caFile");
            let text = read_input(base, p, &field, &mut d)?;
            check_ca_bundle(&text, p, &field, &mut d).then_some(text)
        });
        let token = a.value.token_file.as_ref().and_then(|p| {
            let field = format!("{prefix}.tokenFile");
            let text = read_input(base, p, &field, &mut d)?;
            check_token(&text, p, &field, &mut d).map(SecretString)
        });
        if let Some(server) = server {
            api_servers.insert(
                index,
                ApiServer {
                    server,
                    ca_pem,
                    token,
                },
            );
        }
    }

    // Secrets delivery.
    let secrets = secrets_mode(spec, mesh_id.as_deref().unwrap_or(""), &mut d);
    if let Some(topo) = &topo {
        let renders_secret = topo.clusters.iter().any(|f| f.runs_istiod);
        let mode_given = spec.written.contains("secrets.mode");
        if renders_secret && !mode_given {
            d.error_help(
                Code::E025,
                spec.secrets.as_ref().map_or(top, |s| s.loc),
                "`secrets.mode` is required: this mesh renders `cacerts` secrets",
                "use `secrets: {mode: external-secrets, externalSecrets: {storeRef: {kind: ClusterSecretStore, name: NAME}}}` (or `mode: plaintext` for labs)",
            );
        }
        if secrets == Some(SecretsMode::Plaintext) {
            for c in &clusters {
                let f = topo.facts(&c.name.value).expect("same list");
                if !f.read_by_primary {
                    continue;
                }
                let Some(a) = &c.api_server else { continue };
                let prefix = format!("clusters[{}].apiServer", c.index);
                let n = &c.name.value;
                if a.value.token_file.is_none() {
                    d.error_help(
                        Code::E026,
                        a.loc,
                        format!("cluster `{n}`: `secrets.mode: plaintext` puts its remote secret in the output, which needs `{prefix}.tokenFile`"),
                        format!("apply clusters/{n}/reader-token.yaml to `{n}`, then `kubectl --context {n} -n istio-system get secret istio-reader-service-account-istio-remote-secret-token -o jsonpath='{{.data.token}}' | base64 -d > creds/{n}.token` and set `tokenFile: creds/{n}.token`; or use `mode: external-secrets`"),
                    );
                }
                if a.value.ca_file.is_none() {
                    d.error_help(
                        Code::E026,
                        a.loc,
                        format!("cluster `{n}`: `secrets.mode: plaintext` needs `{prefix}.caFile` to build its remote secret"),
                        "set `caFile` to the API server's CA bundle (`ca.crt` of the reader token Secret)",
                    );
                }
            }
        }
    }

    let verification = spec
        .verification
        .as_ref()
        .and_then(|v| v.value.enabled.as_ref())
        .is_some_and(|e| e.value);

    let gitops = gitops_settings(spec, version, tag.as_deref(), &mut d);
    let federation = if replicated_era {
        federation_settings(spec, &clusters, &mut d)
    } else {
        None
    };

    if d.has_errors() || !clusters_ok {
        return (None, d);
    }
    let (Some(mesh_id), Some(version), Some(pki), Some(secrets)) = (mesh_id, version, pki, secrets)
    else {
        return (None, d);
    };
    let clusters = clusters
        .into_iter()
        .map(|c| Cluster {
            api_server: api_servers.remove(&c.index),
            east_west: c.ew_address.map(|address| EastWestGateway {
                address,
                node_port: c.node_port,
                port: c.ew_port.unwrap_or(15443),
            }),
            name: c.name.value,
            network: c.network,
            role: c.role,
        })
        .collect();
    let mesh = Mesh {
        mesh_id,
        version,
        revision,
        hub,
        tag,
        trust_domain,
        pki,
        secrets,
        clusters,
        verification,
        gitops,
        federation,
        reproduce: None,
    };
    (Some(mesh), d)
}

/// `federation` (Istio 1.6–1.7): services exported by one cluster and consumed by others
/// under `<name>.<namespace>.global`.
fn federation_settings(
    spec: &Spec,
    clusters: &[ClusterIn],
    d: &mut Diagnostics,
) -> Option<Federation> {
    let f = spec.federation.as_ref()?;
    let mut ok = true;
    let pool = match &f.value.address_pool {
        None => Some((std::net::Ipv4Addr::new(240, 0, 0, 0), 4)),
        Some(p) => match crate::federation::parse_pool(&p.value) {
            Ok(pool) => Some(pool),
            Err(why) => {
                d.error_help(
                    Code::E024,
                    p.loc,
                    format!("`federation.addressPool` `{}`: {why}", p.value),
                    "use an IPv4 CIDR that is never routed, e.g. the default 240.0.0.0/4 (class E)",
                );
                None
            }
        },
    };
    let known: Vec<&str> = clusters.iter().map(|c| c.name.value.as_str()).collect();
    let cluster_ref = |v: &Sp<String>, what: &str, d: &mut Diagnostics| -> bool {
        if known.contains(&v.value.as_str()) {
            return true;
        }
        let mut diag = crate::diag::Diagnostic::error(
            Code::E023,
            v.loc,
            format!("{what} `{}` is not a cluster of this mesh", v.value),
        );
        if let Some(h) = crate::spec::decode::did_you_mean(&v.value, &known) {
            diag = diag.with_help(format!("did you mean `{h}`?"));
        }
        d.push(diag);
        false
    };
    let mut services = Vec::new();
    let mut seen: BTreeMap<String, Loc> = BTreeMap::new();
    for (i, s) in f.value.services.iter().enumerate() {
        let path = format!("federation.services[{i}]");
        let name = require(spec, &s.value.name, s.loc, &format!("{path}.name"), d);
        let ns = require(
            spec,
            &s.value.namespace,
            s.loc,
            &format!("{path}.namespace"),
            d,
        );
        let cluster = require(spec, &s.value.cluster, s.loc, &format!("{path}.cluster"), d);
        for v in [name, ns].into_iter().flatten() {
            if !is_dns1123_label(&v.value) {
                d.error(
                    Code::E013,
                    v.loc,
                    format!("`{}` is not a DNS-1123 label", v.value),
                );
                ok = false;
            }
        }
        if let (Some(n), Some(nsv)) = (name, ns) {
            let key = format!("{}.{}", n.value, nsv.value);
            if let Some(first) = seen.get(&key) {
                d.error_help(
                    Code::E023,
                    n.loc,
                    format!("service `{key}` is exported twice"),
                    format!("first defined at line {}, column {}", first.line, first.col),
                );
                ok = false;
            } else {
                seen.insert(key, n.loc);
            }
        }
        let exporter_ok = cluster.is_some_and(|c| cluster_ref(c, "exporting cluster", d));
        if let Some(c) = cluster
            && exporter_ok
            && let Some(cin) = clusters.iter().find(|x| x.name.value == c.value)
        {
            if !cin.ew_address_written {
                d.error_help(
                    Code::E018,
                    c.loc,
                    format!("cluster `{}` exports `{}` but has no `eastWestGateway.address`", c.value, s.value.name.as_ref().map_or("?", |n| n.as_str())),
                    "set the external address of its ingress gateway, which other clusters call on port 15443",
                );
                ok = false;
            } else if cin.node_port && cin.ew_port.is_none() {
                d.error_help(
                    Code::E004,
                    c.loc,
                    format!("cluster `{}` has a NodePort gateway: `eastWestGateway.port` must give the node port of its port 15443", c.value),
                    "e.g. `kubectl -n istio-system get svc istio-ingressgateway -o jsonpath='{.spec.ports[?(@.port==15443)].nodePort}'`",
                );
                ok = false;
            }
        }
        if s.value.ports.is_empty() {
            if !spec.written.contains(&format!("{path}.ports")) {
                d.error(
                    Code::E004,
                    s.loc,
                    format!("missing required field `{path}.ports`"),
                );
            }
            ok = false;
        }
        let mut ports = Vec::new();
        for (j, p) in s.value.ports.iter().enumerate() {
            let pp = format!("{path}.ports[{j}]");
            let pname = require(spec, &p.value.name, p.loc, &format!("{pp}.name"), d);
            let number = require(spec, &p.value.number, p.loc, &format!("{pp}.number"), d);
            let number = number.and_then(|n| match u16::try_from(n.value) {
                Ok(x) if x > 0 => Some(x),
                _ => {
                    d.error(
                        Code::E030,
                        n.loc,
                        format!("`{pp}.number` {} is not a port number", n.value),
                    );
                    None
                }
            });
            match (pname, number) {
                (Some(pn), Some(num)) => ports.push(ServicePort {
                    name: pn.value.clone(),
                    number: num,
                    protocol: p
                        .value
                        .protocol
                        .as_ref()
                        .map_or("TCP".to_owned(), |x| x.value.clone()),
                }),
                _ => ok = false,
            }
        }
        let mut consumers = Vec::new();
        if s.value.consumers.is_empty() && !spec.written.contains(&format!("{path}.consumers")) {
            d.error(
                Code::E004,
                s.loc,
                format!("missing required field `{path}.consumers`"),
            );
            ok = false;
        }
        for c in &s.value.consumers {
            if !cluster_ref(c, "consumer", d) {
                ok = false;
            } else if cluster.is_some_and(|x| x.value == c.value) {
                d.error_help(
                    Code::E023,
                    c.loc,
                    format!("`{}` consumes its own service", c.value),
                    "a cluster calls its own services by their .svc.cluster.local names; list only other clusters",
                );
                ok = false;
            } else if !consumers.contains(&c.value) {
                consumers.push(c.value.clone());
            }
        }
        if let (Some(n), Some(nsv), Some(c), true) = (name, ns, cluster, exporter_ok) {
            services.push(FederatedService {
                name: n.value.clone(),
                namespace: nsv.value.clone(),
                cluster: c.value.clone(),
                ports,
                consumers,
            });
        }
    }
    let mut core_dns = BTreeMap::new();
    for (c, ip) in &f.value.core_dns {
        if !cluster_ref(c, "`federation.coreDNS` names cluster", d) {
            ok = false;
            continue;
        }
        match ip {
            None => {
                if !spec.written.contains(&format!(
                    "federation.coreDNS.{}.istiocorednsClusterIP",
                    c.value
                )) {
                    d.error(
                        Code::E004,
                        c.loc,
                        format!(
                            "missing required field `federation.coreDNS.{}.istiocorednsClusterIP`",
                            c.value
                        ),
                    );
                }
                ok = false;
            }
            Some(ip) => match ip.value.parse::<std::net::Ipv4Addr>() {
                Ok(a) => {
                    core_dns.insert(c.value.clone(), a);
                }
                Err(_) => {
                    d.error(
                        Code::E030,
                        ip.loc,
                        format!("`{}` is not an IPv4 ClusterIP", ip.value),
                    );
                    ok = false;
                }
            },
        }
    }
    let pool = pool?;
    // Every consumer needs one address per consumed service.
    let usable = crate::federation::usable_addresses(pool);
    for c in clusters {
        let n = services
            .iter()
            .filter(|s| s.consumers.contains(&c.name.value))
            .count() as u64;
        if n > usable {
            d.error_help(
                Code::E024,
                f.value.address_pool.as_ref().map_or(f.loc, |p| p.loc),
                format!("the address pool has {usable} usable addresses, but cluster `{}` consumes {n} services", c.name.value),
                "use a larger pool (the default 240.0.0.0/4 has about 268 million)",
            );
            ok = false;
        }
        let consumes = n > 0;
        if consumes && !core_dns.contains_key(&c.name.value) {
            d.warning_help(
                Code::W001,
                f.loc,
                format!("no `federation.coreDNS.{}.istiocorednsClusterIP`: the CoreDNS stub of `{}` is not rendered", c.name.value, c.name.value),
                format!("after installing Istio on {}, add its istiocoredns ClusterIP (`kubectl --context {} -n istio-system get svc istiocoredns -o jsonpath='{{.spec.clusterIP}}'`)", c.name.value, c.name.value),
            );
        }
    }
    ok.then_some(Federation {
        pool,
        services,
        core_dns,
    })
}

fn gitops_settings(
    spec: &Spec,
    version: Option<Version>,
    tag: Option<&str>,
    d: &mut Diagnostics,
) -> Option<Gitops> {
    let g = spec.gitops.as_ref()?;
    let repo_url = require(spec, &g.value.repo_url, g.loc, "gitops.repoURL", d)?;
    if repo_url.value.trim().is_empty() || repo_url.value.contains(char::is_whitespace) {
        d.error(
            Code::E030,
            repo_url.loc,
            format!(
                "`gitops.repoURL` `{}` is not a repository URL",
                repo_url.value
            ),
        );
    }
    let path = match &g.value.path {
        None => String::new(),
        Some(p) => {
            let clean = p
                .value
                .trim_start_matches("./")
                .trim_matches('/')
                .to_owned();
            if clean
                .split('/')
                .any(|seg| seg == ".." || seg.is_empty() && !clean.is_empty())
                || p.value.starts_with('/')
            {
                d.error_help(
                    Code::E030,
                    p.loc,
                    format!("`gitops.path` `{}` must be a relative path inside the repository", p.value),
                    "the path of the output directory from the repository root, e.g. `mesh/out` (or `.`)",
                );
            }
            if clean == "." { String::new() } else { clean }
        }
    };
    let name = |v: &Option<Sp<String>>, what: &str, default: &str, d: &mut Diagnostics| -> String {
        match v {
            Some(x) if is_dns1123_subdomain(&x.value) => x.value.clone(),
            Some(x) => {
                d.error(
                    Code::E030,
                    x.loc,
                    format!("`{what}` `{}` is not a Kubernetes object name", x.value),
                );
                String::new()
            }
            None => default.to_owned(),
        }
    };
    // `argocd:` or `flux:` without a value enables them with defaults.
    let empty_argo = Sp::new(crate::spec::ArgoCd::default(), g.loc);
    let empty_flux = Sp::new(crate::spec::Flux::default(), g.loc);
    let argo_spec = g
        .value
        .argocd
        .as_ref()
        .or(spec.nulls.contains("gitops.argocd").then_some(&empty_argo));
    let flux_spec = g
        .value
        .flux
        .as_ref()
        .or(spec.nulls.contains("gitops.flux").then_some(&empty_flux));
    let argocd = argo_spec.map(|a| ArgoCd {
        namespace: name(&a.value.namespace, "gitops.argocd.namespace", "argocd", d),
        project: name(&a.value.project, "gitops.argocd.project", "default", d),
    });
    let flux = flux_spec.and_then(|f| {
        if let Some(v) = version
            && !v.has_helm_values()
        {
            d.error_help(
                Code::E020,
                f.loc,
                format!("`gitops.flux` installs Istio from Helm values, which meshrender renders from Istio 1.24; the target is {v}"),
                "remove `gitops.flux`, or target Istio 1.24 or newer",
            );
            return None;
        }
        let (source_kind, source_name) = match &f.value.source_ref {
            None => ("GitRepository".to_owned(), "flux-system".to_owned()),
            Some(r) => {
                let kind = match &r.value.kind {
                    None => "GitRepository".to_owned(),
                    Some(k) if ["GitRepository", "OCIRepository", "Bucket"].contains(&k.value.as_str()) => k.value.clone(),
                    Some(k) => {
                        d.error_help(
                            Code::E005,
                            k.loc,
                            format!("`gitops.flux.sourceRef.kind` `{}` is not a Flux source kind", k.value),
                            "expected one of: GitRepository, OCIRepository, Bucket",
                        );
                        String::new()
                    }
                };
                (kind, name(&r.value.name, "gitops.flux.sourceRef.name", "flux-system", d))
            }
        };
        let chart_version = match (&f.value.chart_version, tag) {
            (Some(c), _) => c.value.clone(),
            (None, Some(t)) => t.to_owned(),
            (None, None) => version.map(|v| format!("~{v}.0")).unwrap_or_default(),
        };
        Some(Flux {
            namespace: name(&f.value.namespace, "gitops.flux.namespace", "flux-system", d),
            source_kind,
            source_name,
            chart_version,
        })
    });
    if argocd.is_none() && flux.is_none() {
        d.error_help(
            Code::E004,
            g.loc,
            "`gitops` needs `argocd`, `flux` or both",
            "add `argocd: {}` and/or `flux: {}` (defaults: namespaces argocd / flux-system)",
        );
    }
    Some(Gitops {
        repo_url: repo_url.value.clone(),
        revision: g
            .value
            .revision
            .as_ref()
            .map_or("HEAD".to_owned(), |r| r.value.clone()),
        path,
        argocd,
        flux,
    })
}

/// Why `s` is not an `https://HOST[:PORT][/PATH]` URL, or `None` when it is one.
fn url_problem(s: &str) -> Option<String> {
    let Some(rest) = s.strip_prefix("https://") else {
        return Some("not an https:// URL".to_owned());
    };
    if rest.contains(char::is_whitespace) {
        return Some("contains spaces".to_owned());
    }
    let hostport = rest.split('/').next().unwrap_or("");
    let (host, port) = if let Some(h) = hostport.strip_prefix('[') {
        match h.split_once(']') {
            Some((ip, tail)) => {
                if ip.parse::<std::net::Ipv6Addr>().is_err() {
                    return Some(format!("`{ip}` is not an IPv6 address"));
                }
                match tail.strip_prefix(':') {
                    Some(p) => (None, Some(p)),
                    None if tail.is_empty() => (None, None),
                    None => return Some("unexpected text after the IPv6 address".to_owned()),
                }
            }
            None => return Some("unclosed `[` in the host".to_owned()),
        }
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(hostport), None),
        }
    };
    if let Some(h) = host
        && !is_ip_or_hostname(h)
    {
        return Some(format!("`{h}` is not an IP address or hostname"));
    }
    if let Some(p) = port
        && !p.parse::<u16>().is_ok_and(|n| n > 0)
    {
        return Some(format!("port `{p}` is not between 1 and 65535"));
    }
    None
}

fn pki_settings(p: &spec::Pki, base: &Path, d: &mut Diagnostics) -> Option<PkiSettings> {
    let dir_display = p.dir.as_ref().map_or("pki".to_owned(), |x| x.value.clone());
    if dir_display.is_empty() {
        d.error(
            Code::E030,
            p.dir.as_ref().map_or(p.loc, |x| x.loc),
            "`pki.dir` is empty",
        );
    }
    let algorithm = match &p.key_algorithm {
        None => Some(KeyAlgorithm::EcdsaP256),
        Some(a) => match KeyAlgorithm::parse(&a.value) {
            Some(k) => Some(k),
            None => {
                let help = if a.value.to_ascii_lowercase().contains("ed25519") {
                    "istiod rejects Ed25519 CA keys; use ecdsa-p256 (default), ecdsa-p384, rsa-2048, rsa-3072 or rsa-4096".to_owned()
                } else {
                    format!("expected one of: {}", KeyAlgorithm::NAMES.join(", "))
                };
                d.error_help(
                    Code::E005,
                    a.loc,
                    format!("`pki.keyAlgorithm` `{}` is not supported", a.value),
                    help,
                );
                None
            }
        },
    };
    let root = subject(&p.root, "pki.root", "Root CA", 3650, d);
    let intermediate = subject(
        &p.intermediate,
        "pki.intermediate",
        "Intermediate CA",
        730,
        d,
    );
    Some(PkiSettings {
        dir: base.join(&dir_display),
        dir_display,
        algorithm: algorithm?,
        root: root?,
        intermediate: intermediate?,
    })
}

fn subject(
    s: &spec::CertSubject,
    path: &str,
    default_cn: &str,
    default_days: u32,
    d: &mut Diagnostics,
) -> Option<Subject> {
    let days = s.validity_days.as_ref().map_or(default_days, |v| v.value);
    if let Some(v) = &s.validity_days
        && (v.value == 0 || v.value > 36500)
    {
        d.error(
            Code::E030,
            v.loc,
            format!(
                "`{path}.validityDays` must be between 1 and 36500, found {}",
                v.value
            ),
        );
        return None;
    }
    Some(Subject {
        organization: s
            .organization
            .as_ref()
            .map_or("Istio".to_owned(), |o| o.value.clone()),
        common_name: s
            .common_name
            .as_ref()
            .map_or(default_cn.to_owned(), |o| o.value.clone()),
        validity_days: days,
    })
}

fn secrets_mode(spec: &Spec, mesh_id: &str, d: &mut Diagnostics) -> Option<SecretsMode> {
    let Some(s) = &spec.secrets else {
        return Some(SecretsMode::Unset);
    };
    let Some(mode) = &s.value.mode else {
        return Some(SecretsMode::Unset);
    };
    match mode.value.as_str() {
        "plaintext" => Some(SecretsMode::Plaintext),
        "external-secrets" => {
            let Some(es) = &s.value.external_secrets else {
                if !spec.written.contains("secrets.externalSecrets") {
                    d.error_help(
                        Code::E027,
                        mode.loc,
                        "`secrets.mode: external-secrets` needs a `secrets.externalSecrets` section",
                        "add `externalSecrets: {storeRef: {kind: ClusterSecretStore, name: NAME}, keyPrefix: meshes/MESH}`",
                    );
                }
                return None;
            };
            let mut ok = true;
            let key_prefix = match &es.value.key_prefix {
                Some(k)
                    if k.value.trim_matches('/').is_empty()
                        || k.value.contains(char::is_whitespace) =>
                {
                    d.error(
                        Code::E030,
                        k.loc,
                        format!("`secrets.externalSecrets.keyPrefix` `{}` must be a non-empty path without spaces", k.value),
                    );
                    ok = false;
                    String::new()
                }
                Some(k) => k.value.trim_end_matches('/').to_owned(),
                None => format!("meshes/{mesh_id}"),
            };
            let sr = require(
                spec,
                &es.value.store_ref,
                es.loc,
                "secrets.externalSecrets.storeRef",
                d,
            )?;
            let kind = require(
                spec,
                &sr.value.kind,
                sr.loc,
                "secrets.externalSecrets.storeRef.kind",
                d,
            );
            let name = require(
                spec,
                &sr.value.name,
                sr.loc,
                "secrets.externalSecrets.storeRef.name",
                d,
            );
            if let Some(k) = kind
                && k.value != "ClusterSecretStore"
                && k.value != "SecretStore"
            {
                d.error_help(
                    Code::E005,
                    k.loc,
                    format!(
                        "`secrets.externalSecrets.storeRef.kind` `{}` is not a store kind",
                        k.value
                    ),
                    "expected ClusterSecretStore or SecretStore",
                );
                ok = false;
            }
            if let Some(n) = name
                && !is_dns1123_subdomain(&n.value)
            {
                d.error(
                    Code::E030,
                    n.loc,
                    format!("`secrets.externalSecrets.storeRef.name` `{}` is not a Kubernetes object name (lower-case letters, digits, '-', '.')", n.value),
                );
                ok = false;
            }
            let (kind, name) = (kind?, name?);
            ok.then(|| SecretsMode::ExternalSecrets {
                store_kind: kind.value.clone(),
                store_name: name.value.clone(),
                key_prefix,
            })
        }
        "sops" => {
            d.error_help(
                Code::E028,
                mode.loc,
                "`secrets.mode: sops` is not available in this version of meshrender",
                "use `external-secrets` (nothing secret in the output) or `plaintext` (labs only)",
            );
            None
        }
        other => {
            d.error_help(
                Code::E005,
                mode.loc,
                format!("`secrets.mode` `{other}` is not a secrets mode"),
                "expected one of: external-secrets, plaintext, sops",
            );
            None
        }
    }
}

fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns1123_label)
}

/// A cluster whose name, network and role are sound.
struct ClusterIn {
    index: usize,
    loc: Loc,
    name: Sp<String>,
    network: String,
    role: Role,
    ew_address: Option<String>,
    /// An address was written (valid or not): E018 must not fire for it.
    ew_address_written: bool,
    ew_loc: Option<Loc>,
    node_port: bool,
    /// `eastWestGateway.port`, when given.
    ew_port: Option<u16>,
    api_server: Option<Sp<spec::ApiServer>>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum RoleKind {
    Primary,
    Remote,
    /// Misspelt: its own error is reported; nothing is inferred from it.
    Unknown,
}

/// Returns the clusters that could be read, and whether all of them could.
fn clusters(spec: &Spec, d: &mut Diagnostics) -> (Vec<ClusterIn>, bool) {
    let Some(list) = &spec.clusters else {
        if spec.nulls.contains("clusters") {
            d.error(
                Code::E029,
                Loc::new(1, 1),
                "`clusters` has no entries: the mesh needs at least one cluster",
            );
        } else if !spec.written.contains("clusters") {
            d.error(
                Code::E029,
                Loc::new(1, 1),
                "missing required field `clusters`: the mesh has no clusters",
            );
        }
        return (Vec::new(), false);
    };
    if list.value.is_empty() {
        d.error(
            Code::E029,
            list.loc,
            "`clusters` is empty: the mesh needs at least one cluster",
        );
        return (Vec::new(), false);
    }
    let mut ok = true;
    let mut seen: BTreeMap<&str, Loc> = BTreeMap::new();
    let mut roles: BTreeMap<&str, RoleKind> = BTreeMap::new();
    for c in &list.value {
        if let Some(n) = &c.name {
            let kind = match c.role.as_ref().map(|r| r.value.as_str()) {
                None | Some("primary") => RoleKind::Primary,
                Some("remote") => RoleKind::Remote,
                Some(_) => RoleKind::Unknown,
            };
            roles.entry(n.value.as_str()).or_insert(kind);
        }
    }
    let mut out = Vec::new();
    for (index, c) in list.value.iter().enumerate() {
        let path = format!("clusters[{index}]");
        let name = require(spec, &c.name, c.loc, &format!("{path}.name"), d);
        if let Some(n) = name {
            if n.value == crate::pki::rotate::NEXT_ROOT_DIR || n.value.starts_with("retired-root-")
            {
                d.error_help(
                    Code::E013,
                    n.loc,
                    format!("cluster name `{}` is reserved", n.value),
                    "pki.dir uses `next-root/` and `retired-root-*/` for root rotation; choose another name",
                );
                ok = false;
            }
            if !is_dns1123_label(&n.value) {
                d.error_help(
                    Code::E013,
                    n.loc,
                    format!("cluster name `{}` is not a DNS-1123 label", n.value),
                    "it is the Istio cluster ID and a directory name: use lower-case letters, digits and '-', at most 63 characters",
                );
                ok = false;
            }
            if let Some(first) = seen.get(n.value.as_str()) {
                d.error_help(
                    Code::E012,
                    n.loc,
                    format!("duplicate cluster name `{}`", n.value),
                    format!("first defined at line {}, column {}", first.line, first.col),
                );
                ok = false;
            } else {
                seen.insert(&n.value, n.loc);
            }
        }
        let shown = name.map_or("?", |n| n.as_str());
        let network = require(spec, &c.network, c.loc, &format!("{path}.network"), d);
        if let Some(net) = network
            && !is_label_value(&net.value)
        {
            d.error(
                Code::E030,
                net.loc,
                format!("network `{}` must be a label value (letters, digits, '-', '_', '.', at most 63)", net.value),
            );
            ok = false;
        }
        let role_loc = c.role.as_ref().map_or(c.loc, |r| r.loc);
        let role = match c.role.as_ref().map(|r| r.value.as_str()) {
            None | Some("primary") => {
                if let Some(cp) = &c.control_plane {
                    let help = if c.role.is_none() {
                        "a cluster without `role` is a primary; add `role: remote` to make it a remote of that cluster"
                    } else {
                        "a primary runs its own control plane; set `role: remote` to make it a remote of that cluster"
                    };
                    d.error_help(
                        Code::E017,
                        cp.loc,
                        format!("primary cluster `{shown}` must not set `controlPlane`"),
                        help,
                    );
                    None
                } else {
                    Some(Role::Primary)
                }
            }
            Some("remote") => match &c.control_plane {
                None => {
                    d.error_help(
                        Code::E014,
                        role_loc,
                        format!("remote cluster `{shown}` needs `controlPlane`"),
                        "name the primary cluster whose istiod serves it",
                    );
                    None
                }
                Some(cp) => match roles.get(cp.value.as_str()) {
                    None => {
                        let primaries: Vec<&str> = roles
                            .iter()
                            .filter(|(n, k)| **k == RoleKind::Primary && **n != shown)
                            .map(|(n, _)| *n)
                            .collect();
                        let mut diag = crate::diag::Diagnostic::error(
                            Code::E015,
                            cp.loc,
                            format!(
                                "`controlPlane` names `{}`, which is not a cluster of this mesh",
                                cp.value
                            ),
                        );
                        if let Some(h) = crate::spec::decode::did_you_mean(&cp.value, &primaries) {
                            diag = diag.with_help(format!("did you mean `{h}`?"));
                        } else if !primaries.is_empty() {
                            diag = diag.with_help(format!(
                                "primaries of this mesh: {}",
                                primaries.join(", ")
                            ));
                        }
                        d.push(diag);
                        None
                    }
                    Some(RoleKind::Remote) => {
                        d.error_help(
                            Code::E016,
                            cp.loc,
                            format!(
                                "`controlPlane` names `{}`, which is a remote cluster",
                                cp.value
                            ),
                            "a remote is served by a primary: name a cluster with `role: primary`",
                        );
                        None
                    }
                    Some(RoleKind::Unknown) => None,
                    Some(RoleKind::Primary) => Some(Role::Remote {
                        control_plane: cp.value.clone(),
                    }),
                },
            },
            Some(other) => {
                d.error_help(
                    Code::E005,
                    role_loc,
                    format!("`{path}.role` `{other}` is not a role"),
                    match crate::spec::decode::did_you_mean(other, &["primary", "remote"]) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => "expected one of: primary, remote".to_owned(),
                    },
                );
                None
            }
        };
        let mut node_port = false;
        let mut ew_address = None;
        let mut ew_loc = None;
        let mut ew_port = None;
        let ew_address_written = spec
            .written
            .contains(&format!("{path}.eastWestGateway.address"));
        if let Some(gw) = &c.east_west_gateway {
            ew_loc = Some(gw.loc);
            if let Some(t) = &gw.value.service_type {
                match t.value.as_str() {
                    "LoadBalancer" => {}
                    "NodePort" => node_port = true,
                    other => {
                        d.error_help(
                            Code::E005,
                            t.loc,
                            format!(
                                "`{path}.eastWestGateway.serviceType` `{other}` is not supported"
                            ),
                            "expected one of: LoadBalancer, NodePort",
                        );
                        ok = false;
                    }
                }
            }
            if let Some(p) = &gw.value.port {
                match u16::try_from(p.value) {
                    Ok(n) if n > 0 => ew_port = Some(n),
                    _ => {
                        d.error(
                            Code::E030,
                            p.loc,
                            format!(
                                "`{path}.eastWestGateway.port` {} is not between 1 and 65535",
                                p.value
                            ),
                        );
                        ok = false;
                    }
                }
            }
            if let Some(a) = &gw.value.address {
                if is_ip_or_hostname(&a.value) {
                    ew_address = Some(a.value.clone());
                } else {
                    d.error(
                        Code::E030,
                        a.loc,
                        format!("`{path}.eastWestGateway.address` `{}` is not an IP address or hostname", a.value),
                    );
                    ok = false;
                }
            }
        }
        match (name, network, role) {
            (Some(n), Some(net), Some(role)) => out.push(ClusterIn {
                index,
                loc: c.loc,
                name: n.clone(),
                network: net.value.clone(),
                role,
                ew_address,
                ew_address_written,
                ew_loc,
                node_port,
                ew_port,
                api_server: c.api_server.clone(),
            }),
            _ => ok = false,
        }
    }
    (out, ok)
}

/// Convenience for tests and the CLI: text → mesh, with the spec's directory as base.
pub fn load_and_validate(text: &str, base: &Path) -> (Option<Mesh>, Diagnostics) {
    let (spec, mut diags) = spec::load(text);
    let Some(spec) = spec else {
        return (None, diags);
    };
    let (mesh, more) = validate(&spec, base);
    diags.items.extend(more.items);
    if diags.has_errors() {
        return (None, diags);
    }
    (mesh, diags)
}

/// The directory relative paths in a spec are resolved against.
pub fn spec_base(spec_path: &Path) -> PathBuf {
    match spec_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        // The working directory: an empty base keeps joined paths free of a `./` prefix.
        _ => PathBuf::new(),
    }
}
