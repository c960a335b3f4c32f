//! The topology spec (DESIGN.md §1): typed, with the source position of every value.
//!
//! `parse` turns YAML text into a located tree (serde-saphyr behind it); `decode` turns the tree
//! into these types, collecting every type error and unknown field at once. Nothing here
//! checks cross-field rules: that is `validate`.

pub mod decode;
pub mod parse;

use crate::diag::{Diagnostics, Loc};

/// A value with the position it was written at.
#[derive(Clone, Debug, PartialEq)]
pub struct Sp<T> {
    pub value: T,
    pub loc: Loc,
}

impl<T> Sp<T> {
    pub fn new(value: T, loc: Loc) -> Self {
        Sp { value, loc }
    }
}

impl Sp<String> {
    pub fn as_str(&self) -> &str {
        &self.value
    }
}

#[derive(Clone, Debug, Default)]
pub struct Spec {
    pub api_version: Option<Sp<String>>,
    pub kind: Option<Sp<String>>,
    pub mesh_id: Option<Sp<String>>,
    pub istio: Option<Sp<Istio>>,
    pub trust_domain: Option<Sp<String>>,
    pub pki: Pki,
    pub secrets: Option<Sp<Secrets>>,
    pub clusters: Option<Sp<Vec<Cluster>>>,
    pub federation: Option<Sp<Federation>>,
    pub verification: Option<Sp<Verification>>,
    pub gitops: Option<Sp<Gitops>>,
    /// Paths (`clusters[0].network`) the spec gave a non-null value, valid or not.
    pub written: std::collections::BTreeSet<String>,
    /// Paths the spec wrote with no value (`key:` or `key: ~`).
    pub nulls: std::collections::BTreeSet<String>,
}

#[derive(Clone, Debug, Default)]
pub struct Istio {
    pub version: Option<Sp<String>>,
    pub revision: Option<Sp<String>>,
    pub hub: Option<Sp<String>>,
    pub tag: Option<Sp<String>>,
}

#[derive(Clone, Debug, Default)]
pub struct Pki {
    pub loc: Loc,
    pub dir: Option<Sp<String>>,
    pub key_algorithm: Option<Sp<String>>,
    pub root: CertSubject,
    pub intermediate: CertSubject,
}

#[derive(Clone, Debug, Default)]
pub struct CertSubject {
    pub organization: Option<Sp<String>>,
    pub common_name: Option<Sp<String>>,
    pub validity_days: Option<Sp<u32>>,
}

#[derive(Clone, Debug, Default)]
pub struct Secrets {
    pub mode: Option<Sp<String>>,
    pub external_secrets: Option<Sp<ExternalSecrets>>,
    pub sops: Option<Sp<Sops>>,
}

#[derive(Clone, Debug, Default)]
pub struct ExternalSecrets {
    pub store_ref: Option<Sp<StoreRef>>,
    pub key_prefix: Option<Sp<String>>,
}

#[derive(Clone, Debug, Default)]
pub struct StoreRef {
    pub kind: Option<Sp<String>>,
    pub name: Option<Sp<String>>,
}

#[derive(Clone, Debug, Default)]
pub struct Sops {
    pub age_recipients: Vec<Sp<String>>,
}

#[derive(Clone, Debug, Default)]
pub struct Cluster {
    pub loc: Loc,
    pub name: Option<Sp<String>>,
    pub network: Option<Sp<String>>,
    pub role: Option<Sp<String>>,
    pub control_plane: Option<Sp<String>>,
    pub east_west_gateway: Option<Sp<EastWestGateway>>,
    pub api_server: Option<Sp<ApiServer>>,
}

#[derive(Clone, Debug, Default)]
pub struct EastWestGateway {
    pub address: Option<Sp<String>>,
    pub service_type: Option<Sp<String>>,
    pub port: Option<Sp<u32>>,
}

#[derive(Clone, Debug, Default)]
pub struct ApiServer {
    pub server: Option<Sp<String>>,
    pub ca_file: Option<Sp<String>>,
    pub token_file: Option<Sp<String>>,
}

#[derive(Clone, Debug, Default)]
pub struct Federation {
    pub address_pool: Option<Sp<String>>,
    pub services: Vec<Sp<FederatedService>>,
    pub core_dns: Vec<(Sp<String>, Option<Sp<String>>)>,
}

#[derive(Clone, Debug, Default)]
pub struct FederatedService {
    pub name: Option<Sp<String>>,
    pub namespace: Option<Sp<String>>,
    pub cluster: Option<Sp<String>>,
    pub ports: Vec<Sp<ServicePort>>,
    pub consumers: Vec<Sp<String>>,
}

#[derive(Clone, Debug, Default)]
pub struct ServicePort {
    pub name: Option<Sp<String>>,
    pub number: Option<Sp<u32>>,
    pub protocol: Option<Sp<String>>,
}

#[derive(Clone, Debug, Default)]
pub struct Gitops {
    pub repo_url: Option<Sp<String>>,
    pub revision: Option<Sp<String>>,
    pub path: Option<Sp<String>>,
    pub argocd: Option<Sp<ArgoCd>>,
    pub flux: Option<Sp<Flux>>,
}

#[derive(Clone, Debug, Default)]
pub struct ArgoCd {
    pub namespace: Option<Sp<String>>,
    pub project: Option<Sp<String>>,
}

#[derive(Clone, Debug, Default)]
pub struct Flux {
    pub namespace: Option<Sp<String>>,
    pub source_ref: Option<Sp<StoreRef>>,
    pub chart_version: Option<Sp<String>>,
}

#[derive(Clone, Debug, Default)]
pub struct Verification {
    pub enabled: Option<Sp<bool>>,
}

/// Parses and decodes spec text. Returns the spec (as far as it could be decoded) and every
/// problem found on the way; the spec is usable only when no error was reported.
pub fn load(text: &str) -> (Option<Spec>, Diagnostics) {
    let mut diags = Diagnostics::default();
    match parse::parse(text) {
        Ok(root) => {
            let spec = decode::decode(&root, &mut diags);
            (Some(spec), diags)
        }
        Err(d) => {
            diags.push(d);
            (None, diags)
        }
    }
}
