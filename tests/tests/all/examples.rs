//! The example plugins' happy paths (and their deliberate errors) through the library.

use airlock::{CallContext, CallError, HealthStatus, HookKind, HookOutcome, LoadOptions, World};
use airlock_tests::{call_error, guests, load, runtime};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn calculator_does_arithmetic() {
    let runtime = runtime();
    let calc = load(&runtime, guests::CALCULATOR).await;
    let ctx = CallContext::default();
    for (tool, expected) in [
        ("add", 8.0),
        ("subtract", 4.0),
        ("multiply", 12.0),
        ("divide", 3.0),
    ] {
        let out = calc
            .call_tool(tool, &json!({"a": 6, "b": 2}), &ctx)
            .await
            .unwrap();
        assert_eq!(out, json!({"result": expected}), "{tool}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn calculator_declares_itself() {
    let runtime = runtime();
    let calc = load(&runtime, guests::CALCULATOR).await;
    assert_eq!(calc.world(), World::ToolPlugin);
    assert_eq!(calc.name(), "calculator");
    assert_eq!(calc.metadata().version, semver::Version::new(0, 1, 0));
    assert!(calc.subscriptions().is_empty());
    let names: Vec<_> = calc.tools().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["add", "subtract", "multiply", "divide"]);
    let schema = &calc.tools()[0].input_schema;
    assert_eq!(schema["type"], "object");
    assert_eq!(schema["required"], json!(["a", "b"]));
    assert_eq!(schema["properties"]["a"]["type"], "number");
    assert!(
        calc.exports()
            .iter()
            .any(|e| e == "airlock:plugin/tools@0.2.0")
    );
    assert!(
        !calc
            .exports()
            .iter()
            .any(|e| e == "airlock:plugin/hooks@0.2.0")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn division_by_zero_is_a_plugin_error_with_its_code() {
    let runtime = runtime();
    let calc = load(&runtime, guests::CALCULATOR).await;
    let err = call_error(&calc, "divide", &json!({"a": 1, "b": 0})).await;
    match &err {
        CallError::Plugin {
            plugin,
            code,
            message,
            ..
        } => {
            assert_eq!(
                (plugin.as_str(), *code, message.as_str()),
                ("calculator", 1001, "division by zero")
            );
        }
        other => panic!("expected a plugin error, got {other:?}"),
    }
    assert!(!err.discards_instance());
}

#[tokio::test(flavor = "multi_thread")]
async fn arguments_are_validated_before_the_plugin_runs() {
    let runtime = runtime();
    let calc = load(&runtime, guests::CALCULATOR).await;
    let err = call_error(&calc, "add", &json!({"a": "two"})).await;
    let CallError::BadArguments { tool, problems, .. } = err else {
        panic!("expected bad arguments, got {err:?}")
    };
    assert_eq!(tool, "add");
    assert_eq!(problems.len(), 2, "every problem is listed: {problems:?}");
    assert!(
        problems
            .iter()
            .any(|p| p.contains("\"b\" is a required property")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("/a:") && p.contains("number")),
        "{problems:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_tool_lists_the_available_ones() {
    let runtime = runtime();
    let calc = load(&runtime, guests::CALCULATOR).await;
    let err = call_error(&calc, "sqrt", &json!({})).await;
    let CallError::UnknownTool {
        tool, available, ..
    } = err
    else {
        panic!("expected unknown tool, got {err:?}")
    };
    assert_eq!(tool, "sqrt");
    assert_eq!(available, ["add", "subtract", "multiply", "divide"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_arguments_are_refused_before_the_call() {
    let runtime = runtime();
    let limits = airlock::Limits::default().with_input_bytes(1024);
    let plugin = airlock_tests::load_with(&runtime, guests::COUNT_VOWELS, limits).await;
    let text = "a".repeat(4096);
    let err = plugin
        .call_tool(
            "count_vowels",
            &json!({"text": text}),
            &CallContext::default(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, CallError::InputTooLarge { limit: 1024, .. }),
        "{err:?}"
    );
    // Nothing was lost: the plugin still answers.
    let ok = plugin
        .call_tool(
            "count_vowels",
            &json!({"text": "aei"}),
            &CallContext::default(),
        )
        .await
        .unwrap();
    assert_eq!(ok["count"], 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn count_vowels_counts_and_keeps_a_running_total() {
    check_count_vowels(guests::COUNT_VOWELS).await;
}

/// count-vowels (in any language) counts and keeps a running total per instance.
pub(crate) async fn check_count_vowels(component: &str) {
    let runtime = runtime();
    let plugin = load(&runtime, component).await;
    let ctx = CallContext::default();
    let first = plugin
        .call_tool("count_vowels", &json!({"text": "Hello, World!"}), &ctx)
        .await
        .unwrap();
    assert_eq!(
        first,
        json!({"count": 3, "total": 3, "vowels": "aeiouAEIOU"})
    );
    let second = plugin
        .call_tool("count_vowels", &json!({"text": "AEIOU xyz"}), &ctx)
        .await
        .unwrap();
    assert_eq!(second["count"], 5);
    assert_eq!(second["total"], 8);
}

#[tokio::test(flavor = "multi_thread")]
async fn state_moves_from_one_plugin_to_another() {
    check_state_moves(guests::COUNT_VOWELS, guests::COUNT_VOWELS).await;
}

/// count-vowels' total moves from an instance of `from` to one of `to` (any languages);
/// a malformed state is a plugin error 400.
pub(crate) async fn check_state_moves(from: &str, to: &str) {
    let runtime = runtime();
    let ctx = CallContext::default();
    let old = load(&runtime, from).await;
    old.call_tool("count_vowels", &json!({"text": "aaaa"}), &ctx)
        .await
        .unwrap();
    let state = old
        .capture_state()
        .await
        .unwrap()
        .expect("count-vowels captures its total");
    let new = load(&runtime, to).await;
    new.restore_state(&state).await.unwrap();
    let out = new
        .call_tool("count_vowels", &json!({"text": "e"}), &ctx)
        .await
        .unwrap();
    assert_eq!(out["total"], 5);
    let bad = new.restore_state(b"short").await.unwrap_err();
    assert!(
        matches!(bad, CallError::Plugin { code: 400, .. }),
        "{bad:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn redact_scrubs_secrets_before_tool_calls() {
    check_redact_scrubs(guests::REDACT).await;
}

/// redact (in any language) replaces e-mail addresses and keys on `before-tool-call`.
pub(crate) async fn check_redact_scrubs(component: &str) {
    let runtime = runtime();
    let redact = load(&runtime, component).await;
    assert_eq!(redact.world(), World::HookPlugin);
    assert_eq!(redact.subscriptions(), [HookKind::BeforeToolCall]);
    assert!(redact.tools().is_empty());
    let payload = json!({
        "tool": "send_email",
        "arguments": {"to": "bob.smith+tag@mail.example.org", "notes": ["token AKIAIOSFODNN7EXAMPLE", "keep me"], "n": 3}
    });
    let outcome = redact
        .handle_hook(&HookKind::BeforeToolCall, &payload, &CallContext::default())
        .await
        .unwrap();
    assert_eq!(
        outcome,
        HookOutcome::Replace(json!({
            "tool": "send_email",
            "arguments": {"to": "[REDACTED:email]", "notes": ["token [REDACTED:key]", "keep me"], "n": 3}
        }))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn redact_passes_clean_payloads_and_unsubscribed_kinds() {
    check_redact_passes(guests::REDACT).await;
}

/// redact (in any language) passes clean payloads and kinds it did not subscribe to.
pub(crate) async fn check_redact_passes(component: &str) {
    let runtime = runtime();
    let redact = load(&runtime, component).await;
    let ctx = CallContext::default();
    let clean = json!({"tool": "search", "arguments": {"q": "weather in Paris"}});
    assert_eq!(
        redact
            .handle_hook(&HookKind::BeforeToolCall, &clean, &ctx)
            .await
            .unwrap(),
        HookOutcome::Pass
    );
    let secret = json!({"text": "mail me at eve@example.com"});
    assert_eq!(
        redact
            .handle_hook(&HookKind::AfterToolCall, &secret, &ctx)
            .await
            .unwrap(),
        HookOutcome::Pass
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn redact_vetoes_the_tools_its_config_denies() {
    check_redact_vetoes(guests::REDACT).await;
}

/// redact (in any language) vetoes the tools its init config denies.
pub(crate) async fn check_redact_vetoes(component: &str) {
    let runtime = runtime();
    let options = LoadOptions::default().config(json!({"deny_tools": ["shell", "delete_file"]}));
    let redact = runtime.load_file(component, options).await.unwrap();
    let outcome = redact
        .handle_hook(
            &HookKind::BeforeToolCall,
            &json!({"tool": "shell", "arguments": {}}),
            &CallContext::default(),
        )
        .await
        .unwrap();
    let HookOutcome::Veto(reason) = outcome else {
        panic!("expected a veto, got {outcome:?}")
    };
    assert!(reason.contains("`shell`"), "{reason}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_config_the_plugin_rejects_fails_the_load_with_its_reason() {
    check_config_rejected(guests::REDACT).await;
}

/// redact (in any language) refuses an unknown config field: the load fails with a typed
/// start error carrying the plugin's 400 and its reason.
pub(crate) async fn check_config_rejected(component: &str) {
    let runtime = runtime();
    let options = LoadOptions::default().config(json!({"deny_tool": "typo"}));
    let err = runtime
        .load_file(component, options)
        .await
        .expect_err("init must fail");
    let text = err.to_string();
    assert!(
        text.contains("redact") && text.contains("failed to start"),
        "{text}"
    );
    let airlock::LoadError::Start { source, .. } = err else {
        panic!("expected a start error")
    };
    assert!(
        matches!(*source, CallError::Plugin { code: 400, ref message, .. } if message.contains("deny_tool")),
        "{source:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn health_and_shutdown() {
    let runtime = runtime();
    let calc = load(&runtime, guests::CALCULATOR).await;
    let health = calc.health().await.unwrap();
    assert_eq!(
        (health.status, health.message.as_str()),
        (HealthStatus::Ready, "ok")
    );
    calc.shutdown().await;
    assert!(calc.is_shut_down());
    let err = call_error(&calc, "add", &json!({"a": 1, "b": 1})).await;
    assert!(matches!(err, CallError::ShutDown { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_calls_run_on_separate_instances() {
    let runtime = runtime();
    let plugin = load(&runtime, guests::COUNT_VOWELS).await;
    let calls = (0..32).map(|i| {
        let plugin = plugin.clone();
        tokio::spawn(async move {
            let text = "a".repeat(i + 1);
            plugin
                .call_tool(
                    "count_vowels",
                    &json!({"text": text}),
                    &CallContext::default(),
                )
                .await
                .unwrap()
        })
    });
    for (i, call) in calls.enumerate() {
        assert_eq!(call.await.unwrap()["count"], i + 1);
    }
}
