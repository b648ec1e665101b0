//! Tool argument validation: each tool's JSON Schema is compiled once at load, and every
//! call's arguments are checked before any guest code runs, reporting every violation.

use serde_json::Value;

pub(crate) struct ArgumentSchema {
    validator: jsonschema::Validator,
}

impl ArgumentSchema {
    pub(crate) fn compile(schema: &Value) -> Result<Self, String> {
        let validator = jsonschema::validator_for(schema).map_err(|e| e.to_string())?;
        Ok(ArgumentSchema { validator })
    }

    /// Every problem with `arguments`, each naming where it is (`/path: message`); none
    /// when they are valid. Valid arguments (nearly every call) take the validator's fast
    /// yes/no path; the itemised walk runs only to explain a failure.
    pub(crate) fn problems(&self, arguments: &Value) -> Vec<String> {
        if self.validator.is_valid(arguments) {
            return Vec::new();
        }
        self.validator
            .iter_errors(arguments)
            .map(|e| {
                let at = e.instance_path().to_string();
                match at.is_empty() {
                    true => e.to_string(),
                    false => format!("{at}: {e}"),
                }
            })
            .collect()
    }
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
