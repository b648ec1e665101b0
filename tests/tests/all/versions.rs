//! Contract versions side by side: a plugin built against `airlock:plugin@0.1.0` (the
//! `legacy` fixture, raw bindings of `wit/v0.1.0/`) keeps loading and working, every export
//! and import of it, next to plugins of the latest version the SDK builds (issue #15).

use airlock::{CallContext, HookKind, HookOutcome, World};
use airlock_tests::{guests, load, runtime};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn a_0_1_0_plugin_and_a_0_2_0_plugin_work_side_by_side() {
    let rt = runtime();
    let legacy = load(&rt, guests::LEGACY).await;
    let calculator = load(&rt, guests::CALCULATOR).await;

    // What each was built against, as the host sees it.
    let of = |exports: &[String], version: &str| {
        exports
            .iter()
            .any(|e| e == &format!("airlock:plugin/tools@{version}"))
    };
    assert!(of(legacy.exports(), "0.1.0"), "{:?}", legacy.exports());
    assert!(
        of(calculator.exports(), "0.2.0"),
        "{:?}",
        calculator.exports()
    );
    assert!(
        legacy.imports().iter().all(|i| !i.contains("@0.2.0")),
        "{:?}",
        legacy.imports()
    );
    assert_eq!(legacy.world(), World::Plugin);

    // lifecycle: metadata and health, through 0.1.0's exports.
    assert_eq!(legacy.metadata().name, "legacy");
    assert_eq!(legacy.health().await.unwrap().message, "ok");
    assert_eq!(legacy.tools()[0].name, "shout");

    // tools, with 0.1.0's `host.log` and `context` imports answered by the latest host.
    let ctx = CallContext::for_tenant("acme").with_session("s1");
    let first = legacy
        .call_tool("shout", &json!({"text": "hi"}), &ctx)
        .await
        .unwrap();
    assert_eq!(first["shout"], "HI");
    assert_eq!(first["previous"], json!(null));
    let second = legacy
        .call_tool("shout", &json!({"text": "again"}), &ctx)
        .await
        .unwrap();
    assert_eq!(second["previous"], "HI", "the session context is shared");
    let sum = calculator
        .call_tool("add", &json!({"a": 2, "b": 3}), &ctx)
        .await
        .unwrap();
    assert_eq!(sum["result"], json!(5.0));

    // hooks: 0.1.0's hook kinds and outcomes, mapped both ways.
    assert!(
        legacy
            .subscriptions()
            .contains(&HookKind::Custom("legacy-event".into()))
    );
    let replaced = legacy
        .handle_hook(&HookKind::BeforeToolCall, &json!({"q": "a secret"}), &ctx)
        .await
        .unwrap();
    assert_eq!(replaced, HookOutcome::Replace(json!({"q": "a [0.1.0]"})));
    let vetoed = legacy
        .handle_hook(&HookKind::Custom("legacy-event".into()), &json!({}), &ctx)
        .await
        .unwrap();
    assert_eq!(
        vetoed,
        HookOutcome::Veto("legacy-event is vetoed by a 0.1.0 plugin".into())
    );

    // State across a swap, through 0.1.0's capture and restore.
    let state = legacy
        .capture_state()
        .await
        .unwrap()
        .expect("it keeps state");
    let next = load(&rt, guests::LEGACY).await;
    next.restore_state(&state).await.unwrap();
    let third = next
        .call_tool("shout", &json!({"text": "x"}), &ctx)
        .await
        .unwrap();
    assert_eq!(third["calls"], 3, "the count carried over: {third}");
}
