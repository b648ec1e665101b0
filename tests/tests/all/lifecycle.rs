//! Registry lifecycle on real components: config defaults and changes, dependencies between
//! plugins, host-version ranges, health and fail-fast, pool sizing, and hook dispatch in
//! manifest priority order with the policy's fail-closed kinds.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use airlock::pipeline::StepOutcome;
use airlock::plugin::PluginState;
use airlock::policy::Policy;
use airlock::{CallContext, CallError, HealthStatus, HookKind, LoadError, LoadOptions};
use airlock_server::registry::{Registry, RegistryError};
use airlock_tests::{TempDir, guests, plugin_folder, runtime, write_plugin_folder};
use serde_json::json;

fn registry(dir: &TempDir, policy: Policy) -> Registry {
    Registry::open(&dir.path().join("registry.db"), runtime(), policy).expect("registry opens")
}

// The tests that store registrations run on both registry backends (issue #19).
airlock_tests::on_both_backends!(
    config_defaults_from_the_schema_reach_the_plugin,
    dependencies_are_checked_on_enable_and_disable,
    a_manifest_host_range_that_excludes_this_host_is_refused,
    health_is_polled_through_the_registry,
);

/// The registry at `db` (a file or a `postgres://` URL) under `policy`.
async fn connect(db: &str, policy: Policy) -> Registry {
    Registry::connect(db, runtime(), policy)
        .await
        .expect("registry opens")
}

async fn config_defaults_from_the_schema_reach_the_plugin(db: &str) {
    let redact = plugin_folder(
        "redact",
        guests::REDACT,
        r#"[config]
schema = { type = "object", additionalProperties = false, properties = { deny_tools = { type = "array", items = { type = "string" }, default = ["rm"] } } }"#,
    );
    let registry = connect(db, Policy::default()).await;
    registry.install(redact.path()).await.unwrap();
    let plugin = registry.enable("acme", "redact", json!({})).await.unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(plugin.config()).unwrap(),
        json!({"deny_tools": ["rm"]})
    );
    // The stored registration keeps what the operator gave; the plugin got the default.
    assert_eq!(registry.config("acme", "redact").await.unwrap(), json!({}));
    let ctx = CallContext::for_tenant("acme");
    let result = registry
        .dispatch(&HookKind::BeforeToolCall, json!({"tool": "rm"}), &ctx)
        .await;
    assert_eq!(result.vetoed.map(|(who, _)| who).as_deref(), Some("redact"));

    // Every violation at once, and nothing stored.
    let err = registry
        .set_config(
            "acme",
            "redact",
            json!({"deny_tools": [1, 2], "extra": true}),
        )
        .await
        .unwrap_err();
    match err {
        RegistryError::Load(LoadError::BadConfig { problems, .. }) => {
            assert_eq!(problems.len(), 3, "{problems:?}")
        }
        other => panic!("expected BadConfig, got {other:?}"),
    }
    assert_eq!(registry.config("acme", "redact").await.unwrap(), json!({}));

    // A valid change restarts the plugin with it and is stored.
    registry
        .set_config("acme", "redact", json!({"deny_tools": ["curl"]}))
        .await
        .unwrap();
    assert_eq!(
        registry.config("acme", "redact").await.unwrap(),
        json!({"deny_tools": ["curl"]})
    );
    let rm = registry
        .dispatch(&HookKind::BeforeToolCall, json!({"tool": "rm"}), &ctx)
        .await;
    let curl = registry
        .dispatch(&HookKind::BeforeToolCall, json!({"tool": "curl"}), &ctx)
        .await;
    assert!(rm.allowed() && !curl.allowed(), "{rm:?} {curl:?}");
}

async fn dependencies_are_checked_on_enable_and_disable(db: &str) {
    let versioned = plugin_folder(
        "versioned",
        guests::VERSIONED,
        "[dependencies]\ncalculator = \"^0.1\"\n",
    );
    let wants_new = TempDir::new("wants-new");
    write_plugin_folder(
        &wants_new.path().join("versioned"),
        "versioned",
        "1.0.0",
        guests::VERSIONED,
        "[dependencies]\ncalculator = \"^2\"\n",
    );
    let registry = connect(db, Policy::default()).await;
    registry.install(versioned.path()).await.unwrap();
    registry
        .install(Path::new(guests::CALCULATOR_DIR))
        .await
        .unwrap();

    let err = registry
        .enable("acme", "versioned", json!({}))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RegistryError::MissingDependency { dependency, found: None, .. } if dependency == "calculator"),
        "{err:?}"
    );
    assert!(err.to_string().contains("needs `calculator` ^0.1"), "{err}");
    assert!(registry.plugin("acme", "versioned").is_none());

    registry
        .enable("acme", "calculator", json!({}))
        .await
        .unwrap();
    let versioned_v1 = registry
        .enable("acme", "versioned", json!({}))
        .await
        .unwrap();
    assert_eq!(versioned_v1.state(), PluginState::Ready);
    // Another tenant's calculator does not count.
    assert!(matches!(
        registry.enable("globex", "versioned", json!({})).await,
        Err(RegistryError::MissingDependency { .. })
    ));

    let err = registry.disable("acme", "calculator").await.unwrap_err();
    assert!(
        matches!(&err, RegistryError::DependedOn { dependents, .. } if dependents == &["versioned"]),
        "{err:?}"
    );
    assert!(
        registry.plugin("acme", "calculator").is_some(),
        "still serving"
    );

    // A version outside the range names the version found.
    registry.disable("acme", "versioned").await.unwrap();
    assert_eq!(
        versioned_v1.state(),
        PluginState::Stopped,
        "disable shuts it down"
    );
    assert!(registry.plugin("acme", "versioned").is_none());
    registry
        .install(&wants_new.path().join("versioned"))
        .await
        .unwrap();
    let err = registry
        .enable("acme", "versioned", json!({}))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RegistryError::MissingDependency { found: Some(v), required, .. } if v == "0.1.0" && required == "^2"),
        "{err:?}"
    );
    registry.disable("acme", "calculator").await.unwrap();
}

async fn a_manifest_host_range_that_excludes_this_host_is_refused(db: &str) {
    let folder = TempDir::new("calc-future");
    write_plugin_folder(folder.path(), "calculator", "0.1.0", guests::CALCULATOR, "");
    let manifest = std::fs::read_to_string(folder.path().join("airlock.toml")).unwrap();
    std::fs::write(
        folder.path().join("airlock.toml"),
        manifest.replacen("[plugin]\n", "[plugin]\nhost-versions = \">=99\"\n", 1),
    )
    .unwrap();
    let registry = connect(db, Policy::default()).await;
    registry.install(folder.path()).await.unwrap();
    let err = registry
        .enable("acme", "calculator", json!({}))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RegistryError::Load(LoadError::IncompatibleHost { required, .. }) if required == ">=99"),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plugin_that_keeps_trapping_is_marked_failing_and_fails_fast() {
    let rt = runtime();
    let options = LoadOptions {
        failure_threshold: 3,
        ..LoadOptions::default()
    };
    let hostile = rt.load_file(guests::HOSTILE, options).await.unwrap();
    let ctx = CallContext::default();
    let panic = json!({"text": "boom"});
    for _ in 0..2 {
        let err = hostile.call_tool("panic", &panic, &ctx).await.unwrap_err();
        assert!(matches!(err, CallError::Trap { .. }), "{err:?}");
    }
    // A success in between resets the streak.
    hostile
        .call_tool("echo", &json!({"text": "ok"}), &ctx)
        .await
        .unwrap();
    assert_eq!(hostile.state(), PluginState::Ready);
    for _ in 0..3 {
        let err = hostile.call_tool("panic", &panic, &ctx).await.unwrap_err();
        assert!(matches!(err, CallError::Trap { .. }), "{err:?}");
    }
    let PluginState::Failing { reason } = hostile.state() else {
        panic!("expected failing, got {:?}", hostile.state());
    };
    assert!(
        reason.contains("3 failures in a row") && reason.contains("boom"),
        "{reason}"
    );
    let err = hostile
        .call_tool("echo", &json!({"text": "ok"}), &ctx)
        .await
        .unwrap_err();
    assert!(matches!(&err, CallError::Failing { .. }), "{err:?}");
    assert_eq!(err.kind(), "failing");

    hostile.reset();
    assert_eq!(
        hostile
            .call_tool("echo", &json!({"text": "again"}), &ctx)
            .await
            .unwrap(),
        json!("again")
    );
    hostile.shutdown().await;
    assert_eq!(hostile.state(), PluginState::Stopped);
}

/// A health poll is upkeep, not a call: an answered one neither ends a streak of failing
/// calls nor, once the plugin is failing, takes the one trial call a cool-down allows.
#[tokio::test(flavor = "multi_thread")]
async fn health_polls_neither_end_a_failing_streak_nor_take_the_trial_call() {
    let rt = runtime();
    let cooldown = std::time::Duration::from_millis(300);
    let options = LoadOptions::default().failures(2, cooldown);
    let hostile = rt.load_file(guests::HOSTILE, options).await.unwrap();
    let ctx = CallContext::default();
    let panic = json!({"text": "boom"});
    hostile.call_tool("panic", &panic, &ctx).await.unwrap_err();
    hostile
        .health()
        .await
        .expect("a working instance answers its health poll");
    hostile.call_tool("panic", &panic, &ctx).await.unwrap_err();
    assert!(
        matches!(hostile.state(), PluginState::Failing { .. }),
        "two failing calls in a row, a health poll between them: {:?}",
        hostile.state()
    );

    tokio::time::sleep(cooldown + std::time::Duration::from_millis(50)).await;
    let err = hostile.health().await.unwrap_err();
    assert!(matches!(err, CallError::Failing { .. }), "{err:?}");
    assert!(matches!(hostile.state(), PluginState::Failing { .. }));
    // The trial is still there for a call, and its answer clears the mark.
    let echoed = hostile
        .call_tool("echo", &json!({"text": "ok"}), &ctx)
        .await;
    assert_eq!(echoed.unwrap(), json!("ok"));
    assert_eq!(hostile.state(), PluginState::Ready);
}

async fn health_is_polled_through_the_registry(db: &str) {
    let registry = connect(db, Policy::default()).await;
    registry
        .install(Path::new(guests::CALCULATOR_DIR))
        .await
        .unwrap();
    assert!(matches!(
        registry.health("acme", "calculator").await,
        Err(RegistryError::NotEnabled { .. })
    ));
    registry
        .enable("acme", "calculator", json!({}))
        .await
        .unwrap();
    let health = registry.health("acme", "calculator").await.unwrap();
    assert_eq!(health.state, PluginState::Ready);
    assert_eq!(health.version, "0.1.0");
    assert_eq!(health.report.unwrap().status, HealthStatus::Ready);
    assert_eq!(
        (health.usage.calls, health.reloads),
        (0, 0),
        "a poll is not a call"
    );

    // Usage (issue #18): calls and failures by kind, latency, fuel, memory, reloads.
    let ctx = CallContext::for_tenant("acme");
    for arguments in [json!({"a": 1, "b": 2}), json!({"a": "one"})] {
        let _ = registry.call_tool("calculator.add", &arguments, &ctx).await;
    }
    let usage = registry.health("acme", "calculator").await.unwrap().usage;
    assert_eq!(usage.calls, 2);
    assert_eq!(usage.errors, [("bad-arguments", 1)].into());
    assert!(usage.latency_ms > 0.0 && usage.latency_p99_ms >= usage.latency_p50_ms);
    assert!(
        usage.fuel_total > 0 && usage.fuel_total == usage.fuel_last,
        "{usage:?}"
    );
    assert!(usage.memory_mb > 0.0 && usage.live_instances >= usage.idle_instances);
    registry.reset("acme", "calculator").await.unwrap();
    let health = registry.health("acme", "calculator").await.unwrap();
    assert_eq!(
        (health.reloads, health.usage.calls),
        (1, 0),
        "a new version counts afresh"
    );

    // Another process (say, the CLI) opening the same database starts it to poll it.
    drop(registry);
    let again = connect(db, Policy::default()).await;
    let health = again.health("acme", "calculator").await.unwrap();
    assert_eq!(health.state, PluginState::Ready);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_registry_pool_size_bounds_concurrent_calls() {
    let state = TempDir::new("pool");
    let hostile = plugin_folder("hostile", guests::HOSTILE, "");
    let registry = Arc::new(registry(&state, Policy::default()).with_pool(1, 1));
    registry.install(hostile.path()).await.unwrap();
    registry.enable("acme", "hostile", json!({})).await.unwrap();
    let started = Instant::now();
    let calls: Vec<_> = (0..2)
        .map(|_| {
            let registry = registry.clone();
            tokio::spawn(async move {
                registry
                    .call_tool(
                        "hostile.sleep",
                        &json!({"ms": 300}),
                        &CallContext::for_tenant("acme"),
                    )
                    .await
            })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    // One instance: the second call waited for the first.
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn registry_dispatch_follows_manifest_priority_and_policy_failure_modes() {
    let state = TempDir::new("dispatch");
    let redact = plugin_folder("redact", guests::REDACT, "[hooks]\npriority = 20\n");
    let hooky = plugin_folder("hooky", guests::HOOKY, "[hooks]\npriority = -5\n");
    let policy = Policy::default().fail_closed(HookKind::BeforeToolCall);
    let registry = registry(&state, policy);
    registry.install(redact.path()).await.unwrap();
    registry.install(hooky.path()).await.unwrap();
    registry
        .enable("acme", "redact", json!({"deny_tools": ["rm"]}))
        .await
        .unwrap();
    registry
        .enable("acme", "hooky", json!({"tag": "h"}))
        .await
        .unwrap();
    let ctx = CallContext::for_tenant("acme");
    let payload = json!({"tool": "mail", "tags": [], "to": "bob@example.com"});
    let result = registry
        .dispatch(&HookKind::BeforeToolCall, payload.clone(), &ctx)
        .await;
    let order: Vec<_> = result.steps.iter().map(|s| s.plugin.as_str()).collect();
    assert_eq!(order, ["hooky", "redact"], "lower priority first");
    assert_eq!(result.payload["tags"], json!(["h"]));
    assert_ne!(result.payload["to"], json!("bob@example.com"), "redacted");

    // hooky now fails; before-tool-call is fail-closed in the policy, so the chain stops.
    registry
        .set_config("acme", "hooky", json!({"tag": "h", "behaviour": "fail"}))
        .await
        .unwrap();
    let result = registry
        .dispatch(&HookKind::BeforeToolCall, payload, &ctx)
        .await;
    assert_eq!(result.stopped_by.as_deref(), Some("hooky"));
    assert_eq!(result.steps.len(), 1);
    assert!(matches!(
        result.steps[0].outcome,
        StepOutcome::Failed { .. }
    ));
    // Another tenant has none of these plugins.
    let other = registry
        .dispatch(
            &HookKind::BeforeToolCall,
            json!({"tool": "rm"}),
            &CallContext::for_tenant("globex"),
        )
        .await;
    assert!(other.steps.is_empty() && other.allowed());
}

/// Admission is one way: a review checks the configuration a load would get (so a folder
/// whose `[config]` schema the configuration breaks is refused by the review itself, as
/// `airlock audit` reports it), and the admitted plugin starts as it was reviewed.
#[tokio::test(flavor = "multi_thread")]
async fn the_review_checks_the_configuration_and_the_admitted_plugin_starts_with_it() {
    let redact = plugin_folder(
        "redact",
        guests::REDACT,
        r#"[config]
schema = { type = "object", required = ["deny_tools"], properties = { deny_tools = { type = "array", items = { type = "string" } } } }"#,
    );
    let rt = runtime();
    let policy = Policy::default();
    let review = airlock::folder::review(&rt, redact.path(), &policy).await;
    assert!(
        matches!(review.errors.as_slice(), [LoadError::BadConfig { .. }]),
        "{:?}",
        review.errors
    );
    let config = json!({"deny_tools": ["rm"]});
    let review = airlock::folder::review_config(&rt, redact.path(), &policy, &config).await;
    assert!(review.loads(), "{:?}", review.errors);
    assert_eq!(review.config.as_ref(), Some(&config));
    let admitted = review.admit().expect("admitted");
    assert_eq!(admitted.name(), "redact");
    let (plugin, manifest) = rt
        .start(admitted, airlock::LoadOptions::default())
        .await
        .expect("an admitted plugin starts");
    assert_eq!(manifest.plugin.name, "redact");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(plugin.config()).unwrap(),
        config
    );
}

/// Limits the runtime's instance pool cannot hold are refused by the review (before, the
/// review said it loads and the load then failed).
#[tokio::test(flavor = "multi_thread")]
async fn the_review_refuses_limits_the_instance_pool_cannot_hold() {
    let calculator = plugin_folder(
        "calculator",
        guests::CALCULATOR,
        "[limits]\nmemory = \"1GiB\"",
    );
    let policy = Policy::parse(
        "[limits]\nmemory = \"1GiB\"\n",
        std::path::Path::new("policy.toml"),
        std::path::Path::new("/"),
    )
    .unwrap();
    let small = airlock_tests::runtime_for_memory(0);
    let review = airlock::folder::review(&small, calculator.path(), &policy).await;
    assert!(
        review
            .errors
            .iter()
            .any(|e| matches!(e, LoadError::PoolTooSmall { .. })),
        "{:?}",
        review.errors
    );
    // Fitted to the policy, as the CLI builds it, the pool holds it.
    let fitted = airlock::Runtime::builder()
        .fit_policy(&policy)
        .build()
        .unwrap();
    let review = airlock::folder::review(&fitted, calculator.path(), &policy).await;
    assert!(review.loads(), "{:?}", review.errors);
}

/// Usage counters are on by default and can be turned off (only to measure their cost):
/// a trap counts as a `trap` with the fuel it burnt; with `usage: false` nothing is counted.
#[tokio::test(flavor = "multi_thread")]
async fn usage_counts_a_trap_and_can_be_turned_off() {
    let rt = runtime();
    let ctx = CallContext::default();
    let panic = json!({"text": "boom"});
    let counted = rt
        .load_file(guests::HOSTILE, LoadOptions::default())
        .await
        .unwrap();
    let _ = counted.call_tool("panic", &panic, &ctx).await;
    let usage = counted.usage();
    assert_eq!(
        (usage.calls, usage.errors.clone()),
        (1, [("trap", 1)].into())
    );
    assert!(
        usage.fuel_total > 0,
        "a trapped call's fuel is counted: {usage:?}"
    );
    let options = LoadOptions {
        usage: false,
        ..LoadOptions::default()
    };
    let uncounted = rt.load_file(guests::HOSTILE, options).await.unwrap();
    let _ = uncounted.call_tool("panic", &panic, &ctx).await;
    assert_eq!(
        (uncounted.usage().calls, uncounted.usage().fuel_total),
        (0, 0)
    );
}

/// A log tap gets every record the plugin writes, by every path, escaped and tagged with
/// its level and source; records past the call's log budget reach neither the log nor it.
#[tokio::test(flavor = "multi_thread")]
async fn a_log_tap_sees_each_record_by_every_path_escaped() {
    use airlock::log_tap::{LogLevel, LogSource, LogTap};
    let records = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = records.clone();
    let tap = LogTap::new(move |record| sink.lock().unwrap().push(record.clone()));
    let options = LoadOptions::default().log_tap(tap);
    let plugin = runtime().load_file(guests::GARISH, options).await.unwrap();
    plugin
        .call_tool("shout", &json!({}), &CallContext::default())
        .await
        .unwrap();
    let records = records.lock().unwrap().clone();
    let seen: Vec<(LogLevel, LogSource)> = records.iter().map(|r| (r.level, r.source)).collect();
    // garish logs a warning, prints one line to stdout and one to stderr (each payload has
    // a CR/LF, so two lines each), and asks to run a program it has no grant for.
    assert_eq!(
        seen,
        [
            (LogLevel::Warn, LogSource::Log),
            (LogLevel::Info, LogSource::Stdout),
            (LogLevel::Info, LogSource::Stdout),
            (LogLevel::Warn, LogSource::Stderr),
            (LogLevel::Warn, LogSource::Stderr),
            (LogLevel::Warn, LogSource::Exec),
        ],
        "{records:#?}"
    );
    for record in &records {
        assert!(
            !record.text.chars().any(airlock::text::is_unsafe),
            "escaped: {record:?}"
        );
        assert!(record.time_ms > 1_700_000_000_000, "a Unix time in ms");
    }
    assert!(
        records[0].text.starts_with("\\u{1b}[2J"),
        "{:?}",
        records[0]
    );
    assert!(
        records[5].text.starts_with("exec refused: "),
        "{:?}",
        records[5]
    );

    // Past the budget (1,000 records a call), nothing more reaches the tap.
    let counted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = counted.clone();
    let tap = LogTap::new(move |_| {
        count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    });
    let flood = runtime()
        .load_file(guests::SPRAWL, LoadOptions::default().log_tap(tap))
        .await
        .unwrap();
    let arguments = json!({"count": 5000, "bytes": 0});
    flood
        .call_tool("log_flood", &arguments, &CallContext::default())
        .await
        .unwrap();
    assert_eq!(
        counted.load(std::sync::atomic::Ordering::Relaxed),
        airlock::log_budget::LOG_RECORDS
    );
}

/// `metered` reports the fuel a call burnt — the same the usage counters add — also for a
/// call that ran out of it, and `None` when no guest code ran.
#[tokio::test(flavor = "multi_thread")]
async fn metered_calls_report_their_fuel() {
    use airlock::plugin::metered;
    let rt = runtime();
    let ctx = CallContext::default();
    let calculator = rt
        .load_file(guests::CALCULATOR, LoadOptions::default())
        .await
        .unwrap();
    let args = json!({"a": 2, "b": 3});
    let (result, fuel) = metered(calculator.call_tool("add", &args, &ctx)).await;
    assert_eq!(result.unwrap(), json!({"result": 5.0}));
    let fuel = fuel.expect("guest code ran");
    assert!(fuel > 0);
    assert_eq!(calculator.usage().fuel_last, fuel, "what the counters saw");

    let (result, fuel) = metered(calculator.call_tool("add", &json!({"a": 1}), &ctx)).await;
    assert!(matches!(result, Err(CallError::BadArguments { .. })));
    assert_eq!(fuel, None, "refused before any guest code ran");

    let capped = airlock::Limits {
        fuel: Some(5_000_000),
        ..airlock::Limits::default()
    };
    let hostile = rt
        .load_file(guests::HOSTILE, LoadOptions::default().limits(capped))
        .await
        .unwrap();
    let (result, fuel) = metered(hostile.call_tool("spin", &json!({}), &ctx)).await;
    assert!(
        matches!(result, Err(CallError::FuelExhausted { .. })),
        "{result:?}"
    );
    assert_eq!(fuel, Some(5_000_000), "all of it");
}

/// A cancelled call ends at once with `Cancelled` — a guest in a busy loop at its next fuel
/// yield, one blocked in a host call right away — its instance is discarded (the one slot
/// is free for the next call) and the usage counters count it.
#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_call_ends_at_once_and_frees_its_instance() {
    use airlock::plugin::{Cancel, cancellable};
    let limits = airlock::Limits {
        fuel: None,
        ..airlock::Limits::default().with_deadline(Duration::from_secs(60))
    };
    let options = LoadOptions::default().limits(limits).pool(1, 1);
    let hostile = runtime().load_file(guests::HOSTILE, options).await.unwrap();
    let ctx = CallContext::default();
    for (tool, args) in [("spin", json!({})), ("sleep", json!({"ms": 60_000}))] {
        let cancel = Cancel::new();
        let fire = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(150)).await;
            fire.cancel();
        });
        let started = Instant::now();
        let result = cancellable(cancel, hostile.call_tool(tool, &args, &ctx)).await;
        assert!(
            matches!(&result, Err(CallError::Cancelled { plugin }) if plugin == "hostile"),
            "{tool}: {result:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{tool} ended {:?} after it started",
            started.elapsed()
        );
        let next = json!({"text": "next"});
        let echo = tokio::time::timeout(
            Duration::from_secs(5),
            hostile.call_tool("echo", &next, &ctx),
        );
        assert_eq!(
            echo.await.expect("the slot is free").unwrap(),
            json!("next")
        );
    }
    assert_eq!(hostile.usage().errors.get("cancelled"), Some(&2));
}
