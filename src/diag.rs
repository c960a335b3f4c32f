//! Diagnostics: located, coded problems found in a spec, collected all at once and printed
//! as `SPEC:LINE:COL: error[CODE]: message` with an optional `help:` line.
//!
//! Codes are stable: tests and users grep for them. The full list lives in [`Code`]; the
//! README's spec reference documents each one.

use std::fmt;

/// A 1-based line/column position in the spec file. `line == 0` means "the file as a whole".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Loc {
    pub line: u32,
    pub col: u32,
}

impl Loc {
    pub const FILE: Loc = Loc { line: 0, col: 0 };
    pub fn new(line: u32, col: u32) -> Self {
        Loc { line, col }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

/// Defines [`Code`] and [`Code::ALL`] from one list, so the list of codes is never kept twice.
macro_rules! codes {
    ($($(#[$meta:meta])* $name:ident,)*) => {
        /// Stable diagnostic codes. Never renumber; retire a code by leaving it unused.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code {
            $($(#[$meta])* $name,)*
        }

        impl Code {
            /// Every code, in order.
            pub const ALL: &'static [Code] = &[$(Code::$name),*];
        }
    };
}

codes! {
    /// The file is not valid YAML.
    E001,
    /// A value has the wrong type (expected a mapping, a string, …).
    E002,
    /// A field the spec format does not know.
    E003,
    /// A required field is missing.
    E004,
    /// A value is not one of the allowed values.
    E005,
    /// `apiVersion`/`kind` are not `meshrender/v1alpha1` / `Mesh`.
    E010,
    /// The Istio version is not supported.
    E011,
    /// Two clusters have the same name.
    E012,
    /// A name is not a DNS-1123 label.
    E013,
    /// A remote cluster without `controlPlane`.
    E014,
    /// `controlPlane` names a cluster that does not exist.
    E015,
    /// `controlPlane` names a remote cluster.
    E016,
    /// A primary cluster with `controlPlane`.
    E017,
    /// A cluster needs an east-west gateway but has no `eastWestGateway.address`.
    E018,
    /// A primary must read this cluster but it has no `apiServer`.
    E019,
    /// A feature is used with an Istio version that does not have it.
    E020,
    /// A file named in the spec cannot be read.
    E021,
    /// A file named in the spec is malformed.
    E022,
    /// A federation service names a cluster or consumer that does not exist.
    E023,
    /// The federation address pool is invalid or too small.
    E024,
    /// A secret is rendered but `secrets.mode` is not set.
    E025,
    /// Plaintext mode needs the CA bundle (`caFile`) of a cluster a primary reads.
    E026,
    /// The settings section for the chosen secrets mode is missing.
    E027,
    /// `secrets.mode: sops` without valid age recipients (`secrets.sops.ageRecipients`).
    E028,
    /// The mesh has no clusters.
    E029,
    /// A malformed value: URL, address, path, label value, number range.
    E030,
    /// A hostname where the target Istio version needs an IP address (the east-west address of
    /// a primary whose remotes run their own istiod, Istio 1.8–1.14).
    E031,
    /// `istio.tag` or `istio.charts.version` is not a release of `istio.version`.
    E032,
    /// The output needs an exact chart version (Flux, Sail) and neither `istio.charts.version`
    /// nor `istio.tag` gives one.
    E033,
    /// The topology does not fit the data plane mode (ambient: multi-network multi-primary only).
    E034,
    /// `reads` on a cluster that runs no reading istiod (a remote; Istio before 1.8).
    E040,
    /// `reads` names a cluster the spec does not have.
    E041,
    /// `reads` names the cluster itself.
    E042,
    /// An explicit `reads` leaves out a remote the primary serves.
    E043,
    /// `reads` lists a cluster (or `"*"`) twice.
    E044,
    /// `reads` mixes `"*"` with cluster names.
    E045,
    /// An override changes a value meshrender derives from the topology or another spec field.
    E050,
    /// An override of a file this mesh or cluster does not render.
    E051,
    /// Warning: a federation consumer has no istiocoredns ClusterIP, so its CoreDNS stub is
    /// not rendered.
    W001,
    /// Warning: a hostname as the east-west address of a primary serving remotes becomes an
    /// ExternalName Service, which does not fit every load balancer (AWS EKS).
    W002,
    /// Warning: the Sail Operator release meshrender knows will not install this version
    /// (`eol`, or newer than its list).
    W003,
    /// Warning: plaintext mode without a cluster's `tokenFile`: the remote secrets that let
    /// primaries read it are pending (not rendered) until the token is given.
    W004,
    /// Warning: SOPS-sealed Secrets with Argo CD, which has no SOPS decryption of its own.
    W005,
    /// Warning: an IstioOperator override path the target Istio version does not have.
    W010,
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// One problem, located in the spec file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub code: Code,
    pub loc: Loc,
    pub message: String,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(code: Code, loc: Loc, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            loc,
            message: message.into(),
            help: None,
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Renders the diagnostic for a spec shown as `file`.
    pub fn display(&self, file: &str) -> String {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let message = terminal_safe(&self.message);
        let mut s = if self.loc.line == 0 {
            format!("{file}: {sev}[{}]: {message}", self.code)
        } else {
            format!(
                "{file}:{}:{}: {sev}[{}]: {message}",
                self.loc.line, self.loc.col, self.code
            )
        };
        if let Some(help) = &self.help {
            s.push_str("\n  help: ");
            s.push_str(&terminal_safe(help));
        }
        s
    }
}

/// Longest message or help shown, in characters: a value pasted by mistake (a 10 MB line)
/// never floods the terminal.
const MAX_SHOWN: usize = 600;

/// `s` fit for a terminal: control characters (escape sequences, newlines from a value) are
/// shown escaped, and anything beyond [`MAX_SHOWN`] characters is cut with a note.
pub fn terminal_safe(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(MAX_SHOWN + 32));
    for (i, c) in s.chars().enumerate() {
        if i == MAX_SHOWN {
            out.push_str(&format!(
                "… ({} more characters not shown)",
                s.chars().count() - i
            ));
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// A collected, sorted set of diagnostics for one spec file.
#[derive(Clone, Debug, Default)]
pub struct Diagnostics {
    pub items: Vec<Diagnostic>,
    /// Unknown keys that are a near miss of a field absent from their mapping, as
    /// `(mapping path, key position, the field meant)`: `spec::load` reads each as the field
    /// it misspells, so what only follows from the typo is not reported (root cause first).
    pub typos: Vec<(String, Loc, &'static str)>,
}

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.items.push(d);
    }

    pub fn error(&mut self, code: Code, loc: Loc, message: impl Into<String>) {
        self.push(Diagnostic::error(code, loc, message));
    }

    pub fn warning_help(
        &mut self,
        code: Code,
        loc: Loc,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        let mut d = Diagnostic::error(code, loc, message).with_help(help);
        d.severity = Severity::Warning;
        self.push(d);
    }

    pub fn error_help(
        &mut self,
        code: Code,
        loc: Loc,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.push(Diagnostic::error(code, loc, message).with_help(help));
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }

    /// Sorted by position, then code, then message; exact duplicates removed.
    pub fn sorted(mut self) -> Vec<Diagnostic> {
        self.items
            .sort_by(|a, b| (a.loc, a.code, &a.message).cmp(&(b.loc, b.code, &b.message)));
        self.items.dedup();
        self.items
    }

    /// Every diagnostic rendered for `file`, one per line (help lines indented), plus a summary.
    pub fn render(self, file: &str) -> String {
        let items = self.sorted();
        let errors = items
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count();
        let mut out = String::new();
        for d in &items {
            out.push_str(&d.display(file));
            out.push('\n');
        }
        if errors > 0 {
            out.push_str(&format!(
                "{file}: {errors} error{} found; nothing was rendered\n",
                if errors == 1 { "" } else { "s" }
            ));
        }
        out
    }
}

/// The diagnostics of one spec file, kept typed until they are printed (as text by
/// [`Report::render`]; a JSON form can be built from the same data).
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// The spec as shown in messages.
    pub file: String,
    pub diagnostics: Diagnostics,
}

impl Report {
    /// The text `validate` prints: one located line per diagnostic, sorted, and the summary.
    pub fn render(&self) -> String {
        self.diagnostics.clone().render(&self.file)
    }
}
