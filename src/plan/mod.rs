//! Mesh → plan: which file, from which template, with which context. Nothing is rendered here.
//!
//! All names, ports, labels and version-dependent shapes are decided in this folder (with the
//! gates of `istio`), so templates only lay values out. One file per family of output files,
//! in the order of the output layout; each family adds its files to a [`ClusterFiles`] (or, for
//! mesh-wide files, to the plan) with a typed context. Whether a file is applied to the
//! cluster is said where the file is planned; the kustomizations are derived from that.

mod cacerts;
mod eastwest;
mod exposure;
mod federation;
mod gitops;
mod helm;
mod install;
mod kustomization;
mod mermaid;
mod names;
mod namespace;
mod reader_token;
mod readme;
mod remote_secrets;
mod sail;
mod verification;

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::federation::Allocations;
use crate::model::{Cluster, Facts, Mesh, Topology};
use crate::pki::Material;

pub(crate) const HEADER: &str =
    "# Rendered by meshrender. Do not edit: change the spec and render again.";

/// What the caller knows that the spec does not say.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The command that reproduces the tree, run from the output directory (the CLI knows
    /// where the spec and the output are): `meshrender render ../mesh.yaml -o .`
    pub reproduce: Option<String>,
    /// The sealed files of the output directory as its manifest records them (SOPS): a file
    /// whose secret inputs are not here (CI) is kept if its fingerprint is unchanged.
    pub sealed: BTreeMap<String, crate::sops::SealRecord>,
}

/// How a planned file reaches the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Applied {
    /// Not applied as is: inputs of istioctl or Helm, kustomizations, notes.
    No,
    /// Listed in the cluster's `kustomization.yaml`.
    Cluster,
    /// Listed in the verification bundle's own `verify/kustomization.yaml`.
    Verify,
}

/// One output file.
#[derive(Clone, Debug)]
pub(crate) struct PlannedFile {
    /// Path relative to the output directory, with `/` separators.
    pub path: String,
    /// The cluster this file belongs to; `None` for mesh-wide files.
    pub cluster: Option<String>,
    pub template: &'static str,
    pub context: Value,
    pub applied: Applied,
    /// `secrets.mode: sops`: rendered as plaintext, then sealed (see `crate::sops`).
    pub sealed: Option<Sealed>,
    /// Overrides deep-merged into the rendered document's `spec` (an IstioOperator): the
    /// file is rendered, read back and written again through the one YAML serializer.
    pub overlay: Option<Value>,
}

/// How a sealed file is rendered besides its plaintext.
#[derive(Clone, Debug)]
pub(crate) struct Sealed {
    /// The same template's context with every secret value replaced by a placeholder: the
    /// public fingerprint CI recomputes without keys.
    pub redacted: Value,
    /// Every secret value is at hand (CA key, token): the file can be sealed here.
    pub complete: bool,
}

/// What the mesh-wide files (GitOps, README) need of a cluster's planned file: its path and
/// how it is applied (no context: a few dozen bytes per file).
#[derive(Clone, Debug)]
pub(crate) struct Skeleton {
    pub path: String,
    pub applied: Applied,
}

/// Every file of the output tree, sorted by path.
#[derive(Clone, Debug, Default)]
pub(crate) struct Plan {
    pub files: Vec<PlannedFile>,
}

/// A template context as typed data, turned into the value the renderer reads.
fn context(body: impl Serialize) -> Value {
    serde_json::to_value(body).expect("plan contexts are plain data")
}

/// A key/value pair of a label, annotation or env list, in the order given.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct KeyValue {
    pub key: &'static str,
    pub value: String,
}

pub(crate) fn kv(pairs: &[(&'static str, String)]) -> Vec<KeyValue> {
    pairs
        .iter()
        .map(|(key, value)| KeyValue {
            key,
            value: value.clone(),
        })
        .collect()
}

/// What every part of the plan reads: the mesh, its derived topology, the CA material, the
/// federation addresses, and the clusters by name (lookups are hot on large meshes).
pub(crate) struct Ctx<'a> {
    pub mesh: &'a Mesh,
    pub topo: &'a Topology,
    pub pki: &'a Material,
    pub addresses: &'a Allocations,
    pub options: &'a Options,
    by_name: BTreeMap<&'a str, &'a Cluster>,
}

impl Ctx<'_> {
    pub fn cluster(&self, name: &str) -> Option<&Cluster> {
        self.by_name.get(name).copied()
    }
}

/// The files of one cluster, as they are planned: every one is `clusters/<name>/<rel>`, and
/// its context carries the header and the cluster name.
pub(crate) struct ClusterFiles<'a> {
    pub c: &'a Cluster,
    pub f: &'a Facts,
    files: Vec<PlannedFile>,
}

#[derive(Serialize)]
struct ClusterPage<'a, T> {
    header: &'static str,
    cluster: &'a str,
    #[serde(flatten)]
    body: T,
}

impl<'a> ClusterFiles<'a> {
    fn new(c: &'a Cluster, f: &'a Facts) -> Self {
        ClusterFiles {
            c,
            f,
            files: Vec::new(),
        }
    }

    pub fn add(
        &mut self,
        rel: impl Into<String>,
        template: &'static str,
        applied: Applied,
        body: impl Serialize,
    ) {
        let rel = rel.into();
        self.files.push(PlannedFile {
            path: format!("clusters/{}/{rel}", self.c.name),
            cluster: Some(self.c.name.clone()),
            template,
            context: context(ClusterPage {
                header: HEADER,
                cluster: &self.c.name,
                body,
            }),
            applied,
            sealed: None,
            overlay: None,
        });
    }

    /// Like [`ClusterFiles::add`], with `overlay` deep-merged into the document's `spec`.
    pub fn add_overlaid(
        &mut self,
        rel: impl Into<String>,
        template: &'static str,
        applied: Applied,
        body: impl Serialize,
        overlay: Option<Value>,
    ) {
        self.add(rel, template, applied, body);
        let f = self.files.last_mut().expect("just added");
        f.overlay = overlay;
    }

    /// A Secret sealed with SOPS: `body` with its secret values (or placeholders where they
    /// are not at hand: `complete` false), `redacted` with placeholders only.
    pub fn add_sealed(
        &mut self,
        rel: impl Into<String>,
        template: &'static str,
        body: impl Serialize,
        redacted: impl Serialize,
        complete: bool,
    ) {
        self.add(rel, template, Applied::Cluster, body);
        let redacted = context(ClusterPage {
            header: HEADER,
            cluster: &self.c.name,
            body: redacted,
        });
        let f = self.files.last_mut().expect("just added");
        f.sealed = Some(Sealed { redacted, complete });
    }

    /// Whether the output directory's manifest records `rel` of this cluster as sealed.
    pub fn sealed_before(&self, x: &Ctx, rel: &str) -> bool {
        x.options
            .sealed
            .contains_key(&format!("clusters/{}/{rel}", self.c.name))
    }

    /// The applied files of the given kind, relative to `under` (inside the cluster directory),
    /// in planning order.
    pub fn applied(&self, kind: Applied, under: &str) -> Vec<String> {
        let prefix = format!("clusters/{}/{under}", self.c.name);
        self.files
            .iter()
            .filter(|x| x.applied == kind)
            .filter_map(|x| x.path.strip_prefix(&prefix).map(str::to_owned))
            .collect()
    }
}

/// Plans the whole output tree (every chunk of [`plan_chunks`], sorted by path).
pub(crate) fn plan(
    mesh: &Mesh,
    topo: &Topology,
    pki: &Material,
    addresses: &Allocations,
    options: &Options,
) -> Plan {
    let mut files = Vec::new();
    let r: Result<(), std::convert::Infallible> =
        plan_chunks(mesh, topo, pki, addresses, options, |p| {
            files.extend(p.files);
            Ok(())
        });
    let Ok(()) = r;
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Plan { files }
}

/// Plans the tree one cluster at a time, handing each cluster's files (sorted by path) to
/// `chunk` before the next cluster is planned, then the mesh-wide files (GitOps, README) in
/// a last chunk: peak memory follows the largest cluster, not the mesh. What the mesh-wide
/// files need of the clusters' files (their paths and how they are applied) is kept as a
/// skeleton without contexts; with GitOps, each cluster's Helm values are kept too (the
/// Applications embed them).
pub(crate) fn plan_chunks<E>(
    mesh: &Mesh,
    topo: &Topology,
    pki: &Material,
    addresses: &Allocations,
    options: &Options,
    mut chunk: impl FnMut(Plan) -> Result<(), E>,
) -> Result<(), E> {
    let x = Ctx {
        mesh,
        topo,
        pki,
        addresses,
        options,
        by_name: mesh.clusters.iter().map(|c| (c.name.as_str(), c)).collect(),
    };
    let mut skeleton = Vec::new();
    let mut helm = Vec::new();
    for c in &mesh.clusters {
        let f = topo.facts(&c.name).expect("topology covers every cluster");
        let (mut cluster_files, values) = plan_cluster(&x, c, f);
        cluster_files.sort_by(|a, b| a.path.cmp(&b.path));
        skeleton.extend(cluster_files.iter().map(|p| Skeleton {
            path: p.path.clone(),
            applied: p.applied,
        }));
        chunk(Plan {
            files: cluster_files,
        })?;
        helm.push((c, if mesh.gitops.is_some() { values } else { None }));
    }
    let mut files = Vec::new();
    if let Some(g) = &mesh.gitops {
        gitops::plan(&x, g, &helm, &skeleton, &mut files);
    }
    readme::plan(&x, &skeleton, &mut files);
    drop(skeleton);
    files.sort_by(|a, b| a.path.cmp(&b.path));
    chunk(Plan { files })
}

/// Every file of one cluster, family by family, and its Helm values (for GitOps).
fn plan_cluster(x: &Ctx, c: &Cluster, f: &Facts) -> (Vec<PlannedFile>, Option<helm::ClusterHelm>) {
    let mut out = ClusterFiles::new(c, f);
    namespace::plan(x, &mut out);
    cacerts::plan(x, &mut out);
    let inputs = install::plan(x, &mut out);
    if x.mesh.version.is_replicated_control_plane_era() {
        federation::plan(x, &mut out);
    }
    let mut values = helm::plan(x, &inputs, &mut out);
    if x.mesh.sail
        && let Some(h) = &values
    {
        sail::plan(x, h, &mut out);
    }
    let gateway_values = eastwest::plan(x, &mut out);
    if let (Some(h), Some(g)) = (values.as_mut(), gateway_values) {
        h.gateway = Some(g);
    }
    exposure::plan(x, &mut out);
    reader_token::plan(x, &mut out);
    remote_secrets::plan(x, &mut out);
    if x.mesh.verification {
        verification::plan(x.mesh, &mut out);
    }
    kustomization::plan(&mut out);
    (out.files, values)
}
