//! Builds every guest plugin (examples and hostile test plugins) for `wasm32-wasip2` with a
//! nested `cargo build`, the way wasmtime's test-programs artifacts are built, and writes
//! their paths into `$OUT_DIR/guests.rs`. So `cargo test` alone is enough once the target
//! is installed.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

/// (cargo package, file it builds, constant name) of every guest. Libraries (plugins) get
/// `_` in their file name, binaries keep the package name.
const GUESTS: &[(&str, &str, &str)] = &[
    ("calculator", "calculator.wasm", "CALCULATOR"),
    ("redact", "redact.wasm", "REDACT"),
    ("count-vowels", "count_vowels.wasm", "COUNT_VOWELS"),
    ("hostile", "hostile.wasm", "HOSTILE"),
    ("prober", "prober.wasm", "PROBER"),
    ("hooky", "hooky.wasm", "HOOKY"),
    ("cli-command", "cli-command.wasm", "CLI_COMMAND"),
    ("versioned", "versioned.wasm", "VERSIONED"),
    ("versioned-v2", "versioned_v2.wasm", "VERSIONED_V2"),
    ("compute", "compute.wasm", "COMPUTE"),
    ("large", "large.wasm", "LARGE"),
    ("sprawl", "sprawl.wasm", "SPRAWL"),
    ("sprawl-deep", "sprawl_deep.wasm", "SPRAWL_DEEP"),
    ("garish", "garish.wasm", "GARISH"),
    ("fetch", "fetch.wasm", "FETCH"),
    ("webhook", "webhook.wasm", "WEBHOOK"),
    ("typed", "typed.wasm", "TYPED"),
    ("reporter", "reporter.wasm", "REPORTER"),
    ("legacy", "legacy.wasm", "LEGACY"),
    (
        "appfactory-tts-espeak",
        "appfactory_tts_espeak.wasm",
        "APPFACTORY_TTS",
    ),
    (
        "appfactory-stt-pocketsphinx",
        "appfactory_stt_pocketsphinx.wasm",
        "APPFACTORY_STT",
    ),
    (
        "appfactory-llm-openai",
        "appfactory_llm_openai.wasm",
        "APPFACTORY_LLM",
    ),
    ("lleo-git-log", "lleo_git_log.wasm", "LLEO_GIT_LOG"),
    ("lleo-needs", "lleo_needs.wasm", "LLEO_NEEDS"),
    ("victor-json", "victor_json.wasm", "VICTOR_JSON"),
    ("orch-docs", "orch_docs.wasm", "ORCH_DOCS"),
    ("phasey", "phasey.wasm", "PHASEY"),
];

/// (folder under `examples/`, constant name) of every example plugin folder the tests load
/// pinned: the constant is `<NAME>_DIR`.
const FOLDERS: &[(&str, &str)] = &[
    ("calculator", "CALCULATOR"),
    ("redact", "REDACT"),
    ("count-vowels", "COUNT_VOWELS"),
    ("fetch", "FETCH"),
    ("systems/app-factory/plugins/tts-espeak", "APPFACTORY_TTS"),
    (
        "systems/app-factory/plugins/stt-pocketsphinx",
        "APPFACTORY_STT",
    ),
    ("systems/app-factory/plugins/llm-openai", "APPFACTORY_LLM"),
    ("systems/orchestrator/docs", "ORCH_DOCS"),
];

fn main() {
    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap());
    // Read at run time: a build script binary may be reused from another checkout of the
    // same sources (a shared target dir), where a compile-time path would be stale.
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap()).join("../..");
    for dir in ["wit", "sdk", "examples", "tests/plugins"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    println!(
        "cargo:rerun-if-changed={}",
        root.join("Cargo.lock").display()
    );

    // <target>/<profile>/build/<pkg>-<hash>/out → <target>/guests-<checkout>: one guest build
    // per checkout, so two checkouts sharing a target dir never overwrite each other's
    // components (cargo uplifts every build's `.wasm` to the same file name).
    let checkout: String =
        Sha256::digest(root.canonicalize().unwrap().to_string_lossy().as_bytes())
            .iter()
            .take(6)
            .map(|b| format!("{b:02x}"))
            .collect();
    let target_dir = out_dir
        .ancestors()
        .nth(4)
        .expect("OUT_DIR is inside the target dir")
        .join(format!("guests-{checkout}"));
    let mut cargo = Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo
        .current_dir(&root)
        .args(["build", "--profile", "guest", "--target", "wasm32-wasip2"])
        .env("CARGO_TARGET_DIR", &target_dir)
        // Flags meant for the host build must not leak into the guest build.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("CARGO_MAKEFLAGS")
        // Under `cargo clippy` the wrapper would lint (and re-fingerprint) the guests too;
        // CI lints them separately for their own target.
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("CLIPPY_ARGS");
    for (package, _, _) in GUESTS {
        cargo.args(["-p", package]);
    }
    let status = cargo.status().expect("running cargo for the guest plugins");
    if !status.success() {
        panic!(
            "building the guest plugins for wasm32-wasip2 failed (see above). \
             If the target is missing, run `rustup target add wasm32-wasip2`."
        );
    }

    let release = target_dir.join("wasm32-wasip2/guest");
    let mut code = String::new();
    for (package, file, constant) in GUESTS {
        let path = release.join(file);
        assert!(
            path.exists(),
            "guest {package} was built but {} is missing",
            path.display()
        );
        code.push_str(&format!(
            "/// The `{package}` component.\npub const {constant}: &str = {:?};\n",
            path.display().to_string()
        ));
    }
    for (example, name) in FOLDERS {
        let folder = assemble(
            &root.join("examples").join(example),
            &release,
            &target_dir.join("plugins"),
        );
        let constant = format!("{name}_DIR");
        code.push_str(&format!(
            "/// The `{example}` plugin folder (manifest pinned to the built component).\npub const {constant}: &str = {:?};\n",
            folder.display().to_string()
        ));
    }
    std::fs::write(out_dir.join("guests.rs"), code).unwrap();
}

/// Assembles a plugin folder: the example's manifest, pinned to the component's sha256
/// (what `airlock pin` does), beside a copy of the component.
fn assemble(example: &Path, release: &Path, plugins: &Path) -> PathBuf {
    let manifest = std::fs::read_to_string(example.join("airlock.toml")).expect("example manifest");
    let component = manifest
        .lines()
        .find_map(|l| {
            l.strip_prefix("component = \"")
                .and_then(|r| r.strip_suffix('"'))
        })
        .expect("manifest names its component");
    let bytes = std::fs::read(release.join(component)).expect("component built");
    let digest: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let folder = plugins.join(example.file_name().unwrap());
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join(component), &bytes).unwrap();
    let pinned = manifest.replacen(
        "[plugin]\n",
        &format!("[plugin]\nsha256 = \"{digest}\"\n"),
        1,
    );
    std::fs::write(folder.join("airlock.toml"), pinned).unwrap();
    folder
}
