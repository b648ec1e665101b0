//! The README's shell snippets, run as written (issue #20: snippets must work as pasted).
//! Each runnable block is found by a line it contains and run line by line with `sh`, in
//! order, against a fresh registry: `airlock` is the binary under test (first on `PATH`,
//! and `target/debug/airlock` is rewritten to it), and `target/guests/plugins` — where
//! `airlock demo` assembles the example plugin folders — is rewritten to the folders the
//! test harness assembled the same way. Blocks needing toolchains, servers or tokens are
//! covered by the tests of those features instead.

use std::path::Path;
use std::process::Command;

use airlock_guests as guests;

const README: &str = include_str!("../../../../README.md");

/// The ```sh blocks of the README.
fn sh_blocks() -> Vec<&'static str> {
    README
        .split("```sh\n")
        .skip(1)
        .filter_map(|rest| rest.split("\n```").next())
        .collect()
}

/// The block containing `marker`.
fn block(marker: &str) -> &'static str {
    let blocks = sh_blocks();
    let found: Vec<_> = blocks.iter().filter(|b| b.contains(marker)).collect();
    assert_eq!(found.len(), 1, "one README block has `{marker}`");
    found[0]
}

/// The block's commands: comments dropped, `\` continuations joined.
fn commands(block: &str) -> Vec<String> {
    let mut commands = Vec::new();
    let mut current = String::new();
    for line in block.lines() {
        let line = line.split(" # ").next().unwrap_or(line).trim_end();
        if line.trim_start().starts_with('#') || line.trim().is_empty() {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(start) => current.push_str(start),
            None => {
                current.push_str(line);
                commands.push(std::mem::take(&mut current));
            }
        }
    }
    commands
}

/// Runs each command of `block` with `sh` in a fresh state folder; asserts each succeeds.
fn run_block(marker: &str, state: &Path) {
    let binary = Path::new(env!("CARGO_BIN_EXE_airlock"));
    let plugins = Path::new(guests::CALCULATOR_DIR).parent().unwrap();
    let path = format!(
        "{}:{}",
        binary.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for command in commands(block(marker)) {
        let command = command
            .replace("target/debug/airlock", binary.to_str().unwrap())
            .replace("target/guests/plugins", plugins.to_str().unwrap());
        let out = Command::new("sh")
            .args(["-c", &command])
            .current_dir(&repo)
            .env("PATH", &path)
            .env("AIRLOCK_REGISTRY", state.join("registry.db"))
            .env("AIRLOCK_CONFIG", state.join("none.toml"))
            .env_remove("AIRLOCK_POLICY")
            .env_remove("AIRLOCK_TENANT")
            .output()
            .expect("sh runs");
        assert!(
            out.status.success(),
            "README command failed: {command}\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn fresh(label: &str) -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("readme-{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_registry_commands_run_as_written() {
    let state = fresh("registry");
    run_block(
        "airlock plugins enable target/guests/plugins/redact",
        &state,
    );
    let _ = std::fs::remove_dir_all(&state);
}

#[test]
fn the_python_client_runs_as_written_on_a_fresh_registry() {
    let state = fresh("python");
    run_block("examples/clients/airlock_client.py", &state);
    let _ = std::fs::remove_dir_all(&state);
}
