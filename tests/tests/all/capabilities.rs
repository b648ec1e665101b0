//! The capability sandbox, observed from inside: the `prober` plugin really tries to reach
//! files, environment, network, name lookup and programs, and each test asserts what the
//! plugin saw — a denial, or (where granted) success. Plus integrity pins, unknown imports,
//! policy caps, missing-grant errors and the audit report.

use std::path::Path;

use airlock::folder::{AuditReport, review};
use airlock::policy::Policy;
use airlock::{CallContext, CallError, LoadError, LoadOptions, Plugin};
use airlock_tests::{TempDir, call_error, guests, plugin_folder, runtime};
use serde_json::{Value, json};

/// The policy `text`, its relative paths resolved from the plugin `folder`.
fn policy_in(folder: &TempDir, text: &str) -> Policy {
    Policy::parse(text, Path::new("policy.toml"), folder.path()).expect("policy parses")
}

/// Loads the plugin `folder` under `policy` with default options.
async fn load_in(folder: &TempDir, policy: &Policy) -> Result<Plugin, LoadError> {
    runtime()
        .load_dir(folder.path(), policy, LoadOptions::default())
        .await
}

/// Loads the prober with `capabilities` (manifest TOML) under `policy` (policy TOML whose
/// relative paths are relative to the plugin folder).
async fn prober(capabilities: &str, policy: &str) -> (Plugin, TempDir) {
    let folder = plugin_folder("prober", guests::PROBER, capabilities);
    let policy = policy_in(&folder, policy);
    let plugin = load_in(&folder, &policy).await.expect("prober loads");
    (plugin, folder)
}

/// Runs a probe; returns (succeeded, detail) as the plugin saw it.
async fn probe(plugin: &Plugin, tool: &str, arguments: Value) -> (bool, String) {
    let out = plugin
        .call_tool(tool, &arguments, &CallContext::default())
        .await
        .expect("the probe itself runs");
    (
        out["ok"].as_bool().unwrap(),
        out["detail"].as_str().unwrap().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_grant_no_file_is_reachable() {
    let (plugin, _dir) = prober("", "").await;
    for path in ["/etc/passwd", "/", ".", "passwd"] {
        let (ok, detail) = probe(&plugin, "read_file", json!({"path": path})).await;
        assert!(!ok, "{path} was readable: {detail}");
    }
    assert!(!probe(&plugin, "list_dir", json!({"path": "/"})).await.0);
    assert!(plugin.grant().files.is_empty());
}

fn files_manifest(access: &str) -> String {
    format!(
        "[capabilities]\nfiles = [{{ host = \"data\", guest = \"/data\", access = \"{access}\" }}]\n"
    )
}

fn files_policy(access: &str) -> String {
    format!("[plugins.prober]\nfiles = [{{ host = \"data\", access = \"{access}\" }}]\n")
}

/// A folder whose `data/` holds `hello.txt` and a symlink pointing outside it.
fn with_data(folder: &TempDir) {
    let data = folder.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("hello.txt"), "hello from the host").unwrap();
    std::os::unix::fs::symlink("/etc/passwd", data.join("escape")).unwrap();
}

async fn prober_with_data(access: &str) -> (Plugin, TempDir) {
    let folder = plugin_folder("prober", guests::PROBER, &files_manifest(access));
    with_data(&folder);
    let policy = policy_in(&folder, &files_policy(access));
    let plugin = load_in(&folder, &policy).await.expect("loads");
    (plugin, folder)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_read_grant_reads_its_directory_and_nothing_else() {
    let (plugin, folder) = prober_with_data("read").await;
    assert_eq!(
        probe(&plugin, "read_file", json!({"path": "/data/hello.txt"})).await,
        (true, "hello from the host".into())
    );
    assert_eq!(
        probe(&plugin, "list_dir", json!({"path": "/data"})).await,
        (true, "escape,hello.txt".into())
    );
    let (ok, detail) = probe(&plugin, "read_file", json!({"path": "/etc/passwd"})).await;
    assert!(!ok, "{detail}");
    let (ok, detail) = probe(
        &plugin,
        "read_file",
        json!({"path": "/data/../../../../etc/passwd"}),
    )
    .await;
    assert!(!ok, "escaped the preopen with ..: {detail}");
    let (ok, detail) = probe(&plugin, "read_file", json!({"path": "/data/escape"})).await;
    assert!(!ok, "followed a symlink out of the preopen: {detail}");
    let (ok, detail) = probe(
        &plugin,
        "write_file",
        json!({"path": "/data/new.txt", "text": "x"}),
    )
    .await;
    assert!(!ok, "wrote into a read-only grant: {detail}");
    assert!(!folder.path().join("data/new.txt").exists());
    let (ok, _) = probe(
        &plugin,
        "write_file",
        json!({"path": "/data/hello.txt", "text": "overwritten"}),
    )
    .await;
    assert!(!ok);
    assert_eq!(
        std::fs::read_to_string(folder.path().join("data/hello.txt")).unwrap(),
        "hello from the host"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_read_write_grant_writes() {
    let (plugin, folder) = prober_with_data("read-write").await;
    let (ok, detail) = probe(
        &plugin,
        "write_file",
        json!({"path": "/data/new.txt", "text": "from the plugin"}),
    )
    .await;
    assert!(ok, "{detail}");
    assert_eq!(
        std::fs::read_to_string(folder.path().join("data/new.txt")).unwrap(),
        "from the plugin"
    );
    let (ok, _) = probe(
        &plugin,
        "write_file",
        json!({"path": "/data/../outside.txt", "text": "x"}),
    )
    .await;
    assert!(!ok);
    assert!(!folder.path().join("outside.txt").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_beyond_the_policy_is_refused_with_the_line_to_add() {
    let folder = plugin_folder("prober", guests::PROBER, &files_manifest("read-write"));
    with_data(&folder);
    let policy = policy_in(&folder, &files_policy("read"));
    let err = load_in(&folder, &policy).await.unwrap_err();
    let LoadError::Denied { missing, .. } = &err else {
        panic!("expected a denial, got {err:?}")
    };
    assert_eq!(missing.len(), 1);
    assert!(
        missing[0].fix.contains("access = \"read-write\""),
        "{}",
        missing[0].fix
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn environment_variables_need_a_grant() {
    let home = std::env::var("HOME").expect("HOME is set in the host");
    assert!(std::env::var("PATH").is_ok(), "PATH is set in the host");
    let (plugin, _dir) = prober(
        "[capabilities]\nenv = [\"HOME\"]\n",
        "[plugins.prober]\nenv = [\"HOME\"]\n",
    )
    .await;
    assert_eq!(
        probe(&plugin, "env", json!({"name": "HOME"})).await,
        (true, home)
    );
    let (ok, detail) = probe(&plugin, "env", json!({"name": "PATH"})).await;
    assert!(!ok, "PATH leaked into the plugin: {detail}");

    let (plugin, _dir) = prober("", "").await;
    assert!(!probe(&plugin, "env", json!({"name": "HOME"})).await.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_missing_grant_is_listed() {
    let manifest = "[capabilities]\nenv = [\"API_KEY\", \"AWS_*\"]\nnetwork = [\"api.example.com:443\"]\nexec = [{ command = \"git\", args = [\"**\"] }]\n";
    let folder = plugin_folder("prober", guests::PROBER, manifest);
    let policy = policy_in(&folder, "[plugins.prober]\nenv = [\"AWS_REGION\"]\n");
    let err = load_in(&folder, &policy).await.unwrap_err();
    let text = err.to_string();
    let LoadError::Denied { missing, .. } = err else {
        panic!("expected a denial: {text}")
    };
    let requested: Vec<_> = missing
        .iter()
        .map(|m| (m.capability, m.requested.as_str()))
        .collect();
    assert_eq!(
        requested,
        [
            ("env", "API_KEY"),
            ("env", "AWS_*"),
            ("network", "api.example.com:443"),
            ("exec", "git **")
        ]
    );
    assert!(
        text.contains("[plugins.prober] network = [\"api.example.com:443\"]"),
        "{text}"
    );
    assert!(
        text.contains("a wildcard must be allowed as a wildcard"),
        "{text}"
    );
}

/// A loopback listener answering `pong`; counts connections.
async fn listener() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut socket, _)) = listener.accept().await {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut buf = [0u8; 4];
            let _ = socket.read_exact(&mut buf).await;
            let _ = socket.write_all(b"pong").await;
        }
    });
    (port, count)
}

#[tokio::test(flavor = "multi_thread")]
async fn tcp_needs_a_grant_for_that_exact_port_and_an_exemption_for_loopback() {
    let (port, connections) = listener().await;
    let addr = format!("127.0.0.1:{port}");
    let other = format!("127.0.0.1:{}", port.wrapping_add(1).max(1));

    let (plugin, _d) = prober("", "").await;
    assert!(
        !probe(&plugin, "connect", json!({"addr": addr})).await.0,
        "no grant"
    );

    let manifest = format!("[capabilities]\nnetwork = [\"{other}\"]\n");
    let policy = format!(
        "[network]\nallow-local = [\"127.0.0.0/8\"]\n[plugins.prober]\nnetwork = [\"{other}\"]\n"
    );
    let (plugin, _d) = prober(&manifest, &policy).await;
    assert!(
        !probe(&plugin, "connect", json!({"addr": addr})).await.0,
        "grant for another port"
    );

    let manifest = format!("[capabilities]\nnetwork = [\"{addr}\"]\n");
    let policy = format!("[plugins.prober]\nnetwork = [\"{addr}\"]\n");
    let (plugin, _d) = prober(&manifest, &policy).await;
    assert!(
        !probe(&plugin, "connect", json!({"addr": addr})).await.0,
        "loopback is blocked by default"
    );
    assert_eq!(
        connections.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "no denied attempt reached the listener"
    );

    let policy = format!(
        "[network]\nallow-local = [\"127.0.0.1/32\"]\n[plugins.prober]\nnetwork = [\"{addr}\"]\n"
    );
    let (plugin, _d) = prober(&manifest, &policy).await;
    assert_eq!(
        probe(&plugin, "connect", json!({"addr": addr})).await,
        (true, "pong".into())
    );
    assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 1);

    let blocked = format!(
        "[network]\nallow-local = [\"127.0.0.1/32\"]\nblock = [\"127.0.0.1/32\"]\n[plugins.prober]\nnetwork = [\"{addr}\"]\n"
    );
    let (plugin, _d) = prober(&manifest, &blocked).await;
    assert!(
        !probe(&plugin, "connect", json!({"addr": addr})).await.0,
        "the blocklist always wins"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn name_lookup_needs_a_network_grant() {
    let (plugin, _d) = prober("", "").await;
    let (ok, detail) = probe(&plugin, "resolve", json!({"name": "localhost"})).await;
    assert!(!ok, "resolved without a grant: {detail}");

    let (plugin, _d) = prober(
        "[capabilities]\nnetwork = [\"localhost:80\"]\n",
        "[plugins.prober]\nnetwork = [\"localhost:80\"]\n",
    )
    .await;
    let (ok, detail) = probe(&plugin, "resolve", json!({"name": "localhost"})).await;
    assert!(
        ok && (detail.contains("127.0.0.1") || detail.contains("::1")),
        "{detail}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn exec_runs_only_granted_patterns_and_never_a_shell() {
    let (plugin, _d) = prober("", "").await;
    let (ok, detail) = probe(&plugin, "exec", json!({"command": "echo", "args": ["hi"]})).await;
    assert!(!ok && detail.starts_with("denied:"), "{detail}");

    let grant = "exec = [{ command = \"echo\", args = [\"*\"] }]\n";
    let (plugin, dir) = prober(
        &format!("[capabilities]\n{grant}"),
        &format!("[plugins.prober]\n{grant}"),
    )
    .await;
    assert_eq!(
        probe(&plugin, "exec", json!({"command": "echo", "args": ["hi"]})).await,
        (true, "status=0 truncated=false bytes=3 stdout=hi\n".into())
    );

    let marker = dir.path().join("pwned");
    let sneaky = format!(
        "x; touch {} $(touch {})",
        marker.display(),
        marker.display()
    );
    let (ok, detail) = probe(
        &plugin,
        "exec",
        json!({"command": "echo", "args": [sneaky]}),
    )
    .await;
    assert!(ok, "{detail}");
    assert_eq!(
        detail,
        format!(
            "status=0 truncated=false bytes={} stdout={sneaky}\n",
            sneaky.len() + 1
        ),
        "metacharacters are passed literally"
    );
    assert!(!marker.exists(), "no shell ran");

    for (command, args) in [
        ("echo", json!(["a", "b"])),
        ("echo", json!([])),
        // `*` is one operand, never an option: options must be granted literally.
        ("echo", json!(["-e"])),
        ("sh", json!(["-c", "echo hi"])),
    ] {
        let (ok, detail) = probe(&plugin, "exec", json!({"command": command, "args": args})).await;
        assert!(
            !ok && detail.starts_with("denied:"),
            "{command} {args}: {detail}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn exec_output_is_capped_without_blocking_the_program() {
    let grant = "exec = [{ command = \"seq\", args = [\"*\"] }]\n";
    let manifest = format!("[limits]\noutput = \"64KiB\"\n[capabilities]\n{grant}");
    let (plugin, _d) = prober(&manifest, &format!("[plugins.prober]\n{grant}")).await;
    // `seq 200000` writes ~1.3 MB: far past the cap, and past any pipe buffer.
    let (ok, detail) = probe(
        &plugin,
        "exec",
        json!({"command": "seq", "args": ["200000"]}),
    )
    .await;
    assert!(ok, "{detail}");
    assert!(
        detail.starts_with(&format!(
            "status=0 truncated=true bytes={} stdout=1\n2\n",
            64 << 10
        )),
        "{detail}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_component_that_does_not_match_its_pin_is_refused() {
    let folder = plugin_folder("calculator", guests::CALCULATOR, "");
    std::fs::copy(guests::COUNT_VOWELS, folder.path().join("plugin.wasm")).unwrap();
    let err = load_in(&folder, &Policy::default()).await.unwrap_err();
    assert!(matches!(err, LoadError::DigestMismatch { .. }), "{err:?}");
    assert!(
        err.to_string().contains("failed its integrity check"),
        "{err}"
    );

    let manifest = folder.path().join("airlock.toml");
    let unpinned: String = std::fs::read_to_string(&manifest)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("sha256"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&manifest, unpinned).unwrap();
    let err = load_in(&folder, &Policy::default()).await.unwrap_err();
    assert!(matches!(err, LoadError::Unpinned { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_policy_pin_refuses_other_components() {
    let folder = plugin_folder("calculator", guests::CALCULATOR, "");
    let policy = format!("[plugins.calculator]\nsha256 = \"{}\"\n", "0".repeat(64));
    let policy = policy_in(&folder, &policy);
    let err = load_in(&folder, &policy).await.unwrap_err();
    assert!(matches!(err, LoadError::PolicyPin { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_component_importing_an_unknown_interface_is_refused_by_name() {
    let bytes = airlock_tests::component_with_unknown_import();
    let err = runtime()
        .load_bytes(bytes, "sneaky.wasm", LoadOptions::default())
        .await
        .unwrap_err();
    let LoadError::UnknownImports { imports, .. } = &err else {
        panic!("expected unknown imports, got {err:?}")
    };
    assert_eq!(imports, &["evil:net/raw"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_policy_lowers_limits_but_never_raises_them() {
    let folder = plugin_folder(
        "hostile",
        guests::HOSTILE,
        "[limits]\nfuel = 2000000000\ndeadline = \"1s\"\nmemory = \"8MiB\"\n",
    );
    let policy = "[limits]\nfuel = 10000000\ndeadline = \"10s\"\nmemory = \"64MiB\"\n";
    let policy = policy_in(&folder, policy);
    let plugin = load_in(&folder, &policy).await.unwrap();
    let limits = plugin.limits();
    assert_eq!(limits.fuel, Some(10_000_000), "lowered to the cap");
    assert_eq!(
        limits.deadline,
        std::time::Duration::from_secs(1),
        "the request stands below the cap"
    );
    assert_eq!(limits.memory_bytes, 8 << 20, "never raised to the cap");
    let err = call_error(&plugin, "spin", &json!({})).await;
    assert!(
        matches!(
            err,
            CallError::FuelExhausted {
                budget: 10_000_000,
                ..
            }
        ),
        "{err:?}"
    );
    let err = call_error(&plugin, "grow", &json!({})).await;
    assert!(
        matches!(err, CallError::MemoryLimit { limit, .. } if limit == 8 << 20),
        "{err:?}"
    );

    // Without a policy cap, the runtime's defaults are the ceiling.
    let greedy = plugin_folder(
        "hostile",
        guests::HOSTILE,
        "[limits]\nfuel = 1000000000000\nmemory = \"4GiB\"\n",
    );
    let plugin = runtime()
        .load_dir(greedy.path(), &Policy::default(), LoadOptions::default())
        .await
        .unwrap();
    let defaults = airlock::Limits::default();
    assert_eq!(
        (plugin.limits().fuel, plugin.limits().memory_bytes),
        (defaults.fuel, defaults.memory_bytes)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_examples_load_from_their_folders_and_audit_clean() {
    let runtime = runtime();
    for dir in [
        guests::CALCULATOR_DIR,
        guests::REDACT_DIR,
        guests::COUNT_VOWELS_DIR,
    ] {
        let review = review(&runtime, Path::new(dir), &Policy::default()).await;
        let report = serde_json::to_value(AuditReport::from(&review)).unwrap();
        assert_eq!(
            report["verdict"]["loads"], true,
            "{dir}: {:#}",
            report["verdict"]
        );
        assert_eq!(report["sha256"]["verified"], true);
        assert!(
            report["imports"]
                .as_array()
                .unwrap()
                .iter()
                .all(|i| !i["capability"].is_null())
        );
        for capability in ["files", "env", "network", "exec"] {
            assert_eq!(
                report["capabilities"][capability]["effective"],
                json!([]),
                "{dir} {capability}"
            );
        }
        let plugin = runtime
            .load_dir(dir, &Policy::default(), LoadOptions::default())
            .await
            .unwrap();
        assert_eq!(plugin.grant(), &airlock::capabilities::Grant::none());
    }
    let calc = runtime
        .load_dir(
            guests::CALCULATOR_DIR,
            &Policy::default(),
            LoadOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        calc.limits().fuel,
        Some(100_000_000),
        "the manifest's limits apply"
    );
    assert_eq!(
        calc.call_tool("add", &json!({"a": 1, "b": 1}), &CallContext::default())
            .await
            .unwrap()["result"],
        2.0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_audit_lists_every_reason_for_refusal() {
    let folder = plugin_folder(
        "prober",
        guests::PROBER,
        "[capabilities]\nnetwork = [\"api.example.com:443\"]\n",
    );
    std::fs::copy(guests::CALCULATOR, folder.path().join("plugin.wasm")).unwrap();
    let review = review(&runtime(), folder.path(), &Policy::default()).await;
    let reasons: Vec<String> = review.errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(reasons.len(), 2, "{reasons:#?}");
    assert!(
        reasons[0].contains("integrity") && reasons[1].contains("api.example.com:443"),
        "{reasons:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn clocks_and_random_are_the_hosts_unless_the_policy_makes_them_deterministic() {
    let (plugin, _d) = prober("", "").await;
    let (ok, now) = probe(&plugin, "now", json!({})).await;
    let host_now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        ok && now.parse::<u64>().unwrap().abs_diff(host_now) < 60,
        "{now}"
    );
    let (_, first) = probe(&plugin, "random", json!({})).await;
    let (_, second) = probe(&plugin, "random", json!({})).await;
    assert_ne!(first, second, "host randomness");

    let policy = "[plugins.prober]\nclocks = \"deterministic\"\nrandom = \"deterministic\"\n";
    let (plugin, _d) = prober("", policy).await;
    assert_eq!(
        probe(&plugin, "now", json!({})).await,
        (true, "1700000000".into())
    );
    // The deterministic stream is the bytes 0, 1, 2, …; the guest draws them as a u64.
    let (ok, drawn) = probe(&plugin, "random", json!({})).await;
    assert!(
        ok && (drawn == "0706050403020100" || drawn == "0001020304050607"),
        "{drawn}"
    );
    let (again, _d) = prober("", policy).await;
    assert_eq!(
        probe(&again, "random", json!({})).await,
        (true, drawn),
        "same on every instance"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn configuration_is_checked_against_the_manifest_schema() {
    let runtime = runtime();
    let bad = LoadOptions::default().config(json!({"deny_tools": "shell", "extra": 1}));
    let err = runtime
        .load_dir(guests::REDACT_DIR, &Policy::default(), bad)
        .await
        .unwrap_err();
    let LoadError::BadConfig { problems, .. } = &err else {
        panic!("expected a config error, got {err:?}")
    };
    assert_eq!(problems.len(), 2, "every violation is listed: {problems:?}");
    let good = LoadOptions::default().config(json!({"deny_tools": ["shell"]}));
    let redact = runtime
        .load_dir(guests::REDACT_DIR, &Policy::default(), good)
        .await
        .unwrap();
    let outcome = redact
        .handle_hook(
            &airlock::HookKind::BeforeToolCall,
            &json!({"tool": "shell"}),
            &CallContext::default(),
        )
        .await
        .unwrap();
    assert!(matches!(outcome, airlock::HookOutcome::Veto(_)));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_policy_built_in_code_grants_like_a_policy_file() {
    use airlock::capabilities::Allowed;
    let folder = plugin_folder(
        "prober",
        guests::PROBER,
        "[capabilities]\nenv = [\"HOME\"]\n",
    );
    let allowed = Allowed {
        env: vec!["HOME".into()],
        ..Allowed::default()
    };
    let caps = airlock::LimitTable {
        fuel: Some(5_000_000),
        ..Default::default()
    };
    let policy = Policy::default().allow("prober", allowed).with_caps(caps);
    let plugin = load_in(&folder, &policy).await.unwrap();
    assert_eq!(plugin.grant().env.names, ["HOME"]);
    assert_eq!(plugin.limits().fuel, Some(5_000_000));
    let (ok, home) = probe(&plugin, "env", json!({"name": "HOME"})).await;
    assert!(ok && home == std::env::var("HOME").unwrap());
    let err = load_in(&folder, &Policy::default()).await.unwrap_err();
    assert!(matches!(err, LoadError::Denied { .. }), "{err:?}");
}

/// Asserts that process `pid` is gone (or a zombie) within a few seconds: killed processes
/// are reaped by whoever adopted them, which takes a moment.
fn assert_gone(pid: u32) {
    let gone = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map_or(true, |stat| stat.contains(") Z "))
    };
    let started = std::time::Instant::now();
    while !gone() && started.elapsed() < std::time::Duration::from_secs(5) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(gone(), "the background sleeper {pid} outlived the call");
}

/// The id a script wrote into `file`.
fn read_pid(file: &Path) -> u32 {
    std::fs::read_to_string(file)
        .expect("the shell wrote the sleeper's id")
        .trim()
        .parse()
        .expect("a process id")
}

#[tokio::test(flavor = "multi_thread")]
async fn at_the_deadline_a_program_is_killed_with_everything_it_started() {
    let grant = "exec = [{ command = \"sh\", args = [\"-c\", \"*\"] }]\n";
    let manifest = format!("[limits]\ndeadline = \"1s\"\n[capabilities]\n{grant}");
    let (plugin, dir) = prober(&manifest, &format!("[plugins.prober]\n{grant}")).await;
    let pid_file = dir.path().join("background.pid");
    // The shell starts a background sleeper, notes its id, and waits for it.
    let script = format!("sleep 60 & echo $! > {}; wait", pid_file.display());
    let outcome = plugin
        .call_tool(
            "exec",
            &json!({"command": "sh", "args": ["-c", script]}),
            &CallContext::default(),
        )
        .await;
    match &outcome {
        Ok(out) => assert!(
            out["detail"].as_str().unwrap().contains("deadline"),
            "{out}"
        ),
        Err(e) => assert_eq!(e.kind(), "deadline-exceeded", "{e}"),
    }
    assert_gone(read_pid(&pid_file));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_program_that_finishes_leaves_nothing_running() {
    let grant = "exec = [{ command = \"sh\", args = [\"-c\", \"*\"] }]\n";
    let manifest = format!("[limits]\ndeadline = \"10s\"\n[capabilities]\n{grant}");
    let (plugin, dir) = prober(&manifest, &format!("[plugins.prober]\n{grant}")).await;
    let pid_file = dir.path().join("detached.pid");
    // A background sleeper with its output elsewhere: the shell exits at once.
    let script = format!(
        "sleep 60 >/dev/null 2>&1 & echo $! > {}; echo done",
        pid_file.display()
    );
    let started = std::time::Instant::now();
    let (ok, detail) = probe(
        &plugin,
        "exec",
        json!({"command": "sh", "args": ["-c", script]}),
    )
    .await;
    assert!(ok, "{detail}");
    assert!(
        detail.contains("status=0") && detail.contains("stdout=done"),
        "{detail}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "the call ended with the shell, not at the deadline"
    );
    assert_gone(read_pid(&pid_file));
}
