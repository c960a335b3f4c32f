//! `remote-secret-<peer>.yaml`: for each cluster a primary reads, the Secret
//! `istioctl create-remote-secret` prints (plaintext), or an ExternalSecret that builds it
//! from the peer's reader token in the store.

use base64::Engine as _;
use serde::Serialize;

use super::names::remote_key;
use super::{Applied, ClusterFiles, Ctx};
use crate::model::SecretsMode;
use crate::yaml::yaml_scalar;

#[derive(Serialize)]
struct External<'a> {
    peer: &'a str,
    store_kind: &'a str,
    store_name: &'a str,
    remote_key: String,
    properties: Vec<&'static str>,
    pulled: String,
    kubeconfig: String,
}

#[derive(Serialize)]
struct Plain<'a> {
    peer: &'a str,
    legacy: bool,
    kubeconfig: String,
    sealed: bool,
}

pub(super) fn plan(x: &Ctx, out: &mut ClusterFiles) {
    let legacy = x.mesh.version.remote_secret_has_legacy_fields();
    for peer in &out.f.reads {
        let api_server = x
            .cluster(peer)
            .expect("reads names clusters")
            .api_server
            .as_ref()
            .expect("validation requires apiServer on every cluster a primary reads");
        let rel = format!("remote-secret-{peer}.yaml");
        match &x.mesh.secrets {
            SecretsMode::ExternalSecrets {
                store_kind,
                store_name,
                key_prefix,
                ..
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
                let kubeconfig = kubeconfig(
                    peer,
                    (&api_server.server, api_server.tls_server_name.as_deref()),
                    &ca_data,
                    "{{ .token }}",
                    legacy,
                );
                out.add(
                    rel,
                    "remote-secret.external.yaml.j2",
                    Applied::Cluster,
                    External {
                        peer,
                        store_kind,
                        store_name,
                        remote_key: remote_key(key_prefix, peer, "reader-token"),
                        properties,
                        pulled,
                        kubeconfig,
                    },
                );
            }
            SecretsMode::Plaintext | SecretsMode::Unset => {
                // Without the peer's token the remote secret is pending (W004): not rendered,
                // listed in the generated README.
                let Some(token) = api_server.token.as_ref().map(|t| t.0.as_str()) else {
                    continue;
                };
                let ca = api_server.ca_pem.as_deref().unwrap_or_default();
                let kubeconfig = kubeconfig(
                    peer,
                    (&api_server.server, api_server.tls_server_name.as_deref()),
                    &b64(ca),
                    &yaml_scalar(token),
                    legacy,
                );
                out.add(
                    rel,
                    "remote-secret.yaml.j2",
                    Applied::Cluster,
                    Plain {
                        peer,
                        legacy,
                        kubeconfig,
                        sealed: false,
                    },
                );
            }
            SecretsMode::Sops { .. } => {
                // The token is a secret a CI checkout lacks: then a remote secret sealed
                // before is compared by fingerprint; one never sealed is pending (W004).
                let token = api_server.token.as_ref().map(|t| t.0.as_str());
                if token.is_none() && !out.sealed_before(x, &rel) {
                    continue;
                }
                let ca = b64(api_server.ca_pem.as_deref().unwrap_or_default());
                let redacted = super::cacerts::placeholder("token");
                let page = |token: &str| Plain {
                    peer,
                    legacy,
                    kubeconfig: kubeconfig(
                        peer,
                        (&api_server.server, api_server.tls_server_name.as_deref()),
                        &ca,
                        &yaml_scalar(token),
                        legacy,
                    ),
                    sealed: true,
                };
                out.add_sealed(
                    rel,
                    "remote-secret.yaml.j2",
                    page(token.unwrap_or(&redacted)),
                    page(&redacted),
                    token.is_some(),
                );
            }
        }
    }
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
}

/// The kubeconfig `istioctl create-remote-secret` embeds for `peer`. `ca_data` and `token` are
/// the values to place (literal or a template expression for External Secrets).
fn kubeconfig(
    peer: &str,
    (server, tls_server_name): (&str, Option<&str>),
    ca_data: &str,
    token: &str,
    legacy: bool,
) -> String {
    // Quote what YAML would misread (a cluster ID `123` or `true`), as istioctl's serializer does.
    let peer = &yaml_scalar(peer);
    let server = &yaml_scalar(server);
    let mut s = String::new();
    s.push_str("apiVersion: v1\nclusters:\n- cluster:\n");
    s.push_str(&format!("    certificate-authority-data: {ca_data}\n"));
    s.push_str(&format!("    server: {server}\n"));
    if let Some(name) = tls_server_name {
        // as istioctl's `--tls-server-name` (1.26+): the kubeconfig's keys are sorted
        s.push_str(&format!("    tls-server-name: {}\n", yaml_scalar(name)));
    }
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
