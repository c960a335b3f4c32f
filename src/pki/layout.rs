//! The layout of `pki.dir`: file and directory names, and how a path inside it is shown. A
//! leaf module: validation (reserved cluster names), federation (its address record) and the
//! planner name these files without depending on how CA material is issued or verified.

use crate::model::PkiSettings;

pub const ROOT_CERT: &str = "root-cert.pem";
pub const ROOT_KEY: &str = "root-key.pem";
pub const CA_CERT: &str = "ca-cert.pem";
pub const CA_KEY: &str = "ca-key.pem";
pub const CERT_CHAIN: &str = "cert-chain.pem";
/// The new root during a root rotation.
pub const NEXT_ROOT_DIR: &str = "next-root";
/// Prefix of the directories retired roots are kept in: `retired-root-<fingerprint>`.
pub const RETIRED_ROOT_PREFIX: &str = "retired-root-";
/// The recorded `*.global` addresses of `federation` (Istio 1.6–1.7).
pub const FEDERATION_ADDRESSES: &str = "federation-addresses.json";

/// `rel` inside `pki.dir`, as the spec wrote the directory.
pub fn display(s: &PkiSettings, rel: &str) -> String {
    format!("{}/{rel}", s.dir_display.trim_end_matches('/'))
}
