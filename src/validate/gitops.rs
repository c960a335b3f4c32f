//! `gitops`: the repository the output is committed to, and the Argo CD and Flux objects
//! that consume it.

use super::formats::is_dns1123_subdomain;
use super::require;
use crate::diag::{Code, Diagnostics};
use crate::istio::Version;
use crate::model::{ArgoCd, Flux, Gitops};
use crate::spec::{self, Field, Sp, Spec};

pub(super) fn settings(
    spec: &Spec,
    version: Option<Version>,
    chart_version: (Option<&str>, bool),
    d: &mut Diagnostics,
) -> Option<Gitops> {
    let g = spec.gitops.value()?;
    let repo_url = require(&g.value.repo_url, g.loc, "gitops.repoURL", d)?;
    if repo_url.value.trim().is_empty() || repo_url.value.contains(char::is_whitespace) {
        d.error(
            Code::E030,
            repo_url.loc,
            format!(
                "`gitops.repoURL` `{}` is not a repository URL",
                repo_url.value
            ),
        );
    }
    let path = repo_path(&g.value.path, d);
    // `argocd:` or `flux:` without a value enables them with defaults.
    let empty_argo = Sp::new(crate::spec::ArgoCd::default(), g.loc);
    let empty_flux = Sp::new(crate::spec::Flux::default(), g.loc);
    let argo_spec = g
        .value
        .argocd
        .value()
        .or(g.value.argocd.is_null().then_some(&empty_argo));
    let flux_spec = g
        .value
        .flux
        .value()
        .or(g.value.flux.is_null().then_some(&empty_flux));
    if let (Some(a), Some(v)) = (argo_spec, version)
        && v.has_helm_values()
        && chart_version == (None, false)
    {
        d.error_help(
            Code::E033,
            a.loc,
            "`gitops.argocd` installs Istio's charts at an exact version, and the spec gives none",
            "set `istio.charts.version` (e.g. 1.28.2) or `istio.tag`",
        );
    }
    let argocd = argo_spec.map(|a| ArgoCd {
        namespace: object_name(&a.value.namespace, "gitops.argocd.namespace", "argocd", d),
        project: object_name(&a.value.project, "gitops.argocd.project", "default", d),
    });
    let flux = flux_spec.and_then(|f| flux(f, version, chart_version, d));
    if argocd.is_none() && flux.is_none() {
        d.error_help(
            Code::E004,
            g.loc,
            "`gitops` needs `argocd`, `flux` or both",
            "add `argocd: {}` and/or `flux: {}` (defaults: namespaces argocd / flux-system)",
        );
    }
    Some(Gitops {
        repo_url: repo_url.value.clone(),
        revision: g
            .value
            .revision
            .value()
            .map_or("HEAD".to_owned(), |r| r.value.clone()),
        path,
        argocd,
        flux,
    })
}

/// `gitops.flux`: needs Helm values (Istio ≥ 1.24); the source and the chart version.
fn flux(
    f: &Sp<spec::Flux>,
    version: Option<Version>,
    chart_version: (Option<&str>, bool),
    d: &mut Diagnostics,
) -> Option<Flux> {
    if let Some(v) = version
        && !v.has_helm_values()
    {
        d.error_help(
            Code::E020,
            f.loc,
            format!("`gitops.flux` installs Istio from Helm values, which meshrender renders from Istio 1.24; the target is {v}"),
            "remove `gitops.flux`, or target Istio 1.24 or newer",
        );
        return None;
    }
    let (source_kind, source_name) = match f.value.source_ref.value() {
        None => ("GitRepository".to_owned(), "flux-system".to_owned()),
        Some(r) => {
            let kind = match r.value.kind.value() {
                None => "GitRepository".to_owned(),
                Some(k)
                    if ["GitRepository", "OCIRepository", "Bucket"].contains(&k.value.as_str()) =>
                {
                    k.value.clone()
                }
                Some(k) => {
                    d.error_help(
                        Code::E005,
                        k.loc,
                        format!(
                            "`gitops.flux.sourceRef.kind` `{}` is not a Flux source kind",
                            k.value
                        ),
                        "expected one of: GitRepository, OCIRepository, Bucket",
                    );
                    String::new()
                }
            };
            (
                kind,
                object_name(
                    &r.value.name,
                    "gitops.flux.sourceRef.name",
                    "flux-system",
                    d,
                ),
            )
        }
    };
    if chart_version == (None, false) {
        d.error_help(
            Code::E033,
            f.loc,
            "`gitops.flux` pins every Istio chart to an exact version, and the spec gives none",
            "set `istio.charts.version` (e.g. 1.28.2) or `istio.tag`",
        );
    }
    Some(Flux {
        namespace: object_name(
            &f.value.namespace,
            "gitops.flux.namespace",
            "flux-system",
            d,
        ),
        source_kind,
        source_name,
    })
}

/// `gitops.path`, without `./` or slashes at the ends; "" for the repository root.
fn repo_path(path: &Field<String>, d: &mut Diagnostics) -> String {
    match path.value() {
        None => String::new(),
        Some(p) => {
            let clean = p
                .value
                .trim_start_matches("./")
                .trim_matches('/')
                .to_owned();
            if clean
                .split('/')
                .any(|seg| seg == ".." || seg.is_empty() && !clean.is_empty())
                || p.value.starts_with('/')
            {
                d.error_help(
                    Code::E030,
                    p.loc,
                    format!("`gitops.path` `{}` must be a relative path inside the repository", p.value),
                    "the path of the output directory from the repository root, e.g. `mesh/out` (or `.`)",
                );
            }
            if clean == "." { String::new() } else { clean }
        }
    }
}

/// A Kubernetes object name, or `default` when not given.
fn object_name(v: &Field<String>, what: &str, default: &str, d: &mut Diagnostics) -> String {
    match v.value() {
        Some(x) if is_dns1123_subdomain(&x.value) => x.value.clone(),
        Some(x) => {
            d.error(
                Code::E030,
                x.loc,
                format!("`{what}` `{}` is not a Kubernetes object name", x.value),
            );
            String::new()
        }
        None => default.to_owned(),
    }
}
