//! `README.md` (what was rendered, the apply order, what to upload, how to verify) and
//! `.sourceignore`, the mesh-wide files planned last, from every other planned file.

use std::collections::BTreeMap;

use serde::Serialize;

use super::names::helloworld_version;
use super::{Applied, Ctx, HEADER, PlannedFile, Skeleton, context};
use crate::model::{Cluster, SecretsMode};

#[derive(Serialize)]
struct ClusterRow<'a> {
    name: &'a str,
    network: &'a str,
    primary: bool,
    control_plane: Option<&'a str>,
    serves: &'a [String],
    address: Option<&'a str>,
    has_cacerts: bool,
    has_eastwest: bool,
    has_reader_token: bool,
    files: Vec<&'a str>,
}

#[derive(Serialize)]
struct AddressRow<'a> {
    cluster: &'a str,
    host: String,
    address: String,
}

#[derive(Serialize)]
struct ArgoCd<'a> {
    namespace: &'a str,
}

#[derive(Serialize)]
struct Flux<'a> {
    namespace: &'a str,
    path: String,
    source: String,
    /// The name of the Flux Kustomization that `flux create` makes (from the meshID).
    root: String,
}

#[derive(Serialize)]
struct Gitops<'a> {
    argocd: Option<ArgoCd<'a>>,
    flux: Option<Flux<'a>>,
    path: &'a str,
}

#[derive(Serialize)]
struct VerifyCluster<'a> {
    name: &'a str,
    version: &'static str,
}

#[derive(Serialize)]
struct Verification<'a> {
    client: &'static str,
    clusters: Vec<VerifyCluster<'a>>,
    versions: Vec<&'static str>,
}

#[derive(Serialize)]
struct Readme<'a> {
    header: &'static str,
    mesh_id: &'a str,
    version: String,
    revision: &'a Option<String>,
    multi_network: bool,
    helm: bool,
    plaintext: bool,
    /// `secrets.mode: sops`: the age recipients.
    sops: Vec<&'a str>,
    external_secrets: bool,
    store: Option<String>,
    key_prefix: Option<&'a str>,
    pki_dir: &'a str,
    rotation: Option<u8>,
    federation: Option<Vec<AddressRow<'a>>>,
    gitops: Option<Gitops<'a>>,
    clusters: Vec<ClusterRow<'a>>,
    primaries: Vec<&'a str>,
    remotes: Vec<&'a str>,
    /// Remotes carry `topology.istio.io/controlPlaneClusters` (Istio ≥ 1.15).
    annotated: bool,
    charts_repository: &'a str,
    charts_oci: bool,
    /// `pki.backend: cert-manager`: the issuer, as `Kind/name`.
    cert_manager: Option<String>,
    /// Reader tokens reach the store through PushSecrets.
    push_tokens: bool,
    glance: super::mermaid::Glance,
    /// Plaintext remote secrets not rendered for want of a token (W004): `primary`, `peer`.
    pending: Vec<(&'a str, &'a str)>,
    charts_version: &'a Option<String>,
    ambient: bool,
    sail: bool,
    /// The `Istio` object's name: the revision, or `default`.
    sail_name: &'a str,
    /// Ambient multicluster is beta (≥ 1.29), else alpha.
    ambient_beta: bool,
    /// The east-west gateway chart needs `--skip-schema-validation`.
    skip_schema: bool,
    reproduce: &'a Option<String>,
    verification: Option<Verification<'a>>,
}

#[derive(Serialize)]
struct SourceIgnore {
    header: &'static str,
}

/// `planned`: every cluster's files; the README and `.sourceignore` are added to `out`.
pub(super) fn plan(x: &Ctx, planned: &[Skeleton], out: &mut Vec<PlannedFile>) {
    let readme = context(readme(x, planned));
    for (path, template, context) in [
        ("README.md", "README.md.j2", readme),
        (
            ".sourceignore",
            "sourceignore.j2",
            context(SourceIgnore { header: HEADER }),
        ),
    ] {
        out.push(PlannedFile {
            path: path.to_owned(),
            cluster: None,
            template,
            context,
            applied: Applied::No,
            sealed: None,
            overlay: None,
        });
    }
}

fn readme<'a>(x: &'a Ctx, files: &'a [Skeleton]) -> Readme<'a> {
    let mesh = x.mesh;
    let (store, key_prefix) = match &mesh.secrets {
        SecretsMode::ExternalSecrets {
            store_kind,
            store_name,
            key_prefix,
            ..
        } => (
            Some(format!("{store_kind}/{store_name}")),
            Some(key_prefix.as_str()),
        ),
        _ => (None, None),
    };
    // Primaries first: remotes need their primary's istiod and east-west gateway.
    let (primaries, remotes): (Vec<&Cluster>, Vec<&Cluster>) =
        mesh.clusters.iter().partition(|c| c.is_primary());
    let names = |cs: Vec<&'a Cluster>| cs.into_iter().map(|c| c.name.as_str()).collect();
    let remotes: Vec<&str> = names(remotes);
    let has_gateway_chart = files.iter().any(|f| {
        f.path
            .ends_with("/install/helm/eastwest-gateway.values.yaml")
    });
    Readme {
        glance: super::mermaid::glance(mesh, x.topo),
        header: HEADER,
        mesh_id: &mesh.mesh_id,
        version: mesh.version.to_string(),
        revision: &mesh.revision,
        multi_network: x.topo.multi_network,
        helm: mesh.version.has_helm_values(),
        plaintext: mesh.secrets == SecretsMode::Plaintext,
        sops: match &mesh.secrets {
            SecretsMode::Sops { recipients } => recipients.iter().map(String::as_str).collect(),
            _ => Vec::new(),
        },
        external_secrets: store.is_some(),
        store,
        key_prefix,
        pki_dir: &mesh.pki.dir_display,
        rotation: x.pki.rotation,
        federation: federation_rows(x),
        gitops: mesh.gitops.as_ref().map(|g| Gitops {
            argocd: g.argocd.as_ref().map(|a| ArgoCd {
                namespace: &a.namespace,
            }),
            flux: g.flux.as_ref().map(|f| Flux {
                namespace: &f.namespace,
                path: g.repo_path("gitops/flux"),
                source: format!("{}/{}", f.source_kind, f.source_name),
                root: super::names::object_name(&mesh.mesh_id),
            }),
            path: if g.path.is_empty() { "." } else { &g.path },
        }),
        clusters: cluster_rows(x, files),
        primaries: names(primaries),
        annotated: !remotes.is_empty() && mesh.version.has_control_plane_clusters_annotation(),
        remotes,
        ambient: mesh.dataplane == crate::model::Dataplane::Ambient,
        sail: mesh.sail,
        sail_name: mesh.revision.as_deref().unwrap_or("default"),
        ambient_beta: mesh.version.at_least(29),
        charts_repository: &mesh.charts.repository,
        charts_oci: mesh.charts.is_oci(),
        pending: pending(x),
        cert_manager: match &mesh.ca_backend {
            crate::model::CaBackend::CertManager { kind, name } => Some(format!("{kind}/{name}")),
            crate::model::CaBackend::Local => None,
        },
        push_tokens: matches!(
            mesh.secrets,
            SecretsMode::ExternalSecrets {
                push_reader_tokens: true,
                ..
            }
        ),
        charts_version: &mesh.charts.version,
        skip_schema: has_gateway_chart
            && mesh
                .version
                .gateway_chart_schema_broken(mesh.charts.version.as_deref()),
        reproduce: &x.options.reproduce,
        verification: mesh.verification.then(|| verification(x)),
    }
}

fn cluster_rows<'a>(x: &'a Ctx, files: &'a [Skeleton]) -> Vec<ClusterRow<'a>> {
    // `clusters/<name>/…`: every file of a cluster is below its directory.
    let mut by_cluster: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for f in files {
        if let Some((c, _)) = f
            .path
            .strip_prefix("clusters/")
            .and_then(|p| p.split_once('/'))
        {
            by_cluster.entry(c).or_default().push(&f.path);
        }
    }
    x.mesh
        .clusters
        .iter()
        .map(|c| {
            let f = x.topo.facts(&c.name).expect("same list");
            let prefix = format!("clusters/{}/", c.name);
            let here: Vec<&str> = by_cluster
                .get(c.name.as_str())
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .filter_map(|p| p.strip_prefix(prefix.as_str()))
                .collect();
            let has = |rel: &str| here.contains(&rel);
            ClusterRow {
                name: &c.name,
                network: &c.network,
                primary: f.primary,
                control_plane: c.control_plane(),
                serves: &f.serves,
                address: c.east_west.as_ref().map(|g| g.address.as_str()),
                has_cacerts: has("cacerts.yaml"),
                has_eastwest: has("install/eastwest-gateway.yaml"),
                has_reader_token: has("reader-token.yaml"),
                files: here,
            }
        })
        .collect()
}

fn federation_rows<'a>(x: &'a Ctx) -> Option<Vec<AddressRow<'a>>> {
    let fed = x.mesh.federation.as_ref()?;
    let mut rows = Vec::new();
    for (cluster, m) in x.addresses {
        for (key, address) in m {
            let host = fed
                .services
                .iter()
                .find(|s| &s.key() == key)
                .map(|s| s.global_host())
                .unwrap_or_default();
            rows.push(AddressRow {
                cluster,
                host,
                address: address.to_string(),
            });
        }
    }
    Some(rows)
}

fn verification<'a>(x: &'a Ctx) -> Verification<'a> {
    let mesh = x.mesh;
    let clusters: Vec<VerifyCluster> = mesh
        .clusters
        .iter()
        .map(|c: &Cluster| VerifyCluster {
            name: &c.name,
            version: helloworld_version(mesh, c),
        })
        .collect();
    let mut versions: Vec<&'static str> = clusters.iter().map(|c| c.version).collect();
    versions.sort_unstable();
    versions.dedup();
    Verification {
        client: mesh.version.verify_client(),
        clusters,
        versions,
    }
}

/// The remote secrets a plaintext mesh cannot render yet: the peer has no `tokenFile`.
fn pending<'a>(x: &'a Ctx) -> Vec<(&'a str, &'a str)> {
    if !x.mesh.secrets.renders_values() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for f in &x.topo.clusters {
        for peer in &f.reads {
            let tokenless = x
                .cluster(peer)
                .and_then(|c| c.api_server.as_ref())
                .is_some_and(|a| a.token.is_none());
            let sealed = x
                .options
                .sealed
                .contains_key(&format!("clusters/{}/remote-secret-{peer}.yaml", f.name));
            if tokenless && !sealed {
                out.push((f.name.as_str(), peer.as_str()));
            }
        }
    }
    out
}
