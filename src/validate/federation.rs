//! `federation` (Istio 1.6–1.7): the `*.global` services each cluster exports and consumes,
//! their ports, the address pool, and each cluster's istiocoredns ClusterIP.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use super::clusters::ClusterIn;
use super::formats::is_dns1123_label;
use super::require;
use crate::diag::{Code, Diagnostic, Diagnostics, Loc};
use crate::model::{FederatedService, Federation, ServicePort};
use crate::spec::decode::did_you_mean;
use crate::spec::{self, Field, Sp, Spec};

/// What the federation rules check against: the sound clusters, and whether every rule
/// passed so far.
struct Check<'a> {
    clusters: &'a [ClusterIn],
    known: Vec<&'a str>,
    ok: bool,
}

impl Check<'_> {
    /// `v` names a cluster of this mesh (E023 with a hint otherwise).
    fn cluster_ref(&mut self, v: &Sp<String>, what: &str, d: &mut Diagnostics) -> bool {
        if self.known.contains(&v.value.as_str()) {
            return true;
        }
        let mut diag = Diagnostic::error(
            Code::E023,
            v.loc,
            format!("{what} `{}` is not a cluster of this mesh", v.value),
        );
        if let Some(h) = did_you_mean(&v.value, &self.known) {
            diag = diag.with_help(format!("did you mean `{h}`?"));
        }
        d.push(diag);
        self.ok = false;
        false
    }
}

/// `federation`: services exported by one cluster and consumed by others under
/// `<name>.<namespace>.global`.
pub(super) fn settings(
    spec: &Spec,
    clusters: &[ClusterIn],
    d: &mut Diagnostics,
) -> Option<Federation> {
    let f = spec.federation.value()?;
    let mut x = Check {
        clusters,
        known: clusters.iter().map(|c| c.name.value.as_str()).collect(),
        ok: true,
    };
    let pool = pool(&f.value.address_pool, d);
    let mut services = Vec::new();
    let mut seen: BTreeMap<String, Loc> = BTreeMap::new();
    for (i, s) in f.value.services.iter().enumerate() {
        let path = format!("federation.services[{i}]");
        if let Some(svc) = service(&mut x, s, &path, &mut seen, d) {
            services.push(svc);
        }
    }
    let core_dns = core_dns(&mut x, &f.value.core_dns, d);
    let pool = pool?;
    let pool_loc = f.value.address_pool.value().map_or(f.loc, |p| p.loc);
    consumers_fit(&mut x, pool, &services, &core_dns, (pool_loc, f.loc), d);
    x.ok.then_some(Federation {
        pool,
        services,
        core_dns,
    })
}

/// `federation.addressPool`, by default 240.0.0.0/4 (class E, never routed).
fn pool(p: &Field<String>, d: &mut Diagnostics) -> Option<(Ipv4Addr, u8)> {
    let Some(p) = p.value() else {
        return Some((Ipv4Addr::new(240, 0, 0, 0), 4));
    };
    match crate::addresses::parse_pool(&p.value) {
        Ok(pool) => Some(pool),
        Err(why) => {
            d.error_help(
                Code::E024,
                p.loc,
                format!("`federation.addressPool` `{}`: {why}", p.value),
                "use an IPv4 CIDR that is never routed, e.g. the default 240.0.0.0/4 (class E)",
            );
            None
        }
    }
}

/// One exported service: its name, namespace, exporter (which needs an address), ports and
/// consumers.
fn service(
    x: &mut Check,
    s: &Sp<spec::FederatedService>,
    path: &str,
    seen: &mut BTreeMap<String, Loc>,
    d: &mut Diagnostics,
) -> Option<FederatedService> {
    let name = require(&s.value.name, s.loc, &format!("{path}.name"), d);
    let ns = require(&s.value.namespace, s.loc, &format!("{path}.namespace"), d);
    let cluster = require(&s.value.cluster, s.loc, &format!("{path}.cluster"), d);
    for v in [name, ns].into_iter().flatten() {
        if !is_dns1123_label(&v.value) {
            d.error(
                Code::E013,
                v.loc,
                format!("`{}` is not a DNS-1123 label", v.value),
            );
            x.ok = false;
        }
    }
    if let (Some(n), Some(nsv)) = (name, ns) {
        let key = format!("{}.{}", n.value, nsv.value);
        if let Some(first) = seen.get(&key) {
            d.error_help(
                Code::E023,
                n.loc,
                format!("service `{key}` is exported twice"),
                format!("first defined at line {}, column {}", first.line, first.col),
            );
            x.ok = false;
        } else {
            seen.insert(key, n.loc);
        }
    }
    let exporter_ok = cluster.is_some_and(|c| x.cluster_ref(c, "exporting cluster", d));
    if let Some(c) = cluster
        && exporter_ok
    {
        exporter(x, c, s.value.name.value().map_or("?", |n| n.as_str()), d);
    }
    let ports = ports(x, &s.value.ports, s.loc, path, d);
    let consumers = consumers(x, &s.value.consumers, s.loc, cluster, path, d);
    let (n, nsv, c) = (name?, ns?, cluster.filter(|_| exporter_ok)?);
    Some(FederatedService {
        name: n.value.clone(),
        namespace: nsv.value.clone(),
        cluster: c.value.clone(),
        ports,
        consumers,
    })
}

/// The exporting cluster is called on its gateway address (and node port, for NodePort).
fn exporter(x: &mut Check, c: &Sp<String>, service: &str, d: &mut Diagnostics) {
    let Some(cin) = x.clusters.iter().find(|k| k.name.value == c.value) else {
        return;
    };
    if !cin.ew.address_written {
        d.error_help(
            Code::E018,
            c.loc,
            format!("cluster `{}` exports `{service}` but has no `eastWestGateway.address`", c.value),
            "set the external address of its ingress gateway, which other clusters call on port 15443",
        );
        x.ok = false;
    } else if cin.ew.node_port && cin.ew.port.is_none() {
        d.error_help(
            Code::E004,
            c.loc,
            format!("cluster `{}` has a NodePort gateway: `eastWestGateway.port` must give the node port of its port 15443", c.value),
            "e.g. `kubectl -n istio-system get svc istio-ingressgateway -o jsonpath='{.spec.ports[?(@.port==15443)].nodePort}'`",
        );
        x.ok = false;
    }
}

fn ports(
    x: &mut Check,
    field: &Field<Vec<Sp<spec::ServicePort>>>,
    loc: Loc,
    path: &str,
    d: &mut Diagnostics,
) -> Vec<ServicePort> {
    let list = items(field, loc, &format!("{path}.ports"), d);
    if list.is_empty() {
        x.ok = false;
    }
    let mut out = Vec::new();
    for (j, p) in list.iter().enumerate() {
        let pp = format!("{path}.ports[{j}]");
        let name = require(&p.value.name, p.loc, &format!("{pp}.name"), d);
        let number = require(&p.value.number, p.loc, &format!("{pp}.number"), d);
        let number = number.and_then(|n| match u16::try_from(n.value) {
            Ok(x) if x > 0 => Some(x),
            _ => {
                d.error(
                    Code::E030,
                    n.loc,
                    format!("`{pp}.number` {} is not a port number", n.value),
                );
                None
            }
        });
        match (name, number) {
            (Some(pn), Some(num)) => out.push(ServicePort {
                name: pn.value.clone(),
                number: num,
                protocol: p
                    .value
                    .protocol
                    .value()
                    .map_or("TCP".to_owned(), |x| x.value.clone()),
            }),
            _ => x.ok = false,
        }
    }
    out
}

fn consumers(
    x: &mut Check,
    field: &Field<Vec<Sp<String>>>,
    loc: Loc,
    exporter: Option<&Sp<String>>,
    path: &str,
    d: &mut Diagnostics,
) -> Vec<String> {
    let list = items(field, loc, &format!("{path}.consumers"), d);
    if list.is_empty() && !field.is_written() {
        x.ok = false;
    }
    let mut out = Vec::new();
    for c in list {
        if !x.cluster_ref(c, "consumer", d) {
            continue;
        }
        if exporter.is_some_and(|e| e.value == c.value) {
            d.error_help(
                Code::E023,
                c.loc,
                format!("`{}` consumes its own service", c.value),
                "a cluster calls its own services by their .svc.cluster.local names; list only other clusters",
            );
            x.ok = false;
        } else if !out.contains(&c.value) {
            out.push(c.value.clone());
        }
    }
    out
}

/// `federation.coreDNS.<cluster>.istiocorednsClusterIP`.
fn core_dns(
    x: &mut Check,
    entries: &[(Sp<String>, Field<String>)],
    d: &mut Diagnostics,
) -> BTreeMap<String, Ipv4Addr> {
    let mut out = BTreeMap::new();
    for (c, ip) in entries {
        if !x.cluster_ref(c, "`federation.coreDNS` names cluster", d) {
            continue;
        }
        let Some(ip) = ip.value() else {
            if !ip.is_written() {
                d.error(
                    Code::E004,
                    c.loc,
                    format!(
                        "missing required field `federation.coreDNS.{}.istiocorednsClusterIP`",
                        c.value
                    ),
                );
            }
            x.ok = false;
            continue;
        };
        match ip.value.parse::<Ipv4Addr>() {
            Ok(a) => {
                out.insert(c.value.clone(), a);
            }
            Err(_) => {
                d.error(
                    Code::E030,
                    ip.loc,
                    format!("`{}` is not an IPv4 ClusterIP", ip.value),
                );
                x.ok = false;
            }
        }
    }
    out
}

/// Every consumer needs one address per consumed service (E024), and a CoreDNS stub needs
/// the consumer's istiocoredns ClusterIP (W001 without it). `locs`: the pool, `federation`.
fn consumers_fit(
    x: &mut Check,
    pool: (Ipv4Addr, u8),
    services: &[FederatedService],
    core_dns: &BTreeMap<String, Ipv4Addr>,
    locs: (Loc, Loc),
    d: &mut Diagnostics,
) {
    let usable = crate::addresses::usable_addresses(pool);
    for c in x.clusters {
        let name = &c.name.value;
        let n = services
            .iter()
            .filter(|s| s.consumers.contains(name))
            .count() as u64;
        if n > usable {
            d.error_help(
                Code::E024,
                locs.0,
                format!("the address pool has {usable} usable addresses, but cluster `{name}` consumes {n} services"),
                "use a larger pool (the default 240.0.0.0/4 has about 268 million)",
            );
            x.ok = false;
        }
        if n > 0 && !core_dns.contains_key(name) {
            d.warning_help(
                Code::W001,
                locs.1,
                format!("no `federation.coreDNS.{name}.istiocorednsClusterIP`: the CoreDNS stub of `{name}` is not rendered"),
                format!("after installing Istio on {name}, add its istiocoredns ClusterIP (`kubectl --context {name} -n istio-system get svc istiocoredns -o jsonpath='{{.spec.clusterIP}}'`)"),
            );
        }
    }
}

/// The items of a required list; a list never written is reported (an empty or invalid one
/// is the caller's to judge).
fn items<'a, T>(field: &'a Field<Vec<T>>, loc: Loc, what: &str, d: &mut Diagnostics) -> &'a [T] {
    if !field.is_written() {
        d.error(Code::E004, loc, format!("missing required field `{what}`"));
    }
    field.value().map_or(&[][..], |l| &l.value)
}
