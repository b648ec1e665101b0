//! Host work a plugin drives is bounded: a schema too costly to validate is refused at load
//! naming the cap; one within the caps but costly for large arguments ends as a typed error
//! at the deadline without holding up other calls; log floods (records, printed lines,
//! refused execs) stay within the per-call log budget, counted on the host's real log
//! output; oversized error and health texts are cut. All on the `sprawl` test plugin.

use std::sync::Arc;
use std::time::{Duration, Instant};

use airlock::log_budget::{LOG_BYTES, LOG_RECORDS};
use airlock::{CallContext, CallError, Limits, LoadError, LoadOptions};
use airlock_tests::{guests, host_log_of, load, load_with, runtime};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn a_schema_whose_references_fan_out_is_refused_at_load_naming_the_cap() {
    let started = Instant::now();
    let err = runtime()
        .load_file(guests::SPRAWL_DEEP, LoadOptions::default())
        .await
        .expect_err("a schema 2^40 values large once expanded must be refused");
    let LoadError::BadToolSchema { tool, reason, .. } = &err else {
        panic!("expected a bad tool schema, got {err:?}")
    };
    assert_eq!(tool, "costly");
    assert!(reason.contains("over 20000 JSON values"), "{reason}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "refused quickly"
    );
}

/// `{"items": [0, 0, …]}`: three megabytes of items, each tried against 200 alternatives.
fn costly_arguments() -> String {
    let items = vec!["0"; 1_500_000].join(",");
    format!(r#"{{"items":[{items}]}}"#)
}

/// Three calls whose validation would take seconds each (more than there are cores on a
/// small machine) run while another plugin is called: its calls are answered at once, and
/// each costly call ends at its deadline as `validation-timeout`, before the plugin runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn costly_validation_ends_at_the_deadline_and_starves_no_other_call() {
    let rt = runtime();
    let deadline = Duration::from_millis(300);
    let sprawl = load_with(
        &rt,
        guests::SPRAWL,
        Limits::default().with_deadline(deadline),
    )
    .await;
    let hostile = load(&rt, guests::HOSTILE).await;
    let ctx = CallContext::default();
    let small = sprawl
        .call_tool_json("costly", r#"{"items":[1,2,3]}"#, &ctx)
        .await
        .expect("small arguments validate inline");
    assert_eq!(small.get(), "3");

    let arguments = Arc::new(costly_arguments());
    let costly: Vec<_> = (0..3)
        .map(|_| {
            let (sprawl, arguments) = (sprawl.clone(), arguments.clone());
            tokio::spawn(async move {
                let started = Instant::now();
                let result = sprawl
                    .call_tool_json("costly", &arguments, &CallContext::default())
                    .await;
                (result, started.elapsed())
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;

    // On a worker like every served call (the test's own thread is not one).
    let answered = tokio::spawn(async move {
        let started = Instant::now();
        for i in 0..5 {
            let text = format!("still here {i}");
            let answer = hostile
                .call_tool("echo", &json!({"text": text}), &CallContext::default())
                .await
                .expect("echo answers");
            assert_eq!(answer, json!(text));
        }
        started.elapsed()
    })
    .await
    .expect("the echo task ends");
    assert!(
        answered < Duration::from_secs(1),
        "other calls waited {answered:?} behind argument validation"
    );

    for call in costly {
        let (result, took) = call.await.expect("the call task ends");
        let err = result.expect_err("validation outlasts the deadline");
        assert!(
            matches!(&err, CallError::ValidationTimeout { tool, .. } if tool == "costly"),
            "{err:?}"
        );
        assert_eq!(err.kind(), "validation-timeout");
        assert!(took < deadline * 4, "ended at the deadline, took {took:?}");
    }
}

/// Calls `tool` of a fresh `sprawl` with `arguments`, returning the host log it caused.
async fn flood(tool: &str, arguments: serde_json::Value) -> (usize, usize, String) {
    let rt = runtime();
    let limits = Limits::default().with_deadline(Duration::from_secs(60));
    let sprawl = load_with(&rt, guests::SPRAWL, limits).await;
    host_log_of(async {
        sprawl
            .call_tool(tool, &arguments, &CallContext::default())
            .await
            .expect("the flood call succeeds");
    })
    .await
}

/// The log of one flooding call stays within the per-call budget, with one line saying
/// what was dropped.
fn assert_within_budget(lines: usize, bytes: usize, text: &str) {
    assert!(lines <= LOG_RECORDS + 2, "{lines} log lines");
    // Each record's fixed cost is counted as 64 bytes; the real line may be a little more.
    assert!(bytes <= 2 * LOG_BYTES, "{bytes} bytes of log");
    let summaries = text.matches("log records dropped").count();
    assert_eq!(summaries, 1, "one line says what was dropped");
}

#[tokio::test]
async fn a_flood_of_empty_log_records_stays_within_the_budget() {
    let (lines, bytes, text) = flood("log_flood", json!({"count": 200_000, "bytes": 0})).await;
    assert_within_budget(lines, bytes, &text);
    assert!(
        text.contains("199000 log records dropped"),
        "{}",
        &text[text.len() - 400..]
    );
}

#[tokio::test]
async fn a_flood_of_large_log_records_stays_within_the_budget() {
    // 32 MB of log. Every byte is escaped before the budget is consulted, so this also
    // keeps escaping cheap: with a general-category lookup that copied its table per
    // character it ran past the 60 s deadline (CI, 2026-11-30).
    let (lines, bytes, text) = flood("log_flood", json!({"count": 2_000, "bytes": 16 << 10})).await;
    assert_within_budget(lines, bytes, &text);
}

#[tokio::test]
async fn a_flood_of_printed_empty_lines_stays_within_the_budget() {
    let (lines, bytes, text) = flood("print_flood", json!({"count": 200_000, "bytes": 0})).await;
    assert_within_budget(lines, bytes, &text);
}

/// Twenty refused execs with a 100 kB argument: each logged once, cut short.
#[tokio::test]
async fn refused_execs_log_once_each_and_cut_short() {
    let (lines, bytes, text) = flood("exec_flood", json!({"count": 20, "bytes": 100_000})).await;
    assert_eq!(text.matches("exec refused").count(), 20, "{text}");
    assert!(lines <= 21, "{lines} lines");
    assert!(
        bytes < 64 << 10,
        "{bytes} bytes of log for 20 refused execs"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_error_and_health_texts_are_cut_naming_the_cap() {
    let rt = runtime();
    let sprawl = load(&rt, guests::SPRAWL).await;
    let err = sprawl
        .call_tool(
            "fail_big",
            &json!({"count": 1, "bytes": 1 << 20}),
            &CallContext::default(),
        )
        .await
        .expect_err("the tool fails");
    let CallError::Plugin {
        message, details, ..
    } = &err
    else {
        panic!("expected a plugin error, got {err:?}")
    };
    assert_eq!(message.len(), 4096, "the message is cut at 4 KiB");
    let note = details
        .as_ref()
        .and_then(|d| d.as_str())
        .unwrap_or_default();
    assert!(note.contains("over the cap of 16384 bytes"), "{details:?}");

    let health = sprawl.health().await.expect("health answers");
    assert_eq!(health.message.len(), 4096);
    let note = health.details.as_str().unwrap_or_default();
    assert!(
        note.contains("over the cap of 16384 bytes"),
        "{:?}",
        health.details
    );
}

/// One span per call (issue #18): at debug level, a call runs in a `call` span naming the
/// plugin, tool, tenant, session and call id; the plugin's log lines are its events; when
/// it closes it carries the outcome and the fuel used.
#[tokio::test]
async fn a_call_runs_in_one_span_holding_its_log_lines_outcome_and_fuel() {
    use std::sync::{Arc, Mutex};
    let rt = runtime();
    let sprawl = load_with(&rt, guests::SPRAWL, Limits::default()).await;
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let writer = {
        let buffer = buffer.clone();
        move || airlock_tests::SharedWriter(buffer.clone())
    };
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_writer(writer)
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    let context = CallContext::for_tenant("acme").with_session("s-9");
    sprawl
        .call_tool("log_flood", &json!({"count": 2, "bytes": 8}), &context)
        .await
        .unwrap();
    drop(guard);
    let log = String::from_utf8_lossy(&buffer.lock().unwrap()).into_owned();
    let in_span: Vec<&str> = log
        .lines()
        .filter(|l| {
            l.contains(
                "call{plugin=sprawl tool=log_flood tenant=acme session=s-9 call_id=\"sprawl-",
            )
        })
        .collect();
    assert!(
        in_span.len() >= 3,
        "two log lines and the close, in the span:\n{log}"
    );
    let close = in_span
        .iter()
        .find(|l| l.ends_with("close") || l.contains(" close "))
        .unwrap_or_else(|| panic!("no close event:\n{log}"));
    assert!(
        close.contains("outcome=\"ok\"") || close.contains("outcome=ok"),
        "{close}"
    );
    assert!(close.contains(" fuel="), "{close}");
}
