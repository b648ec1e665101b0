//! Outbound HTTP (`wasi:http` under `http` grants), observed from inside: the `fetch` example
//! plugin really requests URLs from loopback servers these tests start, and each test
//! asserts what the plugin got and what the server saw. The test policies exempt 127.0.0.1
//! from the blocklist (`allow-local`) unless a test is about the blocklist.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use airlock::folder::{AuditReport, review};
use airlock::policy::Policy;
use airlock::{CallContext, CallError, HookKind, LoadOptions, Plugin};
use airlock_server::registry::Registry;
use airlock_server::serve::{McpServer, Service, lines};
use airlock_tests::web::{Tls, WebServer};
use airlock_tests::{TempDir, guests, host_log_of, plugin_folder, runtime};
use serde_json::{Value, json};

const ALLOW_LOCAL: &str = "[network]\nallow-local = [\"127.0.0.1/32\"]\n";

/// The `fetch` plugin with manifest `[capabilities] http = MANIFEST` (plus `extra`), under a
/// policy of `policy_head` and `[plugins.fetch] http = POLICY`.
async fn fetcher(
    manifest: &str,
    policy: &str,
    policy_head: &str,
    extra: &str,
) -> (Plugin, TempDir) {
    granted("fetch", guests::FETCH, manifest, policy, policy_head, extra).await
}

/// Plugin `name` (its `component`) granted `http = MANIFEST` by its manifest (plus `extra`)
/// and `http = POLICY` by a policy starting with `policy_head`.
async fn granted(
    name: &str,
    component: &str,
    manifest: &str,
    policy: &str,
    policy_head: &str,
    extra: &str,
) -> (Plugin, TempDir) {
    let folder = plugin_folder(
        name,
        component,
        &format!("{extra}\n[capabilities]\nhttp = {manifest}\n"),
    );
    let policy = policy_for(
        &folder,
        &format!("{policy_head}\n[plugins.{name}]\nhttp = {policy}\n"),
    );
    let plugin = runtime()
        .load_dir(folder.path(), &policy, LoadOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{name} loads: {e}"));
    (plugin, folder)
}

fn policy_for(folder: &TempDir, text: &str) -> Policy {
    Policy::parse(text, Path::new("policy.toml"), folder.path()).expect("policy parses")
}

/// `request {method, url, …}` as the plugin saw it: the response, or the plugin error
/// (code, message) its SDK made of the failure.
async fn send(plugin: &Plugin, arguments: Value) -> Result<Value, (u32, String)> {
    match plugin
        .call_tool("request", &arguments, &CallContext::default())
        .await
    {
        Ok(value) => Ok(value),
        Err(CallError::Plugin { code, message, .. }) => Err((code, message)),
        Err(other) => panic!("not a plugin-level outcome: {other:?}"),
    }
}

async fn get(plugin: &Plugin, url: &str) -> Result<Value, (u32, String)> {
    send(plugin, json!({"method": "GET", "url": url})).await
}

fn assert_denied(outcome: Result<Value, (u32, String)>, what: &str) {
    match outcome {
        Err((403, message)) => assert!(message.contains("not granted"), "{what}: {message}"),
        other => panic!("{what} was not denied: {other:?}"),
    }
}

/// The grant's URL prefix and method are the whole reach: every other path, host, port,
/// scheme and method is denied before a byte leaves (the server never sees them), dot
/// segments and encoded tricks included; what is sent is what was checked; and the host's
/// log names the grant that is missing.
#[tokio::test(flavor = "current_thread")]
async fn a_granted_prefix_is_reachable_and_nothing_else() {
    let server = WebServer::start(None).await;
    let origin = server.origin(false);
    let entry = format!("[{{ url = \"{origin}/v1\", methods = [\"GET\"] }}]");
    let (plugin, _folder) = fetcher(&entry, &entry, ALLOW_LOCAL, "").await;

    let hello = get(&plugin, &format!("{origin}/v1/hello")).await.unwrap();
    assert_eq!(
        (hello["status"].as_u64(), hello["text"].as_str()),
        (Some(200), Some("hello from v1"))
    );
    let echo = get(&plugin, &format!("{origin}/v1/echo")).await.unwrap();
    let seen: Value = serde_json::from_str(echo["text"].as_str().unwrap()).unwrap();
    assert_eq!(
        seen["host"],
        json!(server.address.to_string()),
        "Host is the URL's authority"
    );
    let dotted = get(&plugin, &format!("{origin}/v1/x/../hello"))
        .await
        .unwrap();
    assert_eq!(dotted["status"], 200);

    let port = server.address.port();
    let (log_lines, _, log) = host_log_of(async {
        for url in [
            format!("{origin}/admin"),
            format!("{origin}/v10/hello"),
            format!("{origin}/v1/../admin"),
            format!("{origin}/v1/%2e%2e/admin"),
            format!("{origin}/v1/%2E%2e/%2e%2E/admin"),
            format!("{origin}/v1%2F..%2Fadmin"),
            format!("{origin}/v1/x%2F..%2F..%2Fadmin"),
            format!("{origin}/v1//../admin"),
            format!("http://localhost:{port}/v1/hello"),
            format!("http://127.0.0.2:{port}/v1/hello"),
            format!("http://127.0.0.1:{}/v1/hello", port.wrapping_add(1)),
            format!("https://127.0.0.1:{port}/v1/hello"),
            format!("http://user@127.0.0.1:{port}/v1/hello"),
        ] {
            assert_denied(get(&plugin, &url).await, &url);
        }
        let post = send(
            &plugin,
            json!({"method": "POST", "url": format!("{origin}/v1/echo"), "body": "x"}),
        )
        .await;
        assert_denied(post, "POST");
    })
    .await;
    assert!(log_lines >= 14, "{log}");
    assert!(
        log.contains(&format!(
            r#"http = [{{ url = "http://127.0.0.1:{port}/admin", methods = ["GET"] }}]"#
        )),
        "the log names the missing grant: {log}"
    );
    assert!(log.contains("encoded `/`"), "{log}");
    assert_eq!(
        server.paths(),
        ["/v1/hello", "/v1/echo", "/v1/hello"],
        "sent as checked, nothing else"
    );
}

/// The network blocklist applies to every address a granted name resolves to, and to IP
/// literals: `localhost` reaches 127.0.0.1 only when the policy exempts it, and the cloud
/// metadata address stays blocked even when a grant names it.
#[tokio::test(flavor = "current_thread")]
async fn names_and_addresses_are_checked_against_the_blocklist() {
    let server = WebServer::start(None).await;
    let port = server.address.port();
    let local = format!("[\"http://localhost:{port}/v1\", \"http://169.254.169.254/latest\"]");
    let (blocked, _f1) = fetcher(&local, &local, "", "").await;
    let (_, _, log) = host_log_of(async {
        assert_denied(
            get(&blocked, &format!("http://localhost:{port}/v1/hello")).await,
            "localhost",
        );
        assert_denied(
            get(&blocked, "http://169.254.169.254/latest/meta-data/").await,
            "metadata",
        );
    })
    .await;
    assert!(log.contains("addresses the policy blocks"), "{log}");
    assert!(server.paths().is_empty());

    let (allowed, _f2) = fetcher(&local, &local, ALLOW_LOCAL, "").await;
    let hello = get(&allowed, &format!("http://localhost:{port}/v1/hello"))
        .await
        .unwrap();
    assert_eq!(
        hello["status"], 200,
        "the exempt address is reached by name"
    );
    assert_denied(
        get(&allowed, "http://169.254.169.254/latest/meta-data/").await,
        "metadata",
    );
}

/// A redirect is handed to the plugin as it is, never followed by the host: not to a
/// private address, not to a path of the same server the grant does not cover.
#[tokio::test(flavor = "multi_thread")]
async fn redirects_are_not_followed() {
    let server = WebServer::start(None).await;
    let origin = server.origin(false);
    let entry = format!("[\"{origin}/v1\"]");
    let (plugin, _folder) = fetcher(&entry, &entry, ALLOW_LOCAL, "").await;
    for target in [
        "http://169.254.169.254/latest/meta-data/".to_string(),
        format!("{origin}/admin"),
    ] {
        let reply = get(&plugin, &format!("{origin}/v1/redirect?to={target}"))
            .await
            .unwrap();
        assert_eq!(reply["status"], 302);
        assert_eq!(reply["location"], json!(target));
    }
    assert_eq!(server.paths(), ["/v1/redirect", "/v1/redirect"]);
}

/// Bodies over `[limits] http-body` end as a typed error — announced or streamed, request
/// or response — and the host does not buffer them: its memory stays flat over many.
#[tokio::test(flavor = "multi_thread")]
async fn bodies_over_the_cap_are_refused_and_host_memory_stays_flat() {
    let server = WebServer::start(None).await;
    let origin = server.origin(false);
    let entry = format!("[\"{origin}/v1\"]");
    let limits = "[limits]\nhttp-body = \"64KiB\"\ndeadline = \"10s\"\n";
    let (plugin, _folder) = fetcher(&entry, &entry, ALLOW_LOCAL, limits).await;
    let too_large = |outcome: Result<Value, (u32, String)>, what: &str| match outcome {
        Err((413, _)) => {}
        other => panic!("{what}: {other:?}"),
    };
    let big = 8 << 20;
    let max = json!(big * 2);
    let within = send(
        &plugin,
        json!({"method": "GET", "url": format!("{origin}/v1/big?n=65536"), "max_bytes": max}),
    )
    .await;
    assert_eq!(
        within.unwrap()["bytes"],
        65536,
        "a body at the cap is whole"
    );
    let rss_before = rss_bytes();
    for _ in 0..8 {
        for kind in ["big", "stream"] {
            let url = format!("{origin}/v1/{kind}?n={big}");
            too_large(
                send(
                    &plugin,
                    json!({"method": "GET", "url": url, "max_bytes": max}),
                )
                .await,
                kind,
            );
        }
    }
    let growth = rss_bytes().saturating_sub(rss_before);
    assert!(
        growth < 32 << 20,
        "host RSS grew by {growth} bytes over 128 MiB of refused bodies"
    );
    let upload =
        json!({"method": "POST", "url": format!("{origin}/v1/echo"), "body": "u".repeat(100_000)});
    too_large(send(&plugin, upload).await, "request body");
}

fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// A server that takes the request and never answers ends the call at its deadline, as
/// `DeadlineExceeded`, and the plugin's next call is served.
#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_never_answers_ends_at_the_deadline() {
    let server = WebServer::start(None).await;
    let origin = server.origin(false);
    let entry = format!("[\"{origin}/v1\"]");
    let (plugin, _folder) =
        fetcher(&entry, &entry, ALLOW_LOCAL, "[limits]\ndeadline = \"1s\"\n").await;
    let started = Instant::now();
    let error = plugin
        .call_tool(
            "fetch",
            &json!({"url": format!("{origin}/v1/hang")}),
            &CallContext::default(),
        )
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(error, CallError::DeadlineExceeded { .. }),
        "{error:?}"
    );
    assert!(
        took < Duration::from_millis(1800),
        "ended {took:?} after a 1 s deadline"
    );
    assert_eq!(
        get(&plugin, &format!("{origin}/v1/hello")).await.unwrap()["status"],
        200
    );
}

/// HTTPS to a server whose certificate a private CA signed: trusted when the policy's
/// `[http] ca` names that CA, a TLS error (not a denial) without it.
#[tokio::test(flavor = "multi_thread")]
async fn https_trusts_the_policy_ca_and_only_it() {
    let tls = Tls::new();
    let server = WebServer::start(Some(&tls)).await;
    let origin = server.origin(true);
    let entry = format!("[\"{origin}/v1\"]");
    let (untrusted, _f1) = fetcher(&entry, &entry, ALLOW_LOCAL, "").await;
    match get(&untrusted, &format!("{origin}/v1/hello")).await {
        Err((502, message)) => assert!(message.contains("TLS"), "{message}"),
        other => panic!("an unknown CA was accepted: {other:?}"),
    }
    let folder = plugin_folder(
        "fetch",
        guests::FETCH,
        &format!("[capabilities]\nhttp = {entry}\n"),
    );
    tls.write_ca(folder.path(), "ca.pem");
    let policy = policy_for(
        &folder,
        &format!("{ALLOW_LOCAL}\n[http]\nca = \"ca.pem\"\n\n[plugins.fetch]\nhttp = {entry}\n"),
    );
    let trusted = runtime()
        .load_dir(folder.path(), &policy, LoadOptions::default())
        .await
        .unwrap();
    let hello = get(&trusted, &format!("{origin}/v1/hello")).await.unwrap();
    assert_eq!(
        (hello["status"].as_u64(), hello["text"].as_str()),
        (Some(200), Some("hello from v1"))
    );
    let bad = Policy::parse(
        "[http]\nca = \"missing.pem\"\n",
        Path::new("p.toml"),
        folder.path(),
    );
    assert!(
        bad.unwrap_err().to_string().contains("[http] ca"),
        "a missing CA file is a policy error"
    );
}

/// A plugin importing `wasi:http` without a grant loads, and every request it makes —
/// here from a hook — is denied.
#[tokio::test(flavor = "multi_thread")]
async fn a_hook_plugin_without_a_grant_is_denied() {
    let server = WebServer::start(None).await;
    let folder = plugin_folder("webhook", guests::WEBHOOK, "");
    let policy = policy_for(&folder, ALLOW_LOCAL);
    let url = format!("{}/v1/echo", server.origin(false));
    let hook = runtime()
        .load_dir(
            folder.path(),
            &policy,
            LoadOptions::default().config(json!({"url": url})),
        )
        .await
        .expect("loads without a grant");
    assert!(hook.grant().http.entries.is_empty());
    let outcome = hook
        .handle_hook(
            &HookKind::BeforeToolCall,
            &json!({"tool": "t", "arguments": {}}),
            &CallContext::default(),
        )
        .await;
    match outcome {
        Err(CallError::Plugin {
            code: 403, message, ..
        }) => assert!(message.contains("not granted"), "{message}"),
        other => panic!("{other:?}"),
    }
    assert!(server.paths().is_empty());
}

/// A request the manifest asks for but the policy does not allow is refused at load, with
/// the policy line to add; the audit shows requested, allowed and effective.
#[tokio::test(flavor = "multi_thread")]
async fn ungranted_requests_are_refused_at_load_and_audited() {
    let asked =
        r#"["https://api.example.com/v1", { url = "https://b.example.com", methods = ["GET"] }]"#;
    let folder = plugin_folder(
        "fetch",
        guests::FETCH,
        &format!("[capabilities]\nhttp = {asked}\n"),
    );
    let narrow = policy_for(
        &folder,
        "[plugins.fetch]\nhttp = [\"https://api.example.com/v1/users\"]\n",
    );
    let error = runtime()
        .load_dir(folder.path(), &narrow, LoadOptions::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(r#"[plugins.fetch] http = ["https://api.example.com/v1"]"#),
        "{error}"
    );
    assert!(
        error.contains(r#"http = [{ url = "https://b.example.com", methods = ["GET"] }]"#),
        "{error}"
    );
    let wide = policy_for(
        &folder,
        "[plugins.fetch]\nhttp = [\"https://api.example.com\", \"https://*.example.com\"]\n",
    );
    let review = review(&runtime(), folder.path(), &wide).await;
    assert!(review.errors.is_empty(), "{:?}", review.errors);
    let report = AuditReport::from(&review);
    let row = &report.capabilities["http"];
    assert_eq!(
        row["requested"],
        json!(["https://api.example.com/v1", {"url": "https://b.example.com", "methods": ["GET"]}])
    );
    assert_eq!(
        row["allowed"],
        json!(["https://api.example.com", "https://*.example.com"])
    );
    assert_eq!(row["effective"], row["requested"]);
    assert_eq!(
        report.limits["effective"]["http_body"],
        4 << 20,
        "the default body cap"
    );
    assert!(report.imports.iter().any(
        |i| i.import.starts_with("wasi:http/outgoing-handler") && i.capability == Some("http")
    ));
}

/// The same grant and checks when the call comes over JSON-RPC (`tool/call`) and MCP
/// (`tools/call`) from a registry tenant.
#[tokio::test(flavor = "multi_thread")]
async fn json_rpc_and_mcp_calls_get_the_same_checks() {
    let server = WebServer::start(None).await;
    let origin = server.origin(false);
    let entry = format!("[\"{origin}/v1\"]");
    let folder = plugin_folder(
        "fetch",
        guests::FETCH,
        &format!("[capabilities]\nhttp = {entry}\n"),
    );
    let state = TempDir::new("http-fronts");
    let policy = policy_for(
        &folder,
        &format!("{ALLOW_LOCAL}\n[plugins.fetch]\nhttp = {entry}\n"),
    );
    let registry =
        Arc::new(Registry::open(&state.path().join("registry.db"), runtime(), policy).unwrap());
    registry.install(folder.path()).await.unwrap();
    registry.enable("acme", "fetch", json!({})).await.unwrap();

    let service = Service::new(registry.clone(), "acme");
    let rpc = |id: u64, url: String| json!({"jsonrpc": "2.0", "id": id, "method": "tool/call", "params": {"tool": "fetch.fetch", "arguments": {"url": url}}});
    let ok = answer(&service, rpc(1, format!("{origin}/v1/hello"))).await;
    assert_eq!(ok["result"]["status"], 200, "{ok}");
    let denied = answer(&service, rpc(2, format!("{origin}/admin"))).await;
    assert!(
        denied["error"].to_string().contains("not granted"),
        "{denied}"
    );

    let mcp = McpServer::new(registry, "acme");
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    answer(&mcp, init).await;
    let call = |id: u64, url: String| json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": "fetch.fetch", "arguments": {"url": url}}});
    let ok = answer(&mcp, call(2, format!("{origin}/v1/hello"))).await;
    assert_eq!(ok["result"]["isError"], false, "{ok}");
    assert_eq!(ok["result"]["structuredContent"]["status"], 200, "{ok}");
    let denied = answer(&mcp, call(3, format!("{origin}/v1/../admin"))).await;
    assert_eq!(denied["result"]["isError"], true, "{denied}");
    assert!(denied.to_string().contains("not granted"), "{denied}");
    assert_eq!(server.paths(), ["/v1/hello", "/v1/hello"]);
}

async fn answer<H: lines::Handler>(handler: &H, request: Value) -> Value {
    let frame = airlock_server::serve::jsonrpc::parse(&request.to_string());
    let (outbox, _) = tokio::sync::mpsc::unbounded_channel();
    lines::answer(handler, frame, &outbox)
        .await
        .expect("a reply")
}

/// At most `MAX_IN_FLIGHT` requests of one instance are open at once: the next is refused
/// with `connection-limit-reached` while they hang, and they are released with the call.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_requests_per_instance_are_capped() {
    use airlock::capabilities::http::send::MAX_IN_FLIGHT;
    let server = WebServer::start(None).await;
    let entry = format!("[\"{}/v1\"]", server.origin(false));
    let (prober, _folder) =
        granted("prober", guests::PROBER, &entry, &entry, ALLOW_LOCAL, "").await;
    let burst = |path: &str| json!({"url_authority": server.address.to_string(), "path": path, "count": MAX_IN_FLIGHT + 1});
    let ctx = CallContext::default();
    let states = prober
        .call_tool("http_burst", &burst("/v1/hang"), &ctx)
        .await
        .unwrap();
    let states: Vec<&str> = states
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(
        states[..MAX_IN_FLIGHT],
        vec!["pending"; MAX_IN_FLIGHT],
        "{states:?}"
    );
    assert_eq!(
        states[MAX_IN_FLIGHT], "error ErrorCode::ConnectionLimitReached",
        "{states:?}"
    );
    // The hanging requests' tasks are aborted when their call drops them; aborting is
    // asynchronous, so give it a moment before counting on their slots.
    let mut released = Value::Null;
    for _ in 0..40 {
        released = prober
            .call_tool("http_burst", &burst("/v1/hello"), &ctx)
            .await
            .unwrap();
        let all_ok = released.as_array().unwrap()[..MAX_IN_FLIGHT]
            .iter()
            .all(|s| s == "response 200");
        if all_ok {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the hanging requests were not released after their call: {released}");
}

/// What a plugin makes the host log about its requests counts against the call's log
/// budget: a loop of refused requests cannot flood the host's log.
#[tokio::test(flavor = "current_thread")]
async fn refused_requests_log_within_the_calls_budget() {
    use airlock::log_budget::LOG_RECORDS;
    let server = WebServer::start(None).await;
    let entry = format!("[\"{}/v1\"]", server.origin(false));
    let (prober, _folder) =
        granted("prober", guests::PROBER, &entry, &entry, ALLOW_LOCAL, "").await;
    let count = LOG_RECORDS * 3;
    let arguments =
        json!({"url_authority": server.address.to_string(), "path": "/admin", "count": count});
    let (lines, _, log) = host_log_of(async {
        let answered = prober
            .call_tool("http_repeat", &arguments, &CallContext::default())
            .await
            .unwrap();
        assert_eq!(answered, 0, "every request was refused");
    })
    .await;
    let denials = log.matches("http request denied").count();
    assert!(
        denials > 0 && denials <= LOG_RECORDS,
        "{denials} denial lines for {count} requests"
    );
    assert!(
        lines <= LOG_RECORDS + 10,
        "{lines} host log lines for {count} refused requests"
    );
    assert!(server.paths().is_empty());
}

/// The Python SDK's `http` module, in the Python `fetch` example: the same grant checks and
/// the same answers as the Rust plugin, its failures typed plugin errors with the same
/// codes; and only a Python plugin that imports it imports `wasi:http` at all.
#[tokio::test(flavor = "multi_thread")]
async fn a_python_plugin_fetches_through_its_sdk_within_its_grant() {
    let built = airlock_tests::polyglot::python_fetch();
    let server = WebServer::start(None).await;
    let origin = server.origin(false);
    let entry = format!("[{{ url = \"{origin}/v1\", methods = [\"GET\", \"POST\"] }}]");
    let (plugin, folder) = granted("fetch", built.path(), &entry, &entry, ALLOW_LOCAL, "").await;

    let hello = plugin
        .call_tool(
            "fetch",
            &json!({"url": format!("{origin}/v1/hello")}),
            &CallContext::default(),
        )
        .await
        .unwrap();
    assert_eq!(hello["status"], 200);
    assert_eq!(hello["text"], "hello from v1");
    assert_eq!(hello["content_type"], "text/plain");
    let posted = send(
        &plugin,
        json!({"method": "POST", "url": format!("{origin}/v1/echo"), "body": "ping",
               "headers": {"x-test": "1"}}),
    )
    .await
    .unwrap();
    let seen: Value = serde_json::from_str(posted["text"].as_str().unwrap()).unwrap();
    assert_eq!(
        (seen["method"].as_str(), seen["body"].as_str()),
        (Some("POST"), Some("ping"))
    );
    assert_eq!(posted["headers"]["content-type"], "application/json");
    let cut = send(
        &plugin,
        json!({"method": "GET", "url": format!("{origin}/v1/big?n=10000"), "max_bytes": 100}),
    )
    .await
    .unwrap();
    assert_eq!(
        (cut["bytes"].as_u64(), cut["truncated"].as_bool()),
        (Some(100), Some(true))
    );

    let before = server.paths().len();
    assert_denied(get(&plugin, &format!("{origin}/admin")).await, "/admin");
    assert_denied(
        send(
            &plugin,
            json!({"method": "DELETE", "url": format!("{origin}/v1/hello")}),
        )
        .await,
        "DELETE",
    );
    assert_eq!(
        server.paths().len(),
        before,
        "nothing denied reached the server"
    );
    match send(
        &plugin,
        json!({"method": "GET", "url": format!("{origin}/v1/hang"), "timeout_ms": 200}),
    )
    .await
    {
        Err((504, message)) => assert!(message.contains("timed out"), "{message}"),
        other => panic!("a hanging server is not a timeout: {other:?}"),
    }
    match get(&plugin, "ftp://example.com/x").await {
        Err((400, message)) => assert!(message.contains("neither http nor https"), "{message}"),
        other => panic!("a bad scheme is not a bad request: {other:?}"),
    }

    // The audit shows the import; a Python plugin without `airlock_sdk.http` has none.
    let http_imports = |report: &AuditReport| {
        let imports = report
            .imports
            .iter()
            .filter(|i| i.import.starts_with("wasi:http/"));
        imports
            .map(|i| (i.import.clone(), i.capability))
            .collect::<Vec<_>>()
    };
    let policy = policy_for(
        &folder,
        &format!("{ALLOW_LOCAL}\n[plugins.fetch]\nhttp = {entry}\n"),
    );
    let fetch = review(&runtime(), folder.path(), &policy).await;
    assert!(fetch.errors.is_empty(), "{:?}", fetch.errors);
    assert_eq!(
        http_imports(&AuditReport::from(&fetch)),
        [
            ("wasi:http/types@0.2.9".to_string(), Some("http")),
            ("wasi:http/outgoing-handler@0.2.9".to_string(), Some("http"))
        ]
    );
    let vowels = airlock_tests::polyglot::count_vowels(airlock_tests::polyglot::Lang::Python);
    let vowels = review(&runtime(), &vowels.dir, &Policy::default()).await;
    assert!(vowels.errors.is_empty(), "{:?}", vowels.errors);
    assert_eq!(http_imports(&AuditReport::from(&vowels)), []);
}
