//! meshrender: one topology spec in, per-cluster Istio multicluster manifests out, offline.
//!
//! Data flows one way: `spec` (text → located tree → typed spec) → `validate` (all
//! diagnostics at once) → `model` (resolved topology) → `pki` (CA material) → `plan` (which
//! file, which template, which context) → `render` (pure: sorted path → bytes) → `output`
//! (the only writer of the output directory). `cli` wires them to commands.

mod addresses;
pub mod cli;
pub mod diag;
mod digest;
pub mod federation;
mod fsutil;
pub mod impact;
mod init;
pub mod istio;
pub mod model;
pub mod output;
mod overlay;
mod pipeline;
pub mod pki;
mod plan;
mod render;
pub mod sops;
mod spec;
pub mod validate;
mod yaml;

use std::collections::BTreeMap;
use std::path::Path;

pub use plan::Options;

/// A failed pipeline step. Printed (and mapped to an exit code) only by the CLI.
#[derive(Debug)]
pub enum Failure {
    /// The spec has errors (exit 2).
    Invalid(diag::Report),
    /// PKI material is missing or inconsistent (exit 2).
    Pki(pki::PkiError),
    /// The recorded federation addresses cannot be read, kept or written (exit 2).
    Federation(federation::FederationError),
    /// Anything else: I/O, internal template errors (exit 2).
    Other(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Invalid(r) => f.write_str(r.render().trim_end()),
            Failure::Pki(e) => write!(f, "PKI: {}", e.to_string().replace('\n', "\nPKI: ")),
            Failure::Federation(e) => write!(f, "error: {e}"),
            Failure::Other(s) => f.write_str(s),
        }
    }
}

/// Largest spec read, file or standard input: 64 MiB is far above any mesh (10,000 clusters
/// are ~1.5 MiB) and far below trouble.
const SPEC_LIMIT: u64 = 64 << 20;

/// The spec path that means standard input.
pub const STDIN: &str = "-";

/// Whether `path` is `-`, the spec read from standard input.
pub fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == STDIN
}

/// The bytes of the spec at `path` (`-`: standard input), bounded like every input.
pub fn read_spec(path: &Path, display: &str) -> Result<Vec<u8>, Failure> {
    let r = if is_stdin(path) {
        use std::io::Read;
        let mut bytes = Vec::new();
        std::io::stdin()
            .lock()
            .take(SPEC_LIMIT + 1)
            .read_to_end(&mut bytes)
            .and_then(|_| {
                if bytes.len() as u64 > SPEC_LIMIT {
                    Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("larger than {SPEC_LIMIT} bytes"),
                    ))
                } else {
                    Ok(bytes)
                }
            })
    } else {
        fsutil::read_bounded(path, SPEC_LIMIT)
    };
    r.map_err(|e| Failure::Other(format!("{display}: cannot read the spec: {e}")))
}

/// Reads and validates the spec at `path` (`-`: standard input), shown as `display` in
/// diagnostics. Warnings are returned alongside the mesh.
pub fn load_mesh(path: &Path, display: &str) -> Result<(model::Mesh, diag::Report), Failure> {
    let bytes = read_spec(path, display)?;
    load_mesh_bytes(bytes, path, display)
}

/// Validates spec bytes already read from `path`. Relative paths in the spec resolve against
/// the directory of `path`; for standard input (`-`), against the working directory.
pub fn load_mesh_bytes(
    text: Vec<u8>,
    path: &Path,
    display: &str,
) -> Result<(model::Mesh, diag::Report), Failure> {
    let report = |diagnostics| diag::Report {
        file: display.to_owned(),
        diagnostics,
    };
    let Ok(text) = String::from_utf8(text) else {
        let mut d = diag::Diagnostics::default();
        d.error(
            diag::Code::E001,
            diag::Loc::FILE,
            "the spec is not UTF-8 text",
        );
        return Err(Failure::Invalid(report(d)));
    };
    let base = if is_stdin(path) {
        std::path::PathBuf::new()
    } else {
        validate::spec_base(path)
    };
    let (mesh, diags) = validate::load_and_validate(&text, &base);
    match mesh {
        Some(m) => Ok((m, report(diags))),
        None => Err(Failure::Invalid(report(diags))),
    }
}

/// The JSON Schema of the spec (`meshrender schema`).
pub fn spec_schema() -> &'static str {
    spec::SCHEMA
}

/// Every key path the spec decoder knows, with its shape as `map`, `list` (of mappings) or
/// `scalar`: what the schema test compares the schema with.
pub fn spec_key_paths() -> BTreeMap<String, &'static str> {
    spec::decode::key_paths()
        .into_iter()
        .map(|(k, s)| {
            let shape = match s {
                spec::decode::Shape::Map => "map",
                spec::decode::Shape::ListOfMaps => "list",
                spec::decode::Shape::Scalar => "scalar",
            };
            (k, shape)
        })
        .collect()
}

/// The clusters whose `cacerts` must be loaded or issued.
pub fn clusters_needing_ca(mesh: &model::Mesh) -> Vec<String> {
    ca_clusters(&mesh.topology())
}

fn ca_clusters(topo: &model::Topology) -> Vec<String> {
    topo.clusters
        .iter()
        .filter(|f| f.runs_istiod)
        .map(|f| f.name.clone())
        .collect()
}

/// Loads (and in `Generate` mode completes) the PKI, plans and renders the whole tree in memory.
pub fn render_mesh(
    mesh: &model::Mesh,
    mode: pki::Mode,
    options: &Options,
) -> Result<(BTreeMap<String, Vec<u8>>, pki::Material), Failure> {
    let (files, material) = render_owned(mesh, mode, options)?;
    Ok((
        files.into_iter().map(|(p, f)| (p, f.bytes)).collect(),
        material,
    ))
}

/// As [`render_mesh`], keeping the cluster each file belongs to: every chunk of
/// [`render_chunks`] in one map (the fuzz target, `render -o -`, tests).
pub fn render_owned(
    mesh: &model::Mesh,
    mode: pki::Mode,
    options: &Options,
) -> Result<(BTreeMap<String, output::RenderedFile>, pki::Material), Failure> {
    let mut files = BTreeMap::new();
    let material = render_chunks(mesh, mode, options, |chunk| {
        files.extend(chunk);
        Ok(())
    })?;
    Ok((files, material))
}

/// Loads (and in `Generate` mode completes) the PKI, then plans, renders and seals the tree
/// one cluster at a time: `sink` gets each cluster's files (then the mesh-wide ones) as soon
/// as they are rendered, and nothing of a chunk is kept once `sink` returns, so peak memory
/// follows the largest cluster, not the mesh (issue 13). Rendering runs on a second thread,
/// up to five chunks ahead of `sink`, which runs on the caller's thread, in plan order.
pub fn render_chunks(
    mesh: &model::Mesh,
    mode: pki::Mode,
    options: &Options,
    mut sink: impl FnMut(BTreeMap<String, output::RenderedFile>) -> Result<(), Failure>,
) -> Result<pki::Material, Failure> {
    let topo = mesh.topology();
    // Only plaintext `cacerts` embed the intermediates' keys; otherwise public certificates
    // are enough to render and check (CI needs no secret, DESIGN §9.1).
    let keys = if mesh.secrets == model::SecretsMode::Plaintext {
        pki::Keys::Required
    } else {
        pki::Keys::Optional
    };
    // cert-manager backend: no local CA at all (DESIGN §9.2); pki.dir is never touched.
    let (material, verification) = if mesh.ca_backend == model::CaBackend::Local {
        pki::ensure_deferred(&mesh.pki, &ca_clusters(&topo), mode, keys).map_err(Failure::Pki)?
    } else {
        let none = pki::Material {
            rotation: None,
            clusters: Default::default(),
            created: Vec::new(),
            loose_keys: Vec::new(),
        };
        (none, None)
    };
    let mut material = material;
    // PKI problems come first, as when the checks ran before anything else.
    let pki_first = |e: Failure| match verification.as_ref().map(pki::Verification::run) {
        Some(Err(p)) => Failure::Pki(p),
        _ => e,
    };
    let sops_keys = match &mesh.secrets {
        model::SecretsMode::Sops { recipients } => {
            if mode == pki::Mode::Generate {
                std::fs::create_dir_all(&mesh.pki.dir).map_err(|e| {
                    Failure::Other(format!("{}: cannot create: {e}", mesh.pki.dir_display))
                })?;
            }
            let k = pki::sops::ensure(&mesh.pki, recipients, mode)
                .map_err(|e| pki_first(Failure::Pki(e)))?;
            material.created.extend(k.created.iter().cloned());
            material.created.sort();
            Some((k, recipients))
        }
        _ => None,
    };
    let addresses =
        federation::ensure(mesh, mode).map_err(|e| pki_first(Failure::Federation(e)))?;
    let env = render::environment();
    // Two threads (`pipeline`'s docs): a second one plans each chunk in order and both
    // render them; this one hands each to `sink` (compare with the tree, stage temp files,
    // print progress) in plan order. At most five chunks are queued, being rendered or
    // waiting for `sink`, so memory still follows the largest cluster. (A render thread
    // alone, this one only sinking, left this one idle most of a 10-cluster `check`.)
    let render = |plan: plan::Plan| render_chunk(&env, &plan, sops_keys.as_ref(), options);
    let pipe = pipeline::Pipeline::new(5, || {
        Failure::Other("the render thread ended in a panic".to_owned())
    });
    std::thread::scope(|scope| {
        // However this thread leaves the scope, the planner is told to stop first.
        let stop = pipeline::StopOnDrop(&pipe);
        // The main thread's stack size: a deeply nested override is merged and serialized
        // here, and must not fail where it did not before.
        let producer = std::thread::Builder::new()
            .name("render".to_owned())
            .stack_size(main_stack_size())
            .spawn_scoped(scope, || {
                let _guard = pipeline::PlannerGuard(&pipe);
                let planned = plan::plan_chunks(mesh, &topo, &material, &addresses, options, |p| {
                    // Stopped: the sink's side has the error to tell (or a failed chunk
                    // does, in plan order); this one only stops the planning.
                    pipe.push(p, &render).map_err(|pipeline::Stopped| {
                        Failure::Other("the write stage stopped".to_owned())
                    })
                });
                pipe.finish(planned, &render);
            })
            .map_err(|e| {
                pki_first(Failure::Other(format!(
                    "cannot start the render thread: {e}"
                )))
            })?;
        // A deferred PKI verification (read-only runs) is done here, while the first chunks
        // render; no chunk reaches `sink` before it passed, so a broken PKI is reported as
        // before and nothing is compared, printed or staged.
        if let Some(v) = &verification
            && let Err(e) = v.run()
        {
            drop(stop);
            // Whatever the render stage did is moot; the PKI problem is the one told.
            let _ = producer.join();
            return Err(Failure::Pki(e));
        }
        let told = pipe.drain(&render, &mut sink);
        drop(stop);
        if let Err(panic) = producer.join() {
            std::panic::resume_unwind(panic);
        }
        told
    })?;
    Ok(material)
}

/// The stack the main thread gets (`ulimit -s`, 8 MiB when unlimited or unknown, at most
/// 1 GiB), for the render thread, which does the work the main thread did before.
fn main_stack_size() -> usize {
    const DEFAULT: usize = 8 << 20;
    #[cfg(unix)]
    {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit only writes the struct it is given.
        if unsafe { libc::getrlimit(libc::RLIMIT_STACK, &mut lim) } == 0
            && lim.rlim_cur != libc::RLIM_INFINITY
        {
            return usize::try_from(lim.rlim_cur)
                .unwrap_or(DEFAULT)
                .clamp(DEFAULT, 1 << 30);
        }
    }
    DEFAULT
}

/// Renders (and, with SOPS, seals) the files of one planned chunk.
fn render_chunk(
    env: &minijinja::Environment<'static>,
    plan: &plan::Plan,
    sops_keys: Option<&(pki::sops::SopsKeys, &Vec<String>)>,
    options: &Options,
) -> Result<BTreeMap<String, output::RenderedFile>, Failure> {
    let mut bytes = render::render_with(env, plan).map_err(|e| Failure::Other(e.to_string()))?;
    let mut sealed = BTreeMap::new();
    if let Some((keys, recipients)) = sops_keys
        && plan.files.iter().any(|f| f.sealed.is_some())
    {
        let redacted =
            render::render_redacted_with(env, plan).map_err(|e| Failure::Other(e.to_string()))?;
        for f in plan.files.iter().filter(|f| f.sealed.is_some()) {
            let complete = f.sealed.as_ref().is_some_and(|s| s.complete);
            let text = bytes
                .remove(&f.path)
                .expect("render renders every planned file");
            let fingerprint = sops::fingerprint(&redacted[&f.path], recipients);
            let state = seal_file(&f.path, &text, fingerprint, complete, keys, options)?;
            if let output::SealState::Sealed { bytes: b, .. } = &state {
                bytes.insert(f.path.clone(), b.clone());
            } else {
                bytes.insert(f.path.clone(), Vec::new());
            }
            sealed.insert(f.path.clone(), state);
        }
    }
    Ok(plan
        .files
        .iter()
        .map(|f| {
            let seal = sealed.remove(&f.path);
            let b = bytes
                .remove(&f.path)
                .expect("render renders every planned file");
            (
                f.path.clone(),
                output::RenderedFile::new(
                    b,
                    f.cluster.clone(),
                    // the plaintext templates: cacerts with the intermediate's key, remote
                    // secrets with a bearer token
                    f.sealed.is_none()
                        && matches!(f.template, "cacerts.yaml.j2" | "remote-secret.yaml.j2"),
                    seal,
                ),
            )
        })
        .collect())
}

/// Seals one rendered Secret, or says why it cannot be sealed here.
fn seal_file(
    path: &str,
    text: &[u8],
    fingerprint: String,
    complete: bool,
    keys: &pki::sops::SopsKeys,
    options: &Options,
) -> Result<output::SealState, Failure> {
    let missing = if !complete {
        Some("a private key or token it holds")
    } else if keys.data_key.is_none() {
        Some("the SOPS data key (pki.dir/sops-data-key.pem)")
    } else if keys.age.iter().any(|(_, enc)| enc.is_empty()) {
        Some("the SOPS data key, to encrypt it to a new recipient")
    } else {
        None
    };
    if let Some(missing) = missing {
        return Ok(output::SealState::Unavailable {
            fingerprint,
            missing: missing.to_owned(),
        });
    }
    let key = keys.data_key.as_ref().expect("checked above");
    let text = std::str::from_utf8(text).map_err(|e| Failure::Other(format!("{path}: {e}")))?;
    let plaintext = sops::plaintext_tag(key, path, text);
    // Unchanged plaintext keeps its time, hence its bytes (DESIGN §9.3).
    let lastmodified = match options.sealed.get(path) {
        Some(r) if r.plaintext == plaintext => r.lastmodified.clone(),
        _ => sops::now(),
    };
    let sealer = sops::Sealer {
        data_key: key,
        age: &keys.age,
    };
    let bytes = sops::seal(text, path, &sealer, &lastmodified)
        .map_err(|e| Failure::Other(format!("internal error sealing {path}: {e}")))?
        .into_bytes();
    Ok(output::SealState::Sealed {
        bytes,
        record: sops::SealRecord {
            fingerprint,
            plaintext,
            lastmodified,
        },
    })
}

/// `meshrender <version>`, recorded in the ownership manifest.
pub fn tool_version() -> String {
    format!("meshrender {}", env!("CARGO_PKG_VERSION"))
}

/// The whole pipeline in memory, for the fuzz target (`fuzz/`): spec text → validate → plan →
/// render → seal, with placeholder CA material and a fixed SOPS key, touching no file except
/// those the spec names (read relative to the current directory). Returns the number of
/// rendered files; any panic is a bug.
#[doc(hidden)]
pub fn fuzz_pipeline(bytes: &[u8]) -> usize {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return 0;
    };
    let (Some(mesh), _) = validate::load_and_validate(text, Path::new(".")) else {
        return 0;
    };
    let topo = mesh.topology();
    let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    let material = pki::Material {
        rotation: None,
        clusters: ca_clusters(&topo)
            .into_iter()
            .map(|c| {
                let ca = pki::ClusterCa {
                    ca_cert: pem.to_owned(),
                    ca_key: Some(model::SecretString(
                        "-----BEGIN PRIVATE KEY-----\nMIG\n-----END PRIVATE KEY-----\n".to_owned(),
                    )),
                    root_cert: pem.to_owned(),
                    cert_chain: pem.to_owned(),
                };
                (c, ca)
            })
            .collect(),
        created: Vec::new(),
        loose_keys: Vec::new(),
    };
    let addresses = match &mesh.federation {
        Some(f) => federation::allocate(f, &Default::default()).unwrap_or_default(),
        None => Default::default(),
    };
    let options = Options::default();
    let plan = plan::plan(&mesh, &topo, &material, &addresses, &options);
    let files = render::render(&plan).expect("every valid spec renders");
    let key = [7u8; 32];
    let age = vec![("age1fuzz".to_owned(), String::new())];
    let sealer = sops::Sealer {
        data_key: &key,
        age: &age,
    };
    for f in plan.files.iter().filter(|f| f.sealed.is_some()) {
        let text = std::str::from_utf8(&files[&f.path]).expect("templates render UTF-8");
        sops::seal(text, &f.path, &sealer, "2026-01-01T00:00:00Z")
            .expect("every rendered Secret seals");
    }
    files.len()
}
