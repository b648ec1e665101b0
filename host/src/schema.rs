//! Tool argument validation: each tool's JSON Schema is checked against the caps in
//! [`bounds`] and compiled once at load, and every call's arguments are checked before any
//! guest code runs, reporting every violation.
//!
//! Validation costs about (expanded schema size) × (argument size); calls whose product is
//! small run inline, larger ones run on a blocking thread under the call's deadline (see
//! [`ArgumentSchema::is_cheap_for`]), so a costly schema never holds up an async worker.

pub(crate) mod bounds;

use jsonschema::PatternOptions;
use serde_json::Value;

/// Most (expanded schema values × argument bytes) validated inline on an async worker:
/// well under a millisecond of work. Anything more runs on a blocking thread.
const INLINE_WORK: usize = 1 << 20;
/// Most problems listed for one call's arguments (a million bad array items would
/// otherwise make a million messages).
const MAX_PROBLEMS: usize = 20;
/// Longest problem message; messages quote the offending value, which may be huge.
const PROBLEM_BYTES: usize = 512;
/// Most bytes a compiled `pattern` regex may take (the `regex` engine's own cap).
const PATTERN_BYTES: usize = 1 << 20;

pub(crate) struct ArgumentSchema {
    validator: jsonschema::Validator,
    /// JSON values in the schema with every `$ref` expanded (see [`bounds`]).
    expanded: usize,
}

impl ArgumentSchema {
    /// Checks the schema against the caps in [`bounds`] and compiles it: offline (no
    /// reference is fetched), with `pattern`s on the linear-time `regex` engine (no
    /// backtracking, so no pattern can take exponential time). Errors name the problem.
    pub(crate) fn compile(schema: &Value) -> Result<Self, String> {
        let expanded = bounds::check(schema)?;
        let patterns = PatternOptions::regex()
            .size_limit(PATTERN_BYTES)
            .dfa_size_limit(PATTERN_BYTES);
        let validator = jsonschema::options()
            .offline()
            .with_pattern_options(patterns)
            .build(schema)
            .map_err(|e| e.to_string())?;
        Ok(ArgumentSchema {
            validator,
            expanded,
        })
    }

    /// True when validating `argument_bytes` of JSON against this schema is cheap enough
    /// to run inline on an async worker.
    pub(crate) fn is_cheap_for(&self, argument_bytes: usize) -> bool {
        self.expanded.saturating_mul(argument_bytes.max(1)) <= INLINE_WORK
    }

    /// Every problem with `arguments`, each naming where it is (`/path: message`); none
    /// when they are valid. Valid arguments (nearly every call) take the validator's fast
    /// yes/no path; the itemised walk runs only to explain a failure.
    pub(crate) fn problems(&self, arguments: &Value) -> Vec<String> {
        if self.validator.is_valid(arguments) {
            return Vec::new();
        }
        let mut problems: Vec<String> = self
            .validator
            .iter_errors(arguments)
            .take(MAX_PROBLEMS + 1)
            .map(|e| {
                let at = e.instance_path().to_string();
                let problem = match at.is_empty() {
                    true => e.to_string(),
                    false => format!("{at}: {e}"),
                };
                cut(problem, PROBLEM_BYTES)
            })
            .collect();
        if problems.len() > MAX_PROBLEMS {
            problems.truncate(MAX_PROBLEMS);
            problems.push(format!(
                "(more problems; the first {MAX_PROBLEMS} are listed)"
            ));
        }
        problems
    }
}

/// `text` cut to at most `max` bytes (on a character boundary), marked `…` when cut.
pub(crate) fn cut(mut text: String, max: usize) -> String {
    if text.len() > max {
        let end = text.floor_char_boundary(max);
        text.truncate(end);
        text.push('…');
    }
    text
}

/// Fills in, recursively, every `default` the schema's `properties` give for a key the
/// value lacks. Only plain object schemas are walked (no `$ref`, no combinators): a default
/// the walk cannot place is left to the plugin.
pub(crate) fn fill_defaults(schema: &Value, value: &mut Value) {
    let (Some(properties), Some(object)) = (
        schema.get("properties").and_then(Value::as_object),
        value.as_object_mut(),
    ) else {
        return;
    };
    for (key, property) in properties {
        match object.get_mut(key) {
            Some(present) => fill_defaults(property, present),
            None => {
                if let Some(default) = property.get("default") {
                    object.insert(key.clone(), default.clone());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_fill_missing_keys_at_every_depth_and_keep_given_ones() {
        let schema = json!({
            "type": "object",
            "properties": {
                "mode": {"type": "string", "default": "fast"},
                "retries": {"type": "integer", "default": 3},
                "nested": {"type": "object", "properties": {"depth": {"default": 2}}}
            }
        });
        let mut config = json!({"retries": 7, "nested": {}});
        fill_defaults(&schema, &mut config);
        assert_eq!(
            config,
            json!({"mode": "fast", "retries": 7, "nested": {"depth": 2}})
        );
    }
}
