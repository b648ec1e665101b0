//! `phasey`: a domain plugin (`orchestrator:domain/domain-plugin`, WIT in
//! `examples/systems/orchestrator/wit/`) that does what its test tells it, to drive the host's
//! phase runner through every failure.
//!
//! - Its phase list is the session's `phasey/phases` value (a JSON array of the WIT's
//!   `phase` records, kebab-case fields) when the test set one, else [`default_phases`].
//! - Each phase's behaviour comes from the run input:
//!   `{"tag": "A", "behaviour": {"<phase>": {"sleep_ms": 50, "fail_times": 1, "fail": true,
//!   "retryable": true}}}` — sleep first, fail the first `fail_times` attempts (or every one
//!   with `fail`), with a retryable error unless `retryable` is false.
//! - A phase's output names the phase, the attempt, the run's tag, and the tag each earlier
//!   phase left in the session (read back through the session context), so the tests can
//!   see what crossed between phases and sessions.

wit_bindgen::generate!({
    path: "../../../examples/systems/orchestrator/wit",
    world: "domain",
    generate_all,
});

use std::collections::BTreeMap;

use exports::orchestrator::domain::domain_plugin::{Guest, Phase, PhaseError, RunContext};
use serde::Deserialize;
use serde_json::{Value, json};

/// A phase record as the test writes it into the session.
#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct PhaseJson {
    name: String,
    #[serde(default)]
    description: String,
    order: u32,
    timeout: u64,
    required: bool,
    retryable: bool,
    max_retries: u32,
}

/// What one phase does in a run.
#[derive(Deserialize, Default)]
struct Behaviour {
    #[serde(default)]
    sleep_ms: u64,
    #[serde(default)]
    fail_times: u32,
    #[serde(default)]
    fail: bool,
    retryable: Option<bool>,
}

#[derive(Deserialize, Default)]
struct Input {
    #[serde(default)]
    tag: String,
    #[serde(default)]
    behaviour: BTreeMap<String, Behaviour>,
}

/// Four phases, listed out of order: `prepare` (1), `flaky` (2, retried twice), `extra`
/// (3, optional) and `finish` (4); each may take 500 ms.
fn default_phases() -> Vec<Phase> {
    let phase = |name: &str, order, required, max_retries| Phase {
        name: name.into(),
        description: format!("the fixture's `{name}` phase"),
        order,
        timeout: 500,
        required,
        retryable: max_retries > 0,
        max_retries,
    };
    vec![
        phase("finish", 4, true, 0),
        phase("extra", 3, false, 0),
        phase("prepare", 1, true, 0),
        phase("flaky", 2, true, 2),
    ]
}

struct Phasey;

impl Guest for Phasey {
    fn phases() -> Vec<Phase> {
        let Some(text) = airlock::plugin::context::get("phasey/phases") else {
            return default_phases();
        };
        let listed: Vec<PhaseJson> =
            serde_json::from_str(&text).expect("phasey/phases is a list of phases");
        listed
            .into_iter()
            .map(|p| Phase {
                name: p.name,
                description: p.description,
                order: p.order,
                timeout: p.timeout,
                required: p.required,
                retryable: p.retryable,
                max_retries: p.max_retries,
            })
            .collect()
    }

    fn execute(phase: String, input: String, context: RunContext) -> Result<String, PhaseError> {
        let mut input: Input = serde_json::from_str(&input).map_err(|e| PhaseError {
            code: 1,
            message: format!("the input is not phasey's: {e}"),
            retryable: false,
        })?;
        let todo = input.behaviour.remove(&phase).unwrap_or_default();
        if todo.sleep_ms > 0 {
            std::thread::sleep(std::time::Duration::from_millis(todo.sleep_ms));
        }
        if todo.fail || context.attempt <= todo.fail_times {
            return Err(PhaseError {
                code: 7,
                message: format!("`{phase}` failed on attempt {}", context.attempt),
                retryable: todo.retryable.unwrap_or(true),
            });
        }
        let seen: BTreeMap<&str, Value> = context
            .completed
            .iter()
            .map(|earlier| {
                let key = format!("phase/{}/{earlier}", context.domain);
                let output = airlock::plugin::context::get(&key)
                    .and_then(|text| serde_json::from_str::<Value>(&text).ok());
                (
                    earlier.as_str(),
                    output.map_or(Value::Null, |o| o["tag"].clone()),
                )
            })
            .collect();
        let output =
            json!({"phase": phase, "attempt": context.attempt, "tag": input.tag, "seen": seen});
        Ok(output.to_string())
    }
}

export!(Phasey);
