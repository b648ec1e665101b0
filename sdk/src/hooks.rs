//! [`Hooks`]: the typed hook-handler registry, and the values a handler returns.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{CallContext, PluginError};

/// The events a plugin can subscribe to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HookKind {
    BeforeAgentRun,
    AfterAgentRun,
    BeforeToolCall,
    AfterToolCall,
    OnError,
    OnReasoningStep,
    /// A host-defined event, by name.
    Custom(String),
}

/// What a hook handler decided.
#[derive(Debug, Clone, PartialEq)]
pub enum HookOutcome<T = serde_json::Value> {
    /// Leave the payload as it is.
    Pass,
    /// Continue with this payload instead.
    Replace(T),
    /// Stop the pipeline, with the reason.
    Veto(String),
}

pub(crate) enum RawOutcome {
    Pass,
    Replace(String),
    Veto(String),
}

type Handler<P> = Box<dyn Fn(&mut P, &str, &CallContext) -> Result<RawOutcome, PluginError>>;

/// The hook handlers of a plugin of type `P`. Filled in by
/// [`Plugin::hooks`](crate::Plugin::hooks).
pub struct Hooks<P> {
    pub(crate) handlers: Vec<(HookKind, Handler<P>)>,
}

impl<P> Hooks<P> {
    pub(crate) fn new() -> Self {
        Hooks {
            handlers: Vec::new(),
        }
    }

    /// Subscribes to `kind`. The payload is deserialised into `T` (use
    /// `serde_json::Value` to take any JSON); a `Replace` outcome is serialised back.
    pub fn on<T, F>(&mut self, kind: HookKind, handler: F) -> &mut Self
    where
        T: DeserializeOwned + Serialize,
        F: Fn(&mut P, T, &CallContext) -> Result<HookOutcome<T>, PluginError> + 'static,
    {
        let handler: Handler<P> = Box::new(move |plugin, payload, context| {
            let payload: T = serde_json::from_str(payload)
                .map_err(|e| PluginError::invalid_input(format!("invalid payload: {e}")))?;
            Ok(match handler(plugin, payload, context)? {
                HookOutcome::Pass => RawOutcome::Pass,
                HookOutcome::Veto(reason) => RawOutcome::Veto(reason),
                HookOutcome::Replace(new) => {
                    RawOutcome::Replace(serde_json::to_string(&new).map_err(|e| {
                        PluginError::internal(format!("payload not serialisable: {e}"))
                    })?)
                }
            })
        });
        self.handlers.push((kind, handler));
        self
    }

    pub(crate) fn kinds(&self) -> impl Iterator<Item = &HookKind> {
        self.handlers.iter().map(|(kind, _)| kind)
    }

    pub(crate) fn handle(
        &self,
        plugin: &mut P,
        kind: &HookKind,
        payload: &str,
        context: &CallContext,
    ) -> Result<RawOutcome, PluginError> {
        match self.handlers.iter().find(|(k, _)| k == kind) {
            Some((_, handler)) => handler(plugin, payload, context),
            // The host only sends subscribed kinds; anything else passes untouched.
            None => Ok(RawOutcome::Pass),
        }
    }
}
