//! `kustomization.yaml`: every file of the cluster planned as applied, sorted. (The GitOps
//! ordering annotations live in the namespace and `cacerts` files themselves.)

use serde::Serialize;

use super::{Applied, ClusterFiles};

#[derive(Serialize)]
struct Kustomization {
    resources: Vec<String>,
}

pub(super) fn plan(out: &mut ClusterFiles) {
    let mut resources = out.applied(Applied::Cluster, "");
    resources.sort();
    out.add(
        "kustomization.yaml",
        "kustomization.yaml.j2",
        Applied::No,
        Kustomization { resources },
    );
}
