//! The orchestrator's domain plugins on Airlock: a plugin of the
//! `orchestrator:domain/domain-plugin@0.1.0` contract ([`CONTRACT`], WIT in
//! `examples/systems/orchestrator/wit/`) serves the domains its manifest names
//! (`domains = ["docs"]`, the manifest's routing keys) and declares its phases; a
//! [`PhaseRunner`] runs one domain's phases for one session:
//!
//! - in `order` (ties by name), each attempt under its own timeout, never above the plugin's
//!   deadline nor [`RunLimits::max_timeout`];
//! - a failed attempt of a retryable phase is tried again after an exponential backoff
//!   ([`RunLimits::backoff_base`] doubling up to [`RunLimits::backoff_cap`]), at most
//!   `max-retries` times (capped by [`RunLimits::max_retries`]);
//! - a required phase that fails stops the run (the phases after it are skipped); an
//!   optional one is recorded and the run goes on;
//! - each phase's output (JSON) is written into the session context under
//!   [`output_key`]`(domain, phase)`, where later phases read it through
//!   `airlock:plugin/context` (the orchestrator's `GetPreviousPhaseOutput`); the outputs a
//!   previous run of the domain left in the session are removed first.
//!
//! The [`RunReport`] is the orchestrator's `SharedData`: every phase's output, failures,
//! attempts and timings. The phase list is the plugin's, so it is hostile input: its
//! count, names and descriptions are refused past [`RunLimits`] with the reason, its
//! timeouts and retries are capped (and the report's `notes` say so).

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use airlock::{CallContext, CallError};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::registry::Registry;

/// The contract a domain plugin declares (`[plugin] contract`).
pub const CONTRACT: &str = "orchestrator:domain/domain-plugin@0.1.0";

/// Where the output of `phase` in a run of `domain` lives in the run's session context:
/// `phase/<domain>/<phase>` (JSON).
pub fn output_key(domain: &str, phase: &str) -> String {
    format!("phase/{domain}/{phase}")
}

/// What a runner accepts of a plugin's phase list, and how it retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunLimits {
    /// Most phases a plugin may declare (more is refused). Default 32.
    pub max_phases: usize,
    /// Longest phase name, in bytes (longer is refused). Default 64.
    pub max_name_bytes: usize,
    /// Longest phase description, in bytes (longer is refused). Default 1 KiB.
    pub max_description_bytes: usize,
    /// Longest time one attempt may take, whatever the phase asks (capped, noted).
    /// Default 10 minutes; the plugin's own deadline caps it too.
    pub max_timeout: Duration,
    /// Most retries of one phase, whatever the phase asks (capped, noted). Default 5.
    pub max_retries: u32,
    /// Wait before the first retry; each further retry waits twice as long. Default 50 ms.
    pub backoff_base: Duration,
    /// Longest wait between two attempts. Default 2 s.
    pub backoff_cap: Duration,
}

impl Default for RunLimits {
    fn default() -> Self {
        RunLimits {
            max_phases: 32,
            max_name_bytes: 64,
            max_description_bytes: 1024,
            max_timeout: Duration::from_secs(600),
            max_retries: 5,
            backoff_base: Duration::from_millis(50),
            backoff_cap: Duration::from_secs(2),
        }
    }
}

impl RunLimits {
    /// The wait before retry number `retry` (1 for the first): `backoff_base · 2^(retry-1)`,
    /// at most `backoff_cap`.
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = 1u32 << retry.saturating_sub(1).min(20);
        self.backoff_base
            .saturating_mul(factor)
            .min(self.backoff_cap)
    }
}

/// One phase as the runner runs it: the plugin's declaration with its timeout and retries
/// capped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phase {
    /// Unique within the plugin; letters, digits and `- _ .`.
    pub name: String,
    /// One line for people (at most [`RunLimits::max_description_bytes`]).
    pub description: String,
    /// Phases run in increasing order (ties by name).
    pub order: u32,
    /// Wall-clock time one attempt may take (after the caps).
    pub timeout: Duration,
    /// Whether its failure ends the run.
    pub required: bool,
    /// Whether a failed attempt is tried again.
    pub retryable: bool,
    /// Retries after the first attempt (after the cap; 0 when not `retryable`).
    pub max_retries: u32,
}

/// A phase record as the plugin answers it (the WIT's `phase`).
#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct Declared {
    name: String,
    description: String,
    order: u32,
    /// Milliseconds.
    timeout: u64,
    required: bool,
    retryable: bool,
    max_retries: u32,
}

/// Why a run could not start. (A phase's failure is not one: it is in the [`RunReport`].)
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The call context has no session id.
    #[error(
        "a phase run needs a session: its outputs live in the session context (give the call \
         context a session id)"
    )]
    NoSession,
    /// No enabled plugin of the tenant provides [`CONTRACT`] for the domain.
    #[error(
        "no plugin enabled for tenant `{tenant}` serves domain `{domain}` (a plugin whose \
         manifest has contract = \"{CONTRACT}\" and `{domain}` in its `domains`)"
    )]
    NoProvider { tenant: String, domain: String },
    /// The plugin's `phases` call failed.
    #[error("asking plugin `{plugin}` for its phases failed: {source}")]
    Phases { plugin: String, source: CallError },
    /// The plugin's phase list breaks a [`RunLimits`] rule (`problem` names it).
    #[error("plugin `{plugin}` declares phases the runner refuses: {problem}")]
    BadPhases { plugin: String, problem: String },
}

/// Why one attempt of a phase failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Failure {
    /// The call failed: a typed error (the phase's timeout is
    /// [`CallError::DeadlineExceeded`]; the plugin's `phase-error` is
    /// [`CallError::Plugin`] with its `code` and `message`, and the whole record as
    /// `details`).
    #[error("{0}")]
    Call(CallError),
    /// The phase answered, but its output is not JSON or the session refused it (a size
    /// cap).
    #[error("its output {0}")]
    Output(String),
}

impl Failure {
    /// The typed call error, when the call failed.
    pub fn call_error(&self) -> Option<&CallError> {
        match self {
            Failure::Call(error) => Some(error),
            Failure::Output(_) => None,
        }
    }

    /// `{kind, message}` (`kind`: a call error's kind, or `output`), plus `code` for a
    /// plugin's error.
    pub fn to_json(&self) -> Value {
        match self {
            Failure::Call(CallError::Plugin { code, message, .. }) => {
                json!({"kind": "plugin", "code": code, "message": message})
            }
            Failure::Call(error) => json!({"kind": error.kind(), "message": error.to_string()}),
            Failure::Output(_) => json!({"kind": "output", "message": self.to_string()}),
        }
    }

    /// Whether trying again may help: a plugin's error that says so (its `retryable`
    /// field), a timeout, a trap or a limit hit; never bad output, bad arguments, a
    /// failing or cancelled plugin.
    fn transient(&self) -> bool {
        let Failure::Call(error) = self else {
            return false;
        };
        match error {
            CallError::Plugin { details, .. } => details
                .as_ref()
                .and_then(|d| d.get("retryable"))
                .and_then(Value::as_bool)
                .unwrap_or(false),
            CallError::DeadlineExceeded { .. }
            | CallError::FuelExhausted { .. }
            | CallError::MemoryLimit { .. }
            | CallError::TableLimit { .. }
            | CallError::HandleLimit { .. }
            | CallError::Trap { .. } => true,
            _ => false,
        }
    }
}

/// One attempt of a phase.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// 1 for the first attempt, 2 for the first retry…
    pub number: u32,
    /// How long the call took (the backoff before it not included).
    pub duration: Duration,
    /// Why it failed; `None` when it succeeded.
    pub failure: Option<Failure>,
}

/// How a phase ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// An attempt answered, and its output is in the session.
    Succeeded,
    /// Every attempt failed (the last [`Attempt::failure`] says why).
    Failed,
    /// Not run: a required phase before it failed.
    Skipped,
}

impl Outcome {
    /// `succeeded`, `failed` or `skipped`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::Skipped => "skipped",
        }
    }
}

/// One phase of a run.
#[derive(Debug, Clone)]
pub struct PhaseResult {
    /// The phase as it ran (its timeout and retries capped).
    pub phase: Phase,
    /// How it ended.
    pub outcome: Outcome,
    /// Its output, when it succeeded (also in the session under [`output_key`]).
    pub output: Option<Value>,
    /// Every attempt, in order (empty when skipped).
    pub attempts: Vec<Attempt>,
    /// From the first attempt's start to the last one's end, backoffs included.
    pub duration: Duration,
}

impl PhaseResult {
    /// Why it failed: its last attempt's failure.
    pub fn failure(&self) -> Option<&Failure> {
        match self.outcome {
            Outcome::Failed => self.attempts.last().and_then(|a| a.failure.as_ref()),
            _ => None,
        }
    }
}

/// A run's results: the orchestrator's `SharedData` (outputs by phase, errors, metrics).
#[derive(Debug, Clone)]
pub struct RunReport {
    /// The plugin that ran it.
    pub plugin: String,
    /// The domain run.
    pub domain: String,
    /// The session its outputs live in.
    pub session: String,
    /// Every phase in run order, skipped ones included.
    pub phases: Vec<PhaseResult>,
    /// Where the runner capped what a phase asked (a timeout, retries).
    pub notes: Vec<String>,
    /// The whole run's wall-clock time.
    pub duration: Duration,
}

impl RunReport {
    /// True when no required phase failed (optional ones may have).
    pub fn succeeded(&self) -> bool {
        !self
            .phases
            .iter()
            .any(|p| p.phase.required && p.outcome != Outcome::Succeeded)
    }

    /// The phase named `name`.
    pub fn phase(&self, name: &str) -> Option<&PhaseResult> {
        self.phases.iter().find(|p| p.phase.name == name)
    }

    /// Every succeeded phase's output, by phase name.
    pub fn outputs(&self) -> BTreeMap<&str, &Value> {
        self.phases
            .iter()
            .filter_map(|p| Some((p.phase.name.as_str(), p.output.as_ref()?)))
            .collect()
    }

    /// Every failed phase with why, in run order.
    pub fn errors(&self) -> Vec<(&str, &Failure)> {
        self.phases
            .iter()
            .filter_map(|p| Some((p.phase.name.as_str(), p.failure()?)))
            .collect()
    }

    /// The report as JSON, for a front end or a log: `{plugin, domain, session, succeeded,
    /// stopped_at, duration_ms, notes, phases: [{name, order, required, outcome,
    /// timeout_ms, duration_ms, output, attempts: [{number, duration_ms, error}]}]}`; an
    /// error is `{kind, message}` plus the plugin's `code` for a plugin error. Times are
    /// milliseconds (fractional).
    pub fn to_json(&self) -> Value {
        let millis = |d: Duration| d.as_secs_f64() * 1e3;
        let phases: Vec<Value> = self
            .phases
            .iter()
            .map(|p| {
                let attempts: Vec<Value> = p
                    .attempts
                    .iter()
                    .map(|a| {
                        json!({
                            "number": a.number,
                            "duration_ms": millis(a.duration),
                            "error": a.failure.as_ref().map(Failure::to_json),
                        })
                    })
                    .collect();
                json!({
                    "name": p.phase.name,
                    "order": p.phase.order,
                    "required": p.phase.required,
                    "outcome": p.outcome.as_str(),
                    "timeout_ms": millis(p.phase.timeout),
                    "duration_ms": millis(p.duration),
                    "output": p.output,
                    "attempts": attempts,
                })
            })
            .collect();
        json!({
            "plugin": self.plugin,
            "domain": self.domain,
            "session": self.session,
            "succeeded": self.succeeded(),
            "stopped_at": self.stopped_at(),
            "duration_ms": millis(self.duration),
            "notes": self.notes,
            "phases": phases,
        })
    }

    /// The required phase that stopped the run, if one did.
    pub fn stopped_at(&self) -> Option<&str> {
        self.phases
            .iter()
            .find(|p| p.phase.required && p.outcome == Outcome::Failed)
            .map(|p| p.phase.name.as_str())
    }
}

/// Runs domains' phases through a registry (see the module docs).
pub struct PhaseRunner<'r> {
    registry: &'r Registry,
    limits: RunLimits,
}

impl<'r> PhaseRunner<'r> {
    /// A runner over `registry` with the default [`RunLimits`].
    pub fn new(registry: &'r Registry) -> Self {
        PhaseRunner {
            registry,
            limits: RunLimits::default(),
        }
    }

    /// This runner with other limits.
    pub fn with_limits(mut self, limits: RunLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The name of the plugin serving `domain` for `tenant`: the first by name of
    /// `registry.providers(tenant, CONTRACT, Some(domain))`.
    ///
    /// # Errors
    /// [`RunError::NoProvider`] when none is enabled.
    pub fn provider(&self, tenant: &str, domain: &str) -> Result<String, RunError> {
        let found = self.registry.providers(tenant, CONTRACT, Some(domain));
        found
            .first()
            .map(|p| p.name().to_string())
            .ok_or_else(|| RunError::NoProvider {
                tenant: tenant.into(),
                domain: domain.into(),
            })
    }

    /// The phases `plugin` declares, checked and capped, in run order; and a note for each
    /// cap applied.
    ///
    /// # Errors
    /// [`RunError::Phases`] when the call fails, [`RunError::BadPhases`] when the list breaks
    /// a [`RunLimits`] rule (named).
    pub async fn phases(
        &self,
        plugin: &str,
        context: &CallContext,
    ) -> Result<(Vec<Phase>, Vec<String>), RunError> {
        let answer = self
            .registry
            .call_tool(&format!("{plugin}.phases"), &json!({}), context)
            .await
            .map_err(|source| RunError::Phases {
                plugin: plugin.into(),
                source,
            })?;
        let bad = |problem: String| RunError::BadPhases {
            plugin: plugin.into(),
            problem,
        };
        // serde's message may quote the plugin's strings: escaped.
        let declared: Vec<Declared> = serde_json::from_value(answer).map_err(|e| {
            bad(format!(
                "not a phase list: {}",
                airlock::text::escape(&e.to_string())
            ))
        })?;
        let deadline = self
            .registry
            .plugin(&context.tenant, plugin)
            .map_or(self.limits.max_timeout, |p| p.limits().deadline);
        checked(declared, &self.limits, deadline).map_err(bad)
    }

    /// Runs `domain`'s phases for `input` (handed to every phase as JSON text) in
    /// `context`'s tenant and session, on the plugin [`provider`](Self::provider) finds.
    ///
    /// # Errors
    /// A [`RunError`] when the run cannot start; a phase's failure is in the report.
    pub async fn run(
        &self,
        domain: &str,
        input: &Value,
        context: &CallContext,
    ) -> Result<RunReport, RunError> {
        if context.session_id.is_empty() {
            return Err(RunError::NoSession);
        }
        let started = Instant::now();
        let plugin = self.provider(&context.tenant, domain)?;
        let (phases, notes) = self.phases(&plugin, context).await?;
        self.forget_outputs(domain, context);
        let run = Run {
            runner: self,
            plugin: &plugin,
            domain,
            input: input.to_string(),
            context,
        };
        let mut results: Vec<PhaseResult> = Vec::with_capacity(phases.len());
        let mut completed: Vec<String> = Vec::new();
        for phase in phases {
            let stopped = results
                .iter()
                .any(|r| r.phase.required && r.outcome == Outcome::Failed);
            let result = match stopped {
                true => skipped(phase),
                false => run.phase(phase, &completed).await,
            };
            if result.outcome == Outcome::Succeeded {
                completed.push(result.phase.name.clone());
            }
            results.push(result);
        }
        Ok(RunReport {
            plugin,
            domain: domain.into(),
            session: context.session_id.clone(),
            phases: results,
            notes,
            duration: started.elapsed(),
        })
    }

    /// Removes what an earlier run of `domain` left in the session, so no phase reads a
    /// stale output of a phase that failed or was skipped this time.
    fn forget_outputs(&self, domain: &str, context: &CallContext) {
        let sessions = self.registry.sessions();
        let (tenant, session) = (&context.tenant, &context.session_id);
        let prefix = output_key(domain, "");
        for key in sessions.keys(tenant, session) {
            if key.starts_with(&prefix) {
                sessions.delete(tenant, session, &key);
            }
        }
    }
}

/// One run in progress.
struct Run<'a, 'r> {
    runner: &'a PhaseRunner<'r>,
    plugin: &'a str,
    domain: &'a str,
    /// The run's input as JSON text.
    input: String,
    context: &'a CallContext,
}

impl Run<'_, '_> {
    /// Runs `phase` until an attempt succeeds or its retries are spent.
    async fn phase(&self, phase: Phase, completed: &[String]) -> PhaseResult {
        let started = Instant::now();
        let mut attempts = Vec::new();
        let mut output = None;
        for number in 1..=phase.max_retries + 1 {
            if number > 1 {
                tokio::time::sleep(self.runner.limits.backoff(number - 1)).await;
            }
            let began = Instant::now();
            let result = self.attempt(&phase, number, completed).await;
            tracing::debug!(
                plugin = self.plugin,
                phase = phase.name,
                attempt = number,
                ok = result.is_ok(),
                "phase attempt"
            );
            let failure = result.map(|value| output = Some(value)).err();
            let again = failure
                .as_ref()
                .is_some_and(|f| phase.retryable && f.transient());
            attempts.push(Attempt {
                number,
                duration: began.elapsed(),
                failure,
            });
            if !again {
                break;
            }
        }
        PhaseResult {
            outcome: match output {
                Some(_) => Outcome::Succeeded,
                None => Outcome::Failed,
            },
            phase,
            output,
            attempts,
            duration: started.elapsed(),
        }
    }

    /// One attempt: the call under the phase's timeout, then its output into the session.
    async fn attempt(
        &self,
        phase: &Phase,
        number: u32,
        completed: &[String],
    ) -> Result<Value, Failure> {
        let arguments = json!({
            "phase": phase.name,
            "input": self.input,
            "context": {
                "domain": self.domain,
                "session": self.context.session_id,
                "attempt": number,
                "completed": completed,
            },
        });
        let tool = format!("{}.execute", self.plugin);
        let call = self
            .runner
            .registry
            .call_tool(&tool, &arguments, self.context);
        // Dropping the call at the timeout stops the guest and discards its instance, as a
        // cancellation does; the caller sees the typed deadline error.
        let answer = match tokio::time::timeout(phase.timeout, call).await {
            Ok(answer) => answer.map_err(Failure::Call)?,
            Err(_) => {
                return Err(Failure::Call(CallError::DeadlineExceeded {
                    plugin: self.plugin.into(),
                    deadline: phase.timeout,
                }));
            }
        };
        let text = answer
            .as_str()
            .ok_or_else(|| Failure::Output("is not text".into()))?;
        let value: Value =
            serde_json::from_str(text).map_err(|e| Failure::Output(format!("is not JSON: {e}")))?;
        self.runner
            .registry
            .sessions()
            .set(
                &self.context.tenant,
                &self.context.session_id,
                &output_key(self.domain, &phase.name),
                &value,
            )
            .map_err(|e| Failure::Output(format!("could not be kept in the session: {e}")))?;
        Ok(value)
    }
}

fn skipped(phase: Phase) -> PhaseResult {
    PhaseResult {
        phase,
        outcome: Outcome::Skipped,
        output: None,
        attempts: Vec::new(),
        duration: Duration::ZERO,
    }
}

/// The declared phases checked against `limits`, capped (timeouts also at the plugin's
/// `deadline`) and sorted into run order, with a note per cap applied.
fn checked(
    declared: Vec<Declared>,
    limits: &RunLimits,
    deadline: Duration,
) -> Result<(Vec<Phase>, Vec<String>), String> {
    if declared.is_empty() {
        return Err("it declares no phases".into());
    }
    if declared.len() > limits.max_phases {
        return Err(format!(
            "{} phases, over the cap of {}",
            declared.len(),
            limits.max_phases
        ));
    }
    let mut names = HashSet::new();
    let mut notes = Vec::new();
    let mut phases = Vec::with_capacity(declared.len());
    for d in declared {
        check_name(&d.name, limits)?;
        if !names.insert(d.name.clone()) {
            return Err(format!("two phases are named `{}`", d.name));
        }
        if d.description.len() > limits.max_description_bytes {
            return Err(format!(
                "the description of `{}` is {} bytes, over the cap of {}",
                d.name,
                d.description.len(),
                limits.max_description_bytes
            ));
        }
        phases.push(capped(d, limits, deadline, &mut notes)?);
    }
    phases.sort_by(|a, b| (a.order, &a.name).cmp(&(b.order, &b.name)));
    Ok((phases, notes))
}

fn check_name(name: &str, limits: &RunLimits) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= limits.max_name_bytes
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    match valid {
        true => Ok(()),
        false => Err(format!(
            "`{}` is not a phase name: 1 to {} letters, digits and `- _ .`",
            airlock::text::escape(&name[..name.floor_char_boundary(limits.max_name_bytes)]),
            limits.max_name_bytes
        )),
    }
}

/// `d` with its timeout capped at `limits.max_timeout` and `deadline`, its retries at
/// `limits.max_retries` (0 when not retryable); a note for each cap applied.
fn capped(
    d: Declared,
    limits: &RunLimits,
    deadline: Duration,
    notes: &mut Vec<String>,
) -> Result<Phase, String> {
    if d.timeout == 0 {
        return Err(format!(
            "`{}` has a timeout of 0 ms: give the time one attempt may take",
            d.name
        ));
    }
    let asked = Duration::from_millis(d.timeout);
    let ceiling = limits.max_timeout.min(deadline);
    if asked > ceiling {
        notes.push(format!(
            "phase `{}` asks a timeout of {} ms; capped at {} ms (the runner's cap or the \
             plugin's deadline)",
            d.name,
            d.timeout,
            ceiling.as_millis()
        ));
    }
    let retries = match d.retryable {
        true => d.max_retries.min(limits.max_retries),
        false => 0,
    };
    if d.retryable && d.max_retries > limits.max_retries {
        notes.push(format!(
            "phase `{}` asks {} retries; capped at {}",
            d.name, d.max_retries, limits.max_retries
        ));
    }
    Ok(Phase {
        name: d.name,
        description: d.description,
        order: d.order,
        timeout: asked.min(ceiling),
        required: d.required,
        retryable: d.retryable,
        max_retries: retries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_base_up_to_the_cap() {
        let limits = RunLimits::default();
        let waits: Vec<u128> = (1..=8).map(|r| limits.backoff(r).as_millis()).collect();
        assert_eq!(waits, [50, 100, 200, 400, 800, 1600, 2000, 2000]);
        assert_eq!(limits.backoff(u32::MAX), limits.backoff_cap);
    }
}
