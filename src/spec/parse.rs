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
            Err(Diagnostic::error(
                Code::E001,
                loc,
                format!("invalid YAML: {msg}"),
            ))
        }
    }
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

    #[test]
    fn duplicate_keys_are_errors() {
        let e = parse("a: 1\na: 2\n").unwrap_err();
        assert_eq!(e.code, Code::E001);
        assert_eq!(e.loc.line, 2, "{e:?}");
    }
}
