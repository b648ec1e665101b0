//! Calls into a plugin: tools (arguments checked against their schema first, results parsed
//! within their caps), hooks, health and the state hand-over of a hot swap. Each runs on an
//! instance leased from the pool (`lease.rs`).

use std::sync::Arc;
use std::time::Instant;

use tracing::Instrument;

use serde_json::Value;
use serde_json::value::RawValue;

use super::Plugin;
use super::lease::Purpose;
use super::validate::{self, Verdict};
use crate::bindings::hooks;
use crate::types::{CallContext, Health, HookKind, HookOutcome};
use crate::{CallError, Isolation};

impl Plugin {
    /// Calls tool `tool` with `arguments`, validated against its schema first.
    pub async fn call_tool(
        &self,
        tool: &str,
        arguments: &Value,
        context: &CallContext,
    ) -> Result<Value, CallError> {
        self.counted(tool, context, || {
            self.call_tool_value(tool, arguments, context)
        })
        .await
    }

    async fn call_tool_value(
        &self,
        tool: &str,
        arguments: &Value,
        context: &CallContext,
    ) -> Result<Value, CallError> {
        let text = self.encode_input("arguments", arguments)?;
        self.check_arguments(tool, &text, Some(arguments)).await?;
        let arguments = text;
        let text = self.run_tool(tool, &arguments, context).await?;
        validate::parse_off_worker(text, |text| serde_json::from_str(&text))
            .await
            .map_err(|e| self.bad_result(tool, e))
    }

    /// [`Plugin::call_tool`] for callers that hold JSON text and want JSON text back (a
    /// JSON-RPC server, a proxy): the arguments are parsed once, to check them against the
    /// schema, and handed to the plugin as given; the result is checked to be JSON but not
    /// parsed into a tree, so it can be embedded in a reply as it is. The plugin receives
    /// the text exactly as given: where JSON is ambiguous (a repeated key, a number beyond
    /// `f64` precision) the schema check and the plugin's parser may read it differently,
    /// so send plain JSON, or use `call_tool`, which re-serialises what it checked.
    pub async fn call_tool_json(
        &self,
        tool: &str,
        arguments: &str,
        context: &CallContext,
    ) -> Result<Box<RawValue>, CallError> {
        self.counted(tool, context, || {
            self.call_tool_text(tool, arguments, context)
        })
        .await
    }

    async fn call_tool_text(
        &self,
        tool: &str,
        arguments: &str,
        context: &CallContext,
    ) -> Result<Box<RawValue>, CallError> {
        self.check_size("arguments", arguments.len())?;
        self.check_arguments(tool, arguments, None).await?;
        let text = self.run_tool(tool, arguments, context).await?;
        validate::parse_off_worker(text, RawValue::from_string)
            .await
            .map_err(|e| self.bad_result(tool, e))
    }

    /// Refuses an unknown tool, or arguments (`text`, and the same as a value when the
    /// caller has it) its schema does not accept, or whose check outlasts the deadline.
    async fn check_arguments(
        &self,
        tool: &str,
        text: &str,
        parsed: Option<&Value>,
    ) -> Result<(), CallError> {
        let schema = self
            .inner
            .schemas
            .get(tool)
            .ok_or_else(|| CallError::UnknownTool {
                plugin: self.name().to_string(),
                tool: tool.to_string(),
                available: self.inner.tools.iter().map(|t| t.name.clone()).collect(),
            })?;
        let deadline = self.inner.limits.deadline;
        match self
            .inner
            .validation
            .check(schema, text, parsed, deadline)
            .await
        {
            Verdict::Valid => Ok(()),
            Verdict::Problems(problems) => Err(CallError::BadArguments {
                plugin: self.name().to_string(),
                tool: tool.to_string(),
                problems,
            }),
            Verdict::TimedOut => Err(CallError::ValidationTimeout {
                plugin: self.name().to_string(),
                tool: tool.to_string(),
                deadline,
            }),
        }
    }

    /// Runs checked, encoded arguments through the tool; the plugin's answer as text.
    async fn run_tool(
        &self,
        tool: &str,
        arguments: &str,
        context: &CallContext,
    ) -> Result<String, CallError> {
        let functions = &self.inner.indices.functions;
        if let Some(function) = functions.iter().find(|f| f.tool == tool && f.handles) {
            // Boxed, as a rare path: its future would otherwise grow every call's.
            return Box::pin(self.run_with_handles(function, arguments, context)).await;
        }
        let limits = &self.inner.limits;
        let mut lease = self.checkout(Purpose::Call).await?;
        let result = lease
            .instance
            .call_tool(limits, tool, arguments, context)
            .await;
        self.checkin(lease, &result, Purpose::Call);
        result
    }

    fn bad_result(&self, tool: &str, e: serde_json::Error) -> CallError {
        CallError::Protocol {
            plugin: self.name().to_string(),
            reason: format!("tool `{tool}` returned invalid JSON: {e}"),
        }
    }

    /// Runs the plugin's handler for `kind` on `payload`. A plugin not subscribed to `kind`
    /// passes without running.
    pub async fn handle_hook(
        &self,
        kind: &HookKind,
        payload: &Value,
        context: &CallContext,
    ) -> Result<HookOutcome, CallError> {
        if !self.inner.subscriptions.contains(kind) {
            return Ok(HookOutcome::Pass);
        }
        self.counted(kind, context, || self.run_hook(kind, payload, context))
            .await
    }

    /// Runs the future `call` makes, one tool call or hook dispatch, in its span and counts
    /// it in the plugin's usage. It is made here, not passed in, and pinned once: a call's
    /// future is over a kilobyte, and every layer that took it by value would hold and copy
    /// another one on every call. The span is at debug level, so a host at the default
    /// level pays only a disabled callsite's check per call; `call_id` and `fuel` are
    /// recorded from inside the call (the instance knows them), `outcome` (`ok`, or the
    /// error's kind) when it ends; the plugin's log lines emitted meanwhile are the span's
    /// events.
    async fn counted<T, F>(
        &self,
        tool: impl std::fmt::Display,
        context: &CallContext,
        call: impl FnOnce() -> F,
    ) -> Result<T, CallError>
    where
        F: Future<Output = Result<T, CallError>>,
    {
        let started = self.inner.counting.then(Instant::now);
        let span = tracing::debug_span!(
            "call",
            plugin = %self.name(),
            tool = %tool,
            tenant = %context.tenant,
            session = %context.session_id,
            call_id = tracing::field::Empty,
            outcome = tracing::field::Empty,
            fuel = tracing::field::Empty,
        );
        // A disabled span is not entered on every poll: entering and leaving one still
        // costs hundreds of instructions a call (measured under callgrind).
        let result = match span.is_disabled() {
            true => super::usage::until_cancelled(self.name(), std::pin::pin!(call())).await,
            false => {
                let call = std::pin::pin!(call().instrument(span.clone()));
                super::usage::until_cancelled(self.name(), call).await
            }
        };
        if let Some(started) = started {
            self.inner.usage.record_call(&result, started.elapsed());
        }
        if !span.is_disabled() {
            let outcome = result.as_ref().map_or_else(CallError::kind, |_| "ok");
            span.record("outcome", outcome);
        }
        result
    }

    async fn run_hook(
        &self,
        kind: &HookKind,
        payload: &Value,
        context: &CallContext,
    ) -> Result<HookOutcome, CallError> {
        let payload = self.encode_input("payload", payload)?;
        let limits = &self.inner.limits;
        let mut lease = self.checkout(Purpose::Call).await?;
        let result = lease
            .instance
            .handle_hook(limits, &kind.to_wit(), &payload, context)
            .await;
        self.checkin(lease, &result, Purpose::Call);
        Ok(match result? {
            hooks::HookOutcome::Pass => HookOutcome::Pass,
            hooks::HookOutcome::Veto(reason) => HookOutcome::Veto(reason),
            hooks::HookOutcome::Replace(text) => HookOutcome::Replace(
                validate::parse_off_worker(text, |text| serde_json::from_str(&text))
                    .await
                    .map_err(|e| CallError::Protocol {
                        plugin: self.name().to_string(),
                        reason: format!(
                            "hook `{kind}` replaced the payload with invalid JSON: {e}"
                        ),
                    })?,
            ),
        })
    }

    /// Polls the plugin's health on an instance. Upkeep, not a call: it does not count
    /// toward the failure streak, and a failing plugin answers [`CallError::Failing`]
    /// without using up its half-open trial.
    pub async fn health(&self) -> Result<Health, CallError> {
        let mut lease = self.checkout(Purpose::Upkeep).await?;
        let result = lease.instance.health(&self.inner.limits).await;
        self.checkin(lease, &result, Purpose::Upkeep);
        Ok(Health::from_wit(result?))
    }

    /// Hot swap, step 1: the state an instance wants carried over.
    pub async fn capture_state(&self) -> Result<Option<Vec<u8>>, CallError> {
        let mut lease = self.checkout(Purpose::Upkeep).await?;
        let result = lease.instance.capture_state(&self.inner.limits).await;
        self.checkin(lease, &result, Purpose::Upkeep);
        result
    }

    /// Hands captured state to one instance of this plugin (the next call's, when the
    /// pool holds one idle). For a whole new version, load it with
    /// [`LoadOptions::state`] instead: every instance then starts from that state. Under
    /// [`Isolation::Fresh`] there is no instance to keep it, so once an instance accepts
    /// the state it becomes the seed every later call's instance starts from.
    pub async fn restore_state(&self, state: &[u8]) -> Result<(), CallError> {
        let mut lease = self.checkout(Purpose::Upkeep).await?;
        let result = lease
            .instance
            .restore_state(&self.inner.limits, state)
            .await;
        self.checkin(lease, &result, Purpose::Upkeep);
        if result.is_ok() && self.inner.isolation == Isolation::Fresh {
            *self.inner.seed.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::from(state));
        }
        result
    }

    pub(super) fn encode_input(
        &self,
        what: &'static str,
        value: &Value,
    ) -> Result<String, CallError> {
        let text = serde_json::to_string(value).expect("a JSON value serialises");
        self.check_size(what, text.len())?;
        Ok(text)
    }

    pub(super) fn check_size(&self, what: &'static str, size: usize) -> Result<(), CallError> {
        let limit = self.inner.limits.input_bytes;
        match size > limit {
            true => Err(CallError::InputTooLarge {
                plugin: self.name().to_string(),
                what,
                size,
                limit,
            }),
            false => Ok(()),
        }
    }
}
