//! `secrets`: how secret material reaches the clusters (plaintext or External Secrets), and
//! what each mode needs from the clusters (E025, E026).

use super::clusters::ClusterIn;
use super::formats::is_dns1123_subdomain;
use super::require;
use crate::diag::{Code, Diagnostics, Loc};
use crate::model::{SecretsMode, Topology};
use crate::spec::{self, Sp, Spec};

/// `secrets.mode` must be given once a `cacerts` is rendered; plaintext needs the files it
/// puts into remote secrets.
pub(super) fn check(
    spec: &Spec,
    topo: &Topology,
    clusters: &[ClusterIn],
    secrets: Option<&SecretsMode>,
    d: &mut Diagnostics,
) {
    // cacerts is a Secret meshrender renders unless cert-manager issues it; remote secrets
    // whenever a primary reads another cluster.
    let cert_manager = spec
        .pki
        .backend
        .value()
        .is_some_and(|b| b.value == "cert-manager");
    let renders_secret = topo
        .clusters
        .iter()
        .any(|f| (f.runs_istiod && !cert_manager) || f.read_by_primary);
    let mode_given = spec
        .secrets
        .value()
        .is_some_and(|s| s.value.mode.is_written());
    if renders_secret && !mode_given {
        d.error_help(
            Code::E025,
            spec.secrets.value().map_or(Loc::new(1, 1), |s| s.loc),
            "`secrets.mode` is required: this mesh renders `cacerts` secrets",
            "use `secrets: {mode: external-secrets, externalSecrets: {storeRef: {kind: ClusterSecretStore, name: NAME}}}` (or `mode: plaintext` for labs)",
        );
    }
    if !secrets.is_some_and(SecretsMode::renders_values) {
        return;
    }
    let mode = if secrets == Some(&SecretsMode::Plaintext) {
        "plaintext"
    } else {
        "sops"
    };
    for c in clusters {
        let f = topo.facts(&c.name.value).expect("same list");
        if !f.read_by_primary {
            continue;
        }
        let Some(a) = &c.api_server else { continue };
        let prefix = format!("clusters[{}].apiServer", c.index);
        let n = &c.name.value;
        if !a.value.token_file.is_written() {
            let readers: Vec<&str> = topo
                .clusters
                .iter()
                .filter(|o| o.reads.contains(n))
                .map(|o| o.name.as_str())
                .collect();
            d.warning_help(
                Code::W004,
                a.loc,
                format!("cluster `{n}` has no `{prefix}.tokenFile`: the remote secret that lets {} read it is pending (not rendered); the rest of the mesh renders", readers.join(", ")),
                format!("to finish: apply clusters/{n}/reader-token.yaml to `{n}`, then `kubectl --context {n} -n istio-system get secret istio-reader-service-account-istio-remote-secret-token -o jsonpath='{{.data.token}}' | base64 -d > creds/{n}.token` and set `tokenFile: creds/{n}.token`, then render again; or use `mode: external-secrets`"),
            );
        }
        if !a.value.ca_file.is_written() {
            d.error_help(
                Code::E026,
                a.loc,
                format!("cluster `{n}`: `secrets.mode: {mode}` needs `{prefix}.caFile` to build its remote secret"),
                "set `caFile` to the API server's CA bundle (`ca.crt` of the reader token Secret)",
            );
        }
    }
}

pub(super) fn mode(spec: &Spec, mesh_id: &str, d: &mut Diagnostics) -> Option<SecretsMode> {
    let Some(s) = spec.secrets.value() else {
        return Some(SecretsMode::Unset);
    };
    let Some(mode) = s.value.mode.value() else {
        return Some(SecretsMode::Unset);
    };
    match mode.value.as_str() {
        "plaintext" => Some(SecretsMode::Plaintext),
        "external-secrets" => external_secrets(s, mode, mesh_id, d),
        "sops" => sops(s, mode, d),
        other => {
            d.error_help(
                Code::E005,
                mode.loc,
                format!("`secrets.mode` `{other}` is not a secrets mode"),
                "expected one of: external-secrets, plaintext, sops",
            );
            None
        }
    }
}

/// `secrets.externalSecrets`: the store to pull from and the key prefix in it.
fn external_secrets(
    s: &Sp<spec::Secrets>,
    mode: &Sp<String>,
    mesh_id: &str,
    d: &mut Diagnostics,
) -> Option<SecretsMode> {
    let Some(es) = s.value.external_secrets.value() else {
        if !s.value.external_secrets.is_written() {
            d.error_help(
                Code::E027,
                mode.loc,
                "`secrets.mode: external-secrets` needs a `secrets.externalSecrets` section",
                "add `externalSecrets: {storeRef: {kind: ClusterSecretStore, name: NAME}, keyPrefix: meshes/MESH}`",
            );
        }
        return None;
    };
    let mut ok = true;
    let key_prefix = match es.value.key_prefix.value() {
        Some(k)
            if k.value.trim_matches('/').is_empty() || k.value.contains(char::is_whitespace) =>
        {
            d.error(
                Code::E030,
                k.loc,
                format!("`secrets.externalSecrets.keyPrefix` `{}` must be a non-empty path without spaces", k.value),
            );
            ok = false;
            String::new()
        }
        Some(k) => k.value.trim_end_matches('/').to_owned(),
        None => format!("meshes/{mesh_id}"),
    };
    let sr = require(
        &es.value.store_ref,
        es.loc,
        "secrets.externalSecrets.storeRef",
        d,
    )?;
    let kind = require(
        &sr.value.kind,
        sr.loc,
        "secrets.externalSecrets.storeRef.kind",
        d,
    );
    let name = require(
        &sr.value.name,
        sr.loc,
        "secrets.externalSecrets.storeRef.name",
        d,
    );
    if let Some(k) = kind
        && k.value != "ClusterSecretStore"
        && k.value != "SecretStore"
    {
        d.error_help(
            Code::E005,
            k.loc,
            format!(
                "`secrets.externalSecrets.storeRef.kind` `{}` is not a store kind",
                k.value
            ),
            "expected ClusterSecretStore or SecretStore",
        );
        ok = false;
    }
    if let Some(n) = name
        && !is_dns1123_subdomain(&n.value)
    {
        d.error(
            Code::E030,
            n.loc,
            format!("`secrets.externalSecrets.storeRef.name` `{}` is not a Kubernetes object name (lower-case letters, digits, '-', '.')", n.value),
        );
        ok = false;
    }
    let (kind, name) = (kind?, name?);
    ok.then(|| SecretsMode::ExternalSecrets {
        store_kind: kind.value.clone(),
        store_name: name.value.clone(),
        key_prefix,
        push_reader_tokens: es.value.push_reader_tokens.value().is_none_or(|p| p.value),
    })
}

/// `secrets.sops.ageRecipients`: one or more distinct age X25519 public keys (`age1…`).
fn sops(s: &Sp<spec::Secrets>, mode: &Sp<String>, d: &mut Diagnostics) -> Option<SecretsMode> {
    let list = s
        .value
        .sops
        .value()
        .map(|x| x.value.age_recipients.clone())
        .unwrap_or_default();
    if list.is_empty() {
        d.error_help(
            Code::E028,
            s.value.sops.value().map_or(mode.loc, |x| x.loc),
            "`secrets.mode: sops` needs `secrets.sops.ageRecipients`: the age public keys that can decrypt",
            "add `sops: {ageRecipients: [age1…]}` (`age-keygen -y key.txt` prints a key's recipient; Flux decrypts with the key in its `sops-age` Secret)",
        );
        return None;
    }
    let mut ok = true;
    let mut seen = std::collections::BTreeSet::new();
    for r in &list {
        if r.value.parse::<age::x25519::Recipient>().is_err() {
            ok = false;
            d.error_help(
                Code::E028,
                r.loc,
                format!("`{}` is not an age recipient", crate::diag::terminal_safe(&r.value)),
                "expected an age X25519 public key: `age1` followed by 58 characters, as `age-keygen` prints it",
            );
        } else if !seen.insert(r.value.clone()) {
            ok = false;
            d.error(
                Code::E028,
                r.loc,
                format!("age recipient `{}` is listed twice", r.value),
            );
        }
    }
    ok.then(|| SecretsMode::Sops {
        recipients: list.into_iter().map(|r| r.value).collect(),
    })
}
