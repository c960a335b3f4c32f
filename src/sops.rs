//! SOPS's file format (DESIGN §9.3): a rendered Secret in, the same Secret sealed out, as
//! `sops --encrypt --encrypted-regex '^(data|stringData)$' --age …` writes it: every value
//! under `data`/`stringData` becomes `ENC[AES256_GCM,data:…,iv:…,tag:…,type:str]`, and a
//! `sops` block carries the age recipients (each with the data key encrypted to it), the
//! `lastmodified` time and the MAC, so `sops -d` and Flux's kustomize-controller decrypt it.
//!
//! The format, as getsops/sops implements it (aes/cipher.go, sops.go): AES-256-GCM with a
//! 32-byte nonce; the additional data of a value is its key path joined by `:` plus a final
//! `:` (`data:ca-key.pem:`); the MAC is the upper-case hex SHA-512 of every leaf value in
//! document order (encrypted or not; `mac_only_encrypted` unset), encrypted like a value with
//! `lastmodified` as additional data.
//!
//! Determinism: sops draws a random IV per value, but reuses the IV of an unchanged value when
//! it re-encrypts a file. meshrender goes one step further with a synthetic IV,
//! HMAC-SHA256(iv key, file path, value path, plaintext): the same plaintext at the same
//! place gives the same ciphertext, so a re-render of unchanged secrets is byte-identical
//! without reading anything back. An IV repeats only with its plaintext, where GCM's
//! nonce-reuse failure cannot happen (it needs two different messages under one nonce); what
//! an observer learns is that a value did not change, which the unchanged file says anyway.

use aes_gcm::AesGcm;
use aes_gcm::aead::consts::U32;
use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::aes::Aes256;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha512};

use crate::spec::parse::{self, Value};
use crate::yaml::yaml_scalar;

/// The sops format version written into the metadata (the release whose code this follows).
pub const FORMAT_VERSION: &str = "3.10.2";
/// Which keys hold secret values: those of a Kubernetes Secret (Flux's documented setting).
pub const ENCRYPTED_REGEX: &str = "^(data|stringData)$";

type Gcm32 = AesGcm<Aes256, U32>;

/// What seals a file: the mesh's data key and its age stanzas (recipient, armored data key).
pub struct Sealer<'a> {
    pub data_key: &'a [u8; 32],
    pub age: &'a [(String, String)],
}

/// What the ownership manifest records of a sealed file (no secret: an HMAC under the data
/// key, the public fingerprint, the time written into the file).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SealRecord {
    /// SHA-256 of the Secret with its secret values replaced by placeholders, and of the
    /// recipients: what CI, without keys, can recompute and compare.
    pub fingerprint: String,
    /// HMAC-SHA256 of the whole plaintext under the data key: unchanged ⇒ same `lastmodified`.
    pub plaintext: String,
    /// The `sops.lastmodified` of the file.
    pub lastmodified: String,
}

fn hmac_hex(key: &[u8], parts: &[&[u8]]) -> String {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    for p in parts {
        m.update(&(p.len() as u64).to_be_bytes());
        m.update(p);
    }
    hex(&m.finalize().into_bytes())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The keyed digest of a plaintext file, recorded in the manifest.
pub fn plaintext_tag(data_key: &[u8; 32], file: &str, text: &str) -> String {
    hmac_hex(
        data_key,
        &[
            b"meshrender sops plaintext",
            file.as_bytes(),
            text.as_bytes(),
        ],
    )
}

/// The public fingerprint of a sealed file: its redacted plaintext and the recipients.
pub fn fingerprint(redacted: &str, recipients: &[String]) -> String {
    let mut h = Sha256::new();
    h.update(redacted.as_bytes());
    for r in recipients {
        h.update(b"\0recipient\0");
        h.update(r.as_bytes());
    }
    hex(&h.finalize())
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// `ENC[AES256_GCM,…]` of `plain` at additional data `aad`, with the synthetic IV.
fn encrypt(key: &[u8; 32], file: &str, aad: &str, plain: &[u8], kind: &str) -> String {
    let iv_key = hmac_raw(key, &[b"meshrender sops iv key"]);
    let iv = hmac_raw(
        &iv_key,
        &[file.as_bytes(), aad.as_bytes(), kind.as_bytes(), plain],
    );
    let cipher = Gcm32::new(GenericArray::from_slice(key));
    let mut buf = plain.to_vec();
    let tag = cipher
        .encrypt_in_place_detached(GenericArray::from_slice(&iv), aad.as_bytes(), &mut buf)
        .expect("AES-GCM encrypts any message below 64 GiB");
    format!(
        "ENC[AES256_GCM,data:{},iv:{},tag:{},type:{kind}]",
        b64(&buf),
        b64(&iv),
        b64(&tag)
    )
}

fn hmac_raw(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    for p in parts {
        m.update(&(p.len() as u64).to_be_bytes());
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

/// Seals the rendered Secret `text` (one YAML document: leading `#` comments, then a
/// mapping) of output file `file`. Errors are template bugs, never user errors.
pub fn seal(text: &str, file: &str, s: &Sealer, lastmodified: &str) -> Result<String, String> {
    let comments: String = text
        .lines()
        .take_while(|l| l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    let node = parse::parse(text).map_err(|d| format!("not YAML: {}", d.message))?;
    let Value::Map(entries) = node.value else {
        return Err("a sealed file holds one mapping".to_owned());
    };
    if entries.iter().any(|(k, _)| k.name == "sops") {
        return Err("the document already has a `sops` key".to_owned());
    }
    let mut w = Walk {
        key: s.data_key,
        file,
        mac: Sha512::new(),
        out: String::new(),
    };
    w.map(&entries, &mut Vec::new(), 0, false)?;
    let mac = hex(&w.mac.finalize()).to_uppercase();
    let mac = encrypt(s.data_key, file, lastmodified, mac.as_bytes(), "str");
    let mut out = comments;
    out.push_str(&w.out);
    out.push_str("sops:\n  age:\n");
    for (recipient, enc) in s.age {
        out.push_str(&format!(
            "    - recipient: {}\n      enc: |\n",
            yaml_scalar(recipient)
        ));
        for l in enc.lines() {
            out.push_str(&format!("        {l}\n"));
        }
    }
    out.push_str(&format!(
        "  encrypted_regex: {}\n",
        yaml_scalar(ENCRYPTED_REGEX)
    ));
    out.push_str(&format!(
        "  lastmodified: {}\n",
        crate::yaml::double_quoted(lastmodified)
    ));
    out.push_str(&format!("  mac: {mac}\n"));
    out.push_str(&format!("  version: {FORMAT_VERSION}\n"));
    Ok(out)
}

struct Walk<'a> {
    key: &'a [u8; 32],
    file: &'a str,
    mac: Sha512,
    out: String,
}

impl Walk<'_> {
    fn map(
        &mut self,
        entries: &[(parse::Key, parse::Node)],
        path: &mut Vec<String>,
        indent: usize,
        secret: bool,
    ) -> Result<(), String> {
        for (k, v) in entries {
            let pad = " ".repeat(indent);
            self.out
                .push_str(&format!("{pad}{}:", yaml_scalar(&k.name)));
            path.push(k.name.clone());
            // `encrypted_regex` matches any component of the path
            let secret = secret || k.name == "data" || k.name == "stringData";
            match &v.value {
                Value::Map(m) if m.is_empty() => self.out.push_str(" {}\n"),
                Value::Map(m) => {
                    self.out.push('\n');
                    self.map(m, path, indent + 2, secret)?;
                }
                Value::Seq(_) => return Err(format!("a list at {}", path.join("."))),
                leaf => {
                    let s = self.leaf(leaf, path, secret)?;
                    self.out.push_str(&format!(" {s}\n"));
                }
            }
            path.pop();
        }
        Ok(())
    }

    fn leaf(&mut self, v: &Value, path: &[String], secret: bool) -> Result<String, String> {
        let (bytes, kind, plain) = match v {
            Value::Null => return Ok("null".to_owned()),
            Value::Str(s) => (s.clone(), "str", yaml_scalar(s)),
            Value::Int(i) => (i.to_string(), "int", i.to_string()),
            Value::Bool(b) => (
                if *b { "True" } else { "False" }.to_owned(),
                "bool",
                b.to_string(),
            ),
            Value::Float(_) | Value::Seq(_) | Value::Map(_) => {
                return Err(format!("an unsupported value at {}", path.join(".")));
            }
        };
        self.mac.update(bytes.as_bytes());
        if !secret {
            return Ok(plain);
        }
        if bytes.is_empty() {
            // sops leaves an empty string as it is
            return Ok("\"\"".to_owned());
        }
        let aad = format!("{}:", path.join(":"));
        Ok(encrypt(self.key, self.file, &aad, bytes.as_bytes(), kind))
    }
}

/// The `lastmodified` of a file sealed now: RFC 3339 UTC seconds, from `SOURCE_DATE_EPOCH`
/// when set (reproducible builds, the golden tests), else the clock.
pub fn now() -> String {
    let secs = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .unwrap_or_else(|| time::OffsetDateTime::now_utc().unix_timestamp());
    let t =
        time::OffsetDateTime::from_unix_timestamp(secs).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes_gcm::aead::Aead;

    fn open(enc: &str, key: &[u8; 32], aad: &str) -> String {
        let inner = enc
            .strip_prefix("ENC[AES256_GCM,")
            .unwrap()
            .strip_suffix(']')
            .unwrap();
        let field = |name: &str| {
            inner
                .split(',')
                .find_map(|p| p.strip_prefix(&format!("{name}:")))
                .unwrap()
                .to_owned()
        };
        let d = |s: String| base64::engine::general_purpose::STANDARD.decode(s).unwrap();
        let (mut data, iv, tag) = (d(field("data")), d(field("iv")), d(field("tag")));
        data.extend(tag);
        let c = Gcm32::new(GenericArray::from_slice(key));
        let p = c
            .decrypt(
                GenericArray::from_slice(&iv),
                aes_gcm::aead::Payload {
                    msg: &data,
                    aad: aad.as_bytes(),
                },
            )
            .unwrap();
        String::from_utf8(p).unwrap()
    }

    #[test]
    fn seals_values_under_data_and_mac_over_all() {
        let key = [7u8; 32];
        let age = vec![(
            "age1x".to_owned(),
            "-----BEGIN AGE ENCRYPTED FILE-----\nabc\n-----END AGE ENCRYPTED FILE-----\n"
                .to_owned(),
        )];
        let s = Sealer {
            data_key: &key,
            age: &age,
        };
        let text = "# header\napiVersion: v1\nkind: Secret\nmetadata:\n  name: cacerts\ndata:\n  ca-key.pem: c2VjcmV0\n";
        let a = seal(text, "clusters/c1/cacerts.yaml", &s, "2026-01-01T00:00:00Z").unwrap();
        let b = seal(text, "clusters/c1/cacerts.yaml", &s, "2026-01-01T00:00:00Z").unwrap();
        assert_eq!(a, b, "deterministic");
        assert!(
            a.starts_with("# header\napiVersion: v1\nkind: Secret\n"),
            "{a}"
        );
        assert!(!a.contains("c2VjcmV0"), "{a}");
        let enc = a
            .lines()
            .find_map(|l| l.strip_prefix("  ca-key.pem: "))
            .unwrap();
        assert_eq!(open(enc, &key, "data:ca-key.pem:"), "c2VjcmV0");
        let mac = a.lines().find_map(|l| l.strip_prefix("  mac: ")).unwrap();
        let want = hex(&Sha512::digest(b"v1Secretcacertsc2VjcmV0")).to_uppercase();
        assert_eq!(open(mac, &key, "2026-01-01T00:00:00Z"), want);
        // another file: another IV for the same value
        let c = seal(text, "clusters/c2/cacerts.yaml", &s, "2026-01-01T00:00:00Z").unwrap();
        assert_ne!(a, c);
    }
}
