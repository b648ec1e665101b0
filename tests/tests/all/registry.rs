//! The registry: install once, enable per tenant with its own config, persisted in SQLite
//! and restored exactly after a restart.

use airlock::policy::Policy;
use airlock::{CallContext, HookKind, HookOutcome, LoadError};
use airlock_server::registry::{Registry, RegistryError};
use airlock_tests::{TempDir, guests, runtime};
use serde_json::json;

fn open(db: &std::path::Path) -> Registry {
    Registry::open(db, runtime(), Policy::default()).expect("registry opens")
}

#[tokio::test(flavor = "multi_thread")]
async fn registrations_are_per_tenant_and_survive_a_restart() {
    let dir = TempDir::new("registry");
    let db = dir.path().join("state/registry.db");
    {
        let registry = open(&db);
        assert_eq!(
            registry
                .install(std::path::Path::new(guests::CALCULATOR_DIR))
                .unwrap(),
            "calculator"
        );
        assert_eq!(
            registry
                .install(std::path::Path::new(guests::REDACT_DIR))
                .unwrap(),
            "redact"
        );
        registry
            .enable("acme", "calculator", json!({}))
            .await
            .unwrap();
        registry
            .enable("acme", "redact", json!({"deny_tools": ["shell"]}))
            .await
            .unwrap();
        registry
            .enable("globex", "redact", json!({"deny_tools": ["email"]}))
            .await
            .unwrap();
        registry
            .enable("globex", "calculator", json!({}))
            .await
            .unwrap();
        registry.disable("globex", "calculator").await.unwrap();

        let names: Vec<String> = registry
            .catalog("acme")
            .entries()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names.len(), 4);
        assert!(
            registry.catalog("globex").entries().is_empty(),
            "globex disabled its calculator"
        );

        let err = registry
            .enable("acme", "redact", json!({"deny_tools": "shell"}))
            .await
            .unwrap_err();
        assert!(
            matches!(err, RegistryError::Load(LoadError::BadConfig { .. })),
            "{err:?}"
        );
        let err = registry
            .enable("acme", "weather", json!({}))
            .await
            .unwrap_err();
        assert!(
            matches!(err, RegistryError::NotInstalled(ref n) if n == "weather"),
            "{err:?}"
        );
    } // the process "exits"

    let registry = open(&db);
    assert!(
        registry.plugins("acme").is_empty(),
        "nothing runs before restore"
    );
    let failures = registry.restore().await.unwrap();
    assert!(failures.is_empty(), "{failures:?}");
    let stored = registry.registrations(None).unwrap();
    let summary: Vec<_> = stored
        .iter()
        .map(|r| {
            (
                r.tenant.as_str(),
                r.plugin.as_str(),
                r.enabled,
                r.config.clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("acme", "calculator", true, json!({})),
            ("acme", "redact", true, json!({"deny_tools": ["shell"]})),
            ("globex", "calculator", false, json!({})),
            ("globex", "redact", true, json!({"deny_tools": ["email"]})),
        ]
    );
    assert!(
        stored
            .iter()
            .all(|r| r.version == "0.1.0" && r.installed_at <= r.updated_at)
    );

    // Each tenant's restored plugin runs with that tenant's configuration.
    let ctx = CallContext::default();
    let shell = json!({"tool": "shell"});
    let acme: Vec<_> = registry.plugins("acme");
    let globex: Vec<_> = registry.plugins("globex");
    assert_eq!(
        acme.iter().map(|p| p.name()).collect::<Vec<_>>(),
        ["calculator", "redact"]
    );
    assert_eq!(
        globex.iter().map(|p| p.name()).collect::<Vec<_>>(),
        ["redact"]
    );
    assert!(matches!(
        acme[1]
            .handle_hook(&HookKind::BeforeToolCall, &shell, &ctx)
            .await
            .unwrap(),
        HookOutcome::Veto(_)
    ));
    assert_eq!(
        globex[0]
            .handle_hook(&HookKind::BeforeToolCall, &shell, &ctx)
            .await
            .unwrap(),
        HookOutcome::Pass
    );
    let sum = registry
        .catalog("acme")
        .call("calculator.add", &json!({"a": 2, "b": 2}), &ctx)
        .await
        .unwrap();
    assert_eq!(sum["result"], 4.0);
}
