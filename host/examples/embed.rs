//! Embedding Airlock in a tokio application: load a tool plugin and a hook plugin, run the
//! hook over a tool call's payload, call the tool, and handle a typed error.
//!
//! Run: `cargo run -p airlock --example embed -- [CALCULATOR.wasm REDACT.wasm]`. Without
//! arguments it uses the example plugins `airlock demo` builds
//! (`target/guests/plugins/{calculator,redact}/`). Copied into a crate of your own it needs
//! `airlock` (this repository's `host/`), `tokio` with `macros` and `rt-multi-thread`, and
//! `serde_json`.

use std::path::PathBuf;
use std::time::Duration;

use airlock::{CallContext, CallError, HookKind, HookOutcome, Limits, LoadOptions, Runtime};
use serde_json::json;

/// The component of example `name` as `airlock demo` assembles it.
fn demo_plugin(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or("target".into(), PathBuf::from);
    target.join(format!("guests/plugins/{name}/{name}.wasm"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1).map(PathBuf::from);
    let calculator_wasm = args.next().unwrap_or_else(|| demo_plugin("calculator"));
    let redact_wasm = args.next().unwrap_or_else(|| demo_plugin("redact"));
    for path in [&calculator_wasm, &redact_wasm] {
        if !path.is_file() {
            let hint = "run `cargo run -p airlock-cli -- demo` first (it builds the example \
                        plugins), or pass the calculator and redact components";
            return Err(format!("{} not found: {hint}", path.display()).into());
        }
    }
    let runtime = Runtime::builder()
        .default_limits(Limits::default().with_deadline(Duration::from_secs(2)))
        .build()?;
    let calculator = runtime
        .load_file(&calculator_wasm, LoadOptions::default())
        .await?;
    let redact = runtime
        .load_file(
            &redact_wasm,
            LoadOptions::default().config(json!({"deny_tools": ["shell"]})),
        )
        .await?;
    let ctx = CallContext::for_tenant("acme").with_session("chat-42");

    // Before the agent calls a tool, let the hook plugin see (and maybe rewrite) the call.
    let call =
        json!({"tool": "divide", "arguments": {"a": 10, "b": 4}, "note": "from bob@example.com"});
    let call = match redact
        .handle_hook(&HookKind::BeforeToolCall, &call, &ctx)
        .await?
    {
        HookOutcome::Pass => call,
        HookOutcome::Replace(rewritten) => rewritten,
        HookOutcome::Veto(reason) => return Err(reason.into()),
    };
    println!("hooked call: {call}");

    let answer = calculator
        .call_tool("divide", &call["arguments"], &ctx)
        .await?;
    println!("10 / 4 = {}", answer["result"]);

    match calculator
        .call_tool("divide", &json!({"a": 1, "b": 0}), &ctx)
        .await
    {
        Err(CallError::Plugin { code, message, .. }) => {
            println!("refused: {message} (code {code})")
        }
        other => println!("unexpected: {other:?}"),
    }
    Ok(())
}
