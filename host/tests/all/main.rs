//! Tests of the `airlock` binary in one test binary: the command line itself and the real
//! MCP clients driving it.

mod cli;
mod mcp_clients;
mod publish;
