//! Replicated control planes (Istio 1.6–1.7) through the binary: `*.global` addresses stay
//! put when services are added or removed, and pool exhaustion is a clear error.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_meshrender");

fn spec(services: &[&str], pool: &str) -> String {
    let mut s = format!(
        "apiVersion: meshrender/v1alpha1\nkind: Mesh\nmeshID: mesh1\nistio: {{version: \"1.7\"}}\nsecrets: {{mode: plaintext}}\n\
clusters:\n  - {{name: c1, network: n1, eastWestGateway: {{address: 192.0.2.1}}}}\n  - {{name: c2, network: n2, eastWestGateway: {{address: 192.0.2.2}}}}\n  - {{name: c3, network: n3, eastWestGateway: {{address: 192.0.2.3}}}}\n\
federation:\n  addressPool: {pool}\n  coreDNS: {{c1: {{istiocorednsClusterIP: 10.0.0.10}}, c2: {{istiocorednsClusterIP: 10.0.0.10}}, c3: {{istiocorednsClusterIP: 10.0.0.10}}}}\n  services:\n"
    );
    for name in services {
        s.push_str(&format!(
            "    - {{name: {name}, namespace: apps, cluster: c1, ports: [{{name: http, number: 80, protocol: http}}], consumers: [c2, c3]}}\n"
        ));
    }
    s
}

fn render(dir: &Path) -> std::process::Output {
    Command::new(BIN)
        .args(["render", "mesh.yaml", "-o", "out"])
        .current_dir(dir)
        .output()
        .unwrap()
}

/// consumer → host → address, read back from the rendered ServiceEntries.
fn addresses(out: &Path) -> BTreeMap<(String, String), String> {
    let mut m = BTreeMap::new();
    for c in ["c2", "c3"] {
        let dir = out.join("clusters").join(c).join("federation");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "yaml") {
                let doc: serde_json::Value =
                    serde_saphyr::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
                let host = doc["spec"]["hosts"][0].as_str().unwrap().to_owned();
                let addr = doc["spec"]["addresses"][0].as_str().unwrap().to_owned();
                assert_eq!(doc["spec"]["resolution"], "STATIC");
                assert_eq!(doc["spec"]["endpoints"][0]["ports"]["http"], 15443);
                m.insert((c.to_owned(), host), addr);
            }
        }
    }
    m
}

#[test]
fn addresses_are_stable_unique_and_inside_the_pool() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let names: Vec<String> = (0..12).map(|i| format!("svc-{i}")).collect();
    let all: Vec<&str> = names.iter().map(String::as_str).collect();
    // A /27 pool (30 usable) makes collisions and probing likely.
    std::fs::write(d.join("mesh.yaml"), spec(&all, "240.0.0.0/27")).unwrap();
    let o = render(d);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let first = addresses(&d.join("out"));
    assert_eq!(first.len(), 24);
    for c in ["c2", "c3"] {
        let mut mine: Vec<&String> = first
            .iter()
            .filter(|((cc, _), _)| cc == c)
            .map(|(_, a)| a)
            .collect();
        let n = mine.len();
        mine.sort();
        mine.dedup();
        assert_eq!(mine.len(), n, "unique within {c}");
    }
    for a in first.values() {
        let ip: std::net::Ipv4Addr = a.parse().unwrap();
        let o = ip.octets();
        assert!(
            o[0] == 240 && o[1] == 0 && o[2] == 0 && o[3] > 0 && o[3] < 31,
            "{a} outside 240.0.0.0/27 or at its edges"
        );
    }

    // Remove one service, add two: every other address stays.
    let mut changed: Vec<&str> = all.clone();
    changed.remove(5);
    changed.push("late-1");
    changed.push("late-2");
    std::fs::write(d.join("mesh.yaml"), spec(&changed, "240.0.0.0/27")).unwrap();
    let o = render(d);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let second = addresses(&d.join("out"));
    for ((c, host), a) in &first {
        if host == "svc-5.apps.global" {
            assert!(
                !second.contains_key(&(c.clone(), host.clone())),
                "removed service is gone"
            );
        } else {
            assert_eq!(
                second.get(&(c.clone(), host.clone())),
                Some(a),
                "{host} in {c} moved"
            );
        }
    }
    assert!(second.contains_key(&("c2".to_owned(), "late-2.apps.global".to_owned())));

    // Rendering again changes nothing.
    let o = Command::new(BIN)
        .args(["check", "mesh.yaml", "-o", "out"])
        .current_dir(d)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}

#[test]
fn a_pool_too_small_is_an_error() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    std::fs::write(d.join("mesh.yaml"), spec(&["a", "b", "c"], "240.0.0.0/30")).unwrap();
    let o = render(d);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("error[E024]: the address pool has 2 usable addresses, but cluster `c2` consumes 3 services"), "{err}");
    assert!(!d.join("out").exists());
}
