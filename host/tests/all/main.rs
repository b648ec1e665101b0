//! Tests of the `airlock` binary in one test binary: the command line itself, the real
//! MCP clients driving it, the HTTP API under a fuzzer, and crashes and full disks.

mod api_fuzz;
mod cli;
mod crash;
mod mcp_clients;
mod support;
