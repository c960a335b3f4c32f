//! Command-line interface (DESIGN.md §5): argument parsing and exit codes. Each command is a
//! short composition of library calls; progress and diagnostics go to stderr.
//!
//! Exit codes: 0 success; 1 drift (check/diff); 2 invalid spec, usage or I/O error;
//! 3 refused to overwrite a foreign or hand-edited file.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::{Failure, init, load_mesh, model, output, pki, render_mesh};

pub const EXIT_OK: i32 = 0;
pub const EXIT_DRIFT: i32 = 1;
pub const EXIT_ERROR: i32 = 2;
pub const EXIT_REFUSED: i32 = 3;

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
    /// Render every cluster's files into the output directory
    Render {
        /// The topology spec file
        spec: PathBuf,
        /// Output directory
        #[arg(short = 'o', long = "out")]
        out: PathBuf,
    },
}

/// Runs the command line and returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_ERROR } else { EXIT_OK };
            let _ = e.print();
            return code;
        }
    };
    run(cli)
}

pub fn run(cli: Cli) -> i32 {
    match cli.command {
        Command::Init { model } => cmd_init(&model),
        Command::Validate { spec } => cmd_validate(&spec),
        Command::Render { spec, out } => cmd_render(&spec, &out),
    }
}

fn fail(e: &Failure) -> i32 {
    eprintln!("{e}");
    EXIT_ERROR
}

fn cmd_init(model: &str) -> i32 {
    match init::starter(model) {
        Some(text) => {
            print!("{text}");
            EXIT_OK
        }
        None => {
            eprintln!("error: unknown model `{model}`; expected one of:");
            for (name, _, about) in init::MODELS {
                eprintln!("  {name:<30} {about}");
            }
            EXIT_ERROR
        }
    }
}

fn display(p: &std::path::Path) -> String {
    p.display().to_string()
}

fn cmd_validate(spec: &std::path::Path) -> i32 {
    match load_mesh(spec, &display(spec)) {
        Ok((mesh, warnings)) => {
            eprint!("{warnings}");
            eprintln!(
                "{}: ok: mesh {} for Istio {}, {} cluster{}",
                display(spec),
                mesh.mesh_id,
                mesh.version,
                mesh.clusters.len(),
                if mesh.clusters.len() == 1 { "" } else { "s" }
            );
            EXIT_OK
        }
        Err(e) => fail(&e),
    }
}

fn cmd_render(spec: &std::path::Path, out: &std::path::Path) -> i32 {
    let (mesh, warnings) = match load_mesh(spec, &display(spec)) {
        Ok(x) => x,
        Err(e) => return fail(&e),
    };
    eprint!("{warnings}");
    let (files, material) = match render_mesh(&mesh, pki::Mode::Generate) {
        Ok(x) => x,
        Err(e) => return fail(&e),
    };
    for f in &material.created {
        eprintln!(
            "pki: created {}/{f}",
            mesh.pki.dir_display.trim_end_matches('/')
        );
    }
    if mesh.secrets == model::SecretsMode::Plaintext {
        eprintln!(
            "warning: secrets.mode is plaintext: private keys and bearer tokens are written to {} (labs only; use external-secrets for anything shared)",
            display(out)
        );
    }
    let report = match output::write_tree(out, &files) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: writing {}: {e}", display(out));
            return EXIT_ERROR;
        }
    };
    for c in &mesh.clusters {
        let prefix = format!("clusters/{}/", c.name);
        let total = files.keys().filter(|p| p.starts_with(&prefix)).count();
        let written = report
            .written
            .iter()
            .filter(|p| p.starts_with(&prefix))
            .count();
        eprintln!(
            "{}: {total} files ({written} written, {} unchanged)",
            c.name,
            total - written
        );
    }
    EXIT_OK
}
