//! `meshrender init`: commented starter specs, one per model of Istio's multicluster guide.
//! Each validates and renders as is (External Secrets mode, so no token or CA file is needed).

/// (model name, spec text, one-line description)
pub const MODELS: &[(&str, &str, &str)] = &[
    (
        "multi-primary",
        include_str!("../templates/init/multi-primary.yaml"),
        "every cluster runs istiod, one network",
    ),
    (
        "multi-network",
        include_str!("../templates/init/multi-network.yaml"),
        "every cluster runs istiod, different networks",
    ),
    (
        "primary-remote",
        include_str!("../templates/init/primary-remote.yaml"),
        "one istiod serves a remote cluster, one network",
    ),
    (
        "primary-remote-multi-network",
        include_str!("../templates/init/primary-remote-multi-network.yaml"),
        "one istiod serves a remote cluster, different networks",
    ),
];

pub fn starter(model: &str) -> Option<&'static str> {
    MODELS
        .iter()
        .find(|(n, _, _)| *n == model)
        .map(|(_, t, _)| *t)
}
