//! The mesh CA material in `pki.dir` (DESIGN.md §4): loaded when present, generated when missing.
//!
//! The layout is the one of Istio's `tools/certs`: `root-cert.pem`, `root-key.pem` and per
//! cluster `<name>/{ca-cert,ca-key,root-cert,cert-chain}.pem`, so a directory made with Istio's
//! Makefiles works as is. Existing material is never replaced. Generation happens only in
//! [`Mode::Generate`]; `check` uses [`Mode::ReadOnly`] and reports what is missing instead.
//! Key files are written with mode 0600, certificates 0644, each through a temp file + rename.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType, SerialNumber, SignatureAlgorithm,
};
use sha2::{Digest, Sha256};

use crate::model::{KeyAlgorithm, PkiSettings, SecretString, Subject};

pub const ROOT_CERT: &str = "root-cert.pem";
pub const ROOT_KEY: &str = "root-key.pem";
pub const CA_CERT: &str = "ca-cert.pem";
pub const CA_KEY: &str = "ca-key.pem";
pub const CERT_CHAIN: &str = "cert-chain.pem";
/// The SAN Istio's tools/certs puts on every intermediate.
pub const INTERMEDIATE_SAN: &str = "istiod.istio-system.svc";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Generate what is missing and write it into `pki.dir` (render).
    Generate,
    /// Never write; missing material is an error (check, diff).
    ReadOnly,
}

/// The four files of one cluster's `cacerts` Secret, as bytes of text.
#[derive(Clone, Debug)]
pub struct ClusterCa {
    pub ca_cert: String,
    pub ca_key: SecretString,
    pub root_cert: String,
    pub cert_chain: String,
}

#[derive(Clone, Debug)]
pub struct Material {
    pub root_cert: String,
    pub clusters: BTreeMap<String, ClusterCa>,
    /// Files this run created in `pki.dir`, relative to it, sorted.
    pub created: Vec<String>,
}

/// A PKI problem, naming the file and what is wrong. Never contains key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PkiError {
    pub messages: Vec<String>,
}

impl fmt::Display for PkiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, m) in self.messages.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{m}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PkiError {}

fn err(m: impl Into<String>) -> PkiError {
    PkiError {
        messages: vec![m.into()],
    }
}

fn read_opt(path: &Path) -> Result<Option<String>, PkiError> {
    match std::fs::read(path) {
        Ok(b) => String::from_utf8(b)
            .map(Some)
            .map_err(|_| err(format!("{}: not PEM text", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(err(format!("{}: cannot read: {e}", path.display()))),
    }
}

/// Writes `text` to `path` atomically with `mode` (unix permissions).
fn write_file(path: &Path, text: &str, mode: u32) -> Result<(), PkiError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)
        .map_err(|e| err(format!("{}: cannot create directory: {e}", dir.display())))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.meshrender-tmp"));
    let res = (|| -> std::io::Result<()> {
        use std::io::Write;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(mode);
        }
        let mut f = opts.open(&tmp)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        }
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    res.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        err(format!("{}: cannot write: {e}", path.display()))
    })
}

fn signature_algorithm(a: KeyAlgorithm) -> &'static SignatureAlgorithm {
    match a {
        KeyAlgorithm::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
        KeyAlgorithm::EcdsaP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
        KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => {
            &rcgen::PKCS_RSA_SHA256
        }
    }
}

/// A new private key of the configured algorithm.
pub fn generate_key(a: KeyAlgorithm) -> Result<KeyPair, PkiError> {
    let alg = signature_algorithm(a);
    let r = match a {
        KeyAlgorithm::Rsa2048 => KeyPair::generate_rsa_for(alg, rcgen::RsaKeySize::_2048),
        KeyAlgorithm::Rsa3072 => KeyPair::generate_rsa_for(alg, rcgen::RsaKeySize::_3072),
        KeyAlgorithm::Rsa4096 => KeyPair::generate_rsa_for(alg, rcgen::RsaKeySize::_4096),
        _ => KeyPair::generate_for(alg),
    };
    r.map_err(|e| err(format!("cannot generate a {} key: {e}", a.name())))
}

/// Serial numbers are 16 bytes taken from the SHA-256 of the certificate's fresh random public
/// key: unpredictable, unique per key, and positive.
fn serial_for(key: &KeyPair) -> SerialNumber {
    let digest = Sha256::digest(key.public_key_raw());
    let mut bytes = digest[..16].to_vec();
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01;
    SerialNumber::from_slice(&bytes)
}

fn ca_params(subject: &Subject, cluster: Option<&str>, key: &KeyPair) -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, subject.organization.as_str());
    dn.push(DnType::CommonName, subject.common_name.as_str());
    if let Some(c) = cluster {
        dn.push(DnType::LocalityName, c);
    }
    p.distinguished_name = dn;
    let now = time::OffsetDateTime::now_utc();
    p.not_before = now - time::Duration::hours(1);
    p.not_after = now + time::Duration::days(i64::from(subject.validity_days));
    p.serial_number = Some(serial_for(key));
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::ContentCommitment,
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::KeyCertSign,
    ];
    p.is_ca = IsCa::Ca(if cluster.is_some() {
        BasicConstraints::Constrained(0)
    } else {
        BasicConstraints::Unconstrained
    });
    if cluster.is_some() {
        p.subject_alt_names = vec![SanType::DnsName(
            INTERMEDIATE_SAN.try_into().expect("static DNS name"),
        )];
        p.use_authority_key_identifier_extension = true;
    }
    p
}

/// Issues a self-signed root. Returns (certificate PEM, key PEM).
pub fn issue_root(s: &PkiSettings) -> Result<(String, String), PkiError> {
    let key = generate_key(s.algorithm)?;
    let params = ca_params(&s.root, None, &key);
    let cert = params
        .self_signed(&key)
        .map_err(|e| err(format!("cannot issue the root certificate: {e}")))?;
    Ok((lf(cert.pem()), lf(key.serialize_pem())))
}

/// Issues an intermediate for `cluster` under the given root. Returns (cert PEM, key PEM).
pub fn issue_intermediate(
    s: &PkiSettings,
    cluster: &str,
    root_cert: &str,
    root_key: &str,
) -> Result<(String, String), PkiError> {
    let root_key = KeyPair::from_pem(root_key)
        .map_err(|e| err(format!("{ROOT_KEY}: cannot load the root key: {e}")))?;
    let issuer = Issuer::from_ca_cert_pem(root_cert, root_key)
        .map_err(|e| err(format!("{ROOT_CERT}: cannot use the root certificate: {e}")))?;
    let key = generate_key(s.algorithm)?;
    let params = ca_params(&s.intermediate, Some(cluster), &key);
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(|e| err(format!("cannot issue the intermediate of {cluster}: {e}")))?;
    Ok((lf(cert.pem()), lf(key.serialize_pem())))
}

fn lf(s: String) -> String {
    let mut s = s.replace("\r\n", "\n");
    if !s.ends_with('\n') {
        s.push('\n');
    }
    s
}

/// Loads the CA material for `clusters` (the clusters that run an istiod), generating what is
/// missing in [`Mode::Generate`]. All problems are collected before returning.
pub fn ensure(s: &PkiSettings, clusters: &[String], mode: Mode) -> Result<Material, PkiError> {
    let dir = &s.dir;
    let disp = |rel: &str| format!("{}/{rel}", s.dir_display.trim_end_matches('/'));
    let mut problems = Vec::new();
    let mut created = Vec::new();

    let root_cert = read_opt(&dir.join(ROOT_CERT))?;
    let root_key = read_opt(&dir.join(ROOT_KEY))?;
    let (root_cert, root_key) = match (root_cert, root_key) {
        (Some(c), k) => (c, k),
        (None, Some(_)) => {
            return Err(err(format!(
                "{}: missing, but {} exists; meshrender never replaces a root key: restore the certificate or remove both",
                disp(ROOT_CERT),
                disp(ROOT_KEY)
            )));
        }
        (None, None) => {
            if mode == Mode::ReadOnly {
                return Err(err(format!(
                    "{}: missing (run `meshrender render` to generate the mesh root)",
                    disp(ROOT_CERT)
                )));
            }
            let (c, k) = issue_root(s)?;
            write_file(&dir.join(ROOT_KEY), &k, 0o600)?;
            write_file(&dir.join(ROOT_CERT), &c, 0o644)?;
            created.push(ROOT_CERT.to_owned());
            created.push(ROOT_KEY.to_owned());
            (c, Some(k))
        }
    };
    check_pem(&root_cert, "CERTIFICATE", &disp(ROOT_CERT), &mut problems);

    let mut out = BTreeMap::new();
    for name in clusters {
        let cdir: PathBuf = dir.join(name);
        let rel = |f: &str| format!("{name}/{f}");
        let ca_cert = read_opt(&cdir.join(CA_CERT))?;
        let ca_key = read_opt(&cdir.join(CA_KEY))?;
        let (ca_cert, ca_key) = match (ca_cert, ca_key) {
            (Some(c), Some(k)) => (c, k),
            (None, None) => {
                if mode == Mode::ReadOnly {
                    problems.push(format!(
                        "{}: missing (run `meshrender render` to issue the intermediate of {name})",
                        disp(&rel(CA_CERT))
                    ));
                    continue;
                }
                let Some(rk) = &root_key else {
                    problems.push(format!(
                        "{}: cannot issue the intermediate of {name}: {} is not there (the root key is needed to sign it)",
                        disp(&rel(CA_CERT)),
                        disp(ROOT_KEY)
                    ));
                    continue;
                };
                let (c, k) = issue_intermediate(s, name, &root_cert, rk)?;
                write_file(&cdir.join(CA_KEY), &k, 0o600)?;
                write_file(&cdir.join(CA_CERT), &c, 0o644)?;
                created.push(rel(CA_CERT));
                created.push(rel(CA_KEY));
                (c, k)
            }
            (Some(_), None) => {
                problems.push(format!(
                    "{}: missing while {} exists; restore the key or remove both to issue a new intermediate",
                    disp(&rel(CA_KEY)),
                    disp(&rel(CA_CERT))
                ));
                continue;
            }
            (None, Some(_)) => {
                problems.push(format!(
                    "{}: missing while {} exists; restore the certificate or remove both to issue a new intermediate",
                    disp(&rel(CA_CERT)),
                    disp(&rel(CA_KEY))
                ));
                continue;
            }
        };
        check_pem(&ca_cert, "CERTIFICATE", &disp(&rel(CA_CERT)), &mut problems);
        check_key_pem(&ca_key, &disp(&rel(CA_KEY)), &mut problems);

        // root-cert.pem and cert-chain.pem are derived files: written when missing, and must
        // agree with the mesh root and the intermediate when present.
        let want_chain = format!("{}{}", ensure_nl(&ca_cert), ensure_nl(&root_cert));
        let local_root = match read_opt(&cdir.join(ROOT_CERT))? {
            Some(r) => {
                if pem_der(&r) != pem_der(&root_cert) {
                    problems.push(format!(
                        "{}: differs from the mesh root {}; every cluster must trust the same root",
                        disp(&rel(ROOT_CERT)),
                        disp(ROOT_CERT)
                    ));
                }
                r
            }
            None => {
                derived(
                    mode,
                    &cdir.join(ROOT_CERT),
                    &root_cert,
                    &disp(&rel(ROOT_CERT)),
                    &mut problems,
                    &mut created,
                    rel(ROOT_CERT),
                )?;
                root_cert.clone()
            }
        };
        let chain = match read_opt(&cdir.join(CERT_CHAIN))? {
            Some(c) => {
                let got = pem_der(&c);
                let want = pem_der(&want_chain);
                if got.first() != want.first() {
                    problems.push(format!(
                        "{}: does not start with {} (it must be the intermediate, then the root)",
                        disp(&rel(CERT_CHAIN)),
                        disp(&rel(CA_CERT))
                    ));
                } else if got.last() != want.last() {
                    problems.push(format!(
                        "{}: does not end with the mesh root (it must be the intermediate, then the root)",
                        disp(&rel(CERT_CHAIN))
                    ));
                }
                c
            }
            None => {
                derived(
                    mode,
                    &cdir.join(CERT_CHAIN),
                    &want_chain,
                    &disp(&rel(CERT_CHAIN)),
                    &mut problems,
                    &mut created,
                    rel(CERT_CHAIN),
                )?;
                want_chain
            }
        };
        out.insert(
            name.clone(),
            ClusterCa {
                ca_cert,
                ca_key: SecretString(ca_key),
                root_cert: local_root,
                cert_chain: chain,
            },
        );
    }
    if !problems.is_empty() {
        return Err(PkiError { messages: problems });
    }
    created.sort();
    Ok(Material {
        root_cert,
        clusters: out,
        created,
    })
}

fn derived(
    mode: Mode,
    path: &Path,
    text: &str,
    shown: &str,
    problems: &mut Vec<String>,
    created: &mut Vec<String>,
    rel: String,
) -> Result<(), PkiError> {
    if mode == Mode::ReadOnly {
        problems.push(format!(
            "{shown}: missing (run `meshrender render` to write it)"
        ));
        return Ok(());
    }
    write_file(path, text, 0o644)?;
    created.push(rel);
    Ok(())
}

fn ensure_nl(s: &str) -> String {
    if s.ends_with('\n') {
        s.to_owned()
    } else {
        format!("{s}\n")
    }
}

/// The DER of every PEM block, for comparisons that ignore line wrapping.
fn pem_der(s: &str) -> Vec<Vec<u8>> {
    pem::parse_many(s)
        .map(|v| v.into_iter().map(|p| p.into_contents()).collect())
        .unwrap_or_default()
}

fn check_pem(text: &str, tag: &str, shown: &str, problems: &mut Vec<String>) {
    match pem::parse_many(text) {
        Ok(v) if v.first().is_some_and(|p| p.tag() == tag) => {}
        Ok(v) if v.is_empty() => problems.push(format!("{shown}: holds no PEM block")),
        Ok(v) => problems.push(format!(
            "{shown}: starts with a `{}` PEM block, expected `{tag}`",
            v[0].tag()
        )),
        Err(e) => problems.push(format!("{shown}: not valid PEM: {e}")),
    }
}

fn check_key_pem(text: &str, shown: &str, problems: &mut Vec<String>) {
    match pem::parse(text) {
        Ok(p) if matches!(p.tag(), "PRIVATE KEY" | "RSA PRIVATE KEY" | "EC PRIVATE KEY") => {}
        Ok(p) => problems.push(format!(
            "{shown}: a `{}` PEM block is not a private key (expected PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)",
            p.tag()
        )),
        Err(e) => problems.push(format!("{shown}: not valid PEM: {e}")),
    }
}
