//! Components of any WIT world, called by export name with JSON (issue #15's dynamic path):
//! a host application, or a client in any language, brings its own contract and calls it
//! without generated bindings.
//!
//! [`Runtime::load_component`] compiles a component (cached like a plugin's), checks that
//! the host can link every import it has, and lists its exported functions — plain world
//! exports by name, interface exports as `interface#function`
//! (`fixture:typed/kitchen@0.1.0#echo`). [`DynamicComponent::call_json`] converts the
//! arguments by the function's WIT types ([`json`]), refusing a mismatch with
//! [`CallError::BadArguments`] naming the JSON path and the WIT type before any guest code
//! runs, then calls it in a fresh instance under the component's limits (fuel, deadline,
//! memory: the same typed errors as a plugin's call) and converts the results back.
//! Instances are kept warm between calls (at most `LoadOptions::max_idle`, and at most
//! `max_instances` running at once); one whose call trapped, hit a limit or was cancelled
//! is discarded, as in a plugin's pool. Each
//! export's parameters and result have a JSON Schema derived from the same types
//! ([`schema`]).
//!
//! A component loaded here gets no capability but logging, stdio and clocks; loaded from a
//! plugin folder that declares the host contract it implements, it is a plugin of world
//! `custom` with its manifest's grants, in the registry and every front end
//! (`crate::plugin`'s `custom.rs`, [`crate::contract`]), where resources are handles
//! (`resources.rs`); this path does not pass resources.

pub mod json;
pub mod schema;

use std::path::Path;
use std::sync::Arc;

use serde_json::{Map, Value};
use wasmtime::component::types::{ComponentFunc, ComponentItem};
use wasmtime::component::{Component, ComponentExportIndex, InstancePre, Type};

use crate::capabilities::Grant;
use crate::context::Sessions;
use crate::plugin::AnyInstance;
use crate::store::{InstanceState, Reach};
use crate::{CallError, Limits, LoadError, LoadOptions, Runtime};

/// Most problems one refusal lists.
const MAX_PROBLEMS: usize = 20;

/// What a [`DynamicComponent::call_typed`] call returns: the bindings' call, boxed.
pub type TypedCall<'a, R> =
    std::pin::Pin<Box<dyn std::future::Future<Output = wasmtime::Result<R>> + Send + 'a>>;

/// One exported function.
#[derive(Clone)]
pub struct Export {
    /// As callers name it: `version`, or `fixture:typed/kitchen@0.1.0#echo`.
    pub name: String,
    /// Parameters by their WIT names, in order.
    pub params: Vec<(String, Type)>,
    /// Result types (none or one).
    pub results: Vec<Type>,
    pub(crate) index: ComponentExportIndex,
}

impl Export {
    /// The JSON Schema of the arguments object: `{"type": "object", "properties": {…}}`,
    /// every parameter required but `option` ones.
    pub fn params_schema(&self) -> Value {
        let properties: Map<String, Value> = self
            .params
            .iter()
            .map(|(name, ty)| (name.clone(), schema::of(ty)))
            .collect();
        let required: Vec<&str> = self
            .params
            .iter()
            .filter(|(_, ty)| !matches!(ty, Type::Option(_)))
            .map(|(name, _)| name.as_str())
            .collect();
        serde_json::json!({"type": "object", "properties": properties, "required": required,
                           "additionalProperties": false})
    }

    /// The JSON Schema of the result (`{"type": "null"}` for a function returning nothing).
    pub fn result_schema(&self) -> Value {
        match self.results.as_slice() {
            [one] => schema::of(one),
            _ => serde_json::json!({"type": "null"}),
        }
    }

    /// Its signature in WIT: `func(a: s32, b: s32) -> s32`.
    pub fn signature(&self) -> String {
        let params: Vec<String> = self
            .params
            .iter()
            .map(|(name, ty)| format!("{name}: {}", json::wit_name(ty)))
            .collect();
        let result = match self.results.as_slice() {
            [one] => format!(" -> {}", json::wit_name(one)),
            _ => String::new(),
        };
        format!("func({}){result}", params.join(", "))
    }
}

/// Every function `component` exports, directly or in an exported interface.
pub fn exports(component: &Component, engine: &wasmtime::Engine) -> Vec<Export> {
    let mut found = Vec::new();
    for (name, item) in component.component_type().exports(engine) {
        match item.ty {
            ComponentItem::ComponentFunc(func) => {
                if let Some(index) = component.get_export_index(None, name) {
                    found.push(export(name.to_string(), &func, index));
                }
            }
            ComponentItem::ComponentInstance(instance) => {
                let Some(outer) = component.get_export_index(None, name) else {
                    continue;
                };
                for (function, item) in instance.exports(engine) {
                    let ComponentItem::ComponentFunc(func) = item.ty else {
                        continue;
                    };
                    if let Some(index) = component.get_export_index(Some(&outer), function) {
                        found.push(export(format!("{name}#{function}"), &func, index));
                    }
                }
            }
            _ => {}
        }
    }
    found
}

fn export(name: String, func: &ComponentFunc, index: ComponentExportIndex) -> Export {
    Export {
        name,
        params: func.params().map(|(n, t)| (n.to_string(), t)).collect(),
        results: func.results().collect(),
        index,
    }
}

/// A loaded component of any world (see the module docs).
pub struct DynamicComponent {
    name: Arc<str>,
    pre: InstancePre<InstanceState>,
    exports: Vec<Export>,
    limits: Limits,
    reach: Reach,
    /// Instances kept warm between calls, at most `max_idle`.
    idle: std::sync::Mutex<Vec<AnyInstance>>,
    max_idle: usize,
    /// One per instance that may run a call at once (`LoadOptions::max_instances`).
    slots: tokio::sync::Semaphore,
}

impl DynamicComponent {
    /// What it is called in errors and logs (its file).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its exported functions.
    pub fn exports(&self) -> &[Export] {
        &self.exports
    }

    /// Calls the export `name` with `arguments` (an object keyed by parameter names):
    /// its result as JSON (`null` for none).
    ///
    /// # Errors
    /// [`CallError::UnknownTool`] naming the exports; [`CallError::BadArguments`] with every
    /// path at fault (nothing ran); otherwise what a plugin's call fails with (fuel,
    /// deadline, memory, trap…).
    pub async fn call_json(&self, name: &str, arguments: &Value) -> Result<Value, CallError> {
        let export = self
            .exports
            .iter()
            .find(|e| e.name == name)
            .ok_or_else(|| CallError::UnknownTool {
                plugin: self.name.to_string(),
                tool: name.to_string(),
                available: self.exports.iter().map(|e| e.name.clone()).collect(),
            })?;
        if let Some(ty) = export.results.iter().find(|t| !json::passable(t)) {
            return Err(CallError::BadArguments {
                plugin: self.name.to_string(),
                tool: export.name.clone(),
                problems: vec![format!(
                    "its result, {}, has no JSON form here (resources, streams and futures \
                     are not passed by the dynamic path); call it through typed bindings",
                    json::wit_name(ty)
                )],
            });
        }
        let size = arguments.to_string().len();
        if size > self.limits.input_bytes {
            return Err(CallError::InputTooLarge {
                plugin: self.name.to_string(),
                what: "the arguments",
                size,
                limit: self.limits.input_bytes,
            });
        }
        let params = self::arguments(&self.name, export, arguments)?;
        let limits = &self.limits;
        let call = async {
            let (_slot, mut instance) = self.lease().await?;
            let results = instance
                .call(limits, &export.index, &params, export.results.len())
                .await;
            self.give_back(instance, &results);
            results
        };
        // Cancelled like a plugin's call ([`crate::plugin::cancellable`]).
        let results = crate::plugin::until_cancelled(&self.name, call).await?;
        Ok(match (export.results.first(), results.first()) {
            (Some(ty), Some(val)) => json::to_json(ty, val),
            _ => Value::Null,
        })
    }

    /// Runs `call` on a fresh instance under the component's limits, the way
    /// [`DynamicComponent::call_json`] runs an export: what a host application with
    /// `bindgen!` bindings for the component's world calls it through. `call` gets the
    /// instance's store and the instance, and answers what the bindings' call answered:
    ///
    /// ```ignore
    /// let sum = component
    ///     .call_typed(|store, instance| Box::pin(async move {
    ///         let typed = Typed::new(&mut *store, &instance)?;
    ///         typed.fixture_typed_kitchen().call_add(&mut *store, 2, 3).await
    ///     }))
    ///     .await?;
    /// ```
    ///
    /// # Errors
    /// What a plugin's call fails with (fuel, deadline, memory, trap…), or `Cancelled`.
    pub async fn call_typed<R, F>(&self, call: F) -> Result<R, CallError>
    where
        R: Send,
        F: for<'a> FnOnce(
                &'a mut wasmtime::Store<InstanceState>,
                wasmtime::component::Instance,
            ) -> TypedCall<'a, R>
            + Send,
    {
        let limits = &self.limits;
        let run = async {
            let (_slot, mut instance) = self.lease().await?;
            let result = instance.run(limits, call).await;
            self.give_back(instance, &result);
            result
        };
        crate::plugin::until_cancelled(&self.name, run).await
    }

    /// A slot and an instance for one call: a warm one if any is idle, else a new one
    /// (instantiated under the limits). A call that ends early (cancelled) drops both, so
    /// its instance is discarded and its slot freed.
    async fn lease(&self) -> Result<(tokio::sync::SemaphorePermit<'_>, AnyInstance), CallError> {
        let slot = self
            .slots
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let warm = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let instance = match warm {
            Some(instance) => instance,
            None => {
                AnyInstance::new(&self.pre, self.name.clone(), &self.limits, &self.reach).await?
            }
        };
        Ok((slot, instance))
    }

    /// Keeps `instance` warm unless its call trapped or hit a limit (its store is then
    /// poisoned or half-way through something), as a plugin's pool does.
    fn give_back<T>(&self, instance: AnyInstance, result: &Result<T, CallError>) {
        if result.as_ref().is_err_and(CallError::discards_instance) {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < self.max_idle {
            idle.push(instance);
        }
    }
}

/// `arguments` (an object keyed by parameter name) converted to `export`'s parameters, or
/// [`CallError::BadArguments`] listing every path at fault (at most 20).
pub(crate) fn arguments(
    plugin: &str,
    export: &Export,
    arguments: &Value,
) -> Result<Vec<wasmtime::component::Val>, CallError> {
    let bad = |problems: Vec<String>| CallError::BadArguments {
        plugin: plugin.to_string(),
        tool: export.name.clone(),
        problems,
    };
    let Some(object) = arguments.as_object() else {
        return Err(bad(vec![format!(
            "/: expected an object of the arguments by name ({}), found {}",
            export.signature(),
            json_kind(arguments)
        )]));
    };
    let names: Vec<&str> = export.params.iter().map(|(n, _)| n.as_str()).collect();
    let unknown: Vec<String> = object
        .keys()
        .filter(|k| !names.contains(&k.as_str()))
        .take(MAX_PROBLEMS)
        .map(|k| crate::text::escape(&k.chars().take(64).collect::<String>()).into_owned())
        .collect();
    let mut problems = Vec::new();
    if !unknown.is_empty() {
        problems.push(format!(
            "not parameters of {}: {}",
            export.signature(),
            unknown.join(", ")
        ));
    }
    let mut params = Vec::with_capacity(names.len());
    for (name, ty) in &export.params {
        let value = match (object.get(name), ty) {
            (Some(value), _) => value,
            (None, Type::Option(_)) => &Value::Null,
            (None, _) => {
                problems.push(format!("/{name}: missing ({})", json::wit_name(ty)));
                continue;
            }
        };
        match json::from_json(ty, value, &format!("/{name}")) {
            Ok(val) => params.push(val),
            Err(problem) => problems.push(problem.to_string()),
        }
    }
    problems.truncate(MAX_PROBLEMS);
    match problems.is_empty() {
        true => Ok(params),
        false => Err(bad(problems)),
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl Runtime {
    /// Loads the component file at `path`, of any world, for dynamic calls (see
    /// [`crate::dynamic`]); `options.limits` bound every call (the runtime's defaults
    /// without), `options.log_tap` gets its log records.
    ///
    /// # Errors
    /// What loading a plugin's component fails with: unreadable, not a component, an
    /// import the host does not provide (named), compile budget.
    pub async fn load_component(
        &self,
        path: impl AsRef<Path>,
        options: LoadOptions,
    ) -> Result<DynamicComponent, LoadError> {
        let path = path.as_ref();
        let what = path.display().to_string();
        let file = crate::runtime::read_component_digested(path).await?;
        let component = self.compile_file(file, &what).await?;
        let imports = crate::component::import_names(self.engine(), &component);
        let mut uses = crate::capabilities::audit::audit(&imports);
        for import in &mut uses {
            if import.capability.is_none() && self.provides(&import.import) {
                import.capability = Some("host");
            }
        }
        crate::capabilities::audit::refuse_unknown(&what, &uses)?;
        let pre = self
            .inner()
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::Link {
                what: what.clone(),
                reason: format!("{e:#}"),
            })?;
        let mut reach = Reach::new(Grant::none(), Sessions::default(), 1);
        reach.log_tap = options.log_tap.clone();
        reach.host_state = options.host_state.clone();
        Ok(DynamicComponent {
            name: Arc::from(what),
            exports: exports(&component, self.engine()),
            pre,
            limits: options
                .limits
                .unwrap_or_else(|| self.default_limits().clone()),
            reach,
            idle: std::sync::Mutex::new(Vec::new()),
            max_idle: options.max_idle,
            slots: tokio::sync::Semaphore::new(options.max_instances.max(1)),
        })
    }
}
