//! Tests of the `airlock` binary in one test binary: the command line itself and the real
//! MCP clients driving it.

mod cli;
mod front_ends;
mod hostile_text;
mod mcp_clients;
