//! Building a plugin folder from source ([`build`]): Rust with cargo, Python with
//! componentize-py, JavaScript/TypeScript with componentize-js. The component is written
//! beside `airlock.toml` (under the name its `component` field gives) and its sha256 pinned
//! there, so the folder is what `airlock audit` and `airlock plugins install` accept.
//!
//! The Python and JavaScript SDKs and the WIT are compiled into this library and written
//! into the folder's `.airlock-build/` directory on every build: a plugin is always built
//! against the SDK of the host that builds it, and authors install nothing but the pinned
//! toolchain. Toolchains are found as follows (each error names the exact install command):
//!
//! - Python: the virtualenv in `$AIRLOCK_PY_TOOLCHAIN`, else `~/.cache/airlock-py-toolchain`,
//!   else `componentize-py` and `python3` on `PATH`; componentize-py must be
//!   [`COMPONENTIZE_PY_VERSION`].
//! - JavaScript: `node` on `PATH`, and a folder whose `node_modules` holds
//!   componentize-js [`COMPONENTIZE_JS_VERSION`] and rolldown [`ROLLDOWN_VERSION`]:
//!   `$AIRLOCK_JS_TOOLCHAIN`, else `~/.cache/airlock-js-toolchain`.
//! - Rust: `cargo` on `PATH` with the `wasm32-wasip2` target.
//!
//! A Python plugin may bundle pure-Python packages in a `vendor/` folder beside
//! `plugin.py`. A Python plugin of a host's own contract (its manifest's `[plugin]
//! contract`, not an Airlock world) is built without the SDK: against the contract's WIT in
//! the folder's `wit/`, for a generated world exporting the contract
//! (`build_python_contract`).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::manifest::{FILE_NAME, Manifest, ManifestError};

/// The componentize-py release the Python SDK is built and tested with.
pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";
/// The componentize-js release the JavaScript SDK is built and tested with.
pub const COMPONENTIZE_JS_VERSION: &str = "0.23.0";
/// The rolldown release that bundles a JavaScript plugin with the SDK.
pub const ROLLDOWN_VERSION: &str = "1.3.3";
/// Environment variable naming the Python toolchain's virtualenv.
pub const PY_TOOLCHAIN_ENV: &str = "AIRLOCK_PY_TOOLCHAIN";
/// Environment variable naming the JavaScript toolchain's folder (holding `node_modules`).
pub const JS_TOOLCHAIN_ENV: &str = "AIRLOCK_JS_TOOLCHAIN";
/// Scratch directory inside a plugin folder (SDK copies, generated entry points, bundles).
pub const BUILD_DIR: &str = ".airlock-build";
/// Folder beside a Python plugin's `plugin.py` whose pure-Python packages are bundled in
/// (on the module path at build time, so componentize-py takes what the plugin imports).
pub const VENDOR_DIR: &str = "vendor";
/// Folder beside `airlock.toml` holding the WIT of the contract a Python plugin of a
/// host's own contract implements (`[plugin] contract`).
pub const CONTRACT_WIT_DIR: &str = "wit";
/// How often a long toolchain step reports that it is still running.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);
/// How much of a failed step's output an error keeps.
const OUTPUT_TAIL_LINES: usize = 40;

/// The WIT contract, written next to the SDKs for the toolchains.
const WIT: &str = include_str!("../../wit/plugin.wit");
/// The Python SDK package, file by file.
const PYTHON_SDK: &[(&str, &str)] = &[
    (
        "__init__.py",
        include_str!("../../sdk/python/airlock_sdk/__init__.py"),
    ),
    (
        "plugin.py",
        include_str!("../../sdk/python/airlock_sdk/plugin.py"),
    ),
    (
        "schema.py",
        include_str!("../../sdk/python/airlock_sdk/schema.py"),
    ),
    (
        "host.py",
        include_str!("../../sdk/python/airlock_sdk/host.py"),
    ),
    (
        "_export.py",
        include_str!("../../sdk/python/airlock_sdk/_export.py"),
    ),
    (
        "_build.py",
        include_str!("../../sdk/python/airlock_sdk/_build.py"),
    ),
    (
        "http.py",
        include_str!("../../sdk/python/airlock_sdk/http.py"),
    ),
];
/// The WASI 0.2.9 WIT (componentize-py 0.25.1's own version) a Python plugin that imports
/// `airlock_sdk.http` is built against, file by file (`sdk/python/wit-deps/README.md`).
const WASI_WIT: &[(&str, &str)] = &[
    ("cli.wit", include_str!("../../sdk/python/wit-deps/cli.wit")),
    (
        "clocks.wit",
        include_str!("../../sdk/python/wit-deps/clocks.wit"),
    ),
    (
        "filesystem.wit",
        include_str!("../../sdk/python/wit-deps/filesystem.wit"),
    ),
    (
        "http.wit",
        include_str!("../../sdk/python/wit-deps/http.wit"),
    ),
    ("io.wit", include_str!("../../sdk/python/wit-deps/io.wit")),
    (
        "random.wit",
        include_str!("../../sdk/python/wit-deps/random.wit"),
    ),
    (
        "sockets.wit",
        include_str!("../../sdk/python/wit-deps/sockets.wit"),
    ),
];
/// The worlds a Python plugin importing `airlock_sdk.http` is built for: each of the
/// contract's worlds plus `wasi:http/outgoing-handler`, appended to the build's copy of
/// the contract (`_build.py` names them: `tool-plugin-http` etc.).
const HTTP_WORLDS: &str = "
/// Written by `airlock build` for a Python plugin that imports `airlock_sdk.http`.
world tool-plugin-http {
    include tool-plugin;
    import wasi:http/outgoing-handler@0.2.9;
}

world hook-plugin-http {
    include hook-plugin;
    import wasi:http/outgoing-handler@0.2.9;
}

world plugin-http {
    include plugin;
    import wasi:http/outgoing-handler@0.2.9;
}
";
/// The JavaScript SDK module.
const JS_SDK: &str = include_str!("../../sdk/js/index.js");
/// Its TypeScript declarations.
const JS_SDK_TYPES: &str = include_str!("../../sdk/js/index.d.ts");
/// The JavaScript build driver (bundle, describe, componentize).
const JS_DRIVER: &str = include_str!("../../sdk/js/build.mjs");

/// A plugin's source language, recognised from the files of its folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// `Cargo.toml`.
    Rust,
    /// `plugin.py`.
    Python,
    /// `plugin.js` or `plugin.ts`.
    Js,
}

impl Lang {
    /// Recognises the language of the plugin folder `dir`.
    pub fn detect(dir: &Path) -> Result<Lang, BuildError> {
        let found: Vec<Lang> = [
            (dir.join("Cargo.toml"), Lang::Rust),
            (dir.join("plugin.py"), Lang::Python),
            (dir.join("plugin.js"), Lang::Js),
            (dir.join("plugin.ts"), Lang::Js),
        ]
        .into_iter()
        .filter(|(path, _)| path.is_file())
        .map(|(_, lang)| lang)
        .collect();
        match found.as_slice() {
            [] => Err(BuildError::UnknownLanguage {
                dir: dir.to_path_buf(),
            }),
            [lang] => Ok(*lang),
            _ => Err(BuildError::AmbiguousLanguage {
                dir: dir.to_path_buf(),
            }),
        }
    }

    /// The name used on the command line (`rust`, `python`, `js`).
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::Python => "python",
            Lang::Js => "js",
        }
    }
}

impl std::fmt::Display for Lang {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(
        "{dir} has no airlock.toml: run `airlock new NAME --lang rust|python|js` to start a plugin"
    )]
    NoManifest { dir: PathBuf },

    #[error(transparent)]
    Manifest(#[from] ManifestError),

    #[error(
        "cannot tell the plugin's language in {dir}: expected Cargo.toml (Rust), plugin.py (Python) or plugin.js / plugin.ts (JavaScript)"
    )]
    UnknownLanguage { dir: PathBuf },

    #[error(
        "{dir} holds sources of more than one language (Cargo.toml, plugin.py, plugin.js/ts): keep one"
    )]
    AmbiguousLanguage { dir: PathBuf },

    #[error("the {lang} toolchain is missing: {problem}. Install it with:\n  {install}")]
    ToolchainMissing {
        lang: Lang,
        problem: String,
        install: String,
    },

    #[error("{step} failed ({status}):\n{output}")]
    StepFailed {
        step: String,
        status: String,
        output: String,
    },

    #[error(
        "{dir} declares contract {contracts} but has no `wit/` folder with its WIT: put the contract's WIT package there (a copy or a link) so componentize-py can build against it"
    )]
    NoContractWit { dir: PathBuf, contracts: String },

    #[error("{wit} does not define contract `{contract}`; it defines: {defined}")]
    UnknownContract {
        wit: PathBuf,
        contract: String,
        defined: String,
    },

    #[error("the build finished but did not produce {path}")]
    NoOutput { path: PathBuf },

    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BuildError {
    let what = what.into();
    move |source| BuildError::Io { what, source }
}

/// What a successful build produced.
#[derive(Debug, Clone)]
pub struct Built {
    /// The plugin's name, from its manifest.
    pub name: String,
    pub lang: Lang,
    /// The component, beside the manifest.
    pub component: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Its sha256 (hex), now pinned in the manifest.
    pub sha256: String,
    /// How long the build took.
    pub took: Duration,
}

/// Where the Python and JavaScript toolchains are; `None` means "look as the module docs
/// say" (environment variable, then the default folder, then `PATH`).
#[derive(Debug, Clone, Default)]
pub struct Toolchains {
    /// A virtualenv with componentize-py.
    pub python: Option<PathBuf>,
    /// A folder whose `node_modules` holds componentize-js and rolldown.
    pub js: Option<PathBuf>,
}

/// A fingerprint of everything this library adds to a build (WIT, SDKs, driver, pinned
/// toolchain versions): with a hash of a plugin's own files it identifies a build's output.
pub fn fingerprint() -> String {
    let mut hash = crate::digest::Sha256::hasher();
    for part in [
        WIT,
        JS_SDK,
        JS_SDK_TYPES,
        JS_DRIVER,
        COMPONENTIZE_PY_VERSION,
        COMPONENTIZE_JS_VERSION,
        ROLLDOWN_VERSION,
    ] {
        hash.update(part.as_bytes());
        hash.update(&[0]);
    }
    hash.update(HTTP_WORLDS.as_bytes());
    for (file, text) in PYTHON_SDK.iter().chain(WASI_WIT) {
        hash.update(file.as_bytes());
        hash.update(text.as_bytes());
    }
    hash.digest().to_string()
}

/// Builds the plugin folder `dir` with its language's toolchain, writes the component beside
/// the manifest and pins its sha256. `progress` receives one line per step, and one every
/// few seconds while a long step runs.
pub fn build(
    dir: &Path,
    toolchains: &Toolchains,
    progress: &mut dyn FnMut(&str),
) -> Result<Built, BuildError> {
    let started = Instant::now();
    if !dir.join(FILE_NAME).is_file() {
        return Err(BuildError::NoManifest {
            dir: dir.to_path_buf(),
        });
    }
    // Toolchains run in the scratch directory: every path handed to them must be absolute.
    let dir = &dir
        .canonicalize()
        .map_err(io(format!("resolving {}", dir.display())))?;
    let manifest = Manifest::from_dir(dir)?;
    let lang = Lang::detect(dir)?;
    let component = dir.join(&manifest.plugin.component);
    progress(&format!(
        "building {} ({lang}) into {}",
        manifest.plugin.name,
        component.display()
    ));
    match lang {
        Lang::Rust => build_rust(dir, &component, progress)?,
        Lang::Python if !manifest.plugin.contract.is_empty() => build_python_contract(
            dir,
            &component,
            &manifest.plugin.contract,
            toolchains,
            progress,
        )?,
        Lang::Python => build_python(dir, &component, toolchains, progress)?,
        Lang::Js => build_js(dir, &component, toolchains, progress)?,
    }
    if !component.is_file() {
        return Err(BuildError::NoOutput { path: component });
    }
    let bytes =
        std::fs::read(&component).map_err(io(format!("reading {}", component.display())))?;
    let digest = crate::digest::Sha256::of(&bytes);
    pin(dir, &digest)?;
    let sha256 = digest.to_string();
    Ok(Built {
        name: manifest.plugin.name,
        lang,
        component,
        bytes: bytes.len() as u64,
        sha256,
        took: started.elapsed(),
    })
}

/// Pins `dir/airlock.toml` to the component's `digest` ([`crate::manifest::pin_text`]).
fn pin(dir: &Path, digest: &crate::digest::Sha256) -> Result<(), BuildError> {
    let path = dir.join(FILE_NAME);
    let text = std::fs::read_to_string(&path).map_err(io(format!("reading {}", path.display())))?;
    let pinned = crate::manifest::pin_text(&text, &path, digest)?;
    std::fs::write(&path, pinned).map_err(io(format!("writing {}", path.display())))
}

/// A fresh scratch directory `dir/.airlock-build/<sub>` holding the WIT.
fn scratch(dir: &Path, sub: &str) -> Result<PathBuf, BuildError> {
    let work = dir.join(BUILD_DIR).join(sub);
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(work.join("wit"))
        .map_err(io(format!("creating {}", work.display())))?;
    write(&work.join("wit/plugin.wit"), WIT)?;
    write(
        &dir.join(BUILD_DIR).join(".gitignore"),
        "# Written by `airlock build` on every build.\n*\n",
    )?;
    Ok(work)
}

fn write(path: &Path, contents: &str) -> Result<(), BuildError> {
    std::fs::write(path, contents).map_err(io(format!("writing {}", path.display())))
}

fn home_cache(name: &str) -> Option<PathBuf> {
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache").join(name))
}

/// Finds `program` on `PATH`.
fn on_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
}

// ---- Python ----

/// The exact command that installs the pinned Python toolchain where the build looks first.
pub fn python_install_command() -> String {
    format!(
        "python3 -m venv ~/.cache/airlock-py-toolchain && ~/.cache/airlock-py-toolchain/bin/pip install componentize-py=={COMPONENTIZE_PY_VERSION}   (or point ${PY_TOOLCHAIN_ENV} at a virtualenv that has it)"
    )
}

/// `(python, componentize-py)` of the Python toolchain, version-checked.
fn python_toolchain(toolchains: &Toolchains) -> Result<(PathBuf, PathBuf), BuildError> {
    let missing = |problem: String| BuildError::ToolchainMissing {
        lang: Lang::Python,
        problem,
        install: python_install_command(),
    };
    let venv = toolchains
        .python
        .clone()
        .or_else(|| std::env::var_os(PY_TOOLCHAIN_ENV).map(PathBuf::from))
        .or_else(|| home_cache("airlock-py-toolchain").filter(|d| d.is_dir()));
    let (python, componentize) = match venv {
        Some(venv) => (venv.join("bin/python"), venv.join("bin/componentize-py")),
        None => match (on_path("python3"), on_path("componentize-py")) {
            (Some(python), Some(componentize)) => (python, componentize),
            _ => {
                return Err(missing(
                    "no componentize-py virtualenv and no componentize-py on PATH".into(),
                ));
            }
        },
    };
    if !componentize.is_file() {
        return Err(missing(format!(
            "{} does not exist",
            componentize.display()
        )));
    }
    let version = Command::new(&componentize)
        .arg("--version")
        .output()
        .map_err(|e| missing(format!("{} does not run: {e}", componentize.display())))?;
    let version = String::from_utf8_lossy(&version.stdout);
    if !version.contains(COMPONENTIZE_PY_VERSION) {
        return Err(missing(format!(
            "{} is `{}`, not {COMPONENTIZE_PY_VERSION}",
            componentize.display(),
            version.trim()
        )));
    }
    Ok((python, componentize))
}

/// Adds the `-http` worlds to the build's copy of the contract, and the WASI WIT they use.
fn add_http_worlds(work: &Path) -> Result<(), BuildError> {
    let deps = work.join("wit/deps");
    std::fs::create_dir_all(&deps).map_err(io(format!("creating {}", deps.display())))?;
    for (file, text) in WASI_WIT {
        write(&deps.join(file), text)?;
    }
    write(&work.join("wit/plugin.wit"), &format!("{WIT}{HTTP_WORLDS}"))
}

fn build_python(
    dir: &Path,
    component: &Path,
    toolchains: &Toolchains,
    progress: &mut dyn FnMut(&str),
) -> Result<(), BuildError> {
    let (python, componentize) = python_toolchain(toolchains)?;
    let work = scratch(dir, "python")?;
    let sdk = work.join("sdk");
    std::fs::create_dir_all(sdk.join("airlock_sdk")).map_err(io("creating the SDK folder"))?;
    for (file, text) in PYTHON_SDK {
        write(&sdk.join("airlock_sdk").join(file), text)?;
    }
    write(
        &work.join("airlock_entry.py"),
        "# Generated by `airlock build`: the component's exports, from the plugin module.\n\
         import plugin  # noqa: F401  (defines and registers the Plugin subclass)\n\
         from airlock_sdk._export import Hooks, Lifecycle, Tools, prepare  # noqa: F401\n\
         \n\
         # Run at build time: the component's snapshot starts with the tool list derived.\n\
         prepare()\n",
    )?;
    let vendor = dir.join(VENDOR_DIR);
    let pythonpath =
        std::env::join_paths([sdk.as_path(), dir, vendor.as_path()]).expect("paths without ':'");

    progress("checking the plugin module with the SDK");
    let mut describe = Command::new(&python);
    describe
        .args(["-B", "-m", "airlock_sdk._build", "plugin"])
        .env("PYTHONPATH", &pythonpath)
        .current_dir(dir);
    let world = last_line(&run_step("checking plugin.py", describe, progress)?);
    if world.ends_with("-http") {
        add_http_worlds(&work)?;
    }
    progress(&format!(
        "the plugin needs world `{world}`; componentizing with componentize-py {COMPONENTIZE_PY_VERSION} (~15 s)"
    ));

    let mut cmd = Command::new(&componentize);
    cmd.arg("-d")
        .arg(work.join("wit"))
        .args(["-w", &world, "componentize", "-p"])
        .arg(dir)
        .arg("-p")
        .arg(&sdk)
        .arg("-p")
        .arg(&work)
        .args(vendored(dir))
        .arg("airlock_entry")
        .arg("-o")
        .arg(component)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .current_dir(&work);
    run_step("componentize-py", cmd, progress)?;
    Ok(())
}

/// `-p DIR/vendor` when the plugin bundles packages there.
fn vendored(dir: &Path) -> Vec<OsString> {
    let vendor = dir.join(VENDOR_DIR);
    match vendor.is_dir() {
        true => vec!["-p".into(), vendor.into_os_string()],
        false => Vec::new(),
    }
}

/// A Python plugin of a host's own contract (`[plugin] contract`, no Airlock world): no
/// SDK and no generated entry. componentize-py builds `plugin.py` itself against the
/// contract's WIT in the folder's `wit/` for a world generated in the scratch folder that
/// exports each declared interface (and includes each declared world); the module
/// implements them as componentize-py expects (`class Compiler` for interface `compiler`).
fn build_python_contract(
    dir: &Path,
    component: &Path,
    contracts: &[String],
    toolchains: &Toolchains,
    progress: &mut dyn FnMut(&str),
) -> Result<(), BuildError> {
    let (_, componentize) = python_toolchain(toolchains)?;
    let wit = dir.join(CONTRACT_WIT_DIR);
    if !wit.is_dir() {
        return Err(BuildError::NoContractWit {
            dir: dir.to_path_buf(),
            contracts: contracts.join(", "),
        });
    }
    let world = contract_world(&wit, contracts)?;
    let work = dir.join(BUILD_DIR).join("python-contract");
    let _ = std::fs::remove_dir_all(&work);
    // The contract's package becomes a dependency of the generated world's package; its
    // own dependencies sit beside it, where the WIT resolver looks for them.
    let deps = work.join("wit/deps");
    copy_tree(&wit, &deps.join("contract"), &|p| p.ends_with("deps"))?;
    if wit.join("deps").is_dir() {
        copy_tree(&wit.join("deps"), &deps, &|_| false)?;
    }
    write(&work.join("wit/world.wit"), &world)?;
    write(
        &dir.join(BUILD_DIR).join(".gitignore"),
        "# Written by `airlock build` on every build.\n*\n",
    )?;
    progress(&format!(
        "building against contract {}; componentizing with componentize-py {COMPONENTIZE_PY_VERSION} (~15 s)",
        contracts.join(", ")
    ));
    let mut cmd = Command::new(&componentize);
    cmd.arg("-d")
        .arg(work.join("wit"))
        .args(["-w", "plugin-contract", "componentize", "-p"])
        .arg(dir)
        .args(vendored(dir))
        .arg("plugin")
        .arg("-o")
        .arg(component)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .current_dir(&work);
    run_step("componentize-py", cmd, progress)?;
    Ok(())
}

/// The WIT of a world implementing `contracts`, each checked to be defined in `wit`.
fn contract_world(wit: &Path, contracts: &[String]) -> Result<String, BuildError> {
    let known = crate::contract::Contracts::from_wit(&[wit.to_path_buf()]).map_err(|e| {
        BuildError::StepFailed {
            step: format!("reading the contract's WIT in {}", wit.display()),
            status: "invalid WIT".into(),
            output: e,
        }
    })?;
    let mut world = String::from(
        "// Written by `airlock build`: the world a plugin of the contracts below implements.\n\
         package airlock:build;\n\nworld plugin-contract {\n",
    );
    for name in contracts {
        let contract = known.get(name).ok_or_else(|| BuildError::UnknownContract {
            wit: wit.to_path_buf(),
            contract: name.clone(),
            defined: known.names().collect::<Vec<_>>().join(", "),
        })?;
        let is_interface = contract.interfaces.as_slice() == std::slice::from_ref(name);
        let verb = if is_interface { "export" } else { "include" };
        world.push_str(&format!("    {verb} {name};\n"));
    }
    world.push_str("}\n");
    Ok(world)
}

/// Copies the folder `from` to `to` (following links), leaving out entries `skip` names.
fn copy_tree(from: &Path, to: &Path, skip: &dyn Fn(&Path) -> bool) -> Result<(), BuildError> {
    std::fs::create_dir_all(to).map_err(io(format!("creating {}", to.display())))?;
    let entries = std::fs::read_dir(from).map_err(io(format!("reading {}", from.display())))?;
    for entry in entries {
        let path = entry
            .map_err(io(format!("reading {}", from.display())))?
            .path();
        let target = to.join(path.file_name().expect("a directory entry has a name"));
        if skip(&path) {
            continue;
        } else if path.is_dir() {
            copy_tree(&path, &target, &|_| false)?;
        } else {
            std::fs::copy(&path, &target).map_err(io(format!("copying {}", path.display())))?;
        }
    }
    Ok(())
}

// ---- JavaScript ----

/// The exact command that installs the pinned JavaScript toolchain where the build looks.
pub fn js_install_command() -> String {
    format!(
        "npm install --prefix ~/.cache/airlock-js-toolchain --no-audit --no-fund @bytecodealliance/componentize-js@{COMPONENTIZE_JS_VERSION} @bytecodealliance/preview2-shim@0.25.0 rolldown@{ROLLDOWN_VERSION}   (or point ${JS_TOOLCHAIN_ENV} at a folder whose node_modules has them, e.g. `npm ci --prefix sdk/js` in the Airlock repository)"
    )
}

/// `(node, toolchain folder)`, version-checked.
fn js_toolchain(toolchains: &Toolchains) -> Result<(PathBuf, PathBuf), BuildError> {
    let missing = |problem: String, install: String| BuildError::ToolchainMissing {
        lang: Lang::Js,
        problem,
        install,
    };
    let node = on_path("node").ok_or_else(|| {
        missing(
            "`node` is not on PATH".into(),
            "apt-get install -y nodejs npm   (Node.js 20 or newer)".into(),
        )
    })?;
    let folder = toolchains
        .js
        .clone()
        .or_else(|| std::env::var_os(JS_TOOLCHAIN_ENV).map(PathBuf::from))
        .or_else(|| home_cache("airlock-js-toolchain"))
        .ok_or_else(|| missing("HOME is not set".into(), js_install_command()))?;
    for (package, version) in [
        ("@bytecodealliance/componentize-js", COMPONENTIZE_JS_VERSION),
        ("rolldown", ROLLDOWN_VERSION),
    ] {
        let manifest = folder
            .join("node_modules")
            .join(package)
            .join("package.json");
        let found = std::fs::read_to_string(&manifest)
            .ok()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            .and_then(|v| v["version"].as_str().map(str::to_string));
        match found {
            Some(v) if v == version => {}
            Some(v) => {
                return Err(missing(
                    format!("{package} in {} is {v}, not {version}", folder.display()),
                    js_install_command(),
                ));
            }
            None => {
                return Err(missing(
                    format!("{package} is not installed in {}", folder.display()),
                    js_install_command(),
                ));
            }
        }
    }
    Ok((node, folder))
}

fn build_js(
    dir: &Path,
    component: &Path,
    toolchains: &Toolchains,
    progress: &mut dyn FnMut(&str),
) -> Result<(), BuildError> {
    let (node, toolchain) = js_toolchain(toolchains)?;
    let work = scratch(dir, "js")?;
    write(&work.join("airlock-sdk.js"), JS_SDK)?;
    write(&work.join("airlock-sdk.d.ts"), JS_SDK_TYPES)?;
    write(&work.join("build.mjs"), JS_DRIVER)?;
    let plugin = ["plugin.ts", "plugin.js"]
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.is_file())
        .expect("Lang::detect found one");
    progress(&format!(
        "bundling and componentizing with componentize-js {COMPONENTIZE_JS_VERSION} (~20 s)"
    ));
    let mut cmd = Command::new(node);
    cmd.arg(work.join("build.mjs"))
        .arg("--toolchain")
        .arg(&toolchain)
        .arg("--sdk")
        .arg(work.join("airlock-sdk.js"))
        .arg("--wit")
        .arg(work.join("wit"))
        .arg("--plugin")
        .arg(plugin)
        .arg("--workdir")
        .arg(&work)
        .arg("--out")
        .arg(component)
        .current_dir(dir);
    let world = last_line(&run_step("the JavaScript build", cmd, progress)?);
    progress(&format!("built for world `{world}`"));
    Ok(())
}

// ---- Rust ----

fn build_rust(
    dir: &Path,
    component: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<(), BuildError> {
    let cargo = std::env::var_os("CARGO")
        .map(PathBuf::from)
        .or_else(|| on_path("cargo"))
        .ok_or_else(|| BuildError::ToolchainMissing {
            lang: Lang::Rust,
            problem: "`cargo` is not on PATH".into(),
            install: "curl https://sh.rustup.rs -sSf | sh && rustup target add wasm32-wasip2"
                .into(),
        })?;
    let manifest_path = dir.join("Cargo.toml");
    let crate_name = rust_lib_name(&manifest_path)?;
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.join("target"));
    progress("compiling with cargo for wasm32-wasip2 (release)");
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "--release",
        "--target",
        "wasm32-wasip2",
        "--manifest-path",
    ])
    .arg(&manifest_path)
    .env("CARGO_TARGET_DIR", &target_dir)
    // Flags meant for a host build must not leak into the guest build.
    .env_remove("CARGO_ENCODED_RUSTFLAGS")
    .env_remove("RUSTFLAGS")
    .env_remove("CARGO_BUILD_RUSTFLAGS")
    .env_remove("RUSTC_WORKSPACE_WRAPPER")
    .env_remove("RUSTC_WRAPPER")
    .current_dir(dir);
    match run_step("cargo build", cmd, progress) {
        Err(BuildError::StepFailed { output, .. })
            if output.contains("wasm32-wasip2")
                && output.contains("target may not be installed") =>
        {
            return Err(BuildError::ToolchainMissing {
                lang: Lang::Rust,
                problem: "the wasm32-wasip2 target is not installed".into(),
                install: "rustup target add wasm32-wasip2".into(),
            });
        }
        other => other?,
    };
    let built = target_dir
        .join("wasm32-wasip2/release")
        .join(format!("{crate_name}.wasm"));
    if !built.is_file() {
        return Err(BuildError::NoOutput { path: built });
    }
    std::fs::copy(&built, component).map_err(io(format!(
        "copying {} to {}",
        built.display(),
        component.display()
    )))?;
    Ok(())
}

/// The library name cargo gives the `.wasm`: `[lib] name`, else the package name with `_`.
fn rust_lib_name(manifest_path: &Path) -> Result<String, BuildError> {
    let text = std::fs::read_to_string(manifest_path)
        .map_err(io(format!("reading {}", manifest_path.display())))?;
    let value: toml::Table = toml::from_str(&text).map_err(|e| BuildError::StepFailed {
        step: format!("reading {}", manifest_path.display()),
        status: "invalid TOML".into(),
        output: e.to_string(),
    })?;
    let name = value
        .get("lib")
        .and_then(|lib| lib.get("name"))
        .or_else(|| value.get("package").and_then(|p| p.get("name")))
        .and_then(|n| n.as_str())
        .unwrap_or_default();
    Ok(name.replace('-', "_"))
}

// ---- running toolchain steps ----

/// Runs `cmd` to completion, reporting progress every few seconds; returns its stdout.
/// A non-zero exit is [`BuildError::StepFailed`] with the tail of its output.
fn run_step(
    step: &str,
    mut cmd: Command,
    progress: &mut dyn FnMut(&str),
) -> Result<String, BuildError> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // A Rust backtrace from a toolchain would push its error message out of the tail.
        .env("RUST_BACKTRACE", "0");
    let program: OsString = cmd.get_program().to_owned();
    let child = cmd.spawn().map_err(io(format!(
        "starting {} for {step}",
        Path::new(&program).display()
    )))?;
    let (done, wait) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    let started = Instant::now();
    let output: Output = loop {
        match wait.recv_timeout(PROGRESS_EVERY) {
            Ok(output) => break output.map_err(io(format!("waiting for {step}")))?,
            Err(mpsc::RecvTimeoutError::Timeout) => progress(&format!(
                "  … {step} still running ({} s)",
                started.elapsed().as_secs()
            )),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(BuildError::StepFailed {
                    step: step.into(),
                    status: "lost track of the process".into(),
                    output: String::new(),
                });
            }
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        let all = format!("{}{stdout}", String::from_utf8_lossy(&output.stderr));
        let lines: Vec<&str> = all.lines().collect();
        let tail = lines[lines.len().saturating_sub(OUTPUT_TAIL_LINES)..].join("\n");
        return Err(BuildError::StepFailed {
            step: step.into(),
            status: output.status.to_string(),
            output: tail,
        });
    }
    Ok(stdout)
}

fn last_line(text: &str) -> String {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_python_plugin_of_a_contract_is_built_for_a_world_exporting_it() {
        let wit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/plugins/typed/wit");
        let contracts = [
            "fixture:typed/kitchen@0.1.0".to_string(),
            "fixture:typed/reporter@0.1.0".to_string(),
        ];
        let world = contract_world(&wit, &contracts).unwrap();
        assert!(
            world.contains("    export fixture:typed/kitchen@0.1.0;\n")
                && world.contains("    include fixture:typed/reporter@0.1.0;\n"),
            "{world}"
        );
        let unknown = contract_world(&wit, &["fixture:typed/oven@0.1.0".to_string()]);
        let message = unknown.unwrap_err().to_string();
        assert!(
            message.contains("does not define contract `fixture:typed/oven@0.1.0`")
                && message.contains("fixture:typed/kitchen@0.1.0"),
            "{message}"
        );
    }

    #[test]
    fn the_language_comes_from_the_sources() {
        let dir = std::env::temp_dir().join(format!("airlock-lang-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(matches!(
            Lang::detect(&dir),
            Err(BuildError::UnknownLanguage { .. })
        ));
        std::fs::write(dir.join("plugin.py"), "").unwrap();
        assert_eq!(Lang::detect(&dir).unwrap(), Lang::Python);
        std::fs::write(dir.join("plugin.js"), "").unwrap();
        assert!(matches!(
            Lang::detect(&dir),
            Err(BuildError::AmbiguousLanguage { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
