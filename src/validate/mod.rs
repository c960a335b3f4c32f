//! Spec → resolved [`Mesh`], or every problem at once (DESIGN.md §1 "Validation").
//!
//! Rules run in a fixed order and never stop early: each one adds diagnostics and moves on,
//! so one run reports everything (diagnostics are sorted by position when printed). One file
//! per concern: value formats, the spec's top, clusters, the topology between them, files the
//! spec names, secrets, pki, gitops, federation. [`validate`] assembles the [`Mesh`].

mod clusters;
mod federation;
mod formats;
mod gitops;
mod header;
mod inputs;
mod iop_fields;
mod overrides;
mod pki;
mod reads;
mod secrets;
mod topology;

use std::path::{Path, PathBuf};

use crate::diag::{Code, Diagnostics, Loc};
use crate::model::{Cluster, EastWestGateway, Mesh, Topology};
use crate::spec::{self, Field, Sp, Spec};

/// The value of a required field. A field the spec wrote with a wrong type was reported by
/// decoding already, so only a field that is absent (or written without a value) is reported.
pub(crate) fn require<'a, T>(
    v: &'a Field<T>,
    parent: Loc,
    what: &str,
    d: &mut Diagnostics,
) -> Option<&'a Sp<T>> {
    match v {
        Field::Absent => d.error(
            Code::E004,
            parent,
            format!("missing required field `{what}`"),
        ),
        Field::Null => d.error(
            Code::E004,
            parent,
            format!("required field `{what}` has no value"),
        ),
        Field::Invalid | Field::Value(_) => {}
    }
    v.value()
}

/// Validates a decoded spec. `base` is the spec file's directory. Returns the mesh when there
/// is no error; the diagnostics may hold warnings either way.
pub(crate) fn validate(spec: &Spec, base: &Path) -> (Option<Mesh>, Diagnostics) {
    let mut d = Diagnostics::default();
    let head = header::check(spec, &mut d);
    let pki = pki::settings(&spec.pki, base, &mut d);
    let ca_backend = pki::backend(&spec.pki, head.version, &mut d);
    let (mut clusters, clusters_ok) = clusters::check(spec, &mut d);
    let replicated_era = head
        .version
        .is_some_and(|v| v.is_replicated_control_plane_era());
    reads::check(spec, replicated_era, &mut clusters, &mut d);
    if let Some(v) = head.version {
        topology::version_rules(spec, v, &mut d);
    }
    let topo = head.version.filter(|_| !clusters.is_empty()).map(|v| {
        Topology::derive(
            v,
            clusters
                .iter()
                .map(|c| (&c.name.value, &c.network, &c.role, c.reads.as_deref())),
        )
    });
    if let Some(topo) = &topo
        && !replicated_era
    {
        topology::check(topo, &clusters, &mut d);
        if let Some(v) = head.version {
            topology::remote_pilot_addresses(topo, v, &clusters, &mut d);
        }
    }
    if head.dataplane == crate::model::Dataplane::Ambient {
        topology::ambient(
            spec,
            head.version,
            head.dataplane_loc.unwrap_or(Loc::FILE),
            &clusters,
            &mut d,
        );
    }
    let mut api_servers = inputs::api_servers(spec, base, head.version, &mut d);
    let secrets = secrets::mode(spec, head.mesh_id.as_deref().unwrap_or(""), &mut d);
    if let Some(topo) = &topo {
        secrets::check(spec, topo, &clusters, secrets.as_ref(), &mut d);
    }
    let verification = spec
        .verification
        .value()
        .and_then(|v| v.value.enabled.value())
        .is_some_and(|e| e.value);
    let gitops = gitops::settings(
        spec,
        head.version,
        (head.charts.version.as_deref(), head.chart_version_written),
        &mut d,
    );
    if let (Some(crate::model::SecretsMode::Sops { .. }), Some(g)) = (&secrets, &gitops)
        && g.argocd.is_some()
    {
        d.warning_help(
            Code::W005,
            spec.gitops.value().map_or(Loc::new(1, 1), |g| g.loc),
            "`secrets.mode: sops` with `gitops.argocd`: Argo CD applies the sealed Secrets as they are unless a SOPS plugin (KSOPS, argocd-vault-plugin) decrypts them",
            "install a SOPS plugin in Argo CD, or use Flux (its Kustomizations decrypt with the age key in Secret `sops-age`), or `mode: external-secrets`",
        );
    }
    let mut overrides = overrides::check(spec, head.version, head.dataplane, topo.as_ref(), &mut d);
    let federation = if replicated_era {
        federation::settings(spec, &clusters, &mut d)
    } else {
        None
    };

    if d.has_errors() || !clusters_ok {
        return (None, d);
    }
    let (Some(mesh_id), Some(version), Some(pki), Some(secrets)) =
        (head.mesh_id, head.version, pki, secrets)
    else {
        return (None, d);
    };
    let clusters = clusters
        .into_iter()
        .map(|c| Cluster {
            api_server: api_servers.remove(&c.index),
            east_west: c.ew.address.map(|address| EastWestGateway {
                address,
                node_port: c.ew.node_port,
                port: c.ew.port.unwrap_or(15443),
            }),
            name: c.name.value,
            network: c.network,
            role: c.role,
            reads: c.reads,
            overrides: if c.index < overrides.len() {
                std::mem::take(&mut overrides[c.index])
            } else {
                Default::default()
            },
        })
        .collect();
    let mesh = Mesh {
        mesh_id,
        version,
        revision: head.revision,
        hub: head.hub,
        tag: head.tag,
        charts: head.charts,
        dataplane: head.dataplane,
        sail: head.sail.is_some(),
        trust_domain: head.trust_domain,
        ca_backend,
        pki,
        secrets,
        clusters,
        verification,
        gitops,
        federation,
    };
    (Some(mesh), d)
}

/// Convenience for tests and the CLI: text → mesh, with the spec's directory as base.
pub fn load_and_validate(text: &str, base: &Path) -> (Option<Mesh>, Diagnostics) {
    let (spec, mut diags) = spec::load(text);
    let Some(spec) = spec else {
        return (None, diags);
    };
    let (mesh, more) = validate(&spec, base);
    diags.items.extend(more.items);
    if diags.has_errors() {
        return (None, diags);
    }
    (mesh, diags)
}

/// The directory relative paths in a spec are resolved against.
pub(crate) fn spec_base(spec_path: &Path) -> PathBuf {
    match spec_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        // The working directory: an empty base keeps joined paths free of a `./` prefix.
        _ => PathBuf::new(),
    }
}
