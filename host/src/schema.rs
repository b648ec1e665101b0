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

    /// Every problem with `arguments`, each naming where it is (`/path: message`).
    pub(crate) fn problems(&self, arguments: &Value) -> Vec<String> {
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
