//! The hook pipeline: one event runs through every subscribed plugin in priority order
//! (then name), each receiving the payload the previous one returned. A veto stops the
//! chain. When a plugin fails (plugin error, trap, limit), the other plugins hear about it
//! through `on-error`, and the chain goes on (fail-open, the default) or stops
//! (fail-closed), as configured per hook kind. The result says who ran, what each decided,
//! and how long it took.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};

use crate::{CallContext, CallError, HookKind, HookOutcome, Plugin};

/// What a failing plugin does to the rest of the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Failure {
    /// Skip the failed plugin and go on with the payload as it was.
    Open,
    /// Stop the chain; the event is refused.
    Closed,
}

/// An ordered set of hook plugins.
#[derive(Clone, Default)]
pub struct Pipeline {
    stages: Vec<(i32, Plugin)>,
    fail_closed: HashSet<HookKind>,
}

/// What one plugin did with the event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum StepOutcome {
    Passed,
    Replaced,
    Vetoed { reason: String },
    Failed { kind: &'static str, message: String },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    pub plugin: String,
    #[serde(flatten)]
    pub outcome: StepOutcome,
    #[serde(with = "micros")]
    pub elapsed: Duration,
}

/// The end of the chain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dispatch {
    /// The payload after every plugin that ran.
    pub payload: Value,
    /// `(plugin, reason)` when a plugin vetoed.
    pub vetoed: Option<(String, String)>,
    /// The plugin whose failure stopped a fail-closed chain.
    pub stopped_by: Option<String>,
    pub steps: Vec<Step>,
}

impl Dispatch {
    /// True when the event may go ahead: nobody vetoed and no failure stopped the chain.
    pub fn allowed(&self) -> bool {
        self.vetoed.is_none() && self.stopped_by.is_none()
    }
}

impl Pipeline {
    pub fn new() -> Self {
        Pipeline::default()
    }

    /// Adds a plugin; lower priorities run first, ties by name.
    pub fn add(&mut self, plugin: Plugin, priority: i32) -> &mut Self {
        self.stages.push((priority, plugin));
        self.stages
            .sort_by(|(pa, a), (pb, b)| pa.cmp(pb).then_with(|| a.name().cmp(b.name())));
        self
    }

    /// Makes failures stop the chain for `kind` (the default is fail-open).
    pub fn fail_closed(&mut self, kind: HookKind) -> &mut Self {
        self.fail_closed.insert(kind);
        self
    }

    pub fn failure_mode(&self, kind: &HookKind) -> Failure {
        match self.fail_closed.contains(kind) {
            true => Failure::Closed,
            false => Failure::Open,
        }
    }

    /// Runs `payload` through every plugin subscribed to `kind`.
    pub async fn dispatch(
        &self,
        kind: &HookKind,
        payload: Value,
        context: &CallContext,
    ) -> Dispatch {
        self.dispatch_rerouted(kind, payload, context, &|_| None)
            .await
    }

    /// [`Pipeline::dispatch`], where a plugin that was shut down before its step started
    /// (a hot reload swapped it out) is replaced by what `successor` names, and the step
    /// runs there: nothing ran on the old one, so nothing runs twice.
    pub async fn dispatch_rerouted(
        &self,
        kind: &HookKind,
        payload: Value,
        context: &CallContext,
        successor: &(dyn Fn(&Plugin) -> Option<Plugin> + Sync),
    ) -> Dispatch {
        let mut result = Dispatch {
            payload,
            vetoed: None,
            stopped_by: None,
            steps: Vec::new(),
        };
        for (_, plugin) in self
            .stages
            .iter()
            .filter(|(_, p)| p.subscriptions().contains(kind))
        {
            let started = Instant::now();
            let mut plugin = plugin.clone();
            let outcome = loop {
                let outcome = plugin.handle_hook(kind, &result.payload, context).await;
                if matches!(outcome, Err(CallError::ShutDown { .. }))
                    && let Some(next) = successor(&plugin)
                {
                    plugin = next;
                    continue;
                }
                break outcome;
            };
            let plugin = &plugin;
            let step = |outcome| Step {
                plugin: plugin.name().to_string(),
                outcome,
                elapsed: started.elapsed(),
            };
            match outcome {
                Ok(HookOutcome::Pass) => result.steps.push(step(StepOutcome::Passed)),
                Ok(HookOutcome::Replace(payload)) => {
                    result.payload = payload;
                    result.steps.push(step(StepOutcome::Replaced));
                }
                Ok(HookOutcome::Veto(reason)) => {
                    result.steps.push(step(StepOutcome::Vetoed {
                        reason: reason.clone(),
                    }));
                    result.vetoed = Some((plugin.name().to_string(), reason));
                    break;
                }
                Err(error) => {
                    let failed = StepOutcome::Failed {
                        kind: error.kind(),
                        message: error.to_string(),
                    };
                    result.steps.push(step(failed));
                    self.report_failure(kind, plugin, &error, context).await;
                    if self.failure_mode(kind) == Failure::Closed {
                        result.stopped_by = Some(plugin.name().to_string());
                        break;
                    }
                }
            }
        }
        result
    }

    /// Tells every other plugin subscribed to `on-error` about a failure. Failures while
    /// reporting are logged, never reported again (no loops).
    async fn report_failure(
        &self,
        kind: &HookKind,
        failed: &Plugin,
        error: &CallError,
        context: &CallContext,
    ) {
        if *kind == HookKind::OnError {
            return;
        }
        let event = json!({
            "plugin": failed.name(),
            "hook": kind.to_string(),
            "error": {"kind": error.kind(), "message": error.to_string()},
        });
        let listeners = self
            .stages
            .iter()
            .map(|(_, p)| p)
            .filter(|p| !p.same_as(failed));
        for listener in listeners.filter(|p| p.subscriptions().contains(&HookKind::OnError)) {
            if let Err(e) = listener
                .handle_hook(&HookKind::OnError, &event, context)
                .await
            {
                tracing::warn!(plugin = %listener.name(), "on-error hook failed: {e}");
            }
        }
    }
}

mod micros {
    pub fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_micros() as u64)
    }
}
