//! The registry: install once, enable per tenant with its own config, persisted and
//! restored exactly after a restart, tokens, and changes made by another process. Every
//! test here runs on both backends (issue #19): a SQLite file, and a fresh database on a
//! real PostgreSQL server ([`airlock_tests::postgres`]).

use airlock::policy::Policy;
use airlock::{CallContext, HookKind, HookOutcome, LoadError};
use airlock_server::registry::{Registry, RegistryError, Role};
use airlock_tests::{guests, runtime};
use serde_json::json;

use airlock_tests::on_both_backends;

on_both_backends!(
    registrations_are_per_tenant_and_survive_a_restart,
    changes_made_by_another_process_reach_a_serving_registry,
    tokens_are_stored_hashed_and_revoked_by_id,
);

/// The registry at `location` (a file path or a `postgres://` URL), as another process
/// would open it.
async fn open(location: &str) -> Registry {
    Registry::connect(location, runtime(), Policy::default())
        .await
        .expect("registry opens")
}

async fn registrations_are_per_tenant_and_survive_a_restart(db: &str) {
    {
        let registry = open(db).await;
        assert_eq!(
            registry
                .install(std::path::Path::new(guests::CALCULATOR_DIR))
                .await
                .unwrap(),
            "calculator"
        );
        assert_eq!(
            registry
                .install(std::path::Path::new(guests::REDACT_DIR))
                .await
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

    // A command serving one tenant starts only that tenant's plugins.
    let one = open(db).await;
    assert!(one.restore_tenant("globex").await.unwrap().is_empty());
    assert_eq!(one.plugins("globex").len(), 1, "globex's redact");
    assert!(one.plugins("acme").is_empty(), "acme is not started");
    drop(one);

    let registry = open(db).await;
    assert!(
        registry.plugins("acme").is_empty(),
        "nothing runs before restore"
    );
    let failures = registry.restore().await.unwrap();
    assert!(failures.is_empty(), "{failures:?}");
    let stored = registry.registrations(None).await.unwrap();
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

/// Whether `plugin`'s before-tool-call hook vetoes a call of `tool`.
async fn vetoes(plugin: airlock::Plugin, tool: &str) -> bool {
    let payload = json!({"tool": tool});
    let ctx = CallContext::default();
    let outcome = plugin
        .handle_hook(&HookKind::BeforeToolCall, &payload, &ctx)
        .await;
    matches!(outcome.unwrap(), HookOutcome::Veto(_))
}

/// Waits (at most 5 s) until `done`; how long it took.
async fn until(what: &str, done: impl Fn() -> bool) -> std::time::Duration {
    let started = std::time::Instant::now();
    while !done() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{what}: not seen after 5 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    started.elapsed()
}

/// A serving registry follows what another process does to the same database (issue #20:
/// `airlock plugins disable` from the CLI must reach a running server): enable, a new
/// configuration, a reload and a disable made through another connection each take effect
/// within about a second, announced as events; the server's own changes are not redone.
async fn changes_made_by_another_process_reach_a_serving_registry(db: &str) {
    let server = std::sync::Arc::new(open(db).await);
    server
        .install(std::path::Path::new(guests::CALCULATOR_DIR))
        .await
        .unwrap();
    server
        .install(std::path::Path::new(guests::REDACT_DIR))
        .await
        .unwrap();
    server.restore().await.unwrap();
    let _follower = server.follow().await.unwrap();
    let mut events = server.events();
    let other = open(db).await;
    let ctx = CallContext::default();

    other.enable("acme", "calculator", json!({})).await.unwrap();
    let took = until("an enable", || {
        server.plugin("acme", "calculator").is_some()
    })
    .await;
    assert!(took < std::time::Duration::from_secs(2), "{took:?}");
    let sum = server
        .catalog("acme")
        .call("calculator.add", &json!({"a": 2, "b": 3}), &ctx)
        .await
        .unwrap();
    assert_eq!(sum["result"], 5.0);

    other
        .enable("acme", "redact", json!({"deny_tools": ["shell"]}))
        .await
        .unwrap();
    until("a second enable", || {
        server.plugin("acme", "redact").is_some()
    })
    .await;
    assert!(vetoes(server.plugin("acme", "redact").unwrap(), "shell").await);
    let before = server.plugin("acme", "redact").unwrap();
    other
        .set_config("acme", "redact", json!({"deny_tools": ["email"]}))
        .await
        .unwrap();
    until("a new configuration", || {
        !server.plugin("acme", "redact").unwrap().same_as(&before)
    })
    .await;
    let redact = server.plugin("acme", "redact").unwrap();
    assert!(vetoes(redact.clone(), "email").await && !vetoes(redact, "shell").await);

    let calculator = server.plugin("acme", "calculator").unwrap();
    other.reload("calculator").await.unwrap();
    until("a reload", || {
        !server
            .plugin("acme", "calculator")
            .unwrap()
            .same_as(&calculator)
    })
    .await;

    // The server's own change is applied once, not again when another process writes.
    server.enable("globex", "redact", json!({})).await.unwrap();
    let own = server.plugin("globex", "redact").unwrap();
    other.disable("acme", "calculator").await.unwrap();
    let took = until("a disable", || {
        server.plugin("acme", "calculator").is_none()
    })
    .await;
    assert!(took < std::time::Duration::from_secs(2), "{took:?}");
    assert!(
        server
            .catalog("acme")
            .entries()
            .iter()
            .all(|e| !e.name.starts_with("calculator."))
    );
    assert!(server.plugin("globex", "redact").unwrap().same_as(&own));

    use airlock_server::registry::RegistryEvent::*;
    // The disabled plugin leaves the map before its shutdown finishes and the event is
    // sent: wait for that last event rather than race it.
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while !seen.iter().any(|e| matches!(e, Disabled { .. })) {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Ok(event)) => seen.push(event),
            _ => break,
        }
    }
    while let Ok(event) = events.try_recv() {
        seen.push(event);
    }
    let count = |f: &dyn Fn(&airlock_server::registry::RegistryEvent) -> bool| {
        seen.iter().filter(|e| f(e)).count()
    };
    assert_eq!(
        count(&|e| matches!(e, Enabled { tenant, .. } if tenant == "acme")),
        2,
        "{seen:?}"
    );
    assert_eq!(count(&|e| matches!(e, Reloaded { .. })), 2, "{seen:?}");
    assert_eq!(
        count(&|e| matches!(e, Disabled { plugin, .. } if plugin == "calculator")),
        1
    );
}

/// Tokens are stored as hashes: a secret is accepted, its id revokes it, and the secret
/// stops working for another process on the same database at once.
async fn tokens_are_stored_hashed_and_revoked_by_id(db: &str) {
    let registry = open(db).await;
    let admin = registry
        .create_token("acme", Role::Admin, "ops")
        .await
        .unwrap();
    let caller = registry
        .create_token("globex", Role::Caller, "bot")
        .await
        .unwrap();
    let other = open(db).await;
    let holder = other.token_holder(&admin).await.unwrap().unwrap();
    assert_eq!((holder.tenant.as_str(), holder.role), ("acme", Role::Admin));
    assert_eq!(other.tokens(Some("globex")).await.unwrap().len(), 1);
    let listed = other.tokens(None).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(
        listed
            .iter()
            .all(|t| !admin.contains(&t.id) && !caller.contains(&t.id))
    );

    let id = &listed.iter().find(|t| t.label == "bot").unwrap().id;
    let revoked = registry.revoke_token(id).await.unwrap();
    assert_eq!(revoked.tenant, "globex");
    assert!(other.token_holder(&caller).await.unwrap().is_none());
    assert!(other.token_holder(&admin).await.unwrap().is_some());
    assert!(matches!(
        registry.revoke_token(id).await,
        Err(RegistryError::NoSuchToken(_))
    ));
}

/// A SQLite registry made before its schema was versioned (no `source`, no `generation`
/// columns, `user_version` 0) is migrated in place and its registrations kept; one written
/// by a newer Airlock is refused with what to do, and left untouched.
#[tokio::test(flavor = "multi_thread")]
async fn registry_schema_versions_are_migrated_or_refused() {
    let dir = airlock_tests::TempDir::new("schema-versions");
    let old = dir.path().join("old.db");
    let connection = rusqlite::Connection::open(&old).unwrap();
    connection
        .execute_batch(&format!(
            "CREATE TABLE installed (name TEXT PRIMARY KEY, version TEXT NOT NULL,
                 dir TEXT NOT NULL, installed_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
             CREATE TABLE registrations (tenant TEXT NOT NULL, plugin TEXT NOT NULL
                 REFERENCES installed(name), version TEXT NOT NULL, enabled INTEGER NOT NULL,
                 config TEXT NOT NULL, installed_at INTEGER NOT NULL,
                 updated_at INTEGER NOT NULL, PRIMARY KEY (tenant, plugin));
             INSERT INTO installed VALUES ('calculator', '0.1.0', '{}', 1, 1);
             INSERT INTO registrations VALUES ('acme', 'calculator', '0.1.0', 1, '{{}}', 1, 1);",
            guests::CALCULATOR_DIR
        ))
        .unwrap();
    drop(connection);
    let registry = open(old.to_str().unwrap()).await;
    assert!(registry.restore().await.unwrap().is_empty());
    assert!(registry.plugin("acme", "calculator").is_some());
    assert_eq!(registry.installed().await.unwrap()[0].source, None);
    let version: i64 = rusqlite::Connection::open(&old)
        .unwrap()
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    assert_eq!(version, 4);

    let newer = dir.path().join("newer.db");
    rusqlite::Connection::open(&newer)
        .unwrap()
        .execute_batch("PRAGMA user_version = 99")
        .unwrap();
    let err = Registry::connect(newer.to_str().unwrap(), runtime(), Policy::default())
        .await
        .err()
        .expect("a newer schema is refused");
    let message = err.to_string();
    assert!(
        message.contains("schema version 99") && message.contains("upgrade this host"),
        "{message}"
    );
}
