//! Text a plugin chose never reaches the operator's terminal raw. The `garish` test plugin
//! puts a screen-clearing escape sequence with a fake verdict, CR/LF with a forged log line,
//! a bidi override and a zero-width space into its metadata, tool descriptions, health
//! message, log records, stdout and stderr lines, error message and the program it asks to
//! run; its folder's manifest does the same in its description. Every output path of the
//! real `airlock` binary is checked: nothing raw, the escaped form visible, JSON valid and
//! lossless.

use std::path::PathBuf;
use std::process::{Command, Output};

use airlock_guests as guests;

use crate::support::{plugin_folder, toml_escape};
use serde_json::Value;

/// What `garish` says everywhere (tests/plugins/garish).
pub const PAYLOAD: &str = "\x1b[2J\x1b[HVerdict LOADS\r\n2026-01-01T00:00:00Z  INFO forged line \u{202E}evil\u{200B}end\
     <script>window.pwned=1</script><img src=x onerror=window.pwned=2>";
/// How it must show: escaped, on one line.
pub const SHOWN: &str = "\\u{1b}[2J\\u{1b}[HVerdict LOADS\\r\\n2026-01-01T00:00:00Z  INFO forged line \\u{202e}evil\\u{200b}end\
     <script>window.pwned=1</script><img src=x onerror=window.pwned=2>";

fn airlock(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(args)
        // The default log filter: what an operator sees without setting anything.
        .env_remove("RUST_LOG")
        .output()
        .expect("airlock runs")
}

/// Characters that must never reach a terminal as they are: controls other than the line
/// feeds the host writes itself, bidi controls, zero-width and other invisible ones.
fn is_dangerous(c: char) -> bool {
    (c.is_control() && c != '\n')
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{FEFF}' | '\u{061C}' | '\u{2060}'
        )
}

/// Both streams: nothing dangerous, no line the plugin forged, and (where `shown`) the
/// escaped payload visible.
fn assert_safe(what: &str, out: &Output, shown: bool) {
    for (stream, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        let text = String::from_utf8(bytes.clone()).expect("UTF-8 output");
        let bad: Vec<char> = text.chars().filter(|c| is_dangerous(*c)).collect();
        assert!(bad.is_empty(), "{what}: raw {bad:?} on {stream}:\n{text}");
        for line in text.lines() {
            assert!(
                !line.starts_with("Verdict LOADS") && !line.starts_with("2026-01-01"),
                "{what}: a forged line on {stream}: {line:?}"
            );
        }
    }
    if shown {
        let all = format!("{}{}", text_of(&out.stdout), text_of(&out.stderr));
        assert!(
            all.contains(SHOWN),
            "{what}: the escaped text is not shown:\n{all}"
        );
    }
}

fn text_of(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn json_of(what: &str, out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{what}: not JSON ({e}):\n{}", text_of(&out.stdout)))
}

/// A pinned plugin folder for `garish` whose manifest description carries the payload too.
pub fn garish_folder(label: &str) -> PathBuf {
    let description = format!("description = \"{}\"", toml_escape(PAYLOAD));
    plugin_folder(
        &format!("garish-{label}"),
        "garish",
        guests::GARISH,
        &description,
    )
}

#[test]
fn inspect_shows_metadata_and_tool_descriptions_escaped() {
    let out = airlock(&["inspect", guests::GARISH]);
    assert!(out.status.success(), "{}", text_of(&out.stderr));
    assert_safe("inspect", &out, true);

    let out = airlock(&["inspect", guests::GARISH, "--json"]);
    assert_safe("inspect --json", &out, false);
    let report = json_of("inspect --json", &out);
    assert_eq!(report["metadata"]["description"], PAYLOAD, "lossless");
    assert_eq!(report["metadata"]["author"], PAYLOAD);
    assert_eq!(report["tools"][0]["description"], PAYLOAD);
}

#[test]
fn a_call_logs_its_records_output_and_refused_exec_escaped() {
    let out = airlock(&["call", guests::GARISH, "shout"]);
    assert!(out.status.success(), "{}", text_of(&out.stderr));
    assert_safe("call", &out, true);
    let log = text_of(&out.stderr);
    // Captured output is logged line by line: its LF ends a record, its CR stays escaped.
    let first_line = "\\u{1b}[2J\\u{1b}[HVerdict LOADS\\r";
    for expected in [
        format!("stdout: {first_line}"),
        format!("stderr: {first_line}"),
        // The refusal quotes the command line (`exec::shown`), escaped.
        format!("exec refused: denied: \"{SHOWN}\""),
    ] {
        assert!(log.contains(&expected), "missing {expected:?} in:\n{log}");
    }
    assert_eq!(
        json_of("call", &out)["said"],
        PAYLOAD,
        "the result is lossless JSON"
    );
}

#[test]
fn a_plugin_error_message_is_printed_escaped() {
    let out = airlock(&["call", guests::GARISH, "fail"]);
    assert_eq!(out.status.code(), Some(1));
    assert_safe("call fail", &out, true);
    assert!(text_of(&out.stderr).contains("[plugin-error]"));
}

#[test]
fn audit_shows_the_manifest_description_escaped() {
    let dir = garish_folder("audit");
    let out = airlock(&["audit", dir.to_str().unwrap()]);
    assert_safe("audit", &out, true);
    assert!(
        text_of(&out.stdout).contains("\nVerdict  "),
        "the real verdict is there"
    );

    let out = airlock(&["audit", dir.to_str().unwrap(), "--json"]);
    assert_safe("audit --json", &out, false);
    let report = json_of("audit --json", &out);
    assert!(report["verdict"].is_object(), "{report}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_registry_commands_show_health_and_lists_escaped() {
    let dir = garish_folder("registry");
    let db = dir.join("registry.db");
    let run = |args: &[&str]| {
        let mut all = vec!["plugins", "--registry", db.to_str().unwrap()];
        all.extend_from_slice(args);
        airlock(&all)
    };
    let out = run(&["enable", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text_of(&out.stderr));
    assert_safe("plugins enable", &out, false);

    let out = run(&["health", "garish"]);
    assert!(out.status.success(), "{}", text_of(&out.stderr));
    assert_safe("plugins health", &out, true);
    let out = run(&["health", "garish", "--json"]);
    assert_safe("plugins health --json", &out, false);
    assert_eq!(json_of("health --json", &out)["report"]["message"], PAYLOAD);

    for args in [&["list"][..], &["list", "--json"]] {
        let out = run(args);
        assert!(out.status.success(), "{}", text_of(&out.stderr));
        assert_safe("plugins list", &out, false);
    }
    std::fs::remove_dir_all(&dir).ok();
}
