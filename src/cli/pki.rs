//! `meshrender pki`: status of the CA material, intermediate rotation, root rotation steps.

use std::path::Path;

use serde_json::json;

use super::{Error, ExitCode, Format, PkiCommand, Result, events, spec_name, warn};
use crate::pki::{self, PkiError, rotate::RootStep};
use crate::{Failure, clusters_needing_ca, load_mesh, model};

pub(super) fn run(c: PkiCommand) -> Result<ExitCode> {
    match c {
        PkiCommand::Status {
            spec,
            format,
            fail_within,
        } => status(&spec, format, fail_within),
        PkiCommand::RotateIntermediate { spec, cluster } => rotate(&spec, |m, cs| {
            if !cs.contains(&cluster) {
                return Err(pki::err(format!(
                    "--cluster {cluster}: not a cluster with its own intermediate (clusters with cacerts: {})",
                    cs.join(", ")
                )));
            }
            pki::rotate::rotate_intermediate(&m.pki, cs, &cluster)
        }),
        PkiCommand::RotateRoot { spec, step } => {
            let step = RootStep::from_number(step).expect("clap accepts only 1, 2 and 3");
            rotate(&spec, |m, cs| {
                if !m.version.supports_multi_root() {
                    return Err(pki::err(format!(
                        "root rotation needs Istio 1.10 or newer: Istio {} has no ISTIO_MULTIROOT_MESH / PROXY_CONFIG_XDS_AGENT, so proxies would not trust both roots during the switch; upgrade Istio first, or replace the root with a planned full restart of the mesh",
                        m.version
                    )));
                }
                pki::rotate::rotate_root(&m.pki, cs, step)
            })
        }
    }
}

fn rotate(
    spec: &Path,
    f: impl FnOnce(&model::Mesh, &[String]) -> std::result::Result<Vec<String>, PkiError>,
) -> Result<ExitCode> {
    let (mesh, warnings) = load_mesh(spec, &spec_name(spec))?;
    warn(&warnings);
    if let model::CaBackend::CertManager { kind, name } = &mesh.ca_backend {
        return Err(Error::Message(format!(
            "pki.backend is cert-manager: meshrender holds no CA to rotate; rotate the root behind {kind}/{name} with cert-manager (every cluster's cacerts Certificate is re-issued by it)"
        )));
    }
    let lines = f(&mesh, &clusters_needing_ca(&mesh)).map_err(Failure::Pki)?;
    for l in lines {
        eprintln!("pki: {l}");
    }
    Ok(ExitCode::Ok)
}

fn status(spec: &Path, format: Format, fail_within: Option<u32>) -> Result<ExitCode> {
    let (mesh, warnings) = load_mesh(spec, &spec_name(spec))?;
    warn(&warnings);
    if let model::CaBackend::CertManager { kind, name } = &mesh.ca_backend {
        let clusters = clusters_needing_ca(&mesh);
        match format {
            Format::Json => {
                events::emit(
                    "backend",
                    json!({"backend": "cert-manager", "issuer": {"kind": kind, "name": name}, "clusters": clusters}),
                );
                events::summary(
                    "ok",
                    json!({"certificates": 0, "problems": 0, "expiring": 0}),
                );
            }
            Format::Text => println!(
                "pki.backend: cert-manager ({kind}/{name}): no local CA material; cert-manager issues and renews cacerts in each of {}. See `kubectl --context <cluster> -n istio-system get certificate cacerts`; the issuer's root is outside meshrender.",
                clusters.join(", ")
            ),
        }
        return Ok(ExitCode::Ok);
    }
    let rows = pki::status::collect(&mesh.pki, &clusters_needing_ca(&mesh));
    match format {
        Format::Json => rows.iter().for_each(events::certificate),
        Format::Text => print!("{}", pki::status::table(&rows)),
    }
    let (mut problems, mut expiring) = (0, 0);
    for r in &rows {
        if let Some(days) = r.days_left
            && days < pki::status::WARN_DAYS
        {
            eprintln!(
                "warning: {} expires in {days} days ({})",
                r.file,
                r.not_after.as_deref().unwrap_or("?")
            );
        }
        if !r.present || r.problem.is_some() {
            eprintln!(
                "problem: {}: {}",
                r.file,
                r.problem.as_deref().unwrap_or("missing")
            );
            problems += 1;
        }
        if let (Some(limit), Some(days)) = (fail_within, r.days_left)
            && days < i64::from(limit)
        {
            eprintln!("expiring: {} within {limit} days ({days} left)", r.file);
            expiring += 1;
        }
    }
    let failing = problems + expiring > 0;
    if format == Format::Json {
        events::summary(
            if failing { "problem" } else { "ok" },
            json!({"certificates": rows.len(), "problems": problems, "expiring": expiring}),
        );
    }
    Ok(if failing {
        ExitCode::Drift
    } else {
        ExitCode::Ok
    })
}
