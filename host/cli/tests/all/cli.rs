//! The `airlock` command line on the real example components: output, exit codes, and the
//! typed errors it prints.

use std::process::{Command, Output};

use airlock_guests as guests;

fn airlock(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(args)
        .output()
        .expect("airlock runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn call_prints_the_json_result() {
    let out = airlock(&["call", guests::CALCULATOR, "add", r#"{"a": 40, "b": 2}"#]);
    assert!(out.status.success(), "{}", stderr(&out));
    let value: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(value, serde_json::json!({"result": 42.0}));
}

#[test]
fn a_plugin_error_exits_1_with_its_code() {
    let out = airlock(&["call", guests::CALCULATOR, "divide", r#"{"a": 1, "b": 0}"#]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).is_empty());
    let err = stderr(&out);
    assert!(
        err.contains("[plugin-error]") && err.contains("error 1001: division by zero"),
        "{err}"
    );
}

#[test]
fn fuel_and_timeout_flags_stop_a_runaway() {
    let out = airlock(&["call", guests::HOSTILE, "spin", "--fuel", "10000000"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("[fuel-exhausted]"),
        "{}",
        stderr(&out)
    );

    let out = airlock(&[
        "call",
        guests::HOSTILE,
        "spin",
        "--fuel",
        "off",
        "--timeout",
        "200ms",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("[deadline-exceeded]"),
        "{}",
        stderr(&out)
    );

    let out = airlock(&["call", guests::HOSTILE, "grow", "--memory", "16MiB"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("[memory-limit]"), "{}", stderr(&out));
}

#[test]
fn hook_prints_the_outcome() {
    let payload = r#"{"tool": "mail", "arguments": {"to": "x@example.com"}}"#;
    let out = airlock(&["hook", guests::REDACT, "before-tool-call", payload]);
    assert!(out.status.success(), "{}", stderr(&out));
    let value: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(value["outcome"], "replace");
    assert_eq!(value["value"]["arguments"]["to"], "[REDACTED:email]");

    let config = r#"{"deny_tools": ["mail"]}"#;
    let out = airlock(&[
        "hook",
        guests::REDACT,
        "before-tool-call",
        payload,
        "--config",
        config,
    ]);
    let value: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(value["outcome"], "veto");
}

#[test]
fn inspect_shows_world_exports_imports_and_tools() {
    let out = airlock(&["inspect", guests::CALCULATOR]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for expected in [
        "calculator 0.1.0",
        "world        tool-plugin",
        "airlock:plugin/tools@0.2.0",
        "airlock:plugin/types@0.2.0",
        "divide",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }

    let out = airlock(&["inspect", guests::REDACT, "--json"]);
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["world"], "hook-plugin");
    assert_eq!(report["hooks"], serde_json::json!(["before-tool-call"]));
    assert_eq!(report["metadata"]["name"], "redact");
    assert!(
        report["imports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i == "airlock:plugin/host@0.2.0")
    );
}

#[test]
fn bad_inputs_exit_2_with_a_clear_message() {
    let dir = std::env::temp_dir().join(format!("airlock-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text_file = dir.join("notes.txt");
    std::fs::write(&text_file, "hello").unwrap();
    let out = airlock(&["call", text_file.to_str().unwrap(), "add"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("is not WebAssembly"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("panicked"));

    // A component of another world is called by export name; `run` is not one (its
    // interface's is), and the error lists what is.
    let out = airlock(&["call", guests::CLI_COMMAND, "run"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("[unknown-tool]") && stderr(&out).contains("wasi:cli/run@"),
        "{}",
        stderr(&out)
    );

    let out = airlock(&["call", guests::CALCULATOR, "add", "{not json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("arguments is not valid JSON"),
        "{}",
        stderr(&out)
    );

    let out = airlock(&["hook", guests::REDACT, "before-lunch", "{}"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown hook kind `before-lunch`"),
        "{}",
        stderr(&out)
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn audit_prints_a_report_and_exits_by_verdict() {
    let out = airlock(&["audit", guests::CALCULATOR_DIR]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for expected in [
        "calculator 0.1.0",
        "verified",
        "wasi:cli/environment@0.2.",
        "env",
        "Isolation reuse",
        "Verdict  LOADS",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }

    let out = airlock(&["audit", guests::REDACT_DIR, "--json"]);
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["verdict"]["loads"], true);
    assert_eq!(report["world"], "hook-plugin");
    assert_eq!(report["plugin"]["isolation"], "reuse");

    // A folder whose manifest asks for a network grant the (empty) policy does not give.
    let dir = std::env::temp_dir().join(format!("airlock-cli-audit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let manifest =
        std::fs::read_to_string(format!("{}/airlock.toml", guests::CALCULATOR_DIR)).unwrap();
    std::fs::write(
        dir.join("airlock.toml"),
        format!("{manifest}\n[capabilities]\nnetwork = [\"api.example.com:443\"]\n"),
    )
    .unwrap();
    std::fs::copy(
        format!("{}/calculator.wasm", guests::CALCULATOR_DIR),
        dir.join("calculator.wasm"),
    )
    .unwrap();
    let out = airlock(&["audit", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "refused means a non-zero exit");
    let text = stdout(&out);
    assert!(
        text.contains("REFUSED")
            && text.contains("[plugins.calculator] network = [\"api.example.com:443\"]"),
        "{text}"
    );

    let policy = dir.join("policy.toml");
    std::fs::write(
        &policy,
        "[plugins.calculator]\nnetwork = [\"*.example.com:443\"]\n",
    )
    .unwrap();
    let out = airlock(&[
        "audit",
        dir.to_str().unwrap(),
        "--policy",
        policy.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stdout(&out));
    std::fs::remove_dir_all(&dir).ok();
}

/// `airlock audit` checks the configuration a load would get (`--config`, default `{}`)
/// against the manifest's `[config]` schema: its verdict is what loading with it does.
#[test]
fn audit_checks_the_configuration_a_load_would_get() {
    let out = airlock(&[
        "audit",
        guests::REDACT_DIR,
        "--config",
        r#"{"deny_tools": 7}"#,
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(
        text.contains("REFUSED") && text.contains("deny_tools"),
        "the refusal names the field:\n{text}"
    );
    let out = airlock(&[
        "audit",
        guests::REDACT_DIR,
        "--json",
        "--config",
        r#"{"deny_tools": ["rm"]}"#,
    ]);
    assert!(out.status.success(), "{}", stdout(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["verdict"]["loads"], true);

    let out = airlock(&["audit", guests::REDACT_DIR, "--config", "{not json"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a usage error, as for the other commands"
    );
    assert!(
        stderr(&out).contains("--config is not valid JSON"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn pin_writes_the_digest_and_folders_load_with_it() {
    let dir = std::env::temp_dir().join(format!("airlock-cli-pin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        format!("{}/calculator.wasm", guests::CALCULATOR_DIR),
        dir.join("calculator.wasm"),
    )
    .unwrap();
    let manifest =
        "[plugin]\nname = \"calculator\"\nversion = \"0.1.0\"\ncomponent = \"calculator.wasm\"\n";
    std::fs::write(dir.join("airlock.toml"), manifest).unwrap();
    let folder = dir.to_str().unwrap();

    let out = airlock(&["call", folder, "add", r#"{"a": 1, "b": 2}"#]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("is not pinned"), "{}", stderr(&out));

    let out = airlock(&["pin", folder]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = airlock(&["call", folder, "add", r#"{"a": 1, "b": 2}"#]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("dev mode"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_bare_component_runs_in_dev_mode_and_says_so() {
    let out = airlock(&["call", guests::CALCULATOR, "add", r#"{"a": 1, "b": 2}"#]);
    assert!(out.status.success());
    assert!(
        stderr(&out).contains("dev mode") && stderr(&out).contains("no capabilities"),
        "{}",
        stderr(&out)
    );
}

/// `airlock call` shows a plugin's progress on stderr as it arrives (chunks, then
/// `[done/total] message` lines), escaped and marked as the plugin's on every line, and its
/// result on stdout.
#[test]
fn call_shows_the_plugins_progress_on_stderr() {
    let args = r#"{"words": ["alpha", "be\u001b[2Jta", "\nerror: forged"]}"#;
    let out = airlock(&["call", guests::HOSTILE, "stream", args]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("│ alpha\n│ [1/3] word 1\n"), "{err}");
    assert!(
        err.contains("│ be\\u{1b}[2Jta\n│ [2/3] word 2\n"),
        "escaped: {err}"
    );
    assert!(err.contains("\n│ error: forged\n│ [3/3]"), "marked: {err}");
    assert!(!err.lines().any(|l| l.starts_with("error")), "{err}");
    assert!(!err.contains('\u{1b}'), "{err}");
    assert!(stdout(&out).contains("alpha be"), "{}", stdout(&out));
}

/// `airlock plugins …` against one registry database, one process per command, as an
/// operator would run them.
#[test]
fn plugins_commands_manage_the_registry_across_processes() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cli-registry-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let db = dir.join("registry.db");
    let db = db.to_str().unwrap();
    let run = |args: &[&str]| {
        let mut all = vec!["plugins", "--registry", db, "--tenant", "acme"];
        all.extend_from_slice(args);
        airlock(&all)
    };
    let json_of = |out: &Output| -> serde_json::Value {
        assert!(out.status.success(), "{}", stderr(out));
        serde_json::from_str(&stdout(out)).unwrap_or_else(|e| panic!("{e}: {}", stdout(out)))
    };

    let enabled = json_of(&run(&["enable", guests::CALCULATOR_DIR, "--json"]));
    assert_eq!(enabled["plugin"], "calculator");
    assert_eq!(enabled["version"], "0.1.0");
    json_of(&run(&[
        "enable",
        guests::REDACT_DIR,
        "--config",
        r#"{"deny_tools": ["rm"]}"#,
        "--json",
    ]));

    let listed = json_of(&run(&["list", "--json"]));
    let registrations = listed["registrations"].as_array().unwrap();
    assert_eq!(registrations.len(), 2);
    assert!(registrations.iter().all(|r| r["enabled"] == true));
    assert_eq!(listed["installed"].as_array().unwrap().len(), 2);

    // Config: read, a refused change (every problem named, nothing stored), a good change.
    assert_eq!(
        json_of(&run(&["config", "get", "redact"])),
        serde_json::json!({"deny_tools": ["rm"]})
    );
    let refused = run(&["config", "set", "redact", r#"{"deny_tools": "rm"}"#]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("deny_tools"),
        "{}",
        stderr(&refused)
    );
    json_of(&run(&[
        "config",
        "set",
        "redact",
        r#"{"deny_tools": ["curl"]}"#,
        "--json",
    ]));
    assert_eq!(
        json_of(&run(&["config", "get", "redact"])),
        serde_json::json!({"deny_tools": ["curl"]})
    );

    let health = json_of(&run(&["health", "calculator", "--json"]));
    assert_eq!(health["state"], "ready");
    assert_eq!(health["report"]["status"], "ready");

    let reloaded = json_of(&run(&["reload", "calculator", "--json"]));
    assert_eq!(
        reloaded[0]["from"], "0.1.0",
        "the version that ran, not `-`"
    );
    assert_eq!(reloaded[0]["tenant"], "acme");
    assert_eq!(reloaded[0]["to"], "0.1.0");
    assert_eq!(reloaded[0]["error"], serde_json::Value::Null);
    let reset = json_of(&run(&["reset", "calculator", "--json"]));
    assert_eq!(reset["reset"], true);

    // Another tenant sees none of it.
    let other = airlock(&[
        "plugins",
        "--registry",
        db,
        "--tenant",
        "globex",
        "list",
        "--json",
    ]);
    assert!(
        json_of(&other)["registrations"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let not_enabled = airlock(&[
        "plugins",
        "--registry",
        db,
        "--tenant",
        "globex",
        "health",
        "calculator",
    ]);
    assert_eq!(not_enabled.status.code(), Some(2));
    assert!(stderr(&not_enabled).contains("not enabled for tenant `globex`"));
    let reset = airlock(&[
        "plugins",
        "--registry",
        db,
        "--tenant",
        "globex",
        "reset",
        "calculator",
    ]);
    assert_eq!(reset.status.code(), Some(2), "{}", stderr(&reset));

    json_of(&run(&["disable", "calculator", "--json"]));
    let listed = json_of(&run(&["list", "--json"]));
    let calculator = listed["registrations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["plugin"] == "calculator")
        .unwrap()
        .clone();
    assert_eq!(calculator["enabled"], false);
    let table = run(&["list"]);
    assert!(stdout(&table).contains("disabled"), "{}", stdout(&table));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A Python script using only the standard library lists and calls the example tools over
/// `airlock serve --stdio`.
#[test]
fn a_stdlib_python_client_lists_and_calls_tools_over_stdio() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("py-client-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let db = dir.join("registry.db");
    let db = db.to_str().unwrap();
    for folder in [guests::CALCULATOR_DIR, guests::COUNT_VOWELS_DIR] {
        let out = airlock(&[
            "plugins",
            "--registry",
            db,
            "--tenant",
            "py",
            "enable",
            folder,
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/clients/airlock_client.py");
    let run = |tool: &str, arguments: &str, succeeds: bool| {
        let out = Command::new("python3")
            .arg(&script)
            .args([
                "--airlock",
                env!("CARGO_BIN_EXE_airlock"),
                "--registry",
                db,
                "--tenant",
                "py",
            ])
            .args(["--call", tool, arguments])
            .output()
            .expect("python3 runs (it is part of the test requirements)");
        assert_eq!(out.status.success(), succeeds, "{}", stderr(&out));
        let lines: Vec<serde_json::Value> = stdout(&out)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2, "{}", stdout(&out));
        lines
    };
    let lines = run(
        "count-vowels.count_vowels",
        r#"{"text": "Airlock keeps plugins apart"}"#,
        true,
    );
    let tools = lines[0]["tools"].as_array().unwrap();
    assert!(
        tools.contains(&serde_json::json!("calculator.add")),
        "{tools:?}"
    );
    assert!(tools.contains(&serde_json::json!("count-vowels.count_vowels")));
    assert_eq!(lines[1]["result"]["count"], 9);
    // A failed call exits 1.
    let lines = run("calculator.divide", r#"{"a": 1, "b": 0}"#, false);
    assert_eq!(lines[1]["error"]["code"], -32005);
    assert_eq!(lines[1]["error"]["data"]["code"], 1001);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `airlock cache stats|clear` over the cache a load fills.
#[test]
fn cache_commands_show_and_clear_the_compiled_artifacts() {
    let home = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cli-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_airlock"))
            .args(args)
            .env("XDG_CACHE_HOME", &home)
            .output()
            .unwrap()
    };
    let stats = |out: Output| -> serde_json::Value {
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_str(&stdout(&out)).unwrap()
    };
    assert!(
        run(&["call", guests::CALCULATOR, "add", r#"{"a": 1, "b": 1}"#])
            .status
            .success()
    );
    let filled = stats(run(&["cache", "stats", "--json"]));
    assert_eq!(filled["entries"], 1, "{filled}");
    assert!(
        filled["dir"]
            .as_str()
            .unwrap()
            .starts_with(home.to_str().unwrap())
    );
    assert_eq!(filled["max_bytes"], 2u64 << 30, "the default budget");
    let budget = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(["cache", "stats", "--json"])
        .env("XDG_CACHE_HOME", &home)
        .env("AIRLOCK_CACHE_MAX", "1MiB")
        .output()
        .unwrap();
    assert_eq!(stats(budget)["max_bytes"], 1 << 20);
    assert!(run(&["cache", "clear"]).status.success());
    assert_eq!(stats(run(&["cache", "stats", "--json"]))["entries"], 0);
    let _ = std::fs::remove_dir_all(&home);
}

/// `airlock token create|list|revoke` across processes, on one registry database.
#[test]
fn tokens_are_created_listed_without_secrets_and_revoked() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cli-tokens-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let db = dir.join("registry.db");
    let db = db.to_str().unwrap();
    let create = |label: &str| {
        let out = airlock(&[
            "token",
            "create",
            "--tenant",
            "acme",
            "--role",
            "caller",
            "--label",
            label,
            "--registry",
            db,
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out).trim().to_string()
    };
    let ci = create("ci");
    let laptop = create("laptop");
    assert!(ci.starts_with("alk_") && laptop.starts_with("alk_"));

    let list = || {
        let out = airlock(&["token", "list", "--json", "--registry", db]);
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_str::<Vec<serde_json::Value>>(&stdout(&out)).unwrap()
    };
    let tokens = list();
    assert_eq!(tokens.len(), 2);
    let text = serde_json::to_string(&tokens).unwrap();
    assert!(
        !text.contains(&ci[4..]) && !text.contains(&laptop[4..]),
        "{text}"
    );
    let laptop_id = tokens.iter().find(|t| t["label"] == "laptop").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    let out = airlock(&["token", "revoke", &laptop_id[..10], "--registry", db]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("laptop"), "{}", stdout(&out));
    let left = list();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["label"], "ci");

    let again = airlock(&["token", "revoke", &laptop_id, "--registry", db]);
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("no token matches"),
        "{}",
        stderr(&again)
    );
}

/// `plugins enable NAME` means a plugin name even when a folder called NAME is in the
/// current directory; the error says how to mean the folder (`./NAME`), which then works.
#[test]
fn a_bare_name_is_never_taken_for_a_folder_in_the_current_directory() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cli-name-or-path-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let folder = dir.join("calculator");
    std::fs::create_dir_all(&folder).unwrap();
    for entry in std::fs::read_dir(guests::CALCULATOR_DIR).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), folder.join(entry.file_name())).unwrap();
    }
    let db = dir.join("registry.db");
    let enable = |target: &str| {
        Command::new(env!("CARGO_BIN_EXE_airlock"))
            .args([
                "plugins",
                "--registry",
                db.to_str().unwrap(),
                "enable",
                target,
            ])
            .current_dir(&dir)
            .env("AIRLOCK_PLUGIN_PATH", dir.join("empty"))
            .env("XDG_DATA_HOME", dir.join("empty"))
            .env("XDG_CONFIG_HOME", dir.join("empty"))
            .output()
            .expect("airlock runs")
    };
    let by_name = enable("calculator");
    assert!(!by_name.status.success(), "{}", stdout(&by_name));
    assert!(
        stderr(&by_name).contains("`./calculator`"),
        "{}",
        stderr(&by_name)
    );
    let by_path = enable("./calculator");
    assert!(by_path.status.success(), "{}", stderr(&by_path));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Flags whose bare numbers are surely mistakes need a unit; errors print each sentence
/// once; `inspect` takes a plugin folder too (issue #20, units and errors).
#[test]
fn units_are_required_and_errors_are_said_once() {
    let memory = airlock(&["call", guests::CALCULATOR, "add", "--memory", "64"]);
    assert_eq!(memory.status.code(), Some(2));
    assert!(
        stderr(&memory).contains("write 64MiB"),
        "{}",
        stderr(&memory)
    );
    let small = airlock(&["call", guests::CALCULATOR, "add", "--memory", "1KiB"]);
    assert!(
        stderr(&small).contains("WebAssembly page"),
        "{}",
        stderr(&small)
    );
    let timeout = airlock(&["call", guests::CALCULATOR, "add", "--timeout", "5"]);
    assert!(
        stderr(&timeout).contains("write 5s or 5ms"),
        "{}",
        stderr(&timeout)
    );

    let missing = airlock(&["call", "/nonexistent/x.wasm", "add"]);
    let err = stderr(&missing);
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");

    let folder = airlock(&["inspect", guests::CALCULATOR_DIR]);
    assert!(folder.status.success(), "{}", stderr(&folder));
    assert!(
        stdout(&folder).starts_with("calculator 0.1.0"),
        "{}",
        stdout(&folder)
    );
}

/// Settings are remembered (issue #20): the config file gives the policy, registry and
/// tenant; an environment variable beats it and a flag beats both; `airlock config show`
/// says where each came from; a bad config file is an error naming it; a server whose
/// tenant has nothing enabled says so in one line naming the registry and tenant.
#[test]
fn settings_are_remembered_shown_and_reported_by_a_server() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cli-settings-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        "policy = \"policy.toml\"\nregistry = \"state/registry.db\"\ntenant = \"acme\"\n",
    )
    .unwrap();
    std::fs::write(dir.join("policy.toml"), "[limits]\nmemory = \"64MiB\"\n").unwrap();
    let with_config = |args: &[&str], env: &[(&str, &str)]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_airlock"));
        command
            .args(args)
            .env("AIRLOCK_CONFIG", &config)
            .env_remove("AIRLOCK_POLICY")
            .env_remove("AIRLOCK_REGISTRY")
            .env_remove("AIRLOCK_TENANT");
        for (key, value) in env {
            command.env(key, value);
        }
        command.output().expect("airlock runs")
    };
    let shown = with_config(&["config", "show", "--json"], &[]);
    assert!(shown.status.success(), "{}", stderr(&shown));
    let shown: serde_json::Value = serde_json::from_str(&stdout(&shown)).unwrap();
    let config_text = config.to_str().unwrap();
    assert_eq!(
        shown["policy"]["value"],
        dir.join("policy.toml").to_str().unwrap()
    );
    assert_eq!(shown["policy"]["source"]["from"], "config-file");
    assert_eq!(shown["policy"]["source"]["path"], config_text);
    assert_eq!(
        shown["registry"]["value"],
        dir.join("state/registry.db").to_str().unwrap()
    );
    assert_eq!(shown["tenant"]["value"], "acme");
    let by_env = with_config(
        &["config", "show", "--json"],
        &[("AIRLOCK_TENANT", "globex")],
    );
    let by_env: serde_json::Value = serde_json::from_str(&stdout(&by_env)).unwrap();
    assert_eq!(by_env["tenant"]["value"], "globex");
    assert_eq!(
        by_env["tenant"]["source"],
        serde_json::json!({"from": "env", "name": "AIRLOCK_TENANT"})
    );

    // A command without flags uses them: the registration lands in the configured
    // registry, for the configured tenant.
    let enabled = with_config(&["plugins", "enable", guests::CALCULATOR_DIR], &[]);
    assert!(enabled.status.success(), "{}", stderr(&enabled));
    let listed = with_config(&["plugins", "list", "--json", "--tenant", "acme"], &[]);
    let listed: serde_json::Value = serde_json::from_str(&stdout(&listed)).unwrap();
    assert_eq!(
        listed["registrations"][0]["plugin"], "calculator",
        "{listed}"
    );
    assert!(dir.join("state/registry.db").is_file());

    std::fs::write(&config, "polcy = \"x\"\n").unwrap();
    let bad = with_config(&["config", "show"], &[]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains(config_text) && stderr(&bad).contains("polcy"),
        "{}",
        stderr(&bad)
    );

    // A server whose tenant has nothing enabled says so, naming the registry and tenant.
    let empty = dir.join("empty.db");
    let mut server = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(["serve", "--http", "127.0.0.1:0", "--tenant", "nobody"])
        .args(["--registry", empty.to_str().unwrap()])
        .env("AIRLOCK_CONFIG", dir.join("none.toml"))
        .env_remove("AIRLOCK_POLICY")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut said = String::new();
    let mut stderr_lines =
        std::io::BufRead::lines(std::io::BufReader::new(server.stderr.take().unwrap()));
    for line in stderr_lines.by_ref() {
        let line = line.unwrap();
        let listening = line.contains("listening on");
        said.push_str(&line);
        said.push('\n');
        if listening {
            break;
        }
    }
    server.kill().ok();
    server.wait().ok();
    assert!(
        said.contains("tenant `nobody` has no plugins enabled"),
        "{said}"
    );
    assert!(
        said.contains(empty.to_str().unwrap()) && said.contains("new and empty"),
        "{said}"
    );
    assert!(said.contains("no policy"), "{said}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `airlock tools list` shows a tenant's tools as the front ends list them, and
/// `airlock completions SHELL` prints a completion script (issue #20, `--help` and friends).
#[test]
fn tools_list_and_completions() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cli-tools-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let db = dir.join("registry.db");
    let db = db.to_str().unwrap();
    let enabled = airlock(&[
        "plugins",
        "--registry",
        db,
        "--tenant",
        "t",
        "enable",
        guests::CALCULATOR_DIR,
    ]);
    assert!(enabled.status.success(), "{}", stderr(&enabled));
    let listed = airlock(&["tools", "list", "--registry", db, "--tenant", "t", "--json"]);
    assert!(listed.status.success(), "{}", stderr(&listed));
    let listed: serde_json::Value = serde_json::from_str(&stdout(&listed)).unwrap();
    let names: Vec<&str> = listed["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"calculator.add"), "{names:?}");
    let text = airlock(&["tools", "list", "--registry", db, "--tenant", "t"]);
    assert!(
        stdout(&text)
            .lines()
            .any(|l| l.starts_with("calculator.add")),
        "{}",
        stdout(&text)
    );
    let empty = airlock(&["tools", "list", "--registry", db, "--tenant", "nobody"]);
    assert!(
        stderr(&empty).contains("has no tools"),
        "{}",
        stderr(&empty)
    );

    let bash = airlock(&["completions", "bash"]);
    assert!(bash.status.success());
    assert!(stdout(&bash).contains("_airlock") && stdout(&bash).contains("plugins"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// With too little address space for 4 GiB guard-page slots (a low `ulimit -v`), the
/// runtime falls back to slots of the memory cap, says so once, and the call still runs;
/// with room, it says nothing.
#[test]
fn a_low_address_space_limit_falls_back_to_bounds_checked_slots() {
    let run = |limit_kib: Option<u64>| {
        let ulimit = limit_kib.map_or(String::new(), |kib| format!("ulimit -v {kib} && "));
        let script = format!("{ulimit}exec \"$0\" call \"$1\" add '{{\"a\": 1, \"b\": 2}}'");
        Command::new("sh")
            .args([
                "-c",
                &script,
                env!("CARGO_BIN_EXE_airlock"),
                guests::CALCULATOR_DIR,
            ])
            .output()
            .expect("sh runs")
    };
    let fallback = "cannot reserve 4 GiB of address space per memory slot";
    let roomy = run(None);
    assert!(roomy.status.success(), "{}", stderr(&roomy));
    assert!(stdout(&roomy).contains('3'), "{}", stdout(&roomy));
    assert!(!stderr(&roomy).contains(fallback), "{}", stderr(&roomy));

    // 64 GiB: room for cap-sized slots, not for the CLI's 16 instances of 4 GiB slots.
    let tight = run(Some(64 << 20));
    assert!(tight.status.success(), "{}", stderr(&tight));
    assert!(stdout(&tight).contains('3'), "{}", stdout(&tight));
    assert!(stderr(&tight).contains(fallback), "{}", stderr(&tight));
}

/// `airlock plugins tools` shows and sets a tenant's tool filter (issue #18): set, shown,
/// applied to `plugins list`'s tool listing of that tenant only, cleared with `--all`.
#[test]
fn plugins_tools_sets_shows_and_clears_a_tenants_tool_filter() {
    let dir = crate::support::fresh_dir("cli-tool-filter");
    let db = dir.join("registry.db");
    let db = db.to_str().unwrap();
    let plugins = |tenant: &str, args: &[&str]| {
        let mut all = vec!["plugins", "--registry", db, "--tenant", tenant];
        all.extend_from_slice(args);
        let out = airlock(&all);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        stdout(&out)
    };
    for tenant in ["acme", "globex"] {
        plugins(tenant, &["enable", guests::CALCULATOR_DIR]);
    }
    assert!(plugins("acme", &["tools", "calculator"]).contains("every tool"));
    let set = plugins(
        "acme",
        &[
            "tools",
            "calculator",
            "--allow",
            "add",
            "--allow",
            "sub*",
            "--deny",
            "subtract",
        ],
    );
    assert!(set.contains("allow add, sub*; deny subtract"), "{set}");
    let shown: serde_json::Value =
        serde_json::from_str(&plugins("acme", &["--json", "tools", "calculator"])).unwrap();
    assert_eq!(shown["allow"], serde_json::json!(["add", "sub*"]));
    // `airlock tools list` shows each tenant its own view.
    let tools = |tenant: &str| {
        let out = airlock(&["tools", "list", "--registry", db, "--tenant", tenant]);
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    let (acme, globex) = (tools("acme"), tools("globex"));
    assert!(
        acme.contains("calculator.add") && !acme.contains("calculator.subtract"),
        "{acme}"
    );
    assert!(globex.contains("calculator.subtract"), "{globex}");
    assert!(plugins("acme", &["tools", "calculator", "--all"]).contains("every tool"));
    let bad = airlock(&[
        "plugins",
        "--registry",
        db,
        "--tenant",
        "acme",
        "tools",
        "calculator",
        "--allow",
        "",
    ]);
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("tool pattern"), "{}", stderr(&bad));
}

/// A component of its own world (`typed`): `inspect` lists what can be called with each
/// signature and argument schema, and `call` runs an export by name with JSON converted by
/// its WIT types, refusing bad arguments by path and type.
#[test]
fn a_component_of_another_world_is_inspected_and_called_by_export_name() {
    let add = "fixture:typed/kitchen@0.1.0#add";
    let out = airlock(&["inspect", guests::TYPED, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let functions = report["functions"].as_array().unwrap();
    let found = functions
        .iter()
        .find(|f| f["name"] == add)
        .expect("add listed");
    assert_eq!(found["signature"], "func(a: s32, b: s32) -> s32");
    assert_eq!(
        found["params_schema"]["required"],
        serde_json::json!(["a", "b"])
    );
    let out = airlock(&["inspect", guests::TYPED]);
    assert!(
        stdout(&out).contains(&format!("{add}: func(a: s32, b: s32) -> s32")),
        "{}",
        stdout(&out)
    );

    let out = airlock(&["call", guests::TYPED, add, r#"{"a": 2, "b": 3}"#]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "5");
    let out = airlock(&["call", guests::TYPED, add, r#"{"a": 2, "b": "3"}"#]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("[bad-arguments]")
            && stderr(&out).contains("/b: expected s32, found \"3\""),
        "{}",
        stderr(&out)
    );
    let out = airlock(&[
        "call",
        guests::TYPED,
        "fixture:typed/kitchen@0.1.0#spin",
        "{}",
        "--fuel",
        "1000000",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("[fuel-exhausted]"),
        "{}",
        stderr(&out)
    );
}

/// A folder `airlock-cli-<label>-<pid>` holding the `typed` fixture and a manifest declaring
/// the `fixture:typed/kitchen@0.1.0` contract, `extra` appended to its `[plugin]` table.
fn kitchen_folder(label: &str, extra: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("airlock-cli-{label}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(guests::TYPED, dir.join("typed.wasm")).unwrap();
    let manifest = "[plugin]\nname = \"kitchen\"\nversion = \"0.1.0\"\ncomponent = \"typed.wasm\"\n\
                    contract = \"fixture:typed/kitchen@0.1.0\"\n";
    std::fs::write(dir.join("airlock.toml"), format!("{manifest}{extra}")).unwrap();
    dir
}

/// `airlock audit` of a component of the host's own contract: its world is `custom`, and
/// each contract its manifest declares is checked against the policy's `[contracts]` WIT.
#[test]
fn audit_shows_a_custom_worlds_contracts_checked_against_the_policys_wit() {
    let dir = kitchen_folder("contract", "keys = [\"json\"]\n");
    let out = airlock(&["pin", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let wit =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/plugins/typed/wit");
    let policy = dir.join("policy.toml");
    std::fs::write(
        &policy,
        format!("[contracts]\nwit = [{:?}]\n", wit.display().to_string()),
    )
    .unwrap();
    let out = airlock(&[
        "audit",
        dir.to_str().unwrap(),
        "--policy",
        policy.to_str().unwrap(),
    ]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    for expected in [
        "World    custom",
        "Contract fixture:typed/kitchen@0.1.0 implemented",
        "Keys     json",
        "Verdict  LOADS",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    // Without the contract's WIT the host does not serve it: refused, naming the fix.
    let out = airlock(&["audit", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("NOT implemented") && text.contains("[contracts]"),
        "{text}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// `airlock inspect` of a folder declaring the host's own contract says it is a plugin of
/// world `custom` and which contracts, not that it is no Airlock plugin.
#[test]
fn inspect_of_a_custom_world_folder_names_its_contracts() {
    let dir = kitchen_folder("inspect-custom", "");
    let out = airlock(&["inspect", dir.to_str().unwrap()]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(
        text.starts_with("a plugin of world `custom`: its manifest declares the contract(s) fixture:typed/kitchen@0.1.0"),
        "{text}"
    );
    let out = airlock(&["inspect", guests::TYPED]);
    assert!(stdout(&out).starts_with("not an Airlock plugin: "));
    std::fs::remove_dir_all(&dir).ok();
}
