//! Impact classification for review (`diff --summary`, `check --format json`): the old (on
//! disk) and new (rendered) bytes of each changed file are parsed into YAML documents, keyed
//! by (API group, kind, namespace, name), compared object by object, and each changed object
//! gets the runtime effects meshrender knows for it. Pure: no I/O, no printing; never panics
//! (a file that does not parse is reported as a file). Secret data is never copied into a
//! result: objects are named, their values only counted (PEM blocks of a root bundle).

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::Value;

/// What happened to one object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Change {
    Added,
    Changed,
    Removed,
}

impl Change {
    pub fn word(self) -> &'static str {
        match self {
            Change::Added => "added",
            Change::Changed => "changed",
            Change::Removed => "removed",
        }
    }
}

/// One changed object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectChange {
    /// The cluster directory the file is in; `None`: mesh-wide.
    pub cluster: Option<String>,
    pub path: String,
    /// API group (`""` for the core group; `helm` for Helm values files).
    pub group: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub change: Change,
    /// Runtime effects; empty: no known runtime effect.
    pub effects: Vec<String>,
}

impl ObjectChange {
    /// `namespace/name`, or `name` for cluster-scoped objects.
    pub fn object(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}/{}", self.name),
            None => self.name.clone(),
        }
    }
}

/// A changed file that yields no object change (comments only, not YAML, unparsable…).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileNote {
    pub cluster: Option<String>,
    pub path: String,
    pub note: String,
}

/// The review of a set of changed files: objects and file notes, sorted by cluster, path, key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Review {
    pub objects: Vec<ObjectChange>,
    pub files: Vec<FileNote>,
}

/// No effect known.
pub const NO_EFFECT: &str = "no known runtime effect";
pub const ISTIOD_RESTART: &str = "istiod restart (control plane rolls out)";
pub const CERTS_REISSUED: &str =
    "certificates re-issued: istiod restarts, workloads get new certs as they rotate";
pub const EASTWEST_ROLLOUT: &str = "east-west gateway rollout";
pub const CROSS_NETWORK: &str = "cross-network traffic path";
pub const NAMESPACE_LABEL: &str = "namespace network label: sidecar injection/routing change";
pub const GITOPS: &str = "GitOps sync order/config change";
pub const NOTHING_CHANGED: &str = "no object changed (comments or formatting only)";

/// The cluster of an output path: the directory under `clusters/`, or `None` (mesh-wide).
pub fn cluster_of(path: &str) -> Option<String> {
    let mut parts = path.split('/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("clusters"), Some(c), Some(_)) => Some(c.to_owned()),
        _ => None,
    }
}

type Key = (String, String, Option<String>, String);

struct Doc {
    key: Key,
    value: Value,
}

fn s(v: &Value, ptr: &str) -> Option<String> {
    v.pointer(ptr).and_then(Value::as_str).map(str::to_owned)
}

/// The documents of a YAML file, keyed; `None` when it does not parse.
fn documents(path: &str, bytes: &[u8]) -> Option<Vec<Doc>> {
    let text = std::str::from_utf8(bytes).ok()?;
    let parsed: Vec<Value> = serde_saphyr::from_multiple(text).ok()?;
    let stem = path.rsplit('/').next().unwrap_or(path);
    let mut seen: BTreeMap<Key, usize> = BTreeMap::new();
    let mut out = Vec::new();
    for (i, value) in parsed.into_iter().filter(|d| !d.is_null()).enumerate() {
        let key = match (s(&value, "/apiVersion"), s(&value, "/kind")) {
            (Some(api), Some(kind)) => {
                let group = api.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
                (
                    group.to_owned(),
                    kind,
                    s(&value, "/metadata/namespace"),
                    s(&value, "/metadata/name").unwrap_or_else(|| format!("{stem}#{}", i + 1)),
                )
            }
            _ if stem.ends_with(".values.yaml") => (
                "helm".to_owned(),
                "HelmValues".to_owned(),
                None,
                stem.trim_end_matches(".values.yaml").to_owned(),
            ),
            _ => (
                String::new(),
                "Document".to_owned(),
                None,
                format!("{stem}#{}", i + 1),
            ),
        };
        let n = seen.entry(key.clone()).or_insert(0);
        *n += 1;
        let key = if *n > 1 {
            (key.0, key.1, key.2, format!("{}#{n}", key.3))
        } else {
            key
        };
        out.push(Doc { key, value });
    }
    Some(out)
}

fn is_yaml(path: &str) -> bool {
    path.ends_with(".yaml") || path.ends_with(".yml")
}

/// Classifies one changed file: `old` as on disk (`None`: absent), `new` as rendered
/// (`None`: no longer rendered). `status` is the file's drift word (hand-edited files get
/// a note as well as their objects).
pub fn classify_file(
    review: &mut Review,
    path: &str,
    cluster: Option<&str>,
    old: Option<&[u8]>,
    new: Option<&[u8]>,
) {
    let cluster = cluster.map(str::to_owned).or_else(|| cluster_of(path));
    let note = |review: &mut Review, note: &str| {
        review.files.push(FileNote {
            cluster: cluster.clone(),
            path: path.to_owned(),
            note: note.to_owned(),
        })
    };
    if !is_yaml(path) {
        note(review, "not YAML: no known runtime effect");
        return;
    }
    let parse = |b: Option<&[u8]>| match b {
        None => Some(Vec::new()),
        Some(b) => documents(path, b),
    };
    let (Some(old_docs), Some(new_docs)) = (parse(old), parse(new)) else {
        note(review, "does not parse as YAML: reported as a file");
        return;
    };
    let old_map: BTreeMap<Key, Value> = old_docs.into_iter().map(|d| (d.key, d.value)).collect();
    let new_map: BTreeMap<Key, Value> = new_docs.into_iter().map(|d| (d.key, d.value)).collect();
    let mut keys: Vec<&Key> = old_map.keys().chain(new_map.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut any = false;
    for k in keys {
        let (o, n) = (old_map.get(k), new_map.get(k));
        let change = match (o, n) {
            (None, Some(_)) => Change::Added,
            (Some(_), None) => Change::Removed,
            (Some(a), Some(b)) if a != b => Change::Changed,
            _ => continue,
        };
        any = true;
        let mut c = ObjectChange {
            cluster: cluster.clone(),
            path: path.to_owned(),
            group: k.0.clone(),
            kind: k.1.clone(),
            namespace: k.2.clone(),
            name: k.3.clone(),
            change,
            effects: Vec::new(),
        };
        c.effects = effects(&c, o, n);
        review.objects.push(c);
    }
    if !any {
        note(review, NOTHING_CHANGED);
    }
}

/// Sorts a review: by cluster (mesh-wide last), path, then object.
pub fn sort(review: &mut Review) {
    let ck = |c: &Option<String>| (c.is_none(), c.clone());
    review.objects.sort_by(|a, b| {
        (
            ck(&a.cluster),
            &a.path,
            &a.group,
            &a.kind,
            &a.namespace,
            &a.name,
        )
            .cmp(&(
                ck(&b.cluster),
                &b.path,
                &b.group,
                &b.kind,
                &b.namespace,
                &b.name,
            ))
    });
    review
        .files
        .sort_by(|a, b| (ck(&a.cluster), &a.path).cmp(&(ck(&b.cluster), &b.path)));
}

fn label(v: Option<&Value>, ptr: &str, key: &str) -> Option<String> {
    v?.pointer(ptr)?.get(key)?.as_str().map(str::to_owned)
}

fn mentions(v: Option<&Value>, needle: &str) -> bool {
    v.is_some_and(|v| v.to_string().contains(needle))
}

fn pem_count(v: Option<&Value>) -> Option<usize> {
    let b64 = v?.pointer("/data/root-cert.pem")?.as_str()?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    Some(
        String::from_utf8_lossy(&bytes)
            .matches("-----BEGIN CERTIFICATE-----")
            .count(),
    )
}

/// The runtime effects of one object change (the effects table).
pub fn effects(c: &ObjectChange, old: Option<&Value>, new: Option<&Value>) -> Vec<String> {
    let here = c.cluster.as_deref().unwrap_or("the mesh");
    let either = new.or(old);
    let file = c.path.rsplit('/').next().unwrap_or("");
    let eastwest_name = c.name.contains("eastwest");
    let mut e: Vec<String> = Vec::new();
    match (c.group.as_str(), c.kind.as_str()) {
        // remote secrets: the Secret itself or the ExternalSecret that builds it
        ("", "Secret") | ("external-secrets.io", "ExternalSecret")
            if label(either, "/metadata/labels", "istio/multiCluster").as_deref()
                == Some("true")
                || label(
                    either,
                    "/spec/target/template/metadata/labels",
                    "istio/multiCluster",
                )
                .as_deref()
                    == Some("true") =>
        {
            let remote = label(
                either,
                "/metadata/annotations",
                "networking.istio.io/cluster",
            )
            .or_else(|| {
                label(
                    either,
                    "/spec/target/template/metadata/annotations",
                    "networking.istio.io/cluster",
                )
            })
            .unwrap_or_else(|| c.name.trim_start_matches("istio-remote-secret-").to_owned());
            e.push(match c.change {
                Change::Added => format!("cluster {remote} registered on primary {here}"),
                Change::Changed => format!("cluster {remote} re-registered on primary {here}"),
                Change::Removed => format!("cluster {remote} no longer watched by primary {here}"),
            });
        }
        ("", "Secret") | ("external-secrets.io", "ExternalSecret") if c.name == "cacerts" => {
            if c.change == Change::Changed {
                match (pem_count(old), pem_count(new)) {
                    (Some(1), Some(2)) => {
                        e.push("root rotation step 1 of 3 (both roots trusted)".into())
                    }
                    (Some(2), Some(2)) => {
                        e.push("root rotation step 2 of 3 (intermediate under the new root)".into())
                    }
                    (Some(2), Some(1)) => {
                        e.push("root rotation step 3 of 3 (old root dropped)".into())
                    }
                    _ => {}
                }
            }
            e.push(CERTS_REISSUED.into());
        }
        ("cert-manager.io", "Certificate") => e.push(CERTS_REISSUED.into()),
        ("install.istio.io", "IstioOperator") => {
            if eastwest_name || file.contains("eastwest") {
                e.push(EASTWEST_ROLLOUT.into());
            } else {
                e.push(ISTIOD_RESTART.into());
                rotation_env(c, old, new, &mut e);
            }
        }
        ("helm", "HelmValues") => match c.name.as_str() {
            "istiod" => {
                e.push(ISTIOD_RESTART.into());
                rotation_env(c, old, new, &mut e);
            }
            n if n.contains("eastwest") => e.push(EASTWEST_ROLLOUT.into()),
            _ => {}
        },
        ("sailoperator.io", "Istio") => {
            e.push(ISTIOD_RESTART.into());
            rotation_env(c, old, new, &mut e);
        }
        ("helm.toolkit.fluxcd.io", "HelmRelease") => {
            match s(either.unwrap_or(&Value::Null), "/spec/chart/spec/chart").as_deref() {
                Some("istiod") => {
                    e.push(ISTIOD_RESTART.into());
                    rotation_env(c, old, new, &mut e);
                }
                Some("gateway") => e.push(EASTWEST_ROLLOUT.into()),
                _ => e.push(GITOPS.into()),
            }
        }
        ("apps", "Deployment") if eastwest_name => e.push(EASTWEST_ROLLOUT.into()),
        ("gateway.networking.k8s.io", "Gateway") if eastwest_name => {
            e.push(EASTWEST_ROLLOUT.into())
        }
        ("networking.istio.io", _) if file.starts_with("expose-") => e.push(CROSS_NETWORK.into()),
        ("", "Namespace") => {
            let net = |v| label(v, "/metadata/labels", "topology.istio.io/network");
            let labels = |v: Option<&Value>| v.and_then(|v| v.pointer("/metadata/labels")).cloned();
            if c.change == Change::Changed && labels(old) != labels(new) {
                let (a, b) = (net(old), net(new));
                if a != b {
                    e.push(format!(
                        "{NAMESPACE_LABEL} ({} → {})",
                        a.as_deref().unwrap_or("none"),
                        b.as_deref().unwrap_or("none")
                    ));
                } else {
                    e.push(NAMESPACE_LABEL.into());
                }
            }
        }
        ("argoproj.io", _) | ("kustomize.toolkit.fluxcd.io", "Kustomization") => {
            e.push(GITOPS.into())
        }
        _ => {}
    }
    e
}

/// `ISTIO_MULTIROOT_MESH` set or dropped in the control plane's settings: root rotation.
fn rotation_env(c: &ObjectChange, old: Option<&Value>, new: Option<&Value>, e: &mut Vec<String>) {
    if c.change != Change::Changed {
        return;
    }
    const ENV: &str = "ISTIO_MULTIROOT_MESH";
    match (mentions(old, ENV), mentions(new, ENV)) {
        (false, true) => e.push("root rotation step 1 of 3 (istiod accepts both roots)".into()),
        (true, false) => e.push("root rotation step 3 of 3 (multi-root settings removed)".into()),
        _ => {}
    }
}

/// The effects of an object as shown: the list, or [`NO_EFFECT`].
pub fn effect_text(c: &ObjectChange) -> String {
    if c.effects.is_empty() {
        NO_EFFECT.to_owned()
    } else {
        c.effects.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn review(path: &str, old: Option<&str>, new: Option<&str>) -> Review {
        let mut r = Review::default();
        classify_file(
            &mut r,
            path,
            None,
            old.map(str::as_bytes),
            new.map(str::as_bytes),
        );
        sort(&mut r);
        r
    }

    const NS: &str = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: istio-system\n  labels:\n    topology.istio.io/network: network1\n";

    #[test]
    fn comment_only_change_is_no_object_change() {
        let r = review(
            "clusters/c1/namespace.yaml",
            Some(NS),
            Some(&format!("# hi\n{NS}")),
        );
        assert!(r.objects.is_empty());
        assert_eq!(r.files[0].note, NOTHING_CHANGED);
        assert_eq!(r.files[0].cluster.as_deref(), Some("c1"));
    }

    #[test]
    fn network_label_change() {
        let r = review(
            "clusters/c1/namespace.yaml",
            Some(NS),
            Some(&NS.replace("network1", "n2")),
        );
        assert_eq!(r.objects.len(), 1);
        let o = &r.objects[0];
        assert_eq!(
            (o.kind.as_str(), o.object(), o.change),
            ("Namespace", "istio-system".to_owned(), Change::Changed)
        );
        assert_eq!(
            o.effects,
            vec![format!("{NAMESPACE_LABEL} (network1 → n2)")]
        );
    }

    #[test]
    fn remote_secret_registration() {
        let s = "apiVersion: v1\nkind: Secret\nmetadata:\n  annotations:\n    networking.istio.io/cluster: c3\n  labels:\n    istio/multiCluster: \"true\"\n  name: istio-remote-secret-c3\n  namespace: istio-system\nstringData:\n  c3: x\n";
        let p = "clusters/c1/remote-secret-c3.yaml";
        assert_eq!(
            review(p, None, Some(s)).objects[0].effects,
            ["cluster c3 registered on primary c1"]
        );
        assert_eq!(
            review(p, Some(s), Some(&s.replace("x\n", "y\n"))).objects[0].effects,
            ["cluster c3 re-registered on primary c1"]
        );
        assert_eq!(
            review(p, Some(s), None).objects[0].effects,
            ["cluster c3 no longer watched by primary c1"]
        );
    }

    #[test]
    fn cacerts_root_rotation_steps() {
        let b = |n: usize| {
            base64::engine::general_purpose::STANDARD
                .encode("-----BEGIN CERTIFICATE-----\n".repeat(n))
        };
        let cacerts = |roots: usize, ca: &str| {
            format!(
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: cacerts\n  namespace: istio-system\ndata:\n  ca-cert.pem: {ca}\n  root-cert.pem: {}\n",
                b(roots)
            )
        };
        let p = "clusters/c1/cacerts.yaml";
        let step = |o: String, n: String| review(p, Some(&o), Some(&n)).objects[0].effects.clone();
        assert_eq!(
            step(cacerts(1, "a"), cacerts(2, "a"))[0],
            "root rotation step 1 of 3 (both roots trusted)"
        );
        assert_eq!(
            step(cacerts(2, "a"), cacerts(2, "b"))[0],
            "root rotation step 2 of 3 (intermediate under the new root)"
        );
        assert_eq!(
            step(cacerts(2, "b"), cacerts(1, "b"))[0],
            "root rotation step 3 of 3 (old root dropped)"
        );
        assert_eq!(step(cacerts(1, "a"), cacerts(1, "b")), [CERTS_REISSUED]);
    }

    #[test]
    fn helm_values_iop_and_unknown() {
        let r = review(
            "clusters/c1/install/helm/istiod.values.yaml",
            Some("a: 1\n"),
            Some("a: 2\n"),
        );
        assert_eq!(
            (r.objects[0].kind.as_str(), r.objects[0].name.as_str()),
            ("HelmValues", "istiod")
        );
        assert_eq!(r.objects[0].effects, [ISTIOD_RESTART]);
        let iop = "apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nmetadata:\n  name: eastwest\nspec: {a: 1}\n";
        let r = review(
            "clusters/c1/install/eastwest-gateway.yaml",
            Some(iop),
            Some(&iop.replace("1}", "2}")),
        );
        assert_eq!(r.objects[0].effects, [EASTWEST_ROLLOUT]);
        let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata: {a: b}\n";
        let r = review("gitops/x.yaml", None, Some(cm));
        assert_eq!(
            (r.objects[0].cluster.clone(), effect_text(&r.objects[0])),
            (None, NO_EFFECT.to_owned())
        );
    }

    #[test]
    fn several_documents_and_bad_input_never_panic() {
        let two = "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: b}\n";
        let r = review("clusters/c1/x.yaml", None, Some(two));
        assert_eq!(
            r.objects
                .iter()
                .map(|o| o.name.as_str())
                .collect::<Vec<_>>(),
            ["a", "b"]
        );
        let r = review("clusters/c1/x.yaml", Some("a: [\n\u{0}"), Some(two));
        assert!(r.objects.is_empty() && r.files[0].note.contains("does not parse"));
        let r = review("README.md", Some("a"), Some("b"));
        assert_eq!(r.files[0].note, "not YAML: no known runtime effect");
        let mut r = Review::default();
        classify_file(
            &mut r,
            "clusters/c1/x.yaml",
            None,
            Some(&[0xff, 0xfe]),
            None,
        );
        assert!(r.objects.is_empty() && r.files[0].note.contains("does not parse"));
    }
}
