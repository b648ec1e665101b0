//! The dynamic JSON path (issue #15) on a real component of its own world (`typed`,
//! `tests/plugins/typed/wit/world.wit`): every WIT type converted both ways, a mismatch per
//! type refused by path and WIT type before any guest code runs, exports listed with their
//! schemas, and calls under the same limits as a plugin's.

use airlock::plugin::metered;
use airlock::{CallError, Limits, LoadOptions};
use airlock_tests::{guests, runtime};
use serde_json::{Value, json};

const KITCHEN: &str = "fixture:typed/kitchen@0.1.0";

fn kitchen(function: &str) -> String {
    format!("{KITCHEN}#{function}")
}

/// A value of `everything` using every type, at the edges where there are edges.
fn everything() -> Value {
    json!({
        "flag": true,
        "small": -128, "byte": 255, "short": -32768, "ushort": 65535,
        "int": -2147483648i64, "uint": 4294967295u64,
        "long": i64::MIN, "ulong": u64::MAX,
        "single": 0.1, "double": "NaN",
        "letter": "🦀",
        "text": "ünïcödé \u{202e} and \"quotes\"",
        "bytes": "AAEC/w==",
        "numbers": [0, 1, 4294967295u64],
        "maybe": "here",
        "outcome": {"err": "nope"},
        "pair": ["two", 2],
        "shape": {"named": {"x": -1, "y": 2, "label": "p"}},
        "color": "dark-blue",
        "perms": ["read", "exec"],
        "points": [{"x": 1, "y": 2, "label": "a"}, {"x": 3, "y": 4, "label": "b"}],
        "nested": {"some": null},
        "unit-result": {"ok": null}
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn every_wit_type_round_trips_through_json() {
    let typed = runtime()
        .load_component(guests::TYPED, LoadOptions::default())
        .await
        .unwrap();
    let value = everything();
    let back = typed
        .call_json(&kitchen("echo"), &json!({"value": value}))
        .await
        .unwrap();
    assert_eq!(back, value);
    // The other spellings come back in the canonical one.
    let mut other = everything();
    other["shape"] = json!("dot");
    other["maybe"] = Value::Null;
    other["nested"] = json!({"some": 7});
    other["outcome"] = json!({"ok": 3.0});
    let back = typed
        .call_json(&kitchen("echo"), &json!({"value": other}))
        .await
        .unwrap();
    assert_eq!(back["shape"], json!({"dot": null}));
    assert_eq!(back["maybe"], Value::Null);
    assert_eq!(back["nested"], json!({"some": 7}));
    assert_eq!(back["outcome"], json!({"ok": 3}));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mismatch_per_type_is_refused_by_path_and_wit_type_before_the_guest_runs() {
    let typed = runtime()
        .load_component(guests::TYPED, LoadOptions::default())
        .await
        .unwrap();
    let cases: &[(&str, Value, &str)] = &[
        ("flag", json!(1), "/value/flag: expected bool, found 1"),
        ("small", json!(128), "/value/small: expected s8, found 128"),
        ("byte", json!(-1), "/value/byte: expected u8, found -1"),
        ("uint", json!(1.5), "/value/uint: expected u32, found 1.5"),
        ("ulong", json!(-1), "/value/ulong: expected u64, found -1"),
        (
            "double",
            json!("one"),
            "/value/double: expected f64, found \"one\"",
        ),
        (
            "single",
            json!(1e39),
            "/value/single: expected f32, found 1e+39 (beyond the range of f32)",
        ),
        (
            "long",
            json!(1e16),
            "/value/long: expected s64, found 1e+16",
        ),
        (
            "letter",
            json!("ab"),
            "/value/letter: expected char, found a string of 2 characters",
        ),
        (
            "text",
            json!(null),
            "/value/text: expected string, found null",
        ),
        (
            "bytes",
            json!("***"),
            "/value/bytes: expected list<u8>, found a string that is not base64",
        ),
        (
            "numbers",
            json!([1, "2"]),
            "/value/numbers/1: expected u32, found \"2\"",
        ),
        (
            "pair",
            json!(["a"]),
            "/value/pair: expected tuple<string, u8>, found an array of 1",
        ),
        (
            "shape",
            json!({"hexagon": 6}),
            "/value/shape: expected variant { circle, square, dot, named }, found an unknown case `hexagon`",
        ),
        (
            "shape",
            json!({"square": -1}),
            "/value/shape/square: expected u32, found -1",
        ),
        (
            "shape",
            json!({"dot": 1}),
            "case `dot`, which has no payload, with 1",
        ),
        (
            "color",
            json!("purple"),
            "/value/color: expected enum { red, green, dark-blue }, found an unknown case `purple`",
        ),
        (
            "perms",
            json!(["read", "read"]),
            "/value/perms: expected flags { read, write, exec }, found the flag `read` twice",
        ),
        (
            "outcome",
            json!({"maybe": 1}),
            "/value/outcome: expected result<u32, string>, found `maybe`",
        ),
        (
            "points",
            json!([{"x": 1, "y": 2}]),
            "/value/points/0: expected record { x, y, label }, found no field `label`",
        ),
        (
            "nested",
            json!(7),
            "/value/nested: expected option<option<u8>>, found 7",
        ),
    ];
    for (field, bad, expected) in cases {
        let mut value = everything();
        value[field] = bad.clone();
        let (result, fuel) =
            metered(typed.call_json(&kitchen("echo"), &json!({"value": value}))).await;
        match result {
            Err(CallError::BadArguments { problems, .. }) => assert!(
                problems.len() == 1 && problems[0].contains(expected),
                "{field} = {bad}: {problems:?}"
            ),
            other => panic!("{field} = {bad}: {other:?}"),
        }
        assert_eq!(fuel, None, "{field}: refused before any guest code ran");
    }
    let mut value = everything();
    value["extra"] = json!(1);
    let refused = typed
        .call_json(&kitchen("echo"), &json!({"value": value}))
        .await;
    assert!(
        format!("{refused:?}").contains("an unknown field `extra`"),
        "{refused:?}"
    );
    let refused = typed.call_json(&kitchen("add"), &json!({"a": 1})).await;
    assert!(
        format!("{refused:?}").contains("/b: missing (s32)"),
        "{refused:?}"
    );
    let refused = typed.call_json(&kitchen("add"), &json!([1, 2])).await;
    assert!(
        format!("{refused:?}")
            .contains("expected an object of the arguments by name (func(a: s32, b: s32) -> s32)"),
        "{refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn exports_are_listed_with_schemas_and_called_by_name() {
    let typed = runtime()
        .load_component(guests::TYPED, LoadOptions::default())
        .await
        .unwrap();
    let names: Vec<&str> = typed.exports().iter().map(|e| e.name.as_str()).collect();
    for expected in [
        "version",
        &kitchen("echo"),
        &kitchen("add"),
        &kitchen("divide"),
    ] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
    let add = typed
        .exports()
        .iter()
        .find(|e| e.name == kitchen("add"))
        .unwrap();
    assert_eq!(add.signature(), "func(a: s32, b: s32) -> s32");
    assert_eq!(
        add.params_schema(),
        json!({"type": "object", "additionalProperties": false, "required": ["a", "b"], "properties": {
            "a": {"type": "integer", "minimum": i32::MIN, "maximum": i32::MAX},
            "b": {"type": "integer", "minimum": i32::MIN, "maximum": i32::MAX}}})
    );
    assert_eq!(
        typed.call_json("version", &json!({})).await.unwrap(),
        json!("0.1.0")
    );
    let add_args = json!({"a": 2, "b": 3});
    assert_eq!(
        typed.call_json(&kitchen("add"), &add_args).await.unwrap(),
        json!(5)
    );
    let divide = json!({"a": 1.0, "b": 0.0});
    assert_eq!(
        typed.call_json(&kitchen("divide"), &divide).await.unwrap(),
        json!({"err": "division by zero"})
    );
    let describe = json!({"shape": {"circle": 2.5}, "color": "green"});
    assert_eq!(
        typed
            .call_json(&kitchen("describe"), &describe)
            .await
            .unwrap(),
        json!("green circle of radius 2.5")
    );
    assert_eq!(
        typed
            .call_json(&kitchen("nothing"), &json!({}))
            .await
            .unwrap(),
        Value::Null
    );
    let unknown = typed.call_json("nope", &json!({})).await;
    assert!(
        matches!(unknown, Err(CallError::UnknownTool { .. })),
        "{unknown:?}"
    );
    // The schema accepts what the converter accepts: every field of `everything` is there.
    let echo = typed
        .exports()
        .iter()
        .find(|e| e.name == kitchen("echo"))
        .unwrap();
    let record = &echo.params_schema()["properties"]["value"];
    let properties = record["properties"].as_object().unwrap();
    assert_eq!(properties.len(), everything().as_object().unwrap().len());
    assert_eq!(
        properties["bytes"],
        json!({"type": "string", "contentEncoding": "base64"})
    );
    assert_eq!(
        properties["color"],
        json!({"type": "string", "enum": ["red", "green", "dark-blue"]})
    );
}

/// The `typed` fixture with a fuel budget of `fuel` per call.
async fn typed_with_fuel(fuel: u64) -> airlock::dynamic::DynamicComponent {
    let limits = Limits {
        fuel: Some(fuel),
        ..Limits::default()
    };
    runtime()
        .load_component(guests::TYPED, LoadOptions::default().limits(limits))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dynamic_call_runs_under_the_limits() {
    let typed = typed_with_fuel(5_000_000).await;
    let (result, fuel) = metered(typed.call_json(&kitchen("spin"), &json!({}))).await;
    assert!(
        matches!(
            result,
            Err(CallError::FuelExhausted {
                budget: 5_000_000,
                ..
            })
        ),
        "{result:?}"
    );
    assert_eq!(fuel, Some(5_000_000));
    let unmetered = Limits {
        fuel: None,
        ..Limits::default().with_deadline(std::time::Duration::from_millis(200))
    };
    let typed = runtime()
        .load_component(guests::TYPED, LoadOptions::default().limits(unmetered))
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let result = typed.call_json(&kitchen("spin"), &json!({})).await;
    assert!(
        matches!(result, Err(CallError::DeadlineExceeded { .. })),
        "{result:?}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
}

#[path = "../../../host/examples/typed_host.rs"]
#[allow(dead_code)]
mod typed_host;

/// Typed embedding (`host/examples/typed_host.rs`, included here): a host with `bindgen!`
/// bindings for its own world calls a component of it under Airlock's limits, and serves
/// the world's own imports (configuration, progress) next to Airlock's capabilities; the
/// dynamic JSON path reaches the same imports. A runtime that does not link them refuses
/// the component, naming them.
#[tokio::test(flavor = "multi_thread")]
async fn a_host_calls_its_own_world_through_bindings_and_serves_its_imports() {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    let runtime = typed_host::runtime();
    let progress = Arc::new(Mutex::new(Vec::new()));
    let config = HashMap::from([("prefix".to_string(), "nightly: ".to_string())]);
    let reporter = typed_host::load(&runtime, guests::REPORTER, config, progress.clone())
        .await
        .unwrap();
    let described = typed_host::describe(&reporter, "build").await.unwrap();
    assert_eq!(described, "nightly: build");
    assert_eq!(typed_host::work(&reporter, 4).await.unwrap(), 4);
    assert_eq!(*progress.lock().unwrap(), [25, 50, 75, 100]);
    let dynamic = reporter
        .call_json(
            "fixture:typed/jobs@0.1.0#describe",
            &json!({"name": "json"}),
        )
        .await
        .unwrap();
    assert_eq!(dynamic, json!("nightly: json"));

    let capped = Limits {
        fuel: Some(5_000_000),
        ..Limits::default()
    };
    let options = LoadOptions::default().limits(capped);
    let spinner = runtime
        .load_component(guests::REPORTER, options)
        .await
        .unwrap();
    let (spun, fuel) = metered(typed_host::spin(&spinner)).await;
    assert!(
        matches!(spun, Err(CallError::FuelExhausted { .. })),
        "{spun:?}"
    );
    assert_eq!(fuel, Some(5_000_000));
    // Its state for the imports defaults without a factory: no prefix.
    let plain = typed_host::describe(&spinner, "build").await.unwrap();
    assert_eq!(plain, "build");

    // Airlock's plain runtime does not link `host-api`.
    let refused = airlock_tests::runtime()
        .load_component(guests::REPORTER, LoadOptions::default())
        .await
        .err()
        .expect("refused");
    assert!(
        matches!(&refused, airlock::LoadError::UnknownImports { imports, .. }
            if imports.iter().any(|i| i.starts_with("fixture:typed/host-api@"))),
        "{refused}"
    );
}

/// Instances are kept warm between calls (the guest's own state lives on), and one whose
/// call hit a limit is replaced by a fresh one.
#[tokio::test(flavor = "multi_thread")]
async fn instances_are_reused_until_a_call_hits_a_limit() {
    let typed = typed_with_fuel(5_000_000).await;
    let counter = kitchen("counter");
    for expected in [1, 2, 3] {
        assert_eq!(
            typed.call_json(&counter, &json!({})).await.unwrap(),
            json!(expected)
        );
    }
    let spun = typed.call_json(&kitchen("spin"), &json!({})).await;
    assert!(
        matches!(spun, Err(CallError::FuelExhausted { .. })),
        "{spun:?}"
    );
    assert_eq!(
        typed.call_json(&counter, &json!({})).await.unwrap(),
        json!(1),
        "a fresh instance after the limit hit"
    );
}
