//! Overrides reach every consumer of the values they override: the Helm values files, the
//! Flux HelmReleases and the Sail `Istio` CR made from them, the IstioOperator files; a
//! cluster's own override wins over the mesh-wide one, and other clusters keep theirs.

mod common;

use common::*;
use serde_json::Value;

fn rendered() -> std::collections::BTreeMap<String, Vec<u8>> {
    let case = root().join("tests/cases/overrides-internal-lb");
    let spec = std::fs::read_to_string(case.join("spec.yaml")).unwrap();
    let spec = spec
        .replace("  tag: 1.28.1\n", "  tag: 1.28.1\n  sail: {}\n")
        .replace(
            "secrets:\n",
            "gitops:\n  repoURL: https://git.example.com/mesh.git\n  flux: {}\nsecrets:\n",
        );
    let d = tempfile::tempdir().unwrap();
    for sub in ["pki", "creds"] {
        copy_dir(&case.join(sub), &d.path().join(sub));
    }
    std::fs::write(d.path().join("spec.yaml"), spec).unwrap();
    render_spec(&d.path().join("spec.yaml"))
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

fn docs(files: &std::collections::BTreeMap<String, Vec<u8>>, path: &str) -> Vec<Value> {
    let bytes = files.get(path).unwrap_or_else(|| {
        panic!(
            "{path} not rendered: {:?}",
            files.keys().collect::<Vec<_>>()
        )
    });
    yaml_docs(std::str::from_utf8(bytes).unwrap())
}

#[test]
fn overrides_reach_helm_flux_sail_and_istiooperator() {
    let files = rendered();
    let istiod = &docs(&files, "clusters/cluster1/install/helm/istiod.values.yaml")[0];
    assert_eq!(istiod["replicaCount"], 2);
    assert_eq!(
        istiod["meshConfig"]["accessLogEncoding"], "TEXT",
        "the cluster wins"
    );
    assert_eq!(istiod["meshConfig"]["accessLogFile"], "/dev/stdout");
    assert_eq!(
        istiod["global"]["network"], "network1",
        "derived values stay"
    );
    let remote = &docs(&files, "clusters/cluster2/install/helm/istiod.values.yaml")[0];
    assert_eq!(
        remote["meshConfig"]["accessLogEncoding"], "JSON",
        "mesh-wide"
    );
    assert!(remote.get("replicaCount").is_none(), "cluster1's own only");
    for c in ["cluster1", "cluster2"] {
        let gw = &docs(
            &files,
            &format!("clusters/{c}/install/helm/eastwest-gateway.values.yaml"),
        )[0];
        assert_eq!(
            gw["service"]["annotations"]["service.beta.kubernetes.io/aws-load-balancer-scheme"],
            "internal"
        );
        let iop = &docs(
            &files,
            &format!("clusters/{c}/install/eastwest-gateway.yaml"),
        )[0];
        assert_eq!(
            iop["spec"]["values"]["gateways"]["istio-ingressgateway"]["serviceAnnotations"]["service.beta.kubernetes.io/aws-load-balancer-scheme"],
            "internal"
        );
        assert_eq!(
            iop["spec"]["components"]["ingressGateways"][0]["name"],
            "istio-eastwestgateway"
        );
    }
    let iop = &docs(&files, "clusters/cluster1/install/istiooperator.yaml")[0];
    assert_eq!(iop["spec"]["components"]["pilot"]["k8s"]["replicaCount"], 2);
    assert_eq!(iop["spec"]["meshConfig"]["accessLogEncoding"], "TEXT");
    assert_eq!(
        iop["spec"]["values"]["global"]["multiCluster"]["clusterName"],
        "cluster1"
    );
    // Sail: the chart's flattened keys are the Sail API's pilot.*
    let sail = docs(&files, "clusters/cluster1/install/sail/istio.yaml");
    let istio = sail
        .iter()
        .find(|d| d["kind"] == "Istio")
        .expect("an Istio CR");
    assert_eq!(istio["spec"]["values"]["pilot"]["replicaCount"], 2);
    assert_eq!(
        istio["spec"]["values"]["meshConfig"]["accessLogEncoding"],
        "TEXT"
    );
    // Flux: the HelmRelease of istiod carries the same values
    let flux: Vec<(String, Value)> = files
        .iter()
        .filter(|(p, _)| p.contains("flux") && p.ends_with(".yaml"))
        .flat_map(|(p, b)| {
            yaml_docs(std::str::from_utf8(b).unwrap())
                .into_iter()
                .map(move |d| (p.clone(), d))
        })
        .filter(|(_, d)| d["kind"] == "HelmRelease" && d["spec"]["values"]["replicaCount"] == 2)
        .collect();
    assert_eq!(
        flux.len(),
        1,
        "one istiod HelmRelease (cluster1) has the override"
    );
    assert_eq!(
        flux[0].1["spec"]["values"]["meshConfig"]["accessLogEncoding"],
        "TEXT"
    );
}
