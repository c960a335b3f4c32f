//! Istio versions and every version gate meshrender knows, in one place.
//!
//! A gate is a named method on [`Version`] that says which shape the target Istio version
//! expects. Templates and the planner ask these methods; nothing else compares versions.
//! Sources: shared/ISTIO-FACTS.md §1, §3, §4.7, §6 and shared/ISTIOOPERATOR-FIELDS.md.

use std::fmt;

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
    /// 1.8: no `spec.revision`, ports `mtls`/`tcp-istiod`/`tcp-webhook`, ROUTER_MODE env,
    /// meshID/clusterName in values.
    V1_8,
    /// 1.9–1.10: `revision`, `tls*` port names; still ROUTER_MODE, meshID, clusterName.
    V1_9,
    /// 1.11: as 1.9 plus `injectionTemplate: gateway`.
    V1_11,
    /// 1.12 onwards: network only.
    Current,
}

/// How a remote cluster (role: remote) is installed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemoteModel {
    /// Before 1.16: the remote runs its own istiod (CA and injection) and points its proxies at
    /// the primary through `remotePilotAddress`; install values carry meshID/clusterName/network.
    OwnIstiod,
    /// 1.16 onwards: `profile: remote`, `istiodRemote.injectionPath`, config from the primary.
    RemoteProfile,
}

/// Where the primary's "I serve remote clusters" switch goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExternalIstiodSetting {
    /// Not used: remotes run their own istiod (before 1.16).
    None,
    /// `values.pilot.env.EXTERNAL_ISTIOD: true` (1.16–1.22).
    PilotEnv,
    /// `values.global.externalIstiod: true` (1.23 onwards).
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

    /// `networking.istio.io/v1` is served from 1.22; older targets get `v1alpha3`.
    pub fn networking_api_version(self) -> &'static str {
        if self.at_least(22) {
            "networking.istio.io/v1"
        } else {
            "networking.istio.io/v1alpha3"
        }
    }

    pub fn eastwest_shape(self) -> EastWestShape {
        match self.minor {
            0..=8 => EastWestShape::V1_8,
            9 | 10 => EastWestShape::V1_9,
            11 => EastWestShape::V1_11,
            _ => EastWestShape::Current,
        }
    }

    pub fn remote_model(self) -> RemoteModel {
        if self.at_least(16) {
            RemoteModel::RemoteProfile
        } else {
            RemoteModel::OwnIstiod
        }
    }

    /// The IstioOperator `profile` a remote cluster uses: `remote` (1.8–1.14 an alias of
    /// `default`; 1.16+ the real remote profile); absent in 1.15, where `default` applies.
    pub fn remote_profile(self) -> Option<&'static str> {
        if self.minor == 15 {
            None
        } else {
            Some("remote")
        }
    }

    pub fn external_istiod_setting(self) -> ExternalIstiodSetting {
        match self.remote_model() {
            RemoteModel::OwnIstiod => ExternalIstiodSetting::None,
            RemoteModel::RemoteProfile if self.at_least(23) => ExternalIstiodSetting::GlobalValue,
            RemoteModel::RemoteProfile => ExternalIstiodSetting::PilotEnv,
        }
    }

    /// The `topology.istio.io/controlPlaneClusters` namespace annotation (1.16 onwards).
    pub fn has_control_plane_clusters_annotation(self) -> bool {
        self.at_least(16)
    }

    /// Remote clusters run an istiod, and so need `cacerts`, before 1.16.
    pub fn remotes_run_istiod(self) -> bool {
        self.remote_model() == RemoteModel::OwnIstiod
    }

    /// Helm values for the `base`, `istiod` and `gateway` charts: 1.24 onwards, when the remote
    /// profile reached the Helm charts and the istiod chart's values were flattened.
    pub fn has_helm_values(self) -> bool {
        self.at_least(24)
    }

    /// istioctl ≤1.27 printed `creationTimestamp: null` and `preferences: {}` in remote secrets.
    pub fn remote_secret_has_legacy_fields(self) -> bool {
        !self.at_least(28)
    }

    /// Where the helloworld sample images come from: Istio's own registry in the newest
    /// samples, Docker Hub in the samples of older releases.
    pub fn helloworld_image(self, version: &str) -> String {
        if self.at_least(24) {
            format!("registry.istio.io/release/examples-helloworld-{version}:1.0")
        } else {
            format!("docker.io/istio/examples-helloworld-{version}")
        }
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
            v(21).networking_api_version(),
            "networking.istio.io/v1alpha3"
        );
        assert_eq!(v(22).networking_api_version(), "networking.istio.io/v1");
        assert_eq!(v(8).eastwest_shape(), EastWestShape::V1_8);
        assert_eq!(v(10).eastwest_shape(), EastWestShape::V1_9);
        assert_eq!(v(11).eastwest_shape(), EastWestShape::V1_11);
        assert_eq!(v(12).eastwest_shape(), EastWestShape::Current);
        assert_eq!(v(15).remote_model(), RemoteModel::OwnIstiod);
        assert_eq!(v(16).remote_model(), RemoteModel::RemoteProfile);
        assert_eq!(v(15).external_istiod_setting(), ExternalIstiodSetting::None);
        assert_eq!(
            v(22).external_istiod_setting(),
            ExternalIstiodSetting::PilotEnv
        );
        assert_eq!(
            v(23).external_istiod_setting(),
            ExternalIstiodSetting::GlobalValue
        );
        assert!(!v(23).has_helm_values());
        assert!(v(24).has_helm_values());
        assert!(v(27).remote_secret_has_legacy_fields());
        assert!(!v(28).remote_secret_has_legacy_fields());
        assert_eq!(v(15).remote_profile(), None);
        assert_eq!(v(14).remote_profile(), Some("remote"));
        assert!(v(7).is_replicated_control_plane_era());
        assert!(!v(8).is_replicated_control_plane_era());
    }
}
