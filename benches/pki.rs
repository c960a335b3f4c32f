//! Issuing a mesh's CA material: a root plus N intermediates per key algorithm, through
//! `meshrender::pki::issue_root` / `issue_intermediate`, and (when the `openssl` CLI is
//! installed) the same work the way Istio's `tools/certs` Makefiles do it: per cluster one
//! key generation, one `openssl req -new` and one `openssl x509 -req` with the extensions file.
//!
//!     cargo bench --bench pki
//!     MESHRENDER_BENCH_QUICK=1 cargo bench --bench pki    # 10 intermediates instead of 100
//!     MESHRENDER_BENCH_RUNS=5 cargo bench --bench pki     # repetitions per measurement (3)
//!
//! Prints median and minimum wall time of each measurement. Without `--bench` (e.g.
//! `cargo test --benches`) it runs once with 2 intermediates as a smoke test.

mod common;

use common::{fmt, measure};

use std::path::{Path, PathBuf};
use std::process::Command;

use meshrender::model::{KeyAlgorithm, PkiSettings, Subject};
use meshrender::pki::{issue_intermediate, issue_root};

fn settings(algorithm: KeyAlgorithm) -> PkiSettings {
    PkiSettings {
        dir: PathBuf::from("pki"),
        dir_display: "pki".to_owned(),
        algorithm,
        root: Subject {
            organization: "Istio".to_owned(),
            common_name: "Root CA".to_owned(),
            validity_days: 3650,
        },
        intermediate: Subject {
            organization: "Istio".to_owned(),
            common_name: "Intermediate CA".to_owned(),
            validity_days: 730,
        },
    }
}

fn meshrender_issue(s: &PkiSettings, n: usize) -> usize {
    let (root_cert, root_key) = issue_root(s).expect("root");
    let mut issued = 0;
    for i in 0..n {
        let (c, k) = issue_intermediate(s, &format!("cluster{i}"), &root_cert, &root_key)
            .expect("intermediate");
        assert!(c.starts_with("-----BEGIN CERTIFICATE-----") && !k.is_empty());
        issued += 1;
    }
    issued
}

fn openssl_ok() -> bool {
    Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn sh(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("runs openssl");
    assert!(
        o.status.success(),
        "openssl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// `openssl` arguments that write a new private key to `out` (tools/certs: `genrsa`; for ECDSA,
/// `ecparam -genkey`).
fn keygen(a: KeyAlgorithm, out: &str) -> Vec<String> {
    let v: Vec<&str> = match a {
        KeyAlgorithm::EcdsaP256 => vec!["ecparam", "-name", "prime256v1", "-genkey", "-noout"],
        KeyAlgorithm::EcdsaP384 => vec!["ecparam", "-name", "secp384r1", "-genkey", "-noout"],
        KeyAlgorithm::Rsa2048 => vec!["genrsa", "2048"],
        KeyAlgorithm::Rsa3072 => vec!["genrsa", "3072"],
        KeyAlgorithm::Rsa4096 => vec!["genrsa", "4096"],
    };
    let mut v: Vec<String> = v.into_iter().map(str::to_owned).collect();
    // genrsa takes the size last.
    let last = if matches!(
        a,
        KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096
    ) {
        v.pop()
    } else {
        None
    };
    v.push("-out".to_owned());
    v.push(out.to_owned());
    v.extend(last);
    v
}

const ROOT_CONF: &str = "[ req ]
encrypt_key = no
prompt = no
utf8 = yes
default_md = sha256
default_bits = 4096
req_extensions = req_ext
x509_extensions = req_ext
distinguished_name = req_dn
[ req_ext ]
subjectKeyIdentifier = hash
basicConstraints = critical, CA:true
keyUsage = critical, digitalSignature, nonRepudiation, keyEncipherment, keyCertSign
[ req_dn ]
O = Istio
CN = Root CA
";

fn intermediate_conf(cluster: &str) -> String {
    format!(
        "[ req ]
encrypt_key = no
prompt = no
utf8 = yes
default_md = sha256
default_bits = 4096
req_extensions = req_ext
x509_extensions = req_ext
distinguished_name = req_dn
[ req_ext ]
subjectKeyIdentifier = hash
basicConstraints = critical, CA:true, pathlen:0
keyUsage = critical, digitalSignature, nonRepudiation, keyEncipherment, keyCertSign
subjectAltName=@san
[ san ]
DNS.1 = istiod.istio-system.svc
[ req_dn ]
O = Istio
CN = Intermediate CA
L = {cluster}
"
    )
}

/// The tools/certs recipe in a fresh temp dir: root, then per cluster key, CSR and signing.
fn openssl_issue(a: KeyAlgorithm, n: usize) -> usize {
    let t = tempfile::tempdir().expect("temp dir");
    let d = t.path();
    std::fs::write(d.join("root-ca.conf"), ROOT_CONF).unwrap();
    let k = keygen(a, "root-key.pem");
    sh(d, &k.iter().map(String::as_str).collect::<Vec<_>>());
    sh(
        d,
        &[
            "req",
            "-sha256",
            "-new",
            "-key",
            "root-key.pem",
            "-config",
            "root-ca.conf",
            "-out",
            "root-cert.csr",
        ],
    );
    sh(
        d,
        &[
            "x509",
            "-req",
            "-sha256",
            "-days",
            "3650",
            "-signkey",
            "root-key.pem",
            "-extensions",
            "req_ext",
            "-extfile",
            "root-ca.conf",
            "-in",
            "root-cert.csr",
            "-out",
            "root-cert.pem",
        ],
    );
    let mut issued = 0;
    for i in 0..n {
        let c = format!("cluster{i}");
        std::fs::create_dir(d.join(&c)).unwrap();
        std::fs::write(d.join(&c).join("intermediate.conf"), intermediate_conf(&c)).unwrap();
        let key = format!("{c}/ca-key.pem");
        let conf = format!("{c}/intermediate.conf");
        let csr = format!("{c}/cluster-ca.csr");
        let cert = format!("{c}/ca-cert.pem");
        let k = keygen(a, &key);
        sh(d, &k.iter().map(String::as_str).collect::<Vec<_>>());
        sh(
            d,
            &["req", "-new", "-config", &conf, "-key", &key, "-out", &csr],
        );
        sh(
            d,
            &[
                "x509",
                "-req",
                "-sha256",
                "-days",
                "730",
                "-CA",
                "root-cert.pem",
                "-CAkey",
                "root-key.pem",
                "-CAcreateserial",
                "-extensions",
                "req_ext",
                "-extfile",
                &conf,
                "-in",
                &csr,
                "-out",
                &cert,
            ],
        );
        issued += 1;
    }
    issued
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let quick = std::env::var_os("MESHRENDER_BENCH_QUICK").is_some_and(|v| v == "1");
    let n = if !bench {
        2
    } else if quick {
        10
    } else {
        100
    };
    let runs = if bench {
        common::env_count("MESHRENDER_BENCH_RUNS", 3)
    } else {
        1
    };
    let openssl = openssl_ok();
    println!(
        "pki: a root + {n} intermediates per algorithm, {runs} run(s) each{}",
        if bench {
            ""
        } else {
            " (smoke run: pass --bench)"
        }
    );
    if !openssl {
        println!("openssl: not installed; only meshrender is measured");
    }
    println!(
        "{:<11} {:>6}  {:>14} {:>14}  {:>14} {:>14}  {:>15}",
        "algorithm",
        "issued",
        "meshrender med",
        "meshrender min",
        "openssl med",
        "openssl min",
        "openssl/meshr."
    );
    for name in meshrender::model::KeyAlgorithm::NAMES {
        let a = KeyAlgorithm::parse(name).expect("known algorithm");
        let s = settings(a);
        let (m_med, m_min, issued) = measure(runs, || meshrender_issue(&s, n));
        let (o_med, o_min, ratio) = if openssl {
            let (med, min, o_issued) = measure(runs, || openssl_issue(a, n));
            assert_eq!(o_issued, issued);
            (
                fmt(med),
                fmt(min),
                format!("{:.1}x", med.as_secs_f64() / m_med.as_secs_f64()),
            )
        } else {
            ("-".to_owned(), "-".to_owned(), "-".to_owned())
        };
        println!(
            "{:<11} {:>6}  {:>14} {:>14}  {:>14} {:>14}  {:>15}",
            name,
            issued,
            fmt(m_med),
            fmt(m_min),
            o_med,
            o_min,
            ratio
        );
    }
    println!(
        "times include the root; openssl runs 3 processes per cluster (key, CSR, sign) as tools/certs does, meshrender issues in memory"
    );
    parallel(runs, n);
}

/// `pki::ensure` (what `render` runs: every missing intermediate issued on all cores, then
/// written) next to the one-core loop of `meshrender_issue`, in the same run.
fn parallel(runs: usize, n: usize) {
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    println!();
    println!(
        "parallel issue: pki::ensure of a root + {n} intermediates into an empty pki.dir ({cores} cores) vs one core"
    );
    println!(
        "{:<11} {:>14} {:>14} {:>8}",
        "algorithm", "ensure med", "1 core med", "speedup"
    );
    let clusters: Vec<String> = (0..n).map(|i| format!("cluster{i}")).collect();
    for name in ["ecdsa-p256", "rsa-2048", "rsa-4096"] {
        let a = KeyAlgorithm::parse(name).expect("known algorithm");
        let (one, _, _) = measure(runs, || meshrender_issue(&settings(a), n));
        let (all, _, _) = measure(runs, || {
            let tmp = tempfile::tempdir().unwrap();
            let mut s = settings(a);
            s.dir = tmp.path().join("pki");
            meshrender::pki::ensure(&s, &clusters, meshrender::pki::Mode::Generate)
                .expect("ensure")
                .clusters
                .len()
        });
        println!(
            "{:<11} {:>14} {:>14} {:>7.2}x",
            name,
            fmt(all),
            fmt(one),
            one.as_secs_f64() / all.as_secs_f64()
        );
    }
}
