//! The tool catalog: every tool of a set of plugins under one namespaced name,
//! `plugin.tool`. Plugin names cannot contain `.` and tool names cannot either, so names
//! never collide across plugins. Calls are routed by that name; arguments are validated
//! against the tool's schema before any guest code runs (by [`Plugin::call_tool`]).

use serde::Serialize;
use serde_json::Value;

use crate::{CallContext, CallError, Plugin, ToolDefinition};

/// One tool in the catalog. As JSON: `name` (`plugin.tool`), `plugin`, `tool` (the
/// plugin's own name for it), `description`, `input_schema`.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// `plugin.tool`
    pub name: String,
    pub plugin: String,
    pub definition: ToolDefinition,
}

impl Serialize for Entry {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut entry = s.serialize_struct("Entry", 5)?;
        entry.serialize_field("name", &self.name)?;
        entry.serialize_field("plugin", &self.plugin)?;
        entry.serialize_field("tool", &self.definition.name)?;
        entry.serialize_field("description", &self.definition.description)?;
        entry.serialize_field("input_schema", &self.definition.input_schema)?;
        entry.end()
    }
}

/// The tools of a set of plugins.
#[derive(Clone, Default)]
pub struct Catalog {
    plugins: Vec<Plugin>,
}

impl Catalog {
    pub fn new(plugins: impl IntoIterator<Item = Plugin>) -> Self {
        let mut plugins: Vec<Plugin> = plugins.into_iter().collect();
        plugins.sort_by(|a, b| a.name().cmp(b.name()));
        Catalog { plugins }
    }

    /// Every tool, sorted by namespaced name.
    pub fn entries(&self) -> Vec<Entry> {
        self.plugins
            .iter()
            .flat_map(|p| {
                p.tools().iter().map(|t| Entry {
                    name: format!("{}.{}", p.name(), t.name),
                    plugin: p.name().to_string(),
                    definition: t.clone(),
                })
            })
            .collect()
    }

    /// Calls `plugin.tool` with `arguments`.
    pub async fn call(
        &self,
        name: &str,
        arguments: &Value,
        context: &CallContext,
    ) -> Result<Value, CallError> {
        let unknown = || CallError::UnknownTool {
            plugin: name.split_once('.').map_or(name, |(p, _)| p).to_string(),
            tool: name.to_string(),
            available: self.entries().into_iter().map(|e| e.name).collect(),
        };
        let (plugin, tool) = name.split_once('.').ok_or_else(unknown)?;
        let plugin = self
            .plugins
            .iter()
            .find(|p| p.name() == plugin)
            .ok_or_else(unknown)?;
        plugin.call_tool(tool, arguments, context).await
    }
}
