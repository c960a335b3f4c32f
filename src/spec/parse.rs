//! YAML text → a generic tree of nodes that keep their line and column.
//!
//! This is the only place that touches the YAML crate (serde-saphyr). The tree is built by
//! serde through `Spanned`, so every key and value carries its source position; the typed
//! spec is then decoded from the tree by `spec::decode`, which can report every problem at
//! once instead of stopping at the first one as a derived `Deserialize` would.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use crate::diag::{Code, Diagnostic, Loc};

/// A YAML value with the position it was written at.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub loc: Loc,
    pub value: Value,
}

/// A mapping key with its position.
#[derive(Clone, Debug, PartialEq)]
pub struct Key {
    pub loc: Loc,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Key, Node)>),
}

impl Node {
    /// The tree as JSON data (mapping order kept as written where the JSON map keeps it:
    /// sorted). A non-finite number becomes null; the decoder refuses those in overrides.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Str(s) => J::String(s.clone()),
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.name.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }
}

impl Value {
    /// What a user would call this kind of value, for "expected X, found Y" messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "nothing (null)",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

fn loc_of(l: &serde_saphyr::Location) -> Loc {
    Loc::new(
        u32::try_from(l.line()).unwrap_or(u32::MAX),
        u32::try_from(l.column()).unwrap_or(u32::MAX),
    )
}

struct RawValue(Value);

impl<'de> Deserialize<'de> for RawValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RawVisitor).map(RawValue)
    }
}

fn node(s: Spanned<RawValue>) -> Node {
    Node {
        loc: loc_of(&s.referenced),
        value: s.value.0,
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        match i64::try_from(v) {
            Ok(i) => Ok(Value::Int(i)),
            Err(_) => Ok(Value::Float(v as f64)),
        }
    }
    fn visit_i128<E>(self, v: i128) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or(Value::Float(v as f64), Value::Int))
    }
    fn visit_u128<E>(self, v: u128) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or(Value::Float(v as f64), Value::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(RawVisitor)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<RawValue>>()? {
            items.push(node(item));
        }
        Ok(Value::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(k) = map.next_key::<Spanned<RawKey>>()? {
            let v = map.next_value::<Spanned<RawValue>>()?;
            entries.push((
                Key {
                    loc: loc_of(&k.referenced),
                    name: k.value.0,
                },
                node(v),
            ));
        }
        Ok(Value::Map(entries))
    }
}

/// Keys are taken as text whatever their YAML type (`1: x` has the key "1").
struct RawKey(String);

impl<'de> Deserialize<'de> for RawKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = d.deserialize_any(RawVisitor)?;
        Ok(RawKey(match v {
            Value::Str(s) => s,
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Null => "null".to_owned(),
            Value::Seq(_) | Value::Map(_) => "<complex key>".to_owned(),
        }))
    }
}

/// Parses one YAML document into a located tree. A syntax error becomes an `E001` diagnostic
/// at the position the parser reports.
pub fn parse(text: &str) -> Result<Node, Diagnostic> {
    if text.trim().is_empty() {
        return Err(
            Diagnostic::error(Code::E001, Loc::FILE, "the spec file is empty")
                .with_help("run `meshrender init` for a commented starter spec"),
        );
    }
    match serde_saphyr::from_str::<Spanned<RawValue>>(text) {
        Ok(v) if v.value.0 == Value::Null => Err(Diagnostic::error(
            Code::E001,
            Loc::FILE,
            "the spec file holds no YAML document (only comments or nothing)",
        )
        .with_help("run `meshrender init` for a commented starter spec")),
        Ok(v) => Ok(node(v)),
        Err(e) => {
            let loc = e.location().map(|l| loc_of(&l)).unwrap_or(Loc::FILE);
            let msg = e.without_snippet().to_string();
            // The crate appends its own " at line X column Y"; we print the location in front.
            let mut msg = msg
                .lines()
                .next()
                .unwrap_or("invalid YAML")
                .trim()
                .to_owned();
            if let Some(i) = msg.rfind(" at line ") {
                msg.truncate(i);
            }
            if let Some(i) = msg.find(", set DuplicateKeyPolicy") {
                msg.truncate(i);
            }
            // The parser's words for a wrong indentation ("did not find expected key",
            // "mapping values are not allowed in this context", "comment intercepting the
            // multiline text") say nothing to most readers: when a line at or before the
            // error is indented where no mapping or list of the lines above it is, say that.
            if let Some(d) = indentation(text, loc.line) {
                return Err(d);
            }
            Err(Diagnostic::error(
                Code::E001,
                loc,
                format!("invalid YAML: {msg}"),
            ))
        }
    }
}

/// An open block of the lines read so far: a mapping whose keys start at `col` (0-based), or
/// a list whose `- ` items do.
#[derive(Clone, Copy, PartialEq)]
enum Block {
    Map(usize),
    List(usize),
}

impl Block {
    fn col(self) -> usize {
        match self {
            Block::Map(c) | Block::List(c) => c,
        }
    }
}

/// "column 5" for 0-based column 4.
fn column(c: usize) -> String {
    format!("column {}", c + 1)
}

/// The first line up to `error_line` (1-based; 0: anywhere) whose indentation fits no block
/// of the lines above it, as a diagnostic in plain words with the column expected; only when
/// that line is the parser's error line, the one after it, or one of the two before it. Block-style
/// YAML only: the analysis stops (`None`) at a flow collection or block scalar spanning lines,
/// so it never blames a line it cannot judge.
fn indentation(text: &str, error_line: u32) -> Option<Diagnostic> {
    let mut stack: Vec<Block> = Vec::new();
    // The previous line ended with `key:` (or `- key:` / `-`): the next may open a block.
    let mut opens = true;
    for (i, raw) in text.lines().enumerate() {
        let line_no = u32::try_from(i + 1).unwrap_or(u32::MAX);
        // The parser may stop on the line before the culprit (a plain value it took to go on).
        if error_line != 0 && line_no > error_line.saturating_add(1) {
            return None;
        }
        let indent_str: &str = &raw[..raw.len() - raw.trim_start_matches([' ', '\t']).len()];
        let content = raw.trim_start_matches([' ', '\t']);
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        if indent_str.contains('\t') {
            return Some(
                Diagnostic::error(
                    Code::E001,
                    Loc::new(line_no, 1),
                    "this line is indented with a tab; YAML indents with spaces only",
                )
                .with_help(
                    "replace the tab with spaces (two per level, as in the rest of the file)",
                ),
            );
        }
        if content.starts_with("---") || content.starts_with("...") {
            return None;
        }
        let indent = indent_str.len();
        let is_item = content == "-" || content.starts_with("- ");
        let top = stack.last().copied();
        let fits = |b: &Block| match b {
            Block::Map(c) => *c == indent,
            Block::List(c) => *c == indent && is_item,
        };
        let deeper = top.is_none_or(|t| indent > t.col())
            // `key:` followed by `- item` at the key's own indentation is a list too
            || (opens && is_item && top.is_some_and(|t| matches!(t, Block::Map(c) if c == indent)));
        if opens && deeper {
            // a new block starts here
        } else if let Some(pos) = stack.iter().rposition(fits) {
            stack.truncate(pos + 1);
        } else if error_line == 0 || line_no + 2 >= error_line {
            return Some(misindented(line_no, indent, content, is_item, &stack));
        } else {
            // far above the parser's error: not what it stumbled on (a multi-line value?)
            return None;
        }
        // Record this line's blocks.
        let mut col = indent;
        let mut rest = content;
        if is_item {
            if stack.last() != Some(&Block::List(col)) {
                stack.push(Block::List(col));
            }
            rest = rest.strip_prefix('-').unwrap_or(rest);
            let after = rest.len() - rest.trim_start().len();
            col += 1 + after;
            rest = rest.trim_start();
        }
        if rest.is_empty() {
            opens = true;
            continue;
        }
        let Some((_, value)) = split_key(rest) else {
            // a plain value, e.g. `- x`: a flow collection or block scalar stops the analysis
            if rest.starts_with(['[', '{', '|', '>']) && !closes(rest) {
                return None;
            }
            opens = false;
            continue;
        };
        if stack.last() != Some(&Block::Map(col)) {
            stack.push(Block::Map(col));
        }
        let value = value.trim();
        let value = if value.starts_with('#') { "" } else { value };
        if value.starts_with(['|', '>']) || (value.starts_with(['[', '{']) && !closes(value)) {
            return None;
        }
        opens = value.is_empty() || value.starts_with('&') && !value.contains(' ');
    }
    None
}

/// `key: value` → `(key, value)`; `None` when the text is not a mapping entry.
fn split_key(s: &str) -> Option<(&str, &str)> {
    if s.starts_with(['"', '\'', '[', '{', '#', '&', '*', '!', '|', '>']) {
        // a quoted key is rare in a spec; treat only plain keys
        return None;
    }
    let i = s
        .find(": ")
        .or_else(|| s.ends_with(':').then(|| s.len() - 1))?;
    let key = &s[..i];
    (!key.contains(" #")).then(|| (key, &s[i + 1..]))
}

/// A flow collection closed on its own line (brackets balance outside quotes).
fn closes(s: &str) -> bool {
    let (mut depth, mut quote) = (0i32, None);
    for c in s.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '#') => break,
            (None, '[' | '{') => depth += 1,
            (None, ']' | '}') => depth -= 1,
            _ => {}
        }
    }
    depth <= 0
}

fn misindented(
    line_no: u32,
    indent: usize,
    content: &str,
    is_item: bool,
    stack: &[Block],
) -> Diagnostic {
    let what = if is_item {
        "this list item".to_owned()
    } else {
        let key = split_key(content).map_or(content, |(k, _)| k);
        let key: String = key.chars().take(60).collect();
        format!("`{key}:`")
    };
    // The blocks it could belong to: mappings for a key, lists (or a key's own column) for an
    // item; the nearest by column, both when two are as near.
    let candidates: Vec<Block> = stack
        .iter()
        .copied()
        .filter(|b| matches!(b, Block::Map(_)) != is_item)
        .collect();
    let dist = |b: &Block| b.col().abs_diff(indent);
    let best = candidates.iter().map(dist).min();
    let mut near: Vec<Block> = candidates
        .into_iter()
        .filter(|b| Some(dist(b)) == best)
        .collect();
    near.dedup_by_key(|b| b.col());
    let spaces = |n: usize| format!("{n} space{}", if n == 1 { "" } else { "s" });
    let describe = |b: &Block| match b {
        Block::Map(c) => format!("the mapping it belongs to has its keys at {}", column(*c)),
        Block::List(c) => format!(
            "the list it belongs to has its `- ` items at {}",
            column(*c)
        ),
    };
    let (message, help) = match near.as_slice() {
        [b] => (
            format!(
                "{what} is indented {} (at {}), but {}",
                spaces(indent),
                column(indent),
                describe(b)
            ),
            format!(
                "indent it to {} ({}), like the lines it belongs with",
                column(b.col()),
                spaces(b.col())
            ),
        ),
        [a, b, ..] => (
            format!(
                "{what} is indented {} (at {}), between two blocks: one at {}, one at {}",
                spaces(indent),
                column(indent),
                column(a.col().min(b.col())),
                column(a.col().max(b.col()))
            ),
            format!(
                "indent it to {} or {}, whichever block it belongs to",
                column(a.col().min(b.col())),
                column(a.col().max(b.col()))
            ),
        ),
        [] => (
            format!(
                "{what} is indented {} (at {}), where nothing above it is",
                spaces(indent),
                column(indent)
            ),
            "line it up with the keys it belongs with".to_owned(),
        ),
    };
    Diagnostic::error(
        Code::E001,
        Loc::new(line_no, u32::try_from(indent + 1).unwrap_or(u32::MAX)),
        message,
    )
    .with_help(help)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_positions_of_keys_and_values() {
        let n = parse("a: 1\nb:\n  - x\n  - {c: true}\n").unwrap();
        let Value::Map(m) = n.value else { panic!() };
        assert_eq!(m[0].0.name, "a");
        assert_eq!(m[0].0.loc, Loc::new(1, 1));
        assert_eq!(m[0].1.loc, Loc::new(1, 4));
        assert_eq!(m[0].1.value, Value::Int(1));
        let Value::Seq(s) = &m[1].1.value else {
            panic!()
        };
        assert_eq!(s[0].loc, Loc::new(3, 5));
        assert_eq!(s[0].value, Value::Str("x".into()));
        let Value::Map(inner) = &s[1].value else {
            panic!()
        };
        assert_eq!(inner[0].1.value, Value::Bool(true));
        assert_eq!(inner[0].0.loc, Loc::new(4, 6));
    }

    #[test]
    fn syntax_errors_are_located() {
        let e = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert_eq!(e.code, Code::E001);
        assert!(e.loc.line >= 1, "{e:?}");
    }

    /// The indentation analysis finds nothing wrong in a valid spec (so it never blames a
    /// line the parser accepted): every spec of the tests, and the starters.
    #[test]
    fn indentation_accepts_every_valid_spec() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut specs = Vec::new();
        for dir in ["tests/cases", "tests/reference-specs"] {
            for e in std::fs::read_dir(root.join(dir)).unwrap() {
                let p = e.unwrap().path().join("spec.yaml");
                if p.is_file() {
                    specs.push(p);
                }
            }
        }
        for e in std::fs::read_dir(root.join("templates/init")).unwrap() {
            specs.push(e.unwrap().path());
        }
        assert!(specs.len() > 20);
        for p in specs {
            let text = std::fs::read_to_string(&p).unwrap();
            assert!(parse(&text).is_ok(), "{}", p.display());
            assert_eq!(indentation(&text, 0), None, "{}", p.display());
        }
    }

    #[test]
    fn indentation_names_the_column_expected() {
        let e = parse("a:\n  b: 1\n   c: 2\n").unwrap_err();
        assert_eq!(e.loc, Loc::new(3, 4));
        assert!(e.message.contains("keys at column 3"), "{e:?}");
        let e = parse("a:\n  - x: 1\n   - y: 2\n").unwrap_err();
        assert!(e.message.contains("items at column 3"), "{e:?}");
        // flow and block scalars stop the analysis: the parser's words stay
        let e = parse("a: {b: 1,\n c: 2\nd: [\n").unwrap_err();
        assert!(e.message.starts_with("invalid YAML"), "{e:?}");
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let e = parse("a: 1\na: 2\n").unwrap_err();
        assert_eq!(e.code, Code::E001);
        assert_eq!(e.loc.line, 2, "{e:?}");
    }
}
