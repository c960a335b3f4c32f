//! The top of the spec: `apiVersion`, `kind`, `meshID`, `istio` (version and install
//! options) and `trustDomain`.

use super::formats::{is_dns1123_label, is_ip_or_hostname, is_label_value};
use super::require;
use crate::diag::{Code, Diagnostics, Loc};
use crate::istio::{self, SailRelease, Version};
use crate::model::{Charts, Dataplane};
use crate::spec::{Field, Spec};

/// Istio's Helm chart repository since its December 2026 move (ISTIO-FACTS §9.1 #6).
pub(crate) const DEFAULT_CHART_REPOSITORY: &str = "https://blob.istio.io/istio-release/charts";

pub(crate) const API_VERSION: &str = "meshrender/v1alpha1";
pub(crate) const KIND: &str = "Mesh";

/// What the top of the spec resolves to; `None` where it had an error.
#[derive(Default)]
pub(super) struct Header {
    pub mesh_id: Option<String>,
    pub version: Option<Version>,
    pub revision: Option<String>,
    pub hub: Option<String>,
    pub tag: Option<String>,
    pub trust_domain: String,
    pub charts: Charts,
    pub dataplane: Dataplane,
    /// `istio.sail` is set (its location, for errors).
    pub sail: Option<Loc>,
    /// `istio.charts.version` or `istio.tag` is written (valid or not): a missing chart version
    /// is then a consequence of their own error, not reported again.
    pub chart_version_written: bool,
    /// Where `istio.dataplane` was written, for errors about ambient.
    pub dataplane_loc: Option<Loc>,
}

pub(super) fn check(spec: &Spec, d: &mut Diagnostics) -> Header {
    let top = Loc::new(1, 1);
    for (field, name, expected) in [
        (&spec.api_version, "apiVersion", API_VERSION),
        (&spec.kind, "kind", KIND),
    ] {
        match field {
            Field::Value(v) if v.value != expected => d.error(
                Code::E010,
                v.loc,
                format!("`{name}` is `{}`, expected `{expected}`", v.value),
            ),
            f if !f.is_written() => d.error_help(
                Code::E004,
                top,
                format!("missing required field `{name}`"),
                format!("add `{name}: {expected}`"),
            ),
            _ => {}
        }
    }
    let mesh_id = require(&spec.mesh_id, top, "meshID", d).map(|m| m.value.clone());
    if let Some(m) = spec.mesh_id.value()
        && !is_label_value(&m.value)
    {
        d.error(
            Code::E030,
            m.loc,
            format!(
                "`meshID` `{}` must be a label value (letters, digits, '-', '_', '.', at most 63)",
                m.value
            ),
        );
    }
    let mut h = Header {
        mesh_id,
        trust_domain: trust_domain(spec, d),
        ..Header::default()
    };
    let Some(i) = spec.istio.value() else {
        if !spec.istio.is_written() {
            d.error(Code::E004, top, "missing required section `istio`");
        }
        return h;
    };
    if let Some(v) = require(&i.value.version, i.loc, "istio.version", d) {
        match Version::parse(&v.value) {
            Some(ver) if ver.is_supported() => h.version = Some(ver),
            _ => d.error_help(
                Code::E011,
                v.loc,
                format!("unsupported Istio version `{}`", v.value),
                version_help(&v.value),
            ),
        }
    }
    if let Some(r) = i.value.revision.value()
        && !r.value.is_empty()
    {
        if is_dns1123_label(&r.value) {
            h.revision = Some(r.value.clone());
        } else {
            d.error_help(
                Code::E013,
                r.loc,
                format!("`istio.revision` `{}` is not a DNS-1123 label", r.value),
                "use lower-case letters, digits and '-', e.g. `1-28-2` or `canary`",
            );
        }
    }
    h.hub = i.value.hub.value().map(|x| x.value.clone());
    h.tag = i.value.tag.value().map(|x| x.value.clone());
    if let (Some(t), Some(v)) = (i.value.tag.value(), h.version)
        && let Some((minor, _)) = release_of(&t.value)
        && minor != v.minor
    {
        d.error_help(
            Code::E032,
            t.loc,
            format!(
                "`istio.tag` `{}` is not a release of Istio {v} (`istio.version`)",
                t.value
            ),
            format!("use a {v}.x tag, or set `istio.version` to \"1.{minor}\""),
        );
    }
    h.charts = charts(&i.value, h.version, d);
    h.chart_version_written = i.value.tag.is_written()
        || i.value
            .charts
            .value()
            .is_some_and(|c| c.value.version.is_written());
    if let Some(dp) = i.value.dataplane.value() {
        h.dataplane_loc = Some(dp.loc);
        match dp.value.as_str() {
            "sidecar" => {}
            "ambient" => h.dataplane = Dataplane::Ambient,
            other => d.error_help(
                Code::E005,
                dp.loc,
                format!("`istio.dataplane` `{other}` is not a data plane mode"),
                "expected one of: sidecar, ambient",
            ),
        }
    }
    h.sail = match &i.value.sail {
        Field::Value(s) => Some(s.loc),
        Field::Null => Some(i.loc),
        _ => None,
    };
    if let (Some(loc), Some(v)) = (h.sail, h.version) {
        sail(loc, v, &h, d);
    }
    h
}

/// `istio.sail`: Sail CRs carry the Helm values (Istio ≥ 1.24) and `spec.version:
/// v<chart version>`, which must be a version the Sail Operator shipped (ISTIO-FACTS §9.4).
fn sail(loc: Loc, v: Version, h: &Header, d: &mut Diagnostics) {
    if !v.has_helm_values() {
        d.error_help(
            Code::E020,
            loc,
            format!("`istio.sail` renders the Sail Operator's CRs from the Helm values, which meshrender renders from Istio 1.24; the target is {v}"),
            "remove `istio.sail`, or target Istio 1.24 or newer",
        );
        return;
    }
    let Some(chart) = &h.charts.version else {
        if !h.chart_version_written {
            d.error_help(
                Code::E033,
                loc,
                "`istio.sail` pins the Sail CRs' `spec.version` to an exact release, and the spec gives none",
                "set `istio.charts.version` (e.g. 1.30.3) or `istio.tag`",
            );
        }
        return;
    };
    match v.sail_release(chart) {
        SailRelease::Ships => {}
        SailRelease::Eol => d.warning_help(
            Code::W003,
            loc,
            format!("the Sail Operator lists Istio {chart} as end of life: its current releases accept `v{chart}` but do not install it"),
            "target a release the operator still installs (1.29.x, 1.30.x), or keep an operator release that does",
        ),
        SailRelease::Newer => d.warning_help(
            Code::W003,
            loc,
            format!("Istio {chart} is newer than every {v} release in the Sail Operator version list meshrender knows (2026-08)"),
            "install a Sail Operator release whose CRDs list this version, or pin a listed one",
        ),
        SailRelease::Never => d.error_help(
            Code::E020,
            loc,
            format!("the Sail Operator never shipped Istio {chart}"),
            "use a version the operator's versions.yaml lists, e.g. 1.29.6 or 1.30.3",
        ),
    }
}

/// `(minor, rest)` of a release string `1.<minor>.<patch>[-suffix]` (a tag or chart version);
/// `None` when it does not start that way.
pub(crate) fn release_of(s: &str) -> Option<(u32, &str)> {
    let rest = s.strip_prefix("1.")?;
    let (minor, patch) = rest.split_once('.')?;
    let minor: u32 = minor.parse().ok()?;
    let digits = patch.bytes().take_while(u8::is_ascii_digit).count();
    (digits > 0).then_some((minor, patch))
}

/// The chart version a tag implies: its `1.Y.Z`, with a pre-release suffix (`-alpha.N`,
/// `-beta.N`, `-rc.N`: Istio publishes charts under those versions) but without an image
/// variant (`-distroless`, `-debug`), which names images, not charts.
pub(crate) fn chart_version_of_tag(tag: &str) -> Option<String> {
    let (minor, patch) = release_of(tag)?;
    let digits: String = patch.chars().take_while(char::is_ascii_digit).collect();
    let rest = &patch[digits.len()..];
    let pre = ["-alpha.", "-beta.", "-rc."]
        .iter()
        .find(|p| rest.starts_with(*p))
        .map(|p| {
            let n: String = rest[p.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            format!("{p}{n}")
        })
        .filter(|s| s.ends_with(|c: char| c.is_ascii_digit()))
        .unwrap_or_default();
    Some(format!("1.{minor}.{digits}{pre}"))
}

/// `istio.charts`: the repository (HTTPS or OCI) and the exact chart version, which defaults
/// to the `X.Y.Z` that starts `istio.tag`.
fn charts(i: &crate::spec::Istio, version: Option<Version>, d: &mut Diagnostics) -> Charts {
    let mut out = Charts {
        repository: DEFAULT_CHART_REPOSITORY.to_owned(),
        version: None,
    };
    let from_tag = i.tag.value().and_then(|t| chart_version_of_tag(&t.value));
    let Some(c) = i.charts.value() else {
        out.version = from_tag;
        return out;
    };
    if let Some(r) = c.value.repository.value() {
        let url = r.value.trim_end_matches('/');
        let host_ok = |rest: &str| {
            !rest.is_empty()
                && !rest.starts_with('/')
                && !rest.contains(|ch: char| ch.is_whitespace() || ch.is_control())
        };
        match (url.strip_prefix("https://"), url.strip_prefix("oci://")) {
            (Some(rest), _) | (_, Some(rest)) if host_ok(rest) => out.repository = url.to_owned(),
            _ => d.error_help(
                Code::E030,
                r.loc,
                format!(
                    "`istio.charts.repository` `{}` is neither an https:// nor an oci:// URL",
                    r.value
                ),
                format!("use {DEFAULT_CHART_REPOSITORY} or oci://ghcr.io/istio/release/charts, or your mirror"),
            ),
        }
    }
    match c.value.version.value() {
        None => out.version = from_tag,
        Some(cv) => match (release_of(&cv.value), version) {
            (Some((minor, _)), Some(v)) if minor != v.minor => d.error_help(
                Code::E032,
                cv.loc,
                format!(
                    "`istio.charts.version` `{}` is not a chart of Istio {v} (`istio.version`)",
                    cv.value
                ),
                format!("use a {v}.x chart version"),
            ),
            (Some(_), _) if !cv.value.contains(['*', '~', '^', '>', '<', ' ', 'x']) => {
                out.version = Some(cv.value.clone())
            }
            _ => d.error_help(
                Code::E030,
                cv.loc,
                format!(
                    "`istio.charts.version` `{}` is not an exact chart version",
                    cv.value
                ),
                "write the release, e.g. version: 1.28.2 (ranges are not allowed: GitOps must pin it)",
            ),
        },
    }
    out
}

/// How to write a supported version, given an unsupported one.
fn version_help(v: &str) -> String {
    match v.split('.').collect::<Vec<_>>()[..] {
        [a, b, _] if Version::parse(&format!("{a}.{b}")).is_some() => format!(
            "`version` is the minor version: use version: \"{a}.{b}\" and put the patch release in `tag: {v}`"
        ),
        _ => format!(
            "use a minor version from \"{}\" to \"{}\", e.g. version: \"{}\"",
            istio::OLDEST_RENDERED,
            istio::NEWEST,
            istio::NEWEST
        ),
    }
}

fn trust_domain(spec: &Spec, d: &mut Diagnostics) -> String {
    match spec.trust_domain.value() {
        Some(t) if is_ip_or_hostname(&t.value) => t.value.clone(),
        Some(t) => {
            d.error(
                Code::E030,
                t.loc,
                format!("`trustDomain` `{}` is not a DNS name", t.value),
            );
            String::new()
        }
        None => "cluster.local".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn chart_version_of_tag() {
        for (tag, chart) in [
            ("1.28.2", Some("1.28.2")),
            ("1.28.2-distroless", Some("1.28.2")),
            ("1.31.0-rc.0", Some("1.31.0-rc.0")),
            ("1.31.0-beta.1-distroless", Some("1.31.0-beta.1")),
            ("1.28", None),
            ("latest", None),
        ] {
            assert_eq!(super::chart_version_of_tag(tag).as_deref(), chart, "{tag}");
        }
    }
}
