//! Helpers shared by the tests that drive the `airlock` binary as a server: fresh state
//! folders, registries with the example plugins, tokens, and the address a server bound.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

/// The `airlock` binary under test.
pub fn airlock() -> Command {
    Command::new(env!("CARGO_BIN_EXE_airlock"))
}

/// Runs `airlock args…`, asserts it succeeded and returns its stdout.
pub fn airlock_ok(args: &[&str]) -> String {
    let out = airlock().args(args).output().expect("airlock runs");
    assert!(
        out.status.success(),
        "airlock {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An empty folder `name-<pid>` under the target's temporary directory.
pub fn fresh_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Installs and enables each plugin folder of `folders` for `tenant` in the registry `db`.
pub fn enable(db: &Path, tenant: &str, folders: &[&str]) {
    let db = db.to_str().unwrap();
    for folder in folders {
        airlock_ok(&[
            "plugins",
            "--registry",
            db,
            "--tenant",
            tenant,
            "enable",
            folder,
        ]);
    }
}

/// A new token of `role` for `tenant` in the registry `db`: its secret.
pub fn token(db: &Path, tenant: &str, role: &str) -> String {
    let db = db.to_str().unwrap();
    let args = [
        "token",
        "create",
        "--tenant",
        tenant,
        "--role",
        role,
        "--registry",
        db,
    ];
    airlock_ok(&args).trim().to_string()
}

/// Waits for `child` (an `airlock … --http 127.0.0.1:0`) to print the address it bound,
/// then keeps draining its stderr so it never blocks on a full pipe. `http://host:port`.
pub fn listening_address(child: &mut Child) -> String {
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr is piped"));
    let mut line = String::new();
    let address = loop {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "the server exited before listening"
        );
        if let Some(address) = line.trim().strip_prefix("airlock: listening on ") {
            break address.to_string();
        }
    };
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    address
}

/// A pinned plugin folder `label-<pid>` for the component at `wasm`, named `name`, whose
/// manifest adds `manifest` (TOML: more `[plugin]` keys, then any other tables).
pub fn plugin_folder(label: &str, name: &str, wasm: &str, manifest: &str) -> PathBuf {
    let dir = fresh_dir(label);
    let bytes = std::fs::read(wasm).unwrap();
    std::fs::write(dir.join(format!("{name}.wasm")), &bytes).unwrap();
    let digest = airlock::digest::Sha256::of(&bytes).to_string();
    std::fs::write(
        dir.join("airlock.toml"),
        format!(
            "[plugin]\nname = \"{name}\"\nversion = \"0.1.0\"\ncomponent = \"{name}.wasm\"\n\
             sha256 = \"{digest}\"\n{manifest}\n"
        ),
    )
    .unwrap();
    dir
}

/// `text` as the inside of a TOML basic string (`\uXXXX` for everything unusual).
pub fn toml_escape(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            ' '..='~' if c != '"' && c != '\\' => c.to_string(),
            c => format!("\\u{:04X}", c as u32),
        })
        .collect()
}
