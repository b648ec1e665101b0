//! Session context through the `airlock:plugin/context` import: plugins and the host share
//! one session's values; another tenant's or session's keys are never visible.

use airlock::{CallContext, LoadOptions, Plugin};
use airlock_tests::{guests, runtime};
use serde_json::{Value, json};

async fn probe(plugin: &Plugin, ctx: &CallContext, tool: &str, arguments: Value) -> (bool, String) {
    let out = plugin
        .call_tool(tool, &arguments, ctx)
        .await
        .expect("the probe runs");
    (
        out["ok"].as_bool().unwrap(),
        out["detail"].as_str().unwrap().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn plugins_and_the_host_share_a_session_and_nothing_else() {
    let runtime = runtime();
    let writer = runtime
        .load_file(guests::PROBER, LoadOptions::default())
        .await
        .unwrap();
    let reader = runtime
        .load_file(guests::PROBER, LoadOptions::default())
        .await
        .unwrap();
    let acme = CallContext::for_tenant("acme").with_session("chat-1");

    let set = probe(
        &writer,
        &acme,
        "session_set",
        json!({"path": "plan", "text": "step 1"}),
    )
    .await;
    assert_eq!(set, (true, "set".into()));
    assert_eq!(
        probe(&reader, &acme, "session_get", json!({"name": "plan"})).await,
        (true, "\"step 1\"".into())
    );
    assert_eq!(
        runtime.sessions().get("acme", "chat-1", "plan"),
        Some(json!("step 1")),
        "the host sees it"
    );

    runtime
        .sessions()
        .set("acme", "chat-1", "budget", &json!({"tokens": 500}))
        .unwrap();
    assert_eq!(
        probe(&reader, &acme, "session_keys", json!({})).await,
        (true, "budget,plan".into())
    );

    // Another session of the same tenant, and the same session id under another tenant.
    let other_session = CallContext::for_tenant("acme").with_session("chat-2");
    let other_tenant = CallContext::for_tenant("globex").with_session("chat-1");
    for ctx in [&other_session, &other_tenant] {
        assert_eq!(
            probe(&reader, ctx, "session_get", json!({"name": "plan"})).await,
            (false, "absent".into())
        );
        assert_eq!(
            probe(&reader, ctx, "session_keys", json!({})).await,
            (true, String::new())
        );
    }
    // The same pooled instance serves the next call for acme again, and sees acme's keys.
    assert_eq!(
        probe(&reader, &acme, "session_get", json!({"name": "budget"})).await,
        (true, "{\"tokens\":500}".into())
    );

    // Without a session there is nothing to write to.
    let (ok, detail) = probe(
        &writer,
        &CallContext::for_tenant("acme"),
        "session_set",
        json!({"path": "x", "text": "y"}),
    )
    .await;
    assert!(!ok && detail.contains("no session"), "{detail}");
}

#[tokio::test(flavor = "multi_thread")]
async fn values_are_capped() {
    let runtime = runtime();
    let plugin = runtime
        .load_file(guests::PROBER, LoadOptions::default())
        .await
        .unwrap();
    let ctx = CallContext::for_tenant("t").with_session("s");
    let big = "x".repeat(100 << 10);
    let (ok, detail) = probe(
        &plugin,
        &ctx,
        "session_set",
        json!({"path": "big", "text": big}),
    )
    .await;
    assert!(!ok && detail.contains("cap"), "{detail}");
    assert!(runtime.sessions().keys("t", "s").is_empty());
}
