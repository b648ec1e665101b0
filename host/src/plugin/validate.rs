//! Argument validation on the call path, bounded in time and kept off the async workers;
//! and the parsing of large results, kept off them too.
//!
//! The plugin decides its schemas, so it decides how much host work a call's validation
//! is. Load-time caps ([`crate::schema::bounds`]) keep that finite; here, validation that
//! is more than trivial (large schema × large arguments) runs — JSON parsing included — on a
//! blocking thread under the call's deadline, so a costly schema delays only its own calls,
//! never the async workers every other call needs. Each plugin runs at most one such
//! validation at a time: past the deadline the work cannot be stopped, so the semaphore
//! permit goes with it and is returned only when it truly ends.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Semaphore;

use crate::schema::ArgumentSchema;

/// What validating a call's arguments came to.
pub(crate) enum Verdict {
    /// The arguments are JSON the schema accepts.
    Valid,
    /// What is wrong with them (not JSON, or each schema violation).
    Problems(Vec<String>),
    /// Validation did not finish within the budget; nothing of the plugin ran.
    TimedOut,
}

/// Validation of one plugin's calls: the gate that lets one costly validation run at once.
pub(crate) struct Validation {
    gate: Arc<Semaphore>,
}

impl Validation {
    pub(crate) fn new() -> Self {
        Validation {
            gate: Arc::new(Semaphore::new(1)),
        }
    }

    /// Validates `text` (JSON arguments; `parsed` is the same value, when the caller has
    /// it) against `schema`, inline when cheap, else on a blocking thread within `budget`.
    pub(crate) async fn check(
        &self,
        schema: &Arc<ArgumentSchema>,
        text: &str,
        parsed: Option<&Value>,
        budget: Duration,
    ) -> Verdict {
        if schema.is_cheap_for(text.len()) {
            return match parsed {
                Some(value) => verdict(schema.problems(value)),
                None => parse_and_check(schema, text),
            };
        }
        let (schema, text) = (schema.clone(), text.to_owned());
        let gate = self.gate.clone();
        let work = async move {
            let permit = gate
                .acquire_owned()
                .await
                .expect("the gate is never closed");
            tokio::task::spawn_blocking(move || {
                let _held_until_done = permit;
                parse_and_check(&schema, &text)
            })
            .await
        };
        match tokio::time::timeout(budget, work).await {
            Ok(Ok(verdict)) => verdict,
            Ok(Err(panicked)) => Verdict::Problems(vec![format!(
                "the schema check failed unexpectedly: {panicked}"
            )]),
            Err(_) => Verdict::TimedOut,
        }
    }
}

/// Results up to this size are parsed inline: well under a millisecond.
const INLINE_PARSE_BYTES: usize = 64 << 10;

/// Runs `parse` on the plugin's `text` (at most `output_bytes`, at most 128 levels deep:
/// linear work), on a blocking thread when the text is large enough to hold up an async
/// worker for milliseconds.
pub(crate) async fn parse_off_worker<T, E>(
    text: String,
    parse: impl FnOnce(String) -> Result<T, E> + Send + 'static,
) -> Result<T, E>
where
    T: Send + 'static,
    E: Send + 'static,
{
    if text.len() <= INLINE_PARSE_BYTES {
        return parse(text);
    }
    match tokio::task::spawn_blocking(move || parse(text)).await {
        Ok(result) => result,
        Err(panicked) => std::panic::resume_unwind(panicked.into_panic()),
    }
}

fn parse_and_check(schema: &ArgumentSchema, text: &str) -> Verdict {
    match serde_json::from_str::<Value>(text) {
        Ok(value) => verdict(schema.problems(&value)),
        Err(e) => Verdict::Problems(vec![format!("the arguments are not JSON: {e}")]),
    }
}

fn verdict(problems: Vec<String>) -> Verdict {
    match problems.is_empty() {
        true => Verdict::Valid,
        false => Verdict::Problems(problems),
    }
}
