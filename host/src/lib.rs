//! # Airlock — run untrusted plugins as WebAssembly components
//!
//! A plugin is a WebAssembly component implementing one of the worlds in `wit/plugin.wit`
//! (`tool-plugin`, `hook-plugin` or `plugin` of `airlock:plugin@0.2.0`; plugins of 0.1.0,
//! `wit/v0.1.0/`, are served too), or a world of the host application's own. Airlock
//! compiles it once, and runs every call on a fresh or pooled instance under a fuel budget,
//! a wall-clock deadline and a memory cap.
//! A trap, a panic or a limit hit comes back as a typed [`CallError`]; the host and every
//! other plugin carry on.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use airlock::{CallContext, LoadOptions, Runtime};
//!
//! let runtime = Runtime::builder().build()?;
//! let calculator = runtime.load_file("calculator.wasm", LoadOptions::default()).await?;
//! let answer = calculator
//!     .call_tool("add", &serde_json::json!({"a": 1, "b": 2}), &CallContext::default())
//!     .await?;
//! assert_eq!(answer["result"], 3.0);
//! # Ok(()) }
//! ```
//!
//! This crate runs plugins in-process. Serving them to other processes (the tenant
//! registry, JSON-RPC, MCP, the HTTP API, OCI registries) is `airlock-server`; the
//! `airlock` command is `airlock-cli`.
//!
//! Data flows one way: bytes → [`component`] checks → compile → [`plugin::Plugin`]
//! (`InstancePre` + instance pool) → a call under [`Limits`].

mod bindings;
pub mod build;
pub mod cache;
pub mod capabilities;
pub mod catalog;
pub mod component;
pub mod context;
pub mod contract;
pub mod digest;
pub mod dynamic;
mod engine;
mod error;
pub mod folder;
#[doc(hidden)]
pub mod fuzzing;
pub mod handles;
pub mod interface;
mod isolation;
pub mod limits;
pub mod log_budget;
pub mod log_tap;
pub mod manifest;
pub mod pipeline;
pub mod plugin;
pub mod policy;
pub mod progress;
mod runtime;
mod schema;
mod store;
pub mod text;
pub mod trust;
mod types;
pub mod units;

pub use catalog::{Catalog, ToolFilter};
pub use component::World;
pub use context::{SessionLimits, Sessions};
pub use engine::InstancePool;
pub use error::{CallError, LoadError};
pub use isolation::Isolation;
pub use limits::{LimitTable, Limits};
pub use pipeline::{Dispatch, Pipeline};
pub use plugin::Plugin;
pub use runtime::{LoadOptions, Runtime, RuntimeBuilder};
pub use store::{HostStateFactory, InstanceState};
pub use types::{
    CallContext, Health, HealthStatus, HookKind, HookOutcome, Metadata, ToolDefinition,
};
/// The wasmtime this runtime is built on, for embedders' `bindgen!` (`wasmtime_crate:
/// airlock::wasmtime`), so their bindings match its types.
pub use wasmtime;

/// The version of this host, checked against each plugin's `host-versions` range.
pub const HOST_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The `tracing` targets of what plugins write: their log records (`airlock:plugin/host`
/// `log`) and their captured stdout and stderr lines. A log filter that lets these through
/// at `info` shows everything a plugin says (already escaped, see [`text`]).
pub const PLUGIN_LOG_TARGETS: [&str; 2] = [
    capabilities::base::LOG_TARGET,
    capabilities::stdio::LOG_TARGET,
];

/// The WIT package plugins implement: the latest version, which the SDKs build against
/// (plugins of the earlier versions in [`WIT_VERSIONS`] are served too).
pub const WIT_PACKAGE: &str = "airlock:plugin@0.2.0";

/// Every version of `airlock:plugin` this host serves, oldest first (`wit/v0.1.0/`,
/// `wit/plugin.wit`).
pub const WIT_VERSIONS: &[&str] = bindings::VERSIONS;
