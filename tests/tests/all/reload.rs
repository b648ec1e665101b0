//! Hot reload on two real versions of one plugin (`versioned` 1.0.0 and 2.0.0): under a
//! load of concurrent calls no call fails, every answer comes from exactly one version, and
//! the state captured from the old version is what the new one answers with. A new version
//! that fails to verify or to start leaves the old one serving. The folder watcher does
//! the same on its own. Hook chains dispatched across reloads never see the swapped plugin
//! fail.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use airlock::policy::Policy;
use airlock::{CallContext, CallError};
use airlock_server::registry::{Registry, RegistryEvent};
use airlock_tests::{TempDir, guests, runtime, write_plugin_folder};
use serde_json::{Value, json};

const V1: &str = "1.0.0";
const V2: &str = "2.0.0";

struct Setup {
    _state: TempDir,
    plugins: TempDir,
    registry: Arc<Registry>,
}

impl Setup {
    fn folder(&self) -> std::path::PathBuf {
        self.plugins.path().join("versioned")
    }

    fn deploy(&self, version: &str, component: &str) {
        write_plugin_folder(&self.folder(), "versioned", version, component, "");
    }
}

/// A registry with `versioned` 1.0.0 installed and enabled for `acme` (and `globex`).
async fn setup(max_instances: usize) -> Setup {
    let state = TempDir::new("reload-state");
    let plugins = TempDir::new("reload-plugins");
    let registry = Registry::open(
        &state.path().join("registry.db"),
        runtime(),
        Policy::default(),
    )
    .unwrap()
    .with_pool(max_instances, max_instances);
    let setup = Setup {
        _state: state,
        plugins,
        registry: Arc::new(registry),
    };
    setup.deploy(V1, guests::VERSIONED);
    setup.registry.install(&setup.folder()).await.unwrap();
    for tenant in ["acme", "globex"] {
        setup
            .registry
            .enable(tenant, "versioned", json!({}))
            .await
            .unwrap();
    }
    setup
}

async fn whoami(registry: &Registry, tenant: &str) -> Result<Value, CallError> {
    registry
        .call_tool(
            "versioned.whoami",
            &json!({"spin": 20000}),
            &CallContext::for_tenant(tenant),
        )
        .await
}

fn version(answer: &Value) -> &str {
    answer["version"].as_str().expect("a version")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reload_under_load_fails_no_call_and_carries_the_state_over() {
    // One instance per tenant: the note remembered below is the state every call sees.
    let setup = setup(1).await;
    let registry = setup.registry.clone();
    let ctx = CallContext::for_tenant("acme");
    registry
        .call_tool("versioned.remember", &json!({"note": "kept"}), &ctx)
        .await
        .unwrap();

    // Workers call until told to stop: a fifth of the calls before the reload, the rest
    // during and after it, at least 1,250 in all.
    const WORKERS: usize = 50;
    const BEFORE: usize = 250;
    const AFTER: usize = 1000;
    let done = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (registry, done, stop) = (registry.clone(), done.clone(), stop.clone());
            tokio::spawn(async move {
                let mut answers = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    answers.push(whoami(&registry, "acme").await);
                    done.fetch_add(1, Ordering::Relaxed);
                }
                answers
            })
        })
        .collect();

    while done.load(Ordering::Relaxed) < BEFORE {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    setup.deploy(V2, guests::VERSIONED_V2);
    let outcomes = registry.reload("versioned").await.unwrap();
    assert_eq!(outcomes.len(), 2, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .all(|o| o.succeeded() && o.from.as_deref() == Some(V1) && o.to.as_deref() == Some(V2)),
        "{outcomes:?}"
    );
    let answered_when_switched = done.load(Ordering::Relaxed);
    while done.load(Ordering::Relaxed) < answered_when_switched + AFTER {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    stop.store(true, Ordering::Relaxed);

    let mut answers = Vec::new();
    for worker in workers {
        answers.extend(worker.await.unwrap());
    }
    assert!(answers.len() >= BEFORE + AFTER, "{}", answers.len());
    let failures: Vec<_> = answers.iter().filter_map(|a| a.as_ref().err()).collect();
    assert!(failures.is_empty(), "failed calls: {failures:?}");
    let answers: Vec<Value> = answers.into_iter().map(Result::unwrap).collect();
    let (old, new): (Vec<&Value>, Vec<&Value>) = answers.iter().partition(|a| version(a) == V1);
    assert!(
        new.iter().all(|a| version(a) == V2),
        "every answer from exactly one of the two versions"
    );
    assert!(
        old.len() >= BEFORE && new.len() >= AFTER - WORKERS,
        "old {} new {} (switched after {answered_when_switched})",
        old.len(),
        new.len()
    );
    assert!(
        new.iter().all(|a| a["note"] == json!("kept")),
        "the new version answers with the restored state"
    );
    assert!(old.iter().all(|a| a["note"] == json!("kept")));

    // From now on only the new version answers, for both tenants.
    assert_eq!(version(&whoami(&registry, "acme").await.unwrap()), V2);
    let globex = whoami(&registry, "globex").await.unwrap();
    assert_eq!(version(&globex), V2);
    assert_eq!(globex["note"], Value::Null, "tenants never share state");
    let stored = registry.registrations(Some("acme")).await.unwrap();
    assert_eq!(stored[0].version, V2);
    assert_eq!(registry.installed().await.unwrap()[0].version, V2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_version_that_fails_to_verify_or_start_leaves_the_old_one_serving() {
    let setup = setup(4).await;
    let registry = setup.registry.clone();
    let mut events = registry.events();

    // acme's configuration makes 2.0.0's init refuse to start (1.0.0 restarts fine).
    registry
        .set_config("acme", "versioned", json!({"refuse_version": V2}))
        .await
        .unwrap();

    // Component replaced, manifest still pinned to the old bytes: refused before compiling.
    std::fs::copy(guests::VERSIONED_V2, setup.folder().join("plugin.wasm")).unwrap();
    let outcomes = registry.reload("versioned").await.unwrap();
    assert!(
        outcomes.iter().all(|o| !o.succeeded()
            && o.to.as_deref() == Some(V1)
            && o.error.as_deref().unwrap().contains("sha256")),
        "{outcomes:?}"
    );
    assert_eq!(version(&whoami(&registry, "acme").await.unwrap()), V1);
    match events.recv().await.unwrap() {
        RegistryEvent::ReloadFailed { plugin, reason, .. } => {
            assert_eq!(plugin, "versioned");
            assert!(reason.contains("sha256"), "{reason}");
        }
        other => panic!("expected a reload failure, got {other:?}"),
    }

    // A properly pinned 2.0.0: globex switches, acme's init refuses and acme keeps 1.0.0.
    setup.deploy(V2, guests::VERSIONED_V2);
    let outcomes = registry.reload("versioned").await.unwrap();
    let acme = outcomes.iter().find(|o| o.tenant == "acme").unwrap();
    let globex = outcomes.iter().find(|o| o.tenant == "globex").unwrap();
    assert!(
        acme.error.as_deref().unwrap().contains("refuses to start"),
        "{acme:?}"
    );
    assert!(globex.succeeded(), "{globex:?}");
    assert_eq!(version(&whoami(&registry, "acme").await.unwrap()), V1);
    assert_eq!(version(&whoami(&registry, "globex").await.unwrap()), V2);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_watcher_reloads_a_changed_folder() {
    let setup = setup(2).await;
    let registry = setup.registry.clone();
    let mut events = registry.events();
    let _watcher = registry.watch().await.unwrap();

    setup.deploy(V2, guests::VERSIONED_V2);
    let reloaded = tokio::time::timeout(Duration::from_secs(30), async {
        let mut tenants = Vec::new();
        while tenants.len() < 2 {
            match events.recv().await.unwrap() {
                RegistryEvent::Reloaded { tenant, to, .. } if to == V2 => tenants.push(tenant),
                RegistryEvent::Reloaded { .. } | RegistryEvent::ReloadFailed { .. } => {}
                other => panic!("unexpected event {other:?}"),
            }
        }
        tenants
    })
    .await
    .expect("the watcher reloads within 30 s");
    assert_eq!(reloaded.len(), 2);
    assert_eq!(version(&whoami(&registry, "acme").await.unwrap()), V2);
    assert!(Path::new(&setup.folder()).exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hook_chains_running_across_reloads_never_see_the_swapped_plugin_fail() {
    let state = TempDir::new("reload-hooks-state");
    let plugins = TempDir::new("reload-hooks-plugins");
    let folder = plugins.path().join("hooky");
    write_plugin_folder(&folder, "hooky", "0.1.0", guests::HOOKY, "");
    let registry = Arc::new(
        Registry::open(
            &state.path().join("registry.db"),
            runtime(),
            Policy::default(),
        )
        .unwrap()
        .with_pool(2, 2),
    );
    registry.install(&folder).await.unwrap();
    registry
        .enable("acme", "hooky", json!({"tag": "h"}))
        .await
        .unwrap();

    const WORKERS: usize = 16;
    let done = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (registry, done, stop) = (registry.clone(), done.clone(), stop.clone());
            tokio::spawn(async move {
                let ctx = CallContext::for_tenant("acme");
                let mut dispatches = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let payload = json!({"tool": "mail", "tags": []});
                    let hook = airlock::HookKind::BeforeToolCall;
                    dispatches.push(registry.dispatch(&hook, payload, &ctx).await);
                    done.fetch_add(1, Ordering::Relaxed);
                }
                dispatches
            })
        })
        .collect();
    for round in 1..=5 {
        while done.load(Ordering::Relaxed) < round * 200 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let outcomes = registry.reload("hooky").await.unwrap();
        assert!(outcomes.iter().all(|o| o.succeeded()), "{outcomes:?}");
    }
    let after = done.load(Ordering::Relaxed);
    while done.load(Ordering::Relaxed) < after + 200 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut dispatches = Vec::new();
    for worker in workers {
        dispatches.extend(worker.await.unwrap());
    }
    assert!(dispatches.len() >= 1200, "{}", dispatches.len());
    let broken: Vec<_> = dispatches
        .iter()
        .filter(|d| !d.allowed() || d.payload["tags"] != json!(["h"]) || d.steps.len() != 1)
        .collect();
    assert!(
        broken.is_empty(),
        "{} dispatches went wrong, e.g. {:?}",
        broken.len(),
        broken.first()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_watcher_follows_plugins_installed_after_it_started() {
    let state = TempDir::new("watch-later-state");
    let plugins = TempDir::new("watch-later-plugins");
    let registry = Arc::new(
        Registry::open(
            &state.path().join("registry.db"),
            runtime(),
            Policy::default(),
        )
        .unwrap(),
    );
    let _watcher = registry.watch().await.unwrap();
    let mut events = registry.events();

    let folder = plugins.path().join("versioned");
    write_plugin_folder(&folder, "versioned", V1, guests::VERSIONED, "");
    registry.install(&folder).await.unwrap();
    registry
        .enable("acme", "versioned", json!({}))
        .await
        .unwrap();
    // Let the watcher take the install in before the folder changes.
    tokio::time::sleep(Duration::from_millis(300)).await;

    write_plugin_folder(&folder, "versioned", V2, guests::VERSIONED_V2, "");
    let to = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let RegistryEvent::Reloaded { tenant, to, .. } = events.recv().await.unwrap() {
                break (tenant, to);
            }
        }
    })
    .await
    .expect("the watcher reloads a plugin installed after it started");
    assert_eq!(to, ("acme".to_string(), V2.to_string()));
    assert_eq!(version(&whoami(&registry, "acme").await.unwrap()), V2);
}
