//! The SOPS data key of a mesh (`secrets.mode: sops`) and its age stanzas, kept in `pki.dir`:
//! `sops-data-key.pem` (the 32-byte AES key, mode 0600, ignored by the `.gitignore` of
//! `pki.dir` like every `*-key.pem`) and `sops-recipients.json` (public: for each age
//! recipient the data key encrypted to it, as sops writes it into `sops.age[].enc`, and the
//! SHA-256 of the data key it belongs to).
//!
//! The key is made once and reused, so an unchanged Secret seals to the same bytes. Age
//! encryption is randomized, so the stanzas are made once per recipient and kept too. A new
//! recipient gets a stanza (needs the data key); a removed recipient means a new data key (it
//! knew the old one), so every sealed file is encrypted anew.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Mode, PkiError, layout::display};
use crate::model::PkiSettings;

pub const DATA_KEY: &str = "sops-data-key.pem";
pub const RECIPIENTS: &str = "sops-recipients.json";
const LABEL: &str = "SOPS DATA KEY";

/// What sealing needs. Without `data_key` (CI: public files only) nothing can be sealed;
/// files sealed before are compared by fingerprint.
pub struct SopsKeys {
    pub data_key: Option<[u8; 32]>,
    /// (recipient, armored data key), in the spec's order.
    pub age: Vec<(String, String)>,
    /// Files written into `pki.dir`, relative to it.
    pub created: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    data_key_sha256: String,
    recipients: Vec<Stanza>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Stanza {
    recipient: String,
    enc: String,
}

fn err(m: String) -> PkiError {
    PkiError { messages: vec![m] }
}

fn load_key(path: &Path, shown: &str) -> Result<Option<[u8; 32]>, PkiError> {
    let Some(bytes) =
        crate::fsutil::read_opt(path).map_err(|e| err(format!("{shown}: cannot read: {e}")))?
    else {
        return Ok(None);
    };
    let bad = || {
        err(format!(
            "{shown}: not a meshrender SOPS data key (expected a `{LABEL}` PEM block of 32 bytes)"
        ))
    };
    let p = pem::parse(&bytes).map_err(|_| bad())?;
    if p.tag() != LABEL {
        return Err(bad());
    }
    let key: [u8; 32] = p.contents().try_into().map_err(|_| bad())?;
    Ok(Some(key))
}

/// The age stanza of `data_key` for `recipient`.
fn stanza(recipient: &str, data_key: &[u8; 32]) -> Result<String, PkiError> {
    use std::io::Write as _;
    let r: age::x25519::Recipient = recipient
        .parse()
        .map_err(|e| err(format!("age recipient `{recipient}`: {e}")))?;
    let enc = age::Encryptor::with_recipients(std::iter::once(&r as &dyn age::Recipient))
        .map_err(|e| err(format!("age: {e}")))?;
    let mut out = Vec::new();
    let armor = age::armor::ArmoredWriter::wrap_output(&mut out, age::armor::Format::AsciiArmor)
        .map_err(|e| err(format!("age: {e}")))?;
    let mut w = enc
        .wrap_output(armor)
        .map_err(|e| err(format!("age: {e}")))?;
    w.write_all(data_key)
        .map_err(|e| err(format!("age: {e}")))?;
    w.finish()
        .and_then(|a| a.finish())
        .map_err(|e| err(format!("age: {e}")))?;
    String::from_utf8(out).map_err(|e| err(format!("age: {e}")))
}

/// Loads the data key and stanzas for `recipients`; in [`Mode::Generate`] makes what is
/// missing (a first data key, stanzas of new recipients, a new key when one was removed).
pub fn ensure(s: &PkiSettings, recipients: &[String], mode: Mode) -> Result<SopsKeys, PkiError> {
    let key_path = s.dir.join(DATA_KEY);
    let rec_path = s.dir.join(RECIPIENTS);
    let (key_shown, rec_shown) = (display(s, DATA_KEY), display(s, RECIPIENTS));
    let mut key = load_key(&key_path, &key_shown)?;
    let record: Option<Record> = match crate::fsutil::read_opt(&rec_path) {
        Ok(None) => None,
        Ok(Some(b)) => Some(serde_json::from_slice(&b).map_err(|e| {
            err(format!(
                "{rec_shown}: not a meshrender SOPS recipient record: {e}"
            ))
        })?),
        Err(e) => return Err(err(format!("{rec_shown}: cannot read: {e}"))),
    };
    if let (Some(k), Some(r)) = (&key, &record)
        && crate::digest::sha256_hex(k) != r.data_key_sha256
    {
        return Err(err(format!(
            "{key_shown} is not the data key {rec_shown} was made for: restore the right key, or remove both to start a new data key (every sealed Secret is then encrypted anew)"
        )));
    }
    let mut record = record.unwrap_or_default();
    let removed = record
        .recipients
        .iter()
        .any(|st| !recipients.contains(&st.recipient));
    let mut created = Vec::new();
    let mut changed = false;
    if mode == Mode::Generate && (key.is_none() && record.recipients.is_empty() || removed) {
        // first use, or a recipient left (it knows the old key): a new data key
        let mut k = [0u8; 32];
        getrandom::getrandom(&mut k).map_err(|e| err(format!("random source: {e}")))?;
        let text = pem::encode(&pem::Pem::new(LABEL, k.to_vec()));
        super::write_file(&key_path, &text, 0o600)?;
        created.push(DATA_KEY.to_owned());
        key = Some(k);
        record = Record {
            data_key_sha256: crate::digest::sha256_hex(&k),
            recipients: Vec::new(),
        };
        changed = true;
    }
    let mut age = Vec::new();
    for r in recipients {
        if let Some(st) = record.recipients.iter().find(|st| &st.recipient == r) {
            age.push((r.clone(), st.enc.clone()));
            continue;
        }
        match (&key, mode) {
            (Some(k), Mode::Generate) => {
                let enc = stanza(r, k)?;
                record.recipients.push(Stanza {
                    recipient: r.clone(),
                    enc: enc.clone(),
                });
                age.push((r.clone(), enc));
                changed = true;
            }
            // check/diff: the stanza a render would add (the files then differ anyway)
            (_, _) => age.push((r.clone(), String::new())),
        }
    }
    if changed {
        record
            .recipients
            .sort_by_key(|st| recipients.iter().position(|r| r == &st.recipient));
        let mut text = serde_json::to_string_pretty(&record).expect("record serializes");
        text.push('\n');
        super::write_file(&rec_path, &text, 0o644)?;
        created.push(RECIPIENTS.to_owned());
    }
    Ok(SopsKeys {
        data_key: key,
        age,
        created,
    })
}
