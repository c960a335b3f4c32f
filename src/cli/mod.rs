//! Command-line interface (DESIGN.md §5): argument parsing, dispatch to one file per
//! command, and the one place that prints errors and turns them into exit codes (as
//! ripgrep's and just's `main` do). Progress and reports go to stderr, machine-readable
//! events (`--format json`) to stdout.
//!
//! Exit codes: 0 success / no drift; 1 drift (check/diff); 2 invalid spec, usage or I/O
//! error; 3 refused to overwrite or delete a foreign or hand-edited file.

mod check;
mod diff;
mod init;
mod pki;
mod prepare;
mod render;
mod validate;

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand, ValueEnum};

use crate::Failure;

pub use prepare::reproduce_command;

/// How a command ended without an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitCode {
    Ok = 0,
    /// `check` / `diff`: the output directory differs from the spec.
    Drift = 1,
    /// Invalid spec, usage or I/O error.
    Error = 2,
    /// `render` refused to overwrite or delete a file it does not own.
    Refused = 3,
}

/// Why a command failed. Printed only by [`main`].
#[derive(Debug)]
pub enum Error {
    /// A pipeline step failed: spec, PKI, federation, I/O (exit 2).
    Failure(Failure),
    /// A usage or I/O problem (exit 2), printed as `error: <message>`.
    Message(String),
    /// `render` refused files it does not own; they were listed as it found them (exit 3).
    Refused,
}

impl Error {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Failure(_) | Error::Message(_) => ExitCode::Error,
            Error::Refused => ExitCode::Refused,
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Failure(e) => write!(f, "{e}"),
            Error::Message(m) => write!(f, "error: {m}"),
            Error::Refused => f.write_str(
                "error: nothing was written; move those files away, or render with --force to overwrite them",
            ),
        }
    }
}

impl From<Failure> for Error {
    fn from(e: Failure) -> Self {
        Error::Failure(e)
    }
}

type Result<T> = std::result::Result<T, Error>;

#[derive(Parser, Debug)]
#[command(
    name = "meshrender",
    version,
    about = "Render per-cluster Istio multicluster manifests from one topology spec, offline"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print a commented starter spec for one of Istio's multicluster models
    Init {
        /// multi-primary | multi-network | primary-remote | primary-remote-multi-network
        #[arg(long, default_value = "multi-primary")]
        model: String,
    },
    /// Parse and validate a spec; print every problem at once
    Validate {
        /// The topology spec file
        spec: PathBuf,
    },
    /// Render every cluster's files into the output directory (generates missing CA material)
    Render {
        /// The topology spec file
        spec: PathBuf,
        /// Output directory
        #[arg(short = 'o', long = "out")]
        out: PathBuf,
        /// Render and prune only these clusters (repeatable)
        #[arg(long = "cluster", value_name = "NAME")]
        clusters: Vec<String>,
        /// Overwrite or delete files meshrender does not own or that were edited by hand
        #[arg(long)]
        force: bool,
        /// Output format of the per-file events
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Render in memory and compare with the output directory; exit 1 on any difference
    Check {
        /// The topology spec file
        spec: PathBuf,
        /// Output directory to compare with
        #[arg(short = 'o', long = "out")]
        out: PathBuf,
        /// Output format of the drift report
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// CA material: status, intermediate rotation, root rotation
    #[command(subcommand)]
    Pki(PkiCommand),
    /// Print a unified diff of what `render` would change (secret values redacted)
    Diff {
        /// The topology spec file
        spec: PathBuf,
        /// Output directory to compare with
        #[arg(short = 'o', long = "out")]
        out: PathBuf,
        /// Show secret values in the diff
        #[arg(long)]
        show_secrets: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum PkiCommand {
    /// Show every certificate of pki.dir: subject, key, serial, expiry, fingerprint
    ///
    /// Exits 1 when a certificate is missing or has a problem, or (with --fail-within) expires
    /// within that many days: `meshrender pki status mesh.yaml --fail-within 30` in a nightly job.
    Status {
        /// The topology spec file
        spec: PathBuf,
        /// Output format of the certificate list
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Exit 1 if any certificate expires within DAYS days (e.g. 30)
        #[arg(long, value_name = "DAYS")]
        fail_within: Option<u32>,
    },
    /// Issue a new intermediate for one cluster (the old one is kept as a backup)
    RotateIntermediate {
        /// The topology spec file
        spec: PathBuf,
        /// The cluster whose intermediate is re-issued
        #[arg(long, value_name = "NAME")]
        cluster: String,
    },
    /// One step of the multi-root rotation: 1 trust both roots, 2 re-issue intermediates,
    /// 3 drop the old root
    RotateRoot {
        /// The topology spec file
        spec: PathBuf,
        /// The step to run: 1, 2 or 3
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=3))]
        step: u8,
    },
}

/// Runs the command line and returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                ExitCode::Error
            } else {
                ExitCode::Ok
            };
            let _ = e.print();
            return code as i32;
        }
    };
    match run(cli) {
        Ok(code) => code as i32,
        Err(e) => {
            eprintln!("{e}");
            e.exit_code() as i32
        }
    }
}

/// Runs one command.
pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Init { model } => init::run(&model),
        Command::Validate { spec } => validate::run(&spec),
        Command::Render {
            spec,
            out,
            clusters,
            force,
            format,
        } => render::run(&spec, &out, &clusters, force, format),
        Command::Check { spec, out, format } => check::run(&spec, &out, format),
        Command::Diff {
            spec,
            out,
            show_secrets,
        } => diff::run(&spec, &out, show_secrets),
        Command::Pki(c) => pki::run(c),
    }
}

fn display(p: &Path) -> String {
    p.display().to_string()
}

/// Prints the warnings of a valid spec.
fn warn(warnings: &crate::diag::Report) {
    eprint!("{}", warnings.render());
}

/// One `--format json` file event.
fn event(status: &str, path: &str, cluster: &Option<String>) {
    println!(
        "{}",
        serde_json::json!({"event": "file", "status": status, "path": path, "cluster": cluster})
    );
}
