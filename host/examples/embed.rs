//! Embedding Airlock in a tokio application: load a tool plugin and a hook plugin, run the
//! hook over a tool call's payload, call the tool, and handle a typed error.
//!
//! Run: `cargo run -p airlock --example embed` (the test harness builds the plugins).

use std::time::Duration;

use airlock::{CallContext, CallError, HookKind, HookOutcome, Limits, LoadOptions, Runtime};
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = Runtime::builder()
        .default_limits(Limits::default().with_deadline(Duration::from_secs(2)))
        .build()?;
    let calculator = runtime
        .load_file(airlock_guests::CALCULATOR, LoadOptions::default())
        .await?;
    let redact = runtime
        .load_file(
            airlock_guests::REDACT,
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
