//! Tests of the `airlock` binary in one test binary: the command line itself and the real
//! MCP clients driving it.
//!
//! Not yet compiled, so not yet linked in: `api_fuzz.rs` (schemathesis against the HTTP
//! API), `crash.rs` (kill -9 and full-disk consistency) and their `support.rs`. Add
//! `mod api_fuzz; mod crash; mod support;` here once they build.

mod cli;
mod front_ends;
mod hostile_text;
mod mcp_clients;
