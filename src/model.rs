//! The resolved topology: what `validate` produces from a spec that has no errors.
//!
//! Every derived fact of DESIGN.md §2 (who needs an east-west gateway, who reads whom, who
//! runs an istiod) is computed here once, by [`Topology`], and used both by validation (to
//! know what must be present) and by the planner (to know what to render).

use std::collections::BTreeSet;
use std::fmt;
use std::path::PathBuf;

use crate::istio::Version;

/// A secret value read from a file. Its `Debug` never shows the content.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(pub String);

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(<redacted>)")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyAlgorithm {
    EcdsaP256,
    EcdsaP384,
    Rsa2048,
    Rsa3072,
    Rsa4096,
}

impl KeyAlgorithm {
    pub const NAMES: &'static [&'static str] = &[
        "ecdsa-p256",
        "ecdsa-p384",
        "rsa-2048",
        "rsa-3072",
        "rsa-4096",
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "ecdsa-p256" => KeyAlgorithm::EcdsaP256,
            "ecdsa-p384" => KeyAlgorithm::EcdsaP384,
            "rsa-2048" => KeyAlgorithm::Rsa2048,
            "rsa-3072" => KeyAlgorithm::Rsa3072,
            "rsa-4096" => KeyAlgorithm::Rsa4096,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            KeyAlgorithm::EcdsaP256 => "ecdsa-p256",
            KeyAlgorithm::EcdsaP384 => "ecdsa-p384",
            KeyAlgorithm::Rsa2048 => "rsa-2048",
            KeyAlgorithm::Rsa3072 => "rsa-3072",
            KeyAlgorithm::Rsa4096 => "rsa-4096",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subject {
    pub organization: String,
    pub common_name: String,
    pub validity_days: u32,
}

#[derive(Clone, Debug)]
pub struct PkiSettings {
    /// Absolute, or relative to the working directory (resolved against the spec's directory).
    pub dir: PathBuf,
    /// `pki.dir` as written in the spec, for messages and the generated README.
    pub dir_display: String,
    pub algorithm: KeyAlgorithm,
    pub root: Subject,
    pub intermediate: Subject,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretsMode {
    /// No secret is rendered by this mesh (never the case once a primary exists).
    Unset,
    /// Private keys and tokens in the output tree: labs only.
    Plaintext,
    /// An ExternalSecret per secret; material is uploaded to the store by the operator.
    ExternalSecrets {
        store_kind: String,
        store_name: String,
        key_prefix: String,
        /// Each cluster a primary reads pushes its reader token to the store (PushSecret).
        push_reader_tokens: bool,
    },
    /// Secrets rendered as in plaintext mode, then sealed in SOPS's format for these age
    /// recipients (DESIGN §9.3).
    Sops { recipients: Vec<String> },
}

impl SecretsMode {
    /// Whether Secrets are rendered with their values (plaintext, or sealed by SOPS), so
    /// remote secrets need each read cluster's token and CA bundle.
    pub fn renders_values(&self) -> bool {
        matches!(self, SecretsMode::Plaintext | SecretsMode::Sops { .. })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    Primary,
    Remote { control_plane: String },
}

#[derive(Clone, Debug)]
pub struct EastWestGateway {
    pub address: String,
    pub node_port: bool,
    /// The port other clusters call on `address` for mTLS passthrough: 15443, or the node
    /// port of 15443 for a NodePort gateway (used by `federation` ServiceEntries).
    pub port: u16,
}

#[derive(Clone, Debug)]
pub struct ApiServer {
    pub server: String,
    /// The API server CA bundle (public), when given as a file.
    pub ca_pem: Option<String>,
    /// The istio-reader token, when given as a file.
    pub token: Option<SecretString>,
    /// `tls-server-name` of the kubeconfig (`istioctl create-remote-secret --tls-server-name`).
    pub tls_server_name: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Cluster {
    pub name: String,
    pub network: String,
    pub role: Role,
    pub east_west: Option<EastWestGateway>,
    pub api_server: Option<ApiServer>,
    /// `reads` (DESIGN §7.1): `None` = every other cluster (`"*"`, the default); else the
    /// named clusters, sorted, the remotes it serves included. Primaries only.
    pub reads: Option<Vec<String>>,
    /// The mesh-wide `overrides` with this cluster's merged over them.
    pub overrides: Overrides,
}

/// Values deep-merged over what meshrender renders (DESIGN §7), checked by validation: none
/// changes a value derived from the topology. Each is a JSON mapping.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Overrides {
    pub mesh_config: Option<serde_json::Value>,
    pub helm_base: Option<serde_json::Value>,
    pub helm_istiod: Option<serde_json::Value>,
    pub helm_gateway: Option<serde_json::Value>,
    pub istio_operator: Option<serde_json::Value>,
    pub east_west_operator: Option<serde_json::Value>,
}

impl Overrides {
    pub fn is_empty(&self) -> bool {
        self == &Overrides::default()
    }
}

impl Cluster {
    pub fn is_primary(&self) -> bool {
        self.role == Role::Primary
    }

    pub fn control_plane(&self) -> Option<&str> {
        match &self.role {
            Role::Primary => None,
            Role::Remote { control_plane } => Some(control_plane),
        }
    }
}

/// Where each cluster's `cacerts` comes from (`pki.backend`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum CaBackend {
    /// meshrender's own CA in `pki.dir` (DESIGN §4).
    #[default]
    Local,
    /// A cert-manager `Certificate` per cluster, issued in the cluster by this issuer; no
    /// local CA at all (DESIGN §9.2).
    CertManager { kind: String, name: String },
}

/// Where Istio's Helm charts come from (`istio.charts`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Charts {
    /// `https://…` Helm repository or `oci://…` registry path, without a trailing slash.
    pub repository: String,
    /// Exact chart version (`istio.charts.version`, else the X.Y.Z of `istio.tag`).
    pub version: Option<String>,
}

impl Charts {
    pub fn is_oci(&self) -> bool {
        self.repository.starts_with("oci://")
    }
}

/// `istio.dataplane`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Dataplane {
    #[default]
    Sidecar,
    Ambient,
}

/// Optional GitOps consumers of the rendered tree (`gitops:` in the spec).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gitops {
    pub repo_url: String,
    pub revision: String,
    /// The output directory's path inside the repository, without `./` or trailing `/`; "" for
    /// the repository root.
    pub path: String,
    pub argocd: Option<ArgoCd>,
    pub flux: Option<Flux>,
}

impl Gitops {
    /// `rel` inside the output directory, as a path inside the repository.
    pub fn repo_path(&self, rel: &str) -> String {
        if self.path.is_empty() {
            rel.to_owned()
        } else {
            format!("{}/{rel}", self.path)
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArgoCd {
    pub namespace: String,
    pub project: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flux {
    pub namespace: String,
    pub source_kind: String,
    pub source_name: String,
}

#[derive(Clone, Debug)]
pub struct Mesh {
    pub mesh_id: String,
    pub version: Version,
    pub revision: Option<String>,
    pub hub: Option<String>,
    pub tag: Option<String>,
    pub charts: Charts,
    pub dataplane: Dataplane,
    /// `istio.sail`: also render `install/sail/`.
    pub sail: bool,
    pub trust_domain: String,
    pub ca_backend: CaBackend,
    pub pki: PkiSettings,
    pub secrets: SecretsMode,
    pub clusters: Vec<Cluster>,
    pub verification: bool,
    pub gitops: Option<Gitops>,
    pub federation: Option<Federation>,
}

/// The replicated-control-planes model of Istio 1.6–1.7 (`federation:` in the spec).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Federation {
    /// IPv4 pool for the `*.global` addresses: base address and prefix length.
    pub pool: (std::net::Ipv4Addr, u8),
    pub services: Vec<FederatedService>,
    /// Per cluster, the ClusterIP of its istiocoredns Service (for the CoreDNS stub).
    pub core_dns: std::collections::BTreeMap<String, std::net::Ipv4Addr>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FederatedService {
    pub name: String,
    pub namespace: String,
    /// The exporting cluster.
    pub cluster: String,
    pub ports: Vec<ServicePort>,
    pub consumers: Vec<String>,
}

impl FederatedService {
    /// `<name>.<namespace>.global`, the name consumers call.
    pub fn global_host(&self) -> String {
        format!("{}.{}.global", self.name, self.namespace)
    }

    /// The allocation key, `<name>.<namespace>`.
    pub fn key(&self) -> String {
        format!("{}.{}", self.name, self.namespace)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServicePort {
    pub name: String,
    pub number: u16,
    pub protocol: String,
}

impl Mesh {
    pub fn topology(&self) -> Topology {
        Topology::derive(
            self.version,
            self.clusters
                .iter()
                .map(|c| (&c.name, &c.network, &c.role, c.reads.as_deref())),
        )
    }

    pub fn cluster(&self, name: &str) -> Option<&Cluster> {
        self.clusters.iter().find(|c| c.name == name)
    }
}

/// What each cluster gets (DESIGN.md §2), derived from names, networks, roles and version.
#[derive(Clone, Debug, Default)]
pub struct Topology {
    pub multi_network: bool,
    pub clusters: Vec<Facts>,
    /// name → position in `clusters`.
    index: std::collections::BTreeMap<String, usize>,
}

/// The clusters one primary reads. With `reads: ["*"]` (the default): every other cluster,
/// as a view of one sorted list shared by all such primaries (so validation and planning stay
/// linear in the cluster count, instead of every primary holding a copy of every name: 10,000
/// primaries once took 5.5 GB). With an explicit `reads` list: that list, sorted (its size is
/// the spec's own).
#[derive(Clone, Debug, Default)]
pub struct Reads {
    /// Every cluster name, sorted; empty for a cluster that reads nothing.
    all: std::sync::Arc<[String]>,
    /// The reader itself, left out.
    me: usize,
    /// An explicit read set, sorted and without the reader: replaces `all`.
    listed: Option<Vec<String>>,
}

impl Reads {
    pub fn iter(&self) -> Box<dyn Iterator<Item = &String> + '_> {
        match &self.listed {
            Some(l) => Box::new(l.iter()),
            None => Box::new(
                self.all
                    .iter()
                    .enumerate()
                    .filter(move |(i, _)| *i != self.me)
                    .map(|(_, n)| n),
            ),
        }
    }

    pub fn contains(&self, name: &str) -> bool {
        if let Some(l) = &self.listed {
            return l.binary_search_by(|n| n.as_str().cmp(name)).is_ok();
        }
        match self.all.binary_search_by(|n| n.as_str().cmp(name)) {
            Ok(i) => i != self.me,
            Err(_) => false,
        }
    }

    pub fn len(&self) -> usize {
        match &self.listed {
            Some(l) => l.len(),
            None => self.all.len().saturating_sub(1),
        }
    }

    /// Whether this is the default read set (`"*"`: every other cluster).
    pub fn is_everyone(&self) -> bool {
        self.listed.is_none()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<'a> IntoIterator for &'a Reads {
    type Item = &'a String;
    type IntoIter = Box<dyn Iterator<Item = &'a String> + 'a>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

#[derive(Clone, Debug, Default)]
pub struct Facts {
    pub name: String,
    pub primary: bool,
    /// Remotes that name this cluster as `controlPlane`, sorted.
    pub serves: Vec<String>,
    /// Multi-network: every cluster; otherwise a primary that serves remotes.
    pub needs_east_west: bool,
    /// Runs an istiod, so it gets `cacerts`.
    pub runs_istiod: bool,
    /// Some primary reads this cluster's API server.
    pub read_by_primary: bool,
    /// The clusters this (primary) cluster reads, sorted: every other cluster, or its `reads`.
    pub reads: Reads,
    pub expose_services: bool,
    pub expose_istiod: bool,
}

impl Topology {
    pub fn derive<'a>(
        version: Version,
        clusters: impl Iterator<Item = (&'a String, &'a String, &'a Role, Option<&'a [String]>)> + Clone,
    ) -> Topology {
        let networks: BTreeSet<&String> = clusters.clone().map(|(_, n, _, _)| n).collect();
        if version.is_replicated_control_plane_era() {
            // Replicated control planes: every cluster runs istiod; clusters never read each
            // other and need no east-west gateway (they meet through `federation`).
            return Topology::indexed(
                false,
                clusters
                    .map(|(name, _, _, _)| Facts {
                        name: name.clone(),
                        primary: true,
                        runs_istiod: true,
                        ..Facts::default()
                    })
                    .collect(),
            );
        }
        let multi_network = networks.len() > 1;
        let mut served: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
        for (n, _, r, _) in clusters.clone() {
            if let Role::Remote { control_plane } = r {
                served
                    .entry(control_plane.as_str())
                    .or_default()
                    .push(n.clone());
            }
        }
        let mut sorted: Vec<String> = clusters.clone().map(|(n, _, _, _)| n.clone()).collect();
        sorted.sort();
        let all: std::sync::Arc<[String]> = sorted.into();
        // Who is read by some primary: everyone but the reader when a primary reads `"*"`,
        // plus the names of explicit lists and served remotes (linear in the spec size).
        let star_readers = clusters
            .clone()
            .filter(|(_, _, r, reads)| **r == Role::Primary && reads.is_none())
            .count();
        let mut listed: BTreeSet<&str> = BTreeSet::new();
        for (n, _, r, reads) in clusters.clone() {
            if *r != Role::Primary {
                continue;
            }
            if let Some(l) = reads {
                listed.extend(l.iter().map(String::as_str).filter(|x| *x != n.as_str()));
            }
            if let Some(s) = served.get(n.as_str()) {
                listed.extend(s.iter().map(String::as_str));
            }
        }
        let facts = clusters
            .clone()
            .map(|(name, _, role, explicit)| {
                let primary = *role == Role::Primary;
                let mut serves: Vec<String> =
                    served.get(name.as_str()).cloned().unwrap_or_default();
                serves.sort();
                let reads = if !primary {
                    Reads::default()
                } else if let Some(l) = explicit {
                    let mut l: Vec<String> = l
                        .iter()
                        .filter(|x| *x != name)
                        .cloned()
                        .chain(serves.iter().cloned())
                        .collect();
                    l.sort();
                    l.dedup();
                    Reads {
                        listed: Some(l),
                        ..Reads::default()
                    }
                } else {
                    Reads {
                        all: all.clone(),
                        me: all
                            .binary_search(name)
                            .expect("every cluster is in the sorted list"),
                        listed: None,
                    }
                };
                let star_self = primary && explicit.is_none();
                let read_by_primary =
                    listed.contains(name.as_str()) || star_readers > usize::from(star_self);
                Facts {
                    name: name.clone(),
                    primary,
                    needs_east_west: multi_network || (primary && !serves.is_empty()),
                    runs_istiod: primary || version.remotes_run_istiod(),
                    read_by_primary,
                    expose_services: multi_network && primary,
                    expose_istiod: primary && !serves.is_empty(),
                    serves,
                    reads,
                }
            })
            .collect();
        Topology::indexed(multi_network, facts)
    }

    fn indexed(multi_network: bool, clusters: Vec<Facts>) -> Topology {
        let index = clusters
            .iter()
            .enumerate()
            .map(|(i, f)| (f.name.clone(), i))
            .collect();
        Topology {
            multi_network,
            clusters,
            index,
        }
    }

    pub fn facts(&self, name: &str) -> Option<&Facts> {
        self.index.get(name).map(|i| &self.clusters[*i])
    }
}
