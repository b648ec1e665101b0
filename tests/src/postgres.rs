//! A real PostgreSQL server for the registry tests (issue #19). `scripts/test.sh` starts a
//! throwaway one and exports its URL as `$AIRLOCK_TEST_POSTGRES`; each test gets a fresh,
//! empty database of its own on it ([`database`]). A test that must stop and restart the
//! server runs a private [`Cluster`]. Without a server the tests fail with the command to
//! run; they never skip.

use std::path::PathBuf;
use std::process::Command;

use crate::TempDir;

/// `scripts/postgres.sh`: `$AIRLOCK_TEST_POSTGRES_SCRIPT`, else the repository's.
fn script() -> PathBuf {
    std::env::var_os("AIRLOCK_TEST_POSTGRES_SCRIPT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/postgres.sh"))
}

/// Runs `scripts/postgres.sh args…`; its one line of output (a URL).
fn run(args: &[&str]) -> String {
    let out = Command::new("bash")
        .arg(script())
        .args(args)
        .output()
        .expect("bash runs scripts/postgres.sh");
    assert!(
        out.status.success(),
        "scripts/postgres.sh {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The shared test server's URL.
///
/// # Panics
/// When `$AIRLOCK_TEST_POSTGRES` is unset, naming the command that sets it.
pub fn server() -> String {
    std::env::var("AIRLOCK_TEST_POSTGRES").unwrap_or_else(|_| {
        panic!(
            "the PostgreSQL registry tests need a server: run them with `bash scripts/test.sh` \
             (which starts one), or start one with `bash scripts/postgres.sh start /tmp/pg` and \
             export AIRLOCK_TEST_POSTGRES=<the URL it prints>"
        )
    })
}

/// A fresh, empty database named after `label` on the shared server: its URL.
pub fn database(label: &str) -> String {
    database_on(&server(), label)
}

/// A fresh, empty database named after `label` on the server at `url`: its URL.
pub fn database_on(url: &str, label: &str) -> String {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let label: String = label
        .chars()
        .map(|c| match c.is_ascii_alphanumeric() {
            true => c.to_ascii_lowercase(),
            false => '_',
        })
        .take(40)
        .collect();
    let name = format!("t_{label}_{}_{n}", std::process::id());
    run(&["database", url, &name])
}

/// A private PostgreSQL server in a temporary folder, stopped and removed on drop.
pub struct Cluster {
    dir: TempDir,
    url: String,
}

impl Cluster {
    /// Initialises and starts a new cluster (about a second).
    pub fn start(label: &str) -> Cluster {
        let dir = TempDir::new(label);
        let url = run(&["start", &data(&dir)]);
        Cluster { dir, url }
    }

    /// The `postgres` database's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Fast shutdown: every client is disconnected.
    pub fn stop(&self) {
        run(&["stop", &data(&self.dir)]);
    }

    /// Starts it again on the same port with the same data.
    pub fn restart(&self) {
        run(&["start", &data(&self.dir)]);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .args(["stop", &data(&self.dir)])
            .output();
    }
}

fn data(dir: &TempDir) -> String {
    dir.path().join("data").display().to_string()
}

/// Each named test (an `async fn(&str)` taking the registry's location), once per backend:
/// `MODULE::sqlite::NAME` and `MODULE::postgres::NAME`, the location being a
/// database file in a fresh folder, or a fresh database on the shared PostgreSQL server.
/// One use per test module.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $name() {
                    let dir = airlock_tests::TempDir::new(stringify!($name));
                    let db = dir.path().join("state/registry.db");
                    super::$name(db.to_str().unwrap()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $name() {
                    super::$name(&airlock_tests::postgres::database(stringify!($name))).await;
                }
            )*
        }
    };
}
