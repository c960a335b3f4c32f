//! Files named in the spec (API server CA bundles, reader tokens), read relative to the
//! spec's directory and checked here, so later stages never touch the spec's inputs again.

use std::collections::BTreeMap;
use std::path::Path;

use super::formats::url_problem;
use super::require;
use crate::diag::{Code, Diagnostics};
use crate::model::{ApiServer, SecretString};
use crate::spec::{Sp, Spec};

/// The API servers of every cluster that names one, by cluster index, whatever else is wrong
/// with the cluster (so every unreadable file is reported in one run).
pub(super) fn api_servers(
    spec: &Spec,
    base: &Path,
    version: Option<crate::istio::Version>,
    d: &mut Diagnostics,
) -> BTreeMap<usize, ApiServer> {
    let mut out = BTreeMap::new();
    // SOPS: token files are secrets a CI checkout does not have; a missing one is read as
    // "not here" (remote secrets sealed before are then compared by fingerprint).
    let sops = spec
        .secrets
        .value()
        .and_then(|s| s.value.mode.value())
        .is_some_and(|m| m.value == "sops");
    let clusters = spec
        .clusters
        .value()
        .map(|l| l.value.as_slice())
        .unwrap_or_default();
    for (index, c) in clusters.iter().enumerate() {
        let Some(a) = c.api_server.value() else {
            continue;
        };
        let prefix = format!("clusters[{index}].apiServer");
        let server = match a.value.server.value() {
            None => {
                require(&a.value.server, a.loc, &format!("{prefix}.server"), d);
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
        let ca_pem = a.value.ca_file.value().and_then(|p| {
            let field = format!("{prefix}.caFile");
            let text = read_input(base, p, &field, d)?;
            check_ca_bundle(&text, p, &field, d).then_some(text)
        });
        let token = a.value.token_file.value().and_then(|p| {
            let field = format!("{prefix}.tokenFile");
            if sops && !base.join(&p.value).exists() {
                return None;
            }
            let text = read_input(base, p, &field, d)?;
            check_token(&text, p, &field, d).map(SecretString)
        });
        let tls_server_name = a.value.tls_server_name.value().and_then(|n| {
            if let Some(v) = version
                && !v.has_remote_secret_tls_server_name()
            {
                d.error_help(
                    Code::E020,
                    n.loc,
                    format!("`{prefix}.tlsServerName` needs Istio 1.26 or newer (`istioctl create-remote-secret --tls-server-name`); the target is {v}"),
                    "remove it, or put the name the API server's certificate carries into `server`",
                );
                return None;
            }
            if !super::formats::is_dns1123_subdomain(&n.value) {
                d.error_help(
                    Code::E030,
                    n.loc,
                    format!("`{prefix}.tlsServerName` `{}` is not a DNS name", crate::diag::terminal_safe(&n.value)),
                    "the host name in the API server's certificate, e.g. api.cluster1.internal",
                );
                return None;
            }
            Some(n.value.clone())
        });
        if let Some(server) = server {
            out.insert(
                index,
                ApiServer {
                    server,
                    ca_pem,
                    token,
                    tls_server_name,
                },
            );
        }
    }
    out
}

/// Reads a file named in the spec, relative to `base`. Unreadable files become `E021`.
fn read_input(base: &Path, p: &Sp<String>, field: &str, d: &mut Diagnostics) -> Option<String> {
    let path = base.join(&p.value);
    // A CA bundle or a token is a few KiB; 1 MiB bounds anything a spec can name.
    match crate::fsutil::read_bounded(&path, 1 << 20) {
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
            // A token pasted where its file name belongs must not be echoed to the terminal
            // (or a CI log): a JWT, or anything too long to be a path, is not shown.
            let looks_secret =
                field.ends_with("tokenFile") && (p.value.starts_with("eyJ") || p.value.len() > 200);
            let shown = if looks_secret {
                "the value (it looks like a token, not a file name: put the token in a file and name that file; the value is not shown)".to_owned()
            } else {
                p.value.clone()
            };
            d.error(
                Code::E021,
                p.loc,
                format!("`{field}`: cannot read {shown}: {}", io_reason(&e)),
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
