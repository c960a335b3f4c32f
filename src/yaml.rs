//! The one YAML serializer: every value that reaches a rendered file goes through here, as a
//! scalar (`yaml_scalar`, `double_quoted`) or a block of data (`to_yaml`). A leaf module, used
//! by the planner (kubeconfigs embedded in Secrets) and by the template filters of `render`.

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
    // A leading digit is always quoted: YAML 1.1 and 1.2 read `0x1f`, `0o17`, `0b101`,
    // `1e3`, `1:20` and dates as numbers or timestamps, and kubectl's parser is YAML 1.1.
    let starts_ok = s
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'/');
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
        // YAML 1.1 (kubectl) and 1.2 numbers, timestamps and words: always quoted
        for v in [
            "0x1f",
            "0b101",
            "0o17",
            "017",
            "1e3",
            "1:20",
            "2001-12-14",
            "12:30:00",
            "yes",
            "Y",
            "On",
            "OFF",
            "null",
            "Null",
            "~",
            "NULL",
            ".inf",
            "-.Inf",
            ".NaN",
            "123",
            "0",
        ] {
            assert!(yaml_scalar(v).starts_with('"'), "{v} must be quoted");
            let back: serde_json::Value =
                serde_saphyr::from_str(&format!("k: {}", yaml_scalar(v))).unwrap();
            assert_eq!(back["k"], v, "{v} reads back as the same string");
        }
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
}
