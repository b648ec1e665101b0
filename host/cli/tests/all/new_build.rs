//! `airlock new` → `airlock build` → `airlock call` / `hook` / `audit`, in a temporary
//! folder, for each language, with the real pinned toolchains (installed by
//! `scripts/test.sh`; a missing one fails the test with its install command).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// `<target>`: the binary is `<target>/<profile>/airlock`.
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_airlock"))
        .ancestors()
        .nth(2)
        .unwrap()
        .to_path_buf()
}

fn airlock(args: &[&str], envs: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_airlock"));
    cmd.args(args);
    // The JavaScript toolchain the repository pins (`npm ci --prefix sdk/js`), unless the
    // environment names another; Rust plugins build into a target dir kept between runs.
    if std::env::var_os("AIRLOCK_JS_TOOLCHAIN").is_none() {
        cmd.env("AIRLOCK_JS_TOOLCHAIN", repo().join("sdk/js"));
    }
    cmd.env("CARGO_TARGET_DIR", target_dir().join("airlock-new-plugins"));
    for (key, value) in envs {
        cmd.env(key, value);
    }
    cmd.output().expect("airlock runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn assert_ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// A fresh scratch folder for one test.
fn scratch(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("airlock-new-{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `airlock new hello --lang LANG [--hooks]` in `root`: the plugin's folder.
fn scaffold(root: &Path, lang: &str, hooks: bool) -> PathBuf {
    let dir = root.join("hello");
    let mut args = vec![
        "new",
        "hello",
        "--lang",
        lang,
        "--dir",
        dir.to_str().unwrap(),
    ];
    if hooks {
        args.push("--hooks");
    }
    assert_ok(&airlock(&args, &[]), "airlock new");
    dir
}

/// Where a plugin's source goes, what replaces the scaffolded one, and what its hook
/// says when it vetoes a `shell` call.
struct Source {
    file: &'static str,
    code: &'static str,
    veto: &'static str,
}

/// The README's plugin code for `lang` ("Write your first plugin"), run as written in place
/// of the template (issue #20: snippets work as pasted).
fn readme_source(lang: &str) -> Option<Source> {
    let (file, fence, marker) = match lang {
        "python" => ("plugin.py", "python", "class Hello(Plugin)"),
        "js" => ("plugin.js", "js", "definePlugin({"),
        _ => ("src/lib.rs", "rust", "export_tool_plugin!(Hello)"),
    };
    Some(Source {
        file,
        code: crate::readme::block(fence, marker),
        veto: "no shell",
    })
}

/// Scaffolds `hello` in `lang` (with `source` in place of the template's code when
/// given), builds it and checks the tool (and hook) answer.
fn new_build_call(lang: &str, hooks: bool, source: Option<Source>) {
    let label = if source.is_some() { "readme" } else { "new" };
    let root = scratch(&format!("{lang}-{hooks}-{label}"));
    let dir = scaffold(&root, lang, hooks);
    for file in ["airlock.toml", "README.md", "test.sh", ".gitignore"] {
        assert!(dir.join(file).is_file(), "{lang}: {file} scaffolded");
    }
    if lang == "rust" {
        // The workspace's lockfile pins the same dependency versions the SDK is tested with.
        std::fs::copy(repo().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    }
    let veto = match &source {
        Some(source) => {
            std::fs::write(dir.join(source.file), source.code).unwrap();
            source.veto
        }
        None => "the shell tool is not allowed",
    };

    let build = airlock(&["build", dir.to_str().unwrap()], &[]);
    assert_ok(&build, "airlock build");
    let stdout = text(&build.stdout);
    assert!(
        stdout.contains(&format!("built hello ({lang})")),
        "{stdout}"
    );
    let world = if hooks {
        "world plugin"
    } else {
        "world tool-plugin"
    };
    assert!(
        stdout.contains(world) && stdout.contains("tools [greet]"),
        "{stdout}"
    );
    assert!(
        text(&build.stderr).contains("airlock build: "),
        "progress is shown"
    );
    let manifest = std::fs::read_to_string(dir.join("airlock.toml")).unwrap();
    let component = std::fs::read(dir.join("hello.wasm")).unwrap();
    let digest = format!("sha256 = \"{}\"", airlock::digest::Sha256::of(&component));
    assert!(manifest.contains(&digest), "the build pins the component");

    let call = airlock(
        &["call", dir.to_str().unwrap(), "greet", r#"{"name": "Ada"}"#],
        &[],
    );
    assert_ok(&call, "airlock call");
    assert_eq!(text(&call.stdout).trim(), r#""Hello, Ada.""#);

    let blank = airlock(
        &["call", dir.to_str().unwrap(), "greet", r#"{"name": " "}"#],
        &[],
    );
    assert_eq!(blank.status.code(), Some(1));
    assert!(
        text(&blank.stderr).contains("error 400: name must not be blank"),
        "{}",
        text(&blank.stderr)
    );

    if hooks {
        let hook = airlock(
            &[
                "hook",
                dir.to_str().unwrap(),
                "before-tool-call",
                r#"{"tool": "shell", "arguments": {}}"#,
            ],
            &[],
        );
        assert_ok(&hook, "airlock hook");
        assert!(text(&hook.stdout).contains(veto), "{}", text(&hook.stdout));
    }

    let audit = airlock(&["audit", dir.to_str().unwrap()], &[]);
    assert_ok(&audit, "airlock audit");
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn a_new_python_plugin_builds_and_answers() {
    new_build_call("python", false, None);
}

#[test]
fn a_new_javascript_plugin_with_hooks_builds_and_answers() {
    new_build_call("js", true, None);
}

#[test]
fn a_new_rust_plugin_builds_and_answers() {
    new_build_call("rust", false, None);
}

#[test]
fn a_new_python_plugin_with_hooks_builds_and_answers() {
    new_build_call("python", true, None);
}

#[test]
fn the_readme_python_plugin_builds_and_answers() {
    new_build_call("python", true, readme_source("python"));
}

#[test]
fn the_readme_javascript_plugin_builds_and_answers() {
    new_build_call("js", true, readme_source("js"));
}

/// The README's Rust plugin, in the crate whose `Cargo.toml` the README shows: every line
/// the README shows is in the scaffolded one (the SDK's path aside, which is the reader's).
#[test]
fn the_readme_rust_plugin_builds_and_answers() {
    let shown = crate::readme::block("toml", "crate-type = [\"cdylib\"]");
    let root = scratch("rust-cargo-toml");
    let dir = scaffold(&root, "rust", false);
    let scaffolded = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    for line in shown.lines() {
        let line = line.split(" # ").next().unwrap().trim();
        let key = line.split(" = ").next().unwrap();
        let present = if key == "airlock-sdk" {
            scaffolded
                .lines()
                .any(|l| l.starts_with("airlock-sdk = { path = "))
        } else {
            scaffolded.lines().any(|l| l.trim() == line)
        };
        assert!(
            present,
            "the README's Cargo.toml line `{line}` is not what `airlock new` writes:\n{scaffolded}"
        );
    }
    let _ = std::fs::remove_dir_all(&root);
    new_build_call("rust", false, readme_source("rust"));
}

#[test]
fn a_missing_toolchain_fails_the_build_with_the_install_command() {
    let root = scratch("missing");
    let dir = scaffold(&root, "python", false);
    let nowhere = root.join("no-such-venv");
    let out = airlock(
        &["build", dir.to_str().unwrap()],
        &[("AIRLOCK_PY_TOOLCHAIN", &nowhere)],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("the python toolchain is missing")
            && stderr.contains("pip install componentize-py==0.25.1"),
        "{stderr}"
    );

    let js = root.join("js");
    assert_ok(
        &airlock(
            &["new", "js", "--lang", "js", "--dir", js.to_str().unwrap()],
            &[],
        ),
        "airlock new",
    );
    let out = airlock(
        &["build", js.to_str().unwrap()],
        &[("AIRLOCK_JS_TOOLCHAIN", &nowhere)],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("componentize-js is not installed")
            && stderr.contains("npm install --prefix"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn new_refuses_a_bad_name_and_a_non_empty_folder() {
    let root = scratch("refuse");
    let out = airlock(&["new", "Bad_Name", "--lang", "python"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("invalid plugin name `Bad_Name`"),
        "{}",
        text(&out.stderr)
    );
    std::fs::write(root.join("keep.txt"), "mine").unwrap();
    let out = airlock(
        &["new", "ok", "--lang", "js", "--dir", root.to_str().unwrap()],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("not empty"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(root.join("keep.txt")).unwrap(),
        "mine"
    );
    let _ = std::fs::remove_dir_all(&root);
}
