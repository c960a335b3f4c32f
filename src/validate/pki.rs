//! `pki`: where the CA material lives, its key algorithm, and the subjects and validity of
//! the root and intermediate certificates.

use std::path::Path;

use crate::diag::{Code, Diagnostics};
use crate::model::{KeyAlgorithm, PkiSettings, Subject};
use crate::spec;

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
