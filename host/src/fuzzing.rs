//! Entry points for the fuzz targets (`tests/fuzz`, see FUZZING.md): checks that run on
//! plugin-supplied input but are otherwise internal to the crate, reachable here exactly as
//! the loader runs them. Not a stable API: hidden from the docs, for the fuzzers only.

use serde_json::Value;

use crate::LoadError;
use crate::schema::ArgumentSchema;

/// A plugin tool's `input_schema`, compiled as loading the plugin compiles it.
pub struct ToolSchema(ArgumentSchema);

impl ToolSchema {
    /// Compiles `schema` (any JSON value a plugin hands over). `Err` is the reason a load
    /// would be refused with (`LoadError::BadToolSchema`).
    pub fn compile(schema: &Value) -> Result<ToolSchema, String> {
        ArgumentSchema::compile(schema).map(ToolSchema)
    }

    /// Every problem with `arguments`, each `/path: message` (or just the message at the
    /// root); empty when they are valid. What a tool call is refused with.
    pub fn problems(&self, arguments: &Value) -> Vec<String> {
        self.0.problems(arguments)
    }
}

/// `config` checked against the `[config]` `schema` of plugin `plugin` as enabling it does:
/// the schema's defaults filled in, then validated. `Err` is `LoadError::BadConfig` listing
/// every problem.
pub fn check_config(plugin: &str, schema: &Value, config: &Value) -> Result<Value, LoadError> {
    crate::folder::check_config(plugin, Some(schema), config)
}
