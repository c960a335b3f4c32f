//! `federation/`: in the replicated-control-planes model (Istio 1.6–1.7), the `*.global`
//! ServiceEntries a cluster consumes, with their recorded addresses, and its CoreDNS stub.

use serde::Serialize;

use super::{Applied, ClusterFiles, Ctx};

#[derive(Serialize)]
struct Port<'a> {
    name: &'a str,
    number: u16,
    protocol: &'a str,
}

#[derive(Serialize)]
struct ServiceEntry<'a> {
    name: String,
    host: String,
    service: String,
    exporter: &'a str,
    version: String,
    ports: Vec<Port<'a>>,
    resolution: &'static str,
    address: String,
    gateway: &'a str,
    gateway_port: u16,
}

#[derive(Serialize)]
struct CoreDnsStub {
    ip: String,
}

pub(super) fn plan(x: &Ctx, out: &mut ClusterFiles) {
    let Some(fed) = &x.mesh.federation else {
        return;
    };
    let c = out.c;
    let mine = x.addresses.get(&c.name);
    let consumed: Vec<_> = fed
        .services
        .iter()
        .filter(|s| s.consumers.contains(&c.name))
        .collect();
    for s in &consumed {
        let gw = x
            .cluster(&s.cluster)
            .and_then(|e| e.east_west.as_ref())
            .expect("validated: exporters are clusters with an address");
        let address = mine
            .and_then(|m| m.get(&s.key()))
            .expect("every consumed service has an address");
        let is_ip = gw.address.parse::<std::net::IpAddr>().is_ok();
        out.add(
            format!("federation/{}-{}.yaml", s.name, s.namespace),
            "serviceentry.yaml.j2",
            Applied::Cluster,
            ServiceEntry {
                name: format!("{}-{}", s.name, s.namespace),
                host: s.global_host(),
                service: s.key(),
                exporter: &s.cluster,
                version: x.mesh.version.to_string(),
                ports: s
                    .ports
                    .iter()
                    .map(|p| Port {
                        name: &p.name,
                        number: p.number,
                        protocol: &p.protocol,
                    })
                    .collect(),
                resolution: if is_ip { "STATIC" } else { "DNS" },
                address: address.to_string(),
                gateway: &gw.address,
                gateway_port: gw.port,
            },
        );
    }
    if let Some(ip) = fed.core_dns.get(&c.name)
        && !consumed.is_empty()
    {
        out.add(
            "federation/coredns-global.server",
            "coredns-global.server.j2",
            Applied::No,
            CoreDnsStub { ip: ip.to_string() },
        );
    }
}
