//! The top of the spec: `apiVersion`, `kind`, `meshID`, `istio` (version and install
//! options) and `trustDomain`.

use super::formats::{is_dns1123_label, is_ip_or_hostname, is_label_value};
use super::require;
use crate::diag::{Code, Diagnostics, Loc};
use crate::istio::{self, Version};
use crate::spec::{Field, Spec};

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
    h
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
