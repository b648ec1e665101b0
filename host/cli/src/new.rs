//! `airlock new NAME --lang rust|python|js [--hooks]`: scaffolds a plugin folder ready for
//! `airlock build`: the source (a `greet` tool; with `--hooks` also a `before-tool-call`
//! hook that vetoes `shell`), `airlock.toml`, a `test.sh` that builds and calls it, a README
//! and a `.gitignore`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};

/// Arguments of `airlock new`.
#[derive(Args)]
pub struct NewArgs {
    /// Plugin name: lowercase letters, digits and `-` (also the folder created).
    name: String,
    /// Source language.
    #[arg(long, value_enum)]
    lang: LangArg,
    /// Also handle hooks (a `before-tool-call` hook that vetoes calls to `shell`).
    #[arg(long)]
    hooks: bool,
    /// Create the folder here instead of `./NAME`.
    #[arg(long)]
    dir: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum LangArg {
    Rust,
    Python,
    Js,
}

/// Runs `airlock new`.
pub fn run(args: NewArgs) -> Result<ExitCode> {
    check_name(&args.name)?;
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.name));
    if dir.exists() && std::fs::read_dir(&dir)?.next().is_some() {
        bail!(
            "{} already exists and is not empty; choose another name or --dir",
            dir.display()
        );
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let files = scaffold(&args);
    for (file, text) in &files {
        let path = dir.join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    println!("created {} in {}:", args.name, dir.display());
    for (file, _) in &files {
        println!("  {file}");
    }
    println!(
        "next: cd {} && airlock build && airlock call . greet '{{\"name\": \"Ada\"}}'",
        shell_word(&dir)
    );
    Ok(ExitCode::SUCCESS)
}

/// Names follow the manifest's rule, so the scaffold's manifest always parses.
fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !ok {
        bail!(
            "invalid plugin name `{name}`: use lowercase letters, digits and `-`, starting with a letter (e.g. `my-plugin`)"
        );
    }
    Ok(())
}

fn shell_word(path: &Path) -> String {
    let text = path.display().to_string();
    match text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
    {
        true => text,
        false => format!("'{}'", text.replace('\'', r"'\''")),
    }
}

/// `(relative path, contents)` of every file of the new folder.
fn scaffold(args: &NewArgs) -> Vec<(String, String)> {
    let name = &args.name;
    let component = format!("{}.wasm", name.replace('-', "_"));
    let fill = |template: &str| {
        template
            .replace("__NAME__", name)
            .replace("__CLASS__", &class_name(name))
            .replace("__COMPONENT__", &component)
    };
    let mut files = vec![
        ("airlock.toml".to_string(), fill(MANIFEST)),
        ("test.sh".to_string(), fill(TEST_SH)),
        (".gitignore".to_string(), GITIGNORE.to_string()),
    ];
    let (source_file, source, readme_lang) = match (args.lang, args.hooks) {
        (LangArg::Python, false) => ("plugin.py", PYTHON, "Python"),
        (LangArg::Python, true) => ("plugin.py", PYTHON_HOOKS, "Python"),
        (LangArg::Js, false) => ("plugin.js", JS, "JavaScript"),
        (LangArg::Js, true) => ("plugin.js", JS_HOOKS, "JavaScript"),
        (LangArg::Rust, hooks) => {
            files.push(("Cargo.toml".into(), fill(&cargo_toml())));
            let source = if hooks { RUST_HOOKS } else { RUST };
            ("src/lib.rs", source, "Rust")
        }
    };
    files.push((source_file.into(), fill(source)));
    let mut readme = fill(README).replace("__LANG__", readme_lang);
    readme = readme.replace("__SOURCE__", source_file);
    if args.hooks {
        readme.push_str(README_HOOKS);
    }
    files.push(("README.md".into(), readme));
    files
}

/// `my-plugin` → `MyPlugin`.
fn class_name(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or(String::new(), |c| {
                c.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect()
}

/// The Rust scaffold's Cargo.toml: the SDK from `$AIRLOCK_RUST_SDK`, else from the Airlock
/// checkout this binary was built from (when it is still there), else crates.io.
fn cargo_toml() -> String {
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sdk");
    let sdk = std::env::var_os("AIRLOCK_RUST_SDK")
        .map(PathBuf::from)
        .or_else(|| checkout.canonicalize().ok());
    let dependency = match sdk {
        Some(path) => format!("{{ path = {:?} }}", path.display().to_string()),
        None => "\"0.1\"".to_string(),
    };
    CARGO_TOML.replace("__SDK__", &dependency)
}

const MANIFEST: &str = r#"# The plugin's manifest: identity, the component `airlock build` writes (its sha256 is
# pinned here on every build), limits, and the capabilities it asks for.
[plugin]
name = "__NAME__"
version = "0.1.0"
description = "Says hello."
author = ""
license = "Apache-2.0"
component = "__COMPONENT__"

[limits]
deadline = "1s"

# [capabilities]
# exec = ["/usr/bin/jq"]
"#;

const TEST_SH: &str = r#"#!/usr/bin/env sh
# Builds the plugin and checks that its tool answers through the real host.
# Run: sh test.sh   (set AIRLOCK=/path/to/airlock if it is not on PATH)
set -eu
cd "$(dirname "$0")"
AIRLOCK="${AIRLOCK:-airlock}"
"$AIRLOCK" build .
answer="$("$AIRLOCK" call . greet '{"name": "Ada"}')"
if [ "$answer" != '"Hello, Ada."' ]; then
  echo "FAIL: greet answered $answer" >&2
  exit 1
fi
echo "ok: greet answered $answer"
"#;

const GITIGNORE: &str = "/.airlock-build/\n/target/\n/Cargo.lock\n/node_modules/\n";

const PYTHON: &str = r#""""__NAME__: an Airlock plugin in Python.

Build with `airlock build`, try with `airlock call . greet '{"name": "Ada"}'`.
"""

from airlock_sdk import Metadata, Plugin, PluginError, tool


class __CLASS__(Plugin):
    metadata = Metadata(name="__NAME__", version="0.1.0", description="Says hello.")

    @tool
    def greet(self, name: str, excited: bool = False) -> str:
        """Greet someone by name.

        Args:
            name: Who to greet.
            excited: End with an exclamation mark instead of a full stop.
        """
        if not name.strip():
            raise PluginError.invalid_input("name must not be blank")
        return f"Hello, {name}" + ("!" if excited else ".")
"#;

const PYTHON_HOOKS: &str = r#""""__NAME__: an Airlock plugin in Python, with a tool and a hook.

Build with `airlock build`, try with `airlock call . greet '{"name": "Ada"}'` and
`airlock hook . before-tool-call '{"tool": "shell", "arguments": {}}'`.
"""

from airlock_sdk import HookKind, Metadata, Pass, Plugin, PluginError, Veto, hook, tool


class __CLASS__(Plugin):
    metadata = Metadata(name="__NAME__", version="0.1.0", description="Says hello.")

    @tool
    def greet(self, name: str, excited: bool = False) -> str:
        """Greet someone by name.

        Args:
            name: Who to greet.
            excited: End with an exclamation mark instead of a full stop.
        """
        if not name.strip():
            raise PluginError.invalid_input("name must not be blank")
        return f"Hello, {name}" + ("!" if excited else ".")

    @hook(HookKind.BEFORE_TOOL_CALL)
    def guard(self, payload, ctx):
        """Vetoes calls to a tool named `shell`; everything else passes."""
        if payload.get("tool") == "shell":
            return Veto("the shell tool is not allowed")
        return Pass()
"#;

const JS: &str = r#"// __NAME__: an Airlock plugin in JavaScript.
// Build with `airlock build`, try with `airlock call . greet '{"name": "Ada"}'`.
import { definePlugin, PluginError } from "airlock-sdk";

export default definePlugin({
  metadata: { name: "__NAME__", version: "0.1.0", description: "Says hello." },
  tools: {
    greet: {
      description: "Greet someone by name.",
      schema: {
        type: "object",
        properties: {
          name: { type: "string", description: "Who to greet." },
          excited: { type: "boolean", description: "End with an exclamation mark instead of a full stop." },
        },
        required: ["name"],
      },
      run({ name, excited = false }) {
        if (!name.trim()) throw PluginError.invalidInput("name must not be blank");
        return `Hello, ${name}${excited ? "!" : "."}`;
      },
    },
  },
});
"#;

const JS_HOOKS: &str = r#"// __NAME__: an Airlock plugin in JavaScript, with a tool and a hook.
// Build with `airlock build`, try with `airlock call . greet '{"name": "Ada"}'` and
// `airlock hook . before-tool-call '{"tool": "shell", "arguments": {}}'`.
import { definePlugin, HookKind, PluginError, pass, veto } from "airlock-sdk";

export default definePlugin({
  metadata: { name: "__NAME__", version: "0.1.0", description: "Says hello." },
  tools: {
    greet: {
      description: "Greet someone by name.",
      schema: {
        type: "object",
        properties: {
          name: { type: "string", description: "Who to greet." },
          excited: { type: "boolean", description: "End with an exclamation mark instead of a full stop." },
        },
        required: ["name"],
      },
      run({ name, excited = false }) {
        if (!name.trim()) throw PluginError.invalidInput("name must not be blank");
        return `Hello, ${name}${excited ? "!" : "."}`;
      },
    },
  },
  hooks: {
    // Vetoes calls to a tool named `shell`; everything else passes.
    [HookKind.BEFORE_TOOL_CALL](payload) {
      return payload?.tool === "shell" ? veto("the shell tool is not allowed") : pass();
    },
  },
});
"#;

const CARGO_TOML: &str = r#"[package]
name = "__NAME__"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
airlock-sdk = __SDK__
serde = { version = "1", features = ["derive"] }
serde_json = "1"
schemars = "1.2"

[profile.release]
codegen-units = 1
lto = true
opt-level = "s"
strip = "debuginfo"

# A plugin is its own workspace, wherever its folder is.
[workspace]
"#;

const RUST: &str = r#"//! __NAME__: an Airlock plugin in Rust.
//!
//! Build with `airlock build`, try with `airlock call . greet '{"name": "Ada"}'`.

use airlock_sdk::prelude::*;

#[derive(Deserialize, JsonSchema)]
struct GreetArgs {
    /// Who to greet.
    name: String,
    /// End with an exclamation mark instead of a full stop.
    #[serde(default)]
    excited: bool,
}

struct __CLASS__;

impl Plugin for __CLASS__ {
    type Config = NoConfig;

    fn metadata() -> Metadata {
        Metadata::new("__NAME__", "0.1.0").description("Says hello.")
    }

    fn init(_config: NoConfig) -> Result<Self, PluginError> {
        Ok(__CLASS__)
    }

    fn tools(tools: &mut Tools<Self>) {
        tools.tool("greet", "Greet someone by name.", |_, args: GreetArgs, _| {
            if args.name.trim().is_empty() {
                return Err(PluginError::invalid_input("name must not be blank"));
            }
            let end = if args.excited { "!" } else { "." };
            Ok(format!("Hello, {}{end}", args.name))
        });
    }
}

airlock_sdk::export_tool_plugin!(__CLASS__);
"#;

const RUST_HOOKS: &str = r#"//! __NAME__: an Airlock plugin in Rust, with a tool and a hook.
//!
//! Build with `airlock build`, try with `airlock call . greet '{"name": "Ada"}'` and
//! `airlock hook . before-tool-call '{"tool": "shell", "arguments": {}}'`.

use airlock_sdk::prelude::*;

#[derive(Deserialize, JsonSchema)]
struct GreetArgs {
    /// Who to greet.
    name: String,
    /// End with an exclamation mark instead of a full stop.
    #[serde(default)]
    excited: bool,
}

struct __CLASS__;

impl Plugin for __CLASS__ {
    type Config = NoConfig;

    fn metadata() -> Metadata {
        Metadata::new("__NAME__", "0.1.0").description("Says hello.")
    }

    fn init(_config: NoConfig) -> Result<Self, PluginError> {
        Ok(__CLASS__)
    }

    fn tools(tools: &mut Tools<Self>) {
        tools.tool("greet", "Greet someone by name.", |_, args: GreetArgs, _| {
            if args.name.trim().is_empty() {
                return Err(PluginError::invalid_input("name must not be blank"));
            }
            let end = if args.excited { "!" } else { "." };
            Ok(format!("Hello, {}{end}", args.name))
        });
    }

    fn hooks(hooks: &mut Hooks<Self>) {
        // Vetoes calls to a tool named `shell`; everything else passes.
        hooks.on(HookKind::BeforeToolCall, |_, payload: Value, _| {
            Ok(match payload["tool"].as_str() {
                Some("shell") => HookOutcome::Veto("the shell tool is not allowed".into()),
                _ => HookOutcome::Pass,
            })
        });
    }
}

airlock_sdk::export_plugin!(__CLASS__);
"#;

const README: &str = r#"# __NAME__

An [Airlock](https://example.invalid/airlock) plugin in __LANG__. The code is in
`__SOURCE__`; `airlock.toml` is its manifest.

```sh
airlock build                                   # → __COMPONENT__, sha256 pinned in airlock.toml
airlock call . greet '{"name": "Ada"}'          # "Hello, Ada."
sh test.sh                                      # build + call, fails on a wrong answer
```

Serve it to an agent over MCP:

```sh
airlock plugins install . && airlock plugins enable __NAME__
airlock mcp                                     # tool `__NAME__.greet` on stdio
```

`airlock audit .` shows what a reviewer sees before installing it.
"#;

const README_HOOKS: &str = r#"
Its `before-tool-call` hook vetoes calls to a tool named `shell`:

```sh
airlock hook . before-tool-call '{"tool": "shell", "arguments": {}}'
```
"#;
