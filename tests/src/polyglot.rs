//! The Python and JavaScript guests (examples and hostile test plugins), built from source
//! with [`airlock::build`] and the pinned toolchains, once per test run.
//!
//! Each build happens in a copy of the plugin folder under
//! `<target>/polyglot/<label>-<hash>/`, where the hash covers the folder's files and
//! everything the library adds (SDKs, WIT, toolchain versions): a rerun with unchanged
//! sources reuses the component and builds nothing. A missing toolchain fails the test with
//! the exact install command (`scripts/test.sh` installs both): nothing is skipped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use sha2::{Digest, Sha256};

/// A plugin folder built from source.
#[derive(Debug, Clone)]
pub struct Built {
    /// The folder (manifest pinned to the component).
    pub dir: PathBuf,
    /// The component inside it.
    pub component: PathBuf,
}

impl Built {
    /// The component's path as text, for the loading helpers.
    pub fn path(&self) -> &str {
        self.component.to_str().expect("UTF-8 path")
    }
}

/// A guest language with an SDK that `airlock build` drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    Python,
    Js,
}

impl Lang {
    /// Both, for tests that run the same assertions on each.
    pub const ALL: [Lang; 2] = [Lang::Python, Lang::Js];

    fn dir(self) -> &'static str {
        match self {
            Lang::Python => "python",
            Lang::Js => "js",
        }
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("repository root")
}

/// `examples/<lang>/count-vowels`, built.
pub fn count_vowels(lang: Lang) -> Built {
    built(
        repo()
            .join("examples")
            .join(lang.dir())
            .join("count-vowels"),
    )
}

/// `examples/<lang>/redact`, built.
pub fn redact(lang: Lang) -> Built {
    built(repo().join("examples").join(lang.dir()).join("redact"))
}

/// `examples/python/fetch` (outbound HTTP through `airlock_sdk.http`), built.
pub fn python_fetch() -> Built {
    built(repo().join("examples/python/fetch"))
}

/// `examples/systems/victor/yaml`: a Python plugin of Victor's own contract (not an
/// Airlock world), with PyYAML bundled from its `vendor/`, built.
pub fn victor_yaml() -> Built {
    built(repo().join("examples/systems/victor/yaml"))
}

/// `tests/plugins/hostile-py` or `hostile-js`, built.
pub fn hostile(lang: Lang) -> Built {
    let name = match lang {
        Lang::Python => "hostile-py",
        Lang::Js => "hostile-js",
    };
    built(repo().join("tests/plugins").join(name))
}

/// The toolchains the tests use: `$AIRLOCK_PY_TOOLCHAIN` or `~/.cache/airlock-py-toolchain`
/// for Python, `sdk/js` (its lockfile, `npm ci --prefix sdk/js`) for JavaScript unless
/// `$AIRLOCK_JS_TOOLCHAIN` says otherwise.
pub fn toolchains() -> airlock::build::Toolchains {
    airlock::build::Toolchains {
        python: None,
        js: std::env::var_os(airlock::build::JS_TOOLCHAIN_ENV)
            .map(PathBuf::from)
            .or_else(|| Some(repo().join("sdk/js"))),
    }
}

/// Builds `source` once per process (concurrent callers of the same folder wait for one
/// build); different folders build in parallel.
fn built(source: PathBuf) -> Built {
    static BUILDS: OnceLock<Mutex<HashMap<PathBuf, std::sync::Arc<OnceLock<Built>>>>> =
        OnceLock::new();
    let cell = BUILDS
        .get_or_init(Default::default)
        .lock()
        .unwrap()
        .entry(source.clone())
        .or_default()
        .clone();
    cell.get_or_init(|| build_cached(&source)).clone()
}

/// The folder's own files (no build outputs, nothing hidden, no `__pycache__`), relative
/// to it, sorted; subfolders (`vendor/`, a contract's `wit/`, links followed) included.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(sub) = pending.pop() {
        for entry in std::fs::read_dir(dir.join(&sub)).expect("plugin folder") {
            let name = entry.expect("entry").file_name();
            let relative = sub.join(&name);
            let path = dir.join(&relative);
            if name.to_string_lossy().starts_with('.') || name == "__pycache__" {
                continue;
            } else if path.is_dir() {
                pending.push(relative);
            } else if path.extension().is_none_or(|e| e != "wasm") {
                files.push(relative);
            }
        }
    }
    files.sort();
    files
}

fn build_cached(source: &Path) -> Built {
    let files = sources(source);
    let mut hash = Sha256::new();
    hash.update(airlock::build::fingerprint());
    for file in &files {
        hash.update(file.as_os_str().as_encoded_bytes());
        hash.update(std::fs::read(source.join(file)).unwrap());
    }
    let hash: String = hash.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let label = format!(
        "{}-{}-{hash}",
        source
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy(),
        source.file_name().unwrap().to_string_lossy()
    );
    let dir = target_dir().join("polyglot").join(label);
    let manifest = airlock::manifest::Manifest::from_dir(source).expect("example manifest");
    let component = dir.join(&manifest.plugin.component);
    let stamp = dir.join(".built");
    if !stamp.exists() {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for file in &files {
            let copy = dir.join(file);
            std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
            std::fs::copy(source.join(file), copy).unwrap();
        }
        let built = airlock::build::build(&dir, &toolchains(), &mut |line| {
            eprintln!("[{}] {line}", source.display())
        })
        .unwrap_or_else(|e| panic!("building {}: {e}", source.display()));
        eprintln!(
            "[{}] built {} bytes in {:?}",
            source.display(),
            built.bytes,
            built.took
        );
        std::fs::write(&stamp, &built.sha256).unwrap();
    }
    Built { dir, component }
}

/// `<target>`: the test binary is `<target>/<profile>/deps/<name>-<hash>`.
fn target_dir() -> PathBuf {
    std::env::current_exe()
        .expect("test binary path")
        .ancestors()
        .nth(3)
        .expect("the test binary lives in the target dir")
        .to_path_buf()
}
