//! Fuzz target `schema`: the JSON Schema checks on plugin-supplied schemas. A plugin hands
//! its tools' `input_schema` over as JSON text and its folder's manifest carries a
//! `[config]` schema; the host compiles each (refusing the load when it cannot) and
//! validates every call's arguments, and the plugin's configuration, against them.
//!
//! Input: the schema's JSON text on the first line, an instance (arguments or a
//! configuration) on the rest. Checks: no panic, no hang and no runaway memory (the run's
//! `-timeout` and `-rss_limit_mb`, e.g. on pathological patterns or references); problems
//! are reported the same way twice and each names something; a configuration accepted by
//! the `[config]` check has no problems left once its defaults are filled in, and a refusal
//! lists at least one problem.

#![no_main]

use airlock::LoadError;
use airlock::fuzzing::{ToolSchema, check_config};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (schema_text, instance_text) = text.split_once('\n').unwrap_or((text, "{}"));
    // As `ToolDefinition::from_wit` reads a plugin's `input_schema`.
    let Ok(schema) = serde_json::from_str::<Value>(schema_text) else {
        return;
    };
    let Ok(tool) = ToolSchema::compile(&schema) else {
        return;
    };
    let Ok(instance) = serde_json::from_str::<Value>(instance_text) else {
        return;
    };
    let problems = tool.problems(&instance);
    assert!(problems.iter().all(|p| !p.is_empty()), "{problems:?}");
    assert_eq!(
        problems,
        tool.problems(&instance),
        "problems differ between two checks"
    );
    match check_config("fuzz", &schema, &instance) {
        Ok(filled) => assert!(
            tool.problems(&filled).is_empty(),
            "accepted {filled} has problems"
        ),
        Err(LoadError::BadConfig { problems, .. }) => assert!(!problems.is_empty()),
        Err(other) => panic!("unexpected error kind: {other}"),
    }
});
