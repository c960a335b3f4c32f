//! The whole mesh converges from Git (DESIGN §8), computed from the rendered `gitops/` tree
//! alone: for Argo CD, the sync waves of the root's Applications and of the resources inside
//! each Application; for Flux, the `dependsOn` graph of the Kustomizations (each with `wait`)
//! and of the HelmReleases inside them. Every object of every cluster gets a place in that
//! order, and every arrow of §8 must hold strictly:
//! 1. per cluster: Namespace `istio-system` → `cacerts` → `base` → `istiod` (→ `cni` →
//!    `ztunnel`) → east-west `gateway` → every other object (exposure, reader token,
//!    PushSecret, remote secrets, the ambient east-west Gateway);
//! 2. across clusters: a remote's Namespace → its primary's `istio-remote-secret-<remote>`;
//! 3. two meshes in one repository share no kind/namespace/name of a GitOps object.

mod common;
mod variants;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use common::*;
use variants::*;

/// Where an object lands in the apply order of one consumer.
#[derive(Clone, Debug)]
struct Place {
    /// The Argo CD Application or Flux Kustomization that applies it.
    unit: String,
    /// Within the unit: Argo CD resource wave; Flux: 0 for Namespaces (applied first), 1 else.
    inner: i64,
    /// A chart: its HelmRelease name (Flux), to order charts inside one Kustomization.
    release: Option<String>,
}

/// The order of one consumer: units → their predecessors (transitively closed), and where
/// every (cluster, object id) lands.
struct Order {
    label: String,
    /// unit → units strictly before it (Argo CD: lower waves; Flux: `dependsOn` closure).
    before: BTreeMap<String, BTreeSet<String>>,
    /// HelmRelease → releases strictly before it (its `dependsOn` closure).
    release_before: BTreeMap<String, BTreeSet<String>>,
    places: BTreeMap<(String, String), Place>,
}

impl Order {
    fn is_before(&self, a: &Place, b: &Place) -> bool {
        if a.unit != b.unit {
            return self
                .before
                .get(&b.unit)
                .is_some_and(|s| s.contains(&a.unit));
        }
        match (&a.release, &b.release) {
            (Some(x), Some(y)) => self.release_before.get(y).is_some_and(|s| s.contains(x)),
            _ => a.inner < b.inner,
        }
    }

    fn place(&self, cluster: &str, id: &str) -> Option<&Place> {
        self.places.get(&(cluster.to_owned(), id.to_owned()))
    }
}

fn docs(tree: &Tree, path: &str) -> Vec<Value> {
    let bytes = tree
        .get(path)
        .unwrap_or_else(|| panic!("{path} is not rendered"));
    yaml_docs(&String::from_utf8_lossy(bytes))
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

/// `kind/name` of an object (the namespace is always `istio-system` for mesh objects).
fn id(o: &Value) -> String {
    format!(
        "{}/{}",
        o["kind"].as_str().unwrap_or("?"),
        o["metadata"]["name"].as_str().unwrap_or("?")
    )
}

/// The files of `dir` an Argo CD directory source picks (not recursive; `{a,b}` or one name).
fn directory_files<'t>(tree: &'t Tree, dir: &str, include: &str, exclude: &str) -> Vec<&'t str> {
    let set = |g: &str| -> Vec<String> {
        let g = g.trim_start_matches('{').trim_end_matches('}');
        g.split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let (inc, exc) = (set(include), set(exclude));
    let prefix = format!("{dir}/");
    tree.keys()
        .filter_map(|k| k.strip_prefix(&prefix))
        .filter(|f| !f.contains('/') && f.ends_with(".yaml"))
        .filter(|f| inc.is_empty() || inc.iter().any(|i| i == f))
        .filter(|f| !exc.iter().any(|e| e == f))
        .collect()
}

/// Strips the repository path of the mesh (`gitops.path`) from a repository path.
fn in_tree(repo_path: &str, mesh_path: &str) -> String {
    let p = repo_path.trim_start_matches("./");
    p.strip_prefix(mesh_path)
        .map(|r| r.trim_start_matches('/').to_owned())
        .unwrap_or_else(|| p.to_owned())
}

fn argocd_order(label: &str, tree: &Tree, mesh_path: &str) -> Order {
    let root = &docs(tree, "gitops/argocd/root.yaml")[0];
    let apps_dir = in_tree(root["spec"]["source"]["path"].as_str().unwrap(), mesh_path);
    let mut waves = BTreeMap::new();
    let mut places = BTreeMap::new();
    let app_files: Vec<String> = tree
        .keys()
        .filter(|k| k.starts_with(&format!("{apps_dir}/")))
        .cloned()
        .collect();
    assert!(
        !app_files.is_empty(),
        "{label}: no Applications under {apps_dir}"
    );
    for f in app_files {
        for app in docs(tree, &f) {
            assert_eq!(app["kind"], "Application", "{label}: {f}");
            let name = app["metadata"]["name"].as_str().unwrap().to_owned();
            let wave: i64 = app["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            waves.insert(name.clone(), wave);
            let cluster = app["spec"]["destination"]["name"]
                .as_str()
                .unwrap()
                .to_owned();
            let src = &app["spec"]["source"];
            if let Some(chart) = src["chart"].as_str() {
                places.insert(
                    (cluster, format!("chart/{chart}")),
                    Place {
                        unit: name,
                        inner: 0,
                        release: None,
                    },
                );
                continue;
            }
            let dir = in_tree(src["path"].as_str().unwrap(), mesh_path);
            let d = &src["directory"];
            for file in directory_files(
                tree,
                &dir,
                d["include"].as_str().unwrap_or(""),
                d["exclude"].as_str().unwrap_or(""),
            ) {
                for o in docs(tree, &format!("{dir}/{file}")) {
                    let inner = o["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]
                        .as_str()
                        .map_or(0, |w| w.parse().unwrap());
                    places.insert(
                        (cluster.clone(), id(&o)),
                        Place {
                            unit: name.clone(),
                            inner,
                            release: None,
                        },
                    );
                }
            }
        }
    }
    let before = waves
        .iter()
        .map(|(a, wa)| {
            let earlier = waves
                .iter()
                .filter(|(_, wb)| *wb < wa)
                .map(|(b, _)| b.clone())
                .collect();
            (a.clone(), earlier)
        })
        .collect();
    Order {
        label: format!("{label} (Argo CD)"),
        before,
        release_before: BTreeMap::new(),
        places,
    }
}

/// Transitive closure of a "directly after" relation.
fn closure(direct: &BTreeMap<String, Vec<String>>) -> BTreeMap<String, BTreeSet<String>> {
    direct
        .keys()
        .map(|k| {
            let mut seen = BTreeSet::new();
            let mut todo = direct[k].clone();
            while let Some(n) = todo.pop() {
                if seen.insert(n.clone()) {
                    todo.extend(direct.get(&n).cloned().unwrap_or_default());
                }
            }
            (k.clone(), seen)
        })
        .collect()
}

/// The objects a Flux stage root builds: its resources, `../` resolved in the tree.
fn kustomization_objects(tree: &Tree, dir: &str) -> Vec<Value> {
    let k = &docs(tree, &format!("{dir}/kustomization.yaml"))[0];
    let mut out = Vec::new();
    for r in k["resources"].as_array().into_iter().flatten() {
        let mut parts: Vec<&str> = dir.split('/').collect();
        for p in r.as_str().unwrap().split('/') {
            match p {
                ".." => {
                    parts.pop();
                }
                "." => {}
                p => parts.push(p),
            }
        }
        out.extend(docs(tree, &parts.join("/")));
    }
    out
}

fn flux_order(label: &str, tree: &Tree, mesh_path: &str) -> Order {
    let index = &docs(tree, "gitops/flux/kustomization.yaml")[0];
    let mut direct = BTreeMap::new();
    let mut release_direct = BTreeMap::new();
    let mut places = BTreeMap::new();
    for r in index["resources"].as_array().unwrap() {
        for ks in docs(tree, &format!("gitops/flux/{}", r.as_str().unwrap())) {
            if ks["kind"] != "Kustomization" {
                continue;
            }
            let name = ks["metadata"]["name"].as_str().unwrap().to_owned();
            assert!(
                ks["spec"]["wait"] == true
                    || ks["spec"]["healthChecks"]
                        .as_array()
                        .is_some_and(|h| !h.is_empty()),
                "{label}: {name} waits for health"
            );
            let deps: Vec<String> = ks["spec"]["dependsOn"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|d| d["name"].as_str().unwrap().to_owned())
                .collect();
            direct.insert(name.clone(), deps);
            let secret = ks["spec"]["kubeConfig"]["secretRef"]["name"].as_str();
            let dir = in_tree(ks["spec"]["path"].as_str().unwrap(), mesh_path);
            if !tree.contains_key(&format!("{dir}/kustomization.yaml")) {
                // another source (the upstream Gateway API CRDs): nothing of this tree
                assert_eq!(
                    ks["spec"]["sourceRef"]["kind"], "GitRepository",
                    "{label}: {name}"
                );
                continue;
            }
            for o in kustomization_objects(tree, &dir) {
                if o["kind"] == "HelmRelease" {
                    let rel = o["metadata"]["name"].as_str().unwrap().to_owned();
                    let target = o["spec"]["kubeConfig"]["secretRef"]["name"]
                        .as_str()
                        .unwrap();
                    let cluster = target.strip_suffix("-kubeconfig").unwrap().to_owned();
                    let chart = o["spec"]["chart"]["spec"]["chart"].as_str().unwrap();
                    release_direct.insert(
                        rel.clone(),
                        o["spec"]["dependsOn"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .map(|d| d["name"].as_str().unwrap().to_owned())
                            .collect::<Vec<_>>(),
                    );
                    places.insert(
                        (cluster, format!("chart/{chart}")),
                        Place {
                            unit: name.clone(),
                            inner: 1,
                            release: Some(rel),
                        },
                    );
                    continue;
                }
                let cluster = secret
                    .and_then(|s| s.strip_suffix("-kubeconfig"))
                    .unwrap_or_else(|| panic!("{label}: {name} applies {} to no cluster", id(&o)))
                    .to_owned();
                // Flux applies Namespaces (and CRDs) before the other objects of a Kustomization.
                let inner = if o["kind"] == "Namespace" { 0 } else { 1 };
                places.insert(
                    (cluster, id(&o)),
                    Place {
                        unit: name.clone(),
                        inner,
                        release: None,
                    },
                );
            }
        }
    }
    Order {
        label: format!("{label} (Flux)"),
        before: closure(&direct),
        release_before: closure(&release_direct),
        places,
    }
}

/// Every arrow of DESIGN §8 in `order`, for the clusters of `tree`; returns how many arrows
/// were checked, and how many of them were remote namespace → primary's remote secret.
fn check_arrows(order: &Order, tree: &Tree, failures: &mut Vec<String>) -> (usize, usize) {
    let mut checked = 0;
    let mut arrow = |a: (&str, &str), b: (&str, &str), failures: &mut Vec<String>| {
        let (Some(pa), Some(pb)) = (order.place(a.0, a.1), order.place(b.0, b.1)) else {
            failures.push(format!(
                "{}: {}:{} or {}:{} is applied by nothing",
                order.label, a.0, a.1, b.0, b.1
            ));
            return;
        };
        checked += 1;
        if !order.is_before(pa, pb) {
            failures.push(format!(
                "{}: {}:{} ({pa:?}) is not applied (and healthy) before {}:{} ({pb:?})",
                order.label, a.0, a.1, b.0, b.1
            ));
        }
    };
    let clusters: BTreeSet<String> = tree
        .keys()
        .filter_map(|k| k.strip_prefix("clusters/"))
        .filter_map(|k| k.split_once('/').map(|(c, _)| c.to_owned()))
        .collect();
    let mut remotes = 0;
    let token_ids = |cl: &str| -> Vec<String> {
        order
            .places
            .keys()
            .filter(|(c, i)| {
                c == cl
                    && (i.starts_with("PushSecret/")
                        || i.as_str()
                            == "Secret/istio-reader-service-account-istio-remote-secret-token")
            })
            .map(|(_, i)| i.clone())
            .collect()
    };
    let control_plane_of = |r: &str| -> Option<String> {
        let ns = &docs(tree, &format!("clusters/{r}/namespace.yaml"))[0];
        ns["metadata"]["annotations"]["topology.istio.io/controlPlaneClusters"]
            .as_str()
            .map(str::to_owned)
    };
    for c in &clusters {
        let ns = "Namespace/istio-system";
        let objects: Vec<String> = order
            .places
            .keys()
            .filter(|(cl, _)| cl == c)
            .map(|(_, i)| i.clone())
            .collect();
        let cacerts = objects.iter().find(|i| i.ends_with("/cacerts")).cloned();
        // 1. ns → cacerts → base → istiod (→ cni → ztunnel) → gateway → exposure
        let mut chain: Vec<String> = vec![ns.to_owned()];
        chain.extend(cacerts.clone());
        for chart in ["base", "istiod", "cni", "ztunnel"] {
            let k = format!("chart/{chart}");
            if objects.contains(&k) {
                chain.push(k);
            }
        }
        assert!(
            chain.iter().any(|k| k == "chart/istiod"),
            "{}: {c} installs no istiod: {objects:?}",
            order.label
        );
        for w in chain.windows(2) {
            arrow((c, &w[0]), (c, &w[1]), failures);
        }
        let core_last = chain.last().unwrap().clone();
        let gateway = objects.iter().find(|o| *o == "chart/gateway").cloned();
        if let Some(g) = &gateway {
            arrow((c, &core_last), (c, g), failures);
        }
        for o in &objects {
            if chain.contains(o) || gateway.as_ref() == Some(o) {
                continue;
            }
            if token_ids(c).contains(o) {
                // the reader token (its service account comes with base), and its push
                arrow((c, "chart/base"), (c, o), failures);
            } else if let Some(peer) = o
                .strip_prefix("ExternalSecret/istio-remote-secret-")
                .or_else(|| o.strip_prefix("Secret/istio-remote-secret-"))
            {
                arrow((c, &core_last), (c, o), failures);
                // the peer's token is in the store (pushed) before the secret that reads it
                for t in token_ids(peer) {
                    arrow((peer, &t), (c, o), failures);
                }
                // 2. a remote's namespace (annotated with this primary) before this primary's
                // remote secret for it
                if control_plane_of(peer).as_deref() == Some(c.as_str()) {
                    remotes += 1;
                    arrow((peer, ns), (c, o), failures);
                }
            } else {
                let after = gateway.clone().unwrap_or_else(|| core_last.clone());
                arrow((c, &after), (c, o), failures);
            }
        }
        // a remote's gateway pods are injected by its primary: the primary holds the
        // remote's secret and exposes istiod before the remote's gateway is installed
        if let (Some(p), Some(g)) = (control_plane_of(c), &gateway) {
            let secret = order
                .places
                .keys()
                .find(|(cl, i)| cl == &p && i.ends_with(&format!("istio-remote-secret-{c}")))
                .map(|(_, i)| i.clone());
            if let Some(sec) = secret {
                arrow((&p, &sec), (c, g), failures);
            }
            for expose in ["Gateway/istiod-gateway"] {
                if order.place(&p, expose).is_some() {
                    arrow((&p, expose), (c, g), failures);
                }
            }
        }
    }
    // every object of every cluster's kustomization is applied by the consumer
    for c in &clusters {
        let k = &docs(tree, &format!("clusters/{c}/kustomization.yaml"))[0];
        for r in k["resources"].as_array().unwrap() {
            for o in docs(tree, &format!("clusters/{c}/{}", r.as_str().unwrap())) {
                if order.place(c, &id(&o)).is_none() {
                    failures.push(format!("{}: {c}: {} is never applied", order.label, id(&o)));
                }
            }
        }
    }
    (checked, remotes)
}

fn with_gitops(path: &str) -> impl FnOnce(&mut Value) + '_ {
    move |s: &mut Value| {
        s["gitops"] = json!({
            "repoURL": "https://git.example.com/platform/mesh.git",
            "path": path,
            "argocd": {},
            "flux": {},
        });
    }
}

/// The trees to check: (label, tree, gitops.path).
fn meshes() -> Vec<(String, Tree, String)> {
    let mut out = Vec::new();
    for case in [
        "gitops-argocd-flux",
        "ambient-multi-network",
        "cert-manager",
    ] {
        out.push((
            case.to_owned(),
            render_spec(&root().join("tests/cases").join(case).join("spec.yaml")),
            "meshes/mesh1".to_owned(),
        ));
    }
    // five clusters: two primaries serving a remote each, a third primary
    out.push((
        "mixed-five-clusters".into(),
        render_case_variant("mixed-five-clusters", with_gitops("prod")),
        "prod".into(),
    ));
    // regional hubs with read sets: the stages follow the read pairs only
    out.push((
        "read-sets-hub".into(),
        render_case_variant("read-sets-hub", with_gitops("prod")),
        "prod".into(),
    ));
    // the reference specs at the newest and at a broken-schema release, with a revision
    for (name, minor, tag) in [
        (PRIMARY_REMOTE, "1.31", "1.31.0-rc.0"),
        (MULTI_PRIMARY, "1.26", "1.26.2"),
    ] {
        out.push((
            format!("{name} {tag}"),
            render_variant(name, |s| {
                gitops_at(minor, tag)(s);
                s["istio"]["revision"] = json!("canary");
            }),
            "meshes/reference".into(),
        ));
    }
    out
}

#[test]
fn argo_cd_and_flux_apply_every_object_in_the_order_istio_needs() {
    let mut failures = Vec::new();
    let (mut checked, mut remote_arrows) = (0, 0);
    for (label, tree, path) in meshes() {
        for order in [
            argocd_order(&label, &tree, &path),
            flux_order(&label, &tree, &path),
        ] {
            let (n, r) = check_arrows(&order, &tree, &mut failures);
            checked += n;
            remote_arrows += r;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked > 100, "only {checked} arrows checked");
    assert!(
        remote_arrows >= 8,
        "only {remote_arrows} remote-namespace arrows checked"
    );
}

/// The checker itself: an order that applies a primary's remote secret with the remote's
/// namespace (same wave) is caught.
#[test]
fn the_order_checker_catches_a_remote_secret_before_the_remote_namespace() {
    let tree = render_spec(&root().join("tests/cases/gitops-argocd-flux/spec.yaml"));
    let mut order = argocd_order("broken", &tree, "meshes/mesh1");
    let ns = order
        .place("cluster2", "Namespace/istio-system")
        .unwrap()
        .clone();
    let secret = (
        "cluster1".to_owned(),
        "ExternalSecret/istio-remote-secret-cluster2".to_owned(),
    );
    order.places.insert(secret, ns);
    let mut failures = Vec::new();
    check_arrows(&order, &tree, &mut failures);
    assert!(
        failures
            .iter()
            .any(|f| f.contains("istio-remote-secret-cluster2")),
        "{failures:#?}"
    );
}

/// Two meshes in two paths of one repository: no Argo CD or Flux object (in the management
/// cluster) shares kind, namespace and name.
#[test]
fn two_meshes_in_one_repository_share_no_gitops_object() {
    let objects = |tree: &Tree| -> BTreeSet<(String, String, String)> {
        tree.iter()
            .filter(|(k, _)| k.starts_with("gitops/") && k.ends_with(".yaml"))
            .flat_map(|(_, b)| yaml_docs(&String::from_utf8_lossy(b)))
            .filter(|d| !d.is_null())
            .filter(|d| d["apiVersion"] != "kustomize.config.k8s.io/v1beta1")
            .map(|d| {
                (
                    d["kind"].as_str().unwrap_or("?").to_owned(),
                    d["metadata"]["namespace"].as_str().unwrap_or("").to_owned(),
                    d["metadata"]["name"].as_str().unwrap_or("?").to_owned(),
                )
            })
            .collect()
    };
    let mesh = |id: &'static str, path: &'static str| {
        render_case_variant("gitops-argocd-flux", move |s| {
            s["meshID"] = json!(id);
            s["gitops"]["path"] = json!(path);
        })
    };
    let (a, b) = (mesh("mesh-a", "meshes/a"), mesh("mesh-b", "meshes/b"));
    let (oa, ob) = (objects(&a), objects(&b));
    assert!(oa.len() > 10, "{oa:?}");
    let shared: Vec<_> = oa.intersection(&ob).collect();
    assert!(shared.is_empty(), "shared objects: {shared:?}");
}
