//! `gitops/`: an Argo CD ApplicationSet over `clusters/*`, and Flux objects per cluster (the
//! Istio Helm releases chained base → istiod → east-west gateway, then the cluster's files).

use serde::Serialize;
use serde_json::Value;

use super::helm::ClusterHelm;
use super::names::object_name;
use super::{Applied, HEADER, PlannedFile, context};
use crate::model::{Cluster, Flux, Gitops, Mesh};

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

#[derive(Serialize)]
struct ApplicationSet<'a> {
    name: String,
    namespace: &'a str,
    project: &'a str,
    repo_url: &'a str,
    revision: &'a str,
    clusters_glob: String,
    cluster_names: String,
    app_name: String,
}

pub(super) fn plan(
    mesh: &Mesh,
    g: &Gitops,
    helm: &[(&Cluster, Option<ClusterHelm>)],
    out: &mut Vec<PlannedFile>,
) {
    let mut files = Files { mesh, out };
    if let Some(a) = &g.argocd {
        let names: Vec<&str> = mesh.clusters.iter().map(|c| c.name.as_str()).collect();
        files.add(
            "gitops/argocd/applicationset.yaml".into(),
            None,
            "gitops/applicationset.yaml.j2",
            ApplicationSet {
                name: format!("{}-clusters", object_name(&mesh.mesh_id)),
                namespace: &a.namespace,
                project: &a.project,
                repo_url: &g.repo_url,
                revision: &g.revision,
                clusters_glob: g.repo_path("clusters/*"),
                cluster_names: names.join(", "),
                app_name: format!("{}-{{{{ .path.basename }}}}", object_name(&mesh.mesh_id)),
            },
        );
    }
    if let Some(fx) = &g.flux {
        plan_flux(&mut files, g, fx, helm);
    }
}

#[derive(Serialize)]
struct Sources<'a> {
    namespace: &'a str,
    name: String,
    url: &'a str,
    oci: bool,
}

#[derive(Serialize)]
struct Index<'a> {
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

fn plan_flux(files: &mut Files, g: &Gitops, fx: &Flux, helm: &[(&Cluster, Option<ClusterHelm>)]) {
    files.add(
        "gitops/flux/sources.yaml".into(),
        None,
        "gitops/flux-sources.yaml.j2",
        Sources {
            namespace: &fx.namespace,
            name: charts_source_name(&files.mesh.mesh_id),
            url: &files.mesh.charts.repository,
            oci: files.mesh.charts.is_oci(),
        },
    );
    let mut clusters = Vec::new();
    for (c, h) in helm {
        if let Some(h) = h {
            plan_flux_cluster(files, g, fx, c, h);
            clusters.push(format!("{}.yaml", c.name));
        }
    }
    clusters.sort();
    let mut resources = vec!["sources.yaml".to_owned()];
    resources.extend(clusters);
    files.add(
        "gitops/flux/kustomization.yaml".into(),
        None,
        "gitops/flux-index.yaml.j2",
        Index {
            resources,
            path: g.repo_path("gitops/flux"),
            source_kind: &fx.source_kind,
            source_name: &fx.source_name,
        },
    );
}

#[derive(Serialize)]
struct FluxCluster<'a> {
    namespace: &'a str,
    istio_name: &'a str,
    mesh_name: String,
    kubeconfig_secret: &'a str,
    releases_path: String,
    cluster_path: String,
    source_kind: &'a str,
    source_name: &'a str,
}

#[derive(Serialize)]
struct ReleasesIndex<'a> {
    istio_name: &'a str,
}

#[derive(Serialize)]
struct Release<'a> {
    name: String,
    release: &'static str,
    chart: &'static str,
    depends_on: Option<String>,
    create_namespace: bool,
    /// The gateway chart of this release has a broken schema (ISTIO-FACTS §9.1 #7).
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

fn plan_flux_cluster(files: &mut Files, g: &Gitops, fx: &Flux, c: &Cluster, h: &ClusterHelm) {
    let mesh_name = object_name(&files.mesh.mesh_id);
    let istio_name = format!("{mesh_name}-{}-istio", c.name);
    let kubeconfig_secret = format!("{}-kubeconfig", c.name);
    let cluster = Some(c.name.as_str());
    files.add(
        format!("gitops/flux/{}.yaml", c.name),
        cluster,
        "gitops/flux-cluster.yaml.j2",
        FluxCluster {
            namespace: &fx.namespace,
            istio_name: &istio_name,
            mesh_name: format!("{mesh_name}-{}", c.name),
            kubeconfig_secret: &kubeconfig_secret,
            releases_path: format!(
                "./{}",
                g.repo_path(&format!("gitops/flux/clusters/{}", c.name))
            ),
            cluster_path: format!("./{}", g.repo_path(&format!("clusters/{}", c.name))),
            source_kind: &fx.source_kind,
            source_name: &fx.source_name,
        },
    );
    let base = format!("{}-istio-base", c.name);
    let istiod = format!("{}-istiod", c.name);
    let mut releases = vec![
        Release {
            name: base.clone(),
            release: "istio-base",
            chart: "base",
            depends_on: None,
            create_namespace: true,
            skip_schema: false,
            values: &h.base,
        },
        Release {
            name: istiod.clone(),
            release: "istiod",
            chart: "istiod",
            depends_on: Some(base),
            create_namespace: false,
            skip_schema: false,
            values: &h.istiod,
        },
    ];
    let mut chain = vec!["base", "istiod"];
    let mut last = istiod;
    if let Some(a) = &h.ambient {
        // The ambient node agents after istiod: cni, then ztunnel (Istio's Helm order).
        for (release, chart, values) in [
            ("istio-cni", "cni", &a.cni),
            ("ztunnel", "ztunnel", &a.ztunnel),
        ] {
            let name = format!("{}-{release}", c.name);
            releases.push(Release {
                name: name.clone(),
                release,
                chart,
                depends_on: Some(last),
                create_namespace: false,
                skip_schema: false,
                values,
            });
            chain.push(chart);
            last = name;
        }
    }
    if let Some(gw) = &h.gateway {
        releases.push(Release {
            name: format!("{}-istio-eastwestgateway", c.name),
            release: "istio-eastwestgateway",
            chart: "gateway",
            depends_on: Some(last),
            create_namespace: false,
            skip_schema: files
                .mesh
                .version
                .gateway_chart_schema_broken(files.mesh.charts.version.as_deref()),
            values: gw,
        });
        chain.push("east-west gateway");
    }
    files.add(
        format!("gitops/flux/clusters/{}/kustomization.yaml", c.name),
        cluster,
        "gitops/flux-releases-index.yaml.j2",
        ReleasesIndex {
            istio_name: &istio_name,
        },
    );
    files.add(
        format!("gitops/flux/clusters/{}/helmreleases.yaml", c.name),
        cluster,
        "gitops/flux-helmreleases.yaml.j2",
        HelmReleases {
            namespace: &fx.namespace,
            kubeconfig_secret: &kubeconfig_secret,
            // validate guarantees a version whenever `gitops.flux` is set
            chart_version: files.mesh.charts.version.as_deref().unwrap_or_default(),
            charts_source: charts_source_name(&files.mesh.mesh_id),
            releases,
            chain: chain.join(" → "),
        },
    );
}
