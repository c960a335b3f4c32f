//! `verify/`: the verification bundle of Istio's guide (helloworld v1/v2 alternating over
//! the clusters, and a client), with its own kustomization.

use serde::Serialize;

use super::names::helloworld_version;
use super::{Applied, ClusterFiles};
use crate::model::Mesh;

#[derive(Serialize)]
struct Namespace {
    injection_label: &'static str,
    injection_value: String,
}

#[derive(Serialize)]
struct Helloworld {
    version: &'static str,
    image: String,
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
    let (injection_label, injection_value) = match &mesh.revision {
        Some(r) => ("istio.io/rev", r.clone()),
        None => ("istio-injection", "enabled".to_owned()),
    };
    let version = helloworld_version(mesh, out.c);
    let client = v.verify_client();
    out.add(
        "verify/namespace.yaml",
        "verify/namespace.yaml.j2",
        Applied::Verify,
        Namespace {
            injection_label,
            injection_value,
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
