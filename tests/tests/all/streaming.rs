//! Progress from inside a call (`airlock:plugin/progress@0.2.0`): a plugin's chunks and
//! reports reach the caller while the call runs — through the Rust API, as JSON-RPC
//! `$/progress` notifications tied to the request id, as MCP `notifications/progress` on
//! stdio and on a streamable-HTTP SSE response — and what one call may send is bounded
//! (issue #15).

use std::sync::Arc;

use airlock::progress::{
    EVENT_OVERHEAD, MAX_BYTES, MAX_CHUNK, MAX_EVENTS, Progress, channel, with_progress,
};
use airlock::{CallContext, Plugin};
use airlock_server::registry::Registry;
use airlock_server::serve::{McpServer, Service, http};
use airlock_tests::http::mcp_post;
use airlock_tests::line_client::LineClient;
use airlock_tests::{TempDir, guests, load, plugin_folder, runtime};
use serde_json::{Value, json};

/// Calls `tool` with a listener, reading events as they come: the events and the result.
async fn call_listening(plugin: &Plugin, tool: &str, args: Value) -> (Vec<Progress>, Value) {
    let (events, result) = airlock_tests::call_listening(plugin, tool, &args).await;
    (events, result.expect("the call succeeds"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plugins_progress_reaches_a_rust_caller_while_the_call_runs() {
    let rt = runtime();
    let hostile = load(&rt, guests::HOSTILE).await;

    // In order, chunks and reports interleaved as the plugin sent them, then the result.
    let (events, result) = call_listening(&hostile, "stream", json!({"words": ["a", "b"]})).await;
    assert_eq!(events, airlock_tests::stream_events(&["a", "b"]));
    assert_eq!(result, json!("a b"));

    // While it runs: 200 chunks do not fit the channel, so the call cannot end before the
    // caller has read some of them.
    let (events, mut received) = channel();
    let context = CallContext::default();
    let args = json!({"chunks": 200, "bytes": 10});
    let call = with_progress(events, hostile.call_tool("flood", &args, &context));
    tokio::pin!(call);
    tokio::select! {
        biased;
        first = received.recv() => {
            assert_eq!(first, Some(Progress::Chunk { chunk: "x".repeat(10) }))
        }
        result = &mut call => panic!("the call ended before its progress was read: {result:?}"),
    }
    let mut count = 1;
    let result = loop {
        tokio::select! {
            Some(_) = received.recv() => count += 1,
            result = &mut call => break result,
        }
    };
    while received.try_recv().is_some() {
        count += 1;
    }
    assert_eq!((result.unwrap(), count), (json!(200), 200));

    // Nobody listening: the plugin's progress goes nowhere and costs the call nothing.
    let quiet = hostile
        .call_tool("flood", &json!({"chunks": 1000, "bytes": 10}), &context)
        .await;
    assert_eq!(quiet.unwrap(), json!(1000));
}

#[tokio::test(flavor = "multi_thread")]
async fn what_one_call_may_send_is_bounded() {
    let rt = runtime();
    let hostile = load(&rt, guests::HOSTILE).await;
    let count = |events: &[Progress]| events.len();

    // Past the event cap, later events are dropped and the call goes on.
    let many = MAX_EVENTS + 1000;
    let (events, result) =
        call_listening(&hostile, "flood", json!({"chunks": many, "bytes": 1})).await;
    assert_eq!(result, json!(many));
    assert_eq!(count(&events), MAX_EVENTS as usize);

    // A chunk is cut at its cap.
    let (events, _) = call_listening(
        &hostile,
        "flood",
        json!({"chunks": 2, "bytes": MAX_CHUNK + 100}),
    )
    .await;
    assert!(
        events
            .iter()
            .all(|e| matches!(e, Progress::Chunk { chunk } if chunk.len() == MAX_CHUNK))
    );

    // Past the byte cap every later event is dropped, also the small ones after it: the
    // caller's stream is cut, never left with a hole.
    let args = json!({"chunks": 200, "bytes": MAX_CHUNK, "tail": 5});
    let (events, result) = call_listening(&hostile, "flood", args).await;
    assert_eq!(result, json!(200));
    assert_eq!(count(&events), MAX_BYTES / (MAX_CHUNK + EVENT_OVERHEAD));
    assert!(
        events
            .iter()
            .all(|e| matches!(e, Progress::Chunk { chunk } if chunk.len() == MAX_CHUNK))
    );
}

async fn registry_with_hostile(state: &TempDir) -> (Arc<Registry>, TempDir) {
    let registry = Arc::new(airlock_tests::registry(state));
    let hostile = plugin_folder("hostile", guests::HOSTILE, "");
    registry.install(hostile.path()).await.unwrap();
    registry.enable("acme", "hostile", json!({})).await.unwrap();
    (registry, hostile)
}

#[tokio::test(flavor = "multi_thread")]
async fn jsonrpc_sends_progress_notifications_tied_to_the_request_id() {
    let state = TempDir::new("jsonrpc-progress");
    let (registry, _hostile) = registry_with_hostile(&state).await;
    let mut client = LineClient::start(Service::new(registry, "acme"));
    let args = json!({"words": ["to", "be"]});

    let call = json!({"jsonrpc": "2.0", "id": "c7", "method": "plugin/call",
        "params": {"plugin": "hostile", "method": "stream", "args": args, "progress": true}});
    let (notifications, response) = client.exchange(call).await;
    assert_eq!(response["result"], "to be", "{response}");
    assert_eq!(notifications.len(), 4, "{notifications:?}");
    assert!(notifications.iter().all(|n| n["method"] == "$/progress"
        && n["params"]["id"] == "c7"
        && n.get("id").is_none()));
    assert_eq!(
        notifications[0]["params"],
        json!({"id": "c7", "kind": "chunk", "chunk": "to"})
    );
    assert_eq!(
        notifications[3]["params"],
        json!({"id": "c7", "kind": "report", "done": 2, "total": 2, "message": "word 2"})
    );

    // Without `progress: true` (here through `tool/call`), nothing but the response.
    let quiet = json!({"jsonrpc": "2.0", "id": 8, "method": "tool/call",
        "params": {"tool": "hostile.stream", "arguments": args}});
    let (notifications, response) = client.exchange(quiet).await;
    assert!(notifications.is_empty(), "{notifications:?}");
    assert_eq!(response["result"], "to be");
}

/// The progress values and messages of MCP progress notifications for token `token`.
fn mcp_progress(notifications: &[Value], token: &Value) -> Vec<(u64, String)> {
    notifications
        .iter()
        .map(|n| {
            assert_eq!(n["method"], "notifications/progress", "{n}");
            assert_eq!(&n["params"]["progressToken"], token, "{n}");
            let message = n["params"]["message"].as_str().unwrap_or_default();
            (
                n["params"]["progress"].as_u64().unwrap(),
                message.to_string(),
            )
        })
        .collect()
}

/// What the `stream` tool's two words become as MCP progress: strictly increasing values,
/// chunks and report messages in order.
fn expected_mcp_progress() -> Vec<(u64, String)> {
    [(1, "to"), (2, "word 1"), (3, "be"), (4, "word 2")]
        .map(|(p, m)| (p, m.to_string()))
        .to_vec()
}

#[tokio::test(flavor = "multi_thread")]
async fn mcp_on_stdio_sends_notifications_progress_for_a_progress_token() {
    let state = TempDir::new("mcp-progress");
    let (registry, _hostile) = registry_with_hostile(&state).await;
    let mut client = LineClient::start(McpServer::new(registry, "acme"));
    let init = json!({"protocolVersion": "2025-11-25", "capabilities": {},
                      "clientInfo": {"name": "t", "version": "1"}});
    client
        .exchange(json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init}))
        .await;
    let call = |id: u64, meta: Value| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
            "name": "hostile.stream", "arguments": {"words": ["to", "be"]}, "_meta": meta}})
    };
    let (notifications, response) = client.exchange(call(2, json!({"progressToken": 42}))).await;
    assert_eq!(response["result"]["content"][0]["text"], "to be");
    assert_eq!(
        mcp_progress(&notifications, &json!(42)),
        expected_mcp_progress()
    );
    let params = &notifications[1]["params"];
    assert_eq!(params["total"], 2, "a report carries its total: {params}");

    let (notifications, _) = client.exchange(call(3, json!({}))).await;
    assert!(
        notifications.is_empty(),
        "no token, no progress: {notifications:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn mcp_over_http_streams_progress_then_the_response_as_sse() {
    let state = TempDir::new("mcp-http-progress");
    let (registry, _hostile) = registry_with_hostile(&state).await;
    let app = http::mcp::router(McpServer::new(registry, "acme"), vec![]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(http::serve(listener, app, std::future::pending()));
    let post = |accept: &'static str, session: Option<String>, body: Value| async move {
        mcp_post(address, accept, session.as_deref(), &body).await
    };
    let both = "application/json, text/event-stream";
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                      "params": {"protocolVersion": "2025-11-25", "capabilities": {}}});
    let session = post(both, None, init).await;
    let session = session.header("mcp-session-id").unwrap().to_string();
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
        "name": "hostile.stream", "arguments": {"words": ["to", "be"]},
        "_meta": {"progressToken": "p-1"}}});

    let reply = post(both, Some(session.clone()), call.clone()).await;
    assert_eq!(reply.status, 200);
    assert!(
        reply
            .header("content-type")
            .unwrap()
            .starts_with("text/event-stream"),
        "{:?}",
        reply.headers
    );
    let body = String::from_utf8(reply.body).unwrap();
    let messages: Vec<Value> = body
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|data| serde_json::from_str(data).unwrap())
        .collect();
    let (response, notifications) = messages.split_last().expect("messages");
    assert_eq!(response["id"], 2, "the response comes last: {body}");
    assert_eq!(response["result"]["content"][0]["text"], "to be");
    assert_eq!(
        mcp_progress(notifications, &json!("p-1")),
        expected_mcp_progress()
    );

    // A client that takes only JSON gets the plain response.
    let reply = post("application/json", Some(session), call).await;
    assert!(
        reply
            .header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let response: Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(response["result"]["content"][0]["text"], "to be");
}
