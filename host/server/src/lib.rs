//! # airlock-server — Airlock plugins for other processes
//!
//! Built on the runtime library [`airlock`], which runs plugins in-process: this crate adds
//! what serves them to other processes and tenants, and what an embedder who only runs
//! plugins does not compile (SQLite, PostgreSQL, notify, axum, an HTTP client):
//!
//! - [`registry`]: plugins installed once and enabled per tenant with that tenant's
//!   configuration, persisted in SQLite or in PostgreSQL shared by many hosts (feature
//!   `postgres`, on by default), hot reload, dependencies, API tokens;
//! - [`discovery`]: the plugin search path;
//! - [`phases`]: the orchestrator's domain plugins, their phases run in order with timeouts,
//!   retries and outputs passed on through the session context;
//! - [`serve`]: JSON-RPC 2.0 and MCP on stdio, streamable-HTTP MCP and the admin HTTP API;
//! - [`oci`] (feature `oci`, on by default): plugin folders pushed to and pulled from OCI
//!   registries.

pub mod discovery;
#[cfg(feature = "oci")]
pub mod oci;
pub mod phases;
pub mod registry;
pub mod serve;
