//! `sprawl`: a test plugin that makes the host work on its behalf — a schema that is costly
//! to validate against, floods of log records, printed lines and refused execs, oversized
//! errors and health reports — plus a harmless `echo`, to prove the host bounds each of
//! them. Built twice: as `sprawl-deep` (same source), its `costly` schema's `$ref`s fan
//! out 2^40 ways, which the host must refuse at load. Never ship anything like it.

use airlock_sdk::prelude::*;
use schemars::{Schema, SchemaGenerator};
use std::borrow::Cow;
use std::io::Write;

/// True in the `sprawl-deep` build.
const DEEP: bool = matches!(env!("CARGO_PKG_NAME").as_bytes(), b"sprawl-deep");

#[derive(Deserialize, JsonSchema)]
struct Text {
    text: String,
}

/// `count` times something of `bytes` bytes.
#[derive(Deserialize, JsonSchema)]
struct Flood {
    count: usize,
    bytes: usize,
}

#[derive(Deserialize)]
struct Costly {
    #[allow(dead_code)]
    items: Vec<Value>,
}

/// Alternatives each item of `costly` is checked against, all but the last failing.
const ALTERNATIVES: usize = 200;

impl JsonSchema for Costly {
    fn schema_name() -> Cow<'static, str> {
        "Costly".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let schema = match DEEP {
            true => fan_out(40),
            false => costly_but_admitted(),
        };
        Schema::try_from(schema).expect("an object")
    }
}

/// Every item of `items` is tried against 200 alternatives that fail before one that
/// passes: about 1,000 schema values, well within the host's caps, but validating a few
/// megabytes of items against it takes seconds.
fn costly_but_admitted() -> Value {
    let mut alternatives: Vec<Value> = (0..ALTERNATIVES)
        .map(|i| json!({"type": "integer", "minimum": 1_000_000 + i}))
        .collect();
    alternatives.push(json!({}));
    json!({
        "type": "object",
        "properties": {"items": {"type": "array", "items": {"anyOf": alternatives}}},
        "required": ["items"]
    })
}

/// `levels` definitions, each an `allOf` of two references to the one below: a few
/// kilobytes of schema, 2^levels values once expanded.
fn fan_out(levels: usize) -> Value {
    let mut defs = serde_json::Map::new();
    defs.insert("d0".into(), json!({"type": "array"}));
    for i in 1..=levels {
        let below = format!("#/$defs/d{}", i - 1);
        defs.insert(
            format!("d{i}"),
            json!({"allOf": [{"$ref": below}, {"$ref": below}]}),
        );
    }
    json!({
        "type": "object",
        "$defs": defs,
        "properties": {"items": {"$ref": format!("#/$defs/d{levels}")}}
    })
}

struct Sprawl;

impl Plugin for Sprawl {
    type Config = NoConfig;

    fn metadata() -> Metadata {
        Metadata::new(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"))
            .author("Airlock tests")
            .description("Makes the host work: costly schemas, log floods, huge errors.")
    }

    fn init(_config: NoConfig) -> Result<Self, PluginError> {
        Ok(Sprawl)
    }

    fn health(&self) -> Health {
        Health::new(HealthStatus::Busy, "m".repeat(100 << 10))
            .with_details(json!({"filler": "d".repeat(100 << 10)}))
    }

    fn tools(tools: &mut Tools<Self>) {
        tools
            .tool("echo", "Return the text", |_, x: Text, _| Ok(x.text))
            .tool(
                "costly",
                "Accept items (costly to validate)",
                |_, x: Costly, _| Ok(x.items.len()),
            )
            .tool(
                "log_flood",
                "Log `count` records of `bytes` bytes",
                |_, x: Flood, _| {
                    let message = "x".repeat(x.bytes);
                    for _ in 0..x.count {
                        airlock_sdk::log::write(airlock_sdk::log::Level::Info, &message);
                    }
                    Ok(x.count)
                },
            )
            .tool(
                "print_flood",
                "Print `count` lines of `bytes` bytes",
                |_, x: Flood, _| {
                    let mut line = "p".repeat(x.bytes);
                    line.push('\n');
                    let mut out = std::io::stdout();
                    for _ in 0..x.count {
                        let _ = out.write_all(line.as_bytes());
                    }
                    let _ = out.flush();
                    Ok(x.count)
                },
            )
            .tool(
                "exec_flood",
                "Ask `count` times to run a program with an argument of `bytes` bytes",
                |_, x: Flood, _| {
                    let argument = "a".repeat(x.bytes);
                    let refused = (0..x.count)
                        .filter(|_| airlock_sdk::exec::run("nothing", &[&argument]).is_err())
                        .count();
                    Ok(refused)
                },
            )
            .tool(
                "fail_big",
                "Fail with a message and details of `bytes` bytes each",
                |_, x: Flood, _| -> Result<(), PluginError> {
                    Err(PluginError::internal("e".repeat(x.bytes))
                        .with_details(json!({"filler": "d".repeat(x.bytes)})))
                },
            );
    }
}

airlock_sdk::export_tool_plugin!(Sprawl);
