//! `pki`: where the CA material lives, its key algorithm, and the subjects and validity of
//! the root and intermediate certificates.

use std::path::Path;

use crate::diag::{Code, Diagnostics};
use crate::istio::Version;
use crate::model::{CaBackend, KeyAlgorithm, PkiSettings, Subject};
use crate::spec;

/// `pki.backend` and `pki.certManager` (DESIGN §9.2): cert-manager issues the TLS-shaped
/// `cacerts` Istio reads from 1.15.
pub(super) fn backend(p: &spec::Pki, version: Option<Version>, d: &mut Diagnostics) -> CaBackend {
    let Some(b) = p.backend.value() else {
        if let Some(i) = p.cert_manager_issuer.value() {
            d.error_help(
                Code::E004,
                i.loc,
                "`pki.certManager` is set but `pki.backend` is not `cert-manager`",
                "add `backend: cert-manager` to `pki`, or remove `certManager`",
            );
        }
        return CaBackend::Local;
    };
    match b.value.as_str() {
        "local" => CaBackend::Local,
        "cert-manager" => {
            if let Some(v) = version
                && !v.at_least(15)
            {
                d.error_help(
                    Code::E020,
                    b.loc,
                    format!("`pki.backend: cert-manager` needs Istio 1.15 or newer (the first to read a kubernetes.io/tls-shaped `cacerts`); the target is {v}"),
                    "use `backend: local`, or target Istio 1.15+",
                );
            }
            let Some(i) = p.cert_manager_issuer.value() else {
                d.error_help(
                    Code::E004,
                    b.loc,
                    "`pki.backend: cert-manager` needs `pki.certManager.issuerRef`",
                    "add `certManager: {issuerRef: {kind: ClusterIssuer, name: mesh-root}}` (an issuer present in every cluster)",
                );
                return CaBackend::Local;
            };
            let kind = match i.value.kind.value() {
                None => "ClusterIssuer".to_owned(),
                Some(k) if k.value == "Issuer" || k.value == "ClusterIssuer" => k.value.clone(),
                Some(k) => {
                    d.error_help(
                        Code::E005,
                        k.loc,
                        format!("`pki.certManager.issuerRef.kind` `{}` is not a cert-manager issuer kind", k.value),
                        "expected one of: Issuer, ClusterIssuer",
                    );
                    String::new()
                }
            };
            let name = match i.value.name.value() {
                Some(n) if super::formats::is_dns1123_subdomain(&n.value) => n.value.clone(),
                Some(n) => {
                    d.error(
                        Code::E030,
                        n.loc,
                        format!(
                            "`pki.certManager.issuerRef.name` `{}` is not a Kubernetes object name",
                            n.value
                        ),
                    );
                    String::new()
                }
                None => {
                    d.error(
                        Code::E004,
                        i.loc,
                        "missing required field `pki.certManager.issuerRef.name`",
                    );
                    String::new()
                }
            };
            CaBackend::CertManager { kind, name }
        }
        other => {
            d.error_help(
                Code::E005,
                b.loc,
                format!("`pki.backend` `{other}` is not a CA backend"),
                "expected one of: local, cert-manager",
            );
            CaBackend::Local
        }
    }
}

pub(super) fn settings(p: &spec::Pki, base: &Path, d: &mut Diagnostics) -> Option<PkiSettings> {
    let dir_display = p.dir.value().map_or("pki".to_owned(), |x| x.value.clone());
    if dir_display.is_empty() {
        d.error(
            Code::E030,
            p.dir.value().map_or(p.loc, |x| x.loc),
            "`pki.dir` is empty",
        );
    }
    let algorithm = match p.key_algorithm.value() {
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
    let days = s.validity_days.value().map_or(default_days, |v| v.value);
    if let Some(v) = s.validity_days.value()
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
            .value()
            .map_or("Istio".to_owned(), |o| o.value.clone()),
        common_name: s
            .common_name
            .value()
            .map_or(default_cn.to_owned(), |o| o.value.clone()),
        validity_days: days,
    })
}
