//! The hook pipeline over real hook plugins: order, payload threading, vetoes, failures
//! reported through `on-error`, fail-open and fail-closed.

use airlock::pipeline::{Failure, StepOutcome};
use airlock::{CallContext, HookKind, LoadOptions, Pipeline, Plugin, Runtime, World};
use airlock_tests::{guests, runtime};
use serde_json::{Value, json};

async fn hooky(runtime: &Runtime, tag: &str, behaviour: &str) -> Plugin {
    let config = json!({"tag": tag, "behaviour": behaviour});
    runtime
        .load_file(guests::HOOKY, LoadOptions::default().config(config))
        .await
        .expect("hooky loads")
}

fn call() -> Value {
    json!({"tool": "search", "arguments": {"q": "mail alice@example.com"}, "tags": []})
}

fn outcomes(steps: &[airlock::pipeline::Step]) -> Vec<(String, &'static str)> {
    steps
        .iter()
        .map(|s| {
            let name = match s.outcome {
                StepOutcome::Passed => "passed",
                StepOutcome::Replaced => "replaced",
                StepOutcome::Vetoed { .. } => "vetoed",
                StepOutcome::Failed { .. } => "failed",
            };
            (s.plugin.clone(), name)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn plugins_run_in_priority_order_and_each_sees_the_last_payload() {
    let runtime = runtime();
    let first = hooky(&runtime, "first", "tag").await;
    let second = hooky(&runtime, "second", "tag").await;
    assert_eq!(first.world(), World::Plugin);
    let redact = runtime
        .load_file(guests::REDACT, LoadOptions::default())
        .await
        .unwrap();
    let mut pipeline = Pipeline::new();
    pipeline.add(second, 20).add(redact, 10).add(first, 0);
    let result = pipeline
        .dispatch(&HookKind::BeforeToolCall, call(), &CallContext::default())
        .await;
    assert!(result.allowed());
    assert_eq!(result.payload["tags"], json!(["first", "second"]));
    assert_eq!(result.payload["arguments"]["q"], "mail [REDACTED:email]");
    assert_eq!(
        outcomes(&result.steps),
        [
            ("hooky".into(), "replaced"),
            ("redact".into(), "replaced"),
            ("hooky".into(), "replaced")
        ]
    );
    // Unsubscribed kinds pass untouched.
    let result = pipeline
        .dispatch(&HookKind::AfterAgentRun, call(), &CallContext::default())
        .await;
    assert!(result.steps.is_empty() && result.payload == call());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_veto_stops_the_chain_and_says_who_and_why() {
    let runtime = runtime();
    let mut pipeline = Pipeline::new();
    pipeline
        .add(hooky(&runtime, "a", "tag").await, 0)
        .add(hooky(&runtime, "guard", "veto").await, 1)
        .add(hooky(&runtime, "c", "tag").await, 2);
    let result = pipeline
        .dispatch(&HookKind::BeforeToolCall, call(), &CallContext::default())
        .await;
    assert!(!result.allowed());
    assert_eq!(
        result.vetoed,
        Some(("hooky".into(), "guard says no".into()))
    );
    assert_eq!(result.steps.len(), 2, "the third plugin never ran");
    assert_eq!(result.payload["tags"], json!(["a"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_are_reported_to_on_error_and_the_chain_goes_on_when_fail_open() {
    let runtime = runtime();
    let listener = hooky(&runtime, "listener", "tag").await;
    let failing = runtime
        .load_file(
            guests::HOOKY,
            LoadOptions::default().config(json!({"tag": "x", "behaviour": "panic"})),
        )
        .await
        .unwrap();
    let calc = runtime
        .load_file(guests::CALCULATOR, LoadOptions::default())
        .await
        .unwrap();
    let mut pipeline = Pipeline::new();
    pipeline
        .add(failing, 0)
        .add(listener.clone(), 1)
        .add(calc, 2);
    assert_eq!(
        pipeline.failure_mode(&HookKind::BeforeToolCall),
        Failure::Open
    );
    let result = pipeline
        .dispatch(&HookKind::BeforeToolCall, call(), &CallContext::default())
        .await;
    assert!(result.allowed());
    let StepOutcome::Failed { kind, message } = &result.steps[0].outcome else {
        panic!("{:?}", result.steps)
    };
    assert_eq!(*kind, "trap");
    assert!(message.contains("x panicked on purpose"), "{message}");
    assert_eq!(
        result.payload["tags"],
        json!(["listener"]),
        "the chain went on with the payload as it was"
    );
    // The other plugin heard about the failure through its on-error hook.
    let seen = listener
        .call_tool("errors_seen", &json!({}), &CallContext::default())
        .await
        .unwrap();
    assert_eq!(seen, json!(["hooky"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fail_closed_kind_stops_at_the_first_failure() {
    let runtime = runtime();
    let mut pipeline = Pipeline::new();
    pipeline
        .add(hooky(&runtime, "broken", "fail").await, 0)
        .add(hooky(&runtime, "later", "tag").await, 1)
        .fail_closed(HookKind::BeforeToolCall);
    let result = pipeline
        .dispatch(&HookKind::BeforeToolCall, call(), &CallContext::default())
        .await;
    assert!(!result.allowed());
    assert_eq!(result.stopped_by.as_deref(), Some("hooky"));
    assert_eq!(result.steps.len(), 1);
    let StepOutcome::Failed { kind, message } = &result.steps[0].outcome else {
        panic!("{:?}", result.steps)
    };
    assert_eq!(
        (*kind, message.contains("broken failed on purpose")),
        ("plugin-error", true),
        "{message}"
    );
    assert_eq!(result.payload, call(), "nothing was applied");
}
