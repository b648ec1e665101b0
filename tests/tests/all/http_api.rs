//! The admin and tool HTTP API on a real socket: the auth matrix on every route, the error
//! shape, the body cap, the OpenAPI document, and a graceful shutdown that lets a call in
//! flight finish.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use airlock_server::registry::{Registry, Role};
use airlock_server::serve::{Service, http};
use airlock_tests::http::request;
use airlock_tests::{TempDir, guests, plugin_folder};
use serde_json::json;

struct Server {
    address: SocketAddr,
    registry: Arc<Registry>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    _state: TempDir,
    _hostile: TempDir,
}

async fn start(max_body: usize) -> Server {
    let state = TempDir::new("http-api");
    let registry = Arc::new(airlock_tests::registry(&state));
    let hostile = plugin_folder("hostile", guests::HOSTILE, "");
    for dir in [
        std::path::Path::new(guests::CALCULATOR_DIR),
        std::path::Path::new(guests::REDACT_DIR),
        hostile.path(),
    ] {
        registry.install(dir).await.unwrap();
    }
    registry
        .enable("acme", "calculator", json!({}))
        .await
        .unwrap();
    registry.enable("acme", "hostile", json!({})).await.unwrap();
    let app = http::admin::router(Service::new(registry.clone(), "nobody"), max_body);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (shutdown, signal) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(http::serve(listener, app, async {
        let _ = signal.await;
    }));
    Server {
        address,
        registry,
        shutdown: Some(shutdown),
        task,
        _state: state,
        _hostile: hostile,
    }
}

/// (method, path, body, admin only)
const ROUTES: &[(&str, &str, &str, bool)] = &[
    ("GET", "/api/v1/plugins", "", true),
    (
        "POST",
        "/api/v1/plugins/redact/enable",
        r#"{"config": {"deny_tools": ["rm"]}}"#,
        true,
    ),
    ("GET", "/api/v1/plugins/redact/config", "", true),
    (
        "PUT",
        "/api/v1/plugins/redact/config",
        r#"{"deny_tools": ["curl"]}"#,
        true,
    ),
    ("GET", "/api/v1/plugins/calculator/health", "", true),
    ("GET", "/api/v1/plugins/calculator/audit", "", true),
    (
        "GET",
        "/api/v1/plugins/calculator/logs?follow=false",
        "",
        true,
    ),
    ("GET", "/api/v1/tools", "", false),
    (
        "POST",
        "/api/v1/tools/calculator.add/call",
        r#"{"arguments": {"a": 1, "b": 2}}"#,
        false,
    ),
    (
        "POST",
        "/api/v1/hooks/before-tool-call",
        r#"{"payload": {"tool": "curl"}}"#,
        false,
    ),
    ("POST", "/api/v1/plugins/redact/reset", "", true),
    ("POST", "/api/v1/plugins/redact/disable", "", true),
    ("GET", "/metrics", "", true),
];

#[tokio::test(flavor = "multi_thread")]
async fn every_route_enforces_its_auth() {
    let server = start(1 << 20).await;
    let admin = server
        .registry
        .create_token("acme", Role::Admin, "ops")
        .await
        .unwrap();
    let caller = server
        .registry
        .create_token("acme", Role::Caller, "agent")
        .await
        .unwrap();
    let stranger = server
        .registry
        .create_token("globex", Role::Admin, "other")
        .await
        .unwrap();
    let bearer = |t: &str| format!("Bearer {t}");
    for (method, path, body, admin_only) in ROUTES {
        let what = format!("{method} {path}");
        let none = request(server.address, method, path, &[], body.as_bytes()).await;
        assert_eq!(none.status, 401, "{what} without a token");
        assert_eq!(none.json()["error"]["code"], "unauthorized");
        assert_eq!(none.header("www-authenticate"), Some("Bearer"));
        let forged = request(
            server.address,
            method,
            path,
            &[("Authorization", "Bearer alk_0000")],
            body.as_bytes(),
        )
        .await;
        assert_eq!(forged.status, 401, "{what} with a forged token");

        let as_caller = request(
            server.address,
            method,
            path,
            &[("Authorization", &bearer(&caller))],
            body.as_bytes(),
        )
        .await;
        match admin_only {
            true => {
                assert_eq!(as_caller.status, 403, "{what} as a caller");
                assert_eq!(as_caller.json()["error"]["code"], "forbidden");
            }
            false => assert_eq!(
                as_caller.status,
                200,
                "{what} as a caller: {:?}",
                as_caller.json()
            ),
        }
        let join = if path.contains('?') { '&' } else { '?' };
        let other_tenant = format!("{path}{join}tenant=acme");
        let wrong = request(
            server.address,
            method,
            &other_tenant,
            &[("Authorization", &bearer(&stranger))],
            body.as_bytes(),
        )
        .await;
        assert_eq!(wrong.status, 403, "{what} for another tenant");

        let ok = request(
            server.address,
            method,
            path,
            &[("Authorization", &bearer(&admin))],
            body.as_bytes(),
        )
        .await;
        assert_eq!(ok.status, 200, "{what} as admin: {:?}", ok.json());
    }

    // What the admin did is real: the hook ran with the changed config and vetoed curl;
    // the call answered; the other tenant saw nothing.
    let auth = [("Authorization", bearer(&admin))];
    let auth: Vec<(&str, &str)> = auth.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let sum = request(
        server.address,
        "POST",
        "/api/v1/tools/calculator.add/call",
        &auth,
        br#"{"arguments": {"a": 40, "b": 2}}"#,
    )
    .await;
    let sum = sum.json();
    assert_eq!(sum["result"], json!({"result": 42.0}));
    // With the time the call took and the fuel its guest code burnt.
    assert!(sum["usage"]["duration_ms"].as_f64().unwrap() > 0.0, "{sum}");
    assert!(sum["usage"]["fuel"].as_u64().unwrap() > 0, "{sum}");
    let globex_tools = request(
        server.address,
        "GET",
        "/api/v1/tools",
        &[("Authorization", &bearer(&stranger))],
        b"",
    )
    .await;
    assert_eq!(globex_tools.json()["tools"], json!([]));
    assert_eq!(
        server.registry.config("acme", "redact").await.unwrap(),
        json!({"deny_tools": ["curl"]})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_have_one_json_shape_and_the_right_status() {
    let server = start(1024).await;
    let admin = format!(
        "Bearer {}",
        server
            .registry
            .create_token("acme", Role::Admin, "")
            .await
            .unwrap()
    );
    let auth = [("Authorization", admin.as_str())];
    let cases: &[(&str, &str, &[u8], u16, &str)] = &[
        (
            "POST",
            "/api/v1/tools/calculator.add/call",
            br#"{"arguments": {"a": "x"}}"#,
            400,
            "bad-arguments",
        ),
        (
            "POST",
            "/api/v1/tools/calculator.pow/call",
            b"{}",
            400,
            "unknown-tool",
        ),
        (
            "POST",
            "/api/v1/tools/calculator.divide/call",
            br#"{"arguments": {"a": 1, "b": 0}}"#,
            422,
            "plugin-error",
        ),
        (
            "POST",
            "/api/v1/tools/hostile.panic/call",
            br#"{"arguments": {"text": "x"}}"#,
            422,
            "trap",
        ),
        (
            "POST",
            "/api/v1/tools/calculator.add/call",
            b"{not json",
            400,
            "bad-json",
        ),
        // The tool's arguments at the top level, not inside `arguments`.
        (
            "POST",
            "/api/v1/tools/calculator.add/call",
            br#"{"a": 1, "b": 2}"#,
            400,
            "bad-request",
        ),
        (
            "GET",
            "/api/v1/plugins/weather/health",
            b"",
            404,
            "not-found",
        ),
        (
            "POST",
            "/api/v1/plugins/weather/enable",
            b"",
            404,
            "not-found",
        ),
        (
            "POST",
            "/api/v1/hooks/bogus-kind",
            b"{}",
            400,
            "invalid-request",
        ),
        ("GET", "/api/v1/nowhere", b"", 404, "not-found"),
    ];
    for (method, path, body, status, code) in cases {
        let reply = request(server.address, method, path, &auth, body).await;
        assert_eq!(reply.status, *status, "{method} {path}: {:?}", reply.json());
        let error = &reply.json()["error"];
        assert_eq!(error["code"], *code, "{method} {path}: {error}");
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let big = format!(
        r#"{{"arguments": {{"a": 1, "b": 2, "pad": "{}"}}}}"#,
        "x".repeat(4096)
    );
    let too_large = request(
        server.address,
        "POST",
        "/api/v1/tools/calculator.add/call",
        &auth,
        big.as_bytes(),
    )
    .await;
    assert_eq!(too_large.status, 413);
    assert_eq!(too_large.json()["error"]["code"], "payload-too-large");

    let openapi = request(server.address, "GET", "/api/v1/openapi.json", &[], b"").await;
    assert_eq!(openapi.status, 200);
    let doc = openapi.json();
    assert_eq!(doc["openapi"], "3.1.0");
    for (_, path, _, _) in ROUTES {
        let path = path.split('?').next().unwrap_or(path);
        let templated = path
            .replace("/redact/", "/{name}/")
            .replace("/calculator/", "/{name}/")
            .replace("calculator.add", "{tool}")
            .replace("before-tool-call", "{kind}");
        assert!(
            doc["paths"][&templated].is_object(),
            "{templated} documented"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_lets_the_call_in_flight_finish() {
    let mut server = start(1 << 20).await;
    let admin = format!(
        "Bearer {}",
        server
            .registry
            .create_token("acme", Role::Admin, "")
            .await
            .unwrap()
    );
    let address = server.address;
    let slow = tokio::spawn(async move {
        request(
            address,
            "POST",
            "/api/v1/tools/hostile.sleep/call",
            &[("Authorization", &admin)],
            br#"{"arguments": {"ms": 500}}"#,
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    server.shutdown.take().unwrap().send(()).unwrap();
    let reply = slow.await.unwrap();
    assert_eq!(reply.status, 200, "{:?}", reply.json());
    tokio::time::timeout(Duration::from_secs(10), &mut server.task)
        .await
        .expect("the server stops after the call")
        .unwrap()
        .unwrap();
    assert!(
        tokio::net::TcpStream::connect(address).await.is_err(),
        "no longer listening"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_token_is_refused_on_its_next_request() {
    let server = start(1 << 20).await;
    let registry = &server.registry;
    let kept = registry
        .create_token("acme", Role::Caller, "kept")
        .await
        .unwrap();
    let leaked = registry
        .create_token("acme", Role::Caller, "leaked")
        .await
        .unwrap();
    let listed = registry.tokens(Some("acme")).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(
        listed
            .iter()
            .all(|t| t.id.len() == 16 && !kept.contains(&t.id) && !leaked.contains(&t.id)),
        "ids are not parts of the secrets: {listed:?}"
    );
    let tools = |token: &str| {
        let header = format!("Bearer {token}");
        async move {
            request(
                server.address,
                "GET",
                "/api/v1/tools",
                &[("Authorization", &header)],
                b"",
            )
            .await
            .status
        }
    };
    assert_eq!(tools(&leaked).await, 200);

    let id = &listed.iter().find(|t| t.label == "leaked").unwrap().id;
    assert!(matches!(
        registry.revoke_token(&id[..4]).await,
        Err(airlock_server::registry::RegistryError::NoSuchToken(_))
    ));
    let revoked = registry.revoke_token(&id[..8]).await.unwrap();
    assert_eq!(revoked.label, "leaked");
    assert_eq!(
        tools(&leaked).await,
        401,
        "refused on the very next request"
    );
    assert_eq!(tools(&kept).await, 200, "other tokens keep working");
    assert!(matches!(
        registry.revoke_token(id).await,
        Err(airlock_server::registry::RegistryError::NoSuchToken(_))
    ));
    assert_eq!(registry.tokens(None).await.unwrap().len(), 1);

    // The secret itself names its token too, and an error never repeats a secret.
    assert_eq!(registry.revoke_token(&kept).await.unwrap().label, "kept");
    assert_eq!(tools(&kept).await, 401);
    let error = registry.revoke_token(&kept).await.unwrap_err().to_string();
    assert!(!error.contains(&kept[4..]), "{error}");
}

/// `GET /metrics` answers the token's tenant's plugins in the Prometheus text format, parsed
/// here by the Prometheus Python client's own parser: calls, errors by kind, the latency
/// histogram, fuel and memory reflect the calls just made; labels are plugin, tenant and
/// kind only.
#[tokio::test(flavor = "multi_thread")]
async fn metrics_are_prometheus_text_counting_every_call() {
    let server = start(1 << 20).await;
    let admin = server
        .registry
        .create_token("acme", Role::Admin, "ops")
        .await
        .unwrap();
    let auth = format!("Bearer {admin}");
    let headers = [("Authorization", auth.as_str())];
    let call = |tool: &'static str, body: &'static str| async move {
        let path = format!("/api/v1/tools/{tool}/call");
        request(server.address, "POST", &path, &headers, body.as_bytes()).await
    };
    for _ in 0..3 {
        assert_eq!(
            call("calculator.add", r#"{"arguments": {"a": 1, "b": 2}}"#)
                .await
                .status,
            200
        );
    }
    let bad = call("calculator.add", r#"{"arguments": {"a": "one"}}"#).await;
    assert_eq!(bad.status, 400, "{:?}", bad.json());
    let panicked = call("hostile.panic", r#"{"arguments": {"text": "boom"}}"#).await;
    assert_eq!(
        panicked.json()["error"]["code"],
        "trap",
        "{:?}",
        panicked.json()
    );

    let reply = request(server.address, "GET", "/metrics", &headers, b"").await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let samples = airlock_tests::prometheus::parse(&reply.body);
    let value = |name: &str, labels: &[(&str, &str)]| {
        samples
            .iter()
            .find(|s| {
                s.name == name
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .unwrap_or_else(|| panic!("no sample {name} {labels:?} in {samples:#?}"))
            .value
    };
    let calculator = [("plugin", "calculator"), ("tenant", "acme")];
    assert_eq!(value("airlock_calls_total", &calculator), 4.0);
    let bad_arguments = [("plugin", "calculator"), ("kind", "bad-arguments")];
    assert_eq!(value("airlock_call_errors_total", &bad_arguments), 1.0);
    assert_eq!(
        value("airlock_call_duration_seconds_count", &calculator),
        4.0
    );
    let inf = [("plugin", "calculator"), ("le", "+Inf")];
    assert_eq!(value("airlock_call_duration_seconds_bucket", &inf), 4.0);
    let ten_seconds = [("plugin", "calculator"), ("le", "10")];
    assert_eq!(
        value("airlock_call_duration_seconds_bucket", &ten_seconds),
        4.0
    );
    assert!(value("airlock_fuel_consumed_total", &calculator) > 0.0);
    assert!(value("airlock_memory_peak_bytes", &calculator) >= 65536.0);
    let live = [("plugin", "calculator"), ("state", "live")];
    assert!(value("airlock_instances", &live) >= 1.0);
    let trap = [("plugin", "hostile"), ("kind", "trap")];
    assert_eq!(value("airlock_call_errors_total", &trap), 1.0);
    assert_eq!(value("airlock_reloads_total", &calculator), 0.0);
    // The health report carries the same usage, with App Factory's field names.
    let health = request(
        server.address,
        "GET",
        "/api/v1/plugins/calculator/health",
        &headers,
        b"",
    )
    .await
    .json();
    let usage = &health["usage"];
    assert_eq!(usage["calls"], 4, "{health}");
    assert!(usage["latency_ms"].as_f64().unwrap() > 0.0, "{health}");
    assert!(usage["memory_mb"].as_f64().unwrap() > 0.0, "{health}");
    assert_eq!(usage["errors"], json!({"bad-arguments": 1}), "{health}");

    // Bounded labels: nothing but these names, never a call's own values.
    for sample in &samples {
        for label in sample.labels.keys() {
            assert!(
                ["plugin", "tenant", "kind", "state", "le"].contains(&label.as_str()),
                "{sample:?}"
            );
        }
    }
}

/// Opens a following log stream of `plugin` and reads its head: the connection (kept open)
/// and the status.
async fn open_log_stream(
    address: SocketAddr,
    bearer: &str,
    plugin: &str,
) -> (tokio::net::TcpStream, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "GET /api/v1/plugins/{plugin}/logs HTTP/1.1\r\nHost: {address}\r\nAuthorization: {bearer}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut seen = Vec::new();
    let mut byte = [0u8; 1];
    while !seen.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).await.unwrap(), 1, "the head ends");
        seen.push(byte[0]);
    }
    (stream, String::from_utf8_lossy(&seen).into_owned())
}

/// The log tail over server-sent events: a call's records come back, escaped, as JSON
/// events; a tenant's streams are capped (503 past four); a graceful shutdown ends the
/// streams still open instead of waiting for their clients.
#[tokio::test(flavor = "multi_thread")]
async fn log_streams_replay_the_tail_are_capped_and_end_at_shutdown() {
    use tokio::io::AsyncReadExt;
    let mut server = start(1 << 20).await;
    let garish = plugin_folder("garish", guests::GARISH, "");
    server.registry.install(garish.path()).await.unwrap();
    let enabled = server.registry.enable("acme", "garish", json!({})).await;
    enabled.unwrap();
    let token = server.registry.create_token("acme", Role::Admin, "");
    let admin = format!("Bearer {}", token.await.unwrap());
    let auth = [("Authorization", admin.as_str())];
    let path = "/api/v1/tools/garish.shout/call";
    let shout = request(server.address, "POST", path, &auth, b"{}").await;
    assert_eq!(shout.status, 200, "{:?}", shout.json());

    let path = "/api/v1/plugins/garish/logs?follow=false";
    let tail = request(server.address, "GET", path, &auth, b"").await;
    assert_eq!(tail.status, 200);
    assert_eq!(tail.header("content-type"), Some("text/event-stream"));
    let body = String::from_utf8(tail.body).unwrap();
    let records: Vec<serde_json::Value> = body
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .map(|data| serde_json::from_str(data).unwrap())
        .collect();
    let sources: Vec<&str> = records
        .iter()
        .map(|r| r["source"].as_str().unwrap())
        .collect();
    assert_eq!(
        sources,
        ["log", "stdout", "stdout", "stderr", "stderr", "exec"],
        "{body}"
    );
    assert_eq!(body.matches("event: log\n").count(), 6, "{body}");
    for record in &records {
        let text = record["text"].as_str().unwrap();
        assert!(!text.chars().any(airlock::text::is_unsafe), "{record}");
    }

    let mut open = Vec::new();
    for _ in 0..4 {
        let (stream, head) = open_log_stream(server.address, &admin, "garish").await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        open.push(stream);
    }
    let refused = request(
        server.address,
        "GET",
        "/api/v1/plugins/garish/logs",
        &auth,
        b"",
    )
    .await;
    assert_eq!(refused.status, 503);
    assert_eq!(refused.json()["error"]["code"], "too-many-streams");

    server.shutdown.take().unwrap().send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), &mut server.task)
        .await
        .expect("the open streams do not hold the shutdown up")
        .unwrap()
        .unwrap();
    for mut stream in open {
        let mut rest = Vec::new();
        let ended = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest));
        ended.await.expect("each stream ends").unwrap();
    }
}
