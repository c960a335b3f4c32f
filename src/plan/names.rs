//! Names the planner derives from the topology: Services, object names, store keys, paths.

use crate::model::{Cluster, Mesh};

/// The name of the istiod Service, with the revision suffix when there is one.
pub(crate) fn istiod_service(mesh: &Mesh) -> String {
    match &mesh.revision {
        Some(r) => format!("istiod-{r}"),
        None => "istiod".to_owned(),
    }
}

/// The IstioOperator's `metadata.name`, with the revision suffix when there is one.
pub(crate) fn operator_name(mesh: &Mesh) -> String {
    match &mesh.revision {
        Some(r) => format!("control-plane-{r}"),
        None => "control-plane".to_owned(),
    }
}

/// `/inject/cluster/<id>/net/<network>`: how a remote's webhook reaches the primary's injector.
pub(crate) fn injection_path(c: &Cluster) -> String {
    format!("/inject/cluster/{}/net/{}", c.name, c.network)
}

/// Remote-store key of a cluster's material: `<keyPrefix>/<cluster>/<what>`.
pub(crate) fn remote_key(prefix: &str, cluster: &str, what: &str) -> String {
    format!("{prefix}/{cluster}/{what}")
}

/// `meshID` (a label value: may hold `_`, `.` and upper case) as the start of a Kubernetes
/// object name: lower case, anything else than `[a-z0-9-]` turned into `-`.
pub(crate) fn object_name(mesh_id: &str) -> String {
    let s: String = mesh_id
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9') => c,
            _ => '-',
        })
        .collect();
    s.trim_matches('-').to_owned()
}

/// The helloworld version a cluster runs: v1 on the first cluster, v2 on the second, alternating.
pub(crate) fn helloworld_version(mesh: &Mesh, c: &Cluster) -> &'static str {
    let i = mesh
        .clusters
        .iter()
        .position(|x| x.name == c.name)
        .unwrap_or(0);
    if i % 2 == 0 { "v1" } else { "v2" }
}

#[cfg(test)]
mod tests {
    #[test]
    fn mesh_ids_become_object_names() {
        assert_eq!(super::object_name("Prod_Mesh.1"), "prod-mesh-1");
        assert_eq!(super::object_name("mesh1"), "mesh1");
    }
}
