//! Fuzz target `mcp`: raw bytes on the MCP stdio front end (`airlock mcp`): the same line
//! framing and JSON-RPC parsing as `jsonrpc`, then `McpServer`'s handling of both protocol
//! generations (`initialize`/`ping`, and the stateless 2026-07-28 with its `_meta`),
//! `server/discover`, `tools/list` and `tools/call` for a tenant with no plugin enabled.
//!
//! Checks: everything the `jsonrpc` target checks of the answers; and, asking the server
//! directly for each request of a frame: a notification gets no answer; a request in the
//! stateless generation is answered in it (`resultType: "complete"` and the server's
//! identity in `_meta`); `initialize` picks a protocol version the server speaks.

#![no_main]

use std::sync::{Arc, OnceLock};

use airlock_server::serve::McpServer;
use airlock_server::serve::jsonrpc::{self, Frame, Request};
use airlock_server::serve::mcp::{LEGACY, MODERN};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fn server() -> Arc<McpServer> {
    static SERVER: OnceLock<Arc<McpServer>> = OnceLock::new();
    SERVER
        .get_or_init(|| Arc::new(McpServer::new(airlock_fuzz::registry(), "fuzz")))
        .clone()
}

fuzz_target!(|data: &[u8]| {
    airlock_fuzz::serve_and_check(server(), data);
    for line in data.split(|b| *b == b'\n') {
        let requests = match jsonrpc::parse(&String::from_utf8_lossy(line)) {
            Frame::Single(Ok(request)) => vec![request],
            Frame::Batch(items) => items.into_iter().flatten().collect(),
            _ => continue,
        };
        for request in requests {
            check_direct(&server(), &request);
        }
    }
});

fn check_direct(server: &McpServer, request: &Request) {
    let answer = airlock_fuzz::runtime().block_on(server.respond(request));
    let Ok(answer) = answer else { return };
    if request.is_notification() {
        assert!(answer.is_none(), "a notification was answered: {request:?}");
        return;
    }
    let result = answer.unwrap_or_else(|| panic!("a request got no answer: {request:?}"));
    let meta = &request.params["_meta"];
    if meta["io.modelcontextprotocol/protocolVersion"] == MODERN {
        assert_eq!(result["resultType"], "complete", "{request:?} → {result}");
        assert!(
            result["_meta"]["io.modelcontextprotocol/serverInfo"].is_object(),
            "{result}"
        );
    } else if request.method == "initialize" {
        let version = result["protocolVersion"].as_str().unwrap_or_default();
        assert!(LEGACY.contains(&version), "initialize answered {result}");
        assert!(
            !result.get("resultType").is_some_and(Value::is_string),
            "{result}"
        );
    }
}
