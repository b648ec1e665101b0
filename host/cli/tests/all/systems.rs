//! The other plugin systems' own clients driving `airlock` (issue #16). App Factory: its
//! guide's client style in Python — JSON-RPC 2.0 over `airlock serve --stdio`,
//! `plugin/load`, `plugin/enable`, `plugin/call` and `plugin/health` — making the round trip
//! its guide describes with the example plugins (`examples/systems/app-factory/client.py`):
//! espeak-ng speaks "hello world", PocketSphinx hears it, and the LLM plugin streams a
//! completion of the transcript chunk by chunk. Each system's `airlock demo --system`
//! scene, and `airlock audit` of an App Factory plugin.

use std::process::Command;

use airlock_tests::app_factory::{AppFactory, example_dir};
use serde_json::{Value, json};

#[test]
fn app_factorys_python_client_speaks_hears_and_streams_through_plugin_call() {
    let example = AppFactory::start();
    let registry = example.dir.path().join("registry.db");
    let out = Command::new("python3")
        .arg(example_dir().join("client.py"))
        .args(["--airlock", env!("CARGO_BIN_EXE_airlock"), "--registry"])
        .arg(&registry)
        .arg("--policy")
        .arg(&example.policy)
        .arg("--plugins")
        .arg(example.dir.path())
        .args(["--llm-url", &example.server.base_url])
        .output()
        .expect("python3 runs (it is part of the test requirements)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let steps: Vec<&str> = lines.iter().map(|l| l["step"].as_str().unwrap()).collect();
    assert_eq!(
        steps,
        [
            "synthesize",
            "transcribe",
            "chunk",
            "chunk",
            "chunk",
            "chunk",
            "complete",
            "health",
            "health",
            "health"
        ],
        "{stdout}"
    );
    assert!(lines[0]["bytes"].as_u64().unwrap() > 22_050, "{}", lines[0]);
    assert_eq!(lines[1]["text"], "hello world");
    let chunks: Vec<&str> = lines[2..6]
        .iter()
        .map(|l| l["text"].as_str().unwrap())
        .collect();
    assert_eq!(chunks, ["You", " said:", " hello", " world"]);
    assert_eq!(lines[6]["text"], "You said: hello world");
    for health in &lines[7..] {
        assert_eq!(health["status"], json!("ready"), "{health}");
        assert!(health["latency_ms"].as_f64().unwrap() > 0.0, "{health}");
        assert!(health["memory_mb"].as_f64().unwrap() > 0.0, "{health}");
    }
}

/// Runs `airlock demo --system NAME` and asserts it succeeded and printed every one of
/// `lines`.
fn demo_prints(system: &str, lines: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(["demo", "--system", system])
        .output()
        .expect("airlock runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in lines {
        assert!(stdout.contains(line), "no {line:?} in:\n{stdout}");
    }
}

/// `airlock demo --system app-factory` runs its scene: speech out, speech in, a streamed
/// completion, the guide's error codes, health.
#[test]
fn the_app_factory_demo_scene_runs() {
    demo_prints(
        "app-factory",
        &[
            "transcribe → \"hello world\"",
            "   │  hello\n   │  world\n",
            "stream-complete → \"You said: hello world\"",
            "returned error 1001",
            "returned error 1201",
        ],
    );
}

/// `airlock demo --system lleo` runs its scene: git found and new enough, the commits of
/// the repository it made, another directory refused.
#[test]
fn the_lleo_demo_scene_runs() {
    demo_prints(
        "lleo",
        &[
            "(the module needs >=2.2)",
            "Grace  Compile to bytecode",
            "Ada    Fix the off-by-one",
            "returned error 2: denied:",
        ],
    );
}

/// `airlock demo --system victor` runs its scene: the compile routed by scheme, the second
/// one a cache hit, the line of a bad source, an unknown scheme.
#[test]
fn the_victor_demo_scene_runs() {
    demo_prints(
        "victor",
        &[
            "first compile of json://support.json → support_triage by victor-json: 4 nodes",
            "(compiled)",
            "(cache hit)",
            "cache: 1 hit, 1 miss",
            "error 400 at line 4, column 17",
            "no enabled plugin serves `toml://`",
        ],
    );
}

/// `airlock demo --system orchestrator` runs its scene: the docs plugin found by domain, its
/// phases in order with their outputs in the session, a failing required phase stopping
/// the run.
#[test]
fn the_orchestrator_demo_scene_runs() {
    demo_prints(
        "orchestrator",
        &[
            "→ [\"docs\"]",
            "write    succeeded",
            "phase/docs/outline",
            "outline  skipped",
        ],
    );
}

/// What a reviewer sees of an App Factory plugin: its exec grant as the command lines it
/// allows (command first), and that its own `init` runs at load (a custom world exporting
/// Airlock's `lifecycle`).
#[test]
fn audit_shows_an_app_factory_plugins_command_lines_and_its_init() {
    let example = AppFactory::start();
    let tts = example.folder(airlock_tests::app_factory::TTS);
    let out = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .arg("audit")
        .arg(&tts)
        .arg("--policy")
        .arg(&example.policy)
        .output()
        .expect("airlock runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    for line in [
        "espeak-ng --voices, espeak-ng -v * -s * --stdout *",
        "Verdict  LOADS",
        "The plugin's own `init` runs at load",
    ] {
        assert!(stdout.contains(line), "no {line:?} in:\n{stdout}");
    }
}
