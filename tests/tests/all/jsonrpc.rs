//! JSON-RPC 2.0 over a byte stream (what `airlock serve --stdio` speaks), driven through an
//! in-memory pipe against real plugins: every method, every error code, batches,
//! notifications, out-of-order replies, oversized frames and a client that goes away.

use std::sync::Arc;
use std::time::Duration;

use airlock_server::registry::Registry;
use airlock_server::serve::{Service, lines};
use airlock_tests::{TempDir, guests, plugin_folder};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream, Lines, WriteHalf};

struct Client {
    writer: WriteHalf<DuplexStream>,
    reader: Lines<BufReader<tokio::io::ReadHalf<DuplexStream>>>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    registry: Arc<Registry>,
    _state: TempDir,
}

impl Client {
    async fn send(&mut self, line: &str) {
        self.writer.write_all(line.as_bytes()).await.unwrap();
        self.writer.write_all(b"\n").await.unwrap();
    }

    async fn recv(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(30), self.reader.next_line())
            .await
            .expect("a reply within 30 s")
            .unwrap()
            .expect("the server is still there");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    }

    /// Sends a request and returns its reply (requests are sent one at a time here).
    async fn call(&mut self, id: u64, method: &str, params: Value) -> Value {
        let request = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.send(&request.to_string()).await;
        let reply = self.recv().await;
        assert_eq!(reply["id"], json!(id), "{reply}");
        assert_eq!(reply["jsonrpc"], "2.0");
        reply
    }

    async fn ok(&mut self, id: u64, method: &str, params: Value) -> Value {
        let reply = self.call(id, method, params).await;
        assert!(reply.get("error").is_none(), "{method}: {reply}");
        reply["result"].clone()
    }

    async fn error(&mut self, id: u64, method: &str, params: Value) -> Value {
        let reply = self.call(id, method, params).await;
        assert!(reply.get("result").is_none(), "{method}: {reply}");
        reply["error"].clone()
    }
}

async fn start(max_frame: usize) -> Client {
    let state = TempDir::new("jsonrpc");
    let registry = Arc::new(airlock_tests::registry(&state));
    let (client, server) = tokio::io::duplex(1 << 16);
    let (server_read, server_write) = tokio::io::split(server);
    let service = Service::new(registry.clone(), "acme");
    let task = tokio::spawn(lines::serve(
        BufReader::new(server_read),
        server_write,
        Arc::new(service),
        tokio::sync::mpsc::unbounded_channel(),
        max_frame,
    ));
    let (client_read, client_write) = tokio::io::split(client);
    Client {
        writer: client_write,
        reader: BufReader::new(client_read).lines(),
        server: task,
        registry,
        _state: state,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_method_works_over_the_wire() {
    let mut c = start(1 << 20).await;
    let loaded = c
        .ok(1, "plugin/load", json!({"path": guests::CALCULATOR_DIR}))
        .await;
    assert_eq!(loaded, json!({"plugin": "calculator"}));
    c.ok(2, "plugin/load", json!({"path": guests::REDACT_DIR}))
        .await;
    let enabled = c
        .ok(3, "plugin/enable", json!({"plugin": "calculator"}))
        .await;
    assert_eq!(enabled["version"], "0.1.0");
    assert_eq!(enabled["tenant"], "acme", "the server's default tenant");
    c.ok(
        4,
        "plugin/enable",
        json!({"plugin": "redact", "config": {"deny_tools": ["rm"]}}),
    )
    .await;

    let tools = c.ok(5, "tool/list", json!({})).await;
    let names: Vec<&str> = tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"calculator.add"), "{names:?}");
    assert!(tools["tools"][0]["input_schema"].is_object());
    let sum = c
        .ok(
            6,
            "tool/call",
            json!({"tool": "calculator.add", "arguments": {"a": 40, "b": 2}, "session": "s1"}),
        )
        .await;
    assert_eq!(sum, json!({"result": 42.0}));
    // Another tenant has nothing enabled.
    let other = c.ok(7, "tool/list", json!({"tenant": "globex"})).await;
    assert_eq!(other["tools"], json!([]));

    assert_eq!(
        c.ok(8, "plugin/config/get", json!({"plugin": "redact"}))
            .await,
        json!({"deny_tools": ["rm"]})
    );
    c.ok(
        9,
        "plugin/config/set",
        json!({"plugin": "redact", "config": {"deny_tools": ["curl"]}}),
    )
    .await;
    let dispatch = c
        .ok(
            10,
            "hook/dispatch",
            json!({"kind": "before-tool-call", "payload": {"tool": "curl"}}),
        )
        .await;
    assert_eq!(dispatch["vetoed"][0], "redact");
    let health = c
        .ok(11, "plugin/health", json!({"plugin": "calculator"}))
        .await;
    assert_eq!(health["state"], "ready");

    c.ok(12, "plugin/disable", json!({"plugin": "calculator"}))
        .await;
    let unloaded = c.ok(13, "plugin/unload", json!({"plugin": "redact"})).await;
    assert_eq!(unloaded["disabled_for"], json!(["acme"]));
    let listed = c.ok(14, "plugin/list", json!({})).await;
    assert_eq!(listed["installed"].as_array().unwrap().len(), 2);
    assert!(
        listed["registrations"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["enabled"] == false)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn each_failure_has_its_code() {
    let mut c = start(1 << 20).await;
    // Spec errors.
    c.send("{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": ")
        .await;
    let parse = c.recv().await;
    assert_eq!(
        (parse["error"]["code"].as_i64(), &parse["id"]),
        (Some(-32700), &Value::Null)
    );
    c.send(r#"{"jsonrpc": "1.0", "id": 2, "method": "tool/list"}"#)
        .await;
    let invalid = c.recv().await;
    assert_eq!(
        (invalid["error"]["code"].as_i64(), &invalid["id"]),
        (Some(-32600), &json!(2))
    );
    assert_eq!(c.error(3, "tool/destroy", json!({})).await["code"], -32601);
    assert_eq!(
        c.error(4, "plugin/enable", json!({"plugin": "x", "colour": "red"}))
            .await["code"],
        -32602,
        "unknown parameter"
    );

    let hostile = plugin_folder(
        "hostile",
        guests::HOSTILE,
        "[limits]\nfuel = 50000000\ndeadline = \"5s\"\nmemory = \"16MiB\"\n",
    );
    let slow = plugin_folder(
        "hostile",
        guests::HOSTILE,
        "[limits]\nfuel = 10000000000\ndeadline = \"200ms\"\n",
    );
    let greedy = plugin_folder(
        "prober",
        guests::PROBER,
        "[capabilities]\nenv = [\"HOME\"]\n",
    );
    for (id, folder) in [(10, &hostile), (11, &greedy)] {
        c.ok(id, "plugin/load", json!({"path": folder.path()}))
            .await;
    }
    c.ok(12, "plugin/load", json!({"path": guests::CALCULATOR_DIR}))
        .await;
    c.ok(13, "plugin/enable", json!({"plugin": "hostile"}))
        .await;
    c.ok(14, "plugin/enable", json!({"plugin": "calculator"}))
        .await;

    let bad = c
        .error(
            20,
            "tool/call",
            json!({"tool": "calculator.add", "arguments": {"a": "x"}}),
        )
        .await;
    assert_eq!(bad["code"], -32602);
    assert_eq!(bad["data"]["kind"], "bad-arguments");
    assert_eq!(
        bad["data"]["problems"].as_array().unwrap().len(),
        2,
        "{bad}"
    );
    let unknown = c
        .error(21, "tool/call", json!({"tool": "calculator.pow"}))
        .await;
    assert_eq!(unknown["code"], -32602);
    assert!(
        unknown["data"]["available"]
            .as_array()
            .unwrap()
            .contains(&json!("add"))
    );
    let plugin = c
        .error(
            22,
            "tool/call",
            json!({"tool": "calculator.divide", "arguments": {"a": 1, "b": 0}}),
        )
        .await;
    assert_eq!(
        (plugin["code"].as_i64(), &plugin["data"]["code"]),
        (Some(-32005), &json!(1001))
    );
    let trap = c
        .error(
            23,
            "tool/call",
            json!({"tool": "hostile.panic", "arguments": {"text": "boom"}}),
        )
        .await;
    assert_eq!(trap["code"], -32004);
    assert!(
        trap["data"]["panic"].as_str().unwrap().starts_with("boom"),
        "{trap}"
    );
    let fuel = c
        .error(24, "tool/call", json!({"tool": "hostile.spin"}))
        .await;
    assert_eq!(fuel["code"], -32001);
    let memory = c
        .error(25, "tool/call", json!({"tool": "hostile.grow"}))
        .await;
    assert_eq!(memory["code"], -32003);
    let denied = c
        .error(26, "plugin/enable", json!({"plugin": "prober"}))
        .await;
    assert_eq!(denied["code"], -32006, "{denied}");
    let missing = c
        .error(27, "plugin/health", json!({"plugin": "redact"}))
        .await;
    assert_eq!(missing["code"], -32012);

    // The same plugin, now with a short deadline.
    c.ok(30, "plugin/load", json!({"path": slow.path()})).await;
    c.ok(31, "plugin/enable", json!({"plugin": "hostile"}))
        .await;
    // A sleep in a host call: the deadline, not fuel, must end it, however loaded the
    // machine is.
    let deadline = c
        .error(
            32,
            "tool/call",
            json!({"tool": "hostile.sleep", "arguments": {"ms": 5000}}),
        )
        .await;
    assert_eq!(deadline["code"], -32002);
    // After all that, everything still answers.
    assert_eq!(
        c.ok(
            33,
            "tool/call",
            json!({"tool": "calculator.add", "arguments": {"a": 1, "b": 1}})
        )
        .await,
        json!({"result": 2.0})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn batches_notifications_and_out_of_order_replies() {
    let mut c = start(1 << 20).await;
    c.ok(1, "plugin/load", json!({"path": guests::CALCULATOR_DIR}))
        .await;
    let hostile = plugin_folder("hostile", guests::HOSTILE, "");
    c.ok(2, "plugin/load", json!({"path": hostile.path()}))
        .await;
    // A notification runs (the plugin gets enabled) but is never answered.
    c.send(r#"{"jsonrpc": "2.0", "method": "plugin/enable", "params": {"plugin": "calculator"}}"#)
        .await;
    c.ok(3, "plugin/enable", json!({"plugin": "hostile"})).await;
    // Requests run concurrently, so the notification may still be running: wait for it.
    let mut id = 1000;
    loop {
        id += 1;
        let tools = c.ok(id, "tool/list", json!({})).await;
        if tools.to_string().contains("calculator.add") {
            break;
        }
        assert!(id < 1500, "the notification never enabled the calculator");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // A batch: answers for the requests and the invalid member, none for the notification.
    c.send(
        r#"[{"jsonrpc": "2.0", "id": "a", "method": "tool/call", "params": {"tool": "calculator.add", "arguments": {"a": 1, "b": 2}}},
            {"jsonrpc": "2.0", "method": "tool/list"},
            {"jsonrpc": "2.0", "id": "b", "method": "nope"},
            {"foo": "bar"},
            {"jsonrpc": "2.0", "id": "c", "method": "tool/list"}]"#
            .replace('\n', " ")
            .as_str(),
    )
    .await;
    let batch = c.recv().await;
    let replies = batch.as_array().expect("a batch reply is an array");
    assert_eq!(replies.len(), 4, "{batch}");
    let by_id = |id: Value| replies.iter().find(|r| r["id"] == id).unwrap().clone();
    assert_eq!(by_id(json!("a"))["result"], json!({"result": 3.0}));
    assert_eq!(by_id(json!("b"))["error"]["code"], -32601);
    assert_eq!(by_id(Value::Null)["error"]["code"], -32600);
    assert!(by_id(json!("c"))["result"]["tools"].is_array());
    // A batch of notifications only: no reply at all; the next line is the next answer.
    c.send(
        r#"[{"jsonrpc": "2.0", "method": "tool/list"}, {"jsonrpc": "2.0", "method": "tool/list"}]"#,
    )
    .await;
    c.ok(4, "tool/list", json!({})).await;

    // A slow call first, a quick one second: the quick answer comes first.
    c.send(&json!({"jsonrpc": "2.0", "id": 100, "method": "tool/call", "params": {"tool": "hostile.sleep", "arguments": {"ms": 400}}}).to_string())
        .await;
    c.send(&json!({"jsonrpc": "2.0", "id": 101, "method": "tool/call", "params": {"tool": "calculator.add", "arguments": {"a": 2, "b": 2}}}).to_string())
        .await;
    let first = c.recv().await;
    let second = c.recv().await;
    assert_eq!(
        (first["id"].as_i64(), second["id"].as_i64()),
        (Some(101), Some(100))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_frames_are_refused_and_the_stream_goes_on() {
    let mut c = start(1024).await;
    let huge = format!(
        r#"{{"jsonrpc": "2.0", "id": 1, "method": "tool/list", "params": {{"tenant": "{}"}}}}"#,
        "x".repeat(5000)
    );
    c.send(&huge).await;
    let refused = c.recv().await;
    assert_eq!(refused["error"]["code"], -32600);
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("1024-byte limit")
    );
    assert_eq!(c.ok(2, "tool/list", json!({})).await["tools"], json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_disconnects_mid_call_leaves_the_server_sound() {
    let mut c = start(1 << 20).await;
    let hostile = plugin_folder("hostile", guests::HOSTILE, "");
    c.ok(1, "plugin/load", json!({"path": hostile.path()}))
        .await;
    c.ok(2, "plugin/enable", json!({"plugin": "hostile"})).await;
    c.send(&json!({"jsonrpc": "2.0", "id": 3, "method": "tool/call", "params": {"tool": "hostile.sleep", "arguments": {"ms": 300}}}).to_string())
        .await;
    let Client {
        writer,
        reader,
        server,
        registry,
        _state,
    } = c;
    drop(writer);
    drop(reader);
    // The server finishes the call in flight, then returns cleanly.
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server ends when its client is gone")
        .unwrap()
        .unwrap();
    let ctx = airlock::CallContext::for_tenant("acme");
    let echoed = registry
        .call_tool("hostile.echo", &json!({"text": "still here"}), &ctx)
        .await
        .unwrap();
    assert_eq!(echoed, json!("still here"));
}

/// A plugin marked failing says how to recover, and `plugin/reset` brings it back at once
/// (issue #20): five traps in a row, then calls fail fast with a message naming the reset
/// on every front end; after the reset the plugin answers again.
#[tokio::test(flavor = "multi_thread")]
async fn a_failing_plugin_names_its_reset_and_the_reset_brings_it_back() {
    let mut c = start(1 << 20).await;
    let hostile = plugin_folder("hostile", guests::HOSTILE, "");
    c.ok(1, "plugin/load", json!({"path": hostile.path()}))
        .await;
    c.ok(2, "plugin/enable", json!({"plugin": "hostile"})).await;
    let panic = json!({"tool": "hostile.panic", "arguments": {"text": "boom"}});
    for id in 10..15 {
        assert_eq!(
            c.error(id, "tool/call", panic.clone()).await["code"],
            -32004
        );
    }
    let echo = json!({"tool": "hostile.echo", "arguments": {"text": "hi"}});
    let failing = c.error(20, "tool/call", echo.clone()).await;
    assert_eq!(failing["data"]["kind"], "failing", "{failing}");
    let message = failing["message"].as_str().unwrap();
    for hint in [
        "airlock plugins reset hostile",
        "plugin/reset",
        "/api/v1/plugins/hostile/reset",
    ] {
        assert!(message.contains(hint), "{message}");
    }
    let health = c
        .ok(21, "plugin/health", json!({"plugin": "hostile"}))
        .await;
    assert_eq!(health["state"], "failing");

    let reset = c.ok(22, "plugin/reset", json!({"plugin": "hostile"})).await;
    assert_eq!(reset["state"]["state"], "ready", "{reset}");
    assert_eq!(c.ok(23, "tool/call", echo).await, "hi");
    let not_enabled = c
        .error(24, "plugin/reset", json!({"plugin": "calculator"}))
        .await;
    assert!(
        not_enabled["message"]
            .as_str()
            .unwrap()
            .contains("calculator"),
        "{not_enabled}"
    );
}

/// `$/cancelRequest` (the Language Server Protocol's cancellation) ends a request in
/// flight with -32800 (here a guest blocked in a host call; the busy loop is tested on the
/// library, `lifecycle::a_cancelled_call_ends_at_once_and_frees_its_instance`), also when
/// the cancel overtakes its request, and every copy of a reused id; a cancel sent as a
/// request is answered; one for an unknown request changes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_request_ends_with_its_error_and_frees_the_instance() {
    let mut c = start(1 << 20).await;
    let hostile = plugin_folder("hostile", guests::HOSTILE, "[limits]\ndeadline = \"60s\"\n");
    c.ok(1, "plugin/load", json!({"path": hostile.path()}))
        .await;
    c.ok(2, "plugin/enable", json!({"plugin": "hostile"})).await;
    let sleep = |id: u64| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tool/call",
               "params": {"tool": "hostile.sleep", "arguments": {"ms": 60_000}}})
        .to_string()
    };
    let cancel = |id: u64| {
        json!({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": id}}).to_string()
    };
    let started = std::time::Instant::now();
    // In flight; then one whose cancel comes first; then two copies of one id.
    c.send(&sleep(10)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    c.send(&cancel(10)).await;
    c.send(&cancel(11)).await;
    c.send(&sleep(11)).await;
    c.send(&sleep(12)).await;
    c.send(&sleep(12)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    c.send(&cancel(12)).await;
    let mut ended = Vec::new();
    for _ in 0..4 {
        let reply = c.recv().await;
        assert_eq!(reply["error"]["code"], -32800, "{reply}");
        assert_eq!(reply["error"]["data"]["kind"], "cancelled", "{reply}");
        ended.push(reply["id"].as_u64().unwrap());
    }
    ended.sort();
    assert_eq!(ended, [10, 11, 12, 12]);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );

    let as_request =
        json!({"jsonrpc": "2.0", "id": 3, "method": "$/cancelRequest", "params": {"id": 99}});
    c.send(&as_request.to_string()).await;
    assert_eq!(
        c.recv().await,
        json!({"jsonrpc": "2.0", "id": 3, "result": null})
    );
    let sum = json!({"tool": "hostile.echo", "arguments": {"text": "after"}});
    assert_eq!(c.ok(4, "tool/call", sum).await, json!("after"));
    let health = c.ok(5, "plugin/health", json!({"plugin": "hostile"})).await;
    assert_eq!(health["usage"]["errors"]["cancelled"], 4, "{health}");
}
