//! # airlock-sdk — write Airlock plugins in plain Rust
//!
//! An Airlock plugin is a WebAssembly component (`wasm32-wasip2`) that implements one of
//! the worlds in `wit/plugin.wit`. This crate hides the generated bindings: you write an
//! ordinary Rust type, implement [`Plugin`], register typed tools and/or hooks, and export it
//! with one macro.
//!
//! ```ignore
//! use airlock_sdk::prelude::*;
//!
//! #[derive(Deserialize, JsonSchema)]
//! struct AddArgs { a: f64, b: f64 }
//!
//! struct Calculator;
//!
//! impl Plugin for Calculator {
//!     type Config = NoConfig;
//!     fn metadata() -> Metadata {
//!         Metadata::new("calculator", env!("CARGO_PKG_VERSION")).description("Arithmetic")
//!     }
//!     fn init(_: NoConfig) -> Result<Self, PluginError> { Ok(Calculator) }
//!     fn tools(tools: &mut Tools<Self>) {
//!         tools.tool("add", "Add two numbers", |_, args: AddArgs, _| Ok(args.a + args.b));
//!     }
//! }
//!
//! airlock_sdk::export_tool_plugin!(Calculator);
//! ```
//!
//! Build with `cargo build --target wasm32-wasip2 --release`; the `.wasm` in
//! `target/wasm32-wasip2/release/` is the component.

mod bindings;
mod context;
mod error;
pub mod exec;
mod export;
mod hooks;
#[cfg(feature = "http")]
pub mod http;
pub mod log;
mod plugin;
pub mod progress;
mod tools;

pub use context::{CallContext, session};
pub use error::PluginError;
pub use hooks::{HookKind, HookOutcome, Hooks};
pub use plugin::{Health, HealthStatus, Metadata, NoConfig, Plugin};
pub use tools::Tools;

/// Everything a plugin usually needs, including serde's and schemars' derives.
pub mod prelude {
    pub use crate::{
        CallContext, Health, HealthStatus, HookKind, HookOutcome, Hooks, Metadata, NoConfig,
        Plugin, PluginError, Tools,
    };
    pub use schemars::JsonSchema;
    pub use serde::{Deserialize, Serialize};
    pub use serde_json::{Value, json};
}

/// Re-exports used by the export macros. Not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::bindings::{hook_world, plugin_world, tool_world};
    pub use crate::export::Adapter;
    pub use wit_bindgen;
}
