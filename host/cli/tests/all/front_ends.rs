//! The served front ends as the real `airlock` binary runs them: `airlock mcp` on stdio
//! exits when its client closes stdin; `airlock mcp --http` refuses an address other
//! machines can reach unless `--allow-remote` says so, and then wants a bearer token of the
//! tenant; JSON-RPC `plugin/enable` finds a plugin on the search path as `airlock plugins
//! enable` does.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use airlock_guests as guests;
use serde_json::{Value, json};

fn scratch(label: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("front-{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn airlock() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_airlock"));
    command.env_remove("RUST_LOG");
    command
}

fn run(args: &[&str]) -> Output {
    airlock().args(args).output().expect("airlock runs")
}

/// Waits up to `limit` for `child` to exit; kills it (and says so) if it does not.
fn exits_within(child: &mut Child, limit: Duration) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if child.try_wait().unwrap().is_some() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().ok();
    child.wait().ok();
    false
}

#[test]
fn mcp_on_stdio_exits_when_the_client_closes_stdin() {
    let dir = scratch("mcp-eof");
    let db = dir.join("registry.db");
    let mut child = airlock()
        .args(["mcp", "--registry", db.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}}});
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{initialize}").unwrap();
    drop(stdin);
    let exited = exits_within(&mut child, Duration::from_secs(15));
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    assert!(exited, "`airlock mcp` still runs 15 s after stdin closed");
    let reply: Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    assert_eq!(reply["id"], 1, "the request in flight was answered first");
    std::fs::remove_dir_all(&dir).ok();
}

/// One HTTP/1.1 POST of `body` to `/mcp`; the status code.
fn post_mcp(port: u16, authorization: Option<&str>, body: &Value) -> u16 {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let body = body.to_string();
    let auth = authorization.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
    write!(
        stream,
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n\
         {auth}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    reply
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {reply:?}"))
}

#[test]
fn mcp_over_http_to_other_machines_needs_a_flag_and_a_token() {
    let dir = scratch("mcp-remote");
    let db = dir.join("registry.db");
    let db = db.to_str().unwrap();

    // Without the refusal it would serve: a bounded wait turns that into a failure.
    let mut child = airlock()
        .args(["mcp", "--http", "0.0.0.0:0", "--registry", db])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(
        exits_within(&mut child, Duration::from_secs(20)),
        "it served MCP on 0.0.0.0 without --allow-remote"
    );
    let refused = child.wait_with_output().unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(
        why.contains("not a loopback address") && why.contains("--allow-remote"),
        "{why}"
    );

    let token = |tenant: &str| {
        let out = run(&[
            "token",
            "create",
            "--tenant",
            tenant,
            "--role",
            "caller",
            "--registry",
            db,
        ]);
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let (ours, theirs) = (token("acme"), token("other"));
    let mut child = airlock()
        .args([
            "mcp",
            "--http",
            "0.0.0.0:0",
            "--allow-remote",
            "--tenant",
            "acme",
            "--registry",
            db,
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("listening on") {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "no address announced"
        );
    }
    let port: u16 = line.trim().rsplit(':').next().unwrap().parse().unwrap();
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}}});
    assert_eq!(post_mcp(port, None, &initialize), 401);
    assert_eq!(post_mcp(port, Some("Bearer not-a-token"), &initialize), 401);
    assert_eq!(
        post_mcp(port, Some(&format!("Bearer {theirs}")), &initialize),
        403
    );
    assert_eq!(
        post_mcp(port, Some(&format!("bearer {ours}")), &initialize),
        200
    );
    child.kill().ok();
    child.wait().ok();
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn json_rpc_enable_finds_a_plugin_on_the_search_path_like_the_cli() {
    let dir = scratch("resolve");
    let search = dir.join("plugins");
    let folder = search.join("calculator");
    std::fs::create_dir_all(&folder).unwrap();
    for file in ["airlock.toml", "calculator.wasm"] {
        std::fs::copy(
            Path::new(guests::CALCULATOR_DIR).join(file),
            folder.join(file),
        )
        .unwrap();
    }
    let db = dir.join("registry.db");
    let mut child = airlock()
        .args([
            "serve",
            "--stdio",
            "--no-watch",
            "--registry",
            db.to_str().unwrap(),
        ])
        .env("AIRLOCK_PLUGIN_PATH", &search)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let enable = json!({"jsonrpc": "2.0", "id": 1, "method": "plugin/enable",
        "params": {"plugin": "calculator", "tenant": "acme"}});
    writeln!(stdin, "{enable}").unwrap();
    drop(stdin);
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    assert!(exits_within(&mut child, Duration::from_secs(30)));
    let reply: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(reply["result"]["enabled"], true, "{reply}");
    assert_eq!(reply["result"]["plugin"], "calculator");

    let cli = airlock()
        .args([
            "plugins",
            "--registry",
            dir.join("cli.db").to_str().unwrap(),
        ])
        .args(["--tenant", "acme", "enable", "calculator", "--json"])
        .env("AIRLOCK_PLUGIN_PATH", &search)
        .output()
        .unwrap();
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn inspect_shows_the_imports_and_exports_of_any_component() {
    let out = run(&["inspect", guests::CLI_COMMAND]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.starts_with("not an Airlock plugin: "), "{text}");
    for expected in [
        "imports:",
        "exports:",
        "wasi:cli/run@",
        "run: func() -> result",
        "wasi:cli/stdout@",
        "get-stdout: func() -> own<resource>",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }

    let out = run(&["inspect", guests::CLI_COMMAND, "--json"]);
    assert!(out.status.success());
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["world"].is_null());
    let exports = report["interface"]["exports"].as_array().unwrap();
    let run_export = exports
        .iter()
        .find(|e| e["name"].as_str().unwrap().starts_with("wasi:cli/run@"))
        .expect("wasi:cli/run exported");
    assert_eq!(run_export["type"], "interface");
    assert_eq!(run_export["items"][0]["type"], "func() -> result");

    // A plugin's JSON keeps its shape and gains the typed interface.
    let out = run(&["inspect", guests::CALCULATOR, "--json"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["world"], "tool-plugin");
    assert!(
        report["interface"]["exports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "airlock:plugin/tools@0.2.0")
    );
}

/// A change made by another process reaches a running server (issue #20): with `airlock mcp`
/// serving the calculator, `airlock plugins disable calculator` (a separate process) makes
/// the server send `notifications/tools/list_changed` within about a second, and its tool
/// list no longer has the calculator's tools.
#[test]
fn a_plugin_disabled_from_the_cli_leaves_a_running_servers_tool_list() {
    let dir = scratch("follow");
    let db = dir.join("registry.db");
    let db = db.to_str().unwrap();
    let plugins = |args: &[&str]| {
        let mut all = vec!["plugins", "--registry", db, "--tenant", "default"];
        all.extend_from_slice(args);
        let out = run(&all);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    plugins(&["enable", guests::CALCULATOR_DIR]);
    let mut child = airlock()
        .args(["mcp", "--registry", db])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (lines, received) = std::sync::mpsc::channel::<String>();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                return;
            }
        }
    });
    let mut stdin = child.stdin.take().unwrap();
    let mut send = |message: Value| writeln!(stdin, "{message}").unwrap();
    let wait_for = |what: &str, test: &dyn Fn(&Value) -> bool| -> (Value, Duration) {
        let started = Instant::now();
        loop {
            let left = Duration::from_secs(10).saturating_sub(started.elapsed());
            let line = received
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no {what} within 10 s"));
            let message: Value = serde_json::from_str(&line).unwrap();
            if test(&message) {
                return (message, started.elapsed());
            }
        }
    };
    let tools = |reply: &Value| -> Vec<String> {
        let list = reply["result"]["tools"].as_array().unwrap();
        list.iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect()
    };
    send(json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}}}));
    wait_for("initialize reply", &|m| m["id"] == 1);
    send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    send(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}));
    let (listed, _) = wait_for("tools/list reply", &|m| m["id"] == 2);
    assert!(
        tools(&listed).contains(&"calculator.add".to_string()),
        "{listed}"
    );

    plugins(&["disable", "calculator"]);
    let (_, took) = wait_for("list_changed", &|m| {
        m["method"] == "notifications/tools/list_changed"
    });
    assert!(took < Duration::from_secs(3), "list_changed after {took:?}");
    send(json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list"}));
    let (listed, _) = wait_for("tools/list reply", &|m| m["id"] == 3);
    assert!(
        tools(&listed).iter().all(|t| !t.starts_with("calculator.")),
        "{listed}"
    );
    child.kill().ok();
    child.wait().ok();
    std::fs::remove_dir_all(&dir).ok();
}
