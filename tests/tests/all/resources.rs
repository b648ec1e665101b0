//! Host resources a plugin could exhaust for everyone, and pseudo-filesystems, on real
//! components: open handles (a guest opening files in a loop hits its cap while another
//! plugin keeps reading and the host keeps loading), session contexts (reads create
//! nothing, ids are bounded, entries expire), MCP HTTP sessions (capped, idle ones expire,
//! 503 past the cap), and file grants of `/proc`, `/sys`, `/dev` (refused unless the policy
//! says `unsafe-host-paths = true`, and then flagged by the audit).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use airlock::folder::{AuditReport, review};
use airlock::policy::Policy;
use airlock::{CallContext, CallError, LoadError, LoadOptions, Plugin, Runtime, SessionLimits};
use airlock_server::serve::{McpServer, http};
use airlock_tests::http::request;
use airlock_tests::{TempDir, guests, plugin_folder, runtime};
use serde_json::{Value, json};

/// Runs a prober tool; the call's own failure (a trap, a limit) is the `Err`.
async fn try_probe(
    plugin: &Plugin,
    ctx: &CallContext,
    tool: &str,
    arguments: Value,
) -> Result<(bool, String), CallError> {
    let out = plugin.call_tool(tool, &arguments, ctx).await?;
    Ok((
        out["ok"].as_bool().unwrap(),
        out["detail"].as_str().unwrap().to_string(),
    ))
}

async fn probe(plugin: &Plugin, ctx: &CallContext, tool: &str, arguments: Value) -> (bool, String) {
    try_probe(plugin, ctx, tool, arguments)
        .await
        .expect("the probe itself runs")
}

/// A prober folder granted `data/` (holding `hello.txt`) read-only at `/data`.
async fn prober_reading_data(runtime: &Runtime, options: LoadOptions) -> (Plugin, TempDir) {
    let folder = plugin_folder(
        "prober",
        guests::PROBER,
        "[capabilities]\nfiles = [{ host = \"data\", guest = \"/data\", access = \"read\" }]\n",
    );
    std::fs::create_dir_all(folder.path().join("data")).unwrap();
    std::fs::write(folder.path().join("data/hello.txt"), "hello").unwrap();
    let policy = Policy::parse(
        "[plugins.prober]\nfiles = [{ host = \"data\", access = \"read\" }]\n",
        Path::new("policy.toml"),
        folder.path(),
    )
    .unwrap();
    let plugin = runtime
        .load_dir(folder.path(), &policy, options)
        .await
        .expect("prober loads");
    (plugin, folder)
}

fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plugin_opening_files_in_a_loop_hits_its_handle_cap_while_others_keep_working() {
    let runtime = runtime();
    let (hog, _hog_dir) = prober_reading_data(&runtime, LoadOptions::default().pool(16, 16)).await;
    let (neighbour, _dir) = prober_reading_data(&runtime, LoadOptions::default()).await;
    let acme = CallContext::for_tenant("acme");
    let globex = CallContext::for_tenant("globex");
    let hold = json!({"path": "/data/hello.txt", "count": 5000});

    let error = try_probe(&hog, &acme, "hold_files", hold.clone())
        .await
        .expect_err("5000 open files are past any instance's cap");
    let CallError::HandleLimit { limit, set_by, .. } = &error else {
        panic!("a typed handle-limit error, got {error:?}");
    };
    assert!(*limit <= airlock::Limits::default().handles, "{error}");
    assert_eq!(error.kind(), "handle-limit");
    assert!(
        error
            .to_string()
            .contains(&format!("handle limit of {limit}")),
        "{error} ({set_by})"
    );

    // Many instances at once, each holding as many files as it can: together they stay
    // within the plugin's share of the process's descriptors.
    let before = open_descriptors();
    let calls = (0..12).map(|_| {
        let (hog, acme, hold) = (
            hog.clone(),
            acme.clone(),
            json!({"path": "/data/hello.txt", "count": 1000}),
        );
        tokio::spawn(async move { try_probe(&hog, &acme, "hold_files", hold).await })
    });
    let mut capped = 0;
    for call in calls.collect::<Vec<_>>() {
        match call.await.unwrap() {
            Err(CallError::HandleLimit { .. }) => capped += 1,
            Err(other) => panic!("only the handle cap may stop it: {other}"),
            Ok(_) => {}
        }
    }
    assert!(capped > 0, "1000 files each is past the per-instance cap");
    let held = open_descriptors().saturating_sub(before);
    let plugin_budget = airlock::handles::process_budget().total() / airlock::handles::PLUGIN_SHARE;
    assert!(
        held <= plugin_budget,
        "{held} descriptors held, over the plugin's budget of {plugin_budget}"
    );

    // Another tenant's plugin still reads, and the host still loads plugins.
    assert_eq!(
        probe(
            &neighbour,
            &globex,
            "read_file",
            json!({"path": "/data/hello.txt"})
        )
        .await,
        (true, "hello".into())
    );
    runtime
        .load_file(guests::PROBER, LoadOptions::default())
        .await
        .expect("the host still loads plugins");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_descriptor_budget_sits_below_the_process_limit_with_headroom() {
    let limit = airlock::handles::raise_descriptor_limit();
    let budget = airlock::handles::process_budget().total();
    assert!(
        budget < limit && limit - budget >= 512.min(limit),
        "{budget} of {limit}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn session_reads_create_nothing_ids_are_bounded_and_sessions_expire() {
    let limits = SessionLimits {
        ttl: Duration::from_millis(1500),
        ..SessionLimits::default()
    };
    let runtime = Runtime::builder().session_limits(limits).build().unwrap();
    let prober = runtime
        .load_file(guests::PROBER, LoadOptions::default())
        .await
        .unwrap();
    let sessions = runtime.sessions();
    for n in 0..300 {
        let ctx = CallContext::for_tenant("acme").with_session(format!("s{n}"));
        let got = probe(&prober, &ctx, "session_get", json!({"name": "k"})).await;
        assert_eq!(got, (false, "absent".into()));
        probe(&prober, &ctx, "session_keys", json!({})).await;
    }
    assert_eq!(sessions.len(), 0, "reads created sessions");

    let long = CallContext::for_tenant("acme").with_session("x".repeat(64 << 10));
    let (ok, detail) = probe(
        &prober,
        &long,
        "session_set",
        json!({"path": "k", "text": "1"}),
    )
    .await;
    assert!(!ok && detail.contains("256-byte cap"), "{detail}");
    assert_eq!(sessions.len(), 0, "a long id holds nothing");

    let ctx = CallContext::for_tenant("acme").with_session("chat");
    let set = json!({"path": "k", "text": "1"});
    assert_eq!(
        probe(&prober, &ctx, "session_set", set).await,
        (true, "set".into())
    );
    assert_eq!(sessions.len(), 1);
    tokio::time::sleep(Duration::from_millis(2600)).await;
    assert_eq!(sessions.len(), 0, "the session expired");
    assert_eq!(
        probe(&prober, &ctx, "session_get", json!({"name": "k"})).await,
        (false, "absent".into())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn mcp_http_sessions_are_capped_and_idle_ones_expire() {
    let state = TempDir::new("mcp-caps");
    let registry = Arc::new(airlock_tests::registry(&state));
    let caps = http::mcp::SessionCaps {
        max_sessions: 3,
        idle_timeout: Duration::from_millis(600),
    };
    let app = http::mcp::router_with_sessions(McpServer::new(registry, "acme"), vec![], caps);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(http::serve(listener, app, std::future::pending()));
    let headers = [
        ("Content-Type", "application/json"),
        ("Accept", "application/json, text/event-stream"),
    ];
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}}}).to_string();
    let init = || request(address, "POST", "/mcp", &headers, initialize.as_bytes());

    let mut ids = Vec::new();
    for _ in 0..3 {
        let reply = init().await;
        assert_eq!(reply.status, 200);
        ids.push(reply.header("mcp-session-id").unwrap().to_string());
    }
    let full = init().await;
    assert_eq!(full.status, 503, "past the cap");
    assert!(full.header("retry-after").is_some());
    assert!(full.header("mcp-session-id").is_none());
    let body = full.json();
    assert_eq!(body["error"]["code"], -32015);
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("cap of 3"), "{message}");

    // Ending one frees its slot.
    let end = [("Mcp-Session-Id", ids[0].as_str())];
    assert_eq!(
        request(address, "DELETE", "/mcp", &end, b"").await.status,
        204
    );
    assert_eq!(init().await.status, 200);

    // Idle ones expire: their ids are unknown, and their slots are free again.
    tokio::time::sleep(Duration::from_millis(900)).await;
    let ping = json!({"jsonrpc": "2.0", "id": 2, "method": "ping"}).to_string();
    let with_old = [
        headers[0],
        headers[1],
        ("Mcp-Session-Id", ids[1].as_str()),
        ("MCP-Protocol-Version", "2025-11-25"),
    ];
    let expired = request(address, "POST", "/mcp", &with_old, ping.as_bytes()).await;
    assert_eq!(expired.status, 404, "an idle session expired");
    for _ in 0..3 {
        assert_eq!(
            init().await.status,
            200,
            "expired sessions free their slots"
        );
    }
}

/// Loads (and reviews) a prober asking for `host` at `/host`, under a policy allowing it,
/// with `unsafe-host-paths = true` when `unsafe_paths`.
async fn grant_of(host: &str, unsafe_paths: bool) -> (Result<Plugin, LoadError>, AuditReport) {
    let folder = plugin_folder(
        "prober",
        guests::PROBER,
        &format!(
            "[capabilities]\nfiles = [{{ host = \"{host}\", guest = \"/host\", access = \"read\" }}]\n"
        ),
    );
    std::os::unix::fs::symlink("/proc", folder.path().join("proc-link")).unwrap();
    std::fs::create_dir_all(folder.path().join("plain")).unwrap();
    let allow_host = match host {
        "proc-link" | "plain" => folder.path().join(host).display().to_string(),
        other => other.to_string(),
    };
    let policy = format!(
        "[plugins.prober]\nfiles = [{{ host = \"{allow_host}\", access = \"read\" }}]\n{}",
        if unsafe_paths {
            "unsafe-host-paths = true\n"
        } else {
            ""
        }
    );
    let policy = Policy::parse(&policy, Path::new("policy.toml"), folder.path()).unwrap();
    let runtime = runtime();
    let report = AuditReport::from(&review(&runtime, folder.path(), &policy).await);
    let loaded = runtime
        .load_dir(folder.path(), &policy, LoadOptions::default())
        .await;
    (loaded, report)
}

#[tokio::test(flavor = "multi_thread")]
async fn grants_of_proc_sys_dev_and_their_parents_need_unsafe_host_paths() {
    for host in ["/proc", "/sys", "/dev", "/proc/self", "proc-link", "/"] {
        let (loaded, report) = grant_of(host, false).await;
        let error = loaded.err().unwrap_or_else(|| panic!("{host} was granted"));
        assert!(
            matches!(error, LoadError::Denied { .. }),
            "{host}: {error:?}"
        );
        assert!(
            error.to_string().contains("unsafe-host-paths = true"),
            "{host}: {error}"
        );
        assert!(
            error.to_string().contains("and pin the component")
                && error.to_string().contains("sha256 = \""),
            "{host}: the refusal recommends the pin too: {error}"
        );
        assert_eq!(report.verdict["loads"], false, "{host}");
    }

    for host in ["/proc", "/sys", "/dev", "proc-link"] {
        let (loaded, report) = grant_of(host, true).await;
        let plugin = loaded.unwrap_or_else(|e| panic!("{host} with unsafe-host-paths: {e}"));
        assert!(
            plugin.grant().files[0].exposes_host.is_some(),
            "{host} is marked"
        );
        assert_eq!(report.verdict["loads"], true, "{host}");
        assert!(
            report
                .warnings
                .iter()
                .any(|w| w.starts_with("UNSAFE") && w.contains("unsafe-host-paths = true")),
            "{host}: the audit flags it: {:?}",
            report.warnings
        );
    }
    // A plain directory needs nothing of the kind, and the audit has nothing unsafe to
    // say; it does recommend pinning the component, as the policy grants by name only.
    let (loaded, report) = grant_of("plain", false).await;
    loaded.expect("a plain directory is granted");
    assert!(report.warnings.iter().all(|w| !w.starts_with("UNSAFE")));
    let digest = report.sha256["actual"].as_str().unwrap().to_string();
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.starts_with("UNPINNED") && w.contains(&format!("sha256 = \"{digest}\""))),
        "{:?}",
        report.warnings
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn with_unsafe_host_paths_the_grant_really_is_the_host() {
    // Why the default refuses it: under the grant, the plugin reads the host's own state.
    let (loaded, _) = grant_of("/proc", true).await;
    let plugin = loaded.unwrap();
    let (ok, status) = probe(
        &plugin,
        &CallContext::default(),
        "read_file",
        json!({"path": "/host/self/status"}),
    )
    .await;
    assert!(ok && status.contains("Pid:"), "{status}");
}
