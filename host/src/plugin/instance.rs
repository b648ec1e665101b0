//! [`LiveInstance`]: one instantiated plugin in its own `Store`, and the guarded call path:
//! arm the limits, run the export under a timer, classify any failure into a [`CallError`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::{Instance, InstancePre};
use wasmtime::{CallHook, Store, Trap};

use crate::bindings::{self, Hooks, Lifecycle, Tools, Version, hooks, tools, wit};
use crate::capabilities::stdio::{panic_message, sanitize};
use crate::context::Scope;
use crate::engine::YIELD_FUEL;
use crate::limits::{CapHit, Limits};
use crate::store::{InstanceState, Reach};
use crate::{CallContext, CallError, World};

use super::call_id;
use super::custom::Function;

use super::timer::{TimedOut, within};

/// Which interface exports a component has, as indices resolved once per component.
pub(crate) struct ExportIndices {
    /// `None` for a custom world that exports no Airlock `lifecycle`.
    pub(crate) lifecycle: Option<bindings::LifecycleIndices>,
    pub(crate) tools: Option<bindings::ToolsIndices>,
    pub(crate) hooks: Option<bindings::HooksIndices>,
    /// A custom world's tools ([`super::custom`]); empty for Airlock's worlds.
    pub(crate) functions: Arc<[Function]>,
}

impl ExportIndices {
    /// `functions` are a custom world's tools ([`super::custom::functions`]); `version` is
    /// the `airlock:plugin` version of an Airlock world's exports (or of the `lifecycle` a
    /// custom world exports); `lifecycle` says whether it exports one
    /// ([`crate::component::Inspected::lifecycle`]).
    pub(crate) fn new(
        pre: &InstancePre<InstanceState>,
        world: World,
        version: Version,
        functions: Vec<Function>,
        lifecycle: bool,
    ) -> wasmtime::Result<Self> {
        Ok(ExportIndices {
            functions: functions.into(),
            lifecycle: lifecycle
                .then(|| bindings::LifecycleIndices::new(pre, version))
                .transpose()?,
            tools: (world.has_tools() && world != World::Custom)
                .then(|| bindings::ToolsIndices::new(pre, version))
                .transpose()?,
            hooks: world
                .has_hooks()
                .then(|| bindings::HooksIndices::new(pre, version))
                .transpose()?,
        })
    }
}

pub(crate) struct LiveInstance {
    store: Store<InstanceState>,
    instance: Instance,
    lifecycle: Option<Lifecycle>,
    functions: Arc<[Function]>,
    tools: Option<Tools>,
    hooks: Option<Hooks>,
    /// The call context handed to the guest, rewritten in place for every call so its
    /// strings' buffers are reused instead of allocated per call.
    context: wit::CallContext,
}

/// Runs one export call under the limits and classifies the outcome.
macro_rules! guarded {
    ($self:ident, $limits:expr, $call:expr) => {{
        let limits: &Limits = $limits;
        let stop = $self.arm(limits);
        let outcome = within(stop, std::pin::pin!($call)).await;
        settle(&mut $self.store, limits, outcome)
    }};
}

impl LiveInstance {
    /// Instantiates the component in a new store; instantiation itself runs under `limits`.
    pub(crate) async fn new(
        pre: &InstancePre<InstanceState>,
        indices: &ExportIndices,
        plugin: Arc<str>,
        limits: &Limits,
        reach: &Reach,
    ) -> Result<Self, CallError> {
        let (mut store, instance) = instantiate(pre, plugin.clone(), limits, reach).await?;
        let protocol = |e: wasmtime::Error| CallError::Protocol {
            plugin: plugin.to_string(),
            reason: format!("{e:#}"),
        };
        let lifecycle = indices
            .lifecycle
            .as_ref()
            .map(|i| i.load(&mut store, &instance))
            .transpose()
            .map_err(protocol)?;
        let tools = indices
            .tools
            .as_ref()
            .map(|i| i.load(&mut store, &instance))
            .transpose()
            .map_err(protocol)?;
        let hooks = indices
            .hooks
            .as_ref()
            .map(|i| i.load(&mut store, &instance))
            .transpose()
            .map_err(protocol)?;
        Ok(LiveInstance {
            store,
            instance,
            lifecycle,
            functions: indices.functions.clone(),
            tools,
            hooks,
            context: wit::CallContext {
                tenant: String::new(),
                session_id: String::new(),
                call_id: String::new(),
            },
        })
    }

    /// Makes `context` this call's: the guest's call context (the caller's call id, or a
    /// new `<plugin>-<n>`), and the session context's scope until the next call.
    fn enter(&mut self, context: &CallContext) {
        let wit = &mut self.context;
        match context.call_id.is_empty() {
            true => call_id::write(&mut wit.call_id, &self.store.data().plugin),
            false => replace(&mut wit.call_id, &context.call_id),
        }
        if tracing::level_enabled!(tracing::Level::DEBUG) {
            // The call's span (debug level): only then can it be the current one.
            tracing::Span::current().record("call_id", wit.call_id.as_str());
        }
        // The scope always mirrors the guest's tenant and session. Consecutive calls
        // usually come from the same session: then both stay as they are.
        let scope = &mut self.store.data_mut().scope;
        let same = scope.is_some()
            && same_text(&wit.tenant, &context.tenant)
            && same_text(&wit.session_id, &context.session_id);
        if !same {
            replace(&mut wit.tenant, &context.tenant);
            replace(&mut wit.session_id, &context.session_id);
            *scope = Some(Scope {
                tenant: context.tenant.clone(),
                session: context.session_id.clone(),
            });
        }
    }

    /// Hands this instance, a load's probe, to the plugin it proved to be (see
    /// [`InstanceState::adopt`]).
    pub(crate) fn adopt(&mut self, plugin: Arc<str>, reach: &Reach) {
        self.store.data_mut().adopt(plugin, reach);
    }

    /// Fuel the last call consumed: its budget (see `arm`) less what is left.
    pub(crate) fn fuel_used(&self, limits: &Limits) -> u64 {
        fuel_used(&self.store, limits)
    }

    /// Bytes of linear memory the instance holds now, all its memories together.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.store.data().limiter.memory_used()
    }

    fn arm(&mut self, limits: &Limits) -> Instant {
        arm(&mut self.store, limits)
    }

    /// Only asked of Airlock's worlds (a custom world's manifest says who it is).
    pub(crate) async fn metadata(
        &mut self,
        limits: &Limits,
    ) -> Result<wit::PluginMetadata, CallError> {
        let Some(lifecycle) = self.lifecycle.clone() else {
            return Err(self.no_lifecycle("metadata"));
        };
        guarded!(self, limits, lifecycle.call_metadata(&mut self.store))
    }

    /// A custom world without Airlock's `lifecycle` has no `init`: its configuration is
    /// checked by the manifest's schema only.
    pub(crate) async fn init(&mut self, limits: &Limits, config: &str) -> Result<(), CallError> {
        let Some(lifecycle) = self.lifecycle.clone() else {
            return Ok(());
        };
        let result = guarded!(self, limits, lifecycle.call_init(&mut self.store, config))?;
        result.map_err(|e| self.plugin_error(e))
    }

    pub(crate) async fn shutdown(&mut self, limits: &Limits) -> Result<(), CallError> {
        let Some(lifecycle) = self.lifecycle.clone() else {
            return Ok(());
        };
        guarded!(self, limits, lifecycle.call_shutdown(&mut self.store))
    }

    /// A custom world without a `health` export is healthy while it instantiates.
    pub(crate) async fn health(&mut self, limits: &Limits) -> Result<wit::HealthReport, CallError> {
        let Some(lifecycle) = self.lifecycle.clone() else {
            return Ok(wit::HealthReport {
                status: wit::HealthStatus::Ready,
                message:
                    "ok (a custom world without Airlock's lifecycle reports no health of its own)"
                        .into(),
                details: "{}".into(),
            });
        };
        guarded!(self, limits, lifecycle.call_health(&mut self.store))
    }

    /// A custom world without Airlock's lifecycle carries no state across a swap.
    pub(crate) async fn capture_state(
        &mut self,
        limits: &Limits,
    ) -> Result<Option<Vec<u8>>, CallError> {
        let Some(lifecycle) = self.lifecycle.clone() else {
            return Ok(None);
        };
        guarded!(self, limits, lifecycle.call_capture_state(&mut self.store))
    }

    pub(crate) async fn restore_state(
        &mut self,
        limits: &Limits,
        state: &[u8],
    ) -> Result<(), CallError> {
        let Some(lifecycle) = self.lifecycle.clone() else {
            // Without a lifecycle no state is captured, so none is ever handed over.
            return Ok(());
        };
        let result = guarded!(
            self,
            limits,
            lifecycle.call_restore_state(&mut self.store, state)
        )?;
        result.map_err(|e| self.plugin_error(e))
    }

    pub(crate) async fn list_tools(
        &mut self,
        limits: &Limits,
    ) -> Result<Vec<tools::ToolDefinition>, CallError> {
        let Some(tools) = self.tools.clone() else {
            return Ok(Vec::new());
        };
        guarded!(self, limits, tools.call_list_tools(&mut self.store))
    }

    pub(crate) async fn call_tool(
        &mut self,
        limits: &Limits,
        name: &str,
        arguments: &str,
        context: &CallContext,
    ) -> Result<String, CallError> {
        let Some(tools) = self.tools.clone() else {
            return self.call_function(limits, name, arguments, context).await;
        };
        self.enter(context);
        let result = guarded!(
            self,
            limits,
            tools.call_call_tool(&mut self.store, name, arguments, &self.context)
        )?;
        result.map_err(|e| self.plugin_error(e))
    }

    pub(crate) async fn subscriptions(
        &mut self,
        limits: &Limits,
    ) -> Result<Vec<hooks::HookKind>, CallError> {
        let Some(hooks) = self.hooks.clone() else {
            return Ok(Vec::new());
        };
        guarded!(self, limits, hooks.call_subscriptions(&mut self.store))
    }

    pub(crate) async fn handle_hook(
        &mut self,
        limits: &Limits,
        kind: &hooks::HookKind,
        payload: &str,
        context: &CallContext,
    ) -> Result<hooks::HookOutcome, CallError> {
        let hooks = self
            .hooks
            .clone()
            .expect("only called on plugins with hooks");
        self.enter(context);
        let result = guarded!(
            self,
            limits,
            hooks.call_handle(&mut self.store, kind, payload, &self.context)
        )?;
        result.map_err(|e| self.plugin_error(e))
    }

    /// A custom world's tool: its arguments (checked against the derived schema already)
    /// converted by the function's WIT types, the function called, its results converted
    /// back ([`super::custom::answer`]).
    async fn call_function(
        &mut self,
        limits: &Limits,
        tool: &str,
        arguments: &str,
        context: &CallContext,
    ) -> Result<String, CallError> {
        let plugin = self.store.data().plugin.clone();
        let functions = self.functions.clone();
        let function = functions.iter().find(|f| f.tool == tool);
        let function = function.ok_or_else(|| CallError::UnknownTool {
            plugin: plugin.to_string(),
            tool: tool.to_string(),
            available: functions.iter().map(|f| f.tool.clone()).collect(),
        })?;
        let export = &function.export;
        let arguments = super::custom::parse(&plugin, tool, arguments)?;
        let params = crate::dynamic::arguments(&plugin, export, &arguments)?;
        let results = self.call_export(limits, export, &params, context).await?;
        super::custom::answer(&plugin, export, &results)
    }

    /// Calls `export` with `params` (component-model values, resources of this instance
    /// among them) under `limits`: its results.
    pub(crate) async fn call_export(
        &mut self,
        limits: &Limits,
        export: &crate::dynamic::Export,
        params: &[wasmtime::component::Val],
        context: &CallContext,
    ) -> Result<Vec<wasmtime::component::Val>, CallError> {
        let func = self.instance.get_func(&mut self.store, export.index);
        let func = func.ok_or_else(|| CallError::Protocol {
            plugin: self.store.data().plugin.to_string(),
            reason: format!("its export `{}` is not a function", export.name),
        })?;
        self.enter(context);
        let mut results = vec![wasmtime::component::Val::Bool(false); export.results.len()];
        guarded!(
            self,
            limits,
            func.call_async(&mut self.store, params, &mut results)
        )?;
        Ok(results)
    }

    /// Drops `resource`, one of this instance's, running the guest's destructor under
    /// `limits`.
    pub(crate) async fn drop_resource(
        &mut self,
        limits: &Limits,
        resource: wasmtime::component::ResourceAny,
    ) -> Result<(), CallError> {
        guarded!(self, limits, resource.resource_drop_async(&mut self.store))
    }

    fn no_lifecycle(&self, export: &str) -> CallError {
        CallError::Protocol {
            plugin: self.store.data().plugin.to_string(),
            reason: format!("a custom world has no `{export}` (it exports no Airlock lifecycle)"),
        }
    }

    fn plugin_error(&self, e: wit::PluginError) -> CallError {
        CallError::Plugin {
            plugin: self.store.data().plugin.to_string(),
            code: e.code,
            // Cut, like the details: the plugin chooses them, and they travel into replies
            // and logs.
            message: sanitize(crate::types::cut_text(&e.message).as_bytes()),
            details: e.details.map(crate::types::details),
        }
    }
}

/// A new store for `plugin` under `limits` and `reach` — limiter, fuel with the deadline's
/// yields, the host-call clock check — and the component instantiated in it, under the
/// limits too.
async fn instantiate(
    pre: &InstancePre<InstanceState>,
    plugin: Arc<str>,
    limits: &Limits,
    reach: &Reach,
) -> Result<(Store<InstanceState>, Instance), CallError> {
    let state =
        InstanceState::new(plugin.clone(), limits, reach).map_err(|e| CallError::Protocol {
            plugin: plugin.to_string(),
            reason: format!("cannot apply its grant: {e:#}"),
        })?;
    let mut store = Store::new(pre.engine(), state);
    store.limiter(|state| &mut state.limiter);
    // Caps every string or list the guest hands over, results included, before the host
    // copies it.
    store.set_hostcall_fuel(limits.output_bytes);
    // Guest-defined resources take component-model handles without any host call.
    store.set_max_component_handles(limits.handles);
    // The deadline rides on fuel: a running guest yields this often, and the call's timer
    // checks the clock at every yield.
    store
        .fuel_async_yield_interval(Some(YIELD_FUEL))
        .expect("fuel is enabled on the engine");
    // A host call that returns at once (random bytes, a context read) costs the guest
    // little fuel however much host work it does, so a loop of them could run for
    // minutes between fuel yields: the clock is also read whenever a host call returns.
    store.call_hook(|store, hook| match hook {
        CallHook::ReturningFromHost if Instant::now() >= store.data().deadline => {
            Err(Trap::Interrupt.into())
        }
        _ => Ok(()),
    });
    let stop = arm(&mut store, limits);
    let outcome = within(stop, std::pin::pin!(pre.instantiate_async(&mut store))).await;
    let instance: Instance = settle(&mut store, limits, outcome)?;
    Ok((store, instance))
}

/// An instance of a component of any world: its exports are called by index with
/// component-model values (the dynamic path, [`crate::dynamic`]), each call guarded like a
/// plugin's.
pub(crate) struct AnyInstance {
    store: Store<InstanceState>,
    instance: Instance,
}

impl AnyInstance {
    /// Instantiates the component in a new store, under `limits`.
    pub(crate) async fn new(
        pre: &InstancePre<InstanceState>,
        plugin: Arc<str>,
        limits: &Limits,
        reach: &Reach,
    ) -> Result<Self, CallError> {
        let (store, instance) = instantiate(pre, plugin, limits, reach).await?;
        Ok(AnyInstance { store, instance })
    }

    /// Runs `call` (an embedder's typed bindings) on this instance under `limits`.
    pub(crate) async fn run<R, F>(&mut self, limits: &Limits, call: F) -> Result<R, CallError>
    where
        F: for<'a> FnOnce(
            &'a mut Store<InstanceState>,
            Instance,
        ) -> crate::dynamic::TypedCall<'a, R>,
    {
        let stop = arm(&mut self.store, limits);
        let instance = self.instance;
        let outcome = within(stop, std::pin::pin!(call(&mut self.store, instance))).await;
        super::usage::add_metered(fuel_used(&self.store, limits));
        settle(&mut self.store, limits, outcome)
    }

    /// Calls the function at `index` with `params` under `limits`: its `results` values.
    pub(crate) async fn call(
        &mut self,
        limits: &Limits,
        index: &wasmtime::component::ComponentExportIndex,
        params: &[wasmtime::component::Val],
        results: usize,
    ) -> Result<Vec<wasmtime::component::Val>, CallError> {
        let plugin = self.store.data().plugin.to_string();
        let func = self.instance.get_func(&mut self.store, index);
        let func = func.ok_or_else(|| CallError::Protocol {
            plugin,
            reason: "an export it declared is not a function".into(),
        })?;
        let mut out = vec![wasmtime::component::Val::Bool(false); results];
        let stop = arm(&mut self.store, limits);
        let call = func.call_async(&mut self.store, params, &mut out);
        let outcome = within(stop, std::pin::pin!(call)).await;
        super::usage::add_metered(fuel_used(&self.store, limits));
        settle(&mut self.store, limits, outcome)?;
        Ok(out)
    }
}

/// Fuel the store's last call consumed: its budget (see `arm`) less what is left.
fn fuel_used(store: &Store<InstanceState>, limits: &Limits) -> u64 {
    let budget = limits.fuel.unwrap_or(u64::MAX);
    budget.saturating_sub(store.get_fuel().unwrap_or(0))
}

/// Makes `to` a copy of `from`, in the buffer `to` already has.
fn replace(to: &mut String, from: &str) {
    if !same_text(to, from) {
        to.clear();
        to.push_str(from);
    }
}

/// `a == b`, compared byte by byte here rather than by libc's `memcmp`. The strings are a
/// call context's few bytes, and glibc's AVX-512 `memcmp`, the first vector instruction
/// after the guest ran, stalled: it was 4.5 % of a warm 96 B call on the VM measured.
fn same_text(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| x == y)
}

/// Resets the per-call budgets: fuel, the limiter's record, the stderr tail, the log budget.
/// Returns the call's deadline, for its timer.
fn arm(store: &mut Store<InstanceState>, limits: &Limits) -> Instant {
    // A store without fuel traps at once, so "unmetered" is the largest budget there is.
    store
        .set_fuel(limits.fuel.unwrap_or(u64::MAX))
        .expect("fuel is enabled on the engine");
    let state = store.data_mut();
    let now = Instant::now();
    // Also read by host calls that wait (exec, outbound HTTP) to bound their own timeouts.
    state.deadline = now
        .checked_add(limits.deadline)
        .unwrap_or(now + Duration::from_secs(86_400));
    state.limiter.hit = None;
    state.stderr.clear_tail();
    // Normally settled when the last call ended; not if that call was dropped mid-way.
    state.log.settle();
    state.progress = crate::progress::CallProgress::start();
    state.deadline
}

/// Turns the outcome of a guarded call into the value or the typed error, and closes the
/// call's log budget (one line if records were dropped).
fn settle<R>(
    store: &mut Store<InstanceState>,
    limits: &Limits,
    outcome: Result<wasmtime::Result<R>, TimedOut>,
) -> Result<R, CallError> {
    store.data().log.settle();
    // The listener is the call's: dropping it here lets its receiver end with the call.
    store.data_mut().progress = Default::default();
    match outcome {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(classify(store.data(), limits, Some(error))),
        Err(TimedOut) => Err(classify(store.data(), limits, None)),
    }
}

/// The handle cap, when `error` is the guest running out of handles: a full resource table
/// (wasmtime-wasi traps on it) or the store's component-handle limit.
fn handle_limit(state: &InstanceState, error: &wasmtime::Error) -> Option<CallError> {
    use wasmtime::component::ResourceTableError;
    let full = error.chain().any(|e| {
        matches!(
            e.downcast_ref::<ResourceTableError>(),
            Some(ResourceTableError::Full)
        ) || e.to_string().contains("store handle limit exceeded")
    });
    full.then(|| CallError::HandleLimit {
        plugin: state.plugin.to_string(),
        limit: state.handles.cap,
        set_by: state.handles.source.describe(),
    })
}

/// Why a call failed: a recorded cap hit wins (the trap it caused is only a symptom), then
/// the trap code, then the hostcall-fuel error wasmtime raises for oversized transfers.
fn classify(state: &InstanceState, limits: &Limits, error: Option<wasmtime::Error>) -> CallError {
    let plugin = state.plugin.to_string();
    let Some(error) = error else {
        return CallError::DeadlineExceeded {
            plugin,
            deadline: limits.deadline,
        };
    };
    match state.limiter.hit {
        Some(CapHit::Memory) => {
            return CallError::MemoryLimit {
                plugin,
                limit: limits.memory_bytes,
            };
        }
        Some(CapHit::Table) => {
            return CallError::TableLimit {
                plugin,
                limit: limits.table_elements,
            };
        }
        None => {}
    }
    if let Some(error) = handle_limit(state, &error) {
        return error;
    }
    if error.is::<wasmtime::PoolConcurrencyLimitError>() {
        return CallError::Busy {
            plugin,
            reason: format!("{error:#}"),
        };
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => CallError::FuelExhausted {
            plugin,
            budget: limits.fuel.unwrap_or(u64::MAX),
        },
        Some(Trap::Interrupt) => CallError::DeadlineExceeded {
            plugin,
            deadline: limits.deadline,
        },
        Some(Trap::StackOverflow) => CallError::Trap {
            plugin,
            message: "wasm stack overflow (recursion too deep)".into(),
            panic: None,
        },
        Some(Trap::MemoryOutOfBounds) => CallError::Trap {
            plugin,
            message: "out of bounds memory access (in Rust and C guests usually their own \
                      stack overflowing: recursion too deep)"
                .into(),
            panic: panic_message(&state.stderr.tail()),
        },
        Some(trap) => CallError::Trap {
            plugin,
            message: trap.to_string(),
            panic: panic_message(&state.stderr.tail()),
        },
        None if format!("{error:#}")
            .contains("fuel allocated for hostcalls has been exhausted") =>
        {
            CallError::OutputTooLarge {
                plugin,
                limit: limits.output_bytes,
            }
        }
        None => CallError::Trap {
            plugin,
            message: format!("{error:#}"),
            panic: panic_message(&state.stderr.tail()),
        },
    }
}
