//! `gitops/`: Argo CD and Flux objects that install and connect the whole mesh from Git
//! (DESIGN §8), Istio's charts included.
//!
//! Both consumers get the same graph, computed here once. Per cluster three stages:
//! *foundation* (`namespace.yaml`, `cacerts.yaml`), *istio* (the charts `base` → `istiod`
//! (→ `cni` → `ztunnel`) → east-west `gateway`, with the values of `install/helm/`), *mesh*
//! (everything else of `clusters/<name>/`: exposure, reader token, remote secrets, the ambient
//! east-west Gateway). The arrows: foundation → istio → mesh in each cluster; a remote's
//! foundation (its namespace carries `topology.istio.io/controlPlaneClusters`, which istiod
//! reads once, when it registers the remote's secret: ISTIO-FACTS §9.1 #2) → its primary's
//! mesh (which holds the remote secret); a primary's mesh (istiod exposed) → its remotes'
//! istio (their gateway pods are injected by the primary).
//!
//! Argo CD: one root Application (`gitops/argocd/root.yaml`, applied once) over
//! `gitops/argocd/apps/`, with one Application per stage and chart, ordered by sync waves =
//! the longest path to it in the graph. Flux: per cluster three Kustomizations chained with
//! `dependsOn` and `wait`, whose paths are kustomization roots under `gitops/flux/clusters/`
//! (foundation and mesh reference the files of `clusters/<name>/`: Flux builds without
//! kustomize's load restrictions, inside the source). Every object is named after the meshID.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::helm::ClusterHelm;
use super::names::object_name;
use super::{Applied, Ctx, HEADER, PlannedFile, context};
use crate::model::{Cluster, Gitops, Mesh};

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
    /// Applied files of `clusters/<name>/` in the foundation stage, and the rest.
    foundation: Vec<String>,
    rest: Vec<String>,
    charts: Vec<Chart<'a>>,
    /// The primary of a remote.
    primary: Option<&'a str>,
    /// The remotes this primary serves.
    serves: &'a [String],
}

/// A node of the convergence graph.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Node {
    Foundation(String),
    Chart(String, usize),
    Mesh(String),
}

/// The arrows into each node (app-level, as Argo CD orders them).
fn graph(flows: &[ClusterFlow]) -> BTreeMap<Node, Vec<Node>> {
    let mut preds: BTreeMap<Node, Vec<Node>> = BTreeMap::new();
    for f in flows {
        let name = f.c.name.clone();
        preds.entry(Node::Foundation(name.clone())).or_default();
        let mut last = Node::Foundation(name.clone());
        for i in 0..f.charts.len() {
            let mut p = vec![last.clone()];
            if i == 0
                && let Some(primary) = f.primary
            {
                p.push(Node::Mesh(primary.to_owned()));
            }
            preds.insert(Node::Chart(name.clone(), i), p);
            last = Node::Chart(name.clone(), i);
        }
        let mut p = vec![last];
        p.extend(f.serves.iter().map(|r| Node::Foundation(r.clone())));
        preds.insert(Node::Mesh(name), p);
    }
    preds
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
    out: &mut Vec<PlannedFile>,
) {
    let mesh = x.mesh;
    let flows: Vec<ClusterFlow> = helm
        .iter()
        .map(|(c, h)| cluster_flow(x, c, h.as_ref(), out))
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
    planned: &[PlannedFile],
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
    let (foundation, rest) = applied
        .into_iter()
        .partition(|p| FOUNDATION.contains(&p.as_str()));
    let mut charts = Vec::new();
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
            charts.push(Chart {
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
        rest,
        charts,
        primary: c.control_plane(),
        serves: &f.serves,
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
    path: String,
    include: Option<String>,
    exclude: Option<String>,
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
    for f in flows {
        let name = &f.c.name;
        let cluster_path = g.repo_path(&format!("clusters/{name}"));
        let mut apps = vec![App {
            name: format!("{mesh_name}-{name}-foundation"),
            wave: wave[&Node::Foundation(name.clone())],
            directory: Some(Directory {
                path: cluster_path.clone(),
                include: Some(glob(&f.foundation)),
                exclude: None,
            }),
            chart: None,
            ignore_webhooks: false,
        }];
        for (i, ch) in f.charts.iter().enumerate() {
            apps.push(App {
                name: format!("{mesh_name}-{name}-{}", ch.chart),
                wave: wave[&Node::Chart(name.clone(), i)],
                directory: None,
                chart: Some(AppChart {
                    repo_url: argocd_chart_repo(mesh),
                    chart: ch.chart,
                    // validate guarantees a chart version when Helm values exist and GitOps
                    // installs them; an empty one is refused by Argo CD, never guessed
                    version: mesh.charts.version.clone().unwrap_or_default(),
                    release: ch.release.clone(),
                    skip_schema: ch.skip_schema,
                    values: ch.values.clone(),
                }),
                // istiod rewrites the webhooks the base and istiod charts create
                ignore_webhooks: matches!(ch.chart, "base" | "istiod"),
            });
        }
        let mut exclude = f.foundation.clone();
        exclude.push("kustomization.yaml".into());
        apps.push(App {
            name: format!("{mesh_name}-{name}-mesh"),
            wave: wave[&Node::Mesh(name.clone())],
            directory: Some(Directory {
                path: cluster_path,
                include: None,
                exclude: Some(glob(&exclude)),
            }),
            chart: None,
            ignore_webhooks: false,
        });
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
        },
    );
    let mut resources = vec!["sources.yaml".to_owned()];
    for f in flows {
        plan_flux_cluster(files, g, fx, f);
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
    /// Applied to the cluster through its kubeconfig (not to the Flux cluster).
    remote: bool,
    depends_on: Vec<String>,
    timeout: &'static str,
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

fn plan_flux_cluster(files: &mut Files, g: &Gitops, fx: &crate::model::Flux, f: &ClusterFlow) {
    let mesh = files.mesh;
    let c = f.c;
    let cluster = Some(c.name.as_str());
    let kubeconfig_secret = format!("{}-kubeconfig", c.name);
    let stage_dir = |stage: &str| format!("gitops/flux/clusters/{}/{stage}", c.name);
    let name = |cluster: &str, stage: &str| flux_name(&mesh.mesh_id, cluster, stage);
    let mut istio_after = vec![name(&c.name, "foundation")];
    if let Some(p) = f.primary {
        istio_after.push(name(p, "mesh"));
    }
    let mut mesh_after = vec![name(&c.name, "istio")];
    mesh_after.extend(f.serves.iter().map(|r| name(r, "foundation")));
    let stages = vec![
        Stage {
            name: name(&c.name, "foundation"),
            path: format!("./{}", g.repo_path(&stage_dir("foundation"))),
            remote: true,
            depends_on: Vec::new(),
            timeout: "5m",
        },
        Stage {
            name: name(&c.name, "istio"),
            path: format!("./{}", g.repo_path(&stage_dir("istio"))),
            remote: false,
            depends_on: istio_after,
            timeout: "15m",
        },
        Stage {
            name: name(&c.name, "mesh"),
            path: format!("./{}", g.repo_path(&stage_dir("mesh"))),
            remote: true,
            depends_on: mesh_after,
            timeout: "5m",
        },
    ];
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
    // The foundation and mesh roots list the files of clusters/<name>/ (from 5 levels down).
    let up = |rel: &String| format!("../../../../../clusters/{}/{rel}", c.name);
    for (stage, list) in [("foundation", &f.foundation), ("mesh", &f.rest)] {
        files.add(
            format!("{}/kustomization.yaml", stage_dir(stage)),
            cluster,
            "gitops/flux-stage.yaml.j2",
            StageRoot {
                name: name(&c.name, stage),
                resources: list.iter().map(up).collect(),
            },
        );
    }
    files.add(
        format!("{}/kustomization.yaml", stage_dir("istio")),
        cluster,
        "gitops/flux-stage.yaml.j2",
        StageRoot {
            name: name(&c.name, "istio"),
            resources: vec!["helmreleases.yaml".into()],
        },
    );
    let mut releases = Vec::new();
    let mut prev: Option<String> = None;
    for ch in &f.charts {
        let rname = format!("{}-{}-{}", object_name(&mesh.mesh_id), c.name, ch.chart);
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
    let chain: Vec<&str> = f.charts.iter().map(|ch| ch.chart).collect();
    files.add(
        format!("{}/helmreleases.yaml", stage_dir("istio")),
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
