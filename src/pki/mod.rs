//! The mesh CA material in `pki.dir` (DESIGN.md §4): loaded when present, generated when missing.
//!
//! The layout is the one of Istio's `tools/certs`: `root-cert.pem`, `root-key.pem` and per
//! cluster `<name>/{ca-cert,ca-key,root-cert,cert-chain}.pem`, so a directory made with Istio's
//! Makefiles works as is. Existing material is never replaced. Generation happens only in
//! [`Mode::Generate`]; `check` uses [`Mode::ReadOnly`] and reports what is missing instead.
//! Key files are written with mode 0600, certificates 0644, each through a temp file + rename.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

pub mod layout;
pub mod rotate;
pub mod sops;
pub mod status;
pub mod verify;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType, SerialNumber, SignatureAlgorithm,
};
use sha2::{Digest, Sha256};

use crate::model::{KeyAlgorithm, PkiSettings, SecretString, Subject};

pub use layout::{CA_CERT, CA_KEY, CERT_CHAIN, ROOT_CERT, ROOT_KEY, display};
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
    /// `None` only with [`Keys::Optional`]: the output embeds no private key, and the key
    /// is not on this machine (CI checking with public certificates only).
    pub ca_key: Option<SecretString>,
    pub root_cert: String,
    pub cert_chain: String,
}

#[derive(Clone, Debug)]
pub struct Material {
    /// The root-rotation step in progress (1 or 2), if any.
    pub rotation: Option<u8>,
    pub clusters: BTreeMap<String, ClusterCa>,
    /// Files this run created in `pki.dir`, relative to it, sorted.
    pub created: Vec<String>,
    /// Key files in `pki.dir` that others than their owner can read (relative, sorted).
    pub loose_keys: Vec<String>,
}

/// The key files of `clusters` (and the root's) that group or others can read.
fn loose_keys(s: &PkiSettings, clusters: &[String]) -> Vec<String> {
    let mut rels = vec![ROOT_KEY.to_owned()];
    rels.extend(clusters.iter().map(|c| format!("{c}/{CA_KEY}")));
    rels.into_iter()
        .filter(|rel| {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::metadata(s.dir.join(rel))
                    .is_ok_and(|m| m.permissions().mode() & 0o077 != 0)
            }
            #[cfg(not(unix))]
            {
                let _ = rel;
                false
            }
        })
        .collect()
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

pub(crate) fn err(m: impl Into<String>) -> PkiError {
    PkiError {
        messages: vec![m.into()],
    }
}

pub(crate) fn read_opt(path: &Path) -> Result<Option<String>, PkiError> {
    let bytes = crate::fsutil::read_opt(path)
        .map_err(|e| err(format!("{}: cannot read: {e}", path.display())))?;
    bytes
        .map(|b| String::from_utf8(b).map_err(|_| err(format!("{}: not PEM text", path.display()))))
        .transpose()
}

/// Writes `text` to `path` atomically with `mode` (unix permissions).
pub(crate) fn write_file(path: &Path, text: &str, mode: u32) -> Result<(), PkiError> {
    crate::fsutil::write_atomic(path, text.as_bytes(), mode)
        .map_err(|e| err(format!("{}: cannot write: {e}", path.display())))
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

/// Loads a private key from PEM text: PKCS#1 (`RSA PRIVATE KEY`), SEC1 (`EC PRIVATE KEY`) or
/// PKCS#8 (`PRIVATE KEY`). Other blocks in the file (an `EC PARAMETERS` block that
/// `openssl ecparam -genkey` writes first) are skipped; an encrypted key is named as such.
pub fn load_key(text: &str) -> Result<KeyPair, String> {
    let blocks = ::pem::parse_many(text).map_err(|e| format!("not valid PEM: {e}"))?;
    let Some(block) = blocks.iter().find(|b| b.tag().ends_with("PRIVATE KEY")) else {
        let tags: Vec<&str> = blocks.iter().map(|b| b.tag()).collect();
        return Err(format!(
            "holds no private key (PEM blocks: {}); expected PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY",
            if tags.is_empty() {
                "none".to_owned()
            } else {
                tags.join(", ")
            }
        ));
    };
    if block.tag() == "ENCRYPTED PRIVATE KEY" {
        return Err("the key is encrypted; meshrender needs it unencrypted (e.g. `openssl pkey -in KEY -out KEY.plain`)".to_owned());
    }
    KeyPair::from_pem(&::pem::encode(block))
        .map_err(|e| format!("cannot parse the {} block: {e}", block.tag()))
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
    let root_key = load_key(root_key)
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

/// Issues the certificate of an intermediate whose key already exists: what an interrupted
/// first issue leaves behind (the key is written before the certificate, so a crash between
/// the two leaves a key without its certificate, never the reverse).
fn issue_for_key(
    s: &PkiSettings,
    cluster: &str,
    key_pem: &str,
    root_cert: &str,
    root_key: &str,
) -> Result<String, PkiError> {
    let root_key = load_key(root_key)
        .map_err(|e| err(format!("{ROOT_KEY}: cannot load the root key: {e}")))?;
    let issuer = Issuer::from_ca_cert_pem(root_cert, root_key)
        .map_err(|e| err(format!("{ROOT_CERT}: cannot use the root certificate: {e}")))?;
    let key = load_key(key_pem)
        .map_err(|e| err(format!("{cluster}/{CA_KEY}: cannot load the key: {e}")))?;
    let cert = ca_params(&s.intermediate, Some(cluster), &key)
        .signed_by(&key, &issuer)
        .map_err(|e| err(format!("cannot issue the intermediate of {cluster}: {e}")))?;
    Ok(lf(cert.pem()))
}

fn lf(s: String) -> String {
    let mut s = s.replace("\r\n", "\n");
    if !s.ends_with('\n') {
        s.push('\n');
    }
    s
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The mesh roots as found in `pki.dir`: the current root, and the next one while a root
/// rotation is in progress.
pub struct Roots {
    pub cert: String,
    pub key: Option<String>,
    pub next: Option<(String, String)>,
    pub rotation: Option<u8>,
}

impl Roots {
    /// DER of every root the mesh trusts now.
    pub fn trusted(&self) -> Vec<Vec<u8>> {
        let mut v: Vec<Vec<u8>> = verify::certs_der(&self.cert).into_iter().take(1).collect();
        if let Some((c, _)) = &self.next {
            v.extend(verify::certs_der(c).into_iter().take(1));
        }
        v
    }

    /// The trust bundle each cluster's `root-cert.pem` holds: current root, then the next one.
    pub fn bundle(&self) -> String {
        let mut s = ensure_nl(&self.cert);
        if let Some((c, _)) = &self.next {
            s.push_str(&ensure_nl(c));
        }
        s
    }

    /// The root new intermediates are issued under: the next root from rotation step 2 on.
    pub fn signing(&self) -> Option<(&str, &str)> {
        match (&self.next, self.rotation) {
            (Some((c, k)), Some(s)) if s >= 2 => Some((c, k)),
            _ => self.key.as_deref().map(|k| (self.cert.as_str(), k)),
        }
    }
}

/// What meshrender writes into a `pki.dir` it creates (DESIGN §9.1).
const GITIGNORE: &str =
    "# Written by meshrender: private keys never go into version control.\n*-key.pem\n";

/// Loads and verifies the mesh root(s), generating the root when `pki.dir` has none.
pub fn load_roots(
    s: &PkiSettings,
    mode: Mode,
    created: &mut Vec<String>,
) -> Result<Roots, PkiError> {
    let (roots, checks) = load_roots_deferred(s, mode, created)?;
    Verification::of(checks, Vec::new()).run_roots()?;
    Ok(roots)
}

/// [`load_roots`] without its costly checks (signatures, key matches): they are returned,
/// in the order they are reported, to be run by a [`Verification`].
fn load_roots_deferred(
    s: &PkiSettings,
    mode: Mode,
    created: &mut Vec<String>,
) -> Result<(Roots, Vec<Check>), PkiError> {
    let dir = &s.dir;
    let disp = |rel: &str| display(s, rel);
    let root_cert = read_opt(&dir.join(ROOT_CERT))?;
    let root_key = read_opt(&dir.join(ROOT_KEY))?;
    let (cert, key) = match (root_cert, root_key) {
        (Some(c), k) => (c, k),
        // The key is written before the certificate: a key alone is an interrupted first
        // render, finished here by self-signing that key (never a new key).
        (None, Some(k)) if mode == Mode::Generate => {
            let key = load_key(&k).map_err(|e| err(format!("{}: {e}", disp(ROOT_KEY))))?;
            let c = lf(ca_params(&s.root, None, &key)
                .self_signed(&key)
                .map_err(|e| err(format!("cannot issue the root certificate: {e}")))?
                .pem());
            write_file(&dir.join(ROOT_CERT), &c, 0o644)?;
            created.push(ROOT_CERT.to_owned());
            (c, Some(k))
        }
        (None, Some(_)) => {
            return Err(err(format!(
                "{}: missing while {} exists (an interrupted first render); run `meshrender render` to issue the certificate for that key",
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
            if !dir.exists() {
                // A new pki.dir: keep its keys out of any repository it may sit in.
                write_file(&dir.join(".gitignore"), GITIGNORE, 0o644)?;
                created.push(".gitignore".to_owned());
            }
            write_file(&dir.join(ROOT_KEY), &k, 0o600)?;
            write_file(&dir.join(ROOT_CERT), &c, 0o644)?;
            created.push(ROOT_CERT.to_owned());
            created.push(ROOT_KEY.to_owned());
            (c, Some(k))
        }
    };
    let der = verify::certs_der(&cert);
    let Some(root_der) = der.first() else {
        return Err(err(format!(
            "{}: holds no PEM certificate",
            disp(ROOT_CERT)
        )));
    };
    if der.len() > 1 {
        return Err(err(format!(
            "{}: holds {} certificates; the mesh root must be exactly one (during a root rotation the new root lives in {}/)",
            disp(ROOT_CERT),
            der.len(),
            disp(rotate::NEXT_ROOT_DIR)
        )));
    }
    let mut checks = vec![Check::Root {
        der: root_der.clone(),
        key: key.clone(),
        shown: disp(ROOT_CERT),
        key_shown: disp(ROOT_KEY),
    }];
    let rotation = rotate::read_state(s)?;
    let next = match rotation {
        None => None,
        Some(_) => {
            let c = read_opt(&dir.join(rotate::NEXT_ROOT_DIR).join(ROOT_CERT))?;
            let k = read_opt(&dir.join(rotate::NEXT_ROOT_DIR).join(ROOT_KEY))?;
            match (c, k) {
                (Some(c), Some(k)) => {
                    let nd = verify::certs_der(&c);
                    checks.push(match nd.into_iter().next() {
                        Some(d) => Check::Root {
                            der: d,
                            key: Some(k.clone()),
                            shown: disp(&format!("{}/{ROOT_CERT}", rotate::NEXT_ROOT_DIR)),
                            key_shown: disp(&format!("{}/{ROOT_KEY}", rotate::NEXT_ROOT_DIR)),
                        },
                        None => Check::Problem(format!(
                            "{}: holds no PEM certificate",
                            disp(&format!("{}/{ROOT_CERT}", rotate::NEXT_ROOT_DIR))
                        )),
                    });
                    Some((c, k))
                }
                _ => {
                    checks.push(Check::Problem(format!(
                        "{}: a root rotation is in progress but {}/ lacks {ROOT_CERT} or {ROOT_KEY}",
                        disp(rotate::STATE_FILE),
                        disp(rotate::NEXT_ROOT_DIR)
                    )));
                    None
                }
            }
        }
    };
    Ok((
        Roots {
            cert,
            key,
            next,
            rotation,
        },
        checks,
    ))
}

/// One check of the PKI material, run by [`Verification::run`]: the costly ones (signatures,
/// key matches) are data, so that `check` can run them beside the render (issue 13).
enum Check {
    /// A mesh root (current or next): self-signed CA, valid now, matching its key if present.
    Root {
        der: Vec<u8>,
        key: Option<String>,
        shown: String,
        key_shown: String,
    },
    /// One cluster's intermediate, bundle and chain against the trusted roots.
    Cluster {
        dir: String,
        ca_cert: String,
        ca_key: Option<String>,
        root_cert: String,
        cert_chain: String,
    },
    /// A problem found while loading, reported in its place among the others.
    Problem(String),
}

/// The checks of a loaded PKI, not yet run: every one of them must pass before the material
/// is used for anything durable. The roots' checks come first; when they find problems, only
/// those are reported (a cluster cannot be judged against a broken root).
pub struct Verification {
    roots: Vec<Check>,
    clusters: Vec<Check>,
    trusted: Vec<Vec<u8>>,
    now: i64,
}

impl Verification {
    /// The roots' checks; the clusters' are added as they are loaded, judged against
    /// `trusted` (DER of every root the mesh trusts now).
    fn of(roots: Vec<Check>, trusted: Vec<Vec<u8>>) -> Self {
        Verification {
            roots,
            clusters: Vec::new(),
            trusted,
            now: now(),
        }
    }

    /// Whether loading already found a problem (a check that is no more than its message).
    fn found_problems(&self) -> bool {
        self.roots
            .iter()
            .chain(&self.clusters)
            .any(|c| matches!(c, Check::Problem(_)))
    }

    /// Runs every check; all problems at once, in the order of the clusters.
    pub fn run(&self) -> Result<(), PkiError> {
        self.run_roots()?;
        self.all(&self.clusters)
    }

    /// Runs the roots' checks alone.
    fn run_roots(&self) -> Result<(), PkiError> {
        self.all(&self.roots)
    }

    fn all(&self, checks: &[Check]) -> Result<(), PkiError> {
        let problems: Vec<String> = checks.iter().flat_map(|c| self.one(c)).collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(PkiError { messages: problems })
        }
    }

    fn one(&self, check: &Check) -> Vec<String> {
        match check {
            Check::Root {
                der,
                key,
                shown,
                key_shown,
            } => verify::verify_root(der, key.as_deref(), shown, key_shown, self.now),
            Check::Cluster {
                dir,
                ca_cert,
                ca_key,
                root_cert,
                cert_chain,
            } => verify::verify_cluster(
                &verify::ClusterFiles {
                    dir: dir.clone(),
                    ca_cert,
                    ca_key: ca_key.as_deref(),
                    root_cert,
                    cert_chain,
                },
                &self.trusted,
                self.now,
            ),
            Check::Problem(p) => vec![p.clone()],
        }
    }
}

/// One cluster's files as loaded (any may be missing).
struct Loaded {
    ca_cert: Option<String>,
    ca_key: Option<String>,
    root_cert: Option<String>,
    cert_chain: Option<String>,
}

fn load_cluster(dir: &Path) -> Result<Loaded, PkiError> {
    Ok(Loaded {
        ca_cert: read_opt(&dir.join(CA_CERT))?,
        ca_key: read_opt(&dir.join(CA_KEY))?,
        root_cert: read_opt(&dir.join(ROOT_CERT))?,
        cert_chain: read_opt(&dir.join(CERT_CHAIN))?,
    })
}

/// Loads the CA material for `clusters` (the clusters that run an istiod). Everything that
/// exists is verified first; only when all of it is sound is missing material generated
/// ([`Mode::Generate`]) or reported ([`Mode::ReadOnly`]).
/// Whether the intermediates' private keys must be present.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keys {
    /// The output embeds them (plaintext `cacerts`), or something is issued with them.
    Required,
    /// The output holds only public material (external-secrets and the like): a cluster's
    /// certificates alone are enough, as in CI, which should hold no secret (DESIGN §9.1).
    Optional,
}

pub fn ensure(s: &PkiSettings, clusters: &[String], mode: Mode) -> Result<Material, PkiError> {
    ensure_with(s, clusters, mode, Keys::Required)
}

/// [`ensure`], with the keys of existing intermediates optional when `keys` says so.
pub fn ensure_with(
    s: &PkiSettings,
    clusters: &[String],
    mode: Mode,
    keys: Keys,
) -> Result<Material, PkiError> {
    let (material, verification) = ensure_deferred(s, clusters, mode, keys)?;
    if let Some(v) = verification {
        v.run()?;
    }
    Ok(material)
}

/// [`ensure_with`], leaving the costly checks to the caller when that is safe: in
/// [`Mode::ReadOnly`], when loading found no problem, nothing is written, so the material
/// is returned at once with its [`Verification`], which the caller must run (and see pass)
/// before it uses the material for anything it reports or keeps. `check` runs it on one
/// core while the render starts on the other. Otherwise everything is verified first, as
/// [`ensure_with`] does, and `None` is returned.
pub fn ensure_deferred(
    s: &PkiSettings,
    clusters: &[String],
    mode: Mode,
    keys: Keys,
) -> Result<(Material, Option<Verification>), PkiError> {
    let mut created = Vec::new();
    let (roots, root_checks) = load_roots_deferred(s, mode, &mut created)?;
    let mut verification = Verification::of(root_checks, roots.trusted());
    let mut loaded = BTreeMap::new();
    for name in clusters {
        let l = match load_cluster(&s.dir.join(name)) {
            Ok(l) => l,
            // A broken root is reported alone, before a cluster file that cannot be read.
            Err(e) => {
                verification.run_roots()?;
                return Err(e);
            }
        };
        let checks = check_cluster(s, name, &l, &roots, mode, keys);
        verification.clusters.extend(checks);
        loaded.insert(name.clone(), l);
    }
    // Read-only, every missing file is a problem found while loading (and the roots are
    // never created), so without one nothing below is issued or written: the costly checks
    // may wait for the caller. A problem (a missing key the output embeds, say) fails the
    // run anyway: reported now, it never reaches the render.
    let deferred = mode == Mode::ReadOnly && !verification.found_problems();
    if !deferred {
        verification.run()?;
    }
    // Everything present is sound (or, deferred, complete): issue the missing
    // intermediates, on every core (RSA key generation dominates; each key is independent,
    // and the output is deterministic apart from the keys themselves), then write and
    // complete cluster by cluster, in order.
    let missing: Vec<&str> = loaded
        .iter()
        .filter(|(_, l)| l.ca_cert.is_none() && l.ca_key.is_none())
        .map(|(n, _)| n.as_str())
        .collect();
    let mut issued = issue_intermediates(s, &missing, &roots)?;
    let mut out = BTreeMap::new();
    for (name, l) in loaded {
        let fresh = issued.remove(&name);
        let ca = complete_cluster(s, &name, l, fresh, &roots, &mut created)?;
        out.insert(name, ca);
    }
    created.sort();
    Ok((
        Material {
            rotation: roots.rotation,
            clusters: out,
            created,
            loose_keys: loose_keys(s, clusters),
        },
        deferred.then_some(verification),
    ))
}

/// The checks of one cluster's loaded files (nothing is written).
fn check_cluster(
    s: &PkiSettings,
    name: &str,
    l: &Loaded,
    roots: &Roots,
    mode: Mode,
    keys: Keys,
) -> Vec<Check> {
    let mut problems = Vec::new();
    let rel = |f: &str| display(s, &format!("{name}/{f}"));
    match (&l.ca_cert, &l.ca_key) {
        (Some(c), k) if k.is_some() || keys == Keys::Optional => {
            let root_cert = l.root_cert.clone().unwrap_or_else(|| roots.bundle());
            let chain = match &l.cert_chain {
                Some(ch) => ch.clone(),
                None => chain_for(c, roots),
            };
            problems.push(Check::Cluster {
                dir: display(s, name),
                ca_cert: c.clone(),
                ca_key: k.clone(),
                root_cert,
                cert_chain: chain,
            });
        }
        (Some(_), _) => problems.push(Check::Problem(format!(
            "{}: missing while {} exists, and plaintext `cacerts` embed it; restore the key, or remove both to issue a new intermediate",
            rel(CA_KEY),
            rel(CA_CERT)
        ))),
        // A key without its certificate is what an interrupted issue leaves: `render`
        // issues the certificate for that key (recovery); `check` reports it.
        (None, Some(_)) if mode == Mode::ReadOnly => problems.push(Check::Problem(format!(
            "{}: missing while {} exists (an interrupted issue); run `meshrender render` to issue the certificate for that key",
            rel(CA_CERT),
            rel(CA_KEY)
        ))),
        (None, Some(_)) if roots.signing().is_none() => problems.push(Check::Problem(format!(
            "{}: missing while {} exists; issuing its certificate needs {}",
            rel(CA_CERT),
            rel(CA_KEY),
            display(s, ROOT_KEY)
        ))),
        (None, Some(_)) => {}
        (None, None) => {
            if mode == Mode::ReadOnly {
                problems.push(Check::Problem(format!(
                    "{}: missing (run `meshrender render` to issue the intermediate of {name})",
                    rel(CA_CERT)
                )));
            } else if roots.signing().is_none() {
                problems.push(Check::Problem(format!(
                    "{}: cannot issue the intermediate of {name}: {} is not there (the root key is needed to sign it)",
                    rel(CA_CERT),
                    display(s, ROOT_KEY)
                )));
            }
        }
    }
    if mode == Mode::ReadOnly
        && l.ca_cert.is_some()
        && (l.root_cert.is_none() || l.cert_chain.is_none())
    {
        for (f, v) in [(ROOT_CERT, &l.root_cert), (CERT_CHAIN, &l.cert_chain)] {
            if v.is_none() {
                problems.push(Check::Problem(format!(
                    "{}: missing (run `meshrender render` to write it)",
                    rel(f)
                )));
            }
        }
    }
    problems
}

/// Issues the intermediates of `names` in parallel (one thread per core, each taking every
/// n-th name). Returns name → (cert PEM, key PEM).
fn issue_intermediates(
    s: &PkiSettings,
    names: &[&str],
    roots: &Roots,
) -> Result<BTreeMap<String, (String, String)>, PkiError> {
    if names.is_empty() {
        return Ok(BTreeMap::new());
    }
    let (rc, rk) = roots.signing().expect("checked by check_cluster");
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(names.len());
    type Issued = Vec<(String, (String, String))>;
    let results: Vec<Result<Issued, PkiError>> = std::thread::scope(|scope| {
        let jobs: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    names
                        .iter()
                        .skip(t)
                        .step_by(threads)
                        .map(|n| Ok(((*n).to_owned(), issue_intermediate(s, n, rc, rk)?)))
                        .collect()
                })
            })
            .collect();
        jobs.into_iter()
            .map(|j| {
                j.join()
                    .unwrap_or_else(|_| Err(err("key generation thread panicked")))
            })
            .collect()
    });
    let mut out = BTreeMap::new();
    for r in results {
        out.extend(r?);
    }
    Ok(out)
}

/// One cluster's material, writing what is missing (`fresh`: its newly issued intermediate).
fn complete_cluster(
    s: &PkiSettings,
    name: &str,
    l: Loaded,
    fresh: Option<(String, String)>,
    roots: &Roots,
    created: &mut Vec<String>,
) -> Result<ClusterCa, PkiError> {
    let cdir = s.dir.join(name);
    let (ca_cert, ca_key) = match (l.ca_cert, l.ca_key) {
        (Some(c), k) => (c, k),
        (None, Some(k)) => {
            let (rc, rk) = roots.signing().expect("checked above");
            let c = issue_for_key(s, name, &k, rc, rk)?;
            write_file(&cdir.join(CA_CERT), &c, 0o644)?;
            created.push(format!("{name}/{CA_CERT}"));
            (c, Some(k))
        }
        (None, None) => {
            let (c, k) = fresh.expect("issued for every cluster without an intermediate");
            write_file(&cdir.join(CA_KEY), &k, 0o600)?;
            write_file(&cdir.join(CA_CERT), &c, 0o644)?;
            created.push(format!("{name}/{CA_CERT}"));
            created.push(format!("{name}/{CA_KEY}"));
            (c, Some(k))
        }
    };
    let root_cert = match l.root_cert {
        Some(r) => r,
        None => {
            let r = roots.bundle();
            write_file(&cdir.join(ROOT_CERT), &r, 0o644)?;
            created.push(format!("{name}/{ROOT_CERT}"));
            r
        }
    };
    let cert_chain = match l.cert_chain {
        Some(c) => c,
        None => {
            let c = chain_for(&ca_cert, roots);
            write_file(&cdir.join(CERT_CHAIN), &c, 0o644)?;
            created.push(format!("{name}/{CERT_CHAIN}"));
            c
        }
    };
    Ok(ClusterCa {
        ca_cert,
        ca_key: ca_key.map(SecretString),
        root_cert,
        cert_chain,
    })
}

/// `cert-chain.pem` for an intermediate: the intermediate, then the root that signed it.
pub fn chain_for(ca_cert: &str, roots: &Roots) -> String {
    let ca = verify::certs_der(ca_cert);
    let issuer = match (&roots.next, ca.first()) {
        (Some((next, _)), Some(c))
            if verify::certs_der(next)
                .first()
                .is_some_and(|n| verify::signed_by(c, n)) =>
        {
            next.as_str()
        }
        _ => roots.cert.as_str(),
    };
    format!("{}{}", ensure_nl(ca_cert), ensure_nl(issuer))
}

fn ensure_nl(s: &str) -> String {
    if s.ends_with('\n') {
        s.to_owned()
    } else {
        format!("{s}\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_load_past_other_pem_blocks_and_refuse_encrypted_ones() {
        let k = generate_key(KeyAlgorithm::EcdsaP256).unwrap();
        let params =
            "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n";
        let text = format!("{params}{}", k.serialize_pem());
        let loaded = load_key(&text).unwrap();
        assert_eq!(loaded.public_key_raw(), k.public_key_raw());
        let e = load_key(params).err().unwrap();
        assert!(
            e.contains("holds no private key (PEM blocks: EC PARAMETERS)"),
            "{e}"
        );
        let enc =
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
        assert!(load_key(enc).err().unwrap().contains("encrypted"));
    }
}
