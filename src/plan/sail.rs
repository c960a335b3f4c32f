//! `install/sail/`: the Sail Operator's CRs that install the same control plane as
//! `install/helm/` (`istio.sail`; DESIGN §7.2, ISTIO-FACTS §9.4): `Istio`, plus `IstioCNI`
//! and `ZTunnel` (and their namespaces) for ambient, with their own kustomization.
//!
//! The values are the Helm values of `install/helm/istiod.values.yaml` as data, in the
//! nesting the Sail API uses (the istiod chart's pre-1.24 layout, which the chart still
//! reads): `env` moves to `pilot.env`; `profile` becomes `spec.profile`; the revision is the
//! `Istio` object's name (Sail names the IstioRevision, hence `istiod-<rev>`, after it). Sail
//! installs the `base` chart itself and deploys no gateways: the east-west gateway comes from
//! `install/helm/eastwest-gateway.values.yaml` (or `install/eastwest-gateway.yaml`), and
//! ambient's from `eastwest-gateway.yaml`.

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::helm::ClusterHelm;
use super::{Applied, ClusterFiles, Ctx};

/// Where the Sail guide puts the ambient node agents.
const CNI_NAMESPACE: &str = "istio-cni";
const ZTUNNEL_NAMESPACE: &str = "ztunnel";

#[derive(Serialize)]
struct Cr<'a> {
    kind: &'static str,
    name: &'a str,
    spec: Value,
}

#[derive(Serialize)]
struct Namespaces {
    names: [&'static str; 2],
}

#[derive(Serialize)]
struct Kustomization {
    resources: Vec<String>,
}

/// The Sail values of the `Istio` object, from the istiod chart's values.
fn istio_values(istiod: &Value, ambient: bool) -> (Option<Value>, Value) {
    let mut values = istiod.as_object().cloned().unwrap_or_default();
    let profile = values.remove("profile");
    values.remove("revision");
    // The istiod chart's flattened keys (env, replicaCount, resources: overrides included)
    // are the Sail API's `pilot.*`; only the Sail `values` top-level keys stay where they are.
    const TOP: &[&str] = &[
        "base",
        "compatibilityVersion",
        "defaultRevision",
        "experimental",
        "gatewayClasses",
        "global",
        "istiodRemote",
        "meshConfig",
        "pilot",
        "sidecarInjectorWebhook",
        "telemetry",
    ];
    let mut pilot = match values.remove("pilot") {
        Some(Value::Object(p)) => p,
        _ => Map::new(),
    };
    let flattened: Vec<String> = values
        .keys()
        .filter(|k| !TOP.contains(&k.as_str()))
        .cloned()
        .collect();
    for k in flattened {
        if let Some(v) = values.remove(&k) {
            pilot.insert(k, v);
        }
    }
    if ambient {
        pilot.insert("trustedZtunnelNamespace".into(), json!(ZTUNNEL_NAMESPACE));
    }
    if !pilot.is_empty() {
        values.insert("pilot".into(), Value::Object(pilot));
    }
    (profile, Value::Object(values))
}

pub(super) fn plan(x: &Ctx, h: &ClusterHelm, out: &mut ClusterFiles) {
    let mesh = x.mesh;
    // validate guarantees a chart version whenever `istio.sail` is set
    let version = format!("v{}", mesh.charts.version.as_deref().unwrap_or_default());
    let name = mesh.revision.as_deref().unwrap_or("default");
    let ambient = h.ambient.as_ref();
    let (profile, values) = istio_values(&h.istiod, ambient.is_some());
    let mut spec = Map::new();
    spec.insert("version".into(), json!(version));
    spec.insert("namespace".into(), json!("istio-system"));
    if let Some(p) = profile {
        spec.insert("profile".into(), p);
    }
    spec.insert("values".into(), values);
    let mut files = Vec::new();
    if let Some(a) = ambient {
        out.add(
            "install/sail/namespaces.yaml",
            "sail/namespaces.yaml.j2",
            Applied::No,
            Namespaces {
                names: [CNI_NAMESPACE, ZTUNNEL_NAMESPACE],
            },
        );
        files.push("namespaces.yaml");
        let mut cni_values = a.cni.as_object().cloned().unwrap_or_default();
        let cni_profile = cni_values.remove("profile");
        cni_values.remove("revision");
        let mut cni = Map::new();
        cni.insert("version".into(), json!(version));
        cni.insert("namespace".into(), json!(CNI_NAMESPACE));
        if let Some(p) = cni_profile {
            cni.insert("profile".into(), p);
        }
        if !cni_values.is_empty() {
            cni.insert("values".into(), json!({ "cni": cni_values }));
        }
        out.add(
            "install/sail/istiocni.yaml",
            "sail/cr.yaml.j2",
            Applied::No,
            Cr {
                kind: "IstioCNI",
                name: "default",
                spec: Value::Object(cni),
            },
        );
        files.push("istiocni.yaml");
        let mut z = a.ztunnel.as_object().cloned().unwrap_or_default();
        // `targetRef` makes Sail copy the control plane's global values, meshConfig and
        // revision (so ztunnel calls the revision's istiod); the name and network stay
        // explicit, as in Sail's ambient multicluster guide.
        z.remove("revision");
        out.add(
            "install/sail/ztunnel.yaml",
            "sail/cr.yaml.j2",
            Applied::No,
            Cr {
                kind: "ZTunnel",
                name: "default",
                spec: json!({
                    "version": version,
                    "namespace": ZTUNNEL_NAMESPACE,
                    "targetRef": { "kind": "Istio", "name": name },
                    "values": { "ztunnel": z },
                }),
            },
        );
        files.push("ztunnel.yaml");
    }
    out.add(
        "install/sail/istio.yaml",
        "sail/cr.yaml.j2",
        Applied::No,
        Cr {
            kind: "Istio",
            name,
            spec: Value::Object(spec),
        },
    );
    files.push("istio.yaml");
    files.sort_unstable();
    out.add(
        "install/sail/kustomization.yaml",
        "sail/kustomization.yaml.j2",
        Applied::No,
        Kustomization {
            resources: files.into_iter().map(str::to_owned).collect(),
        },
    );
}
