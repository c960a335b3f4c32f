//! `kustomization.yaml`: every file of the cluster planned as applied, sorted, with the
//! GitOps ordering patches (namespace, then `cacerts`) when the mesh has `gitops`.

use serde::Serialize;

use super::{Applied, ClusterFiles};
use crate::model::{Mesh, SecretsMode};

#[derive(Serialize)]
struct Kind {
    api: &'static str,
    kind: &'static str,
}

#[derive(Serialize)]
struct Kustomization {
    resources: Vec<String>,
    wave_patches: bool,
    cacerts: Option<Kind>,
}

pub(super) fn plan(mesh: &Mesh, out: &mut ClusterFiles) {
    let mut resources = out.applied(Applied::Cluster, "");
    resources.sort();
    let cacerts = out.f.runs_istiod.then_some(match mesh.secrets {
        SecretsMode::ExternalSecrets { .. } => Kind {
            api: "external-secrets.io/v1",
            kind: "ExternalSecret",
        },
        _ => Kind {
            api: "v1",
            kind: "Secret",
        },
    });
    out.add(
        "kustomization.yaml",
        "kustomization.yaml.j2",
        Applied::No,
        Kustomization {
            resources,
            wave_patches: mesh.gitops.is_some(),
            cacerts,
        },
    );
}
