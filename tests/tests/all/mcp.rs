//! MCP on real plugins, through the same code paths as `airlock mcp`: the handshake
//! generation over a newline-delimited stream, the stateless 2026-07-28 generation, tool
//! failures as `isError` results, `list_changed` after a reload, and the streamable HTTP
//! endpoint's sessions, headers and DNS-rebinding protection.

use std::sync::Arc;
use std::time::Duration;

use airlock_server::registry::Registry;
use airlock_server::serve::{McpServer, announce_tool_changes, http};
use airlock_tests::http::{mcp_post, request};
use airlock_tests::line_client::LineClient;
use airlock_tests::{TempDir, guests, plugin_folder, write_plugin_folder};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

struct Fixture {
    registry: Arc<Registry>,
    state: TempDir,
    _hostile: TempDir,
}

async fn fixture() -> Fixture {
    let state = TempDir::new("mcp");
    let registry = Arc::new(airlock_tests::registry(&state));
    let hostile = plugin_folder("hostile", guests::HOSTILE, "[limits]\nfuel = 50000000\n");
    registry
        .install(std::path::Path::new(guests::CALCULATOR_DIR))
        .await
        .unwrap();
    registry.install(hostile.path()).await.unwrap();
    registry
        .enable("acme", "calculator", json!({}))
        .await
        .unwrap();
    registry.enable("acme", "hostile", json!({})).await.unwrap();
    Fixture {
        registry,
        state,
        _hostile: hostile,
    }
}

/// A client on an in-memory newline-delimited stream to an MCP server that announces
/// tool-list changes.
struct Stream;

impl Stream {
    fn start(server: McpServer) -> LineClient {
        let (outbox, inbox) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(announce_tool_changes(server.clone(), outbox.clone()));
        LineClient::start_with(server, (outbox, inbox))
    }
}

fn modern_meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn the_handshake_generation_lists_and_calls_tools() {
    let f = fixture().await;
    let mut s = Stream::start(McpServer::new(f.registry.clone(), "acme"));
    let init = s
        .call(1, "initialize", json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}))
        .await;
    assert_eq!(init["result"]["protocolVersion"], "2025-11-25");
    assert_eq!(init["result"]["capabilities"]["tools"]["listChanged"], true);
    assert_eq!(init["result"]["serverInfo"]["name"], "airlock");
    let older = s
        .call(2, "initialize", json!({"protocolVersion": "2025-03-26"}))
        .await;
    assert_eq!(
        older["result"]["protocolVersion"], "2025-03-26",
        "a supported version is echoed"
    );
    let unknown = s
        .call(3, "initialize", json!({"protocolVersion": "1999-01-01"}))
        .await;
    assert_eq!(
        unknown["result"]["protocolVersion"], "2025-11-25",
        "else the newest"
    );
    s.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        .await;
    assert_eq!(s.call(4, "ping", json!({})).await["result"], json!({}));

    let list = s.call(5, "tools/list", json!({})).await;
    let tools = list["result"]["tools"].as_array().unwrap();
    let add = tools
        .iter()
        .find(|t| t["name"] == "calculator.add")
        .expect("calculator.add listed");
    assert_eq!(add["inputSchema"]["type"], "object");
    assert!(add["description"].as_str().is_some_and(|d| !d.is_empty()));
    assert!(
        list["result"].get("ttlMs").is_none(),
        "no stateless fields in this generation"
    );

    let sum = s
        .call(
            6,
            "tools/call",
            json!({"name": "calculator.add", "arguments": {"a": 2, "b": 3}}),
        )
        .await;
    assert_eq!(sum["result"]["isError"], false);
    let text: Value =
        serde_json::from_str(sum["result"]["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(text, json!({"result": 5.0}));
    assert_eq!(sum["result"]["structuredContent"], json!({"result": 5.0}));
    // A string result is its text, not the text's JSON quoting.
    let echo = s
        .call(
            60,
            "tools/call",
            json!({"name": "hostile.echo", "arguments": {"text": "Hello, Ada!"}}),
        )
        .await;
    assert_eq!(
        echo["result"]["content"][0]["text"], "Hello, Ada!",
        "{echo}"
    );

    // Failures of the tool are results with isError, each with a readable message.
    for (id, name, arguments, kind) in [
        (
            7,
            "calculator.divide",
            json!({"a": 1, "b": 0}),
            "[plugin-error]",
        ),
        (8, "hostile.panic", json!({"text": "boom"}), "[trap]"),
        (9, "hostile.spin", json!({}), "[fuel-exhausted]"),
        (10, "calculator.add", json!({"a": "two"}), "[bad-arguments]"),
    ] {
        let failed = s
            .call(
                id,
                "tools/call",
                json!({"name": name, "arguments": arguments}),
            )
            .await;
        assert_eq!(failed["result"]["isError"], true, "{failed}");
        let message = failed["result"]["content"][0]["text"].as_str().unwrap();
        assert!(message.starts_with(kind), "{message}");
    }
    let unknown_tool = s
        .call(
            11,
            "tools/call",
            json!({"name": "calculator.pow", "arguments": {}}),
        )
        .await;
    assert_eq!(unknown_tool["error"]["code"], -32602);
    assert_eq!(
        s.call(12, "resources/list", json!({})).await["error"]["code"],
        -32601
    );
    // The server is fine after all that.
    assert_eq!(s.call(13, "ping", json!({})).await["result"], json!({}));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_stateless_generation_needs_no_handshake() {
    let f = fixture().await;
    let mut s = Stream::start(McpServer::new(f.registry.clone(), "acme"));
    let discover = s
        .call(1, "server/discover", json!({"_meta": modern_meta()}))
        .await;
    let result = &discover["result"];
    assert_eq!(result["resultType"], "complete");
    assert!(
        result["supportedVersions"]
            .as_array()
            .unwrap()
            .contains(&json!("2026-07-28"))
    );
    assert!(
        result["supportedVersions"]
            .as_array()
            .unwrap()
            .contains(&json!("2025-11-25"))
    );
    assert_eq!(
        result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "airlock"
    );
    assert!(result["ttlMs"].is_u64() && result["cacheScope"].is_string());

    let list = s
        .call(2, "tools/list", json!({"_meta": modern_meta()}))
        .await;
    assert_eq!(list["result"]["resultType"], "complete");
    assert!(list["result"]["ttlMs"].is_u64());
    let call = s
        .call(3, "tools/call", json!({"_meta": modern_meta(), "name": "calculator.add", "arguments": {"a": 1, "b": 1}}))
        .await;
    assert_eq!(call["result"]["resultType"], "complete");
    assert_eq!(call["result"]["structuredContent"], json!({"result": 2.0}));

    let mut old = modern_meta();
    old["io.modelcontextprotocol/protocolVersion"] = json!("1900-01-01");
    let unsupported = s.call(4, "tools/list", json!({"_meta": old})).await;
    assert_eq!(unsupported["error"]["code"], -32022);
    assert_eq!(unsupported["error"]["data"]["requested"], "1900-01-01");
    let no_caps = s
        .call(
            5,
            "tools/list",
            json!({"_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}}),
        )
        .await;
    assert_eq!(no_caps["error"]["code"], -32602);
    for (id, removed) in [(6, "initialize"), (7, "ping")] {
        let reply = s.call(id, removed, json!({"_meta": modern_meta()})).await;
        assert_eq!(
            reply["error"]["code"], -32601,
            "{removed} is gone in 2026-07-28"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reload_that_changes_the_tools_is_announced() {
    let f = fixture().await;
    let folder = f.state.path().join("versioned");
    write_plugin_folder(&folder, "versioned", "1.0.0", guests::VERSIONED, "");
    f.registry.install(&folder).await.unwrap();
    f.registry
        .enable("acme", "versioned", json!({}))
        .await
        .unwrap();
    let mut s = Stream::start(McpServer::new(f.registry.clone(), "acme"));
    let before = s.call(1, "tools/list", json!({})).await;
    assert!(!before.to_string().contains("versioned.farewell"));

    // Same tools after a reload to the same version: nothing announced (checked below by
    // the next message being the reply to request 2).
    f.registry.reload("versioned").await.unwrap();
    assert_eq!(s.call(2, "ping", json!({})).await["result"], json!({}));

    write_plugin_folder(&folder, "versioned", "2.0.0", guests::VERSIONED_V2, "");
    f.registry.reload("versioned").await.unwrap();
    let note = s.recv().await;
    assert_eq!(
        note,
        json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
    );
    let after = s.call(3, "tools/list", json!({})).await;
    assert!(after.to_string().contains("versioned.farewell"));
}

async fn serve_http(f: &Fixture) -> std::net::SocketAddr {
    let app = http::mcp::router(McpServer::new(f.registry.clone(), "acme"), vec![]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(http::serve(listener, app, std::future::pending()));
    address
}

#[tokio::test(flavor = "multi_thread")]
async fn streamable_http_sessions_headers_and_origins() {
    let f = fixture().await;
    let address = serve_http(&f).await;
    let json_headers = [
        ("Content-Type", "application/json"),
        ("Accept", "application/json, text/event-stream"),
    ];
    let post = |headers: Vec<(&'static str, String)>, body: Value| async move {
        let mut all: Vec<(&str, &str)> = json_headers.to_vec();
        all.extend(headers.iter().map(|(n, v)| (*n, v.as_str())));
        request(address, "POST", "/mcp", &all, body.to_string().as_bytes()).await
    };
    let init = post(vec![], json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}}})).await;
    assert_eq!(init.status, 200);
    assert_eq!(init.json()["result"]["protocolVersion"], "2025-11-25");
    let session = init
        .header("mcp-session-id")
        .expect("a session id")
        .to_string();
    let with_session = |extra: Vec<(&'static str, String)>| {
        let mut headers = vec![
            ("Mcp-Session-Id", session.clone()),
            ("MCP-Protocol-Version", "2025-11-25".to_string()),
        ];
        headers.extend(extra);
        headers
    };
    let initialized = post(
        with_session(vec![]),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await;
    assert_eq!(initialized.status, 202);
    assert!(initialized.body.is_empty());
    let list = post(
        with_session(vec![]),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
    )
    .await;
    assert_eq!(list.status, 200);
    assert!(list.json()["result"]["tools"].as_array().unwrap().len() >= 4);
    let call = post(with_session(vec![]), json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "calculator.add", "arguments": {"a": 20, "b": 22}}})).await;
    assert_eq!(
        call.json()["result"]["structuredContent"],
        json!({"result": 42.0})
    );

    let no_session = post(
        vec![],
        json!({"jsonrpc": "2.0", "id": 4, "method": "tools/list"}),
    )
    .await;
    assert_eq!(no_session.status, 400);
    let bad_session = post(
        vec![("Mcp-Session-Id", "nope".into())],
        json!({"jsonrpc": "2.0", "id": 5, "method": "tools/list"}),
    )
    .await;
    assert_eq!(bad_session.status, 404);
    let bad_version = post(
        vec![
            ("Mcp-Session-Id", session.clone()),
            ("MCP-Protocol-Version", "2099-01-01".into()),
        ],
        json!({"jsonrpc": "2.0", "id": 6, "method": "ping"}),
    )
    .await;
    assert_eq!(bad_version.status, 400);
    let evil_host = post(
        vec![("Host", "evil.example.com".into())],
        json!({"jsonrpc": "2.0", "id": 7, "method": "initialize", "params": {}}),
    )
    .await;
    assert_eq!(evil_host.status, 403);
    let evil_origin = post(
        vec![("Origin", "http://evil.example.com".into())],
        json!({"jsonrpc": "2.0", "id": 8, "method": "initialize", "params": {}}),
    )
    .await;
    assert_eq!(evil_origin.status, 403);
    let local_origin = post(
        vec![("Origin", format!("http://127.0.0.1:{}", address.port()))],
        json!({"jsonrpc": "2.0", "id": 9, "method": "initialize", "params": {}}),
    )
    .await;
    assert_eq!(local_origin.status, 200);
    let garbage = request(address, "POST", "/mcp", &json_headers, b"{oops").await;
    assert_eq!(
        (garbage.status, garbage.json()["error"]["code"].as_i64()),
        (400, Some(-32700))
    );
    assert_eq!(request(address, "GET", "/mcp", &[], b"").await.status, 405);

    let session_header = [("Mcp-Session-Id", session.as_str())];
    assert_eq!(
        request(address, "DELETE", "/mcp", &session_header, b"")
            .await
            .status,
        204
    );
    let ended = post(
        with_session(vec![]),
        json!({"jsonrpc": "2.0", "id": 10, "method": "ping"}),
    )
    .await;
    assert_eq!(ended.status, 404, "the session is over");
}

#[tokio::test(flavor = "multi_thread")]
async fn streamable_http_in_the_stateless_generation() {
    let f = fixture().await;
    let address = serve_http(&f).await;
    let post = |headers: Vec<(&'static str, &'static str)>, body: Value| async move {
        let mut all = vec![
            ("Content-Type", "application/json"),
            ("Accept", "application/json, text/event-stream"),
        ];
        all.extend(headers);
        request(address, "POST", "/mcp", &all, body.to_string().as_bytes()).await
    };
    let modern = |method: &'static str| {
        vec![
            ("MCP-Protocol-Version", "2026-07-28"),
            ("Mcp-Method", method),
        ]
    };
    let discover = post(modern("server/discover"), json!({"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {"_meta": modern_meta()}})).await;
    assert_eq!(discover.status, 200);
    assert!(discover.header("mcp-session-id").is_none(), "no sessions");
    let mut call_headers = modern("tools/call");
    call_headers.push(("Mcp-Name", "calculator.add"));
    let call = post(call_headers, json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"_meta": modern_meta(), "name": "calculator.add", "arguments": {"a": 1, "b": 2}}})).await;
    assert_eq!(call.status, 200);
    assert_eq!(
        call.json()["result"]["structuredContent"],
        json!({"result": 3.0})
    );

    let mismatch = post(modern("tools/list"), json!({"jsonrpc": "2.0", "id": 3, "method": "server/discover", "params": {"_meta": modern_meta()}})).await;
    assert_eq!(
        (mismatch.status, mismatch.json()["error"]["code"].as_i64()),
        (400, Some(-32020))
    );
    let no_meta = post(
        modern("tools/list"),
        json!({"jsonrpc": "2.0", "id": 4, "method": "tools/list"}),
    )
    .await;
    assert_eq!(
        (no_meta.status, no_meta.json()["error"]["code"].as_i64()),
        (400, Some(-32602))
    );
    let removed = post(
        modern("ping"),
        json!({"jsonrpc": "2.0", "id": 5, "method": "ping", "params": {"_meta": modern_meta()}}),
    )
    .await;
    assert_eq!(
        (removed.status, removed.json()["error"]["code"].as_i64()),
        (404, Some(-32601))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_http_session_stream_hears_of_tool_list_changes() {
    use tokio::io::AsyncReadExt;
    let f = fixture().await;
    let folder = f.state.path().join("versioned");
    write_plugin_folder(&folder, "versioned", "1.0.0", guests::VERSIONED, "");
    f.registry.install(&folder).await.unwrap();
    f.registry
        .enable("acme", "versioned", json!({}))
        .await
        .unwrap();
    let address = serve_http(&f).await;
    let init = request(
        address,
        "POST",
        "/mcp",
        &[("Content-Type", "application/json")],
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25"}}).to_string().as_bytes(),
    )
    .await;
    let session = init.header("mcp-session-id").unwrap().to_string();
    assert_eq!(
        request(address, "GET", "/mcp", &[], b"").await.status,
        405,
        "no session, no stream"
    );

    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let get = format!(
        "GET /mcp HTTP/1.1\r\nHost: {address}\r\nAccept: text/event-stream\r\nMcp-Session-Id: {session}\r\n\r\n"
    );
    stream.write_all(get.as_bytes()).await.unwrap();
    let mut seen = String::new();
    let mut buffer = [0u8; 4096];
    // The stream is open (headers arrive) before the reload happens.
    while !seen.contains("text/event-stream") {
        let n = stream.read(&mut buffer).await.unwrap();
        assert!(n > 0, "stream closed: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buffer[..n]));
    }
    write_plugin_folder(&folder, "versioned", "2.0.0", guests::VERSIONED_V2, "");
    f.registry.reload("versioned").await.unwrap();
    let heard = tokio::time::timeout(Duration::from_secs(30), async {
        while !seen.contains("notifications/tools/list_changed") {
            let n = stream.read(&mut buffer).await.unwrap();
            assert!(n > 0, "stream closed: {seen}");
            seen.push_str(&String::from_utf8_lossy(&buffer[..n]));
        }
    })
    .await;
    assert!(heard.is_ok(), "no list_changed event: {seen}");
    assert!(seen.contains("event: message"), "{seen}");
}

/// Per-tenant tool allow-lists (issue #18), set through each front end and enforced by
/// every one: the HTTP API (`PUT …/tools`, `GET /tools`, a call), JSON-RPC
/// (`plugin/tools/set`, `tool/list`, `tool/call`), MCP (`tools/list`, `tools/call`, and
/// `notifications/tools/list_changed` when the filter changes) and the catalog. A hidden
/// tool answers as an unknown one; another tenant is unaffected; the filter is stored.
#[tokio::test(flavor = "multi_thread")]
async fn a_tenants_tool_filter_is_set_and_enforced_by_every_front_end() {
    use airlock_server::registry::Role;
    use airlock_server::serve::Service;
    let f = fixture().await;
    let registry = f.registry.clone();
    registry
        .enable("globex", "calculator", json!({}))
        .await
        .unwrap();
    let names = |tenant: &str| -> Vec<String> {
        let entries = registry.catalog(tenant).entries();
        entries.into_iter().map(|e| e.name).collect()
    };
    assert!(names("acme").contains(&"calculator.subtract".to_string()));

    // The HTTP API sets it: only `add` of the calculator for acme.
    let app = http::admin::router(Service::new(registry.clone(), "acme"), 1 << 20);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(http::serve(listener, app, std::future::pending()));
    let admin = registry
        .create_token("acme", Role::Admin, "ops")
        .await
        .unwrap();
    let auth = format!("Bearer {admin}");
    let auth = [("Authorization", auth.as_str())];
    let mut s = Stream::start(McpServer::new(registry.clone(), "acme"));
    s.call(
        1,
        "initialize",
        json!({"protocolVersion": "2025-11-25", "capabilities": {}}),
    )
    .await;
    let put = request(
        address,
        "PUT",
        "/api/v1/plugins/calculator/tools",
        &auth,
        br#"{"allow": ["add"]}"#,
    )
    .await;
    assert_eq!(put.status, 200, "{:?}", put.json());
    let changed = s.recv().await;
    assert_eq!(changed["method"], "notifications/tools/list_changed");
    let calculator_tools = |all: Vec<String>| -> Vec<String> {
        all.into_iter()
            .filter(|n| n.starts_with("calculator."))
            .collect()
    };
    assert_eq!(calculator_tools(names("acme")), ["calculator.add"]);
    assert!(
        names("globex").contains(&"calculator.subtract".to_string()),
        "globex unaffected"
    );

    // HTTP API: listed and called as filtered.
    let listed = request(address, "GET", "/api/v1/tools", &auth, b"")
        .await
        .json();
    let listed: Vec<String> = listed["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("{listed}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(calculator_tools(listed), ["calculator.add"]);
    let sub = request(
        address,
        "POST",
        "/api/v1/tools/calculator.subtract/call",
        &auth,
        br#"{"arguments": {"a": 3, "b": 1}}"#,
    )
    .await;
    assert_eq!(
        sub.json()["error"]["code"],
        "unknown-tool",
        "{:?}",
        sub.json()
    );
    let add = request(
        address,
        "POST",
        "/api/v1/tools/calculator.add/call",
        &auth,
        br#"{"arguments": {"a": 3, "b": 1}}"#,
    )
    .await;
    assert_eq!(add.json()["result"]["result"], 4.0);

    // MCP: the same view.
    let list = s.call(2, "tools/list", json!({})).await;
    let mcp_names: Vec<String> = list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    assert!(
        !mcp_names.iter().any(|n| n.contains("subtract")),
        "{mcp_names:?}"
    );
    let hidden = s
        .call(
            3,
            "tools/call",
            json!({"name": "calculator.subtract", "arguments": {"a": 3, "b": 1}}),
        )
        .await;
    let missing = s
        .call(
            4,
            "tools/call",
            json!({"name": "calculator.nothing", "arguments": {"a": 3, "b": 1}}),
        )
        .await;
    // Exactly as unknown: the same error, so a tenant cannot probe for hidden names.
    assert_eq!(
        hidden["error"]["code"], missing["error"]["code"],
        "{hidden} {missing}"
    );
    assert!(
        hidden["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Unknown tool"),
        "{hidden}"
    );

    // JSON-RPC sets it too (deny wins) and sees it.
    let service = Service::new(registry.clone(), "acme");
    let set = service
        .call(
            "plugin/tools/set",
            json!({"plugin": "calculator", "deny": ["a*"]}),
        )
        .await
        .unwrap();
    assert_eq!(set["deny"], json!(["a*"]));
    let tools = service.call("tool/list", json!({})).await.unwrap();
    assert!(
        !tools.to_string().contains("calculator.add")
            && tools.to_string().contains("calculator.subtract"),
        "{tools}"
    );
    let refused = service
        .call(
            "tool/call",
            json!({"tool": "calculator.add", "arguments": {"a": 1, "b": 1}}),
        )
        .await
        .unwrap_err();
    assert!(
        refused.message.contains("no tool `add`") && refused.message.contains("subtract"),
        "{}",
        refused.message
    );
    let got = service
        .call("plugin/tools/get", json!({"plugin": "calculator"}))
        .await
        .unwrap();
    assert_eq!(
        (got["allow"].clone(), got["deny"].clone()),
        (json!([]), json!(["a*"]))
    );

    // Stored: another process sees the same filter, also when it starts the plugin by a
    // reset rather than a restore.
    let again = airlock_tests::registry(&f.state);
    again.reset("acme", "calculator").await.unwrap();
    let restored: Vec<String> = again
        .catalog("acme")
        .entries()
        .into_iter()
        .map(|e| e.name)
        .filter(|n| n.starts_with("calculator."))
        .collect();
    assert!(!restored.contains(&"calculator.add".to_string()) && !restored.is_empty());

    // Bad filters are refused, naming the problem.
    let bad = service
        .call(
            "plugin/tools/set",
            json!({"plugin": "calculator", "allow": [""]}),
        )
        .await
        .unwrap_err();
    assert!(bad.message.contains("tool pattern"), "{}", bad.message);
}

/// `notifications/cancelled` stops a tool call in flight (a guest blocked in a host call):
/// the call gets no response (as MCP asks), the server goes on answering, and the usage
/// counters count it as cancelled.
#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_tool_call_stops_and_gets_no_response() {
    let state = TempDir::new("mcp-cancel");
    let registry = Arc::new(airlock_tests::registry(&state));
    let hostile = plugin_folder("hostile", guests::HOSTILE, "[limits]\ndeadline = \"60s\"\n");
    registry.install(hostile.path()).await.unwrap();
    registry.enable("acme", "hostile", json!({})).await.unwrap();
    let mut s = Stream::start(McpServer::new(registry.clone(), "acme"));
    let init = json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}});
    s.call(1, "initialize", init).await;
    s.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        .await;
    let sleep = json!({"name": "hostile.sleep", "arguments": {"ms": 60_000}});
    s.send(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": sleep}))
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = std::time::Instant::now();
    s.send(
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                  "params": {"requestId": 2, "reason": "the user gave up"}}),
    )
    .await;
    let echo = json!({"name": "hostile.echo", "arguments": {"text": "still here"}});
    let reply = s.call(3, "tools/call", echo).await;
    assert_eq!(reply["result"]["isError"], false, "{reply}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(s.call(4, "ping", json!({})).await["result"], json!({}));
    // The cancelled call sends nothing when it ends, so nothing orders its count before
    // this check: on a busy machine its task may not have run yet. Wait (bounded) for it.
    let waited = std::time::Instant::now();
    loop {
        let health = registry.health("acme", "hostile").await.unwrap();
        match health.usage.errors.get("cancelled") {
            Some(&1) => break,
            None if waited.elapsed() < Duration::from_secs(10) => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            other => panic!("cancelled calls counted: {other:?}, want 1"),
        }
    }
}

/// Over streamable HTTP, `notifications/cancelled` in a session cancels that session's
/// request with the id it names — the cancelled POST is answered 202 with no JSON-RPC
/// response — and never another session's request with the same id.
#[tokio::test(flavor = "multi_thread")]
async fn over_http_a_session_cancels_its_own_requests_only() {
    let state = TempDir::new("mcp-http-cancel");
    let registry = Arc::new(airlock_tests::registry(&state));
    let hostile = plugin_folder("hostile", guests::HOSTILE, "[limits]\ndeadline = \"60s\"\n");
    registry.install(hostile.path()).await.unwrap();
    registry.enable("acme", "hostile", json!({})).await.unwrap();
    let app = http::mcp::router(McpServer::new(registry.clone(), "acme"), vec![]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(http::serve(listener, app, std::future::pending()));
    let post = move |session: Option<String>, body: Value| async move {
        let both = "application/json, text/event-stream";
        mcp_post(address, both, session.as_deref(), &body).await
    };
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                            "params": {"protocolVersion": "2025-11-25", "capabilities": {}}});
    let a = post(None, initialize.clone()).await;
    let a = a.header("mcp-session-id").unwrap().to_string();
    let b = post(None, initialize).await;
    let b = b.header("mcp-session-id").unwrap().to_string();
    let cancel = |id: u64| json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": id}});

    let sleep = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                       "params": {"name": "hostile.sleep", "arguments": {"ms": 60_000}}});
    let call = tokio::spawn(post(Some(a.clone()), sleep));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(post(Some(b), cancel(7)).await.status, 202);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !call.is_finished(),
        "another session's cancel changed nothing"
    );
    assert_eq!(post(Some(a), cancel(7)).await.status, 202);
    let reply = tokio::time::timeout(Duration::from_secs(5), call)
        .await
        .expect("the cancelled request ends")
        .unwrap();
    assert_eq!(reply.status, 202);
    assert!(reply.body.is_empty(), "no JSON-RPC response");
    let health = registry.health("acme", "hostile").await.unwrap();
    assert_eq!(health.usage.errors.get("cancelled"), Some(&1));
}

/// A component of the host's own contract (no Airlock export at all) is served as MCP
/// tools named `plugin.function`, its schemas derived from its WIT (issue #15).
#[tokio::test(flavor = "multi_thread")]
async fn a_component_of_a_host_contract_is_served_as_mcp_tools() {
    let state = TempDir::new("mcp-contract");
    let policy = airlock_tests::contracts_policy();
    let registry = Arc::new(airlock_tests::registry_with(&state, policy));
    let kitchen = airlock_tests::kitchen_folder("kitchen", &[], "");
    registry.install(kitchen.path()).await.unwrap();
    registry.enable("acme", "kitchen", json!({})).await.unwrap();
    let mut s = Stream::start(McpServer::new(registry.clone(), "acme"));
    s.call(1, "initialize", json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}))
        .await;
    let list = s.call(2, "tools/list", json!({})).await;
    let tools = list["result"]["tools"].as_array().unwrap();
    let echo = tools
        .iter()
        .find(|t| t["name"] == "kitchen.echo")
        .expect("kitchen.echo listed");
    assert_eq!(
        echo["inputSchema"]["properties"]["value"]["properties"]["color"]["enum"],
        json!(["red", "green", "dark-blue"])
    );
    let sum = s
        .call(
            3,
            "tools/call",
            json!({"name": "kitchen.add", "arguments": {"a": 2, "b": 3}}),
        )
        .await;
    assert_eq!(sum["result"]["isError"], false, "{sum}");
    assert_eq!(sum["result"]["content"][0]["text"], "5", "{sum}");
    let failed = s
        .call(
            4,
            "tools/call",
            json!({"name": "kitchen.divide", "arguments": {"a": 1, "b": 0}}),
        )
        .await;
    assert_eq!(failed["result"]["isError"], true, "{failed}");
    let text = failed["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("division by zero"), "{text}");
}

/// Over streamable HTTP a tool call runs in its MCP session: the resource handles it makes
/// are that session's, another session cannot use them, and ending the session (DELETE)
/// drops them (issue #15).
#[tokio::test(flavor = "multi_thread")]
async fn an_mcp_sessions_resource_handles_are_its_own_and_end_with_it() {
    let state = TempDir::new("mcp-handles");
    let policy = airlock_tests::contracts_policy();
    let registry = Arc::new(airlock_tests::registry_with(&state, policy));
    let kitchen = airlock_tests::kitchen_folder("kitchen", &[], "");
    registry.install(kitchen.path()).await.unwrap();
    registry.enable("acme", "kitchen", json!({})).await.unwrap();
    let app = http::mcp::router(McpServer::new(registry.clone(), "acme"), vec![]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(http::serve(listener, app, std::future::pending()));

    let send = |method: &'static str, session: Option<String>, body: Value| async move {
        let mut headers = vec![
            ("Content-Type", "application/json".to_string()),
            ("Accept", "application/json, text/event-stream".to_string()),
        ];
        if let Some(session) = session {
            headers.push(("Mcp-Session-Id", session));
            headers.push(("MCP-Protocol-Version", "2025-11-25".to_string()));
        }
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        request(
            address,
            method,
            "/mcp",
            &headers,
            body.to_string().as_bytes(),
        )
        .await
    };
    let open = || async {
        let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}}});
        let reply = send("POST", None, init).await;
        reply
            .header("mcp-session-id")
            .expect("a session")
            .to_string()
    };
    let call = |session: String, id: u64, tool: &str, arguments: Value| {
        let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": arguments}});
        async move { send("POST", Some(session), body).await.json()["result"].clone() }
    };
    let (alice, bob) = (open().await, open().await);
    let made = call(alice.clone(), 2, "kitchen.tally-new", json!({"start": 40})).await;
    assert_eq!(made["isError"], false, "{made}");
    let handle = made["content"][0]["text"].as_str().unwrap().to_string();
    let added = call(
        alice.clone(),
        3,
        "kitchen.tally-add",
        json!({"self": handle, "n": 2}),
    )
    .await;
    assert_eq!(added["content"][0]["text"], "42", "{added}");
    let stolen = call(
        bob.clone(),
        4,
        "kitchen.tally-total",
        json!({"self": handle}),
    )
    .await;
    assert_eq!(stolen["isError"], true, "{stolen}");
    assert!(stolen.to_string().contains("no live handle"), "{stolen}");

    let plugin = registry.plugin("acme", "kitchen").unwrap();
    assert_eq!(plugin.live_handles(), 1);
    let ended = send("DELETE", Some(alice), json!({})).await;
    assert_eq!(ended.status, 204);
    assert_eq!(
        plugin.live_handles(),
        0,
        "the session's end dropped its handle"
    );
}
