//! Tests of the `airlock` binary in one test binary: the command line itself and the real
//! MCP clients driving it.

mod api_fuzz;
mod cli;
mod console;
mod crash;
mod front_ends;
mod hostile_text;
mod mcp_clients;
mod new_build;
#[cfg(feature = "otel")]
mod otel;
mod publish;
mod readme;
mod scale_out;
mod support;
mod systems;
