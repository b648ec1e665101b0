//! Every integration test in one binary (wasmtime's `tests/all` layout): wasmtime is linked
//! once, and the guest components are built once for all of them.

mod bad_inputs;
mod bounds;
mod cache;
mod capabilities;
mod catalog;
mod contracts;
mod discovery;
mod dynamic;
mod edges;
mod examples;
mod hostile;
mod http_api;
mod isolation;
mod jsonrpc;
mod lifecycle;
mod mcp;
mod oci;
mod outbound_http;
mod pipeline;
mod polyglot;
mod readme;
mod registry;
mod reload;
mod resources;
mod scale_out;
mod sessions;
mod streaming;
mod systems_app_factory;
mod systems_lleo;
mod systems_orchestrator;
mod systems_victor;
mod trust;
mod versions;
mod workloads;
