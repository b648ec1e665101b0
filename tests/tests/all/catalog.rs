//! The namespaced tool catalog across plugins.

use airlock::{CallContext, CallError, Catalog, LoadOptions};
use airlock_tests::{guests, runtime};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn tools_are_namespaced_and_routed() {
    let runtime = runtime();
    let calc = runtime
        .load_file(guests::CALCULATOR, LoadOptions::default())
        .await
        .unwrap();
    let vowels = runtime
        .load_file(guests::COUNT_VOWELS, LoadOptions::default())
        .await
        .unwrap();
    let redact = runtime
        .load_file(guests::REDACT, LoadOptions::default())
        .await
        .unwrap();
    let catalog = Catalog::new([vowels, redact, calc]);
    let names: Vec<String> = catalog.entries().into_iter().map(|e| e.name).collect();
    assert_eq!(
        names,
        [
            "calculator.add",
            "calculator.subtract",
            "calculator.multiply",
            "calculator.divide",
            "count-vowels.count_vowels"
        ]
    );
    let entry = &catalog.entries()[0];
    assert_eq!(entry.definition.input_schema["required"], json!(["a", "b"]));

    let ctx = CallContext::default();
    assert_eq!(
        catalog
            .call("calculator.multiply", &json!({"a": 3, "b": 4}), &ctx)
            .await
            .unwrap()["result"],
        12.0
    );
    assert_eq!(
        catalog
            .call("count-vowels.count_vowels", &json!({"text": "aa"}), &ctx)
            .await
            .unwrap()["count"],
        2
    );

    let err = catalog
        .call("calculator.add", &json!({"a": 1}), &ctx)
        .await
        .unwrap_err();
    assert!(matches!(err, CallError::BadArguments { .. }), "{err:?}");
    for missing in ["nope.add", "calculator.sqrt", "add"] {
        let err = catalog.call(missing, &json!({}), &ctx).await.unwrap_err();
        let CallError::UnknownTool { available, .. } = &err else {
            panic!("{missing}: {err:?}")
        };
        assert!(
            available.contains(&"calculator.add".to_string()) || missing == "calculator.sqrt",
            "{err}"
        );
    }
}
