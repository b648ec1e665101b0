//! Why a module cannot be enabled: each message names the module and the tool, says what is
//! wrong, and what the operator can do about it. Text the module or a tool chose is cut
//! short and escaped ([`shown`]) before it reaches a message.

use std::path::PathBuf;

use semver::{Version, VersionReq};

/// Longest piece of module- or tool-chosen text quoted in a message, in bytes.
const SHOWN_BYTES: usize = 80;

/// `text` cut to about [`SHOWN_BYTES`] and escaped for a terminal or log
/// (`airlock::text::escape`).
pub(crate) fn shown(text: &str) -> String {
    let cut = &text[..text.floor_char_boundary(SHOWN_BYTES)];
    let ellipsis = if cut.len() < text.len() { "…" } else { "" };
    format!("{}{ellipsis}", airlock::text::escape(cut))
}

/// Why [`crate::enable`] refused a module.
#[derive(Debug, thiserror::Error)]
pub enum EnableError {
    #[error(
        "plugin `{plugin}` is not an LLEO module: its manifest must say \
         `contract = \"{contract}\"`",
        contract = crate::CONTRACT
    )]
    NotAModule { plugin: String },

    #[error("asking the module which tools it requires failed: {0}")]
    RequiredTools(Box<airlock::CallError>),

    #[error("module `{plugin}` cannot be enabled: its required tools are unreadable: {problem}")]
    BadRequirements { plugin: String, problem: String },

    #[error(
        "module `{plugin}` cannot be enabled: {} of its required tools cannot be used:{}",
        problems.len(),
        problems.iter().map(|p| format!("\n  - {p}")).collect::<String>()
    )]
    Tools {
        plugin: String,
        problems: Vec<ToolProblem>,
    },
}

/// Why one required tool cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolProblem {
    #[error(
        "`{tool}` is not in the plugin's exec grant: add an entry for it to the manifest's \
         `[capabilities] exec` and to the policy's `exec` for this plugin, with the \
         arguments the module runs it with"
    )]
    NotGranted { tool: String },

    #[error(
        "`{tool}` is not installed on this host: no executable `{tool}` in {searched}, \
         where exec looks for programs; install it there (or grant its absolute path)"
    )]
    Missing { tool: String, searched: String },

    #[error(
        "`{tool}` is not installed on this host: {} is not an executable file; install it \
         there, or grant (and require) the path where it is",
        path.display()
    )]
    MissingAt { tool: String, path: PathBuf },

    #[error("`{tool} --version` failed on this host ({reason}); check that `{tool}` runs there")]
    VersionFailed { tool: String, reason: String },

    #[error(
        "`{tool} --version` printed no version number (it printed `{printed}`); the module \
         needs {wanted}: check that this is the right program"
    )]
    NoVersion {
        tool: String,
        printed: String,
        wanted: VersionReq,
    },

    #[error(
        "`{tool}` is version {found} at {}, too old: the module needs {wanted}; upgrade it",
        path.display()
    )]
    TooOld {
        tool: String,
        path: PathBuf,
        found: Version,
        wanted: VersionReq,
    },

    #[error(
        "`{tool}` is version {found} at {}, which the module does not accept: it needs \
         {wanted}; install a matching version",
        path.display()
    )]
    NotAccepted {
        tool: String,
        path: PathBuf,
        found: Version,
        wanted: VersionReq,
    },
}

impl ToolProblem {
    /// The tool this is about.
    pub fn tool(&self) -> &str {
        match self {
            ToolProblem::NotGranted { tool }
            | ToolProblem::Missing { tool, .. }
            | ToolProblem::MissingAt { tool, .. }
            | ToolProblem::VersionFailed { tool, .. }
            | ToolProblem::NoVersion { tool, .. }
            | ToolProblem::TooOld { tool, .. }
            | ToolProblem::NotAccepted { tool, .. } => tool,
        }
    }
}
