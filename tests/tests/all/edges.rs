//! Front-end protocol edge cases, each answered as its spec says: bytes that are not UTF-8
//! (-32700, never U+FFFD), MCP's ban on `null` ids and on batches (on stdio and HTTP alike),
//! a client's responses (never answered; 202 over HTTP), `GET /mcp` for an unknown or ended
//! session (404), an MCP stream that ends when its input does, the bearer scheme in any case
//! (RFC 9110 §11.1), a repeated query parameter in the API's JSON error shape, and names
//! resolved the same way by every front end.

use std::sync::Arc;
use std::time::Duration;

use airlock_server::registry::{Registry, Role};
use airlock_server::serve::{McpServer, Service, http, lines, mcp_stream};
use airlock_tests::http::request;
use airlock_tests::{TempDir, guests};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

async fn registry_with_calculator(state: &TempDir) -> Arc<Registry> {
    let registry = Arc::new(airlock_tests::registry(state));
    registry
        .install(std::path::Path::new(guests::CALCULATOR_DIR))
        .await
        .unwrap();
    registry
        .enable("acme", "calculator", json!({}))
        .await
        .unwrap();
    registry
}

/// Sends raw `lines` to an MCP (or JSON-RPC, with `service`) stream server, closes the
/// input, and returns every message it wrote and whether it returned within 10 s.
async fn exchange(server: McpServer, input: &[&[u8]]) -> (Vec<Value>, bool) {
    let (client, end) = tokio::io::duplex(1 << 16);
    let (read, write) = tokio::io::split(end);
    let task = tokio::spawn(mcp_stream(server, BufReader::new(read), write, 1 << 20));
    let (client_read, mut client_write) = tokio::io::split(client);
    for line in input {
        client_write.write_all(line).await.unwrap();
        client_write.write_all(b"\n").await.unwrap();
    }
    // Shut the write side down: dropping one half of a split stream does not end it.
    client_write.shutdown().await.unwrap();
    let finished = tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .is_ok();
    let mut replies = Vec::new();
    let mut reader = BufReader::new(client_read).lines();
    while let Ok(Ok(Some(line))) =
        tokio::time::timeout(Duration::from_secs(1), reader.next_line()).await
    {
        replies.push(serde_json::from_str(&line).unwrap());
    }
    (replies, finished)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_mcp_stream_ends_with_its_input_after_answering() {
    let state = TempDir::new("edges-eof");
    let server = McpServer::new(registry_with_calculator(&state).await, "acme");
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "calculator.add", "arguments": {"a": 1, "b": 2}}});
    let (replies, finished) = exchange(server, &[call.to_string().as_bytes()]).await;
    assert!(finished, "the server must return when its input ends");
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert_eq!(replies[0]["result"]["structuredContent"]["result"], 3.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn mcp_on_a_stream_refuses_bad_utf8_null_ids_and_batches_and_ignores_responses() {
    let state = TempDir::new("edges-stream");
    let server = McpServer::new(registry_with_calculator(&state).await, "acme");
    let ping = |id: u64| json!({"jsonrpc": "2.0", "id": id, "method": "ping"}).to_string();
    let (replies, _) = exchange(
        server,
        &[
            b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"pi\xffng\"}",
            json!({"jsonrpc": "2.0", "id": null, "method": "ping"})
                .to_string()
                .as_bytes(),
            format!("[{}, {}]", ping(2), ping(3)).as_bytes(),
            json!({"jsonrpc": "2.0", "id": 77, "result": {}})
                .to_string()
                .as_bytes(),
        ],
    )
    .await;
    // Replies may come in any order; each is an object (a batch is never answered as one).
    assert_eq!(
        replies.len(),
        3,
        "one reply each, none for the response: {replies:?}"
    );
    assert!(replies.iter().all(Value::is_object), "{replies:?}");
    let codes: Vec<i64> = replies
        .iter()
        .map(|r| r["error"]["code"].as_i64().unwrap_or(0))
        .collect();
    assert!(replies.iter().all(|r| r["id"].is_null()), "{replies:?}");
    assert!(
        codes.contains(&-32700),
        "invalid UTF-8 is a parse error: {replies:?}"
    );
    assert_eq!(
        codes.iter().filter(|c| **c == -32600).count(),
        2,
        "{replies:?}"
    );
    let text = serde_json::to_string(&replies).unwrap();
    assert!(!text.contains('\u{FFFD}'), "{text}");
    assert!(text.contains("null") && text.contains("batches"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn json_rpc_answers_bad_utf8_with_a_parse_error_and_keeps_batches() {
    let state = TempDir::new("edges-jsonrpc");
    let registry = registry_with_calculator(&state).await;
    let (client, end) = tokio::io::duplex(1 << 16);
    let (read, write) = tokio::io::split(end);
    let service = Arc::new(Service::new(registry, "acme"));
    let task = tokio::spawn(lines::serve(
        BufReader::new(read),
        write,
        service,
        tokio::sync::mpsc::unbounded_channel(),
        1 << 20,
    ));
    let (client_read, mut client_write) = tokio::io::split(client);
    client_write
        .write_all(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tool/\xfflist\"}\n")
        .await
        .unwrap();
    client_write
        .write_all(b"[{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tool/list\"}]\n")
        .await
        .unwrap();
    // Shut the write side down: dropping one half of a split stream does not end it.
    client_write.shutdown().await.unwrap();
    tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let mut lines = BufReader::new(client_read).lines();
    let mut replies = Vec::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        replies.push(serde_json::from_str::<Value>(&line).unwrap());
    }
    let parse_error = replies.iter().find(|r| r.is_object()).expect("a reply");
    assert_eq!(parse_error["error"]["code"], -32700, "{replies:?}");
    assert!(
        replies.iter().any(|r| r.is_array()),
        "plain JSON-RPC still answers batches: {replies:?}"
    );
}

async fn serve_mcp_http(registry: Arc<Registry>) -> std::net::SocketAddr {
    let app = http::mcp::router(McpServer::new(registry, "acme"), vec![]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(http::serve(listener, app, std::future::pending()));
    address
}

const JSON: [(&str, &str); 2] = [
    ("Content-Type", "application/json"),
    ("Accept", "application/json, text/event-stream"),
];

#[tokio::test(flavor = "multi_thread")]
async fn streamable_http_edge_cases_follow_the_spec() {
    let state = TempDir::new("edges-http");
    let address = serve_mcp_http(registry_with_calculator(&state).await).await;
    let post = |extra: Vec<(&'static str, String)>, body: Vec<u8>| async move {
        let mut headers: Vec<(&str, &str)> = JSON.to_vec();
        headers.extend(extra.iter().map(|(n, v)| (*n, v.as_str())));
        request(address, "POST", "/mcp", &headers, &body).await
    };
    let init = post(
        vec![],
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}}})
        .to_string()
        .into_bytes(),
    )
    .await;
    assert_eq!(init.status, 200);
    let session = init.header("mcp-session-id").unwrap().to_string();
    let in_session = || {
        vec![
            ("Mcp-Session-Id", session.clone()),
            ("MCP-Protocol-Version", "2025-11-25".to_string()),
        ]
    };

    let bad_utf8 = post(
        in_session(),
        b"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"pi\xffng\"}".to_vec(),
    )
    .await;
    assert_eq!(bad_utf8.status, 400);
    assert_eq!(
        bad_utf8.json()["error"]["code"],
        -32700,
        "{:?}",
        bad_utf8.json()
    );

    let null_id = post(
        in_session(),
        json!({"jsonrpc": "2.0", "id": null, "method": "ping"})
            .to_string()
            .into_bytes(),
    )
    .await;
    assert_eq!(null_id.status, 400);
    assert_eq!(null_id.json()["error"]["code"], -32600);

    let response = post(
        in_session(),
        json!({"jsonrpc": "2.0", "id": 5, "result": {}})
            .to_string()
            .into_bytes(),
    )
    .await;
    assert_eq!(response.status, 202, "a client's response is accepted");
    assert!(response.body.is_empty());
    let error_response = post(
        in_session(),
        json!({"jsonrpc": "2.0", "id": 6, "error": {"code": -1, "message": "no"}})
            .to_string()
            .into_bytes(),
    )
    .await;
    assert_eq!(error_response.status, 202);

    let batch = post(
        in_session(),
        json!([{"jsonrpc": "2.0", "id": 7, "method": "ping"}])
            .to_string()
            .into_bytes(),
    )
    .await;
    assert_eq!(batch.status, 400);
    assert!(
        batch.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("batches are not part of MCP")
    );

    let get = |session: Option<&str>| {
        let session = session.map(str::to_string);
        async move {
            let mut headers = vec![("Accept", "text/event-stream")];
            if let Some(s) = &session {
                headers.push(("Mcp-Session-Id", s.as_str()));
            }
            request(address, "GET", "/mcp", &headers, b"").await
        }
    };
    assert_eq!(get(None).await.status, 405, "no session: no stream here");
    let unknown = get(Some("0123456789abcdef0123456789abcdef")).await;
    assert_eq!(unknown.status, 404, "an unknown session is not found");
    let ended = request(
        address,
        "DELETE",
        "/mcp",
        &[("Mcp-Session-Id", session.as_str())],
        b"",
    )
    .await;
    assert_eq!(ended.status, 204);
    assert_eq!(
        get(Some(&session)).await.status,
        404,
        "an ended session is not found"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_api_takes_any_case_of_bearer_and_answers_bad_queries_in_json() {
    let state = TempDir::new("edges-admin");
    let registry = registry_with_calculator(&state).await;
    let token = registry
        .create_token("acme", Role::Admin, "t")
        .await
        .unwrap();
    let app = http::admin::default_router(Service::new(registry, "nobody"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(http::serve(listener, app, std::future::pending()));
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let header = format!("{scheme} {token}");
        let reply = request(
            address,
            "GET",
            "/api/v1/tools",
            &[("Authorization", &header)],
            b"",
        )
        .await;
        assert_eq!(reply.status, 200, "scheme `{scheme}`");
    }
    let header = format!("Bearer {token}");
    let repeated = request(
        address,
        "GET",
        "/api/v1/tools?tenant=acme&tenant=other",
        &[("Authorization", &header)],
        b"",
    )
    .await;
    assert_eq!(repeated.status, 400);
    let body = repeated.json();
    assert_eq!(body["error"]["code"], "bad-query", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("tenant"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_front_end_resolves_a_name_on_the_search_path() {
    let state = TempDir::new("edges-resolve");
    let registry = Arc::new(airlock_tests::registry(&state));
    let search = TempDir::new("edges-search");
    airlock_tests::write_plugin_folder(
        &search.path().join("calculator"),
        "calculator",
        "0.1.0",
        guests::CALCULATOR,
        "",
    );
    let path = vec![search.path().to_path_buf()];
    assert_eq!(
        registry.resolve_on("calculator", &path).await.unwrap(),
        "calculator"
    );
    assert!(
        registry
            .installed()
            .await
            .unwrap()
            .iter()
            .any(|i| i.name == "calculator")
    );
    assert!(matches!(
        registry.resolve_on("nowhere", &path).await,
        Err(airlock_server::registry::RegistryError::NotFound(_))
    ));
}

/// `mcp --http` serves `/metrics` for its tenant under the same `Host`/`Origin` check as
/// `/mcp` (issue #18): a foreign `Host` is refused, a loopback one gets Prometheus text.
#[tokio::test(flavor = "multi_thread")]
async fn the_mcp_server_serves_metrics_to_loopback_hosts_only() {
    let state = TempDir::new("edges-metrics");
    let registry = registry_with_calculator(&state).await;
    registry
        .call_tool(
            "calculator.add",
            &json!({"a": 1, "b": 1}),
            &airlock::CallContext::for_tenant("acme"),
        )
        .await
        .unwrap();
    let address = serve_mcp_http(registry).await;
    let foreign = [("Host", "evil.example")];
    let refused = request(address, "GET", "/metrics", &foreign, b"").await;
    assert_eq!(refused.status, 403);
    let reply = request(address, "GET", "/metrics", &[], b"").await;
    assert_eq!(reply.status, 200);
    let samples = airlock_tests::prometheus::parse(&reply.body);
    let calls = samples
        .iter()
        .find(|s| s.name == "airlock_calls_total" && s.labels["plugin"] == "calculator")
        .expect("the calculator's calls");
    assert_eq!(
        (calls.value, calls.labels["tenant"].as_str()),
        (1.0, "acme")
    );
}
