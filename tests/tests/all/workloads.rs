//! The benchmark workloads are real plugins too: `compute` (SHA-256 over generated data)
//! and `large` (a multi-MB regex component) answer correctly and obey the limits.

use airlock::{CallContext, CallError, Limits};
use airlock_tests::{call_error, guests, load, load_with, runtime};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn compute_hashes_what_the_host_hashes() {
    let compute = load(&runtime(), guests::COMPUTE).await;
    let block: Vec<u8> = (0..=255u8).cycle().take(1024).collect();
    let data = block.repeat(64);
    let digest = compute
        .call_tool("sha256", &json!({"kib": 64}), &CallContext::default())
        .await
        .unwrap();
    assert_eq!(digest, airlock::digest::Sha256::of(&data).to_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn compute_bound_work_is_metered_by_fuel() {
    let limits = Limits::default().with_fuel(Some(1_000_000));
    let compute = load_with(&runtime(), guests::COMPUTE, limits).await;
    let error = call_error(&compute, "sha256", &json!({"kib": 1024})).await;
    assert!(
        matches!(error, CallError::FuelExhausted { .. }),
        "{error:?}"
    );
    // Small jobs still fit the same budget.
    compute
        .call_tool("sha256", &json!({"kib": 1}), &CallContext::default())
        .await
        .expect("1 KiB fits in a million units");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_large_component_is_large_and_works() {
    let size = std::fs::metadata(guests::LARGE).unwrap().len();
    assert!(size >= 2_000_000, "large.wasm is only {size} bytes");
    let large = load(&runtime(), guests::LARGE).await;
    let ctx = CallContext::default();
    let found = large
        .call_tool(
            "find",
            &json!({"pattern": r"\p{Greek}+", "text": "alpha α beta βγ"}),
            &ctx,
        )
        .await
        .unwrap();
    let texts: Vec<&str> = found["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["α", "βγ"]);
    let replaced = large
        .call_tool(
            "replace",
            &json!({"pattern": r"(\w+)@(\w+)", "text": "mail bob@example", "with": "$2:$1"}),
            &ctx,
        )
        .await
        .unwrap();
    assert_eq!(replaced, "mail example:bob");
    let error = large
        .call_tool("find", &json!({"pattern": "(", "text": ""}), &ctx)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, CallError::Plugin { message, .. } if message.contains("bad pattern")),
        "{error:?}"
    );
}
