//! The README's shell snippets, run as written (issue #20: snippets must work as pasted).
//!
//! Each block is found by a line only it contains and run as one `sh -e` script, as a
//! terminal runs a pasted block (a `cd` holds for the lines after it). The outputs the
//! README shows are checked: a comment line that follows a command and shows output
//! (`# {"result":…}`, or an indented `#   pushed …`), and a trailing comment in quotes
//! (`# "Hello, Ada."`); `…` in them stands for any text. Lines such as `#   or: …` are
//! alternatives, not output.
//!
//! What a reader's machine has and the test has elsewhere is rewritten, and nothing else:
//! Blocks that name the repository's files run from its root, the others in a fresh folder.
//! `airlock` is the binary under test (first on `PATH`; `target/debug/airlock` and
//! `cargo run -p airlock-cli --` become it), `target/guests/plugins` is the folders the
//! test harness assembled the way `airlock demo` does, the example server and registry
//! addresses (`127.0.0.1:8700`, `registry.example:5000`) are the ones the test started,
//! and `$HOME` and the registry are fresh folders.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::publish::oci_registry::DockerRegistry;
use airlock_guests as guests;

use crate::support::{enable, listening_address, token};

const README: &str = include_str!("../../../../README.md");

// Shared with the integration tests by path, as `oci_registry` is.
#[path = "../../../../tests/src/readme_blocks.rs"]
mod readme_blocks;

/// The block of language `lang` containing `marker`.
pub(crate) fn block(lang: &str, marker: &str) -> &'static str {
    readme_blocks::block(README, lang, marker)
}

/// The outputs a block shows: indented or JSON comment lines after a command, and
/// quoted (or `…`-led) trailing comments.
fn shown_outputs(block: &str) -> Vec<String> {
    let mut shown = Vec::new();
    for line in block.lines() {
        let line = line.trim();
        if let Some(comment) = line.strip_prefix('#') {
            let indented = comment.starts_with("   ") && !comment.trim_start().starts_with("or:");
            if indented || comment.trim_start().starts_with('{') {
                shown.push(comment.trim().to_string());
            }
        } else if let Some((_, trailing)) = line.split_once(" # ") {
            let trailing = trailing.trim();
            if trailing.starts_with('"') || trailing.starts_with('…') {
                shown.push(trailing.to_string());
            }
        }
    }
    shown
}

/// Whether `output` contains `shown`'s pieces (split at `…`) in order.
fn shows(output: &str, shown: &str) -> bool {
    let mut rest = output;
    for piece in shown.split('…').map(str::trim).filter(|p| !p.is_empty()) {
        match rest.find(piece) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    true
}

/// A fresh folder for one snippet: the working directory, `$HOME` and the registry.
struct Scene {
    dir: PathBuf,
    /// Where the block runs: `dir`, or the repository for blocks that name its files.
    cwd: PathBuf,
    env: Vec<(String, String)>,
    rewrites: Vec<(String, String)>,
}

impl Scene {
    fn new(label: &str) -> Scene {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("readme-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("home")).unwrap();
        let binary = env!("CARGO_BIN_EXE_airlock");
        let plugins = Path::new(guests::CALCULATOR_DIR).parent().unwrap();
        // The toolchains stay the reader's own when `$HOME` moves: cargo and rustup find
        // theirs through it unless these say where.
        let home = std::env::var("HOME").unwrap_or_default();
        let keep = |key: &str, default: &str| {
            let value = std::env::var(key).unwrap_or_else(|_| format!("{home}/{default}"));
            (key.to_string(), value)
        };
        Scene {
            env: vec![
                keep("CARGO_HOME", ".cargo"),
                keep("RUSTUP_HOME", ".rustup"),
                ("HOME".into(), dir.join("home").display().to_string()),
            ],
            rewrites: vec![
                ("cargo run -p airlock-cli -- ".into(), "airlock ".into()),
                ("target/debug/airlock".into(), binary.into()),
                (
                    "target/guests/plugins".into(),
                    plugins.display().to_string(),
                ),
            ],
            cwd: dir.clone(),
            dir,
        }
    }

    /// Runs the block from the repository's root, as the README's own paths assume.
    fn in_repo(mut self) -> Scene {
        self.cwd = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        self
    }

    fn env(mut self, key: &str, value: &str) -> Scene {
        self.env.push((key.into(), value.into()));
        self
    }

    fn rewrite(mut self, written: &str, here: &str) -> Scene {
        self.rewrites.push((written.into(), here.into()));
        self
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    /// Runs the ```sh block with `marker` as one script; asserts it succeeds and prints
    /// every output the README shows. Returns its stdout.
    fn run(&self, marker: &str) -> String {
        let mut script = block("sh", marker).to_string();
        for (written, here) in &self.rewrites {
            script = script.replace(written, here);
        }
        let binary = Path::new(env!("CARGO_BIN_EXE_airlock"));
        let path = format!(
            "{}:{}",
            binary.parent().unwrap().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let out = Command::new("sh")
            .args(["-e", "-c", &script])
            .current_dir(&self.cwd)
            .stdin(Stdio::null())
            .env("PATH", &path)
            .env("AIRLOCK_CONFIG", self.dir.join("no-config.toml"))
            .env_remove("AIRLOCK_REGISTRY")
            .env_remove("AIRLOCK_POLICY")
            .env_remove("AIRLOCK_TENANT")
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_DATA_HOME")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("sh runs");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "the README block failed:\n{script}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
        );
        for shown in shown_outputs(&script) {
            assert!(
                shows(&stdout, &shown),
                "the README shows `{shown}`, the block printed:\n{stdout}\n--- stderr\n{stderr}"
            );
        }
        stdout
    }
}

impl Drop for Scene {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn shown_outputs_are_read_from_comments() {
    let block = "a x # \"Hello.\"\n# {\"result\":3}\n#   or: other\n#   pushed … digest x\n# prose";
    assert_eq!(
        shown_outputs(block),
        ["\"Hello.\"", "{\"result\":3}", "pushed … digest x"]
    );
    assert!(shows("pushed oci://a\n  digest x", "pushed … digest x"));
    assert!(!shows("digest x pushed", "pushed … digest x"));
}

#[test]
fn the_demo_command_runs_as_written() {
    let out = Scene::new("demo").in_repo().run("-- demo");
    assert!(out.contains("add {a: 2, b: 3}"), "{out}");
}

#[test]
fn the_registry_commands_run_as_written() {
    Scene::new("registry")
        .in_repo()
        .run("airlock plugins enable target/guests/plugins/redact");
}

#[test]
fn the_python_client_runs_as_written_on_a_fresh_registry() {
    Scene::new("python")
        .in_repo()
        .run("examples/clients/airlock_client.py");
}

#[test]
fn the_first_plugin_commands_run_as_written() {
    let out = Scene::new("first-plugin").run("airlock new hello --lang python");
    assert!(out.contains("Hello, Ada."), "{out}");
}

#[test]
fn the_tool_call_over_http_runs_as_written() {
    let scene = Scene::new("curl").in_repo();
    let db = scene.dir.join("registry.db");
    enable(&db, "default", &[guests::CALCULATOR_DIR]);
    let token = token(&db, "default", "caller");
    let mut server = Stopped(
        crate::support::airlock()
            .args([
                "serve",
                "--http",
                "127.0.0.1:0",
                "--registry",
                db.to_str().unwrap(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let address = listening_address(&mut server.0);
    let scene = scene
        .env("TOKEN", &token)
        .rewrite("http://127.0.0.1:8700", &address);
    scene.run("/api/v1/tools/calculator.add/call");
}

/// A server killed when the test ends, passed or not.
struct Stopped(std::process::Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_publish_and_install_commands_run_as_written() {
    let registry = DockerRegistry::start();
    let scene = Scene::new("oci").rewrite("registry.example:5000", &registry.host());
    std::fs::create_dir_all(scene.dir.join("plugins/calculator")).unwrap();
    for entry in std::fs::read_dir(guests::CALCULATOR_DIR).unwrap() {
        let entry = entry.unwrap().path();
        std::fs::copy(
            &entry,
            scene
                .dir
                .join("plugins/calculator")
                .join(entry.file_name().unwrap()),
        )
        .unwrap();
    }
    scene.run("airlock keygen --out release");

    // The policy the README shows, with the key just made in place of its `RWQ…`.
    let public = std::fs::read_to_string(scene.path("release.pub")).unwrap();
    let key = public.lines().nth(1).unwrap();
    let key_id = public.lines().next().unwrap().rsplit(' ').next().unwrap();
    let policy = block("toml", "[trust.plugins.calculator]")
        .replace("RWQ…", key)
        .replace("E7620F1842B4E81F", key_id);
    std::fs::write(scene.path("policy.toml"), policy).unwrap();
    let scene = scene.rewrite("E7620F1842B4E81F", key_id);
    scene.run("airlock plugins --policy policy.toml install oci://");
}

/// "Running many hosts": the set-up block against a real PostgreSQL database and OCI
/// registry, then two hosts started as the text says, each answering with the token the
/// block made.
#[test]
fn the_many_hosts_commands_run_as_written() {
    let registry = DockerRegistry::start();
    let db = airlock_tests::postgres::database("readme_many_hosts");
    let scene = Scene::new("many-hosts")
        .rewrite("registry.example:5000", &registry.host())
        .rewrite("postgres://airlock:PASSWORD@db.internal:5432/airlock", &db);
    let target = format!("oci://{}/plugins/calculator:0.1.0", registry.host());
    crate::support::airlock_ok(&["push", guests::CALCULATOR_DIR, &target]);
    scene.run("export AIRLOCK_REGISTRY=postgres://");

    let token = std::fs::read_to_string(scene.path("caller.token")).unwrap();
    let body = r#"{"arguments": {"a": 2, "b": 3}}"#;
    for _host in 0..2 {
        let mut server = Stopped(
            crate::support::airlock()
                .args(["serve", "--http", "127.0.0.1:0", "--no-watch"])
                .env("AIRLOCK_REGISTRY", &db)
                .env("HOME", scene.path("home"))
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let address = listening_address(&mut server.0);
        let out = Command::new("curl")
            .args(["-sS", "-X", "POST", "-H"])
            .arg(format!("Authorization: Bearer {}", token.trim()))
            .args(["-H", "Content-Type: application/json", "-d", body])
            .arg(format!("{address}/api/v1/tools/calculator.add/call"))
            .output()
            .expect("curl runs");
        let answer = String::from_utf8_lossy(&out.stdout);
        assert!(answer.contains(r#""result":5.0"#), "{answer}");
    }
}
