//! `legacy`: a plugin of `airlock:plugin@0.1.0` (`wit/v0.1.0/`), written against the raw
//! bindings rather than the SDK (which targets the latest version), so it stays a 0.1.0
//! component however the SDK moves. It exercises every 0.1.0 import the host maps onto the
//! latest (`host.log`, `context`) and every export (lifecycle, tools, hooks).

wit_bindgen::generate!({ path: "../../../wit/v0.1.0", world: "airlock:plugin/plugin" });

use std::cell::Cell;

use airlock::plugin::types::{
    CallContext, HealthReport, HealthStatus, PluginError, PluginMetadata,
};
use airlock::plugin::{context, host};
use exports::airlock::plugin::hooks::{self, HookKind, HookOutcome};
use exports::airlock::plugin::lifecycle;
use exports::airlock::plugin::tools::{self, ToolDefinition};

struct Legacy;

thread_local! {
    /// Calls served by this instance: carried across a swap by `capture-state`.
    static CALLS: Cell<u64> = const { Cell::new(0) };
}

impl lifecycle::Guest for Legacy {
    fn metadata() -> PluginMetadata {
        PluginMetadata {
            name: "legacy".into(),
            version: "0.1.0".into(),
            author: "Airlock tests".into(),
            description: "Built against airlock:plugin@0.1.0.".into(),
            license: String::new(),
            permissions: Vec::new(),
            host_versions: ">=0.1".into(),
        }
    }

    fn init(_config: String) -> Result<(), PluginError> {
        Ok(())
    }

    fn shutdown() {}

    fn health() -> HealthReport {
        HealthReport {
            status: HealthStatus::Ready,
            message: "ok".into(),
            details: "{}".into(),
        }
    }

    fn capture_state() -> Option<Vec<u8>> {
        Some(CALLS.get().to_le_bytes().to_vec())
    }

    fn restore_state(state: Vec<u8>) -> Result<(), PluginError> {
        let bytes: [u8; 8] = state.try_into().map_err(|_| PluginError {
            code: 400,
            message: "state is not 8 bytes".into(),
            details: None,
        })?;
        CALLS.set(u64::from_le_bytes(bytes));
        Ok(())
    }
}

impl tools::Guest for Legacy {
    fn list_tools() -> Vec<ToolDefinition> {
        vec![ToolDefinition {
            name: "shout".into(),
            description: "Upper-case `text`; remembers it in the session context".into(),
            input_schema:
                r#"{"type":"object","properties":{"text":{"type":"string"}},"required":["text"]}"#
                    .into(),
        }]
    }

    fn call_tool(
        name: String,
        arguments: String,
        context: CallContext,
    ) -> Result<String, PluginError> {
        CALLS.set(CALLS.get() + 1);
        if name != "shout" {
            return Err(PluginError {
                code: 404,
                message: format!("no tool {name}"),
                details: None,
            });
        }
        // The arguments were validated against the schema: `{"text": "…"}`; no JSON library
        // needed for this much.
        let text = arguments
            .split_once(":\"")
            .and_then(|(_, rest)| rest.rsplit_once('"'))
            .map(|(text, _)| text)
            .unwrap_or_default();
        host::log(
            host::LogLevel::Info,
            &format!("shouting for tenant {}", context.tenant),
        );
        let previous = context::get("legacy-last");
        let _ = context::set("legacy-last", &format!("\"{}\"", text.to_uppercase()));
        Ok(format!(
            "{{\"shout\":\"{}\",\"previous\":{},\"calls\":{}}}",
            text.to_uppercase(),
            previous.unwrap_or_else(|| "null".into()),
            CALLS.get()
        ))
    }
}

impl hooks::Guest for Legacy {
    fn subscriptions() -> Vec<HookKind> {
        vec![
            HookKind::BeforeToolCall,
            HookKind::Custom("legacy-event".into()),
        ]
    }

    fn handle(
        kind: HookKind,
        payload: String,
        _context: CallContext,
    ) -> Result<HookOutcome, PluginError> {
        Ok(match kind {
            HookKind::Custom(name) => {
                HookOutcome::Veto(format!("{name} is vetoed by a 0.1.0 plugin"))
            }
            _ if payload.contains("secret") => {
                HookOutcome::Replace(payload.replace("secret", "[0.1.0]"))
            }
            _ => HookOutcome::Pass,
        })
    }
}

export!(Legacy);
