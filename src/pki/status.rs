//! `meshrender pki status`: every certificate of `pki.dir` with subject, key type, serial,
//! expiry, days left and fingerprint. Reads only; never generates.

use serde::Serialize;

use super::*;

/// Certificates that expire sooner than this are flagged.
pub const WARN_DAYS: i64 = 30;

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    /// `root`, `next-root` or the cluster name.
    pub owner: String,
    /// Path as shown to the user.
    pub file: String,
    pub present: bool,
    pub subject: Option<String>,
    pub key_type: Option<String>,
    pub serial: Option<String>,
    pub not_after: Option<String>,
    pub days_left: Option<i64>,
    pub fingerprint: Option<String>,
    pub problem: Option<String>,
}

fn row(owner: &str, file: String, text: Option<String>, now: i64) -> Row {
    let mut r = Row {
        owner: owner.to_owned(),
        file,
        present: text.is_some(),
        subject: None,
        key_type: None,
        serial: None,
        not_after: None,
        days_left: None,
        fingerprint: None,
        problem: None,
    };
    let Some(t) = text else { return r };
    match verify::certs_der(&t).first().map(|d| verify::info(d)) {
        Some(Ok(i)) => {
            r.subject = Some(i.subject);
            r.key_type = Some(i.key_type);
            r.serial = Some(i.serial);
            r.not_after = Some(verify::date(i.not_after));
            r.days_left = Some((i.not_after - now).div_euclid(86_400));
            r.fingerprint = Some(i.fingerprint);
        }
        Some(Err(e)) => r.problem = Some(e),
        None => r.problem = Some("no PEM certificate".to_owned()),
    }
    r
}

pub fn collect(s: &PkiSettings, clusters: &[String]) -> Vec<Row> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let read = |rel: &str| read_opt(&s.dir.join(rel)).ok().flatten();
    let mut rows = vec![row("root", display(s, ROOT_CERT), read(ROOT_CERT), now)];
    let next = format!("{}/{ROOT_CERT}", rotate::NEXT_ROOT_DIR);
    if let Some(t) = read(&next) {
        rows.push(row("next-root", display(s, &next), Some(t), now));
    }
    for c in clusters {
        let rel = format!("{c}/{CA_CERT}");
        rows.push(row(c, display(s, &rel), read(&rel), now));
    }
    rows
}

/// A fixed-width text table, one row per certificate.
pub fn table(rows: &[Row]) -> String {
    let head = [
        "OWNER",
        "SUBJECT",
        "KEY",
        "SERIAL",
        "NOT AFTER",
        "DAYS",
        "SHA-256 FINGERPRINT",
    ];
    let cells: Vec<[String; 7]> = rows
        .iter()
        .map(|r| {
            let dash = || "-".to_owned();
            if !r.present {
                return [
                    r.owner.clone(),
                    format!("missing: {}", r.file),
                    dash(),
                    dash(),
                    dash(),
                    dash(),
                    dash(),
                ];
            }
            [
                r.owner.clone(),
                r.subject
                    .clone()
                    .or_else(|| r.problem.clone())
                    .unwrap_or_else(dash),
                r.key_type.clone().unwrap_or_else(dash),
                r.serial.clone().unwrap_or_else(dash),
                r.not_after.clone().unwrap_or_else(dash),
                r.days_left.map_or_else(dash, |d| {
                    if d < WARN_DAYS {
                        format!("{d} !")
                    } else {
                        d.to_string()
                    }
                }),
                r.fingerprint.clone().unwrap_or_else(dash),
            ]
        })
        .collect();
    let mut widths = head.map(str::len);
    for c in &cells {
        for (w, v) in widths.iter_mut().zip(c) {
            *w = (*w).max(v.chars().count());
        }
    }
    let line = |vals: &[String]| {
        let mut s = String::new();
        for (i, (v, w)) in vals.iter().zip(widths).enumerate() {
            if i + 1 == vals.len() {
                s.push_str(v);
            } else {
                s.push_str(&format!("{v:<w$}  "));
            }
        }
        s.trim_end().to_owned() + "\n"
    };
    let mut out = line(&head.map(str::to_owned));
    for c in &cells {
        out.push_str(&line(c));
    }
    out
}
