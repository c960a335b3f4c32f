//! The federation address pool (Istio 1.6–1.7): CIDR parsing and which addresses may be
//! handed out. A leaf module, shared by validation (pool size, E024) and allocation.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

/// `a.b.c.d/n` → (network address, n). The host bits must be zero.
pub(crate) fn parse_pool(s: &str) -> Result<(Ipv4Addr, u8), String> {
    let (ip, len) = s.split_once('/').ok_or("not a CIDR (expected a.b.c.d/n)")?;
    let ip: Ipv4Addr = ip
        .parse()
        .map_err(|_| format!("`{ip}` is not an IPv4 address"))?;
    let len: u8 = len
        .parse()
        .ok()
        .filter(|l| *l <= 32)
        .ok_or_else(|| format!("`/{len}` is not a prefix length from 0 to 32"))?;
    let net = Ipv4Net::new(ip, len).expect("the prefix length is at most 32");
    if net.network() != ip {
        return Err(format!("host bits are set; the network is {}", net.trunc()));
    }
    if usable_addresses((ip, len)) == 0 {
        return Err(
            "it holds no usable address (multicast, loopback and 0.0.0.0/8 are excluded)"
                .to_owned(),
        );
    }
    Ok((ip, len))
}

pub(crate) fn range(pool: (Ipv4Addr, u8)) -> (u64, u64) {
    let net = Ipv4Net::new(pool.0, pool.1).expect("validated pool");
    (
        u64::from(u32::from(net.network())),
        u64::from(u32::from(net.broadcast())),
    )
}

/// Address ranges that are never handed out, whatever the pool.
const EXCLUDED: [(u32, u32); 4] = [
    (0x0000_0000, 0x00ff_ffff), // 0.0.0.0/8
    (0x7f00_0000, 0x7fff_ffff), // 127.0.0.0/8 loopback
    (0xe000_0000, 0xefff_ffff), // 224.0.0.0/4 multicast
    (0xffff_ffff, 0xffff_ffff), // broadcast
];

pub(crate) fn is_usable(pool: (Ipv4Addr, u8), a: u64) -> bool {
    let (lo, hi) = range(pool);
    let edges = hi > lo + 1 && (a == lo || a == hi);
    a >= lo
        && a <= hi
        && !edges
        && !EXCLUDED
            .iter()
            .any(|(x, y)| a >= u64::from(*x) && a <= u64::from(*y))
}

/// How many addresses of the pool can be handed out.
pub(crate) fn usable_addresses(pool: (Ipv4Addr, u8)) -> u64 {
    let (lo, hi) = range(pool);
    let mut n = hi - lo + 1;
    if hi > lo + 1 {
        n -= [lo, hi]
            .iter()
            .filter(|a| {
                !EXCLUDED
                    .iter()
                    .any(|(x, y)| **a >= u64::from(*x) && **a <= u64::from(*y))
            })
            .count() as u64;
    }
    for (x, y) in EXCLUDED {
        let (x, y) = (u64::from(x).max(lo), u64::from(y).min(hi));
        if x <= y {
            n -= y - x + 1;
        }
    }
    n
}
