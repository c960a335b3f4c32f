//! Every rendered Helm input is rendered with real Helm against Istio's own chart of its
//! release (`../shared/istio-reference/charts/<tag>/`), and the objects Helm builds must carry
//! the topology: istiod's `CLUSTER_ID`, `EXTERNAL_ISTIOD` on a primary serving remotes, the
//! remote's injection path, the east-west gateway's network and ports, the NodePort
//! gateway's `traffic.istio.io/nodeSelector`, the base chart's default revision. The install
//! commands are taken from the values files' own comments, so a flag they need
//! (`--skip-schema-validation` for the broken gateway charts of ISTIO-FACTS §9.1 #7) is tested
//! as the user runs it. Needs Helm: on PATH or from `../shared/tools/fetch-helm`; in CI a
//! missing Helm fails.

mod common;
mod variants;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use common::*;
use variants::*;

/// Helm from PATH, else from `../shared/tools/fetch-helm` (cached after the first call).
fn helm() -> Option<PathBuf> {
    let on_path = Command::new("helm")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    let found = if on_path {
        Some(PathBuf::from("helm"))
    } else {
        let fetch = root().join("../shared/tools/fetch-helm");
        Command::new(&fetch)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()).join("helm"))
            .filter(|p| p.is_file())
    };
    require(
        found.is_some(),
        "helm (on PATH or from ../shared/tools/fetch-helm)",
    )
    .then(|| found.unwrap())
}

/// The chart directory of `chart` at release `tag`.
fn chart_dir(shared: &Path, tag: &str, chart: &str) -> PathBuf {
    let charts = shared
        .join("istio-reference/charts")
        .join(tag)
        .join("manifests/charts");
    match chart {
        "istiod" => charts.join("istio-control/istio-discovery"),
        "cni" => charts.join("istio-cni"),
        other => charts.join(other),
    }
}

/// `helm template <release> <chart dir> -n istio-system -f <values> [extra]`: the objects, or
/// Helm's error text.
fn template(
    helm: &Path,
    release: &str,
    chart: &Path,
    values: &[u8],
    extra: &[&str],
) -> Result<Vec<Value>, String> {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("values.yaml");
    std::fs::write(&file, values).unwrap();
    let out = Command::new(helm)
        .args(["template", release])
        .arg(chart)
        .args(["-n", "istio-system", "-f"])
        .arg(&file)
        .args(extra)
        .output()
        .expect("run helm");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(yaml_docs(&String::from_utf8_lossy(&out.stdout))
        .into_iter()
        .filter(|d| !d.is_null())
        .collect())
}

/// The `helm install` line of a rendered values file's header comment, as arguments.
fn install_command(values_file: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(values_file);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("#   helm install "))
        .unwrap_or_else(|| panic!("no `helm install` comment in:\n{text}"));
    line.split_whitespace().map(str::to_owned).collect()
}

/// `helm template` of one rendered values file, with the release name and the extra flags
/// of its own install comment.
fn template_values_file(
    helm: &Path,
    shared: &Path,
    tag: &str,
    chart: &str,
    file: &[u8],
) -> Result<Vec<Value>, String> {
    let cmd = install_command(file);
    let release = cmd[0].clone();
    assert!(
        cmd.iter().any(|a| a == tag),
        "install command does not pin --version {tag}: {cmd:?}"
    );
    let extra: Vec<&str> = cmd
        .iter()
        .filter(|a| *a == "--skip-schema-validation")
        .map(String::as_str)
        .collect();
    template(helm, &release, &chart_dir(shared, tag, chart), file, &extra)
}

fn find<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

/// The env of the `discovery` container of istiod's Deployment, as name → value.
fn istiod_env(docs: &[Value]) -> std::collections::BTreeMap<String, String> {
    let dep = find(docs, "Deployment")
        .into_iter()
        .find(|d| {
            d["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("istiod"))
        })
        .expect("an istiod Deployment");
    dep["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| {
            Some((
                e["name"].as_str()?.to_owned(),
                e["value"].as_str()?.to_owned(),
            ))
        })
        .collect()
}

fn file<'a>(tree: &'a Tree, path: &str) -> &'a [u8] {
    tree.get(path)
        .unwrap_or_else(|| panic!("{path} not rendered"))
        .as_slice()
}

/// The releases whose charts are in `../shared` and that meshrender renders Helm values for.
const HELM_TAGS: [&str; 5] = ["1.24.6", "1.26.8", "1.28.10", "1.30.3", "1.31.0-rc.0"];

fn minor_of(tag: &str) -> String {
    tag.split('.').take(2).collect::<Vec<_>>().join(".")
}

/// Primary-remote on two networks, at every release with charts: base, istiod and gateway
/// values of both clusters render, and carry the topology.
#[test]
fn helm_values_render_with_istios_charts() {
    let (Some(helm), Some(shared)) = (helm(), shared()) else {
        return;
    };
    for tag in HELM_TAGS {
        for revision in [None, Some("canary")] {
            let tree = render_variant(PRIMARY_REMOTE, |s| {
                s["istio"]["version"] = json!(minor_of(tag));
                s["istio"]["tag"] = json!(tag);
                if let Some(r) = revision {
                    s["istio"]["revision"] = json!(r);
                }
            });
            let id = format!("{tag} revision {revision:?}");
            for (cluster, network) in [("cluster1", "network1"), ("cluster2", "network2")] {
                let dir = format!("clusters/{cluster}/install/helm");
                let [base, istiod, gateway] = [
                    ("base", "base"),
                    ("istiod", "istiod"),
                    ("gateway", "eastwest-gateway"),
                ]
                .map(|(chart, values)| {
                    template_values_file(
                        &helm,
                        &shared,
                        tag,
                        chart,
                        file(&tree, &format!("{dir}/{values}.values.yaml")),
                    )
                    .unwrap_or_else(|e| panic!("{id} {cluster} {chart}: {e}"))
                });

                if cluster == "cluster1" {
                    let env = istiod_env(&istiod);
                    assert_eq!(
                        env.get("CLUSTER_ID").map(String::as_str),
                        Some(cluster),
                        "{id}"
                    );
                    assert_eq!(
                        env.get("EXTERNAL_ISTIOD").map(String::as_str),
                        Some("true"),
                        "{id}: the primary serves cluster2"
                    );
                    if let Some(r) = revision {
                        // base's default-revision validator must call the revision's istiod
                        let v = find(&base, "ValidatingWebhookConfiguration");
                        let default = v
                            .iter()
                            .find(|w| w["metadata"]["name"] == "istiod-default-validator")
                            .unwrap_or_else(|| panic!("{id}: no istiod-default-validator"));
                        assert_eq!(
                            default["webhooks"][0]["clientConfig"]["service"]["name"],
                            format!("istiod-{r}"),
                            "{id}"
                        );
                    }
                } else {
                    assert!(
                        find(&istiod, "Deployment").is_empty(),
                        "{id}: the remote runs no istiod"
                    );
                    let hooks = find(&istiod, "MutatingWebhookConfiguration");
                    let text = serde_json::to_string(&hooks).unwrap();
                    assert!(
                        text.contains("/inject/cluster/cluster2/net/network2"),
                        "{id}: the remote's injection webhook goes to its primary: {text}"
                    );
                    // istiod's address on the remote is the primary's east-west gateway
                    let endpoints: Vec<&Value> = istiod
                        .iter()
                        .filter(|d| d["kind"] == "Endpoints" || d["kind"] == "EndpointSlice")
                        .collect();
                    let text = serde_json::to_string(&endpoints).unwrap();
                    assert!(
                        text.contains("192.0.2.10"),
                        "{id}: remotePilotAddress: {text}"
                    );
                }
                let svc = find(&gateway, "Service");
                assert_eq!(svc.len(), 1, "{id} {cluster}: one gateway Service");
                assert_eq!(
                    svc[0]["metadata"]["labels"]["topology.istio.io/network"], network,
                    "{id}"
                );
                let ports: Vec<i64> = svc[0]["spec"]["ports"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(|p| p["port"].as_i64())
                    .collect();
                for p in [15021, 15443, 15012, 15017] {
                    assert!(ports.contains(&p), "{id} {cluster}: port {p} in {ports:?}");
                }
            }
        }
    }
}

/// ISTIO-FACTS §9.1 #7: the gateway chart of 1.24.6 rejects the values without
/// `--skip-schema-validation` (so the flag is needed), and 1.28.10 takes them without it
/// (so meshrender adds it only where needed).
#[test]
fn gateway_schema_flag_only_where_the_chart_needs_it() {
    let (Some(helm), Some(shared)) = (helm(), shared()) else {
        return;
    };
    for (tag, broken) in [("1.24.6", true), ("1.28.10", false)] {
        let tree = render_variant(MULTI_PRIMARY, |s| {
            s["istio"]["version"] = json!(minor_of(tag));
            s["istio"]["tag"] = json!(tag);
        });
        let values = file(
            &tree,
            "clusters/cluster1/install/helm/eastwest-gateway.values.yaml",
        );
        let cmd = install_command(values);
        assert_eq!(
            cmd.iter().any(|a| a == "--skip-schema-validation"),
            broken,
            "{tag}: {cmd:?}"
        );
        let plain = template(
            &helm,
            "istio-eastwestgateway",
            &chart_dir(&shared, tag, "gateway"),
            values,
            &[],
        );
        assert_eq!(plain.is_err(), broken, "{tag}: {plain:?}");
    }
}

/// A NodePort east-west gateway's Service carries `traffic.istio.io/nodeSelector` (§9.1 #3).
#[test]
fn nodeport_gateway_service_is_found_by_istiod() {
    let (Some(helm), Some(shared)) = (helm(), shared()) else {
        return;
    };
    let tag = "1.28.10";
    let tree = render_variant(MULTI_PRIMARY, |s| {
        s["istio"]["version"] = json!("1.28");
        s["istio"]["tag"] = json!(tag);
        s["clusters"][0]["eastWestGateway"]["serviceType"] = json!("NodePort");
    });
    let docs = template_values_file(
        &helm,
        &shared,
        tag,
        "gateway",
        file(
            &tree,
            "clusters/cluster1/install/helm/eastwest-gateway.values.yaml",
        ),
    )
    .unwrap();
    let svc = find(&docs, "Service");
    assert_eq!(svc[0]["spec"]["type"], "NodePort");
    assert_eq!(
        svc[0]["metadata"]["annotations"]["traffic.istio.io/nodeSelector"],
        "{}"
    );
}

/// ISTIO-FACTS §9.1 #1: on 1.23 (1.23.0, whose chart ignores `global.externalIstiod`, and
/// 1.23.6) the primary's IstioOperator values render with Istio's istiod chart and give istiod
/// `EXTERNAL_ISTIOD=true`; the remote's values give the remote's webhooks.
#[test]
fn istiod_1_23_gets_external_istiod_from_the_istiooperator_values() {
    let (Some(helm), Some(shared)) = (helm(), shared()) else {
        return;
    };
    let tree = render_variant(PRIMARY_REMOTE, version("1.23"));
    let iop = &yaml_docs(&String::from_utf8_lossy(file(
        &tree,
        "clusters/cluster1/install/istiooperator.yaml",
    )))[0];
    let values = &iop["spec"]["values"];
    assert!(
        values["global"].get("externalIstiod").is_none(),
        "never both settings on 1.23: {values}"
    );
    let yaml = serde_json::to_vec(values).unwrap();
    for tag in ["1.23.0", "1.23.6"] {
        let docs = template(
            &helm,
            "istiod",
            &chart_dir(&shared, tag, "istiod"),
            &yaml,
            &[],
        )
        .unwrap_or_else(|e| panic!("{tag}: {e}"));
        let env = istiod_env(&docs);
        assert_eq!(
            env.get("EXTERNAL_ISTIOD").map(String::as_str),
            Some("true"),
            "{tag}"
        );
        assert_eq!(
            env.get("CLUSTER_ID").map(String::as_str),
            Some("cluster1"),
            "{tag}"
        );
        // What the old output did (global.externalIstiod only) gives no env var on 1.23.0.
        if tag == "1.23.0" {
            let old = json!({"global": {"externalIstiod": true, "multiCluster": {"clusterName": "cluster1"}}});
            let docs = template(
                &helm,
                "istiod",
                &chart_dir(&shared, tag, "istiod"),
                &serde_json::to_vec(&old).unwrap(),
                &[],
            )
            .unwrap();
            assert!(!istiod_env(&docs).contains_key("EXTERNAL_ISTIOD"), "{tag}");
        }
    }
}

/// Ambient (ISTIO-FACTS §9.3): base, istiod, cni and ztunnel values render with Istio's
/// charts; istiod runs the ambient profile with the multi-network switch, ztunnel knows its
/// cluster and network (else it reports cluster `Kubernetes` and no network).
#[test]
fn ambient_values_render_with_istios_charts() {
    let (Some(helm), Some(shared)) = (helm(), shared()) else {
        return;
    };
    for tag in ["1.28.10", "1.30.3", "1.31.0-rc.0"] {
        for revision in [None, Some("canary")] {
            let tree = render_variant(MULTI_PRIMARY, |s| {
                ambient(&minor_of(tag))(s);
                s["istio"]["tag"] = json!(tag);
                if let Some(r) = revision {
                    s["istio"]["revision"] = json!(r);
                }
            });
            let id = format!("{tag} ambient revision {revision:?}");
            for (cluster, network) in [("cluster1", "network1"), ("cluster2", "network2")] {
                let dir = format!("clusters/{cluster}/install/helm");
                let mut docs = std::collections::BTreeMap::new();
                for chart in ["base", "istiod", "cni", "ztunnel"] {
                    let f = file(&tree, &format!("{dir}/{chart}.values.yaml"));
                    let objs = template_values_file(&helm, &shared, tag, chart, f)
                        .unwrap_or_else(|e| panic!("{id} {cluster} {chart}: {e}"));
                    docs.insert(chart, objs);
                }
                let env = istiod_env(&docs["istiod"]);
                assert_eq!(
                    env.get("CLUSTER_ID").map(String::as_str),
                    Some(cluster),
                    "{id}"
                );
                assert_eq!(
                    env.get("AMBIENT_ENABLE_MULTI_NETWORK").map(String::as_str),
                    Some("true"),
                    "{id}"
                );
                assert_eq!(
                    env.get("PILOT_ENABLE_AMBIENT").map(String::as_str),
                    Some("true"),
                    "{id}"
                );
                let ds = find(&docs["ztunnel"], "DaemonSet");
                assert_eq!(ds.len(), 1, "{id}: one ztunnel DaemonSet");
                let zenv: std::collections::BTreeMap<String, String> =
                    ds[0]["spec"]["template"]["spec"]["containers"][0]["env"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter_map(|e| {
                            Some((
                                e["name"].as_str()?.to_owned(),
                                e["value"].as_str()?.to_owned(),
                            ))
                        })
                        .collect();
                assert_eq!(
                    zenv.get("ISTIO_META_CLUSTER_ID").map(String::as_str),
                    Some(cluster),
                    "{id}: {zenv:?}"
                );
                assert_eq!(
                    zenv.get("NETWORK").map(String::as_str),
                    Some(network),
                    "{id}: {zenv:?}"
                );
                if let Some(r) = revision {
                    let addr = zenv.get("CA_ADDRESS").cloned().unwrap_or_default();
                    assert!(
                        addr.contains(&format!("istiod-{r}")),
                        "{id}: ztunnel's CA {addr}"
                    );
                }
                assert!(
                    !find(&docs["cni"], "DaemonSet").is_empty(),
                    "{id}: the cni chart renders its DaemonSet"
                );
            }
        }
    }
}

/// Sail (ISTIO-FACTS §9.4) installs the istiod chart with the `Istio` object's values (the
/// chart's pre-1.24 nesting), its `spec.profile` and the object's name as revision: that must
/// build exactly the objects `install/helm/istiod.values.yaml` builds — one control plane,
/// two ways to install it.
#[test]
fn sail_values_build_the_same_control_plane_as_the_helm_values() {
    let (Some(helm), Some(shared)) = (helm(), shared()) else {
        return;
    };
    let tag = "1.30.3";
    type Edit = Box<dyn Fn(&mut Value)>;
    let cases: [(&str, Edit, &[&str]); 2] = [
        (
            PRIMARY_REMOTE,
            Box::new(|s| sail("1.30", tag, None)(s)),
            &["cluster1", "cluster2"],
        ),
        (
            MULTI_PRIMARY,
            Box::new(|s| {
                ambient("1.30")(s);
                sail("1.30", tag, Some("canary"))(s);
            }),
            &["cluster1", "cluster2"],
        ),
    ];
    for (name, edit, clusters) in cases {
        let tree = render_variant(name, edit);
        for cluster in clusters {
            let id = format!("{name} {cluster}");
            let dir = format!("clusters/{cluster}/install");
            let via_helm = template_values_file(
                &helm,
                &shared,
                tag,
                "istiod",
                file(&tree, &format!("{dir}/helm/istiod.values.yaml")),
            )
            .unwrap();
            let istio = &yaml_docs(&String::from_utf8_lossy(file(
                &tree,
                &format!("{dir}/sail/istio.yaml"),
            )))[0];
            assert_eq!(istio["spec"]["version"], format!("v{tag}"), "{id}");
            let mut values = istio["spec"]["values"].clone();
            if let Some(p) = istio["spec"].get("profile") {
                values["profile"] = p.clone();
            }
            let rev = istio["metadata"]["name"].as_str().unwrap();
            if rev != "default" {
                values["revision"] = json!(rev);
            }
            // Sail's own addition for its ztunnel namespace is the only difference allowed.
            let trusted = values
                .get_mut("pilot")
                .and_then(Value::as_object_mut)
                .and_then(|p| p.remove("trustedZtunnelNamespace"));
            if values.get("pilot").is_some_and(|p| p == &json!({})) {
                values.as_object_mut().unwrap().remove("pilot");
            }
            let release =
                install_command(file(&tree, &format!("{dir}/helm/istiod.values.yaml")))[0].clone();
            let via_sail = template(
                &helm,
                &release,
                &chart_dir(&shared, tag, "istiod"),
                &serde_json::to_vec(&values).unwrap(),
                &[],
            )
            .unwrap();
            // The chart's `values` ConfigMap and the injector ConfigMap's `values` key record the
            // values as given (the first "for debugging; modifying these values has no
            // effect"), so they show the nesting: leave those out, compare everything else.
            let objects = |docs: Vec<Value>| -> Vec<Value> {
                docs.into_iter()
                    .filter(|d| {
                        !(d["kind"] == "ConfigMap"
                            && d["metadata"]["name"]
                                .as_str()
                                .is_some_and(|n| n == "values" || n.starts_with("values-")))
                    })
                    .map(|mut d| {
                        let injector = d["kind"] == "ConfigMap"
                            && d["metadata"]["name"]
                                .as_str()
                                .is_some_and(|n| n.starts_with("istio-sidecar-injector"));
                        if injector && let Some(data) = d["data"].as_object_mut() {
                            data.remove("values");
                        }
                        d
                    })
                    .collect()
            };
            let (via_sail, via_helm) = (objects(via_sail), objects(via_helm));
            assert!(via_helm.len() > 5, "{id}: {} objects", via_helm.len());
            for (a, b) in via_sail.iter().zip(&via_helm) {
                assert!(
                    a == b,
                    "{id}: Sail and Helm values build different objects:\n{}\n---\n{}",
                    serde_json::to_string(a).unwrap(),
                    serde_json::to_string(b).unwrap()
                );
            }
            assert_eq!(via_sail.len(), via_helm.len(), "{id}");
            assert_eq!(trusted.is_some(), name == MULTI_PRIMARY, "{id}");
            if name == MULTI_PRIMARY {
                let z = &yaml_docs(&String::from_utf8_lossy(file(
                    &tree,
                    &format!("{dir}/sail/ztunnel.yaml"),
                )))[0];
                assert_eq!(z["metadata"]["name"], "default");
                assert_eq!(
                    z["spec"]["targetRef"],
                    json!({"kind": "Istio", "name": rev})
                );
                assert_eq!(
                    z["spec"]["values"]["ztunnel"]["multiCluster"]["clusterName"],
                    *cluster
                );
                assert_eq!(trusted, Some(z["spec"]["namespace"].clone()), "{id}");
            }
        }
    }
}

/// Every Helm values file of every golden case and every reference variant renders with real
/// Helm against Istio's chart of its minor where `../shared` has one (the exact release when
/// present), with the flags of its own install comment.
#[test]
fn every_rendered_values_file_renders_with_the_chart_of_its_release() {
    let (Some(helm), Some(shared)) = (helm(), shared()) else {
        return;
    };
    let tags: Vec<String> = std::fs::read_dir(shared.join("istio-reference/charts"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let mut trees = all_variants();
    for case in cases() {
        trees.push((
            case.file_name().unwrap().to_string_lossy().into_owned(),
            render_spec(&case.join("spec.yaml")),
        ));
    }
    let mut rendered = 0;
    let mut failures = Vec::new();
    for (label, tree) in &trees {
        for (path, bytes) in tree {
            let Some(chart) = path
                .rsplit('/')
                .next()
                .and_then(|f| f.strip_suffix(".values.yaml"))
            else {
                continue;
            };
            let chart = if chart == "eastwest-gateway" {
                "gateway"
            } else {
                chart
            };
            let cmd = install_command(bytes);
            let version = cmd
                .iter()
                .position(|a| a == "--version")
                .map(|i| cmd[i + 1].clone());
            // the chart of the exact release, else one of the same minor
            let text = String::from_utf8_lossy(bytes);
            let minor = match &version {
                Some(v) => minor_of(v),
                None => {
                    let Some(m) = label
                        .split_whitespace()
                        .find(|w| w.starts_with("1.") && w.len() <= 4)
                    else {
                        continue;
                    };
                    m.to_owned()
                }
            };
            let tag = version
                .clone()
                .filter(|v| tags.contains(v))
                .or_else(|| tags.iter().find(|t| minor_of(t) == minor).cloned());
            let Some(tag) = tag else { continue };
            let extra: Vec<&str> = cmd
                .iter()
                .filter(|a| *a == "--skip-schema-validation")
                .map(String::as_str)
                .collect();
            match template(
                &helm,
                &cmd[0],
                &chart_dir(&shared, &tag, chart),
                bytes,
                &extra,
            ) {
                Ok(docs) if !docs.is_empty() => rendered += 1,
                Ok(_) => failures.push(format!("{label}: {path}: no objects with chart {tag}")),
                Err(e) => failures.push(format!("{label}: {path} with chart {tag}: {e}\n{text}")),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(rendered >= 60, "only {rendered} values files rendered");
    eprintln!("{rendered} values files rendered with Istio's charts");
}

/// Issue-level check of the GitOps objects (DESIGN §8): every chart an Argo CD Application or
/// a Flux HelmRelease installs, with the values and schema flag it carries, renders with
/// Istio's chart of its release; istiod gets the cluster's CLUSTER_ID, network and meshID,
/// and EXTERNAL_ISTIOD on a primary serving remotes.
#[test]
fn every_chart_the_gitops_objects_install_renders_with_istios_charts() {
    let (Some(helm), Some(shared)) = (helm(), shared()) else {
        return;
    };
    let tags: Vec<String> = std::fs::read_dir(shared.join("istio-reference/charts"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let trees = [
        render_spec(&root().join("tests/cases/gitops-argocd-flux/spec.yaml")),
        render_variant(PRIMARY_REMOTE, gitops_at("1.26", "1.26.2")),
        render_variant(MULTI_PRIMARY, gitops_at("1.31", "1.31.0-rc.0")),
        render_variant(PRIMARY_REMOTE, |s| {
            gitops_at("1.30", "1.30.3")(s);
            s["istio"]["revision"] = json!("canary");
        }),
    ];
    let mut installs = 0;
    for tree in &trees {
        // (consumer, cluster, chart, release, version, values, skip schema)
        let mut charts: Vec<(String, String, String, String, String, Value, bool)> = Vec::new();
        for (path, bytes) in tree {
            let text = String::from_utf8_lossy(bytes);
            if path.starts_with("gitops/argocd/apps/") {
                for app in yaml_docs(&text) {
                    let src = &app["spec"]["source"];
                    let Some(chart) = src["chart"].as_str() else {
                        continue;
                    };
                    charts.push((
                        "Argo CD".into(),
                        app["spec"]["destination"]["name"].as_str().unwrap().into(),
                        chart.into(),
                        src["helm"]["releaseName"].as_str().unwrap().into(),
                        src["targetRevision"].as_str().unwrap().into(),
                        src["helm"]["valuesObject"].clone(),
                        src["helm"]["skipSchemaValidation"] == true,
                    ));
                }
            }
            if path.ends_with("/helmreleases.yaml") {
                for r in yaml_docs(&text) {
                    let spec = &r["spec"];
                    let secret = spec["kubeConfig"]["secretRef"]["name"].as_str().unwrap();
                    charts.push((
                        "Flux".into(),
                        secret.trim_end_matches("-kubeconfig").into(),
                        spec["chart"]["spec"]["chart"].as_str().unwrap().into(),
                        spec["releaseName"].as_str().unwrap().into(),
                        spec["chart"]["spec"]["version"].as_str().unwrap().into(),
                        spec["values"].clone(),
                        spec["install"]["disableSchemaValidation"] == true,
                    ));
                }
            }
        }
        assert!(charts.len() >= 12, "{} charts", charts.len());
        for (consumer, cluster, chart, release, version, values, skip) in charts {
            let id = format!("{consumer} {cluster} {chart} {version}");
            let tag = if tags.contains(&version) {
                version.clone()
            } else {
                tags.iter()
                    .find(|t| minor_of(t) == minor_of(&version))
                    .unwrap_or_else(|| panic!("{id}: no chart of its minor"))
                    .clone()
            };
            let extra: &[&str] = if skip {
                &["--skip-schema-validation"]
            } else {
                &[]
            };
            let docs = template(
                &helm,
                &release,
                &chart_dir(&shared, &tag, &chart),
                &serde_json::to_vec(&values).unwrap(),
                extra,
            )
            .unwrap_or_else(|e| panic!("{id} with chart {tag}: {e}"));
            installs += 1;
            if chart != "istiod" {
                continue;
            }
            let network = values["global"]["network"].as_str().unwrap().to_owned();
            let all = serde_json::to_string(&docs).unwrap();
            if find(&docs, "Deployment").is_empty() {
                // a remote: the injection path names the cluster and its network
                assert!(
                    all.contains(&format!("/inject/cluster/{cluster}/net/{network}")),
                    "{id}"
                );
                continue;
            }
            let env = istiod_env(&docs);
            assert_eq!(env.get("CLUSTER_ID"), Some(&cluster), "{id}");
            assert!(
                all.contains(&format!(
                    "meshId: {}",
                    values["global"]["meshID"].as_str().unwrap()
                )),
                "{id}: meshID"
            );
            assert!(
                all.contains(&format!("\\\"network\\\": \\\"{network}\\\"")),
                "{id}: network"
            );
            let serves = tree
                .keys()
                .any(|k| k.starts_with(&format!("clusters/{cluster}/expose-istiod")));
            assert_eq!(
                env.get("EXTERNAL_ISTIOD").map(String::as_str) == Some("true"),
                serves,
                "{id}: EXTERNAL_ISTIOD exactly on a primary serving remotes"
            );
        }
    }
    assert!(installs >= 48, "only {installs} chart installs rendered");
}
