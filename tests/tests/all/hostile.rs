//! Hostile plugins: every attack becomes a typed error, the attacking plugin answers its
//! next call from a fresh instance, and a second plugin running alongside is never disturbed.

use std::time::{Duration, Instant};

use airlock::{CallContext, CallError, Limits, Plugin, Runtime};
use airlock_tests::{call_error, guests, load, load_with, runtime, runtime_for_memory};
use serde_json::{Value, json};

/// Runs `tool` on the hostile plugin while the calculator keeps answering, then checks the
/// aftermath. Returns the attack's error.
async fn attack(limits: Limits, tool: &str, arguments: Value) -> CallError {
    attack_on(guests::HOSTILE, limits, tool, arguments).await
}

/// Runs `tool` on `component` (a hostile plugin in any language, with `counter` and `echo`
/// tools) while the Rust calculator keeps answering, then checks the aftermath: the error
/// discards the instance, the bystander answered throughout, and the plugin answers its
/// next call from a fresh instance. Returns the attack's error.
pub(crate) async fn attack_on(
    component: &str,
    limits: Limits,
    tool: &str,
    arguments: Value,
) -> CallError {
    let runtime = runtime_for_memory(limits.memory_bytes);
    let hostile = load_with(&runtime, component, limits).await;
    let name = hostile.name().to_string();
    let bystander = load(&runtime, guests::CALCULATOR).await;
    let ctx = CallContext::default();

    // The counter shows which instance answers: 1 on a fresh one.
    assert_eq!(
        hostile
            .call_tool("counter", &json!({}), &ctx)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        hostile
            .call_tool("counter", &json!({}), &ctx)
            .await
            .unwrap(),
        2
    );

    let during = tokio::spawn(keep_calling(bystander.clone()));
    let error = hostile
        .call_tool(tool, &arguments, &ctx)
        .await
        .expect_err("the attack must fail");
    assert_eq!(error.plugin(), name);
    assert!(error.discards_instance(), "{error:?}");
    assert!(
        during.await.unwrap() > 0,
        "the bystander answered while the attack ran"
    );

    let echo = hostile
        .call_tool("echo", &json!({"text": "still here"}), &ctx)
        .await
        .unwrap();
    assert_eq!(echo, "still here", "the same plugin answers its next call");
    assert_eq!(
        hostile
            .call_tool("counter", &json!({}), &ctx)
            .await
            .unwrap(),
        1,
        "on a fresh instance"
    );
    assert_eq!(
        bystander
            .call_tool("add", &json!({"a": 2, "b": 2}), &ctx)
            .await
            .unwrap()["result"],
        4.0
    );
    error
}

/// Calls the bystander repeatedly for a moment; returns how many calls succeeded.
pub(crate) async fn keep_calling(plugin: Plugin) -> usize {
    let mut answered = 0;
    for i in 0..20 {
        let out = plugin
            .call_tool("add", &json!({"a": i, "b": 1}), &CallContext::default())
            .await
            .unwrap();
        assert_eq!(out["result"], f64::from(i + 1));
        answered += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    answered
}

#[tokio::test(flavor = "multi_thread")]
async fn an_infinite_loop_runs_out_of_fuel() {
    let error = attack(
        Limits::default().with_fuel(Some(20_000_000)),
        "spin",
        json!({}),
    )
    .await;
    assert!(
        matches!(
            error,
            CallError::FuelExhausted {
                budget: 20_000_000,
                ..
            }
        ),
        "{error:?}"
    );
}

/// Calls `tool` under `limits` and checks that it ends as `DeadlineExceeded` soon after the
/// deadline: fuel yields and the call's timer, not fuel exhaustion or anything slower, stop
/// it. Then the full aftermath check.
async fn stops_at_the_deadline(limits: Limits, tool: &str, arguments: Value) {
    let deadline = limits.deadline;
    let runtime = runtime();
    let hostile = load_with(&runtime, guests::HOSTILE, limits.clone()).await;
    let started = Instant::now();
    let error = call_error(&hostile, tool, &arguments).await;
    let took = started.elapsed();
    eprintln!("{tool}: stopped {:?} after the deadline", took - deadline);
    assert!(
        matches!(error, CallError::DeadlineExceeded { .. }),
        "{error:?}"
    );
    // Measured 1–6 ms late on an idle machine; the margin is for a loaded CI runner.
    assert!(
        took >= deadline && took < deadline + Duration::from_millis(250),
        "stopped after {took:?}, deadline {deadline:?}"
    );
    let error = attack(limits, tool, arguments).await;
    assert!(
        matches!(error, CallError::DeadlineExceeded { .. }),
        "{error:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_infinite_loop_without_fuel_hits_the_deadline() {
    let limits = Limits::default()
        .with_fuel(None)
        .with_deadline(Duration::from_millis(400));
    stops_at_the_deadline(limits, "spin", json!({})).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_infinite_loop_with_fuel_left_hits_the_deadline_first() {
    // A budget of 10¹² lasts minutes of spinning; the default 2·10⁹ lasts about 300 ms.
    let limits = Limits::default()
        .with_fuel(Some(1_000_000_000_000))
        .with_deadline(Duration::from_millis(300));
    stops_at_the_deadline(limits, "spin", json!({})).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn blocking_in_a_host_call_hits_the_deadline() {
    let limits = Limits::default().with_deadline(Duration::from_millis(300));
    stops_at_the_deadline(limits, "sleep", json!({"ms": 60_000})).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn looping_on_a_host_import_that_never_waits_hits_the_deadline() {
    // Each call is a millisecond or more of host work for a few hundred units of fuel:
    // without a clock read as host calls return, ~10⁴ calls would pass between fuel yields.
    let limits = Limits::default().with_deadline(Duration::from_millis(300));
    stops_at_the_deadline(limits, "random_storm", json!({"mib": 1})).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn looping_on_a_slow_host_import_hits_the_deadline() {
    // Each 2 ms sleep uses a few hundred units of fuel: no fuel yield ever comes, only waits.
    let limits = Limits::default().with_deadline(Duration::from_millis(300));
    stops_at_the_deadline(limits, "naps", json!({"ms": 2})).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_memory_bomb_hits_the_memory_limit() {
    let limits = Limits::default().with_memory_bytes(32 << 20);
    let error = attack(limits, "grow", json!({})).await;
    assert!(
        matches!(error, CallError::MemoryLimit { limit, .. } if limit == 32 << 20),
        "{error:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_panic_is_a_trap_carrying_the_message() {
    let error = attack(
        Limits::default(),
        "panic",
        json!({"text": "the plugin gave up"}),
    )
    .await;
    let CallError::Trap { panic, .. } = &error else {
        panic!("expected a trap, got {error:?}")
    };
    let panic = panic.as_deref().expect("the panic message is reported");
    assert!(panic.starts_with("the plugin gave up at "), "{panic}");
    assert!(error.to_string().contains("the plugin gave up"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn unbounded_recursion_is_a_stack_overflow_trap() {
    let error = attack(Limits::default(), "recurse", json!({})).await;
    let CallError::Trap { message, .. } = &error else {
        panic!("expected a trap, got {error:?}")
    };
    assert!(message.contains("stack overflow"), "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn recursion_that_exhausts_the_guests_own_stack_is_a_trap() {
    // Rust keeps big frames on a stack inside linear memory; depending on frame sizes that
    // stack or the WebAssembly stack runs out first. Either way: a trap that says why.
    let error = attack(Limits::default(), "recurse_frames", json!({})).await;
    let CallError::Trap { message, .. } = &error else {
        panic!("expected a trap, got {error:?}")
    };
    let stack =
        message.contains("stack overflow") || message.contains("out of bounds memory access");
    assert!(stack && message.contains("recursion"), "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_100_mib_result_is_output_too_large() {
    // Building and serialising 100 MiB takes more than the default fuel: meter time only.
    let limits = Limits::default()
        .with_fuel(None)
        .with_memory_bytes(512 << 20)
        .with_output_bytes(1 << 20);
    let error = attack(limits, "big_output", json!({"mib": 100})).await;
    assert!(
        matches!(error, CallError::OutputTooLarge { limit, .. } if limit == 1 << 20),
        "{error:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn results_under_the_output_cap_pass() {
    let runtime = runtime();
    let limits = Limits::default().with_output_bytes(4 << 20);
    let hostile = load_with(&runtime, guests::HOSTILE, limits).await;
    let out = hostile
        .call_tool("big_output", &json!({"mib": 1}), &CallContext::default())
        .await
        .unwrap();
    assert_eq!(out.as_str().map(str::len), Some(1 << 20));
}

#[tokio::test(flavor = "multi_thread")]
async fn many_runaways_at_once_do_not_starve_other_plugins() {
    let runtime = Runtime::new().unwrap();
    let limits = Limits::default()
        .with_fuel(None)
        .with_deadline(Duration::from_millis(500));
    let hostile = load_with(&runtime, guests::HOSTILE, limits).await;
    let bystander = load(&runtime, guests::CALCULATOR).await;
    let runaways: Vec<_> = (0..4)
        .map(|_| {
            let hostile = hostile.clone();
            tokio::spawn(async move {
                hostile
                    .call_tool("spin", &json!({}), &CallContext::default())
                    .await
            })
        })
        .collect();
    assert!(keep_calling(bystander).await == 20);
    for runaway in runaways {
        assert!(matches!(
            runaway.await.unwrap(),
            Err(CallError::DeadlineExceeded { .. })
        ));
    }
}
