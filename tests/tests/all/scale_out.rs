//! Many hosts on one PostgreSQL registry (issue #19), in process: a host that lacks a plugin
//! another host installed pulls it from its OCI registry and verifies it before serving it;
//! and a database restarted under a serving host loses no committed change. (The same
//! with `airlock serve --http` processes, load and `kill -9`: `host/cli/tests/all/scale_out.rs`.)

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use airlock::CallContext;
use airlock::policy::Policy;
use airlock::trust::sign::sign_folder;
use airlock_server::oci::{Auth, OciOptions, pull, push};
use airlock_server::registry::{Registry, RegistryError};
use airlock_tests::oci_registry::DockerRegistry;
use airlock_tests::postgres::{self, Cluster};
use airlock_tests::{TempDir, copy_folder, guests, runtime, signing_key, trusting};
use serde_json::json;

/// A host: the registry at `db` under `policy`, pulling into `store`.
async fn host(db: &str, policy: Policy, store: &Path) -> Arc<Registry> {
    let registry = Registry::connect(db, runtime(), policy).await.unwrap();
    Arc::new(registry.with_artifact_store(store.to_path_buf()))
}

/// Waits (at most 5 s) until `done`; how long it took.
async fn until(what: &str, done: impl Fn() -> bool) -> Duration {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{what}: not seen after 5 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    started.elapsed()
}

async fn add(registry: &Registry, tenant: &str) -> Result<serde_json::Value, airlock::CallError> {
    let ctx = CallContext::for_tenant(tenant);
    registry
        .call_tool("calculator.add", &json!({"a": 40, "b": 2}), &ctx)
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_host_that_lacks_a_plugin_pulls_and_verifies_it_before_serving() {
    let oci = DockerRegistry::start();
    let folder = copy_folder(guests::CALCULATOR_DIR, "scale-signed");
    let (key, public, _) = signing_key();
    sign_folder(folder.path(), &key, None).unwrap();
    let tag = oci.reference("plugins/calculator:0.1.0");
    let reference = tag.parse().unwrap();
    push(
        &runtime(),
        folder.path(),
        &reference,
        &Auth::Anonymous,
        &OciOptions::default(),
    )
    .await
    .unwrap();
    let db = postgres::database("pull_missing");
    let trusted = trusting(&[&public], true);

    // Host A pulls and installs the artifact into its own store, and enables it.
    let a_home = TempDir::new("scale-a");
    let pulled = pull(
        &reference,
        &a_home.path().join("oci"),
        &trusted.trust,
        &Auth::Anonymous,
        &OciOptions::default(),
    )
    .await
    .unwrap();
    let a = host(&db, trusted.clone(), &a_home.path().join("oci")).await;
    a.install_from(&pulled.dir, &tag, &pulled.digest)
        .await
        .unwrap();
    a.enable("acme", "calculator", json!({})).await.unwrap();

    // Host B has none of A's folders (another machine: A's folder is gone here): it pulls
    // the recorded digest, verifies it, serves it.
    std::fs::remove_dir_all(&pulled.dir).unwrap();
    let b_home = TempDir::new("scale-b");
    let b = host(&db, trusted, &b_home.path().join("oci")).await;
    let failures = b.restore().await.unwrap();
    assert!(failures.is_empty(), "{failures:?}");
    assert_eq!(add(&b, "acme").await.unwrap()["result"], 42.0);
    let digest_hex = pulled.digest.trim_start_matches("sha256:");
    assert!(
        b_home
            .path()
            .join("oci/calculator")
            .join(digest_hex)
            .is_dir(),
        "B pulled into its own store"
    );

    // Host C trusts another key: the artifact fails verification, and C serves nothing.
    let (_, stranger, _) = signing_key();
    let c_home = TempDir::new("scale-c");
    let c = host(
        &db,
        trusting(&[&stranger], true),
        &c_home.path().join("oci"),
    )
    .await;
    let failures = c.restore().await.unwrap();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(
        matches!(&failures[0].1, RegistryError::Pull { plugin, .. } if plugin == "calculator"),
        "{:?}",
        failures[0].1
    );
    assert!(c.plugin("acme", "calculator").is_none());
    assert!(add(&c, "acme").await.is_err());
}

/// The database stops and starts again under a serving host: the host keeps serving what
/// it runs meanwhile, a write during the outage fails with a clear error, and a write
/// committed right after the restart (likely before the host listens again, so its
/// notification is lost) still reaches the host: it re-reads on reconnecting.
#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_database_loses_no_committed_change() {
    let cluster = Cluster::start("pg-restart");
    let db = postgres::database_on(cluster.url(), "restart");
    let home = TempDir::new("scale-restart");
    let server = host(&db, Policy::default(), home.path()).await;
    for dir in [guests::CALCULATOR_DIR, guests::REDACT_DIR] {
        server.install(Path::new(dir)).await.unwrap();
    }
    server.restore().await.unwrap();
    let _follower = server.follow().await.unwrap();
    let other = host(&db, Policy::default(), home.path()).await;
    other.enable("acme", "calculator", json!({})).await.unwrap();
    until("the first enable", || {
        server.plugin("acme", "calculator").is_some()
    })
    .await;

    cluster.stop();
    let err = other.enable("acme", "redact", json!({})).await.unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(err, RegistryError::Db(_)) && message.contains("PostgreSQL registry"),
        "{message}"
    );
    assert!(
        other.plugin("acme", "redact").is_none(),
        "nothing half-done"
    );
    assert_eq!(add(&server, "acme").await.unwrap()["result"], 42.0);

    cluster.restart();
    other
        .enable("acme", "redact", json!({"deny_tools": ["shell"]}))
        .await
        .expect("a write right after the restart");
    let took = until("the write after the restart", || {
        server.plugin("acme", "redact").is_some()
    })
    .await;
    println!("a write right after the database restarted took effect after {took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert_eq!(add(&server, "acme").await.unwrap()["result"], 42.0);
    let seen: Vec<_> = server.registrations(None).await.unwrap();
    assert_eq!(seen, other.registrations(None).await.unwrap());
    assert_eq!(seen.iter().filter(|r| r.enabled).count(), 2);
}
