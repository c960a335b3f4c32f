//! Istio versions and every version gate meshrender knows, in one place.
//!
//! A gate is a named method on [`Version`] that says which shape the target Istio version
//! expects. Templates and the planner ask these methods; nothing else compares versions.
//! Sources: shared/ISTIO-FACTS.md §1, §3, §4.7, §6 and shared/ISTIOOPERATOR-FIELDS.md.

use std::fmt;

/// What the Sail Operator release meshrender knows says of a chart version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SailRelease {
    /// Listed and installable.
    Ships,
    /// Listed, but `eol: true`: a valid `spec.version`, no longer installable.
    Eol,
    /// A newer patch of a supported minor than the list knows: needs a newer operator.
    Newer,
    /// Not a version the Sail Operator ever shipped.
    Never,
}

/// An Istio minor version, `1.<minor>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub minor: u32,
}

/// The oldest version the spec format accepts (replicated control planes).
pub const OLDEST: Version = Version { minor: 6 };
/// The oldest version meshrender renders.
pub const OLDEST_RENDERED: Version = Version { minor: 6 };
/// The newest version meshrender renders for.
pub const NEWEST: Version = Version { minor: 31 };

/// Which shape `gen-eastwest-gateway.sh` printed for the target version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EastWestShape {
    /// 1.8–1.10: `revision`, `tls*` port names; still ROUTER_MODE, meshID, clusterName.
    /// 1.8 is the 1.8.6 shape: the script of 1.8.2–1.8.6 already prints the 1.9 shape, and a
    /// revisioned 1.8 install needs `spec.revision` (ISTIO-FACTS §9.1 #4; the 1.8.0 script's
    /// `mtls`/`tcp-istiod` shape without a revision is not rendered).
    V1_9,
    /// 1.11: as 1.9 plus `injectionTemplate: gateway`.
    V1_11,
    /// 1.12 onwards: network only.
    Current,
}

/// How a remote cluster (role: remote) is installed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemoteModel {
    /// Before 1.15: the remote runs its own istiod (CA and injection) and points its proxies at
    /// the primary through `remotePilotAddress`; install values carry meshID/clusterName/network.
    OwnIstiod,
    /// 1.15 onwards: istiod-less remote (`profile: external` in 1.15, `profile: remote` from
    /// 1.16), `istiodRemote.injectionPath`, config from the primary (ISTIO-FACTS §9.2).
    RemoteProfile,
}

/// Where the primary's "I serve remote clusters" switch goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExternalIstiodSetting {
    /// Not used: remotes run their own istiod (before 1.15).
    None,
    /// `values.pilot.env.EXTERNAL_ISTIOD: true` only (1.15–1.23): the istiod chart reads
    /// `global.externalIstiod` only from 1.24, ignores it on 1.23.0, and fails to render with
    /// both set there (ISTIO-FACTS §9.1 #1).
    PilotEnv,
    /// `values.global.externalIstiod: true` (1.24 onwards).
    GlobalValue,
}

impl Version {
    pub fn parse(text: &str) -> Option<Version> {
        let (major, minor) = text.split_once('.')?;
        if major != "1" || minor.is_empty() || !minor.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if minor.len() > 1 && minor.starts_with('0') {
            return None;
        }
        Some(Version {
            minor: minor.parse().ok()?,
        })
    }

    pub const fn at_least(self, minor: u32) -> bool {
        self.minor >= minor
    }

    pub fn is_supported(self) -> bool {
        self >= OLDEST && self <= NEWEST
    }

    /// 1.6–1.7: only the replicated-control-planes model (`federation`) exists.
    pub fn is_replicated_control_plane_era(self) -> bool {
        !self.at_least(8)
    }

    /// The API version of Istio's samples: `networking.istio.io/v1alpha3` until 1.23, `v1`
    /// from 1.24 (served from 1.22, but the samples switched in 1.24; ISTIO-FACTS §9.2).
    pub fn networking_api_version(self) -> &'static str {
        if self.at_least(24) {
            "networking.istio.io/v1"
        } else {
            "networking.istio.io/v1alpha3"
        }
    }

    pub fn eastwest_shape(self) -> EastWestShape {
        match self.minor {
            0..=10 => EastWestShape::V1_9,
            11 => EastWestShape::V1_11,
            _ => EastWestShape::Current,
        }
    }

    pub fn remote_model(self) -> RemoteModel {
        if self.at_least(15) {
            RemoteModel::RemoteProfile
        } else {
            RemoteModel::OwnIstiod
        }
    }

    /// The IstioOperator `profile` a remote cluster uses, as the install guide of the release
    /// writes it (ISTIO-FACTS §9.2): `remote` in 1.8–1.9; none in 1.10–1.14 (`remote` was a
    /// deprecated alias of `default`); `external` in 1.15 (no `remote` profile exists there);
    /// the real `remote` profile from 1.16.
    pub fn remote_profile(self) -> Option<&'static str> {
        match self.minor {
            0..=9 => Some("remote"),
            10..=14 => None,
            15 => Some("external"),
            _ => Some("remote"),
        }
    }

    pub fn external_istiod_setting(self) -> ExternalIstiodSetting {
        match self.remote_model() {
            RemoteModel::OwnIstiod => ExternalIstiodSetting::None,
            RemoteModel::RemoteProfile if self.at_least(24) => ExternalIstiodSetting::GlobalValue,
            RemoteModel::RemoteProfile => ExternalIstiodSetting::PilotEnv,
        }
    }

    /// The `topology.istio.io/controlPlaneClusters` namespace annotation (1.15 onwards, with
    /// the istiod-less remote).
    pub fn has_control_plane_clusters_annotation(self) -> bool {
        self.at_least(15)
    }

    /// Remote clusters run an istiod, and so need `cacerts`, before 1.15.
    pub fn remotes_run_istiod(self) -> bool {
        self.remote_model() == RemoteModel::OwnIstiod
    }

    /// Helm values for the `base`, `istiod` and `gateway` charts: 1.24 onwards, when the remote
    /// profile reached the Helm charts and the istiod chart's values were flattened.
    pub fn has_helm_values(self) -> bool {
        self.at_least(24)
    }

    /// Ambient multicluster (multi-network multi-primary): alpha in 1.27–1.28, beta from 1.29
    /// (ISTIO-FACTS §9.3); `gen-eastwest-gateway.sh --ambient` exists from 1.27.0.
    pub fn supports_ambient_multicluster(self) -> bool {
        self.at_least(27)
    }

    /// The Gateway API version of the ambient east-west Gateway: `v1beta1` in 1.27–1.28,
    /// `v1` from 1.29, as `gen-eastwest-gateway.sh --ambient` prints it.
    pub fn ambient_gateway_api_version(self) -> &'static str {
        if self.at_least(29) {
            "gateway.networking.k8s.io/v1"
        } else {
            "gateway.networking.k8s.io/v1beta1"
        }
    }

    /// istiod's `AMBIENT_ENABLE_BAGGAGE` for multi-network ambient, from 1.29.
    pub fn ambient_needs_baggage_env(self) -> bool {
        self.at_least(29)
    }

    /// Whether the Sail Operator ships the chart version `chart` of this minor, by the version
    /// list of the operator release meshrender knows (sail-operator `versions.yaml` and the
    /// `spec.version` enum of its CRDs, 2026-08; ISTIO-FACTS §9.4).
    pub fn sail_release(self, chart: &str) -> SailRelease {
        // (minor, first patch, last patch, eol)
        const SHIPPED: &[(u32, u32, u32, bool)] = &[
            (21, 6, 6, true),
            (22, 5, 8, true),
            (23, 2, 6, true),
            (24, 0, 6, true),
            (25, 1, 5, true),
            (26, 0, 8, true),
            (27, 0, 9, true),
            (28, 0, 10, true),
            (29, 0, 6, false),
            (30, 0, 3, false),
        ];
        let Some(rest) = chart.strip_prefix(&format!("{self}.")) else {
            return SailRelease::Never;
        };
        if self.minor == 31 {
            return match rest {
                "0-beta.1" => SailRelease::Ships,
                r if r.chars().all(|c| c.is_ascii_digit()) => SailRelease::Newer,
                _ => SailRelease::Never,
            };
        }
        let Ok(patch) = rest.parse::<u32>() else {
            return SailRelease::Never;
        };
        match SHIPPED.iter().find(|(m, ..)| *m == self.minor) {
            Some(&(_, first, last, eol)) if (first..=last).contains(&patch) => {
                if eol {
                    SailRelease::Eol
                } else {
                    SailRelease::Ships
                }
            }
            Some(&(_, first, last, false)) if patch > last && patch >= first => SailRelease::Newer,
            _ if self.minor > 31 => SailRelease::Newer,
            _ => SailRelease::Never,
        }
    }

    /// Whether the `gateway` chart of this release has the broken `values.schema.json`
    /// (top-level `additionalProperties: false` beside `$ref`), which Helm ≥ 3.18.5 and Helm 4
    /// reject for any values: 1.24.0–1.24.6, 1.25.0–1.25.4, 1.26.0–1.26.3, 1.27.0 (ISTIO-FACTS
    /// §9.1 #7; fixed in 1.25.5, 1.26.4, 1.27.1, 1.28.0). Without a known patch release
    /// (`chart_version` None) every 1.24–1.27 chart counts as broken: skipping a schema check
    /// is harmless, failing an install is not.
    pub fn gateway_chart_schema_broken(self, chart_version: Option<&str>) -> bool {
        let last_broken = match self.minor {
            24 => 6,
            25 => 4,
            26 => 3,
            27 => 0,
            _ => return false,
        };
        let patch = chart_version
            .and_then(|c| c.strip_prefix(&format!("{self}.")))
            .and_then(|p| {
                let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
                digits.parse::<u32>().ok()
            });
        patch.is_none_or(|p| p <= last_broken)
    }

    /// `istioctl create-remote-secret --tls-server-name` (a `tls-server-name` in the
    /// kubeconfig's cluster) exists from 1.26.
    pub fn has_remote_secret_tls_server_name(self) -> bool {
        self.at_least(26)
    }

    /// istioctl ≤1.27 printed `creationTimestamp: null` and `preferences: {}` in remote secrets.
    pub fn remote_secret_has_legacy_fields(self) -> bool {
        !self.at_least(28)
    }

    /// Where the helloworld sample images come from: Docker Hub for every version. The 1.30
    /// samples name `registry.istio.io`, which is retired in December 2026 (ISTIO-FACTS §9.1 #6,
    /// §9.2); the tag `1.0` is the one the 1.22+ samples use.
    pub fn helloworld_image(self, version: &str) -> String {
        if self.at_least(22) {
            format!("docker.io/istio/examples-helloworld-{version}:1.0")
        } else {
            format!("docker.io/istio/examples-helloworld-{version}")
        }
    }

    /// A hostname as the east-west address of a primary whose remotes run their own istiod
    /// (1.8–1.14) breaks the remotes: the base chart writes it into `Endpoints istiod-remote`
    /// as an IP, which the API server rejects (ISTIO-FACTS §9.1 #5).
    pub fn remote_pilot_address_must_be_ip(self) -> bool {
        self.remote_model() == RemoteModel::OwnIstiod
    }

    /// ISTIO_MULTIROOT_MESH / PROXY_CONFIG_XDS_AGENT exist from 1.10 only: root rotation
    /// needs them (ISTIO-FACTS §9.2).
    pub fn supports_multi_root(self) -> bool {
        self.at_least(10)
    }

    /// The verification client: `curl` sample from 1.24, `sleep` before.
    pub fn verify_client(self) -> &'static str {
        if self.at_least(24) { "curl" } else { "sleep" }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "1.{}", self.minor)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sail_releases() {
        use super::SailRelease::*;
        let v = |m| super::Version { minor: m };
        for (minor, chart, want) in [
            (30, "1.30.3", Ships),
            (30, "1.30.4", Newer),
            (29, "1.29.0", Ships),
            (28, "1.28.10", Eol),
            (28, "1.28.11", Never),
            (25, "1.25.0", Never),
            (23, "1.23.1", Never),
            (21, "1.21.6", Eol),
            (20, "1.20.8", Never),
            (31, "1.31.0-beta.1", Ships),
            (31, "1.31.0-rc.0", Never),
            (31, "1.31.1", Newer),
        ] {
            assert_eq!(v(minor).sail_release(chart), want, "{chart}");
        }
    }

    #[test]
    fn gateway_chart_schema_broken_ranges() {
        let v = |m| super::Version { minor: m };
        for (minor, patch, broken) in [
            (24, "1.24.0", true),
            (24, "1.24.6", true),
            (24, "1.24.7", false),
            (25, "1.25.4", true),
            (25, "1.25.5", false),
            (26, "1.26.3", true),
            (26, "1.26.4", false),
            (27, "1.27.0", true),
            (27, "1.27.1", false),
            (28, "1.28.0", false),
            (23, "1.23.6", false),
        ] {
            assert_eq!(
                v(minor).gateway_chart_schema_broken(Some(patch)),
                broken,
                "{patch}"
            );
        }
        assert!(v(26).gateway_chart_schema_broken(None));
        assert!(!v(28).gateway_chart_schema_broken(None));
        assert!(v(24).gateway_chart_schema_broken(Some("1.24.2-distroless")));
    }

    use super::*;

    fn v(m: u32) -> Version {
        Version { minor: m }
    }

    #[test]
    fn parses_minor_versions_only() {
        assert_eq!(Version::parse("1.28"), Some(v(28)));
        assert_eq!(Version::parse("1.6"), Some(v(6)));
        assert_eq!(Version::parse("1.28.2"), None);
        assert_eq!(Version::parse("2.0"), None);
        assert_eq!(Version::parse("1."), None);
        assert_eq!(Version::parse("1.028"), None);
        assert_eq!(Version::parse("v1.28"), None);
    }

    #[test]
    fn gates_switch_at_the_documented_versions() {
        assert_eq!(
            v(23).networking_api_version(),
            "networking.istio.io/v1alpha3"
        );
        assert_eq!(v(24).networking_api_version(), "networking.istio.io/v1");
        assert_eq!(v(8).eastwest_shape(), EastWestShape::V1_9);
        assert_eq!(v(10).eastwest_shape(), EastWestShape::V1_9);
        assert_eq!(v(11).eastwest_shape(), EastWestShape::V1_11);
        assert_eq!(v(12).eastwest_shape(), EastWestShape::Current);
        assert_eq!(v(14).remote_model(), RemoteModel::OwnIstiod);
        assert_eq!(v(15).remote_model(), RemoteModel::RemoteProfile);
        assert_eq!(v(16).remote_model(), RemoteModel::RemoteProfile);
        assert_eq!(v(14).external_istiod_setting(), ExternalIstiodSetting::None);
        assert_eq!(
            v(23).external_istiod_setting(),
            ExternalIstiodSetting::PilotEnv
        );
        assert_eq!(
            v(24).external_istiod_setting(),
            ExternalIstiodSetting::GlobalValue
        );
        assert!(!v(23).has_helm_values());
        assert!(v(24).has_helm_values());
        assert!(v(27).remote_secret_has_legacy_fields());
        assert!(!v(28).remote_secret_has_legacy_fields());
        assert_eq!(v(15).remote_profile(), Some("external"));
        assert_eq!(v(14).remote_profile(), None);
        assert_eq!(v(9).remote_profile(), Some("remote"));
        assert!(v(7).is_replicated_control_plane_era());
        assert!(!v(8).is_replicated_control_plane_era());
    }
}
