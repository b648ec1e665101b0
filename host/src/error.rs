//! The typed errors of the library: [`LoadError`] when a plugin cannot be loaded,
//! [`CallError`] when one call fails. Every message names the plugin and the problem.

use std::path::PathBuf;
use std::time::Duration;

/// Why a plugin could not be loaded. Nothing is half-loaded: on error there is no plugin.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read plugin file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("{what} is not WebAssembly (it does not start with the `\\0asm` magic bytes)")]
    NotWasm { what: String },

    #[error(
        "{what} is a core WebAssembly module, not a component; build the plugin for \
         `wasm32-wasip2` (or run it through `wasm-tools component new`)"
    )]
    CoreModule { what: String },

    #[error("{what} is not a valid WebAssembly component: {reason}")]
    Invalid { what: String, reason: String },

    #[error(
        "{what} does not implement an Airlock world: it exports [{found}], but a plugin must \
         export `airlock:plugin/lifecycle@0.2.0` plus `tools` and/or `hooks`, all of one \
         version (worlds `tool-plugin`, `hook-plugin`, `plugin` of `airlock:plugin@0.2.0`, \
         or of 0.1.0, which is still served); a \
         component of the host's own contract declares it in its manifest: \
         `[plugin] contract = \"namespace:package/interface@version\"`"
    )]
    WrongWorld { what: String, found: String },

    /// A component of a host contract exporting Airlock interfaces beside it other than one
    /// `lifecycle` of a served version: they would be neither called nor offered.
    #[error(
        "{what} declares a host contract, so of Airlock's own interfaces it may export only \
         `lifecycle` (of `airlock:plugin@0.2.0` or 0.1.0), beside the contract: it exports \
         [{found}]; drop those exports from its world, or implement an Airlock world \
         (`tool-plugin`, `hook-plugin`, `plugin`) without declaring a contract"
    )]
    AirlockExportsBesideContract { what: String, found: String },

    #[error(
        "plugin `{plugin}` does not implement contract `{contract}`: {}",
        problems.join("; ")
    )]
    Contract {
        plugin: String,
        contract: String,
        problems: Vec<String>,
    },

    #[error(
        "{what} imports interfaces no Airlock capability provides, so it was refused: {}",
        imports.join(", ")
    )]
    UnknownImports { what: String, imports: Vec<String> },

    #[error("{what} cannot be linked: {reason}")]
    Link { what: String, reason: String },

    #[error("plugin `{plugin}` reports invalid metadata: {reason}")]
    BadMetadata { plugin: String, reason: String },

    #[error("plugin `{plugin}` needs Airlock host {required}, but this host is {host}")]
    IncompatibleHost {
        plugin: String,
        required: String,
        host: String,
    },

    #[error("plugin `{plugin}` tool `{tool}` has an unusable input schema: {reason}")]
    BadToolSchema {
        plugin: String,
        tool: String,
        reason: String,
    },

    #[error("plugin `{plugin}` failed to start: {source}")]
    Start {
        plugin: String,
        #[source]
        source: Box<CallError>,
    },

    #[error("{0}")]
    Manifest(#[from] crate::manifest::ManifestError),

    #[error(
        "plugin `{plugin}` is not pinned: its manifest has no `sha256`; after reviewing the \
         component, add `sha256 = \"{actual}\"` to [plugin]"
    )]
    Unpinned { plugin: String, actual: String },

    #[error(
        "plugin `{plugin}` failed its integrity check: the manifest pins sha256 {expected}, \
         but the component is {actual}; refused"
    )]
    DigestMismatch {
        plugin: String,
        expected: String,
        actual: String,
    },

    #[error(
        "plugin `{plugin}`: the policy only allows the component with sha256 {pinned}, but this one is {actual}"
    )]
    PolicyPin {
        plugin: String,
        pinned: String,
        actual: String,
    },

    #[error(
        "plugin `{plugin}` requests capabilities the policy does not grant:{}{}",
        missing.iter().map(|m| format!("\n  - {m}")).collect::<String>(),
        pin.as_ref().map_or(String::new(), |line| format!(
            "\n  and pin the component those grants are for, in the same table: {line} \
             (policy allowances are keyed by plugin name; the pin keeps another folder \
             claiming the name from getting them)"
        ))
    )]
    Denied {
        plugin: String,
        missing: Vec<crate::capabilities::Missing>,
        /// `sha256 = "…"`, when the component's digest is known and the policy does not pin
        /// it yet.
        pin: Option<String>,
    },

    #[error(
        "the configuration of plugin `{plugin}` violates its schema: {}",
        problems.join("; ")
    )]
    BadConfig {
        plugin: String,
        problems: Vec<String>,
    },

    #[error(
        "{manifest} says the plugin is `{expected}`, but the component calls itself `{actual}`"
    )]
    NameMismatch {
        manifest: String,
        expected: String,
        actual: String,
    },

    /// The signature check (`[trust]`) refused the plugin; see [`crate::trust::TrustError`].
    #[error(transparent)]
    Trust(#[from] crate::trust::TrustError),

    #[error("the runtime could not be configured: {0}")]
    Engine(String),

    #[error(
        "plugin `{plugin}` may use up to {cap} {what}, more than the runtime's instance pool \
         holds per instance ({slot}); lower the plugin's limit or build the runtime with a \
         larger pool (`RuntimeBuilder::instance_pool`, `RuntimeBuilder::fit_policy`)"
    )]
    PoolTooSmall {
        plugin: String,
        /// Which cap: `bytes of memory` or `table elements`.
        what: &'static str,
        cap: usize,
        slot: usize,
    },

    /// Compiling took longer than the runtime's compile budget
    /// ([`RuntimeBuilder::compile_timeout`](crate::RuntimeBuilder::compile_timeout)). The
    /// compilation may go on in the background, but its result is thrown away.
    #[error(
        "compiling {what} took longer than the budget of {budget:?}, so it was refused (a \
         very large component, or one crafted to compile slowly)"
    )]
    CompileTimeout { what: String, budget: Duration },
}

/// Why one call into a plugin failed. Limit hits and traps discard the instance that hit
/// them; the next call gets a fresh, re-initialised instance.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    #[error("plugin `{plugin}` ran out of fuel ({budget} units) and was stopped")]
    FuelExhausted { plugin: String, budget: u64 },

    #[error("plugin `{plugin}` exceeded its deadline of {deadline:?} and was stopped")]
    DeadlineExceeded { plugin: String, deadline: Duration },

    #[error("plugin `{plugin}` hit its memory limit of {limit} bytes and was stopped")]
    MemoryLimit { plugin: String, limit: usize },

    #[error("plugin `{plugin}` hit its table limit of {limit} elements and was stopped")]
    TableLimit { plugin: String, limit: usize },

    /// The instance held as many host handles (open files, sockets, streams) as it may:
    /// `limit`, set by `set_by` (its per-instance limit, or what was left of its plugin's or
    /// the process's descriptor budget).
    #[error(
        "plugin `{plugin}` hit its handle limit of {limit} open handles (files, sockets, \
         streams; set by {set_by}) and was stopped; close handles it no longer needs"
    )]
    HandleLimit {
        plugin: String,
        limit: usize,
        set_by: &'static str,
    },

    #[error(
        "plugin `{plugin}` tried to pass more than {limit} bytes to the host in one call \
         (output too large) and was stopped"
    )]
    OutputTooLarge { plugin: String, limit: usize },

    #[error("{what} for plugin `{plugin}` is {size} bytes, over the limit of {limit}")]
    InputTooLarge {
        plugin: String,
        what: &'static str,
        size: usize,
        limit: usize,
    },

    #[error("plugin `{plugin}` trapped: {message}{}", panic.as_ref().map(|p| format!(" (panic: {p})")).unwrap_or_default())]
    Trap {
        plugin: String,
        message: String,
        panic: Option<String>,
    },

    #[error("plugin `{plugin}` returned error {code}: {message}")]
    Plugin {
        plugin: String,
        code: u32,
        message: String,
        details: Option<serde_json::Value>,
    },

    #[error("bad arguments for `{plugin}.{tool}`: {}", problems.join("; "))]
    BadArguments {
        plugin: String,
        tool: String,
        problems: Vec<String>,
    },

    /// Checking the arguments against the tool's schema took longer than the plugin's
    /// deadline. The plugin never ran; its instance is kept. (The schema passed the
    /// load-time caps, but its cost times the arguments' size was still too much.)
    #[error(
        "checking the arguments of `{plugin}.{tool}` against its input schema took longer \
         than the deadline of {deadline:?}, so the call was refused before the plugin ran \
         (send smaller arguments, or ask the plugin's author for a simpler schema)"
    )]
    ValidationTimeout {
        plugin: String,
        tool: String,
        deadline: Duration,
    },

    #[error(
        "plugin `{plugin}` has no tool `{tool}` ({})",
        offered(plugin, available)
    )]
    UnknownTool {
        plugin: String,
        tool: String,
        available: Vec<String>,
    },

    #[error("plugin `{plugin}` broke the contract: {reason}")]
    Protocol { plugin: String, reason: String },

    #[error("plugin `{plugin}` is shut down")]
    ShutDown { plugin: String },

    /// The plugin failed (trapped, hit a limit) too many times in a row; calls fail fast
    /// until a trial call after the cool-down is answered ([`crate::LoadOptions::failure_cooldown`]),
    /// or it is reset, reloaded or enabled again. `reason` says which, and how to reset.
    #[error("plugin `{plugin}` is marked failing: {reason}")]
    Failing { plugin: String, reason: String },

    /// The runtime's instance pool had no free slot for a new instance (too many instances
    /// alive across all plugins). Nothing ran; the call may be retried.
    #[error("no instance of plugin `{plugin}` could be started: {reason}")]
    Busy { plugin: String, reason: String },

    /// The caller cancelled the call ([`crate::plugin::cancellable`]: a JSON-RPC
    /// `$/cancelRequest`, an MCP `notifications/cancelled`). The guest was stopped at its
    /// next fuel yield, or its host call abandoned, and its instance discarded.
    #[error("the call to plugin `{plugin}` was cancelled by its caller")]
    Cancelled { plugin: String },
}

impl CallError {
    /// The plugin the error is about.
    pub fn plugin(&self) -> &str {
        match self {
            CallError::FuelExhausted { plugin, .. }
            | CallError::DeadlineExceeded { plugin, .. }
            | CallError::MemoryLimit { plugin, .. }
            | CallError::TableLimit { plugin, .. }
            | CallError::HandleLimit { plugin, .. }
            | CallError::OutputTooLarge { plugin, .. }
            | CallError::InputTooLarge { plugin, .. }
            | CallError::Trap { plugin, .. }
            | CallError::Plugin { plugin, .. }
            | CallError::BadArguments { plugin, .. }
            | CallError::ValidationTimeout { plugin, .. }
            | CallError::UnknownTool { plugin, .. }
            | CallError::Protocol { plugin, .. }
            | CallError::ShutDown { plugin }
            | CallError::Failing { plugin, .. }
            | CallError::Busy { plugin, .. }
            | CallError::Cancelled { plugin } => plugin,
        }
    }

    /// A short stable name for the kind of error, e.g. `fuel-exhausted` (for logs, JSON and
    /// exit codes).
    pub fn kind(&self) -> &'static str {
        match self {
            CallError::FuelExhausted { .. } => "fuel-exhausted",
            CallError::DeadlineExceeded { .. } => "deadline-exceeded",
            CallError::MemoryLimit { .. } => "memory-limit",
            CallError::TableLimit { .. } => "table-limit",
            CallError::HandleLimit { .. } => "handle-limit",
            CallError::OutputTooLarge { .. } => "output-too-large",
            CallError::InputTooLarge { .. } => "input-too-large",
            CallError::Trap { .. } => "trap",
            CallError::Plugin { .. } => "plugin-error",
            CallError::BadArguments { .. } => "bad-arguments",
            CallError::ValidationTimeout { .. } => "validation-timeout",
            CallError::UnknownTool { .. } => "unknown-tool",
            CallError::Protocol { .. } => "protocol",
            CallError::ShutDown { .. } => "shut-down",
            CallError::Failing { .. } => "failing",
            CallError::Busy { .. } => "busy",
            CallError::Cancelled { .. } => "cancelled",
        }
    }

    /// True when the instance that produced this error was discarded (a trap or a limit
    /// hit), as opposed to an error the plugin or the host reported on purpose.
    pub fn discards_instance(&self) -> bool {
        matches!(
            self,
            CallError::FuelExhausted { .. }
                | CallError::DeadlineExceeded { .. }
                | CallError::MemoryLimit { .. }
                | CallError::TableLimit { .. }
                | CallError::HandleLimit { .. }
                | CallError::OutputTooLarge { .. }
                | CallError::Trap { .. }
                | CallError::Protocol { .. }
                | CallError::Cancelled { .. }
        )
    }
}

/// What an unknown tool's error says is there instead: the plugin's own tools, or, when
/// the plugin does not run for the caller (`available` then holds the tenant's namespaced
/// tools, or nothing), that it is not enabled.
fn offered(plugin: &str, available: &[String]) -> String {
    let prefix = format!("{plugin}.");
    let elsewhere = available
        .iter()
        .all(|t| t.contains('.') && !t.starts_with(&prefix));
    match (available.is_empty(), elsewhere) {
        (true, _) => format!("no plugin `{plugin}` offers tools to this tenant: is it enabled?"),
        (false, true) => format!(
            "no plugin `{plugin}` runs for this tenant: is it enabled? The tenant's tools: {}",
            available.join(", ")
        ),
        (false, false) => format!("it has: {}", available.join(", ")),
    }
}
