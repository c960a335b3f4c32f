//! Rendered output compared with Istio's own files in `../shared/istio-reference/` (what
//! `gen-eastwest-gateway.sh` prints, the `samples/multicluster/expose-*.yaml` files) and with
//! the exact shape `istioctl create-remote-secret` prints (shared/ISTIO-FACTS.md §2.1).
//!
//! Inputs are the specs under `tests/reference-specs/<name>/`, which follow Istio's install
//! guides (cluster1/network1, cluster2/network2, mesh1). Each test derives variants of them
//! (another Istio version, a revision, external-secrets mode) with [`render_variant`].
//! Comparisons are of YAML data (comments and key order do not matter).
//!
//! When `../shared` is absent the tests that need it print a skip message and pass.

mod common;
mod variants;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use base64::Engine as _;
use serde_json::{Value, json};

use common::*;
use variants::*;

fn text(files: &Tree, rel: &str) -> String {
    let bytes = files.get(rel).unwrap_or_else(|| {
        panic!(
            "{rel} was not rendered; rendered files:\n  {}",
            files.keys().cloned().collect::<Vec<_>>().join("\n  ")
        )
    });
    String::from_utf8(bytes.clone()).unwrap()
}

fn docs(files: &Tree, rel: &str) -> Vec<Value> {
    yaml_docs(&text(files, rel))
}

fn single(files: &Tree, rel: &str) -> Value {
    let mut d = docs(files, rel);
    assert_eq!(d.len(), 1, "{rel}: exactly one document");
    d.remove(0)
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap() + "\n"
}

/// Asserts data equality, showing a diff (- expected, + rendered) when they differ.
fn assert_same(got: &Value, want: &Value, what: &str) {
    if got != want {
        let (w, g) = (pretty(want), pretty(got));
        let diff = similar::TextDiff::from_lines(&w, &g);
        panic!(
            "{what}: rendered data differs from the reference (- reference, + rendered):\n{}",
            diff.unified_diff().context_radius(3)
        );
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

// ---------------------------------------------------------------------------------------
// a. East-west gateway vs gen-eastwest-gateway.sh
// ---------------------------------------------------------------------------------------

fn eastwest_ref(shared: &Path, rel: &str) -> Value {
    let mut d = yaml_file(&shared.join("istio-reference/eastwest-out").join(rel));
    assert_eq!(d.len(), 1, "{rel}: one document");
    d.remove(0)
}

fn eastwest(files: &Tree, cluster: &str) -> Value {
    single(
        files,
        &format!("clusters/{cluster}/install/eastwest-gateway.yaml"),
    )
}

/// The brief's versions first; then every version whose script prints the 1.12+ shape (the
/// reference was printed by the master script; eastwest-out/README.md lists no change to
/// the `--network` output between 1.12 and master).
#[test]
fn eastwest_gateway_equals_gen_eastwest_gateway_output_from_1_12() {
    let Some(shared) = shared() else { return };
    let want1 = eastwest_ref(&shared, "cluster1-network1.yaml");
    let want2 = eastwest_ref(&shared, "cluster2-network2.yaml");
    let mut versions: Vec<String> = vec!["1.31".into(), "1.22".into(), "1.28".into()];
    versions.extend((12..=31).map(|m| format!("1.{m}")));
    for v in &versions {
        let files = render_variant(MULTI_PRIMARY, version(v));
        assert_same(
            &eastwest(&files, "cluster1"),
            &want1,
            &format!("Istio {v}: cluster1 eastwest-gateway.yaml vs cluster1-network1.yaml"),
        );
        assert_same(
            &eastwest(&files, "cluster2"),
            &want2,
            &format!("Istio {v}: cluster2 eastwest-gateway.yaml vs cluster2-network2.yaml"),
        );
    }
}

/// Primary-remote on two networks (1.16+): the guide generates both gateways with
/// `--network <its network>`, the remote's included.
#[test]
fn eastwest_gateway_of_primary_and_remote_equals_script_output() {
    let Some(shared) = shared() else { return };
    let want1 = eastwest_ref(&shared, "cluster1-network1.yaml");
    let want2 = eastwest_ref(&shared, "cluster2-network2.yaml");
    for v in ["1.16", "1.24", "1.31"] {
        let files = render_variant(PRIMARY_REMOTE, version(v));
        assert_same(
            &eastwest(&files, "cluster1"),
            &want1,
            &format!("{v} cluster1"),
        );
        assert_same(
            &eastwest(&files, "cluster2"),
            &want2,
            &format!("{v} cluster2"),
        );
    }
}

#[test]
fn eastwest_gateway_with_revision_equals_script_output_with_revision() {
    let Some(shared) = shared() else { return };
    let want1 = eastwest_ref(&shared, "cluster1-network1-revision-1-24-0.yaml");
    // README: `--revision` changes only `spec.revision`.
    let mut want2 = eastwest_ref(&shared, "cluster2-network2.yaml");
    want2["spec"]["revision"] = json!("1-24-0");
    for v in ["1.24", "1.28", "1.31"] {
        let files = render_variant(MULTI_PRIMARY, |s| {
            s["istio"]["version"] = json!(v);
            s["istio"]["revision"] = json!("1-24-0");
        });
        assert_same(
            &eastwest(&files, "cluster1"),
            &want1,
            &format!("Istio {v}, revision 1-24-0: cluster1"),
        );
        assert_same(
            &eastwest(&files, "cluster2"),
            &want2,
            &format!("Istio {v}, revision 1-24-0: cluster2"),
        );
    }
}

/// Istio 1.11 (the script then required `--mesh --cluster --network`). Two primaries on two
/// networks, so both clusters get a gateway in every remote model.
#[test]
fn eastwest_gateway_equals_legacy_script_output_for_1_11() {
    let Some(shared) = shared() else { return };
    for (v, dir) in [("1.11", "legacy-1.11.0")] {
        let files = render_variant(MULTI_PRIMARY, version(v));
        for (cluster, file) in [
            ("cluster1", "cluster1-network1.yaml"),
            ("cluster2", "cluster2-network2.yaml"),
        ] {
            assert_same(
                &eastwest(&files, cluster),
                &eastwest_ref(&shared, &format!("{dir}/{file}")),
                &format!("Istio {v}: {cluster} vs {dir}/{file}"),
            );
        }
    }
}

/// 1.9 and 1.10 have no saved output; per eastwest-out/README.md they are the 1.11 shape
/// without `injectionTemplate: gateway` (added in 1.11). 1.8 is the 1.8.6 shape, which is the
/// 1.9 one (ISTIO-FACTS §9.1 #4), not the 1.8.0 script's `mtls`/`tcp-istiod` shape.
#[test]
fn eastwest_gateway_for_1_8_to_1_10_is_the_1_11_shape_without_injection_template() {
    let Some(shared) = shared() else { return };
    let old = eastwest_ref(&shared, "legacy-1.8.0/cluster1-network1.yaml");
    assert!(
        old["spec"].get("revision").is_none(),
        "the 1.8.0 shape has no revision"
    );
    for v in ["1.8", "1.9", "1.10"] {
        let files = render_variant(MULTI_PRIMARY, version(v));
        for (cluster, file) in [
            ("cluster1", "cluster1-network1.yaml"),
            ("cluster2", "cluster2-network2.yaml"),
        ] {
            let mut want = eastwest_ref(&shared, &format!("legacy-1.11.0/{file}"));
            want["spec"]["values"]
                .as_object_mut()
                .unwrap()
                .remove("gateways");
            assert_same(&eastwest(&files, cluster), &want, &format!("{v} {cluster}"));
        }
    }
}

/// A revisioned 1.8 install: the gateway must carry `spec.revision`, or it calls the Service
/// `istiod`, which a revision-only install lacks (ISTIO-FACTS §9.1 #4).
#[test]
fn eastwest_gateway_of_a_revisioned_1_8_install_carries_the_revision() {
    let files = render_variant(MULTI_PRIMARY, |s| {
        s["istio"]["version"] = json!("1.8");
        s["istio"]["revision"] = json!("1-8-6");
    });
    for c in ["cluster1", "cluster2"] {
        assert_eq!(eastwest(&files, c)["spec"]["revision"], "1-8-6", "{c}");
    }
}

/// NodePort environments: the script output plus
/// `values.gateways.istio-ingressgateway.type: NodePort` (ISTIO-FACTS §1.2, istio#49045) and
/// the Service annotation `traffic.istio.io/nodeSelector`, without which istiod does not take
/// a NodePort Service as the network's gateway (ISTIO-FACTS §9.1 #3).
#[test]
fn eastwest_gateway_with_node_port_adds_the_service_type_and_node_selector() {
    let Some(shared) = shared() else { return };
    let mut want = eastwest_ref(&shared, "cluster2-network2.yaml");
    want["spec"]["values"]["gateways"]["istio-ingressgateway"]["type"] = json!("NodePort");
    want["spec"]["components"]["ingressGateways"][0]["k8s"]["serviceAnnotations"] =
        json!({"traffic.istio.io/nodeSelector": "{}"});
    let files = render_variant(MULTI_PRIMARY, |s| {
        s["clusters"][1]["eastWestGateway"]["serviceType"] = json!("NodePort")
    });
    assert_same(&eastwest(&files, "cluster2"), &want, "cluster2 NodePort");
    assert_same(
        &eastwest(&files, "cluster1"),
        &eastwest_ref(&shared, "cluster1-network1.yaml"),
        "cluster1 (LoadBalancer) unchanged",
    );
}

// ---------------------------------------------------------------------------------------
// b. expose-services.yaml / expose-istiod.yaml vs samples/multicluster
// ---------------------------------------------------------------------------------------

/// Versions covering every remote model and both sides of the API version switch.
const EXPOSE_VERSIONS: [&str; 11] = [
    "1.8", "1.11", "1.15", "1.16", "1.21", "1.22", "1.23", "1.24", "1.28", "1.30", "1.31",
];

/// The API version of Istio's samples per release (ISTIO-FACTS §9.2): `networking.istio.io/v1`
/// from 1.24 (served from 1.22, but the samples switched in 1.24), `v1alpha3` before.
fn networking_api(v: &str) -> &'static str {
    if minor(v) >= 24 {
        "networking.istio.io/v1"
    } else {
        "networking.istio.io/v1alpha3"
    }
}

/// The sample's documents with `metadata.namespace: istio-system` (the guides apply them with
/// `-n istio-system`) and the apiVersion the target version must use.
fn sample(shared: &Path, file: &str, v: &str) -> Vec<Value> {
    let mut docs = yaml_file(
        &shared
            .join("istio-reference/samples/multicluster")
            .join(file),
    );
    for d in &mut docs {
        assert_eq!(
            d["apiVersion"], "networking.istio.io/v1",
            "{file}: the master samples use networking.istio.io/v1"
        );
        d["apiVersion"] = json!(networking_api(v));
        d["metadata"]["namespace"] = json!("istio-system");
    }
    docs
}

fn assert_docs_same(got: &[Value], want: &[Value], what: &str) {
    assert_same(&json!(got), &json!(want), what);
}

#[test]
fn expose_services_equals_the_istio_sample_in_istio_system() {
    let Some(shared) = shared() else { return };
    for v in EXPOSE_VERSIONS {
        let want = sample(&shared, "expose-services.yaml", v);
        // A primary serving a remote on multi-network: only the primary exposes services.
        let files = render_variant(PRIMARY_REMOTE, version(v));
        let got = docs(&files, "clusters/cluster1/expose-services.yaml");
        for d in &got {
            assert_eq!(d["apiVersion"], networking_api(v), "Istio {v}: API version");
        }
        assert_docs_same(&got, &want, &format!("Istio {v}: primary-remote cluster1"));
        assert!(
            !files.contains_key("clusters/cluster2/expose-services.yaml"),
            "Istio {v}: the remote's gateway is configured by the primary; no expose-services"
        );
        // Multi-primary on two networks: every primary.
        let files = render_variant(MULTI_PRIMARY, version(v));
        for c in ["cluster1", "cluster2"] {
            let got = docs(&files, &format!("clusters/{c}/expose-services.yaml"));
            assert_docs_same(&got, &want, &format!("Istio {v}: multi-primary {c}"));
        }
    }
}

#[test]
fn expose_istiod_equals_the_istio_sample_in_istio_system() {
    let Some(shared) = shared() else { return };
    for v in EXPOSE_VERSIONS {
        let want = sample(&shared, "expose-istiod.yaml", v);
        let files = render_variant(PRIMARY_REMOTE, version(v));
        let got = docs(&files, "clusters/cluster1/expose-istiod.yaml");
        for d in &got {
            assert_eq!(d["apiVersion"], networking_api(v), "Istio {v}: API version");
        }
        assert_docs_same(&got, &want, &format!("Istio {v}: cluster1 expose-istiod"));
        assert!(!files.contains_key("clusters/cluster2/expose-istiod.yaml"));
        // No primary serves a remote: nobody exposes istiod.
        let files = render_variant(MULTI_PRIMARY, version(v));
        assert!(
            !files.keys().any(|k| k.ends_with("/expose-istiod.yaml")),
            "Istio {v}: multi-primary renders no expose-istiod.yaml"
        );
    }
}

/// The revisioned variant: Istio's `samples/multicluster/expose-istiod-rev.yaml.tmpl`
/// (not among the shared copies, so inlined here; webhook port `tls-istiodwebhook` as the 1.11+
/// template names it, ISTIO-FACTS §9.2) with
/// `{{.Revision}}` = 1-24-0, the `-n istio-system` namespace and the target's apiVersion.
#[test]
fn expose_istiod_with_revision_equals_the_rev_template() {
    let rev = "1-24-0";
    let host = format!("istiod-{rev}.istio-system.svc.cluster.local");
    let sni = json!([format!("istiod-{rev}.istio-system.svc"), host]);
    for v in ["1.21", "1.28", "1.31"] {
        let api = networking_api(v);
        let want = json!([
            {
                "apiVersion": api,
                "kind": "Gateway",
                "metadata": {"name": "istiod-gateway", "namespace": "istio-system"},
                "spec": {
                    "selector": {"istio": "eastwestgateway"},
                    "servers": [
                        {"port": {"name": "tls-istiod", "number": 15012, "protocol": "tls"},
                         "tls": {"mode": "PASSTHROUGH"}, "hosts": ["*"]},
                        {"port": {"name": "tls-istiodwebhook", "number": 15017, "protocol": "tls"},
                         "tls": {"mode": "PASSTHROUGH"}, "hosts": ["*"]},
                    ],
                },
            },
            {
                "apiVersion": api,
                "kind": "VirtualService",
                "metadata": {"name": format!("istiod-vs-{rev}"), "namespace": "istio-system"},
                "spec": {
                    "hosts": ["*"],
                    "gateways": ["istiod-gateway"],
                    "tls": [
                        {"match": [{"port": 15012, "sniHosts": sni}],
                         "route": [{"destination": {"host": host, "port": {"number": 15012}}}]},
                        {"match": [{"port": 15017, "sniHosts": sni}],
                         "route": [{"destination": {"host": host, "port": {"number": 443}}}]},
                    ],
                },
            },
        ]);
        let files = render_variant(PRIMARY_REMOTE, |s| {
            s["istio"]["version"] = json!(v);
            s["istio"]["revision"] = json!(rev);
        });
        let got = json!(docs(&files, "clusters/cluster1/expose-istiod.yaml"));
        assert_same(&got, &want, &format!("Istio {v}, revision {rev}"));
    }
}

// ---------------------------------------------------------------------------------------
// Install inputs and the istio-system Namespace vs the install guides (ISTIO-FACTS §4)
// ---------------------------------------------------------------------------------------

/// Every field of `want` is in `got` with the same value (maps compared recursively).
fn assert_contains(got: &Value, want: &Value, path: &str) {
    match (got, want) {
        (Value::Object(g), Value::Object(w)) => {
            for (k, wv) in w {
                let p = format!("{path}.{k}");
                match g.get(k) {
                    Some(gv) => assert_contains(gv, wv, &p),
                    None => panic!("{p}: missing (want {wv})"),
                }
            }
        }
        _ => assert_eq!(got, want, "{path}"),
    }
}

/// "Install Primary-Remote on different networks" (ISTIO-FACTS §0.2, §0.6, §4.4, §4.5).
#[test]
fn primary_remote_install_inputs_and_namespaces_follow_the_guide() {
    for v in ["1.16", "1.22", "1.23", "1.24", "1.31"] {
        let files = render_variant(PRIMARY_REMOTE, version(v));
        let what = |f: &str| format!("Istio {v}: {f}");
        let primary = single(&files, "clusters/cluster1/install/istiooperator.yaml");
        assert_contains(
            &primary["spec"]["values"]["global"],
            &json!({"meshID": "mesh1", "multiCluster": {"clusterName": "cluster1"}, "network": "network1"}),
            &what("cluster1 IOP values.global"),
        );
        // The "serves remotes" switch (ISTIO-FACTS §9.1 #1): values.global.externalIstiod from
        // 1.24, the pilot env alone before (1.23.0's chart ignores the global value).
        if minor(v) >= 24 {
            assert_eq!(
                primary["spec"]["values"]["global"]["externalIstiod"],
                true,
                "{}",
                what("externalIstiod")
            );
            assert!(
                primary["spec"]["values"].get("pilot").is_none(),
                "{}",
                what("no pilot env")
            );
        } else {
            assert_eq!(
                primary["spec"]["values"]["pilot"]["env"]["EXTERNAL_ISTIOD"],
                true,
                "{}",
                what("values.pilot.env.EXTERNAL_ISTIOD")
            );
            assert!(
                primary["spec"]["values"]["global"]
                    .get("externalIstiod")
                    .is_none(),
                "{}",
                what("no externalIstiod")
            );
        }
        let remote = single(&files, "clusters/cluster2/install/istiooperator.yaml");
        assert_contains(
            &remote["spec"],
            &json!({
                "profile": "remote",
                "values": {
                    "istiodRemote": {"injectionPath": "/inject/cluster/cluster2/net/network2"},
                    "global": {"remotePilotAddress": "192.0.2.10"},
                },
            }),
            &what("cluster2 IOP"),
        );
        assert_same(
            &single(&files, "clusters/cluster1/namespace.yaml"),
            &json!({"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": "istio-system", "labels": {"topology.istio.io/network": "network1"}}}),
            &what("cluster1 namespace.yaml"),
        );
        assert_same(
            &single(&files, "clusters/cluster2/namespace.yaml"),
            &json!({"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": "istio-system",
                                 "labels": {"topology.istio.io/network": "network2"},
                                 "annotations": {"topology.istio.io/controlPlaneClusters": "cluster1"}}}),
            &what("cluster2 namespace.yaml"),
        );
    }
    // Helm values (charts 1.24+), as the guide's --set flags and ISTIO-FACTS §4.5.
    let files = render_variant(PRIMARY_REMOTE, version("1.31"));
    let helm = |c: &str, f: &str| {
        single(
            &files,
            &format!("clusters/{c}/install/helm/{f}.values.yaml"),
        )
    };
    assert_same(
        &helm("cluster1", "istiod"),
        &json!({"global": {"meshID": "mesh1", "multiCluster": {"clusterName": "cluster1"},
                           "network": "network1", "externalIstiod": true}}),
        "cluster1 istiod values",
    );
    assert_same(
        &helm("cluster2", "base"),
        &json!({"profile": "remote"}),
        "cluster2 base values",
    );
    assert_same(
        &helm("cluster2", "istiod"),
        &json!({"profile": "remote",
                "global": {"multiCluster": {"clusterName": "cluster2"}, "network": "network2",
                           "configCluster": true, "remotePilotAddress": "192.0.2.10"},
                "istiodRemote": {"injectionPath": "/inject/cluster/cluster2/net/network2"}}),
        "cluster2 istiod values",
    );
    for (c, net) in [("cluster1", "network1"), ("cluster2", "network2")] {
        assert_same(
            &helm(c, "eastwest-gateway"),
            &json!({"name": "istio-eastwestgateway", "networkGateway": net}),
            &format!("{c} gateway chart values"),
        );
    }
    // 1.15: the guide's istiod-less remote (ISTIO-FACTS §9.2): `profile: external`, the
    // injection path, the annotation, and EXTERNAL_ISTIOD on the primary; no cacerts remote.
    let files = render_variant(PRIMARY_REMOTE, version("1.15"));
    let ns = single(&files, "clusters/cluster2/namespace.yaml");
    assert_eq!(
        ns["metadata"]["annotations"]["topology.istio.io/controlPlaneClusters"], "cluster1",
        "1.15: controlPlaneClusters annotation"
    );
    let remote = single(&files, "clusters/cluster2/install/istiooperator.yaml");
    assert_contains(
        &remote["spec"],
        &json!({
            "profile": "external",
            "values": {
                "istiodRemote": {"injectionPath": "/inject/cluster/cluster2/net/network2"},
                "global": {"remotePilotAddress": "192.0.2.10"},
            },
        }),
        "1.15 cluster2 IOP",
    );
    let primary = single(&files, "clusters/cluster1/install/istiooperator.yaml");
    assert_eq!(
        primary["spec"]["values"]["pilot"]["env"]["EXTERNAL_ISTIOD"], true,
        "1.15 primary EXTERNAL_ISTIOD"
    );
    assert!(!files.contains_key("clusters/cluster2/cacerts.yaml"));
    // 1.10–1.14: the remote runs its own istiod and the guide writes no `profile`.
    for v in ["1.10", "1.14"] {
        let files = render_variant(PRIMARY_REMOTE, version(v));
        let remote = single(&files, "clusters/cluster2/install/istiooperator.yaml");
        assert!(
            remote["spec"].get("profile").is_none(),
            "{v}: no remote profile"
        );
        let ns = single(&files, "clusters/cluster2/namespace.yaml");
        assert!(
            ns["metadata"].get("annotations").is_none(),
            "{v}: no annotation"
        );
    }
    let remote = single(
        &render_variant(PRIMARY_REMOTE, version("1.9")),
        "clusters/cluster2/install/istiooperator.yaml",
    );
    assert_eq!(remote["spec"]["profile"], "remote", "1.9: profile remote");
}

// ---------------------------------------------------------------------------------------
// Replicated control planes (Istio 1.6–1.7) vs the 1.6/1.7 files and docs (ISTIO-FACTS §6)
// ---------------------------------------------------------------------------------------

#[test]
fn replicated_control_planes_install_values_equal_istio_1_6_and_1_7_files() {
    let Some(shared) = shared() else { return };
    for (v, file) in [
        ("1.6", "values-istio-multicluster-gateways.1.6.0.yaml"),
        ("1.7", "values-istio-multicluster-gateways.1.7.0.yaml"),
    ] {
        let mut want = yaml_file(&shared.join("istio-reference/legacy-1.6-1.7").join(file));
        let want = want.remove(0);
        // the 1.6.0 file is rendered for `tag: 1.6.0` only (the patch shape: next test)
        let files = render_variant(FEDERATION, |s| {
            s["istio"]["version"] = json!(v);
            if v == "1.6" {
                s["istio"]["tag"] = json!("1.6.0");
            }
        });
        for c in ["cluster1", "cluster2"] {
            let got = single(&files, &format!("clusters/{c}/install/istiooperator.yaml"));
            assert_eq!(got["apiVersion"], want["apiVersion"], "{v} {c}");
            assert_eq!(got["kind"], want["kind"], "{v} {c}");
            let mut spec = got["spec"].clone();
            spec.as_object_mut().unwrap().remove("tag");
            assert_same(
                &spec,
                &want["spec"],
                &format!("Istio {v}: {c} IOP spec vs {file}"),
            );
        }
    }
}

/// The ServiceEntry of the 1.6/1.7 guide (§6.3), the CoreDNS stub for `global` (§6.4), and
/// nothing of the later models (no east-west gateway, expose files, remote secrets).
#[test]
fn replicated_control_planes_service_entry_and_dns_stub_follow_the_guide() {
    for v in ["1.6", "1.7"] {
        let files = render_variant(FEDERATION, version(v));
        let se_files: Vec<&String> = files
            .keys()
            .filter(|k| k.contains("/federation/") && k.ends_with(".yaml"))
            .collect();
        assert_eq!(
            se_files,
            vec!["clusters/cluster1/federation/httpbin-bar.yaml"],
            "{v}: only the consumer gets the ServiceEntry"
        );
        let se = single(&files, se_files[0]);
        assert_eq!(se["apiVersion"], "networking.istio.io/v1alpha3", "{v}");
        assert_eq!(se["kind"], "ServiceEntry", "{v}");
        let spec = &se["spec"];
        assert_eq!(spec["hosts"], json!(["httpbin.bar.global"]), "{v}");
        assert_eq!(spec["location"], "MESH_INTERNAL", "{v}");
        assert_eq!(
            spec["ports"],
            json!([{"name": "http1", "number": 8000, "protocol": "http"}]),
            "{v}"
        );
        assert_eq!(
            spec["endpoints"],
            json!([{"address": "192.0.2.20", "ports": {"http1": 15443}}]),
            "{v}: cluster2's gateway, port 15443"
        );
        // The guide uses DNS with ${CLUSTER2_GW_ADDR}; STATIC is the exact form for an IP.
        assert!(
            spec["resolution"] == "DNS" || spec["resolution"] == "STATIC",
            "{v}: resolution {}",
            spec["resolution"]
        );
        let addrs = spec["addresses"].as_array().unwrap();
        assert_eq!(addrs.len(), 1, "{v}: one address");
        let ip: std::net::Ipv4Addr = addrs[0].as_str().unwrap().parse().unwrap();
        assert!(
            ip.octets()[0] >= 240 && !ip.is_broadcast(),
            "{v}: {ip} is a class E address, never routed"
        );
        // CoreDNS ≥ 1.4 stub (§6.4), comments aside.
        let stub = text(&files, "clusters/cluster1/federation/coredns-global.server");
        let lines: Vec<&str> = stub
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        assert_eq!(
            lines,
            vec![
                "global:53 {",
                "errors",
                "cache 30",
                "forward . 10.96.0.53:53",
                "}"
            ],
            "{v}: CoreDNS stub"
        );
        for k in files.keys() {
            for absent in [
                "eastwest-gateway",
                "expose-",
                "remote-secret-",
                "reader-token",
            ] {
                assert!(
                    !k.contains(absent),
                    "{v}: {k} does not exist in the 1.6–1.7 model"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// c. Remote secrets (plaintext) vs `istioctl create-remote-secret`
// ---------------------------------------------------------------------------------------

/// What a spec says about one cluster's API server: server URL, CA bundle bytes and the
/// token (file content, trimmed), read from the fixture files, not from meshrender.
struct ApiInputs {
    server: String,
    ca: Vec<u8>,
    token: Option<String>,
}

fn api_inputs(spec_name: &str, cluster: &str) -> ApiInputs {
    let spec = base_spec(spec_name);
    let c = spec["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == cluster)
        .unwrap_or_else(|| panic!("{spec_name}: no cluster {cluster}"));
    let a = &c["apiServer"];
    let dir = spec_dir(spec_name);
    let read = |k: &str| std::fs::read(dir.join(a[k].as_str().unwrap())).unwrap();
    ApiInputs {
        server: a["server"].as_str().unwrap().to_owned(),
        ca: read("caFile"),
        token: a.get("tokenFile").map(|_| {
            String::from_utf8(read("tokenFile"))
                .unwrap()
                .trim()
                .to_owned()
        }),
    }
}

/// The kubeconfig `istioctl create-remote-secret --name <peer>` embeds, byte for byte (k8s
/// serializer: keys sorted; `preferences: {}` up to 1.27).
fn istioctl_kubeconfig(peer: &str, inputs: &ApiInputs, token: &str, legacy: bool) -> String {
    let peer = yaml_string(peer);
    let mut s = format!(
        "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: {}\n    server: {}\n  name: {peer}\ncontexts:\n- context:\n    cluster: {peer}\n    user: {peer}\n  name: {peer}\ncurrent-context: {peer}\nkind: Config\n",
        b64(&inputs.ca),
        inputs.server
    );
    if legacy {
        s.push_str("preferences: {}\n");
    }
    s.push_str(&format!(
        "users:\n- name: {peer}\n  user:\n    token: {token}\n"
    ));
    s
}

/// `s` as go-yaml (the k8s serializer) writes a string: double-quoted where a plain scalar
/// would read as something else (YAML 1.1 booleans, numbers, null).
fn yaml_string(s: &str) -> String {
    const YAML11: [&str; 22] = [
        "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off",
        "OFF", "true", "True", "TRUE", "false", "False", "FALSE",
    ];
    let plain_is_string = yaml_docs(&format!("k: {s}\n"))
        .first()
        .is_some_and(|d| d["k"] == s);
    if !plain_is_string || YAML11.contains(&s) {
        format!("\"{s}\"")
    } else {
        s.to_owned()
    }
}

/// Checks one rendered plaintext remote secret field by field (ISTIO-FACTS §2.1), then as a
/// whole against the Secret istioctl prints.
fn check_remote_secret(doc: &Value, peer: &str, inputs: &ApiInputs, v: &str, what: &str) {
    let legacy = minor(v) <= 27;
    let token = inputs.token.as_deref().expect("plaintext needs a token");
    assert_eq!(doc["apiVersion"], "v1", "{what}");
    assert_eq!(doc["kind"], "Secret", "{what}");
    let md = &doc["metadata"];
    assert_eq!(md["name"], format!("istio-remote-secret-{peer}"), "{what}");
    assert_eq!(md["namespace"], "istio-system", "{what}");
    assert_eq!(
        md["labels"],
        json!({"istio/multiCluster": "true"}),
        "{what}: the label value is the string \"true\""
    );
    assert_eq!(
        md["annotations"],
        json!({"networking.istio.io/cluster": peer}),
        "{what}"
    );
    if legacy {
        assert!(
            md.get("creationTimestamp").is_some_and(Value::is_null),
            "{what}: istioctl ≤1.27 prints `creationTimestamp: null`"
        );
    } else {
        assert!(
            md.get("creationTimestamp").is_none(),
            "{what}: istioctl ≥1.28 prints no creationTimestamp"
        );
    }
    assert!(
        doc.get("data").is_none(),
        "{what}: istioctl emits stringData"
    );
    let sd = doc["stringData"].as_object().expect("stringData");
    assert_eq!(
        sd.keys().collect::<Vec<_>>(),
        vec![peer],
        "{what}: one key, the cluster ID"
    );
    let kc_text = sd[peer].as_str().expect("a string");
    let kc = {
        let mut d = yaml_docs(kc_text);
        assert_eq!(d.len(), 1, "{what}: one kubeconfig");
        d.remove(0)
    };
    assert_eq!(kc["apiVersion"], "v1", "{what}");
    assert_eq!(kc["kind"], "Config", "{what}");
    assert_eq!(kc["current-context"], peer, "{what}");
    for list in ["clusters", "contexts", "users"] {
        let items = kc[list]
            .as_array()
            .unwrap_or_else(|| panic!("{what}: {list}"));
        assert_eq!(items.len(), 1, "{what}: exactly one of {list}");
        assert_eq!(items[0]["name"], peer, "{what}: {list}[0].name");
    }
    assert_eq!(
        kc["contexts"][0]["context"],
        json!({"cluster": peer, "user": peer}),
        "{what}"
    );
    let cluster = &kc["clusters"][0]["cluster"];
    assert_eq!(cluster["server"], inputs.server.as_str(), "{what}: server");
    assert_eq!(
        cluster["certificate-authority-data"],
        b64(&inputs.ca).as_str(),
        "{what}: certificate-authority-data is the base64 of the caFile bytes"
    );
    assert_eq!(
        kc["users"][0]["user"],
        json!({"token": token}),
        "{what}: the token file content, trimmed"
    );
    if legacy {
        assert_eq!(
            kc["preferences"],
            json!({}),
            "{what}: ≤1.27 `preferences: {{}}`"
        );
    } else {
        assert!(
            kc.get("preferences").is_none(),
            "{what}: ≥1.28 no preferences"
        );
    }
    assert_eq!(
        kc_text,
        istioctl_kubeconfig(peer, inputs, token, legacy),
        "{what}: the kubeconfig text istioctl prints"
    );
    let mut metadata = json!({
        "annotations": {"networking.istio.io/cluster": peer},
        "labels": {"istio/multiCluster": "true"},
        "name": format!("istio-remote-secret-{peer}"),
        "namespace": "istio-system",
    });
    if legacy {
        metadata["creationTimestamp"] = Value::Null;
    }
    let want = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata,
        "stringData": {peer: istioctl_kubeconfig(peer, inputs, token, legacy)},
    });
    assert_same(doc, &want, what);
}

const SECRET_VERSIONS: [&str; 8] = [
    "1.11", "1.15", "1.16", "1.22", "1.27", "1.28", "1.30", "1.31",
];

#[test]
fn plaintext_remote_secrets_are_what_istioctl_create_remote_secret_prints() {
    for v in SECRET_VERSIONS {
        // Multi-primary: each primary reads the other.
        let files = render_variant(MULTI_PRIMARY, version(v));
        for (me, peer) in [("cluster1", "cluster2"), ("cluster2", "cluster1")] {
            let rel = format!("clusters/{me}/remote-secret-{peer}.yaml");
            let inputs = api_inputs(MULTI_PRIMARY, peer);
            check_remote_secret(
                &single(&files, &rel),
                peer,
                &inputs,
                v,
                &format!("{v} {rel}"),
            );
            let others: Vec<&String> = files
                .keys()
                .filter(|k| k.starts_with(&format!("clusters/{me}/remote-secret-")) && **k != rel)
                .collect();
            assert!(others.is_empty(), "{v}: {me} reads only {peer}: {others:?}");
        }
        // Primary-remote: the primary reads the remote; no reverse secret.
        let files = render_variant(PRIMARY_REMOTE, version(v));
        let rel = "clusters/cluster1/remote-secret-cluster2.yaml";
        let inputs = api_inputs(PRIMARY_REMOTE, "cluster2");
        check_remote_secret(
            &single(&files, rel),
            "cluster2",
            &inputs,
            v,
            &format!("{v} {rel}"),
        );
        assert!(
            !files
                .keys()
                .any(|k| k.starts_with("clusters/cluster2/remote-secret-")),
            "{v}: a remote gets no remote secret"
        );
    }
}

/// Istio cluster IDs are DNS-1123 labels, and `123` or `true` are labels (`istioctl
/// create-remote-secret --name 123` is accepted). istioctl's serializer quotes such IDs;
/// unquoted, YAML reads them as a number or a boolean, so the Secret's data key is not the
/// cluster ID and client-go rejects the kubeconfig ("cannot unmarshal number into Go struct
/// field NamedCluster.clusters.name of type string").
#[test]
fn remote_secrets_quote_cluster_ids_that_yaml_reads_as_numbers_or_booleans() {
    for id in ["123", "true"] {
        let rel = format!("clusters/cluster1/remote-secret-{id}.yaml");
        let files = render_variant(PRIMARY_REMOTE, rename_cluster("cluster2", id));
        let inputs = api_inputs(PRIMARY_REMOTE, "cluster2");
        check_remote_secret(&single(&files, &rel), id, &inputs, "1.31", &rel);
        let files = render_variant(PRIMARY_REMOTE, |s| {
            rename_cluster("cluster2", id)(s);
            external_secrets(s);
            s["clusters"][1]["apiServer"]
                .as_object_mut()
                .unwrap()
                .remove("caFile");
        });
        let es = single(&files, &rel);
        let mut store = store_for(PRIMARY_REMOTE);
        let props = store
            .remove(&format!("{KEY_PREFIX}/cluster2/reader-token"))
            .unwrap();
        store.insert(format!("{KEY_PREFIX}/{id}/reader-token"), props);
        let secret = eso_secret(&es, &store, &rel);
        let kubeconfig = secret["data"][id]
            .as_str()
            .unwrap_or_else(|| panic!("{rel}: template data key is not the string {id:?}"));
        let kc = yaml_docs(kubeconfig).remove(0);
        assert_eq!(kc["current-context"], id, "{rel}: current-context");
        assert_eq!(kc["clusters"][0]["name"], id, "{rel}: clusters[0].name");
    }
}

/// Only clusters that a primary reads get the reader token Secret istioctl would create.
#[test]
fn reader_token_secret_is_the_one_istioctl_creates() {
    let want = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "istio-reader-service-account-istio-remote-secret-token",
            "namespace": "istio-system",
            "annotations": {"kubernetes.io/service-account.name": "istio-reader-service-account"},
        },
        "type": "kubernetes.io/service-account-token",
    });
    let files = render_variant(PRIMARY_REMOTE, |_| {});
    assert_same(
        &single(&files, "clusters/cluster2/reader-token.yaml"),
        &want,
        "cluster2 reader-token.yaml",
    );
    assert!(
        !files.contains_key("clusters/cluster1/reader-token.yaml"),
        "no primary reads cluster1"
    );
}

// ---------------------------------------------------------------------------------------
// d. External Secrets: the Secret ESO would build equals the plaintext Secret
// ---------------------------------------------------------------------------------------

/// A secret store: remote key → property → value.
type Store = BTreeMap<String, BTreeMap<String, String>>;

/// The store an operator fills as the generated README says: `<prefix>/<c>/cacerts` with the
/// files of `pki/<c>/`, `<prefix>/<c>/reader-token` with the reader token Secret's `token` and
/// `ca.crt`.
fn store_for(spec_name: &str) -> Store {
    let spec = base_spec(spec_name);
    let dir = spec_dir(spec_name);
    let pki = dir.join(spec["pki"]["dir"].as_str().unwrap());
    let mut store = Store::new();
    for c in spec["clusters"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let cdir = pki.join(name);
        if cdir.is_dir() {
            let props = [
                "ca-cert.pem",
                "ca-key.pem",
                "cert-chain.pem",
                "root-cert.pem",
            ]
            .iter()
            .map(|f| {
                let v = std::fs::read_to_string(cdir.join(f)).unwrap();
                (f.to_string(), v)
            })
            .collect();
            store.insert(format!("{KEY_PREFIX}/{name}/cacerts"), props);
        }
        if c.get("apiServer").is_some() {
            let inputs = api_inputs(spec_name, name);
            let mut props = BTreeMap::new();
            props.insert("ca.crt".to_owned(), String::from_utf8(inputs.ca).unwrap());
            if let Some(t) = inputs.token {
                props.insert("token".to_owned(), t);
            }
            store.insert(format!("{KEY_PREFIX}/{name}/reader-token"), props);
        }
    }
    store
}

/// The few Go-template forms meshrender may emit, evaluated as ESO's v2 engine does
/// (`.key`, `index . "key"`, `| b64enc`). Anything else fails the test.
fn eso_template(tpl: &str, data: &BTreeMap<String, String>, what: &str) -> String {
    let mut out = String::new();
    let mut rest = tpl;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find("}}")
            .unwrap_or_else(|| panic!("{what}: unterminated {{{{"))
            + start;
        let expr = rest[start + 2..end].trim();
        let mut stages = expr.split('|').map(str::trim);
        let head = stages.next().unwrap();
        let key = if let Some(k) = head.strip_prefix("index . ") {
            k.trim().trim_matches('"').to_owned()
        } else if let Some(k) = head.strip_prefix('.') {
            assert!(
                k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "{what}: unsupported template expression {expr:?}"
            );
            k.to_owned()
        } else {
            panic!("{what}: unsupported template expression {expr:?}")
        };
        let mut value = data
            .get(&key)
            .unwrap_or_else(|| {
                panic!("{what}: template reads {key:?}, which data[] does not fetch")
            })
            .clone();
        for f in stages {
            value = match f {
                "b64enc" => b64(value.as_bytes()),
                other => panic!("{what}: unsupported template function {other:?}"),
            };
        }
        out.push_str(&value);
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out
}

/// The Secret External Secrets Operator creates from `es` with `store`, in the normal form of
/// [`normal_secret`].
fn eso_secret(es: &Value, store: &Store, what: &str) -> Value {
    assert_eq!(es["apiVersion"], "external-secrets.io/v1", "{what}");
    assert_eq!(es["kind"], "ExternalSecret", "{what}");
    let spec = &es["spec"];
    assert!(
        spec.get("dataFrom").is_none(),
        "{what}: dataFrom not simulated"
    );
    let mut fetched = BTreeMap::new();
    for d in spec["data"].as_array().expect("spec.data") {
        let key = d["remoteRef"]["key"].as_str().unwrap();
        let prop = d["remoteRef"]["property"].as_str().unwrap();
        let value = store
            .get(key)
            .and_then(|p| p.get(prop))
            .unwrap_or_else(|| panic!("{what}: the store has no {key} / {prop}"));
        fetched.insert(d["secretKey"].as_str().unwrap().to_owned(), value.clone());
    }
    let target = &spec["target"];
    let tpl = target.get("template").cloned().unwrap_or(json!({}));
    if let Some(ev) = tpl.get("engineVersion") {
        assert_eq!(ev, "v2", "{what}");
    }
    let data: BTreeMap<String, String> = match tpl.get("data").and_then(Value::as_object) {
        Some(t) => t
            .iter()
            .map(|(k, v)| (k.clone(), eso_template(v.as_str().unwrap(), &fetched, what)))
            .collect(),
        None => fetched,
    };
    let mut metadata = json!({
        "name": target.get("name").unwrap_or(&es["metadata"]["name"]),
        "namespace": es["metadata"]["namespace"],
    });
    for k in ["labels", "annotations"] {
        if let Some(m) = tpl.get("metadata").and_then(|m| m.get(k)) {
            metadata[k] = m.clone();
        }
    }
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata,
        "type": tpl.get("type").cloned().unwrap_or(json!("Opaque")),
        "data": data,
    })
}

/// A Secret as the API server stores it, with `stringData` and `data` merged into decoded
/// `data`, `type` defaulted and `creationTimestamp` dropped.
fn normal_secret(s: &Value, what: &str) -> Value {
    assert_eq!(s["apiVersion"], "v1", "{what}");
    assert_eq!(s["kind"], "Secret", "{what}");
    let mut metadata = s["metadata"].clone();
    metadata
        .as_object_mut()
        .unwrap()
        .remove("creationTimestamp");
    let mut data = BTreeMap::new();
    if let Some(d) = s.get("data").and_then(Value::as_object) {
        for (k, v) in d {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(v.as_str().unwrap())
                .unwrap_or_else(|e| panic!("{what}: data.{k} is not base64: {e}"));
            data.insert(k.clone(), String::from_utf8(bytes).unwrap());
        }
    }
    if let Some(d) = s.get("stringData").and_then(Value::as_object) {
        for (k, v) in d {
            data.insert(k.clone(), v.as_str().unwrap().to_owned());
        }
    }
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata,
        "type": s.get("type").cloned().unwrap_or(json!("Opaque")),
        "data": data,
    })
}

fn secret_files(files: &Tree) -> BTreeSet<String> {
    files
        .keys()
        .filter(|k| k.ends_with("/cacerts.yaml") || k.contains("/remote-secret-"))
        .cloned()
        .collect()
}

/// `drop_ca` removes `caFile` from these clusters in the external-secrets variant, so their
/// CA bundle comes from the store (`ca.crt`) instead of being inlined.
fn check_external_equals_plaintext(spec_name: &str, v: &str, drop_ca: &[&str]) {
    let plain = render_variant(spec_name, version(v));
    let external = render_variant(spec_name, |s| {
        s["istio"]["version"] = json!(v);
        external_secrets(s);
        for c in s["clusters"].as_array_mut().unwrap() {
            if drop_ca.contains(&c["name"].as_str().unwrap()) {
                c["apiServer"].as_object_mut().unwrap().remove("caFile");
            }
        }
    });
    let store = store_for(spec_name);
    assert_eq!(
        secret_files(&plain),
        secret_files(&external),
        "{spec_name} {v}: the same secrets in both modes"
    );
    assert!(!secret_files(&plain).is_empty());
    for rel in secret_files(&plain) {
        let what = format!("{spec_name} Istio {v}: {rel}");
        let want = normal_secret(&single(&plain, &rel), &what);
        let es = single(&external, &rel);
        let got = eso_secret(&es, &store, &what);
        assert_same(&got, &want, &what);
        let (cluster, kind) = match rel.rsplit_once("/remote-secret-") {
            Some((_, peer)) => (peer.trim_end_matches(".yaml").to_owned(), "reader-token"),
            None => (rel.split('/').nth(1).unwrap().to_owned(), "cacerts"),
        };
        let mut es_keys = BTreeSet::new();
        for d in es["spec"]["data"].as_array().unwrap() {
            assert_eq!(
                d["remoteRef"]["key"],
                format!("{KEY_PREFIX}/{cluster}/{kind}"),
                "{what}: remote key <keyPrefix>/<cluster>/{kind}"
            );
            assert_eq!(d["remoteRef"]["property"], d["secretKey"], "{what}");
            es_keys.insert(d["secretKey"].as_str().unwrap().to_owned());
        }
        if kind == "cacerts" {
            let plain_keys: BTreeSet<String> =
                want["data"].as_object().unwrap().keys().cloned().collect();
            assert_eq!(
                es_keys, plain_keys,
                "{what}: data[].secretKey == plaintext data keys"
            );
            assert_eq!(got["type"], "Opaque", "{what}");
            // Digests recorded for review must be those of the material the store holds.
            let props = &store[&format!("{KEY_PREFIX}/{cluster}/cacerts")];
            for (k, v) in es["metadata"]["annotations"]
                .as_object()
                .into_iter()
                .flatten()
            {
                if let Some(file) = k
                    .strip_prefix("meshrender.io/")
                    .and_then(|f| f.strip_suffix("-sha256"))
                {
                    let stored = props
                        .get(file)
                        .or_else(|| props.get(&format!("{file}.pem")))
                        .unwrap_or_else(|| panic!("{what}: {k} names no stored property"));
                    let want = sha256_hex(stored.as_bytes());
                    assert_eq!(v, &json!(want), "{what}: annotation {k}");
                }
            }
        }
    }
    // Nothing secret in the external-secrets tree.
    for (rel, bytes) in &external {
        let t = String::from_utf8_lossy(bytes);
        assert!(!t.contains("PRIVATE KEY"), "{rel}: private key in the tree");
        for props in store.values() {
            if let Some(token) = props.get("token") {
                assert!(!t.contains(token.as_str()), "{rel}: a token in the tree");
            }
        }
    }
}

#[test]
fn external_secrets_yield_the_plaintext_secrets() {
    for v in ["1.15", "1.27", "1.28", "1.31"] {
        check_external_equals_plaintext(MULTI_PRIMARY, v, &["cluster2"]);
        check_external_equals_plaintext(PRIMARY_REMOTE, v, &[]);
        check_external_equals_plaintext(PRIMARY_REMOTE, v, &["cluster2"]);
    }
}

/// ISTIO-FACTS §9.1 #6: Istio's old chart and image hosts are retired in December 2026;
/// nothing rendered (any variant, any golden case) may point at them.
#[test]
fn nothing_points_at_retired_istio_hosts() {
    let retired = [
        "storage.googleapis.com",
        "gcr.io/istio-release",
        "registry.istio.io",
    ];
    let mut trees = all_variants();
    for case in cases() {
        trees.push((
            case.display().to_string(),
            read_tree(&case.join("expected")),
        ));
    }
    let mut hits = Vec::new();
    for (label, tree) in &trees {
        for (path, bytes) in tree {
            let text = String::from_utf8_lossy(bytes);
            for host in retired {
                if text.contains(host) {
                    hits.push(format!("{label}: {path} names {host}"));
                }
            }
        }
    }
    assert!(hits.is_empty(), "{}", hits.join("\n"));
}

/// Flux pins the chart version exactly, takes charts from `istio.charts` (OCI here), and
/// skips the schema of a broken gateway chart (1.26.2) but of no other chart.
#[test]
fn flux_pins_charts_and_skips_only_the_broken_gateway_schema() {
    let tree = render_variant(PRIMARY_REMOTE, gitops_at("1.26", "1.26.2"));
    let text = |p: &str| String::from_utf8_lossy(&tree[p]).into_owned();
    let sources = yaml_docs(&text("gitops/flux/sources.yaml"));
    assert_eq!(sources[0]["kind"], "HelmRepository");
    assert_eq!(sources[0]["metadata"]["name"], "mesh1-istio-charts");
    assert_eq!(sources[0]["spec"]["type"], "oci");
    assert_eq!(
        sources[0]["spec"]["url"],
        "oci://ghcr.io/istio/release/charts"
    );
    for cluster in ["cluster1", "cluster2"] {
        let mut releases = yaml_docs(&text(&format!(
            "gitops/flux/clusters/{cluster}/istio/helmreleases.yaml"
        )));
        releases.extend(yaml_docs(&text(&format!(
            "gitops/flux/clusters/{cluster}/gateway/helmreleases.yaml"
        ))));
        assert_eq!(releases.len(), 3, "{cluster}");
        for r in &releases {
            let chart = r["spec"]["chart"]["spec"]["chart"].as_str().unwrap();
            assert_eq!(r["spec"]["chart"]["spec"]["version"], "1.26.2", "{chart}");
            assert_eq!(
                r["spec"]["chart"]["spec"]["sourceRef"]["name"],
                "mesh1-istio-charts"
            );
            let skip = chart == "gateway";
            assert_eq!(
                r["spec"]["install"]["disableSchemaValidation"].as_bool() == Some(true),
                skip,
                "{cluster} {chart}"
            );
            assert_eq!(
                r["spec"]["upgrade"]["disableSchemaValidation"].as_bool() == Some(true),
                skip,
                "{cluster} {chart}"
            );
        }
    }
    // 1.26.4 has the fixed schema
    let fixed = render_variant(PRIMARY_REMOTE, gitops_at("1.26", "1.26.4"));
    assert!(
        !String::from_utf8_lossy(&fixed["gitops/flux/clusters/cluster1/gateway/helmreleases.yaml"])
            .contains("disableSchemaValidation")
    );
}

/// Ambient multicluster (ISTIO-FACTS §9.3): the east-west Gateway equals, as data, what
/// Istio's own `gen-eastwest-gateway.sh --network <n> --ambient` prints at 1.27.0 (v1beta1)
/// and 1.29.0 (v1), run here; no `cross-network-gateway` and no exposed istiod; the
/// control-plane input is the ambient profile with the multi-network switches; the
/// verification Service is global.
#[test]
fn ambient_matches_istios_script_and_guide() {
    let Some(shared) = shared() else { return };
    for (minor, script) in [
        ("1.27", "1.27.0"),
        ("1.28", "1.27.0"),
        ("1.29", "1.29.0"),
        ("1.31", "1.31.0-rc.0"),
    ] {
        let tree = render_variant(MULTI_PRIMARY, ambient(minor));
        for (cluster, network) in [("cluster1", "network1"), ("cluster2", "network2")] {
            let out = std::process::Command::new("bash")
                .arg(
                    shared
                        .join("istio-reference/eastwest-out")
                        .join(format!("gen-eastwest-gateway-{script}.sh")),
                )
                .args(["--network", network, "--ambient"])
                .output()
                .expect("bash");
            assert!(out.status.success(), "{script}: {out:?}");
            let want = yaml_docs(&String::from_utf8_lossy(&out.stdout));
            let dir = format!("clusters/{cluster}");
            let got = yaml_docs(&String::from_utf8_lossy(
                &tree[&format!("{dir}/eastwest-gateway.yaml")],
            ));
            assert_eq!(got, want, "{minor} {cluster}");
            if minor != "1.27" && minor != "1.28" && network == "network1" {
                // the recorded output of the newest script, too
                let recorded =
                    yaml_file(&shared.join("istio-reference/eastwest-out/ambient-network1.yaml"));
                assert_eq!(got, recorded, "{minor}: eastwest-out/ambient-network1.yaml");
            }
            for absent in [
                "expose-services.yaml",
                "expose-istiod.yaml",
                "install/eastwest-gateway.yaml",
                "install/helm/eastwest-gateway.values.yaml",
            ] {
                assert!(
                    !tree.contains_key(&format!("{dir}/{absent}")),
                    "{minor}: {absent}"
                );
            }
            let k = yaml_docs(&String::from_utf8_lossy(
                &tree[&format!("{dir}/kustomization.yaml")],
            ));
            assert!(
                k[0]["resources"]
                    .as_array()
                    .unwrap()
                    .contains(&json!("eastwest-gateway.yaml")),
                "{minor}: the Gateway is applied with the cluster"
            );
            let iop = &yaml_docs(&String::from_utf8_lossy(
                &tree[&format!("{dir}/install/istiooperator.yaml")],
            ))[0];
            assert_eq!(iop["spec"]["profile"], "ambient");
            let mut env = vec![json!({"name": "AMBIENT_ENABLE_MULTI_NETWORK", "value": "true"})];
            if minor != "1.27" && minor != "1.28" {
                env.push(json!({"name": "AMBIENT_ENABLE_BAGGAGE", "value": "true"}));
            }
            assert_eq!(
                iop["spec"]["components"]["pilot"]["k8s"]["env"],
                json!(env),
                "{minor}"
            );
            assert_eq!(iop["spec"]["values"]["global"]["meshID"], "mesh1");
            assert_eq!(
                iop["spec"]["values"]["global"]["multiCluster"]["clusterName"],
                cluster
            );
            assert_eq!(iop["spec"]["values"]["global"]["network"], network);
            let hello = yaml_docs(&String::from_utf8_lossy(
                &tree[&format!("{dir}/verify/helloworld.yaml")],
            ));
            assert_eq!(hello[0]["metadata"]["labels"]["istio.io/global"], "true");
            let ns = yaml_docs(&String::from_utf8_lossy(
                &tree[&format!("{dir}/verify/namespace.yaml")],
            ));
            assert_eq!(
                ns[0]["metadata"]["labels"],
                json!({"istio.io/dataplane-mode": "ambient"})
            );
            // remote secrets in both directions, as for sidecars
            let peer = if cluster == "cluster1" {
                "cluster2"
            } else {
                "cluster1"
            };
            assert!(tree.contains_key(&format!("{dir}/remote-secret-{peer}.yaml")));
        }
    }
}

/// ISTIO-FACTS §9.2: the 1.6 patch releases' file (what `version: "1.6"` renders unless
/// `tag: 1.6.0`): search namespace `global` only, plus `multiCluster.globalDomainSuffix:
/// global` and `includeEnvoyFilter: true`; otherwise the 1.6.0 file.
#[test]
fn replicated_control_planes_1_6_patch_releases_shape() {
    let Some(shared) = shared() else { return };
    let mut want = yaml_file(
        &shared
            .join("istio-reference/legacy-1.6-1.7/values-istio-multicluster-gateways.1.6.0.yaml"),
    )
    .remove(0);
    let g = &mut want["spec"]["values"]["global"];
    g["podDNSSearchNamespaces"] = json!(["global"]);
    g["multiCluster"]["globalDomainSuffix"] = json!("global");
    g["multiCluster"]["includeEnvoyFilter"] = json!(true);
    for tag in [None, Some("1.6.14")] {
        let files = render_variant(FEDERATION, |s| {
            s["istio"]["version"] = json!("1.6");
            if let Some(t) = tag {
                s["istio"]["tag"] = json!(t);
            }
        });
        let got = single(&files, "clusters/cluster1/install/istiooperator.yaml");
        let mut spec = got["spec"].clone();
        spec.as_object_mut().unwrap().remove("tag");
        assert_same(
            &spec,
            &want["spec"],
            &format!("1.6 patch shape, tag {tag:?}"),
        );
    }
}
