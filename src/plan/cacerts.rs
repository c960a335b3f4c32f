//! `cacerts.yaml`: the plug-in CA of a cluster that runs istiod, as a Secret (plaintext) or
//! as an ExternalSecret that pulls the same four files from the store.

use serde::Serialize;

use super::names::remote_key;
use super::{Applied, ClusterFiles, Ctx, KeyValue, kv};
use crate::digest::sha256_hex;
use crate::model::SecretsMode;
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

pub(super) fn plan(x: &Ctx, out: &mut ClusterFiles) {
    if !out.f.runs_istiod {
        return;
    }
    let c = out.c;
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
            },
        ),
    }
}
