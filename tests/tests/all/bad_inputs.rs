//! Bad input gets a clear error naming the problem, never a panic, and loses nothing.

use airlock::{LoadError, LoadOptions};
use airlock_tests::{core_module, guests, runtime, truncated};

async fn load_bytes(bytes: Vec<u8>) -> LoadError {
    runtime()
        .load_bytes(bytes, "fixture.wasm", LoadOptions::default())
        .await
        .expect_err("must be refused")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_that_is_not_wasm() {
    let err = load_bytes(b"#!/bin/sh\necho hi\n".to_vec()).await;
    assert!(matches!(err, LoadError::NotWasm { .. }), "{err:?}");
    assert!(
        err.to_string().contains("fixture.wasm is not WebAssembly"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_file() {
    let err = load_bytes(Vec::new()).await;
    assert!(matches!(err, LoadError::NotWasm { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_truncated_component() {
    let err = load_bytes(truncated(guests::CALCULATOR)).await;
    let LoadError::Invalid { reason, .. } = &err else {
        panic!("expected invalid, got {err:?}")
    };
    assert!(
        reason.contains("out of bounds") || reason.contains("unexpected end"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_core_module_is_not_a_component() {
    let err = load_bytes(core_module()).await;
    assert!(matches!(err, LoadError::CoreModule { .. }), "{err:?}");
    assert!(
        err.to_string().contains("wasm32-wasip2"),
        "the error says how to fix it: {err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_component_of_another_world() {
    let bytes = std::fs::read(guests::CLI_COMMAND).unwrap();
    let err = load_bytes(bytes).await;
    let LoadError::WrongWorld { found, .. } = &err else {
        panic!("expected wrong world, got {err:?}")
    };
    assert!(
        found.contains("wasi:cli/run"),
        "names what it does export: {found}"
    );
    assert!(
        err.to_string().contains("airlock:plugin/lifecycle@0.2.0"),
        "names what is expected: {err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_file() {
    let err = runtime()
        .load_file("/nonexistent/plugin.wasm", LoadOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, LoadError::Read { .. }), "{err:?}");
    assert!(
        err.to_string().contains("/nonexistent/plugin.wasm"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_leave_the_runtime_usable() {
    let runtime = runtime();
    for bytes in [Vec::new(), core_module(), truncated(guests::CALCULATOR)] {
        assert!(
            runtime
                .load_bytes(bytes, "bad", LoadOptions::default())
                .await
                .is_err()
        );
    }
    let calc = runtime
        .load_file(guests::CALCULATOR, LoadOptions::default())
        .await
        .unwrap();
    let out = calc
        .call_tool(
            "add",
            &serde_json::json!({"a": 1, "b": 2}),
            &Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(out["result"], 3.0);
}
