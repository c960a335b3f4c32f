//! Checks loaded CA material the way istiod does before it uses `cacerts`, and more: the key
//! matches the certificate, the intermediate is a CA and chains to a mesh root, `cert-chain.pem`
//! is the intermediate then its root, the cluster's root bundle holds only mesh roots, and
//! nothing has expired. Every problem names the file and what is wrong; key bytes are never
//! printed.

use sha2::{Digest, Sha256};
use x509_parser::prelude::*;

/// What `pki status` shows about one certificate.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CertInfo {
    pub subject: String,
    pub key_type: String,
    pub serial: String,
    pub not_before: i64,
    pub not_after: i64,
    /// SHA-256 of the DER, colon-separated upper-case hex (as `openssl x509 -fingerprint`).
    pub fingerprint: String,
    pub is_ca: bool,
}

/// The DER of every `CERTIFICATE` block in a PEM text.
pub fn certs_der(text: &str) -> Vec<Vec<u8>> {
    ::pem::parse_many(text)
        .map(|v| {
            v.into_iter()
                .filter(|p| p.tag() == "CERTIFICATE")
                .map(|p| p.into_contents())
                .collect()
        })
        .unwrap_or_default()
}

pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn key_type(cert: &X509Certificate<'_>) -> String {
    match cert.public_key().parsed() {
        Ok(x509_parser::public_key::PublicKey::RSA(r)) => format!("RSA-{}", r.key_size()),
        Ok(x509_parser::public_key::PublicKey::EC(e)) => format!("ECDSA P-{}", e.key_size()),
        Ok(_) => "other".to_owned(),
        Err(_) => "unparsable".to_owned(),
    }
}

pub fn info(der: &[u8]) -> Result<CertInfo, String> {
    let (_, cert) =
        parse_x509_certificate(der).map_err(|e| format!("not an X.509 certificate: {e}"))?;
    Ok(CertInfo {
        subject: cert.subject().to_string(),
        key_type: key_type(&cert),
        serial: cert.raw_serial_as_string(),
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        fingerprint: fingerprint(der),
        is_ca: cert.is_ca(),
    })
}

/// Does the private key in `key_pem` belong to the certificate `cert_der`?
pub fn key_matches(cert_der: &[u8], key_pem: &str) -> Result<bool, String> {
    let (_, cert) =
        parse_x509_certificate(cert_der).map_err(|e| format!("not an X.509 certificate: {e}"))?;
    let key = super::load_key(key_pem).map_err(|e| format!("cannot load the private key: {e}"))?;
    Ok(cert.public_key().subject_public_key.data.as_ref() == key.public_key_raw())
}

/// Is `child` signed by `issuer`?
pub fn signed_by(child: &[u8], issuer: &[u8]) -> bool {
    let (Ok((_, c)), Ok((_, i))) = (
        parse_x509_certificate(child),
        parse_x509_certificate(issuer),
    ) else {
        return false;
    };
    c.issuer() == i.subject() && c.verify_signature(Some(i.public_key())).is_ok()
}

fn check_validity(der: &[u8], shown: &str, now: i64, problems: &mut Vec<String>) {
    match info(der) {
        Ok(i) if i.not_after <= now => problems.push(format!(
            "{shown}: expired on {} ({})",
            date(i.not_after),
            i.subject
        )),
        Ok(i) if i.not_before > now => problems.push(format!(
            "{shown}: not valid before {} ({})",
            date(i.not_before),
            i.subject
        )),
        Ok(_) => {}
        Err(e) => problems.push(format!("{shown}: {e}")),
    }
}

/// `YYYY-MM-DD` of a unix timestamp (UTC).
pub fn date(ts: i64) -> String {
    ::time::OffsetDateTime::from_unix_timestamp(ts)
        .map(|d| format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day()))
        .unwrap_or_else(|_| ts.to_string())
}

/// Checks a root: parses, is a CA, self-signed, in validity, and its key (when given) matches.
pub fn verify_root(
    der: &[u8],
    key_pem: Option<&str>,
    shown: &str,
    key_shown: &str,
    now: i64,
) -> Vec<String> {
    let mut problems = Vec::new();
    let Ok((_, cert)) = parse_x509_certificate(der) else {
        return vec![format!("{shown}: not an X.509 certificate")];
    };
    if !cert.is_ca() {
        problems.push(format!(
            "{shown}: not a CA certificate (basicConstraints CA:TRUE missing)"
        ));
    }
    if !signed_by(der, der) {
        problems.push(format!(
            "{shown}: not self-signed; the mesh root must be a self-signed root CA"
        ));
    }
    check_validity(der, shown, now, &mut problems);
    if let Some(k) = key_pem {
        match key_matches(der, k) {
            Ok(true) => {}
            Ok(false) => problems.push(format!(
                "{key_shown}: does not match the public key of {shown}"
            )),
            Err(e) => problems.push(format!("{key_shown}: {e}")),
        }
    }
    problems
}

/// Files of one cluster, as text, with how to name them in messages.
pub struct ClusterFiles<'a> {
    pub dir: String,
    pub ca_cert: &'a str,
    /// `None`: the key is not on this machine (CI with public certificates only); the key
    /// match is then not checked.
    pub ca_key: Option<&'a str>,
    pub root_cert: &'a str,
    pub cert_chain: &'a str,
}

/// Checks one cluster's `cacerts` material against the mesh roots (`roots`: DER of every root
/// the mesh currently trusts, one normally, two during a root rotation).
pub fn verify_cluster(f: &ClusterFiles<'_>, roots: &[Vec<u8>], now: i64) -> Vec<String> {
    let mut problems = Vec::new();
    let p = |name: &str| format!("{}/{name}", f.dir);
    let ca = certs_der(f.ca_cert);
    let Some(ca_der) = ca.first() else {
        return vec![format!("{}: holds no certificate", p("ca-cert.pem"))];
    };
    let Ok((_, cert)) = parse_x509_certificate(ca_der) else {
        return vec![format!("{}: not an X.509 certificate", p("ca-cert.pem"))];
    };
    match f.ca_key.map(|k| key_matches(ca_der, k)) {
        None | Some(Ok(true)) => {}
        Some(Ok(false)) => problems.push(format!(
            "{}: does not match the public key of {} (istiod would refuse this bundle)",
            p("ca-key.pem"),
            p("ca-cert.pem")
        )),
        Some(Err(e)) => problems.push(format!("{}: {e}", p("ca-key.pem"))),
    }
    if !cert.is_ca() {
        problems.push(format!(
            "{}: not a CA certificate (basicConstraints CA:TRUE missing); istiod: \"certificate is not authorized to sign other certificates\"",
            p("ca-cert.pem")
        ));
    }
    check_validity(ca_der, &p("ca-cert.pem"), now, &mut problems);
    let issuer = roots.iter().find(|r| signed_by(ca_der, r));
    if issuer.is_none() {
        problems.push(format!(
            "{}: not signed by the mesh root{}",
            p("ca-cert.pem"),
            if roots.len() > 1 { "s" } else { "" }
        ));
    }

    let bundle = certs_der(f.root_cert);
    if bundle.is_empty() {
        problems.push(format!("{}: holds no certificate", p("root-cert.pem")));
    }
    for (i, r) in bundle.iter().enumerate() {
        if !roots.contains(r) {
            problems.push(format!(
                "{}: certificate #{} is not a mesh root (fingerprint {}); every cluster must trust the same root",
                p("root-cert.pem"),
                i + 1,
                fingerprint(r)
            ));
        }
    }
    if let Some(iss) = issuer
        && !bundle.contains(iss)
    {
        problems.push(format!(
            "{}: does not contain the root that signed {}",
            p("root-cert.pem"),
            p("ca-cert.pem")
        ));
    }

    let chain = certs_der(f.cert_chain);
    if chain.first() != Some(ca_der) {
        if chain.iter().any(|c| c == ca_der) {
            problems.push(format!(
                "{}: wrong order: it must be {} first, then the root",
                p("cert-chain.pem"),
                p("ca-cert.pem")
            ));
        } else {
            problems.push(format!(
                "{}: does not start with {}",
                p("cert-chain.pem"),
                p("ca-cert.pem")
            ));
        }
    } else {
        for w in chain.windows(2) {
            // The intermediate's signature by its root was checked above: one ECDSA/RSA
            // verification per certificate pair, not two (most of `check`'s PKI time).
            let checked = w[0] == *ca_der && issuer == Some(&w[1]);
            if !checked && !signed_by(&w[0], &w[1]) {
                problems.push(format!(
                    "{}: each certificate must be signed by the next one (intermediate, then root)",
                    p("cert-chain.pem")
                ));
                break;
            }
        }
        if let (Some(last), Some(iss)) = (chain.last(), issuer)
            && chain.len() > 1
            && last != iss
        {
            problems.push(format!(
                "{}: does not end with the mesh root",
                p("cert-chain.pem")
            ));
        }
    }
    problems
}
