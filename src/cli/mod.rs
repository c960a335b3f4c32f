//! Command-line interface (DESIGN.md §5): argument parsing, dispatch to one file per
//! command, and the one place that prints errors and turns them into exit codes (as
//! ripgrep's and just's `main` do). Progress and reports go to stderr, machine-readable
//! events (`--format json`) to stdout.
//!
//! Exit codes: 0 success / no drift; 1 drift (check/diff); 2 invalid spec, usage or I/O
//! error; 3 refused to overwrite or delete a foreign or hand-edited file.

mod check;
mod completions;
mod diff;
mod events;
mod init;
mod pki;
mod prepare;
mod render;
mod review;
mod schema;
mod validate;

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand, ValueEnum};

use crate::Failure;

pub use prepare::reproduce_command;

/// The clap command tree (for the help test and completion scripts).
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

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

const ROOT_AFTER: &str = "\
Examples:
  meshrender init --model multi-network > mesh.yaml
  meshrender validate mesh.yaml
  meshrender render mesh.yaml -o out
  meshrender render mesh.yaml -o - --cluster cluster1 | kubectl apply --dry-run=client -f -
  meshrender check mesh.yaml -o out

A SPEC of `-` reads the spec from standard input (relative paths in it resolve against the
working directory). Exit codes: 0 ok, 1 drift (check, diff, pki status), 2 invalid spec, usage
or I/O error, 3 render refused to overwrite a file it does not own.";

#[derive(Parser, Debug)]
#[command(
    name = "meshrender",
    version,
    about = "Render per-cluster Istio multicluster manifests from one topology spec, offline",
    after_help = ROOT_AFTER
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Human-readable lines (reports on stderr, lists on stdout)
    Text,
    /// One JSON event per line on stdout (docs/events.md)
    Json,
}

/// `diff`'s output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    /// A unified diff (with --summary: one line per changed object)
    Text,
    /// The summary as Markdown, for a pull-request comment (implies --summary)
    Markdown,
    /// The summary as JSON events, as `check --format json` prints them (implies --summary)
    Json,
}

/// The shells `completions` writes a script for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    /// GNU Bash
    Bash,
    /// Z shell
    Zsh,
    /// fish
    Fish,
    /// PowerShell
    Powershell,
    /// Elvish
    Elvish,
}

const SPEC_HELP: &str = "The topology spec file (`-` reads standard input)";

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print a commented starter spec for one of Istio's multicluster models
    #[command(after_help = "Examples:
  meshrender init > mesh.yaml
  meshrender init --model primary-remote-multi-network > mesh.yaml
  meshrender schema > meshrender.schema.json   # the file the first line of the starter names")]
    Init {
        /// The model: multi-primary | multi-network | primary-remote | primary-remote-multi-network
        #[arg(long, default_value = "multi-primary", value_name = "MODEL")]
        model: String,
    },
    /// Parse and validate a spec; print every problem at once
    #[command(after_help = "Examples:
  meshrender validate mesh.yaml
  meshrender validate mesh.yaml --format json | jq -r 'select(.event == \"diagnostic\") | .message'
  cat mesh.yaml | meshrender validate -")]
    Validate {
        #[arg(help = SPEC_HELP, value_name = "SPEC")]
        spec: PathBuf,
        /// Output format: text diagnostics on stderr, or JSON events on stdout
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Render every cluster's files into the output directory (generates missing CA material)
    #[command(after_help = "Examples:
  meshrender render mesh.yaml -o out
  meshrender render mesh.yaml -o out --cluster cluster1 --cluster cluster2
  meshrender render mesh.yaml -o - --cluster cluster1 > cluster1.yaml
  meshrender render mesh.yaml -o out --format json | jq -c 'select(.event == \"summary\")'

With `-o -` every rendered YAML file is printed as one stream on stdout (each document after a
`# Source: PATH` comment, in path order), nothing is written anywhere and no CA material is
created: render into a directory once first.")]
    Render {
        #[arg(help = SPEC_HELP, value_name = "SPEC")]
        spec: PathBuf,
        /// Output directory, or `-` for one YAML stream on stdout (nothing written)
        #[arg(short = 'o', long = "out", value_name = "DIR")]
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
    #[command(after_help = "Examples:
  meshrender check mesh.yaml -o out
  meshrender check mesh.yaml -o out --format json

Never writes and never creates keys: fit for CI and pre-commit hooks.")]
    Check {
        #[arg(help = SPEC_HELP, value_name = "SPEC")]
        spec: PathBuf,
        /// Output directory to compare with
        #[arg(short = 'o', long = "out", value_name = "DIR")]
        out: PathBuf,
        /// Output format of the drift report
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// CA material: status, intermediate rotation, root rotation
    #[command(
        subcommand,
        after_help = "Examples:
  meshrender pki status mesh.yaml
  meshrender pki rotate-intermediate mesh.yaml --cluster cluster1
  meshrender pki rotate-root mesh.yaml --step 1"
    )]
    Pki(PkiCommand),
    /// Print a unified diff of what `render` would change (secret values redacted)
    #[command(after_help = "Examples:
  meshrender diff mesh.yaml -o out
  meshrender diff mesh.yaml -o out | less -R
  meshrender diff mesh.yaml -o out --show-secrets   # plaintext mode: show key material
  meshrender diff mesh.yaml -o out --summary        # one line per changed object, with its effect
  meshrender diff mesh.yaml -o base/out --format markdown > comment.md

Exit codes: 0 nothing rendered changed (a stale spec digest or tool version in
.meshrender/owned.json is not a change), 1 changes, 2 error.")]
    Diff {
        #[arg(help = SPEC_HELP, value_name = "SPEC")]
        spec: PathBuf,
        /// Output directory to compare with
        #[arg(short = 'o', long = "out", value_name = "DIR")]
        out: PathBuf,
        /// Show secret values in the diff instead of redacting them
        #[arg(long)]
        show_secrets: bool,
        /// List changed objects (kind, namespace/name, cluster, change) with their runtime effect
        #[arg(long)]
        summary: bool,
        /// Output format: a unified diff (or summary lines), Markdown or JSON events
        #[arg(long, value_enum, default_value = "text")]
        format: DiffFormat,
    },
    /// Print the JSON Schema (draft 2020-12) of the spec, for editors and CI
    #[command(after_help = "Examples:
  meshrender schema > meshrender.schema.json
  check-jsonschema --schemafile meshrender.schema.json mesh.yaml

`meshrender init` starters begin with `# yaml-language-server: $schema=meshrender.schema.json`,
so an editor with the YAML language server completes and checks the spec once that file sits
beside it.")]
    Schema,
    /// Print a shell completion script
    #[command(after_help = "Examples:
  meshrender completions bash > ~/.local/share/bash-completion/completions/meshrender
  meshrender completions zsh > \"${fpath[1]}/_meshrender\"
  meshrender completions fish > ~/.config/fish/completions/meshrender.fish")]
    Completions {
        /// The shell to write the script for
        #[arg(value_enum, value_name = "SHELL")]
        shell: Shell,
    },
}

#[derive(Subcommand, Debug)]
pub enum PkiCommand {
    /// Show every certificate of pki.dir: subject, key, serial, expiry, fingerprint
    ///
    /// Exits 1 when a certificate is missing or has a problem, or (with --fail-within) expires
    /// within that many days.
    #[command(after_help = "Examples:
  meshrender pki status mesh.yaml
  meshrender pki status mesh.yaml --fail-within 30   # a nightly job
  meshrender pki status mesh.yaml --format json")]
    Status {
        #[arg(help = SPEC_HELP, value_name = "SPEC")]
        spec: PathBuf,
        /// Output format of the certificate list
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Exit 1 if any certificate expires within DAYS days (e.g. 30)
        #[arg(long, value_name = "DAYS")]
        fail_within: Option<u32>,
    },
    /// Issue a new intermediate for one cluster (the old one is kept as a backup)
    #[command(after_help = "Examples:
  meshrender pki rotate-intermediate mesh.yaml --cluster cluster2
  meshrender render mesh.yaml -o out   # then apply the new cacerts and restart istiod")]
    RotateIntermediate {
        #[arg(help = SPEC_HELP, value_name = "SPEC")]
        spec: PathBuf,
        /// The cluster whose intermediate is re-issued
        #[arg(long, value_name = "NAME")]
        cluster: String,
    },
    /// One step of the multi-root rotation: 1 trust both roots, 2 re-issue intermediates,
    /// 3 drop the old root
    #[command(after_help = "Examples:
  meshrender pki rotate-root mesh.yaml --step 1 && meshrender render mesh.yaml -o out
  meshrender pki rotate-root mesh.yaml --step 2 && meshrender render mesh.yaml -o out
  meshrender pki rotate-root mesh.yaml --step 3 && meshrender render mesh.yaml -o out

Apply each step's output on every cluster, and restart istiod and workloads, before the next.")]
    RotateRoot {
        #[arg(help = SPEC_HELP, value_name = "SPEC")]
        spec: PathBuf,
        /// The step to run: 1, 2 or 3
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=3), value_name = "N")]
        step: u8,
    },
}

impl Command {
    /// The `--format` the command was given (text for commands without one).
    fn format(&self) -> Format {
        match self {
            Command::Validate { format, .. }
            | Command::Render { format, .. }
            | Command::Check { format, .. }
            | Command::Pki(PkiCommand::Status { format, .. }) => *format,
            Command::Diff {
                format: DiffFormat::Json,
                ..
            } => Format::Json,
            _ => Format::Text,
        }
    }
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
    let format = cli.command.format();
    match run(cli) {
        Ok(code) => code as i32,
        Err(e) => {
            eprintln!("{e}");
            if format == Format::Json {
                // stdout says what went wrong too: a JSON reader never gets an empty stream.
                match &e {
                    Error::Failure(Failure::Invalid(report)) => {
                        events::diagnostics(report);
                        let errors = report
                            .diagnostics
                            .items
                            .iter()
                            .filter(|d| d.severity == crate::diag::Severity::Error)
                            .count();
                        events::summary("invalid", serde_json::json!({"errors": errors}));
                    }
                    // render's refusals were already printed as events, with their summary.
                    Error::Refused => {}
                    other => {
                        events::error(&other.to_string());
                        events::summary("error", serde_json::json!({}));
                    }
                }
            }
            e.exit_code() as i32
        }
    }
}

/// Runs one command.
pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Init { model } => init::run(&model),
        Command::Validate { spec, format } => validate::run(&spec, format),
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
            summary,
            format,
        } => diff::run(&spec, &out, show_secrets, summary, format),
        Command::Pki(c) => pki::run(c),
        Command::Schema => schema::run(),
        Command::Completions { shell } => completions::run(shell),
    }
}

fn display(p: &Path) -> String {
    p.display().to_string()
}

/// A spec path as diagnostics name it: `<stdin>` for `-`.
fn spec_name(p: &Path) -> String {
    if crate::is_stdin(p) {
        "<stdin>".to_owned()
    } else {
        display(p)
    }
}

/// Prints the warnings of a valid spec.
fn warn(warnings: &crate::diag::Report) {
    eprint!("{}", warnings.render());
}
