//! Addresses of `*.global` names in the replicated-control-planes model (Istio 1.6–1.7).
//!
//! Every consumer cluster gives each service it consumes a unique address from
//! `federation.addressPool`. Allocations are recorded in `pki.dir/federation-addresses.json`
//! and kept for as long as the service is consumed, so adding or removing one service never
//! changes another's address. A new service starts at an address derived from a hash of its
//! `<name>.<namespace>` (so it usually gets the same address in every consumer) and probes
//! forward past used ones. Multicast (224.0.0.0/4), loopback (127.0.0.0/8), 0.0.0.0/8,
//! the broadcast address and the pool's first and last address are never handed out.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use sha2::{Digest, Sha256};

use crate::addresses::{is_usable, range};
#[cfg(test)]
use crate::addresses::{parse_pool, usable_addresses};
use crate::model::{Federation, Mesh};
use crate::pki::Mode;
use crate::pki::layout::{FEDERATION_ADDRESSES as STATE_FILE, display};

/// A problem with the recorded addresses or the pool. Printed as `error: <message>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederationError(pub String);

impl std::fmt::Display for FederationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FederationError {}

/// consumer cluster → `<name>.<namespace>` → address
pub type Allocations = BTreeMap<String, BTreeMap<String, Ipv4Addr>>;

fn start_for(pool: (Ipv4Addr, u8), key: &str) -> u64 {
    let (lo, hi) = range(pool);
    let h = Sha256::digest(key.as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&h[..8]);
    lo + u64::from_be_bytes(b) % (hi - lo + 1)
}

/// Allocations for `fed`, keeping every recorded one that is still valid.
pub fn allocate(fed: &Federation, recorded: &Allocations) -> Result<Allocations, String> {
    let (lo, hi) = range(fed.pool);
    let mut out = Allocations::new();
    let mut consumers: Vec<&String> = fed.services.iter().flat_map(|s| &s.consumers).collect();
    consumers.sort();
    consumers.dedup();
    for c in consumers {
        let mut wanted: Vec<String> = fed
            .services
            .iter()
            .filter(|s| s.consumers.contains(c))
            .map(|s| s.key())
            .collect();
        wanted.sort();
        let mut mine: BTreeMap<String, Ipv4Addr> = BTreeMap::new();
        let mut used = std::collections::BTreeSet::new();
        if let Some(prev) = recorded.get(c) {
            for k in &wanted {
                if let Some(a) = prev.get(k)
                    && is_usable(fed.pool, u64::from(u32::from(*a)))
                    && used.insert(*a)
                {
                    mine.insert(k.clone(), *a);
                }
            }
        }
        for k in &wanted {
            if mine.contains_key(k) {
                continue;
            }
            let mut a = start_for(fed.pool, k);
            let mut tries = 0u64;
            loop {
                let ip = Ipv4Addr::from(a as u32);
                if is_usable(fed.pool, a) && !used.contains(&ip) {
                    used.insert(ip);
                    mine.insert(k.clone(), ip);
                    break;
                }
                a = if a >= hi { lo } else { a + 1 };
                tries += 1;
                if tries > hi - lo + 1 {
                    return Err(format!(
                        "federation.addressPool is exhausted for cluster `{c}` ({} services)",
                        wanted.len()
                    ));
                }
            }
        }
        out.insert(c.clone(), mine);
    }
    Ok(out)
}

/// Loads recorded allocations, allocates, and (in [`Mode::Generate`]) records the result.
pub fn ensure(mesh: &Mesh, mode: Mode) -> Result<Allocations, FederationError> {
    let Some(fed) = &mesh.federation else {
        return Ok(Allocations::new());
    };
    let path = mesh.pki.dir.join(STATE_FILE);
    let shown = display(&mesh.pki, STATE_FILE);
    let not_a_record = |e: &dyn std::fmt::Display| {
        FederationError(format!("{shown}: not a meshrender address record: {e}"))
    };
    let recorded: Allocations = match crate::fsutil::read_opt(&path) {
        Ok(None) => Allocations::new(),
        Ok(Some(b)) => serde_json::from_slice(&b).map_err(|e| not_a_record(&e))?,
        Err(e) => return Err(FederationError(format!("{shown}: cannot read: {e}"))),
    };
    let out = allocate(fed, &recorded).map_err(FederationError)?;
    if mode == Mode::Generate && out != recorded {
        let mut text = serde_json::to_string_pretty(&out).expect("allocations serialize");
        text.push('\n');
        crate::fsutil::write_atomic(&path, text.as_bytes(), 0o644)
            .map_err(|e| FederationError(format!("{shown}: cannot write: {e}")))?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{FederatedService, ServicePort};

    fn svc(name: &str, consumers: &[&str]) -> FederatedService {
        FederatedService {
            name: name.into(),
            namespace: "ns".into(),
            cluster: "x".into(),
            ports: vec![ServicePort {
                name: "http".into(),
                number: 80,
                protocol: "http".into(),
            }],
            consumers: consumers.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn fed(pool: &str, services: Vec<FederatedService>) -> Federation {
        Federation {
            pool: parse_pool(pool).unwrap(),
            services,
            core_dns: BTreeMap::new(),
        }
    }

    #[test]
    fn pools_are_checked() {
        assert!(parse_pool("240.0.0.0/4").is_ok());
        assert!(parse_pool("240.0.0.1/4").unwrap_err().contains("host bits"));
        assert!(parse_pool("224.0.0.0/4").is_err(), "multicast only");
        assert!(parse_pool("127.0.0.0/8").is_err(), "loopback only");
        assert!(parse_pool("10.0.0.0/33").is_err());
        assert_eq!(usable_addresses(parse_pool("240.0.0.0/30").unwrap()), 2);
        assert_eq!(
            usable_addresses(parse_pool("240.0.0.0/4").unwrap()),
            (1 << 28) - 2
        );
        assert_eq!(usable_addresses(parse_pool("192.0.2.7/32").unwrap()), 1);
    }

    #[test]
    fn adding_or_removing_a_service_keeps_every_other_address() {
        let names: Vec<String> = (0..40).map(|i| format!("svc-{i}")).collect();
        let all: Vec<FederatedService> = names.iter().map(|n| svc(n, &["c1", "c2"])).collect();
        // A tiny pool forces collisions and probing.
        let first = allocate(&fed("240.0.0.0/26", all.clone()), &Allocations::new()).unwrap();
        for i in 0..all.len() {
            let mut fewer = all.clone();
            fewer.remove(i);
            let after = allocate(&fed("240.0.0.0/26", fewer), &first).unwrap();
            for (c, m) in &after {
                for (k, a) in m {
                    assert_eq!(first[c][k], *a, "removing svc-{i} moved {k} in {c}");
                }
            }
            let mut more = all.clone();
            more.push(svc(&format!("new-{i}"), &["c1"]));
            let after = allocate(&fed("240.0.0.0/26", more), &first).unwrap();
            for (k, a) in &first["c1"] {
                assert_eq!(after["c1"][k], *a);
            }
        }
        for m in first.values() {
            let mut addrs: Vec<_> = m.values().collect();
            addrs.sort();
            addrs.dedup();
            assert_eq!(addrs.len(), m.len(), "unique per consumer");
            for a in m.values() {
                assert!(is_usable(
                    parse_pool("240.0.0.0/26").unwrap(),
                    u64::from(u32::from(*a))
                ));
            }
        }
    }

    #[test]
    fn exhaustion_is_an_error() {
        let s: Vec<FederatedService> = (0..3).map(|i| svc(&format!("s{i}"), &["c"])).collect();
        let e = allocate(&fed("240.0.0.0/30", s), &Allocations::new()).unwrap_err();
        assert!(e.contains("exhausted"), "{e}");
    }
}
