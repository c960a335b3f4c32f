//! `cacerts.yaml`: the plug-in CA of a cluster that runs istiod, as a Secret (plaintext) or
//! as an ExternalSecret that pulls the same four files from the store.

use serde::Serialize;

use super::names::remote_key;
use super::{Applied, ClusterFiles, Ctx, KeyValue, kv};
use crate::digest::sha256_hex;
use crate::model::{CaBackend, KeyAlgorithm, SecretsMode};
use crate::pki::{CA_CERT, CA_KEY, CERT_CHAIN, ROOT_CERT};

/// The cacerts Secret keys, in the order `kubectl create secret generic` sorts them.
const CACERTS_KEYS: [&str; 4] = [CA_CERT, CA_KEY, CERT_CHAIN, ROOT_CERT];

#[derive(Serialize)]
struct External<'a> {
    store_kind: &'a str,
    store_name: &'a str,
    remote_key: String,
    files: [&'static str; 4],
    pki_dir: &'a str,
    digests: Vec<KeyValue>,
    gitops: Vec<KeyValue>,
}

#[derive(Serialize)]
struct Plain {
    files: Vec<KeyValue>,
    gitops: Vec<KeyValue>,
    /// `secrets.mode: sops`: this plaintext is sealed before it is written.
    sealed: bool,
}

/// What a sealed file holds where a private key is not at hand, and in its fingerprint.
pub(super) fn placeholder(what: &str) -> String {
    format!("<{what}: sealed, not at hand>")
}

/// With `gitops`: Argo CD applies `cacerts` right after the namespace and neither Argo CD nor
/// Flux ever prunes or deletes it (losing it would make istiod mint a CA of its own). In the
/// file itself, so every way the file is applied (a kustomization, an Argo CD directory
/// source) carries it.
fn gitops_annotations(x: &Ctx) -> Vec<KeyValue> {
    if x.mesh.gitops.is_none() {
        return Vec::new();
    }
    kv(&[
        ("argocd.argoproj.io/sync-wave", "-1".to_owned()),
        (
            "argocd.argoproj.io/sync-options",
            "Prune=false,Delete=false".to_owned(),
        ),
        ("kustomize.toolkit.fluxcd.io/prune", "disabled".to_owned()),
    ])
}

#[derive(Serialize)]
struct CertManager<'a> {
    issuer_kind: &'a str,
    issuer_name: &'a str,
    common_name: String,
    organization: &'a str,
    duration: String,
    algorithm: &'static str,
    size: u32,
    gitops: Vec<KeyValue>,
}

pub(super) fn plan(x: &Ctx, out: &mut ClusterFiles) {
    if !out.f.runs_istiod {
        return;
    }
    let c = out.c;
    if let CaBackend::CertManager { kind, name } = &x.mesh.ca_backend {
        // cert-manager issues the intermediate in the cluster, signed by the issuer: its key
        // never leaves the cluster. The Secret it writes is TLS-shaped (tls.crt, tls.key,
        // ca.crt), which istiod reads as `cacerts` from Istio 1.15 (ISTIO-FACTS §9.2).
        let s = &x.mesh.pki.intermediate;
        let (algorithm, size) = match x.mesh.pki.algorithm {
            KeyAlgorithm::EcdsaP256 => ("ECDSA", 256),
            KeyAlgorithm::EcdsaP384 => ("ECDSA", 384),
            KeyAlgorithm::Rsa2048 => ("RSA", 2048),
            KeyAlgorithm::Rsa3072 => ("RSA", 3072),
            KeyAlgorithm::Rsa4096 => ("RSA", 4096),
        };
        out.add(
            "cacerts.yaml",
            "cacerts.cert-manager.yaml.j2",
            Applied::Cluster,
            CertManager {
                issuer_kind: kind,
                issuer_name: name,
                common_name: format!("{} {}", s.common_name, c.name),
                organization: &s.organization,
                duration: format!("{}h", u64::from(s.validity_days) * 24),
                algorithm,
                size,
                gitops: gitops_annotations(x),
            },
        );
        return;
    }
    let ca = x
        .pki
        .clusters
        .get(&c.name)
        .expect("PKI material is loaded for every cluster that runs istiod");
    match &x.mesh.secrets {
        SecretsMode::ExternalSecrets {
            store_kind,
            store_name,
            key_prefix,
            ..
        } => out.add(
            "cacerts.yaml",
            "cacerts.external.yaml.j2",
            Applied::Cluster,
            External {
                store_kind,
                store_name,
                remote_key: remote_key(key_prefix, &c.name, "cacerts"),
                files: CACERTS_KEYS,
                pki_dir: &x.mesh.pki.dir_display,
                digests: kv(&[
                    ("ca-cert", sha256_hex(ca.ca_cert.as_bytes())),
                    ("root-cert", sha256_hex(ca.root_cert.as_bytes())),
                ]),
                gitops: gitops_annotations(x),
            },
        ),
        SecretsMode::Sops { .. } => {
            let files = |key: String| {
                kv(&[
                    (CA_CERT, ca.ca_cert.clone()),
                    (CA_KEY, key),
                    (CERT_CHAIN, ca.cert_chain.clone()),
                    (ROOT_CERT, ca.root_cert.clone()),
                ])
            };
            let redacted = placeholder(CA_KEY);
            let (key, complete) = match &ca.ca_key {
                Some(k) => (k.0.clone(), true),
                None => (redacted.clone(), false),
            };
            out.add_sealed(
                "cacerts.yaml",
                "cacerts.yaml.j2",
                Plain {
                    files: files(key),
                    gitops: gitops_annotations(x),
                    sealed: true,
                },
                Plain {
                    files: files(redacted),
                    gitops: gitops_annotations(x),
                    sealed: true,
                },
                complete,
            );
        }
        SecretsMode::Plaintext | SecretsMode::Unset => out.add(
            "cacerts.yaml",
            "cacerts.yaml.j2",
            Applied::Cluster,
            Plain {
                files: kv(&[
                    (CA_CERT, ca.ca_cert.clone()),
                    (
                        CA_KEY,
                        ca.ca_key
                            .as_ref()
                            .expect("plaintext mode requires the keys (pki::Keys::Required)")
                            .0
                            .clone(),
                    ),
                    (CERT_CHAIN, ca.cert_chain.clone()),
                    (ROOT_CERT, ca.root_cert.clone()),
                ]),
                gitops: gitops_annotations(x),
                sealed: false,
            },
        ),
    }
}
