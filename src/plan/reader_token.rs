//! `reader-token.yaml`: the `istio-reader-service-account` token Secret of a cluster that
//! some primary reads (its value goes into that primary's remote secret); in external-secrets
//! mode with `pushReaderTokens` (the default), `reader-token-push.yaml`: an ESO `PushSecret`
//! that pushes that token (and the cluster CA it comes with) to
//! `<keyPrefix>/<cluster>/reader-token`, where the primaries' remote-secret ExternalSecrets
//! read it, so no token is ever copied by hand.

use serde::Serialize;

use super::names::remote_key;
use super::{Applied, ClusterFiles, Ctx};
use crate::model::SecretsMode;

/// The Secret Kubernetes fills with the reader token (`istioctl create-remote-secret`'s name).
pub(super) const READER_TOKEN_SECRET: &str =
    "istio-reader-service-account-istio-remote-secret-token";

#[derive(Serialize)]
struct ReaderToken {
    name: &'static str,
}

#[derive(Serialize)]
struct Push<'a> {
    secret: &'static str,
    store_kind: &'a str,
    store_name: &'a str,
    remote_key: String,
    keys: [&'static str; 2],
}

pub(super) fn plan(x: &Ctx, out: &mut ClusterFiles) {
    if !out.f.read_by_primary {
        return;
    }
    out.add(
        "reader-token.yaml",
        "reader-token.yaml.j2",
        Applied::Cluster,
        ReaderToken {
            name: READER_TOKEN_SECRET,
        },
    );
    if let SecretsMode::ExternalSecrets {
        store_kind,
        store_name,
        key_prefix,
        push_reader_tokens: true,
    } = &x.mesh.secrets
    {
        out.add(
            "reader-token-push.yaml",
            "reader-token-push.yaml.j2",
            Applied::Cluster,
            Push {
                secret: READER_TOKEN_SECRET,
                store_kind,
                store_name,
                remote_key: remote_key(key_prefix, &out.c.name, "reader-token"),
                keys: ["ca.crt", "token"],
            },
        );
    }
}
