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
use crate::yaml::{double_quoted, to_yaml, yaml_scalar};
use include_dir::{Dir, include_dir};

/// `templates/`, embedded whole: every `*.j2` file under it is registered by its path, so a
/// template file that is not registered cannot exist. (`init/` holds the starter specs.)
pub(crate) static TEMPLATE_DIR: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/templates");

/// Every template, by name (its path under `templates/`), sorted.
#[cfg(test)]
pub(crate) fn templates() -> Vec<(&'static str, &'static str)> {
    let mut out = Vec::new();
    collect(&TEMPLATE_DIR, &mut out);
    out.sort_unstable();
    out
}

#[cfg(test)]
fn collect(dir: &'static Dir<'static>, out: &mut Vec<(&'static str, &'static str)>) {
    for f in dir.files() {
        if let (Some(name), Some(text)) = (f.path().to_str(), f.contents_utf8())
            && name.ends_with(".j2")
        {
            out.push((name, text));
        }
    }
    for d in dir.dirs() {
        collect(d, out);
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
    // Compiled on first use, not all up front: a render compiles only the templates its plan
    // names (and what they import), which is most of the start-up of `check` on a small mesh.
    // A template that does not parse is then a `RenderError` of the file that uses it.
    env.set_loader(|name| Ok(source(name).map(str::to_owned)));
    env
}

/// The embedded source of template `name` (its path under `templates/`), if there is one.
fn source(name: &str) -> Option<&'static str> {
    if !name.ends_with(".j2") {
        return None;
    }
    TEMPLATE_DIR.get_file(name)?.contents_utf8()
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
    render_with(&environment(), plan)
}

/// [`render`] with an environment the caller keeps (templates compiled once for both
/// [`render_with`] and [`render_redacted_with`]).
pub fn render_with(
    env: &Environment,
    plan: &Plan,
) -> Result<BTreeMap<String, Vec<u8>>, RenderError> {
    let mut out = BTreeMap::new();
    for f in &plan.files {
        let mut text = render_one(env, &f.path, f.template, &f.context)?;
        if let Some(o) = &f.overlay {
            text = overlaid(&text, o).map_err(|message| RenderError {
                path: f.path.clone(),
                template: f.template,
                message,
            })?;
        }
        out.insert(f.path.clone(), text.into_bytes());
    }
    Ok(out)
}

/// The redacted plaintext of every sealed file (SOPS), by path: what its fingerprint covers.
pub fn render_redacted_with(
    env: &Environment,
    plan: &Plan,
) -> Result<BTreeMap<String, String>, RenderError> {
    let mut out = BTreeMap::new();
    for f in &plan.files {
        if let Some(s) = &f.sealed {
            out.insert(
                f.path.clone(),
                render_one(env, &f.path, f.template, &s.redacted)?,
            );
        }
    }
    Ok(out)
}

/// A rendered document with `overlay` deep-merged into its `spec` (DESIGN §7 overrides): the
/// leading comment lines stay, the document is read back and written by the one serializer
/// (comments inside it do not survive; keys come out sorted).
fn overlaid(text: &str, overlay: &serde_json::Value) -> Result<String, String> {
    let mut head = String::new();
    let mut body = text;
    while body.starts_with('#') {
        let end = body.find('\n').map_or(body.len(), |i| i + 1);
        head.push_str(&body[..end]);
        body = &body[end..];
    }
    let node = crate::spec::parse::parse(body).map_err(|d| d.message)?;
    let mut doc = node.to_json();
    let spec = doc
        .get_mut("spec")
        .ok_or_else(|| "the document has no `spec`".to_owned())?;
    crate::overlay::merge(spec, overlay);
    Ok(format!(
        "{head}# `overrides` of the spec are merged into `spec` (keys sorted, comments inside dropped).\n{}\n",
        to_yaml(&doc, 0)
    ))
}

fn render_one(
    env: &Environment,
    path: &str,
    template: &'static str,
    context: &serde_json::Value,
) -> Result<String, RenderError> {
    let tmpl = env.get_template(template).map_err(|e| RenderError {
        path: path.to_owned(),
        template,
        message: e.to_string(),
    })?;
    let ctx = Value::from(minijinja::value::Serde(context));
    let mut text = tmpl.render(ctx).map_err(|e| RenderError {
        path: path.to_owned(),
        template,
        message: format!("{e:#}"),
    })?;
    while text.ends_with("\n\n") {
        text.pop();
    }
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses() {
        let env = environment();
        let all = templates();
        assert!(all.len() >= 29, "{} templates", all.len());
        for (name, _) in all {
            assert!(env.get_template(name).is_ok(), "{name}");
            assert!(source(name).is_some(), "{name}");
        }
    }
}
