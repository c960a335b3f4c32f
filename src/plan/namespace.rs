//! `namespace.yaml`: the `istio-system` Namespace, with the network label (multi-network)
//! and, on a remote from Istio 1.16, the `controlPlaneClusters` annotation.

use serde::Serialize;

use super::{Applied, ClusterFiles, Ctx, KeyValue, kv};
use crate::model::Role;

#[derive(Serialize)]
struct Namespace {
    labels: Vec<KeyValue>,
    annotations: Vec<KeyValue>,
}

pub(super) fn plan(x: &Ctx, out: &mut ClusterFiles) {
    let c = out.c;
    let mut labels = Vec::new();
    if x.topo.multi_network {
        labels.push(("topology.istio.io/network", c.network.clone()));
    }
    let mut annotations = Vec::new();
    if let Role::Remote { control_plane } = &c.role
        && x.mesh.version.has_control_plane_clusters_annotation()
    {
        annotations.push((
            "topology.istio.io/controlPlaneClusters",
            control_plane.clone(),
        ));
    }
    if x.mesh.gitops.is_some() {
        // Argo CD: the namespace before everything else of the cluster; neither Argo CD nor
        // Flux ever deletes it (with it would go `cacerts`, and istiod's CA with it).
        annotations.push(("argocd.argoproj.io/sync-wave", "-2".to_owned()));
        annotations.push((
            "argocd.argoproj.io/sync-options",
            "Prune=false,Delete=false".to_owned(),
        ));
        annotations.push(("kustomize.toolkit.fluxcd.io/prune", "disabled".to_owned()));
    }
    out.add(
        "namespace.yaml",
        "namespace.yaml.j2",
        Applied::Cluster,
        Namespace {
            labels: kv(&labels),
            annotations: kv(&annotations),
        },
    );
}
