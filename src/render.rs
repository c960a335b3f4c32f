//! Templates → bytes. Pure: a [`Plan`] in, a sorted map of output path → bytes out.
//!
//! Templates live under `templates/` and are embedded in the binary. The environment uses
//! strict undefined variables, so a missing context key is an error, never an empty string.
//! Filters: `q` (a YAML scalar, quoted only when needed), `dq` (always double-quoted),
//! `b64` (base64 of a string). Everything else is computed by the planner.

use std::collections::BTreeMap;

use base64::Engine as _;
use minijinja::{Environment, UndefinedBehavior, Value};

use crate::plan::Plan;

/// Every template, by name. Names are paths under `templates/`.
pub const TEMPLATES: &[(&str, &str)] = &[
    (
        "namespace.yaml.j2",
        include_str!("../templates/namespace.yaml.j2"),
    ),
    (
        "cacerts.yaml.j2",
        include_str!("../templates/cacerts.yaml.j2"),
    ),
    (
        "cacerts.external.yaml.j2",
        include_str!("../templates/cacerts.external.yaml.j2"),
    ),
    (
        "istiooperator.yaml.j2",
        include_str!("../templates/istiooperator.yaml.j2"),
    ),
    (
        "eastwest-gateway.yaml.j2",
        include_str!("../templates/eastwest-gateway.yaml.j2"),
    ),
    (
        "expose-services.yaml.j2",
        include_str!("../templates/expose-services.yaml.j2"),
    ),
    (
        "expose-istiod.yaml.j2",
        include_str!("../templates/expose-istiod.yaml.j2"),
    ),
    (
        "reader-token.yaml.j2",
        include_str!("../templates/reader-token.yaml.j2"),
    ),
    (
        "remote-secret.yaml.j2",
        include_str!("../templates/remote-secret.yaml.j2"),
    ),
    (
        "remote-secret.external.yaml.j2",
        include_str!("../templates/remote-secret.external.yaml.j2"),
    ),
    (
        "kustomization.yaml.j2",
        include_str!("../templates/kustomization.yaml.j2"),
    ),
    (
        "helm/base.values.yaml.j2",
        include_str!("../templates/helm/base.values.yaml.j2"),
    ),
    (
        "helm/istiod.values.yaml.j2",
        include_str!("../templates/helm/istiod.values.yaml.j2"),
    ),
    (
        "helm/eastwest-gateway.values.yaml.j2",
        include_str!("../templates/helm/eastwest-gateway.values.yaml.j2"),
    ),
    ("README.md.j2", include_str!("../templates/README.md.j2")),
    (
        "sourceignore.j2",
        include_str!("../templates/sourceignore.j2"),
    ),
    (
        "gitops/applicationset.yaml.j2",
        include_str!("../templates/gitops/applicationset.yaml.j2"),
    ),
    (
        "gitops/flux-index.yaml.j2",
        include_str!("../templates/gitops/flux-index.yaml.j2"),
    ),
    (
        "gitops/flux-sources.yaml.j2",
        include_str!("../templates/gitops/flux-sources.yaml.j2"),
    ),
    (
        "gitops/flux-cluster.yaml.j2",
        include_str!("../templates/gitops/flux-cluster.yaml.j2"),
    ),
    (
        "gitops/flux-releases-index.yaml.j2",
        include_str!("../templates/gitops/flux-releases-index.yaml.j2"),
    ),
    (
        "gitops/flux-helmreleases.yaml.j2",
        include_str!("../templates/gitops/flux-helmreleases.yaml.j2"),
    ),
    (
        "verify/namespace.yaml.j2",
        include_str!("../templates/verify/namespace.yaml.j2"),
    ),
    (
        "verify/helloworld.yaml.j2",
        include_str!("../templates/verify/helloworld.yaml.j2"),
    ),
    (
        "verify/client.yaml.j2",
        include_str!("../templates/verify/client.yaml.j2"),
    ),
    (
        "verify/kustomization.yaml.j2",
        include_str!("../templates/verify/kustomization.yaml.j2"),
    ),
    (
        "istiooperator.replicated.yaml.j2",
        include_str!("../templates/istiooperator.replicated.yaml.j2"),
    ),
    (
        "serviceentry.yaml.j2",
        include_str!("../templates/serviceentry.yaml.j2"),
    ),
    (
        "coredns-global.server.j2",
        include_str!("../templates/coredns-global.server.j2"),
    ),
];

/// Words YAML 1.1 or 1.2 would read as something other than a string.
const YAML_SPECIAL: &[&str] = &[
    "", "~", "null", "true", "false", "yes", "no", "on", "off", "y", "n", ".inf", "-.inf", ".nan",
];

/// `s` as a YAML scalar: plain when that reads back as the same string, else double-quoted.
pub fn yaml_scalar(s: &str) -> String {
    let lower = s.to_ascii_lowercase();
    let plain_chars = s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._/-:".contains(&b));
    let starts_ok = s
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'/' || b.is_ascii_digit());
    let looks_numeric = s
        .bytes()
        .all(|b| b.is_ascii_digit() || b"._-+eE:xXoO".contains(&b))
        && s.bytes().any(|b| b.is_ascii_digit());
    if plain_chars
        && starts_ok
        && !looks_numeric
        && !YAML_SPECIAL.contains(&lower.as_str())
        && !s.ends_with(':')
        && !s.contains(": ")
    {
        s.to_owned()
    } else {
        double_quoted(s)
    }
}

/// `s` as a double-quoted YAML scalar (JSON string escaping is valid YAML).
pub fn double_quoted(s: &str) -> String {
    serde_json::to_string(s).expect("strings always serialize")
}

/// Block-style YAML for a JSON value, each line indented by `indent` spaces, no trailing
/// newline. Maps keep their (sorted) key order; an empty map or list is `{}` / `[]`.
pub fn to_yaml(v: &serde_json::Value, indent: usize) -> String {
    let mut out = String::new();
    emit(v, indent, &mut out);
    while out.ends_with('\n') {
        out.pop();
    }
    out
}

fn scalar(v: &serde_json::Value) -> Option<String> {
    use serde_json::Value as J;
    Some(match v {
        J::Null => "null".to_owned(),
        J::Bool(b) => b.to_string(),
        J::Number(n) => n.to_string(),
        J::String(s) => yaml_scalar(s),
        J::Array(a) if a.is_empty() => "[]".to_owned(),
        J::Object(o) if o.is_empty() => "{}".to_owned(),
        _ => return None,
    })
}

fn emit(v: &serde_json::Value, indent: usize, out: &mut String) {
    use serde_json::Value as J;
    let pad = " ".repeat(indent);
    match v {
        J::Object(o) if !o.is_empty() => {
            for (k, val) in o {
                match scalar(val) {
                    Some(s) => out.push_str(&format!("{pad}{}: {s}\n", yaml_scalar(k))),
                    None => {
                        out.push_str(&format!("{pad}{}:\n", yaml_scalar(k)));
                        emit(val, indent + 2, out);
                    }
                }
            }
        }
        J::Array(a) if !a.is_empty() => {
            for item in a {
                match scalar(item) {
                    Some(s) => out.push_str(&format!("{pad}- {s}\n")),
                    None => {
                        let mut inner = String::new();
                        emit(item, indent + 2, &mut inner);
                        // The first line of the item goes after the dash.
                        out.push_str(&format!("{pad}- {}", &inner[indent + 2..]));
                    }
                }
            }
        }
        other => out.push_str(&format!("{pad}{}\n", scalar(other).unwrap_or_default())),
    }
}

pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()
            .expect("default delimiters are valid"),
    );
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.add_filter("q", |v: String| yaml_scalar(&v));
    env.add_filter("dq", |v: String| double_quoted(&v));
    env.add_filter("yaml", |v: minijinja::Value, indent: Option<usize>| {
        let json = serde_json::to_value(&v).map_err(|e| {
            minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.to_string())
        })?;
        Ok::<_, minijinja::Error>(to_yaml(&json, indent.unwrap_or(0)))
    });
    env.add_filter("b64", |v: String| {
        base64::engine::general_purpose::STANDARD.encode(v.as_bytes())
    });
    for (name, src) in TEMPLATES {
        env.add_template(name, src)
            .unwrap_or_else(|e| panic!("embedded template {name} does not parse: {e}"));
    }
    env
}

/// A rendering failure: a template bug, never a user error.
#[derive(Debug)]
pub struct RenderError {
    pub path: String,
    pub template: &'static str,
    pub message: String,
}

impl std::fmt::Display for RenderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "internal error rendering {} from template {}: {}",
            self.path, self.template, self.message
        )
    }
}

impl std::error::Error for RenderError {}

/// Renders every planned file. The result is sorted by path; every file ends with exactly one
/// newline and uses LF line endings.
pub fn render(plan: &Plan) -> Result<BTreeMap<String, Vec<u8>>, RenderError> {
    let env = environment();
    let mut out = BTreeMap::new();
    for f in &plan.files {
        let tmpl = env.get_template(f.template).map_err(|e| RenderError {
            path: f.path.clone(),
            template: f.template,
            message: e.to_string(),
        })?;
        let ctx = Value::from(minijinja::value::Serde(&f.context));
        let mut text = tmpl.render(ctx).map_err(|e| RenderError {
            path: f.path.clone(),
            template: f.template,
            message: format!("{e:#}"),
        })?;
        while text.ends_with("\n\n") {
            text.pop();
        }
        if !text.ends_with('\n') {
            text.push('\n');
        }
        out.insert(f.path.clone(), text.into_bytes());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_are_quoted_only_when_yaml_would_misread_them() {
        assert_eq!(yaml_scalar("cluster1"), "cluster1");
        assert_eq!(yaml_scalar("203.0.113.10"), "\"203.0.113.10\"");
        assert_eq!(yaml_scalar("gw.example.com"), "gw.example.com");
        assert_eq!(
            yaml_scalar("/inject/cluster/c2/net/n2"),
            "/inject/cluster/c2/net/n2"
        );
        assert_eq!(yaml_scalar("true"), "\"true\"");
        assert_eq!(yaml_scalar("No"), "\"No\"");
        assert_eq!(yaml_scalar("1.28"), "\"1.28\"");
        assert_eq!(yaml_scalar("1-28-2"), "\"1-28-2\"");
        assert_eq!(yaml_scalar(""), "\"\"");
        assert_eq!(yaml_scalar("a: b"), "\"a: b\"");
        assert_eq!(yaml_scalar("*.local"), "\"*.local\"");
        assert_eq!(yaml_scalar("docker.io/istio"), "docker.io/istio");
    }

    #[test]
    fn yaml_emitter_round_trips() {
        let v = serde_json::json!({
            "global": {"meshID": "mesh1", "multiCluster": {"clusterName": "c1"}, "externalIstiod": true},
            "list": [{"a": 1, "b": "x y"}, "s", []],
            "empty": {},
            "profile": "remote",
        });
        let text = to_yaml(&v, 0);
        let back: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(back, v, "{text}");
        assert!(
            text.contains("  multiCluster:\n    clusterName: c1"),
            "{text}"
        );
        let indented = to_yaml(&v, 4);
        assert!(
            indented.lines().all(|l| l.starts_with("    ")),
            "{indented}"
        );
    }

    #[test]
    fn every_template_parses() {
        let env = environment();
        for (name, _) in TEMPLATES {
            assert!(env.get_template(name).is_ok(), "{name}");
        }
    }
}
