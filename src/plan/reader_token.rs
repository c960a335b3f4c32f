//! `reader-token.yaml`: the `istio-reader-service-account` token Secret of a cluster that
//! some primary reads (its value goes into that primary's remote secret).

use serde::Serialize;

use super::{Applied, ClusterFiles};

#[derive(Serialize)]
struct ReaderToken {}

pub(super) fn plan(out: &mut ClusterFiles) {
    if out.f.read_by_primary {
        out.add(
            "reader-token.yaml",
            "reader-token.yaml.j2",
            Applied::Cluster,
            ReaderToken {},
        );
    }
}
