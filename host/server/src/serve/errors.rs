//! Airlock's JSON-RPC error codes: one code per kind of failure, in the range JSON-RPC
//! reserves for implementation-defined server errors (-32000 to -32099), each with a
//! `data` object naming the kind and the plugin. Argument problems use the standard
//! `-32602` with every problem listed in `data.problems`.
//!
//! | code | kind |
//! |---|---|
//! | -32001 | fuel-exhausted |
//! | -32002 | deadline-exceeded, validation-timeout |
//! | -32003 | memory-limit, table-limit, handle-limit |
//! | -32004 | trap (a panic included) |
//! | -32005 | plugin-error (the plugin's own code in `data.code`) |
//! | -32006 | capability-denied |
//! | -32007 | output-too-large, input-too-large |
//! | -32008 | failing (fail-fast after repeated failures) |
//! | -32009 | shut-down |
//! | -32010 | protocol (the plugin broke the contract) |
//! | -32011 | load-refused (bad wasm, wrong world, bad manifest, integrity) |
//! | -32012 | not-found (plugin not installed or not enabled) |
//! | -32013 | dependency |
//! | -32014 | registry (storage) |
//! | -32015 | busy (the instance pool is full; retry later) |
//! | -32800 | cancelled (the client cancelled the request: `$/cancelRequest`; the code the Language Server Protocol uses) |

use serde_json::json;

use super::jsonrpc::{INVALID_PARAMS, RpcError};
use crate::registry::RegistryError;
use airlock::{CallError, LoadError};

pub const FUEL_EXHAUSTED: i64 = -32001;
pub const DEADLINE_EXCEEDED: i64 = -32002;
pub const MEMORY_LIMIT: i64 = -32003;
pub const TRAP: i64 = -32004;
pub const PLUGIN_ERROR: i64 = -32005;
pub const CAPABILITY_DENIED: i64 = -32006;
pub const TOO_LARGE: i64 = -32007;
pub const FAILING: i64 = -32008;
pub const SHUT_DOWN: i64 = -32009;
pub const PROTOCOL: i64 = -32010;
pub const LOAD_REFUSED: i64 = -32011;
pub const NOT_FOUND: i64 = -32012;
pub const DEPENDENCY: i64 = -32013;
pub const REGISTRY: i64 = -32014;
pub const BUSY: i64 = -32015;
/// A request its client cancelled (the Language Server Protocol's `RequestCancelled`).
pub const CANCELLED: i64 = -32800;

/// The error of a request its client cancelled (whatever its method had made of it).
pub fn cancelled() -> RpcError {
    RpcError::new(CANCELLED, "the request was cancelled by its client")
        .with_data(json!({"kind": "cancelled"}))
}

/// The JSON-RPC error for a failed call.
pub fn call_error(error: &CallError) -> RpcError {
    let code = match error {
        CallError::FuelExhausted { .. } => FUEL_EXHAUSTED,
        CallError::DeadlineExceeded { .. } | CallError::ValidationTimeout { .. } => {
            DEADLINE_EXCEEDED
        }
        CallError::MemoryLimit { .. }
        | CallError::TableLimit { .. }
        | CallError::HandleLimit { .. } => MEMORY_LIMIT,
        CallError::Trap { .. } => TRAP,
        CallError::Plugin { .. } => PLUGIN_ERROR,
        CallError::OutputTooLarge { .. } | CallError::InputTooLarge { .. } => TOO_LARGE,
        CallError::Failing { .. } => FAILING,
        CallError::Busy { .. } => BUSY,
        CallError::Cancelled { .. } => CANCELLED,
        CallError::ShutDown { .. } => SHUT_DOWN,
        CallError::Protocol { .. } => PROTOCOL,
        CallError::BadArguments { .. } | CallError::UnknownTool { .. } => INVALID_PARAMS,
    };
    let mut data = json!({"kind": error.kind(), "plugin": error.plugin()});
    match error {
        CallError::Plugin { code, details, .. } => {
            data["code"] = json!(code);
            data["details"] = json!(details);
        }
        CallError::BadArguments { problems, .. } => data["problems"] = json!(problems),
        CallError::UnknownTool { available, .. } => data["available"] = json!(available),
        CallError::Trap {
            panic: Some(panic), ..
        } => data["panic"] = json!(panic),
        _ => {}
    }
    RpcError::new(code, error.to_string()).with_data(data)
}

/// The JSON-RPC error for a refused load.
pub fn load_error(error: &LoadError) -> RpcError {
    let (code, kind) = match error {
        LoadError::Denied { .. } => (CAPABILITY_DENIED, "capability-denied"),
        LoadError::BadConfig { problems, .. } => {
            return RpcError::invalid_params(error.to_string())
                .with_data(json!({"kind": "bad-config", "problems": problems}));
        }
        LoadError::Start { source, .. } => return call_error(source),
        _ => (LOAD_REFUSED, "load-refused"),
    };
    RpcError::new(code, error.to_string()).with_data(json!({"kind": kind}))
}

/// The JSON-RPC error for a failed registry operation.
pub fn registry_error(error: &RegistryError) -> RpcError {
    let (code, kind) = match error {
        RegistryError::Load(e) => return load_error(e),
        RegistryError::Call(e) => return call_error(e),
        RegistryError::NotInstalled(_)
        | RegistryError::NotFound(_)
        | RegistryError::NotEnabled { .. }
        | RegistryError::NoSuchToken(_)
        | RegistryError::AmbiguousToken { .. } => (NOT_FOUND, "not-found"),
        RegistryError::MissingDependency { .. }
        | RegistryError::DependedOn { .. }
        | RegistryError::BreaksDependent { .. } => (DEPENDENCY, "dependency"),
        RegistryError::Manifest(_) => (LOAD_REFUSED, "load-refused"),
        RegistryError::BadToolFilter { .. } => (INVALID_PARAMS, "bad-arguments"),
        RegistryError::Db(_)
        | RegistryError::FolderMissing { .. }
        | RegistryError::Pull { .. }
        | RegistryError::Watch(_)
        | RegistryError::Random(_) => (REGISTRY, "registry"),
    };
    RpcError::new(code, error.to_string()).with_data(json!({"kind": kind}))
}
