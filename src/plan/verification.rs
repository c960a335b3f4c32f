//! `verify/`: the verification bundle of Istio's guide (helloworld v1/v2 alternating over
//! the clusters, and a client), with its own kustomization.

use serde::Serialize;

use super::names::helloworld_version;
use super::{Applied, ClusterFiles, KeyValue, kv};
use crate::model::{Dataplane, Mesh};

#[derive(Serialize)]
struct Namespace {
    labels: Vec<KeyValue>,
}

#[derive(Serialize)]
struct Helloworld {
    version: &'static str,
    image: String,
    /// Ambient: the Service is shared across clusters only with `istio.io/global: "true"`.
    global: bool,
}

#[derive(Serialize)]
struct Client {
    client: &'static str,
    client_image: &'static str,
}

#[derive(Serialize)]
struct Kustomization {
    resources: Vec<String>,
}

pub(super) fn plan(mesh: &Mesh, out: &mut ClusterFiles) {
    let v = mesh.version;
    let ambient = mesh.dataplane == Dataplane::Ambient;
    // Sidecars: injection by revision or by `istio-injection`; ambient: the namespace joins
    // the ambient data plane (and names its revision, which runs its waypoints).
    let mut labels = Vec::new();
    if ambient {
        labels.push(("istio.io/dataplane-mode", "ambient".to_owned()));
    }
    match &mesh.revision {
        Some(r) => labels.push(("istio.io/rev", r.clone())),
        None if !ambient => labels.push(("istio-injection", "enabled".to_owned())),
        None => {}
    }
    let version = helloworld_version(mesh, out.c);
    let client = v.verify_client();
    out.add(
        "verify/namespace.yaml",
        "verify/namespace.yaml.j2",
        Applied::Verify,
        Namespace {
            labels: kv(&labels),
        },
    );
    out.add(
        format!("verify/{client}.yaml"),
        "verify/client.yaml.j2",
        Applied::Verify,
        Client {
            client,
            client_image: "docker.io/curlimages/curl:8.16.0",
        },
    );
    out.add(
        "verify/helloworld.yaml",
        "verify/helloworld.yaml.j2",
        Applied::Verify,
        Helloworld {
            version,
            image: v.helloworld_image(version),
            global: ambient,
        },
    );
    // The namespace first, then the client, then the service (the order of Istio's guide).
    let resources = out.applied(Applied::Verify, "verify/");
    out.add(
        "verify/kustomization.yaml",
        "verify/kustomization.yaml.j2",
        Applied::No,
        Kustomization { resources },
    );
}
