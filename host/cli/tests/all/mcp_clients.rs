//! Real MCP clients that nobody here wrote, against `airlock mcp`: the official Inspector in
//! CLI mode over stdio and HTTP, and the official conformance suite over HTTP. Both are
//! pinned in `tests/mcp-clients/package.json`; the README's test command installs them
//! (`npm ci`). They are never skipped: a missing install fails with the command to run.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use airlock_guests as guests;

fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/mcp-clients")
}

/// A pinned client's executable; fails (never skips) when it is not installed.
fn client(name: &str) -> PathBuf {
    let path = clients_dir().join("node_modules/.bin").join(name);
    assert!(
        path.exists(),
        "{} is missing: install the pinned MCP clients with `npm ci --prefix tests/mcp-clients` \
         (needs Node.js ≥ 20; `bash scripts/test.sh` does this)",
        path.display()
    );
    path
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A registry with the calculator and count-vowels examples enabled for tenant `default`.
fn registry(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let db = dir.join("registry.db");
    for folder in [guests::CALCULATOR_DIR, guests::COUNT_VOWELS_DIR] {
        let out = Command::new(env!("CARGO_BIN_EXE_airlock"))
            .args([
                "plugins",
                "--registry",
                db.to_str().unwrap(),
                "enable",
                folder,
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    db
}

fn inspector(target: &[&str], registry: &Path, method: &[&str]) -> Output {
    Command::new(client("mcp-inspector"))
        .arg("--cli")
        .args(target)
        .args(method)
        .env("AIRLOCK_REGISTRY", registry)
        .env("RUST_LOG", "warn")
        .output()
        .expect("the inspector runs")
}

fn tool_names(listing: &serde_json::Value) -> Vec<String> {
    listing["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("no tools in {listing}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

fn check_inspector_session(target: &[&str], registry: &Path) {
    let listed = inspector(target, registry, &["--method", "tools/list"]);
    assert!(
        listed.status.success(),
        "inspector tools/list: {}",
        text(&listed.stderr)
    );
    let listing: serde_json::Value = serde_json::from_slice(&listed.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&listed.stdout)));
    let names = tool_names(&listing);
    assert!(names.contains(&"calculator.add".to_string()), "{names:?}");
    assert!(
        names.contains(&"count-vowels.count_vowels".to_string()),
        "{names:?}"
    );

    let called = inspector(
        target,
        registry,
        &[
            "--method",
            "tools/call",
            "--tool-name",
            "count-vowels.count_vowels",
            "--tool-arg",
            "text=hello world",
        ],
    );
    assert!(
        called.status.success(),
        "inspector tools/call: {}",
        text(&called.stderr)
    );
    let result: serde_json::Value = serde_json::from_slice(&called.stdout).unwrap();
    assert_eq!(result["isError"], false, "{result}");
    let answer: serde_json::Value =
        serde_json::from_str(result["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(answer["count"], 3);

    // A failing tool is an error result, which the inspector reports with its exit code 5.
    let failed = inspector(
        target,
        registry,
        &[
            "--method",
            "tools/call",
            "--tool-name",
            "calculator.divide",
            "--tool-args-json",
            r#"{"a": 1, "b": 0}"#,
        ],
    );
    assert_eq!(
        failed.status.code(),
        Some(5),
        "{} {}",
        text(&failed.stdout),
        text(&failed.stderr)
    );
    assert!(
        text(&failed.stdout).contains("division by zero"),
        "{}",
        text(&failed.stdout)
    );
}

/// `airlock mcp --http 127.0.0.1:0`, and the address it bound.
fn serve_http(registry: &Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(["mcp", "--no-watch", "--http", "127.0.0.1:0"])
        .env("AIRLOCK_REGISTRY", registry)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let address = loop {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "airlock mcp exited before listening"
        );
        if let Some(address) = line.trim().strip_prefix("airlock: listening on ") {
            break address.to_string();
        }
    };
    // Keep draining its log so it never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    (child, address)
}

#[test]
fn the_inspector_lists_and_calls_tools_over_stdio() {
    let registry = registry("inspector-stdio");
    // The inspector starts the server with a minimal environment: pass the registry on.
    let env = format!("AIRLOCK_REGISTRY={}", registry.display());
    check_inspector_session(
        &[
            "-e",
            &env,
            env!("CARGO_BIN_EXE_airlock"),
            "mcp",
            "--no-watch",
        ],
        &registry,
    );
}

#[test]
fn the_inspector_lists_and_calls_tools_over_http() {
    let registry = registry("inspector-http");
    let (mut server, address) = serve_http(&registry);
    let url = format!("{address}/mcp");
    check_inspector_session(&["--transport", "http", "--server-url", &url], &registry);
    server.kill().unwrap();
    server.wait().unwrap();
}

#[test]
fn the_conformance_suite_passes_but_for_the_listed_expected_failures() {
    let registry = registry("conformance");
    let (mut server, address) = serve_http(&registry);
    let out = Command::new(client("conformance"))
        .args(["server", "--url", &format!("{address}/mcp")])
        .arg("--expected-failures")
        .arg(clients_dir().join("conformance-baseline.yml"))
        .output()
        .expect("the conformance suite runs");
    server.kill().unwrap();
    server.wait().unwrap();
    let report = format!("{}\n{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "conformance failed:\n{report}");
    for scenario in [
        "server-initialize",
        "ping",
        "tools-list",
        "dns-rebinding-protection",
    ] {
        assert!(
            report.contains(&format!("✓ {scenario}")),
            "{scenario} should pass:\n{report}"
        );
    }
}

/// The official MCP TypeScript SDK client (`tests/mcp-clients/progress.mjs`) calls a tool
/// with `onprogress` over stdio and over streamable HTTP: the plugin's progress (issue #15,
/// `airlock:plugin/progress@0.2.0`) reaches its callback as `notifications/progress`, in
/// order, before the result. The words come 100 ms apart, as a model's tokens do: this
/// client handles a notification that arrives in the same read as the response after the
/// response, and then drops it as late (modelcontextprotocol/typescript-sdk#2580).
#[test]
fn the_typescript_sdk_client_receives_a_plugins_progress_over_stdio_and_http() {
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("progress-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let folder = dir.join("hostile");
    airlock_tests::write_plugin_folder(&folder, "hostile", "0.1.0", guests::HOSTILE, "");
    let db = dir.join("registry.db");
    let out = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(["plugins", "--registry", db.to_str().unwrap(), "enable"])
        .arg(&folder)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    client("mcp-inspector"); // fails, with the install command, when the clients are missing
    let run = |mode: &str, target: &str| -> serde_json::Value {
        let out = Command::new("node")
            .arg(clients_dir().join("progress.mjs"))
            .args([
                mode,
                target,
                "hostile.stream",
                r#"{"words": ["to", "be"], "delay_ms": 100}"#,
            ])
            .env("AIRLOCK_REGISTRY", &db)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        assert!(out.status.success(), "{mode}: {}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)))
    };
    let (mut http, address) = serve_http(&db);
    let over_http = run("http", &format!("{address}/mcp"));
    let _ = http.kill();
    let over_stdio = run("stdio", env!("CARGO_BIN_EXE_airlock"));
    for (transport, reply) in [("stdio", over_stdio), ("http", over_http)] {
        assert_eq!(
            reply["result"]["content"][0]["text"], "to be",
            "{transport}: {reply}"
        );
        let progress: Vec<(u64, String)> = reply["progress"]
            .as_array()
            .unwrap_or_else(|| panic!("{transport}: {reply}"))
            .iter()
            .map(|p| {
                (
                    p["progress"].as_u64().unwrap(),
                    p["message"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let expected =
            [(1, "to"), (2, "word 1"), (3, "be"), (4, "word 2")].map(|(p, m)| (p, m.to_string()));
        assert_eq!(progress, expected, "{transport}: {reply}");
    }
}
