//! meshrender: one topology spec in, per-cluster Istio multicluster manifests out, offline.
pub mod diag;
pub mod spec;
pub mod istio;
pub mod model;
pub mod validate;
