//! A plugin of a custom world ([`crate::World::Custom`]): a component of the host's own
//! contract, loaded from a folder like any plugin (manifest, policy, grant, limits, pool,
//! registry). Its manifest says who it is, and each exported function whose types all have
//! a JSON form ([`crate::dynamic::json::passable`]) is one of its tools, called through the
//! dynamic JSON path. It may also export Airlock's `lifecycle`
//! ([`crate::component::custom_lifecycle`]): then it gets `init`, `health` and state across
//! a swap, and those functions are not tools.
//!
//! Tool names: the function's own name (`synthesize`), or, where two exported interfaces
//! both have it, `interface-function` (`tts-synthesize`). The tool's schema is derived from
//! the parameters' WIT types ([`crate::dynamic::schema`]), its description is the export's
//! name and signature. A result of type `result<T, E>` answers `T`'s JSON for `ok`, and an
//! `err` becomes a plugin error: `code` from the error's `code` field when it has a
//! `u32` one (App Factory's error codes), `message` from its `message` field, or its case
//! name, and the whole error as `details`.

use serde_json::Value;
use wasmtime::component::{Type, Val};

use crate::dynamic::{Export, json};
use crate::types::{TEXT_BYTES, ToolDefinition};
use crate::{CallError, LoadError};

/// One exported function offered as a tool.
pub(crate) struct Function {
    pub(crate) tool: String,
    pub(crate) export: Export,
    /// Whether it takes or returns a resource (as a handle: `resources.rs`).
    pub(crate) handles: bool,
}

/// A resource as a parameter or result, at the top level: the only place handles go.
pub(crate) fn is_handle(ty: &Type) -> bool {
    matches!(ty, Type::Own(_) | Type::Borrow(_))
}

/// Whether `ty` has JSON here, or is a handle.
fn tool_type(ty: &Type) -> bool {
    is_handle(ty) || json::passable(ty)
}

/// A resource function's tool name: `[constructor]tally` → `tally-new`,
/// `[method]tally.add` → `tally-add`, `[static]tally.open` → `tally-open`; `None` for any
/// other bracketed name.
fn resource_tool(short: &str) -> Option<String> {
    if let Some(resource) = short.strip_prefix("[constructor]") {
        return Some(format!("{resource}-new"));
    }
    let rest = short
        .strip_prefix("[method]")
        .or_else(|| short.strip_prefix("[static]"))?;
    let (resource, function) = rest.split_once('.')?;
    Some(format!("{resource}-{function}"))
}

/// Most type nodes (a field, a case, an element type…) an export's parameters and result
/// may hold to be a tool: a hostile component can share types so that one expands to a
/// million nodes, and every schema and message is derived from them.
pub(crate) const MAX_TYPE_NODES: usize = 4096;

/// Whether `ty` has at most `budget` nodes (each counted against it).
fn within_nodes(ty: &Type, budget: &mut usize) -> bool {
    if *budget == 0 {
        return false;
    }
    *budget -= 1;
    match ty {
        Type::List(l) => within_nodes(&l.ty(), budget),
        Type::FixedLengthList(l) => within_nodes(&l.ty(), budget),
        Type::Option(o) => within_nodes(&o.ty(), budget),
        Type::Record(r) => r.fields().all(|f| within_nodes(&f.ty, budget)),
        Type::Tuple(t) => t.types().all(|t| within_nodes(&t, budget)),
        Type::Variant(v) => v
            .cases()
            .all(|c| c.ty.is_none_or(|t| within_nodes(&t, budget))),
        Type::Result(r) => {
            r.ok().is_none_or(|t| within_nodes(&t, budget))
                && r.err().is_none_or(|t| within_nodes(&t, budget))
        }
        Type::Map(m) => within_nodes(&m.key(), budget) && within_nodes(&m.value(), budget),
        Type::Enum(e) => {
            let n = e.names().len();
            *budget = budget.saturating_sub(n);
            *budget > 0
        }
        Type::Flags(f) => {
            let n = f.names().len();
            *budget = budget.saturating_sub(n);
            *budget > 0
        }
        _ => true,
    }
}

/// The component's exports that are tools, named as the module docs say.
///
/// # Errors
/// More exports than [`crate::types::MAX_TOOLS`] tools, an export whose types are over
/// [`MAX_TYPE_NODES`], or two exports whose tool names collide (each named).
pub(crate) fn functions(
    component: &wasmtime::component::Component,
    engine: &wasmtime::Engine,
) -> Result<Vec<Function>, String> {
    // Airlock's own `lifecycle` beside a contract is called as the lifecycle, not offered.
    let all: Vec<_> = crate::dynamic::exports(component, engine)
        .into_iter()
        .filter(|e| !crate::component::is_airlock_export(&e.name))
        .collect();
    let cap = crate::types::MAX_TOOLS;
    if all.len() > cap {
        return Err(format!(
            "it exports {} functions, over the cap of {cap} tools",
            all.len()
        ));
    }
    let mut exports = Vec::with_capacity(all.len());
    for export in all {
        let mut budget = MAX_TYPE_NODES;
        let types = export.params.iter().map(|(_, t)| t).chain(&export.results);
        if !types.clone().all(|t| within_nodes(t, &mut budget)) {
            return Err(format!(
                "the types of `{}` are over {MAX_TYPE_NODES} nodes: too large to offer as a tool",
                export.name
            ));
        }
        let short = short_name(&export.name);
        let usable = (!short.starts_with('[') || resource_tool(short).is_some())
            && export.params.iter().all(|(_, t)| tool_type(t))
            && export
                .results
                .iter()
                .all(|t| tool_type(t) && !matches!(t, Type::Borrow(_)));
        if usable {
            exports.push(export);
        }
    }
    let mut uses: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for export in &exports {
        *uses.entry(short_name(&export.name)).or_default() += 1;
    }
    let mut functions: Vec<Function> = Vec::with_capacity(exports.len());
    let mut named: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    for export in &exports {
        let short = short_name(&export.name);
        let own = resource_tool(short).unwrap_or_else(|| short.to_string());
        let tool = match (uses[short] > 1, export.name.split_once('#')) {
            (true, Some((interface, _))) => format!("{}-{own}", interface_name(interface)),
            _ => own,
        };
        if tool.len() > 64 {
            return Err(format!(
                "`{}` would be a tool named over 64 bytes",
                export.name
            ));
        }
        if let Some(other) = named.insert(tool.clone(), export.name.clone()) {
            return Err(format!(
                "`{other}` and `{}` would both be the tool `{tool}`",
                export.name
            ));
        }
        let handles =
            export.params.iter().any(|(_, t)| is_handle(t)) || export.results.iter().any(is_handle);
        functions.push(Function {
            tool,
            export: export.clone(),
            handles,
        });
    }
    Ok(functions)
}

/// The tool definitions of `functions`, or why they cannot be tools.
pub(crate) fn tools(
    plugin: &str,
    functions: &[Function],
) -> Result<Vec<ToolDefinition>, LoadError> {
    let mut tools = Vec::with_capacity(functions.len());
    for function in functions {
        let export = &function.export;
        let mut description = format!("{}: {}", export.name, export.signature());
        description.truncate(description.floor_char_boundary(TEXT_BYTES));
        let mut input_schema = export.params_schema();
        for (name, _) in export.params.iter().filter(|(_, t)| is_handle(t)) {
            input_schema["properties"][name] = serde_json::json!({
                "type": "string",
                "description": "a resource handle, as a call returning the resource gave it"
            });
        }
        tools.push(ToolDefinition {
            name: function.tool.clone(),
            description,
            input_schema,
        });
    }
    if tools.len() > crate::types::MAX_TOOLS {
        return Err(LoadError::BadMetadata {
            plugin: plugin.to_string(),
            reason: format!(
                "it exports {} functions, over the cap of {} tools",
                tools.len(),
                crate::types::MAX_TOOLS
            ),
        });
    }
    Ok(tools)
}

/// `echo` of `fixture:typed/kitchen@0.1.0#echo`.
fn short_name(export: &str) -> &str {
    export.rsplit_once('#').map_or(export, |(_, f)| f)
}

/// `kitchen` of `fixture:typed/kitchen@0.1.0`.
fn interface_name(interface: &str) -> &str {
    let name = interface.rsplit_once('/').map_or(interface, |(_, n)| n);
    name.split_once('@').map_or(name, |(n, _)| n)
}

/// The tool's arguments text (checked to be JSON by its schema already) as a value.
pub(crate) fn parse(plugin: &str, tool: &str, arguments: &str) -> Result<Value, CallError> {
    serde_json::from_str(arguments).map_err(|e| CallError::BadArguments {
        plugin: plugin.to_string(),
        tool: tool.to_string(),
        problems: vec![format!("not JSON: {e}")],
    })
}

/// The function's results as the tool's JSON text: the value (`null` for none), the `ok`
/// payload of a `result`, or a plugin error for its `err` (see the module docs).
pub(crate) fn answer(plugin: &str, export: &Export, results: &[Val]) -> Result<String, CallError> {
    let (Some(ty), Some(val)) = (export.results.first(), results.first()) else {
        return Ok("null".into());
    };
    let value = match (ty, val) {
        (Type::Result(result), Val::Result(Err(err))) => {
            let error = match (result.err(), err) {
                (Some(ty), Some(val)) => json::to_json(&ty, val),
                _ => Value::Null,
            };
            return Err(plugin_error(plugin, error));
        }
        (Type::Result(result), Val::Result(Ok(ok))) => match (result.ok(), ok) {
            (Some(ty), Some(val)) => json::to_json(&ty, val),
            _ => Value::Null,
        },
        (ty, val) => json::to_json(ty, val),
    };
    Ok(value.to_string())
}

fn plugin_error(plugin: &str, error: Value) -> CallError {
    let code = error
        .get("code")
        .and_then(Value::as_u64)
        .and_then(|c| u32::try_from(c).ok())
        .unwrap_or(0);
    let message = match (&error, error.get("message")) {
        (_, Some(Value::String(m))) => m.clone(),
        (Value::String(case), _) => case.clone(),
        (Value::Object(o), _) if o.len() == 1 => o.keys().next().cloned().unwrap_or_default(),
        (Value::Null, _) => "error".into(),
        (other, _) => other.to_string(),
    };
    CallError::Plugin {
        plugin: plugin.to_string(),
        code,
        message: crate::capabilities::stdio::sanitize(crate::types::cut_text(&message).as_bytes()),
        details: (!error.is_null()).then(|| crate::types::details(error.to_string())),
    }
}
