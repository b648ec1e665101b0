//! [`Tools`]: the typed tool registry. Each tool's JSON Schema comes from its argument type.

use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{CallContext, PluginError};

type Handler<P> = Box<dyn Fn(&mut P, &str, &CallContext) -> Result<String, PluginError>>;

pub(crate) struct Tool<P> {
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) input_schema: String,
    pub(crate) handler: Handler<P>,
}

/// The tools of a plugin of type `P`. Filled in by [`Plugin::tools`](crate::Plugin::tools).
pub struct Tools<P> {
    pub(crate) tools: Vec<Tool<P>>,
}

impl<P> Tools<P> {
    pub(crate) fn new() -> Self {
        Tools { tools: Vec::new() }
    }

    /// Registers a tool. `A` is the arguments type: its JSON Schema (from `schemars`) is what
    /// the host validates calls against, and it is deserialised before `handler` runs.
    /// `R` is the result, serialised to JSON for the caller.
    pub fn tool<A, R, F>(&mut self, name: &str, description: &str, handler: F) -> &mut Self
    where
        A: DeserializeOwned + JsonSchema,
        R: Serialize,
        F: Fn(&mut P, A, &CallContext) -> Result<R, PluginError> + 'static,
    {
        let schema = schemars::schema_for!(A);
        let handler: Handler<P> = Box::new(move |plugin, arguments, context| {
            let arguments: A = serde_json::from_str(arguments)
                .map_err(|e| PluginError::invalid_input(format!("invalid arguments: {e}")))?;
            let result = handler(plugin, arguments, context)?;
            serde_json::to_string(&result)
                .map_err(|e| PluginError::internal(format!("result is not serialisable: {e}")))
        });
        self.tools.push(Tool {
            name: name.to_string(),
            description: description.to_string(),
            input_schema: serde_json::to_string(&schema).expect("a JSON Schema serialises"),
            handler,
        });
        self
    }

    pub(crate) fn call(
        &self,
        plugin: &mut P,
        name: &str,
        arguments: &str,
        context: &CallContext,
    ) -> Result<String, PluginError> {
        let tool = self
            .tools
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| PluginError::not_found(format!("no tool named `{name}`")))?;
        (tool.handler)(plugin, arguments, context)
    }
}
