//! `gitops/`: Argo CD and Flux objects that install and connect the whole mesh from Git
//! (DESIGN §8), Istio's charts included.
//!
//! Both consumers get the same graph, computed here once. Per cluster up to six stages:
//! *foundation* (`namespace.yaml`, `cacerts.yaml`), *istio* (charts `base` → `istiod`
//! (→ `cni` → `ztunnel`), values of `install/helm/`), *token* (`reader-token*.yaml`: the
//! reader token, and its PushSecret), *links* (`remote-secret-*.yaml`), *gateway* (the
//! east-west `gateway` chart), *exposure* (everything else: exposure Gateways, the ambient
//! east-west Gateway). The arrows:
//! - foundation → istio → gateway → exposure, and base → token, istio → links, per cluster;
//! - a peer's token (pushed to the store) and foundation (a remote's namespace carries
//!   `topology.istio.io/controlPlaneClusters`, which istiod reads once, when it registers the
//!   remote's secret: ISTIO-FACTS §9.1 #2) → the links of every primary that reads it;
//! - a primary's links (the remote's secret) and exposure (istiod exposed) → its remotes'
//!   gateway, whose pods the primary injects (Istio's guide installs the remote's gateway
//!   after attaching the remote). This is where meshrender follows Istio rather than the
//!   contract's "east-west gateway → reader token, remote secrets" on a remote, which could
//!   never converge (the primary cannot serve the remote's gateway before it has its secret).
//!
//! Argo CD: one root Application (`gitops/argocd/root.yaml`, applied once) over
//! `gitops/argocd/apps/`, one Application per stage and chart, ordered by sync waves = the
//! longest path to it. Flux: per cluster one Kustomization per stage, `dependsOn` carrying the
//! arrows and `wait` the health; their paths are roots under `gitops/flux/clusters/` (the
//! stages of `clusters/<name>/` reference its files: Flux builds without kustomize's load
//! restrictions, inside the source). Every object is named after the meshID.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::helm::ClusterHelm;
use super::names::object_name;
use super::{Applied, Ctx, HEADER, PlannedFile, Skeleton, context};
use crate::model::{Cluster, Gitops, Mesh};

/// Ambient needs the Gateway API CRDs in every cluster before Istio (ISTIO-FACTS §9.3):
/// GitOps installs them from the upstream repository, at the release the Sail Operator's
/// multicluster guide uses, before each cluster's foundation.
const GATEWAY_API_REPO: &str = "https://github.com/kubernetes-sigs/gateway-api";
const GATEWAY_API_VERSION: &str = "v1.4.1";
const GATEWAY_API_PATH: &str = "config/crd/standard";

/// The foundation files of a cluster: applied before anything else, and before istiod.
const FOUNDATION: [&str; 2] = ["namespace.yaml", "cacerts.yaml"];

#[derive(Serialize)]
struct Page<'a, T> {
    header: &'static str,
    mesh_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster: Option<&'a str>,
    #[serde(flatten)]
    body: T,
}

/// Adds mesh-wide (`cluster: None`) or per-cluster gitops files.
struct Files<'a> {
    mesh: &'a Mesh,
    out: &'a mut Vec<PlannedFile>,
}

impl Files<'_> {
    fn add(
        &mut self,
        path: String,
        cluster: Option<&str>,
        template: &'static str,
        body: impl Serialize,
    ) {
        self.out.push(PlannedFile {
            path,
            cluster: cluster.map(str::to_owned),
            template,
            context: context(Page {
                header: HEADER,
                mesh_id: &self.mesh.mesh_id,
                cluster,
                body,
            }),
            applied: Applied::No,
            sealed: None,
            overlay: None,
        });
    }
}

/// One Istio chart of a cluster, as Argo CD and Flux install it.
struct Chart<'a> {
    chart: &'static str,
    release: String,
    values: &'a Value,
    /// The gateway chart of this release has a broken schema (ISTIO-FACTS §9.1 #7).
    skip_schema: bool,
}

/// Everything the GitOps objects of one cluster are made from.
struct ClusterFlow<'a> {
    c: &'a Cluster,
    /// Applied files of `clusters/<name>/`, by stage.
    foundation: Vec<String>,
    token: Vec<String>,
    links: Vec<String>,
    exposure: Vec<String>,
    /// `base`, `istiod` (, `cni`, `ztunnel`).
    charts: Vec<Chart<'a>>,
    /// The east-west `gateway` chart.
    gateway: Option<Chart<'a>>,
    /// The primary of a remote.
    primary: Option<&'a str>,
    /// The remotes this primary serves, and the clusters it reads.
    serves: &'a [String],
    reads: &'a crate::model::Reads,
    /// Ambient: the Gateway API CRDs come first.
    gateway_api: bool,
}

/// A node of the convergence graph.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Node {
    GatewayApi(String),
    Foundation(String),
    Chart(String, usize),
    Token(String),
    Links(String),
    Gateway(String),
    Exposure(String),
}

/// The arrows into each node that exists (a stage with nothing in it does not), as Argo CD
/// orders them: an arrow through a missing node is drawn to that node's own predecessors.
fn graph(flows: &[ClusterFlow]) -> BTreeMap<Node, Vec<Node>> {
    let mut want: BTreeMap<Node, Vec<Node>> = BTreeMap::new();
    let mut exists = std::collections::BTreeSet::new();
    for f in flows {
        let n = f.c.name.clone();
        let found = Node::Foundation(n.clone());
        exists.insert(found.clone());
        if f.gateway_api {
            want.insert(Node::GatewayApi(n.clone()), Vec::new());
            exists.insert(Node::GatewayApi(n.clone()));
            want.insert(found.clone(), vec![Node::GatewayApi(n.clone())]);
        } else {
            want.insert(found.clone(), Vec::new());
        }
        let mut last = found.clone();
        for i in 0..f.charts.len() {
            want.insert(Node::Chart(n.clone(), i), vec![last.clone()]);
            exists.insert(Node::Chart(n.clone(), i));
            last = Node::Chart(n.clone(), i);
        }
        let base = if f.charts.is_empty() {
            found.clone()
        } else {
            Node::Chart(n.clone(), 0)
        };
        want.insert(Node::Token(n.clone()), vec![base]);
        let mut links = vec![last.clone()];
        links.extend(f.reads.iter().map(|r| Node::Token(r.clone())));
        links.extend(f.serves.iter().map(|r| Node::Foundation(r.clone())));
        want.insert(Node::Links(n.clone()), links);
        let mut gw = vec![last.clone()];
        if let Some(p) = f.primary {
            gw.push(Node::Links(p.to_owned()));
            gw.push(Node::Exposure(p.to_owned()));
        }
        want.insert(Node::Gateway(n.clone()), gw);
        want.insert(Node::Exposure(n.clone()), vec![Node::Gateway(n.clone())]);
        for (node, present) in [
            (Node::Token(n.clone()), !f.token.is_empty()),
            (Node::Links(n.clone()), !f.links.is_empty()),
            (Node::Gateway(n.clone()), f.gateway.is_some()),
            (Node::Exposure(n.clone()), !f.exposure.is_empty()),
        ] {
            if present {
                exists.insert(node);
            }
        }
    }
    // resolve arrows through missing nodes
    fn resolve(
        n: &Node,
        want: &BTreeMap<Node, Vec<Node>>,
        exists: &std::collections::BTreeSet<Node>,
        out: &mut std::collections::BTreeSet<Node>,
    ) {
        for p in want.get(n).into_iter().flatten() {
            if exists.contains(p) {
                out.insert(p.clone());
            } else {
                resolve(p, want, exists, out);
            }
        }
    }
    exists
        .iter()
        .map(|n| {
            let mut preds = std::collections::BTreeSet::new();
            resolve(n, &want, &exists, &mut preds);
            (n.clone(), preds.into_iter().collect())
        })
        .collect()
}

/// Sync wave of every node: the length of the longest path to it (the graph is acyclic: a
/// remote's charts wait for its primary's mesh, which waits only for foundations).
fn waves(preds: &BTreeMap<Node, Vec<Node>>) -> BTreeMap<Node, usize> {
    let mut wave: BTreeMap<Node, usize> = preds.keys().map(|n| (n.clone(), 0)).collect();
    for _ in 0..=preds.len() {
        let mut changed = false;
        for (n, ps) in preds {
            let w = ps.iter().map(|p| wave[p] + 1).max().unwrap_or(0);
            if w > wave[n] {
                wave.insert(n.clone(), w);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    wave
}

pub(super) fn plan(
    x: &Ctx,
    g: &Gitops,
    helm: &[(&Cluster, Option<ClusterHelm>)],
    planned: &[Skeleton],
    out: &mut Vec<PlannedFile>,
) {
    let mesh = x.mesh;
    let flows: Vec<ClusterFlow> = helm
        .iter()
        .map(|(c, h)| cluster_flow(x, c, h.as_ref(), planned))
        .collect();
    let mut files = Files { mesh, out };
    if let Some(a) = &g.argocd {
        plan_argocd(&mut files, g, a, &flows);
    }
    if let Some(fx) = &g.flux {
        plan_flux(&mut files, g, fx, &flows);
    }
}

fn cluster_flow<'a>(
    x: &'a Ctx,
    c: &'a Cluster,
    h: Option<&'a ClusterHelm>,
    planned: &[Skeleton],
) -> ClusterFlow<'a> {
    let f = x
        .topo
        .facts(&c.name)
        .expect("topology covers every cluster");
    let prefix = format!("clusters/{}/", c.name);
    let mut applied: Vec<String> = planned
        .iter()
        .filter(|p| p.applied == Applied::Cluster)
        .filter_map(|p| p.path.strip_prefix(&prefix))
        .map(str::to_owned)
        .collect();
    applied.sort();
    let (mut foundation, mut token, mut links, mut exposure) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for p in applied {
        let stage = if FOUNDATION.contains(&p.as_str()) {
            &mut foundation
        } else if p.starts_with("reader-token") {
            &mut token
        } else if p.starts_with("remote-secret-") {
            &mut links
        } else {
            &mut exposure
        };
        stage.push(p);
    }
    let mut charts = Vec::new();
    let mut gateway = None;
    if let Some(h) = h {
        let istiod_release = match &x.mesh.revision {
            Some(r) => format!("istiod-{r}"),
            None => "istiod".to_owned(),
        };
        charts.push(Chart {
            chart: "base",
            release: "istio-base".into(),
            values: &h.base,
            skip_schema: false,
        });
        charts.push(Chart {
            chart: "istiod",
            release: istiod_release,
            values: &h.istiod,
            skip_schema: false,
        });
        if let Some(a) = &h.ambient {
            charts.push(Chart {
                chart: "cni",
                release: "istio-cni".into(),
                values: &a.cni,
                skip_schema: false,
            });
            charts.push(Chart {
                chart: "ztunnel",
                release: "ztunnel".into(),
                values: &a.ztunnel,
                skip_schema: false,
            });
        }
        if let Some(gw) = &h.gateway {
            gateway = Some(Chart {
                chart: "gateway",
                release: "istio-eastwestgateway".into(),
                values: gw,
                skip_schema: x
                    .mesh
                    .version
                    .gateway_chart_schema_broken(x.mesh.charts.version.as_deref()),
            });
        }
    }
    ClusterFlow {
        c,
        foundation,
        token,
        links,
        exposure,
        charts,
        gateway,
        primary: c.control_plane(),
        serves: &f.serves,
        reads: &f.reads,
        gateway_api: x.mesh.dataplane == crate::model::Dataplane::Ambient,
    }
}

// ---------------------------------------------------------------------------------------
// Argo CD
// ---------------------------------------------------------------------------------------

#[derive(Serialize)]
struct Root<'a> {
    name: String,
    namespace: &'a str,
    project: &'a str,
    repo_url: &'a str,
    revision: &'a str,
    path: String,
}

#[derive(Serialize)]
struct App {
    name: String,
    wave: usize,
    /// `directory` (files of `clusters/<name>/`) or `chart`.
    directory: Option<Directory>,
    chart: Option<AppChart>,
    ignore_webhooks: bool,
}

#[derive(Serialize)]
struct Directory {
    /// Another repository than the mesh's (the Gateway API CRDs), with its revision.
    repo: Option<(&'static str, &'static str)>,
    path: String,
    include: Option<String>,
    exclude: Option<String>,
    server_side: bool,
}

#[derive(Serialize)]
struct AppChart {
    repo_url: String,
    chart: &'static str,
    version: String,
    release: String,
    skip_schema: bool,
    values: Value,
}

#[derive(Serialize)]
struct Apps<'a> {
    namespace: &'a str,
    project: &'a str,
    repo_url: &'a str,
    revision: &'a str,
    apps: Vec<App>,
}

/// `{a,b}` glob of file names for an Argo CD directory source.
fn glob(names: &[String]) -> String {
    if names.len() == 1 {
        names[0].clone()
    } else {
        format!("{{{}}}", names.join(","))
    }
}

/// Argo CD's Helm `repoURL`: an HTTPS repository as is; an OCI registry path without its
/// scheme (Argo CD reads it from the repository's `enableOCI` setting).
fn argocd_chart_repo(mesh: &Mesh) -> String {
    let r = &mesh.charts.repository;
    r.strip_prefix("oci://").unwrap_or(r).to_owned()
}

fn plan_argocd(files: &mut Files, g: &Gitops, a: &crate::model::ArgoCd, flows: &[ClusterFlow]) {
    let mesh = files.mesh;
    let mesh_name = object_name(&mesh.mesh_id);
    let wave = waves(&graph(flows));
    files.add(
        "gitops/argocd/root.yaml".into(),
        None,
        "gitops/argocd-root.yaml.j2",
        Root {
            name: format!("{mesh_name}-mesh"),
            namespace: &a.namespace,
            project: &a.project,
            repo_url: &g.repo_url,
            revision: &g.revision,
            path: g.repo_path("gitops/argocd/apps"),
        },
    );
    let chart_app = |name: &str, node: Node, ch: &Chart| App {
        name: format!("{mesh_name}-{name}-{}", ch.chart),
        wave: wave[&node],
        directory: None,
        chart: Some(AppChart {
            repo_url: argocd_chart_repo(mesh),
            chart: ch.chart,
            // validate guarantees a chart version when Helm values exist and GitOps installs
            // them; an empty one is refused by Argo CD, never guessed
            version: mesh.charts.version.clone().unwrap_or_default(),
            release: ch.release.clone(),
            skip_schema: ch.skip_schema,
            values: ch.values.clone(),
        }),
        // istiod rewrites the webhooks the base and istiod charts create
        ignore_webhooks: matches!(ch.chart, "base" | "istiod"),
    };
    for f in flows {
        let name = &f.c.name;
        let cluster_path = g.repo_path(&format!("clusters/{name}"));
        let dir_app = |stage: &str, node: Node, list: &[String]| App {
            name: format!("{mesh_name}-{name}-{stage}"),
            wave: wave[&node],
            directory: Some(Directory {
                repo: None,
                path: cluster_path.clone(),
                include: Some(glob(list)),
                exclude: None,
                server_side: false,
            }),
            chart: None,
            ignore_webhooks: false,
        };
        let mut apps = Vec::new();
        if f.gateway_api {
            apps.push(App {
                name: format!("{mesh_name}-{name}-gateway-api"),
                wave: wave[&Node::GatewayApi(name.clone())],
                directory: Some(Directory {
                    repo: Some((GATEWAY_API_REPO, GATEWAY_API_VERSION)),
                    path: GATEWAY_API_PATH.to_owned(),
                    include: None,
                    exclude: None,
                    // CRDs exceed the client-side apply annotation limit
                    server_side: true,
                }),
                chart: None,
                ignore_webhooks: false,
            });
        }
        apps.push(dir_app(
            "foundation",
            Node::Foundation(name.clone()),
            &f.foundation,
        ));
        for (i, ch) in f.charts.iter().enumerate() {
            apps.push(chart_app(name, Node::Chart(name.clone(), i), ch));
        }
        if !f.token.is_empty() {
            apps.push(dir_app("token", Node::Token(name.clone()), &f.token));
        }
        if !f.links.is_empty() {
            apps.push(dir_app("links", Node::Links(name.clone()), &f.links));
        }
        if let Some(gw) = &f.gateway {
            apps.push(chart_app(name, Node::Gateway(name.clone()), gw));
        }
        if !f.exposure.is_empty() {
            apps.push(dir_app(
                "exposure",
                Node::Exposure(name.clone()),
                &f.exposure,
            ));
        }
        apps.sort_by_key(|a| a.wave);
        files.add(
            format!("gitops/argocd/apps/{name}.yaml"),
            Some(name),
            "gitops/argocd-apps.yaml.j2",
            Apps {
                namespace: &a.namespace,
                project: &a.project,
                repo_url: &g.repo_url,
                revision: &g.revision,
                apps,
            },
        );
    }
}

// ---------------------------------------------------------------------------------------
// Flux
// ---------------------------------------------------------------------------------------

#[derive(Serialize)]
struct Sources<'a> {
    namespace: &'a str,
    name: String,
    url: &'a str,
    oci: bool,
    /// Ambient: the GitRepository of the Gateway API CRDs (name, url, tag).
    gateway_api: Option<(String, &'static str, &'static str)>,
}

#[derive(Serialize)]
struct Index<'a> {
    name: String,
    resources: Vec<String>,
    path: String,
    source_kind: &'a str,
    source_name: &'a str,
}

/// The Flux HelmRepository of the mesh's charts: named after the mesh, so two meshes in one
/// Flux namespace never share it.
fn charts_source_name(mesh_id: &str) -> String {
    format!("{}-istio-charts", object_name(mesh_id))
}

/// The Flux GitRepository of the upstream Gateway API CRDs (ambient meshes).
fn gateway_api_source(mesh_id: &str) -> String {
    format!("{}-gateway-api", object_name(mesh_id))
}

/// The Flux Kustomization of a stage.
fn flux_name(mesh_id: &str, cluster: &str, stage: &str) -> String {
    format!("{}-{cluster}-{stage}", object_name(mesh_id))
}

fn plan_flux(files: &mut Files, g: &Gitops, fx: &crate::model::Flux, flows: &[ClusterFlow]) {
    let mesh = files.mesh;
    files.add(
        "gitops/flux/sources.yaml".into(),
        None,
        "gitops/flux-sources.yaml.j2",
        Sources {
            namespace: &fx.namespace,
            name: charts_source_name(&mesh.mesh_id),
            url: &mesh.charts.repository,
            oci: mesh.charts.is_oci(),
            gateway_api: (mesh.dataplane == crate::model::Dataplane::Ambient).then(|| {
                (
                    gateway_api_source(&mesh.mesh_id),
                    GATEWAY_API_REPO,
                    GATEWAY_API_VERSION,
                )
            }),
        },
    );
    let mut resources = vec!["sources.yaml".to_owned()];
    let graph = graph(flows);
    for f in flows {
        plan_flux_cluster(files, g, fx, f, &graph);
        resources.push(format!("{}.yaml", f.c.name));
    }
    resources[1..].sort();
    files.add(
        "gitops/flux/kustomization.yaml".into(),
        None,
        "gitops/flux-index.yaml.j2",
        Index {
            name: format!("{}-flux", object_name(&mesh.mesh_id)),
            resources,
            path: g.repo_path("gitops/flux"),
            source_kind: &fx.source_kind,
            source_name: &fx.source_name,
        },
    );
}

#[derive(Serialize)]
struct Stage {
    name: String,
    path: String,
    /// A GitRepository of its own (the Gateway API CRDs) instead of the mesh's source.
    source: Option<String>,
    /// Applied to the cluster through its kubeconfig (not to the Flux cluster).
    remote: bool,
    depends_on: Vec<String>,
    timeout: &'static str,
    /// `cacerts` must exist (not just its ExternalSecret or Certificate) before istiod.
    cacerts_health: bool,
    /// `secrets.mode: sops`: the stage holds sealed Secrets, Flux decrypts them.
    decryption: bool,
}

#[derive(Serialize)]
struct FluxCluster<'a> {
    namespace: &'a str,
    kubeconfig_secret: String,
    source_kind: &'a str,
    source_name: &'a str,
    stages: Vec<Stage>,
}

#[derive(Serialize)]
struct StageRoot {
    name: String,
    resources: Vec<String>,
}

#[derive(Serialize)]
struct Release<'a> {
    name: String,
    release: &'a str,
    chart: &'static str,
    depends_on: Option<String>,
    create_namespace: bool,
    skip_schema: bool,
    values: &'a Value,
}

#[derive(Serialize)]
struct HelmReleases<'a> {
    namespace: &'a str,
    kubeconfig_secret: &'a str,
    chart_version: &'a str,
    charts_source: String,
    releases: Vec<Release<'a>>,
    chain: String,
}

/// The stage name of a node (its Flux Kustomization is `<mesh>-<cluster>-<stage>`).
fn stage_of(n: &Node) -> (&str, &'static str) {
    match n {
        Node::GatewayApi(c) => (c, "gateway-api"),
        Node::Foundation(c) => (c, "foundation"),
        Node::Chart(c, _) => (c, "istio"),
        Node::Token(c) => (c, "token"),
        Node::Links(c) => (c, "links"),
        Node::Gateway(c) => (c, "gateway"),
        Node::Exposure(c) => (c, "exposure"),
    }
}

fn plan_flux_cluster(
    files: &mut Files,
    g: &Gitops,
    fx: &crate::model::Flux,
    f: &ClusterFlow,
    graph: &BTreeMap<Node, Vec<Node>>,
) {
    let mesh = files.mesh;
    let c = f.c;
    let cluster = Some(c.name.as_str());
    let kubeconfig_secret = format!("{}-kubeconfig", c.name);
    let stage_dir = |stage: &str| format!("gitops/flux/clusters/{}/{stage}", c.name);
    // The Kustomizations a stage depends on: the stages of its nodes' predecessors (charts of
    // one cluster share the istio stage, chained inside it by HelmRelease dependsOn).
    let mut stages: Vec<Stage> = Vec::new();
    let nodes: Vec<&Node> = graph.keys().filter(|n| stage_of(n).0 == c.name).collect();
    let mut order: Vec<&'static str> = Vec::new();
    let mut deps: BTreeMap<&'static str, std::collections::BTreeSet<String>> = BTreeMap::new();
    for n in &nodes {
        let (_, stage) = stage_of(n);
        if !order.contains(&stage) {
            order.push(stage);
        }
        let d = deps.entry(stage).or_default();
        for p in &graph[*n] {
            let (pc, ps) = stage_of(p);
            if !(pc == c.name && ps == stage) {
                d.insert(flux_name(&mesh.mesh_id, pc, ps));
            }
        }
    }
    let rank = |s: &str| {
        [
            "gateway-api",
            "foundation",
            "istio",
            "token",
            "links",
            "gateway",
            "exposure",
        ]
        .iter()
        .position(|x| *x == s)
        .unwrap_or(9)
    };
    order.sort_by_key(|s| rank(s));
    for stage in &order {
        let external = *stage == "gateway-api";
        stages.push(Stage {
            name: flux_name(&mesh.mesh_id, &c.name, stage),
            path: if external {
                format!("./{GATEWAY_API_PATH}")
            } else {
                format!("./{}", g.repo_path(&stage_dir(stage)))
            },
            source: external.then(|| gateway_api_source(&mesh.mesh_id)),
            remote: !matches!(*stage, "istio" | "gateway"),
            depends_on: deps.remove(stage).unwrap_or_default().into_iter().collect(),
            timeout: if matches!(*stage, "istio" | "gateway") {
                "15m"
            } else {
                "5m"
            },
            cacerts_health: *stage == "foundation"
                && f.foundation.iter().any(|p| p == "cacerts.yaml"),
            decryption: matches!(mesh.secrets, crate::model::SecretsMode::Sops { .. })
                && matches!(*stage, "foundation" | "links"),
        });
    }
    files.add(
        format!("gitops/flux/{}.yaml", c.name),
        cluster,
        "gitops/flux-cluster.yaml.j2",
        FluxCluster {
            namespace: &fx.namespace,
            kubeconfig_secret: kubeconfig_secret.clone(),
            source_kind: &fx.source_kind,
            source_name: &fx.source_name,
            stages,
        },
    );
    // The file stages list the files of clusters/<name>/ (from 5 levels down).
    let up = |rel: &String| format!("../../../../../clusters/{}/{rel}", c.name);
    let stage_root = |files: &mut Files, stage: &str, resources: Vec<String>| {
        files.add(
            format!("{}/kustomization.yaml", stage_dir(stage)),
            cluster,
            "gitops/flux-stage.yaml.j2",
            StageRoot {
                name: flux_name(&mesh.mesh_id, &c.name, stage),
                resources,
            },
        );
    };
    for (stage, list) in [
        ("foundation", &f.foundation),
        ("token", &f.token),
        ("links", &f.links),
        ("exposure", &f.exposure),
    ] {
        if !list.is_empty() {
            stage_root(files, stage, list.iter().map(up).collect());
        }
    }
    let release =
        |ch: &'_ Chart<'_>| format!("{}-{}-{}", object_name(&mesh.mesh_id), c.name, ch.chart);
    let mut chart_stages: Vec<(&str, Vec<&Chart>)> = Vec::new();
    if !f.charts.is_empty() {
        chart_stages.push(("istio", f.charts.iter().collect()));
    }
    if let Some(gw) = &f.gateway {
        chart_stages.push(("gateway", vec![gw]));
    }
    for (stage, charts) in chart_stages {
        let mut releases = Vec::new();
        let mut prev: Option<String> = None;
        for ch in &charts {
            let rname = release(ch);
            releases.push(Release {
                name: rname.clone(),
                release: &ch.release,
                chart: ch.chart,
                depends_on: prev.replace(rname),
                create_namespace: ch.chart == "base",
                skip_schema: ch.skip_schema,
                values: ch.values,
            });
        }
        let chain: Vec<&str> = charts.iter().map(|ch| ch.chart).collect();
        stage_root(files, stage, vec!["helmreleases.yaml".into()]);
        files.add(
            format!("{}/helmreleases.yaml", stage_dir(stage)),
            cluster,
            "gitops/flux-helmreleases.yaml.j2",
            HelmReleases {
                namespace: &fx.namespace,
                kubeconfig_secret: &kubeconfig_secret,
                // validate guarantees a version whenever `gitops.flux` is set
                chart_version: mesh.charts.version.as_deref().unwrap_or_default(),
                charts_source: charts_source_name(&mesh.mesh_id),
                releases,
                chain: chain.join(" → "),
            },
        );
    }
}
