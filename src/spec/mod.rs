//! The topology spec (DESIGN.md §1): typed, with the source position of every value.
//!
//! `parse` turns YAML text into a located tree (serde-saphyr behind it); `decode` turns the tree
//! into these types, collecting every type error and unknown field at once. Nothing here
//! checks cross-field rules: that is `validate`.

pub mod decode;
pub mod parse;

/// The JSON Schema (draft 2020-12) of the spec, printed by `meshrender schema`. Kept true by
/// `tests/spec_schema.rs` against [`decode::key_paths`] and every spec of the tests.
pub const SCHEMA: &str = include_str!("../../schema/spec.schema.json");

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

/// A field of a mapping as decoding found it: never written, written without a value
/// (`key:` or `key: ~`), written with a value of the wrong type (already reported), or
/// written with a value. Validation tells "missing" from "invalid" by this alone.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Field<T> {
    #[default]
    Absent,
    Null,
    Invalid,
    Value(Sp<T>),
}

impl<T> Field<T> {
    /// The decoded value, if there is one.
    pub fn value(&self) -> Option<&Sp<T>> {
        match self {
            Field::Value(v) => Some(v),
            _ => None,
        }
    }

    /// The field has a (valid or invalid) non-null value.
    pub fn is_written(&self) -> bool {
        matches!(self, Field::Value(_) | Field::Invalid)
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Field::Null)
    }
}

#[derive(Clone, Debug, Default)]
pub struct Spec {
    pub api_version: Field<String>,
    pub kind: Field<String>,
    pub mesh_id: Field<String>,
    pub istio: Field<Istio>,
    pub trust_domain: Field<String>,
    pub pki: Pki,
    pub secrets: Field<Secrets>,
    pub clusters: Field<Vec<Cluster>>,
    pub federation: Field<Federation>,
    pub verification: Field<Verification>,
    pub gitops: Field<Gitops>,
    /// Mesh-wide `overrides` (DESIGN §7), under each cluster's own.
    pub overrides: Field<Overrides>,
}

/// `overrides` (mesh-wide, or `clusters[].overrides`): free-form values deep-merged into what
/// meshrender renders. Each part is kept as its located YAML tree, so a refused path is
/// reported where it was written.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// Into every control plane's mesh config (IstioOperator `spec.meshConfig`, istiod chart
    /// `meshConfig`).
    pub mesh_config: Field<parse::Node>,
    pub helm: Field<HelmOverrides>,
    /// Into `install/istiooperator.yaml` `spec`.
    pub istio_operator: Field<parse::Node>,
    /// Into `install/eastwest-gateway.yaml` `spec`.
    pub east_west_gateway_operator: Field<parse::Node>,
}

/// `overrides.helm`: into `install/helm/<chart>.values.yaml` (and the GitOps and Sail values).
#[derive(Clone, Debug, Default)]
pub struct HelmOverrides {
    pub base: Field<parse::Node>,
    pub istiod: Field<parse::Node>,
    pub east_west_gateway: Field<parse::Node>,
}

#[derive(Clone, Debug, Default)]
pub struct Istio {
    pub version: Field<String>,
    pub revision: Field<String>,
    pub hub: Field<String>,
    pub tag: Field<String>,
    pub dataplane: Field<String>,
    pub charts: Field<Charts>,
    /// `sail: {}`: also render Sail Operator CRs (no settings yet).
    pub sail: Field<()>,
}

/// `istio.charts`: where Istio's Helm charts come from, and which version.
#[derive(Clone, Debug, Default)]
pub struct Charts {
    pub repository: Field<String>,
    pub version: Field<String>,
}

#[derive(Clone, Debug, Default)]
pub struct Pki {
    pub loc: Loc,
    pub backend: Field<String>,
    /// `pki.certManager.issuerRef` (kind, name).
    pub cert_manager_issuer: Field<StoreRef>,
    pub dir: Field<String>,
    pub key_algorithm: Field<String>,
    pub root: CertSubject,
    pub intermediate: CertSubject,
}

#[derive(Clone, Debug, Default)]
pub struct CertSubject {
    pub organization: Field<String>,
    pub common_name: Field<String>,
    pub validity_days: Field<u32>,
}

#[derive(Clone, Debug, Default)]
pub struct Secrets {
    pub mode: Field<String>,
    pub external_secrets: Field<ExternalSecrets>,
    pub sops: Field<Sops>,
}

#[derive(Clone, Debug, Default)]
pub struct ExternalSecrets {
    pub store_ref: Field<StoreRef>,
    pub key_prefix: Field<String>,
    pub push_reader_tokens: Field<bool>,
}

#[derive(Clone, Debug, Default)]
pub struct StoreRef {
    pub kind: Field<String>,
    pub name: Field<String>,
}

#[derive(Clone, Debug, Default)]
pub struct Sops {
    pub age_recipients: Vec<Sp<String>>,
}

#[derive(Clone, Debug, Default)]
pub struct Cluster {
    pub loc: Loc,
    pub name: Field<String>,
    pub network: Field<String>,
    pub role: Field<String>,
    pub control_plane: Field<String>,
    /// The clusters a primary's istiod reads (DESIGN §7.1): names, or `"*"` (all others).
    pub reads: Field<Vec<Sp<String>>>,
    pub east_west_gateway: Field<EastWestGateway>,
    pub api_server: Field<ApiServer>,
    /// This cluster's `overrides`, merged over the mesh-wide ones (the cluster wins).
    pub overrides: Field<Overrides>,
}

#[derive(Clone, Debug, Default)]
pub struct EastWestGateway {
    pub address: Field<String>,
    pub service_type: Field<String>,
    pub port: Field<u32>,
}

#[derive(Clone, Debug, Default)]
pub struct ApiServer {
    pub server: Field<String>,
    pub ca_file: Field<String>,
    pub token_file: Field<String>,
    /// The name to verify the API server's certificate against and send as SNI (Istio ≥1.26).
    pub tls_server_name: Field<String>,
}

#[derive(Clone, Debug, Default)]
pub struct Federation {
    pub address_pool: Field<String>,
    pub services: Vec<Sp<FederatedService>>,
    pub core_dns: Vec<(Sp<String>, Field<String>)>,
}

#[derive(Clone, Debug, Default)]
pub struct FederatedService {
    pub name: Field<String>,
    pub namespace: Field<String>,
    pub cluster: Field<String>,
    pub ports: Field<Vec<Sp<ServicePort>>>,
    pub consumers: Field<Vec<Sp<String>>>,
}

#[derive(Clone, Debug, Default)]
pub struct ServicePort {
    pub name: Field<String>,
    pub number: Field<u32>,
    pub protocol: Field<String>,
}

#[derive(Clone, Debug, Default)]
pub struct Gitops {
    pub repo_url: Field<String>,
    pub revision: Field<String>,
    pub path: Field<String>,
    pub argocd: Field<ArgoCd>,
    pub flux: Field<Flux>,
}

#[derive(Clone, Debug, Default)]
pub struct ArgoCd {
    pub namespace: Field<String>,
    pub project: Field<String>,
}

#[derive(Clone, Debug, Default)]
pub struct Flux {
    pub namespace: Field<String>,
    pub source_ref: Field<StoreRef>,
}

#[derive(Clone, Debug, Default)]
pub struct Verification {
    pub enabled: Field<bool>,
}

/// Parses and decodes spec text. Returns the spec (as far as it could be decoded) and every
/// problem found on the way; the spec is usable only when no error was reported.
pub fn load(text: &str) -> (Option<Spec>, Diagnostics) {
    let mut diags = Diagnostics::default();
    match parse::parse(text) {
        Ok(root) => {
            let spec = decode::decode(&root, &mut diags);
            if diags.typos.is_empty() {
                return (Some(spec), diags);
            }
            // Root cause first: a near-miss key (`netwrok:`, `clusterss:`) of an absent field
            // is read as that field, so nothing that only follows from the typo ("missing
            // field network", "no clusters") is reported; the typo itself is, with its "did
            // you mean". A value under it is checked where the user meant it to be.
            // Typos inside a misspelled section are found once it is read: repeat until no
            // new one appears (bounded: each round adds at least one renamed key).
            let mut typos: std::collections::BTreeMap<Loc, &'static str> = diags
                .typos
                .drain(..)
                .map(|(_, loc, meant)| (loc, meant))
                .collect();
            let mut typo_diags: Vec<_> = diags
                .items
                .into_iter()
                .filter(|d| d.code == crate::diag::Code::E003)
                .collect();
            loop {
                let fixed = decode::with_typos_fixed(&root, &typos);
                let mut round = Diagnostics::default();
                let spec = decode::decode(&fixed, &mut round);
                let new: Vec<_> = std::mem::take(&mut round.typos)
                    .into_iter()
                    .filter(|t| !typos.contains_key(&t.1))
                    .collect();
                if new.is_empty() {
                    typo_diags.retain(|d| typos.contains_key(&d.loc));
                    round.items.extend(typo_diags);
                    return (Some(spec), round);
                }
                typo_diags.extend(
                    round
                        .items
                        .into_iter()
                        .filter(|d| d.code == crate::diag::Code::E003),
                );
                typos.extend(new.into_iter().map(|(_, loc, meant)| (loc, meant)));
            }
        }
        Err(d) => {
            diags.push(d);
            (None, diags)
        }
    }
}
