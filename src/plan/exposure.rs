//! `expose-services.yaml` and `expose-istiod.yaml`: Istio's samples that open the east-west
//! gateway to cross-network traffic and to remotes' control-plane traffic.

use serde::Serialize;

use super::names::istiod_service;
use super::{Applied, ClusterFiles, Ctx};

#[derive(Serialize)]
struct ExposeServices {
    api: &'static str,
}

#[derive(Serialize)]
struct Route {
    port: u16,
    target: u16,
}

#[derive(Serialize)]
struct ExposeIstiod<'a> {
    api: &'static str,
    revision: &'a Option<String>,
    vs_name: String,
    webhook_port_name: &'static str,
    sni_hosts: Vec<String>,
    istiod_host: String,
    routes: [Route; 2],
}

pub(super) fn plan(x: &Ctx, out: &mut ClusterFiles) {
    let mesh = x.mesh;
    // Ambient clusters meet through HBONE east-west gateways: no `cross-network-gateway`,
    // and istiod is not exposed (no remotes) (ISTIO-FACTS §9.3).
    if mesh.dataplane == crate::model::Dataplane::Ambient {
        return;
    }
    let api = mesh.version.networking_api_version();
    if out.f.expose_services {
        out.add(
            "expose-services.yaml",
            "expose-services.yaml.j2",
            Applied::Cluster,
            ExposeServices { api },
        );
    }
    if !out.f.expose_istiod {
        return;
    }
    let svc = istiod_service(mesh);
    // Both samples name the webhook port `tls-istiodwebhook` (expose-istiod-rev.yaml.tmpl
    // since 1.11, the first release with a revisioned template; ISTIO-FACTS §9.2).
    let (vs_name, webhook_port_name, sni_hosts) = match &mesh.revision {
        Some(r) => (
            format!("istiod-vs-{r}"),
            "tls-istiodwebhook",
            vec![
                format!("{svc}.istio-system.svc"),
                format!("{svc}.istio-system.svc.cluster.local"),
            ],
        ),
        None => (
            "istiod-vs".to_owned(),
            "tls-istiodwebhook",
            vec!["*".to_owned()],
        ),
    };
    out.add(
        "expose-istiod.yaml",
        "expose-istiod.yaml.j2",
        Applied::Cluster,
        ExposeIstiod {
            api,
            revision: &mesh.revision,
            vs_name,
            webhook_port_name,
            sni_hosts,
            istiod_host: format!("{svc}.istio-system.svc.cluster.local"),
            routes: [
                Route {
                    port: 15012,
                    target: 15012,
                },
                Route {
                    port: 15017,
                    target: 443,
                },
            ],
        },
    );
}
