//! Mesh → plan: which file, from which template, with which context. Nothing is rendered here.
//!
//! All names, ports, labels and version-dependent shapes are decided in this module (with
//! the gates of `istio`), so templates only lay values out.

use base64::Engine as _;
use serde::Serialize;
use serde_json::{Value, json};

use crate::istio::{EastWestShape, ExternalIstiodSetting, RemoteModel};
use crate::model::{Cluster, Facts, Mesh, Role, SecretsMode, Topology};
use crate::pki::{CA_CERT, CA_KEY, CERT_CHAIN, Material, ROOT_CERT};

pub const HEADER: &str = "# Rendered by meshrender. Do not edit: change the spec and render again.";

/// One output file.
#[derive(Clone, Debug, Serialize)]
pub struct PlannedFile {
    /// Path relative to the output directory, with `/` separators.
    pub path: String,
    /// The cluster this file belongs to; `None` for mesh-wide files.
    pub cluster: Option<String>,
    pub template: &'static str,
    pub context: Value,
}

#[derive(Clone, Debug, Default)]
pub struct Plan {
    pub files: Vec<PlannedFile>,
}

/// The cacerts Secret keys, in the order `kubectl create secret generic` sorts them.
pub const CACERTS_KEYS: [&str; 4] = [CA_CERT, CA_KEY, CERT_CHAIN, ROOT_CERT];

fn kv(pairs: &[(&str, String)]) -> Value {
    Value::Array(
        pairs
            .iter()
            .map(|(k, v)| json!({"key": k, "value": v}))
            .collect(),
    )
}

/// The name of the istiod Service, with the revision suffix when there is one.
pub fn istiod_service(mesh: &Mesh) -> String {
    match &mesh.revision {
        Some(r) => format!("istiod-{r}"),
        None => "istiod".to_owned(),
    }
}

/// `/inject/cluster/<id>/net/<network>`: how a remote's webhook reaches the primary's injector.
pub fn injection_path(c: &Cluster) -> String {
    format!("/inject/cluster/{}/net/{}", c.name, c.network)
}

/// The kubeconfig `istioctl create-remote-secret` embeds for `peer`. `ca_data` and `token` are
/// the values to place (literal or a template expression for External Secrets).
pub fn kubeconfig(peer: &str, server: &str, ca_data: &str, token: &str, legacy: bool) -> String {
    // Quote what YAML would misread (a cluster ID `123` or `true`), as istioctl's serializer does.
    let peer = &crate::render::yaml_scalar(peer);
    let server = &crate::render::yaml_scalar(server);
    let mut s = String::new();
    s.push_str("apiVersion: v1\nclusters:\n- cluster:\n");
    s.push_str(&format!("    certificate-authority-data: {ca_data}\n"));
    s.push_str(&format!("    server: {server}\n"));
    s.push_str(&format!("  name: {peer}\n"));
    s.push_str(&format!(
        "contexts:\n- context:\n    cluster: {peer}\n    user: {peer}\n  name: {peer}\n"
    ));
    s.push_str(&format!("current-context: {peer}\nkind: Config\n"));
    if legacy {
        s.push_str("preferences: {}\n");
    }
    s.push_str(&format!(
        "users:\n- name: {peer}\n  user:\n    token: {token}\n"
    ));
    s
}

/// Remote-store key of a cluster's material: `<keyPrefix>/<cluster>/<what>`.
pub fn remote_key(prefix: &str, cluster: &str, what: &str) -> String {
    format!("{prefix}/{cluster}/{what}")
}

/// What every part of the plan reads: the mesh, its derived topology, the CA material, the
/// federation addresses, and the clusters by name (lookups are hot on large meshes).
struct Ctx<'a> {
    mesh: &'a Mesh,
    topo: &'a Topology,
    pki: &'a Material,
    addresses: &'a crate::federation::Allocations,
    by_name: std::collections::BTreeMap<&'a str, &'a Cluster>,
}

impl Ctx<'_> {
    fn cluster(&self, name: &str) -> Option<&Cluster> {
        self.by_name.get(name).copied()
    }
}

pub fn plan(
    mesh: &Mesh,
    topo: &Topology,
    pki: &Material,
    addresses: &crate::federation::Allocations,
) -> Plan {
    let x = Ctx {
        mesh,
        topo,
        pki,
        addresses,
        by_name: mesh.clusters.iter().map(|c| (c.name.as_str(), c)).collect(),
    };
    let mut files = Vec::new();
    let mut helm = Vec::new();
    for c in &mesh.clusters {
        let f = topo.facts(&c.name).expect("topology covers every cluster");
        helm.push((c, plan_cluster(&x, c, f, &mut files)));
    }
    if let Some(g) = &mesh.gitops {
        plan_gitops(mesh, g, &helm, &mut files);
    }
    files.push(PlannedFile {
        path: "README.md".to_owned(),
        cluster: None,
        template: "README.md.j2",
        context: readme_context(mesh, topo, pki, addresses, &files),
    });
    files.push(PlannedFile {
        path: ".sourceignore".to_owned(),
        cluster: None,
        template: "sourceignore.j2",
        context: json!({ "header": HEADER }),
    });
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Plan { files }
}

/// The Helm values of one cluster (Istio ≥ 1.24), for the values files and Flux.
pub struct ClusterHelm {
    pub base: Value,
    pub istiod: Value,
    pub gateway: Option<Value>,
}

fn plan_cluster(
    x: &Ctx,
    c: &Cluster,
    f: &Facts,
    files: &mut Vec<PlannedFile>,
) -> Option<ClusterHelm> {
    let (mesh, topo, pki) = (x.mesh, x.topo, x.pki);
    let v = mesh.version;
    let dir = format!("clusters/{}", c.name);
    let mut add = |rel: String, template: &'static str, mut context: Value| {
        context["header"] = json!(HEADER);
        context["cluster"] = json!(c.name);
        files.push(PlannedFile {
            path: format!("{dir}/{rel}"),
            cluster: Some(c.name.clone()),
            template,
            context,
        });
    };
    let mut resources = Vec::new();
    let mut helm: Option<ClusterHelm> = None;

    // namespace.yaml
    let mut labels = Vec::new();
    if topo.multi_network {
        labels.push(("topology.istio.io/network", c.network.clone()));
    }
    let mut annotations = Vec::new();
    if let Role::Remote { control_plane } = &c.role
        && v.has_control_plane_clusters_annotation()
    {
        annotations.push((
            "topology.istio.io/controlPlaneClusters",
            control_plane.clone(),
        ));
    }
    add(
        "namespace.yaml".into(),
        "namespace.yaml.j2",
        json!({"labels": kv(&labels), "annotations": kv(&annotations)}),
    );
    resources.push("namespace.yaml".to_owned());

    // cacerts.yaml
    if f.runs_istiod {
        let ca = pki
            .clusters
            .get(&c.name)
            .expect("PKI material is loaded for every cluster that runs istiod");
        match &mesh.secrets {
            SecretsMode::ExternalSecrets {
                store_kind,
                store_name,
                key_prefix,
            } => add(
                "cacerts.yaml".into(),
                "cacerts.external.yaml.j2",
                json!({
                    "store_kind": store_kind,
                    "store_name": store_name,
                    "remote_key": remote_key(key_prefix, &c.name, "cacerts"),
                    "files": CACERTS_KEYS,
                    "pki_dir": mesh.pki.dir_display,
                    "digests": kv(&[
                        ("ca-cert", crate::output::sha256_hex(ca.ca_cert.as_bytes())),
                        ("root-cert", crate::output::sha256_hex(ca.root_cert.as_bytes())),
                    ]),
                }),
            ),
            SecretsMode::Plaintext | SecretsMode::Unset => {
                let files = kv(&[
                    (CA_CERT, ca.ca_cert.clone()),
                    (CA_KEY, ca.ca_key.0.clone()),
                    (CERT_CHAIN, ca.cert_chain.clone()),
                    (ROOT_CERT, ca.root_cert.clone()),
                ]);
                add(
                    "cacerts.yaml".into(),
                    "cacerts.yaml.j2",
                    json!({ "files": files }),
                )
            }
        }
        resources.push("cacerts.yaml".to_owned());
    }

    // install/istiooperator.yaml and Helm values
    let primary_of = c.control_plane().and_then(|p| x.cluster(p));
    let remote_pilot_address = primary_of
        .and_then(|p| p.east_west.as_ref())
        .map(|g| g.address.clone());
    let serves = !f.serves.is_empty();
    let ext = if serves {
        v.external_istiod_setting()
    } else {
        ExternalIstiodSetting::None
    };
    let remote_profile = !f.primary && v.remote_model() == RemoteModel::RemoteProfile;
    let trust_domain = (mesh.trust_domain != "cluster.local").then(|| mesh.trust_domain.clone());
    // During a root rotation istiod must accept both roots and proxies must take trust
    // bundles over XDS (Istio's multi-root procedure); only where an istiod runs.
    let rotating = pki.rotation.is_some() && f.runs_istiod;
    let mut pilot_env = Vec::new();
    if ext == ExternalIstiodSetting::PilotEnv {
        pilot_env.push(("EXTERNAL_ISTIOD", "true".to_owned()));
    }
    if rotating {
        pilot_env.push(("ISTIO_MULTIROOT_MESH", "true".to_owned()));
    }
    let proxy_metadata = if rotating {
        vec![("PROXY_CONFIG_XDS_AGENT", "true".to_owned())]
    } else {
        vec![]
    };
    let helm_env = if rotating {
        vec![("ISTIO_MULTIROOT_MESH", "true".to_owned())]
    } else {
        vec![]
    };
    let role = match &c.role {
        Role::Primary if serves => format!("primary, serving {}", f.serves.join(", ")),
        Role::Primary => "primary".to_owned(),
        Role::Remote { control_plane } => format!("remote of {control_plane}"),
    };
    if v.is_replicated_control_plane_era() {
        let mut search = vec!["global".to_owned()];
        if v.minor == 6 {
            search.push(
                "{{ valueOrDefault .DeploymentMeta.Namespace \"default\" }}.global".to_owned(),
            );
        }
        add(
            "install/istiooperator.yaml".into(),
            "istiooperator.replicated.yaml.j2",
            json!({
                "name": match &mesh.revision { Some(r) => format!("control-plane-{r}"), None => "control-plane".to_owned() },
                "version": v.to_string(),
                "revision": mesh.revision,
                "hub": mesh.hub,
                "tag": mesh.tag,
                "trust_domain": trust_domain,
                "search_namespaces": search,
                "node_port": c.east_west.as_ref().is_some_and(|g| g.node_port),
            }),
        );
        plan_federation(x, c, &mut add, &mut resources);
    } else {
        add(
            "install/istiooperator.yaml".into(),
            "istiooperator.yaml.j2",
            json!({
                "name": match &mesh.revision { Some(r) => format!("control-plane-{r}"), None => "control-plane".to_owned() },
                "role": role,
                "profile": if f.primary { None } else { v.remote_profile() },
                "revision": mesh.revision,
                "hub": mesh.hub,
                "tag": mesh.tag,
                "trust_domain": trust_domain,
                "mesh_id": (!remote_profile).then(|| mesh.mesh_id.clone()),
                "network": c.network,
                "external_istiod_global": ext == ExternalIstiodSetting::GlobalValue,
                "pilot_env": kv(&pilot_env),
                "proxy_metadata": kv(&proxy_metadata),
                "remote_pilot_address": remote_pilot_address,
                "injection_path": remote_profile.then(|| injection_path(c)),
            }),
        );
    }
    if v.has_helm_values() {
        let h = HelmInputs {
            remote_profile,
            serves,
            trust_domain: trust_domain.as_deref(),
            remote_pilot_address: remote_pilot_address.as_deref(),
            proxy_metadata: &proxy_metadata,
            env: &helm_env,
        };
        let base = base_values(&h);
        let istiod = istiod_values(mesh, c, &h);
        add(
            "install/helm/base.values.yaml".into(),
            "helm/base.values.yaml.j2",
            json!({ "values": base }),
        );
        add(
            "install/helm/istiod.values.yaml".into(),
            "helm/istiod.values.yaml.j2",
            json!({ "role": role, "revision": mesh.revision, "values": istiod }),
        );
        helm = Some(ClusterHelm {
            base,
            istiod,
            gateway: None,
        });
    }

    // East-west gateway
    if f.needs_east_west {
        let gw = c.east_west.as_ref();
        let node_port = gw.is_some_and(|g| g.node_port);
        let shape = v.eastwest_shape();
        let legacy_names = shape == EastWestShape::V1_8;
        let ports = [
            ("status-port", 15021),
            (if legacy_names { "mtls" } else { "tls" }, 15443),
            (
                if legacy_names {
                    "tcp-istiod"
                } else {
                    "tls-istiod"
                },
                15012,
            ),
            (
                if legacy_names {
                    "tcp-webhook"
                } else {
                    "tls-webhook"
                },
                15017,
            ),
        ];
        let mut env = Vec::new();
        match shape {
            EastWestShape::V1_8 | EastWestShape::V1_9 => env.push(json!({
                "comment": "sni-dnat adds the clusters required for AUTO_PASSTHROUGH mode",
                "name": "ISTIO_META_ROUTER_MODE", "value": "sni-dnat"})),
            EastWestShape::V1_11 => env.push(json!({
                "comment": "sni-dnat adds the clusters required for AUTO_PASSTHROUGH mode (not required in Istio 1.11+, kept as the script does)",
                "name": "ISTIO_META_ROUTER_MODE", "value": "sni-dnat"})),
            EastWestShape::Current => {}
        }
        env.push(json!({
            "comment": "traffic through this gateway should be routed inside the network",
            "name": "ISTIO_META_REQUESTED_NETWORK_VIEW", "value": c.network}));
        let mut script_args = if shape == EastWestShape::Current {
            format!("--network {}", c.network)
        } else {
            format!(
                "--mesh {} --cluster {} --network {}",
                mesh.mesh_id, c.name, c.network
            )
        };
        if let (Some(r), true) = (&mesh.revision, shape != EastWestShape::V1_8) {
            script_args.push_str(&format!(" --revision {r}"));
        }
        add(
            "install/eastwest-gateway.yaml".into(),
            "eastwest-gateway.yaml.j2",
            json!({
                "version": v.to_string(),
                "script_args": script_args,
                "has_revision": shape != EastWestShape::V1_8,
                "revision": mesh.revision.clone().unwrap_or_default(),
                "hub": mesh.hub,
                "tag": mesh.tag,
                "network": c.network,
                "env": env,
                "ports": ports.iter().map(|(n, p)| json!({"name": n, "port": p})).collect::<Vec<_>>(),
                "injection_template": matches!(shape, EastWestShape::V1_11 | EastWestShape::Current),
                "node_port": node_port,
                "mesh_id": (shape != EastWestShape::Current).then(|| mesh.mesh_id.clone()),
            }),
        );
        if v.has_helm_values() {
            let values = gateway_values(mesh, c, node_port);
            add(
                "install/helm/eastwest-gateway.values.yaml".into(),
                "helm/eastwest-gateway.values.yaml.j2",
                json!({ "values": values }),
            );
            if let Some(h) = helm.as_mut() {
                h.gateway = Some(values);
            }
        }
    }

    // Exposure gateways
    let api = v.networking_api_version();
    if f.expose_services {
        add(
            "expose-services.yaml".into(),
            "expose-services.yaml.j2",
            json!({ "api": api }),
        );
        resources.push("expose-services.yaml".to_owned());
    }
    if f.expose_istiod {
        let svc = istiod_service(mesh);
        let (vs_name, webhook_port_name, sni_hosts) = match &mesh.revision {
            Some(r) => (
                format!("istiod-vs-{r}"),
                "tls-webhook",
                vec![
                    format!("{svc}.istio-system.svc"),
                    format!("{svc}.istio-system.svc.cluster.local"),
                ],
            ),
            None => (
                "istiod-vs".to_owned(),
                "tls-istiodwebhook",
                vec!["*".to_owned()],
            ),
        };
        add(
            "expose-istiod.yaml".into(),
            "expose-istiod.yaml.j2",
            json!({
                "api": api,
                "revision": mesh.revision,
                "vs_name": vs_name,
                "webhook_port_name": webhook_port_name,
                "sni_hosts": sni_hosts,
                "istiod_host": format!("{svc}.istio-system.svc.cluster.local"),
                "routes": [{"port": 15012, "target": 15012}, {"port": 15017, "target": 443}],
            }),
        );
        resources.push("expose-istiod.yaml".to_owned());
    }

    // Reader token and remote secrets
    if f.read_by_primary {
        add(
            "reader-token.yaml".into(),
            "reader-token.yaml.j2",
            json!({}),
        );
        resources.push("reader-token.yaml".to_owned());
    }
    for peer_name in &f.reads {
        let peer = x.cluster(peer_name).expect("reads names clusters");
        let api_server = peer
            .api_server
            .as_ref()
            .expect("validation requires apiServer on every cluster a primary reads");
        let legacy = v.remote_secret_has_legacy_fields();
        let rel = format!("remote-secret-{peer_name}.yaml");
        match &mesh.secrets {
            SecretsMode::ExternalSecrets {
                store_kind,
                store_name,
                key_prefix,
            } => {
                let (ca_data, mut properties) = match &api_server.ca_pem {
                    Some(pem) => (b64(pem), vec![]),
                    None => (
                        "{{ index . \"ca.crt\" | b64enc }}".to_owned(),
                        vec!["ca.crt"],
                    ),
                };
                properties.push("token");
                properties.sort();
                let pulled = properties.join(" and ");
                add(
                    rel.clone(),
                    "remote-secret.external.yaml.j2",
                    json!({
                        "peer": peer_name,
                        "store_kind": store_kind,
                        "store_name": store_name,
                        "remote_key": remote_key(key_prefix, peer_name, "reader-token"),
                        "properties": properties,
                        "pulled": pulled,
                        "kubeconfig": kubeconfig(peer_name, &api_server.server, &ca_data, "{{ .token }}", legacy),
                    }),
                );
            }
            SecretsMode::Plaintext | SecretsMode::Unset => {
                let ca = api_server.ca_pem.as_deref().unwrap_or_default();
                let token = api_server
                    .token
                    .as_ref()
                    .map(|t| t.0.as_str())
                    .unwrap_or_default();
                add(
                    rel.clone(),
                    "remote-secret.yaml.j2",
                    json!({
                        "peer": peer_name,
                        "legacy": legacy,
                        "kubeconfig": kubeconfig(peer_name, &api_server.server, &b64(ca), &crate::render::yaml_scalar(token), legacy),
                    }),
                );
            }
        }
        resources.push(rel);
    }

    if mesh.verification {
        plan_verification(mesh, c, &mut add);
    }

    resources.sort();
    let cacerts = f.runs_istiod.then(|| match mesh.secrets {
        SecretsMode::ExternalSecrets { .. } => {
            json!({"api": "external-secrets.io/v1", "kind": "ExternalSecret"})
        }
        _ => json!({"api": "v1", "kind": "Secret"}),
    });
    add(
        "kustomization.yaml".into(),
        "kustomization.yaml.j2",
        json!({
            "resources": resources,
            "wave_patches": mesh.gitops.is_some(),
            "cacerts": cacerts,
        }),
    );
    helm
}

/// ServiceEntries for the `*.global` services `c` consumes, and its CoreDNS stub.
fn plan_federation(
    x: &Ctx,
    c: &Cluster,
    add: &mut impl FnMut(String, &'static str, Value),
    resources: &mut Vec<String>,
) {
    let Some(fed) = &x.mesh.federation else {
        return;
    };
    let mine = x.addresses.get(&c.name);
    for s in fed
        .services
        .iter()
        .filter(|s| s.consumers.contains(&c.name))
    {
        let exporter = x.cluster(&s.cluster).expect("validated");
        let gw = exporter
            .east_west
            .as_ref()
            .expect("validated: exporters have an address");
        let address = mine
            .and_then(|m| m.get(&s.key()))
            .expect("every consumed service has an address");
        let is_ip = gw.address.parse::<std::net::IpAddr>().is_ok();
        let rel = format!("federation/{}-{}.yaml", s.name, s.namespace);
        add(
            rel.clone(),
            "serviceentry.yaml.j2",
            json!({
                "name": format!("{}-{}", s.name, s.namespace),
                "host": s.global_host(),
                "service": s.key(),
                "exporter": s.cluster,
                "version": x.mesh.version.to_string(),
                "ports": s.ports.iter().map(|p| json!({"name": p.name, "number": p.number, "protocol": p.protocol})).collect::<Vec<_>>(),
                "resolution": if is_ip { "STATIC" } else { "DNS" },
                "address": address.to_string(),
                "gateway": gw.address,
                "gateway_port": gw.port,
            }),
        );
        resources.push(rel);
    }
    if let Some(ip) = fed.core_dns.get(&c.name)
        && fed.services.iter().any(|s| s.consumers.contains(&c.name))
    {
        add(
            "federation/coredns-global.server".into(),
            "coredns-global.server.j2",
            json!({ "ip": ip.to_string() }),
        );
    }
}

/// The helloworld version a cluster runs: v1 on the first cluster, v2 on the second, alternating.
pub fn helloworld_version(mesh: &Mesh, c: &Cluster) -> &'static str {
    let i = mesh
        .clusters
        .iter()
        .position(|x| x.name == c.name)
        .unwrap_or(0);
    if i % 2 == 0 { "v1" } else { "v2" }
}

/// The helloworld versions deployed somewhere in the mesh, sorted.
fn verify_versions(mesh: &Mesh) -> Vec<&'static str> {
    let mut v: Vec<&str> = mesh
        .clusters
        .iter()
        .map(|c| helloworld_version(mesh, c))
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

fn plan_verification(mesh: &Mesh, c: &Cluster, add: &mut impl FnMut(String, &'static str, Value)) {
    let v = mesh.version;
    let (label, value) = match &mesh.revision {
        Some(r) => ("istio.io/rev", r.clone()),
        None => ("istio-injection", "enabled".to_owned()),
    };
    let version = helloworld_version(mesh, c);
    let client = v.verify_client();
    add(
        "verify/namespace.yaml".into(),
        "verify/namespace.yaml.j2",
        json!({ "injection_label": label, "injection_value": value }),
    );
    add(
        "verify/helloworld.yaml".into(),
        "verify/helloworld.yaml.j2",
        json!({ "version": version, "image": v.helloworld_image(version) }),
    );
    add(
        format!("verify/{client}.yaml"),
        "verify/client.yaml.j2",
        json!({ "client": client, "client_image": "docker.io/curlimages/curl:8.16.0" }),
    );
    add(
        "verify/kustomization.yaml".into(),
        "verify/kustomization.yaml.j2",
        json!({ "resources": ["namespace.yaml".to_owned(), format!("{client}.yaml"), "helloworld.yaml".to_owned()] }),
    );
}

/// `meshID` (a label value: may hold `_`, `.` and upper case) as the start of a Kubernetes
/// object name: lower case, anything else than `[a-z0-9-]` turned into `-`.
pub fn object_name(mesh_id: &str) -> String {
    let s: String = mesh_id
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9') => c,
            _ => '-',
        })
        .collect();
    s.trim_matches('-').to_owned()
}

fn plan_gitops(
    mesh: &Mesh,
    g: &crate::model::Gitops,
    helm: &[(&Cluster, Option<ClusterHelm>)],
    files: &mut Vec<PlannedFile>,
) {
    let mut add =
        |path: String, cluster: Option<&str>, template: &'static str, mut context: Value| {
            context["header"] = json!(HEADER);
            context["mesh_id"] = json!(mesh.mesh_id);
            if let Some(c) = cluster {
                context["cluster"] = json!(c);
            }
            files.push(PlannedFile {
                path,
                cluster: cluster.map(str::to_owned),
                template,
                context,
            });
        };
    if let Some(a) = &g.argocd {
        add(
            "gitops/argocd/applicationset.yaml".into(),
            None,
            "gitops/applicationset.yaml.j2",
            json!({
                "name": format!("{}-clusters", object_name(&mesh.mesh_id)),
                "namespace": a.namespace,
                "project": a.project,
                "repo_url": g.repo_url,
                "revision": g.revision,
                "clusters_glob": g.repo_path("clusters/*"),
                "cluster_names": mesh.clusters.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", "),
                "app_name": format!("{}-{{{{ .path.basename }}}}", object_name(&mesh.mesh_id)),
            }),
        );
    }
    if let Some(fx) = &g.flux {
        let mesh_name = object_name(&mesh.mesh_id);
        let mut index = vec!["sources.yaml".to_owned()];
        add(
            "gitops/flux/sources.yaml".into(),
            None,
            "gitops/flux-sources.yaml.j2",
            json!({ "namespace": fx.namespace }),
        );
        for (c, h) in helm {
            let Some(h) = h else { continue };
            let istio_name = format!("{mesh_name}-{}-istio", c.name);
            let kubeconfig_secret = format!("{}-kubeconfig", c.name);
            add(
                format!("gitops/flux/{}.yaml", c.name),
                Some(&c.name),
                "gitops/flux-cluster.yaml.j2",
                json!({
                    "namespace": fx.namespace,
                    "istio_name": istio_name,
                    "mesh_name": format!("{mesh_name}-{}", c.name),
                    "kubeconfig_secret": kubeconfig_secret,
                    "releases_path": format!("./{}", g.repo_path(&format!("gitops/flux/clusters/{}", c.name))),
                    "cluster_path": format!("./{}", g.repo_path(&format!("clusters/{}", c.name))),
                    "source_kind": fx.source_kind,
                    "source_name": fx.source_name,
                }),
            );
            index.push(format!("{}.yaml", c.name));
            let base = format!("{}-istio-base", c.name);
            let istiod = format!("{}-istiod", c.name);
            let mut releases = vec![
                json!({"name": base, "release": "istio-base", "chart": "base", "depends_on": null,
                       "create_namespace": true, "values": h.base}),
                json!({"name": istiod, "release": "istiod", "chart": "istiod", "depends_on": base,
                       "create_namespace": false, "values": h.istiod}),
            ];
            let mut chain = vec!["base", "istiod"];
            if let Some(gw) = &h.gateway {
                releases.push(json!({"name": format!("{}-istio-eastwestgateway", c.name),
                    "release": "istio-eastwestgateway", "chart": "gateway", "depends_on": istiod,
                    "create_namespace": false, "values": gw}));
                chain.push("east-west gateway");
            }
            add(
                format!("gitops/flux/clusters/{}/kustomization.yaml", c.name),
                Some(&c.name),
                "gitops/flux-releases-index.yaml.j2",
                json!({ "istio_name": istio_name }),
            );
            add(
                format!("gitops/flux/clusters/{}/helmreleases.yaml", c.name),
                Some(&c.name),
                "gitops/flux-helmreleases.yaml.j2",
                json!({
                    "namespace": fx.namespace,
                    "kubeconfig_secret": kubeconfig_secret,
                    "chart_version": fx.chart_version,
                    "releases": releases,
                    "chain": chain.join(" → "),
                }),
            );
        }
        index[1..].sort();
        add(
            "gitops/flux/kustomization.yaml".into(),
            None,
            "gitops/flux-index.yaml.j2",
            json!({
                "resources": index,
                "path": g.repo_path("gitops/flux"),
                "source_kind": fx.source_kind,
                "source_name": fx.source_name,
            }),
        );
    }
}

/// What the Helm values of one cluster depend on, besides the mesh and the cluster.
pub struct HelmInputs<'a> {
    pub remote_profile: bool,
    pub serves: bool,
    pub trust_domain: Option<&'a str>,
    pub remote_pilot_address: Option<&'a str>,
    pub proxy_metadata: &'a [(&'a str, String)],
    pub env: &'a [(&'a str, String)],
}

fn object(pairs: &[(&str, String)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), json!(v)))
            .collect(),
    )
}

/// Values of the istio/base chart (Istio ≥ 1.24): `profile: remote` on remote clusters.
pub fn base_values(h: &HelmInputs) -> Value {
    if h.remote_profile {
        json!({ "profile": "remote" })
    } else {
        json!({})
    }
}

/// Values of the istio/istiod chart (Istio ≥ 1.24, flattened chart values), as in the
/// multicluster guide's Helm instructions.
pub fn istiod_values(mesh: &Mesh, c: &Cluster, h: &HelmInputs) -> Value {
    let mut global = serde_json::Map::new();
    if let Some(hub) = &mesh.hub {
        global.insert("hub".into(), json!(hub));
    }
    if let Some(tag) = &mesh.tag {
        global.insert("tag".into(), json!(tag));
    }
    if !h.remote_profile {
        global.insert("meshID".into(), json!(mesh.mesh_id));
    }
    global.insert("multiCluster".into(), json!({ "clusterName": c.name }));
    global.insert("network".into(), json!(c.network));
    if h.serves {
        global.insert("externalIstiod".into(), json!(true));
    }
    let mut top = serde_json::Map::new();
    if h.remote_profile {
        global.insert("configCluster".into(), json!(true));
        if let Some(a) = h.remote_pilot_address {
            global.insert("remotePilotAddress".into(), json!(a));
        }
        top.insert("profile".into(), json!("remote"));
        top.insert(
            "istiodRemote".into(),
            json!({ "injectionPath": injection_path(c) }),
        );
    }
    top.insert("global".into(), Value::Object(global));
    if let Some(r) = &mesh.revision {
        top.insert("revision".into(), json!(r));
    }
    let mut mesh_config = serde_json::Map::new();
    if let Some(td) = h.trust_domain {
        mesh_config.insert("trustDomain".into(), json!(td));
    }
    if !h.proxy_metadata.is_empty() {
        mesh_config.insert(
            "defaultConfig".into(),
            json!({ "proxyMetadata": object(h.proxy_metadata) }),
        );
    }
    if !mesh_config.is_empty() {
        top.insert("meshConfig".into(), Value::Object(mesh_config));
    }
    if !h.env.is_empty() {
        top.insert("env".into(), object(h.env));
    }
    Value::Object(top)
}

/// Values of the istio/gateway chart as the east-west gateway (`networkGateway`).
pub fn gateway_values(mesh: &Mesh, c: &Cluster, node_port: bool) -> Value {
    let mut v = serde_json::Map::new();
    v.insert("name".into(), json!("istio-eastwestgateway"));
    v.insert("networkGateway".into(), json!(c.network));
    if let Some(r) = &mesh.revision {
        v.insert("revision".into(), json!(r));
    }
    if node_port {
        v.insert("service".into(), json!({ "type": "NodePort" }));
    }
    Value::Object(v)
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
}

fn readme_context(
    mesh: &Mesh,
    topo: &Topology,
    pki: &Material,
    addresses: &crate::federation::Allocations,
    files: &[PlannedFile],
) -> Value {
    let mut by_cluster: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for x in files {
        if let Some(c) = &x.cluster {
            by_cluster
                .entry(c.as_str())
                .or_default()
                .push(x.path.as_str());
        }
    }
    let clusters: Vec<Value> = mesh
        .clusters
        .iter()
        .map(|c| {
            let f = topo.facts(&c.name).expect("same list");
            let prefix = format!("clusters/{}/", c.name);
            let mine = by_cluster
                .get(c.name.as_str())
                .map(Vec::as_slice)
                .unwrap_or_default();
            let has = |rel: &str| mine.iter().any(|p| p.strip_prefix(&prefix) == Some(rel));
            let files_here: Vec<String> = mine
                .iter()
                .filter_map(|p| p.strip_prefix(&prefix))
                .map(str::to_owned)
                .collect();
            json!({
                "name": c.name,
                "network": c.network,
                "primary": f.primary,
                "control_plane": c.control_plane(),
                "serves": f.serves,
                "reads": f.reads,
                "address": c.east_west.as_ref().map(|g| g.address.clone()),
                "has_cacerts": has("cacerts.yaml"),
                "has_eastwest": has("install/eastwest-gateway.yaml"),
                "has_reader_token": has("reader-token.yaml"),
                "files": files_here,
            })
        })
        .collect();
    let (store, key_prefix) = match &mesh.secrets {
        SecretsMode::ExternalSecrets {
            store_kind,
            store_name,
            key_prefix,
        } => (
            Some(format!("{store_kind}/{store_name}")),
            Some(key_prefix.clone()),
        ),
        _ => (None, None),
    };
    // Primaries first: remotes need their primary's istiod and east-west gateway.
    let mut order: Vec<&Cluster> = mesh.clusters.iter().filter(|c| c.is_primary()).collect();
    order.extend(mesh.clusters.iter().filter(|c| !c.is_primary()));
    json!({
        "mesh_id": mesh.mesh_id,
        "version": mesh.version.to_string(),
        "revision": mesh.revision,
        "multi_network": topo.multi_network,
        "helm": mesh.version.has_helm_values(),
        "plaintext": mesh.secrets == SecretsMode::Plaintext,
        "external_secrets": store.is_some(),
        "store": store,
        "key_prefix": key_prefix,
        "pki_dir": mesh.pki.dir_display,
        "rotation": pki.rotation,
        "federation": mesh.federation.as_ref().map(|fed| {
            let mut rows = Vec::new();
            for (c, m) in addresses {
                for (k, a) in m {
                    let host = fed.services.iter().find(|s| &s.key() == k).map(|s| s.global_host()).unwrap_or_default();
                    rows.push(json!({"cluster": c, "host": host, "address": a.to_string()}));
                }
            }
            rows
        }),
        "gitops": mesh.gitops.as_ref().map(|g| json!({
            "argocd": g.argocd.as_ref().map(|a| json!({"namespace": a.namespace})),
            "flux": g.flux.as_ref().map(|f| json!({"namespace": f.namespace, "path": g.repo_path("gitops/flux"),
                "source": format!("{}/{}", f.source_kind, f.source_name)})),
            "path": if g.path.is_empty() { ".".to_owned() } else { g.path.clone() },
        })),
        "clusters": clusters,
        "order": order.iter().map(|c| c.name.clone()).collect::<Vec<_>>(),
        "reproduce": mesh.reproduce,
        "verification": mesh.verification.then(|| json!({
            "client": mesh.version.verify_client(),
            "clusters": mesh.clusters.iter().map(|c| json!({"name": c.name, "version": helloworld_version(mesh, c)})).collect::<Vec<_>>(),
            "versions": verify_versions(mesh),
        })),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn mesh_ids_become_object_names() {
        assert_eq!(super::object_name("Prod_Mesh.1"), "prod-mesh-1");
        assert_eq!(super::object_name("mesh1"), "mesh1");
    }
}
