//! [`InstanceState`]: the data each plugin instance's `Store` carries — its WASI context,
//! resource table, limiter, captured stdio and the current call's deadline.

use std::sync::Arc;
use std::time::Instant;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::capabilities::Grant;
use crate::capabilities::stdio::{OutputCapture, Stream};
use crate::context::{Scope, Sessions};
use crate::handles::{Budget, CapSource, Reservation};
use crate::limits::{Limiter, Limits};
use crate::log_budget::LogBudget;

/// What every instance of one plugin reaches beyond its memory: its grant and the runtime's
/// session contexts.
#[derive(Clone)]
pub(crate) struct Reach {
    pub(crate) grant: Arc<Grant>,
    pub(crate) sessions: Sessions,
    /// The plugin's descriptor budget, shared by its instances.
    pub(crate) handles: Arc<Budget>,
    /// Each instance's even share of that budget: every instance that may be alive at once
    /// can reserve it.
    pub(crate) handle_share: usize,
    /// Where the host application wants a copy of the plugin's log records.
    pub(crate) log_tap: Option<crate::log_tap::LogTap>,
    /// Makes each instance's state for the embedder's own imports.
    pub(crate) host_state: Option<HostStateFactory>,
}

/// Makes one instance's state for the embedder's imports ([`crate::LoadOptions::host_state`]).
#[derive(Clone)]
pub struct HostStateFactory(
    pub(crate) Arc<dyn Fn() -> Box<dyn std::any::Any + Send> + Send + Sync>,
);

impl std::fmt::Debug for HostStateFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HostStateFactory")
    }
}

impl Reach {
    /// Reach for instances of one plugin: `grant`, the runtime's `sessions`, and a fresh
    /// descriptor budget for the plugin, shared evenly by the `alive` instances it may
    /// have at once.
    pub(crate) fn new(grant: Grant, sessions: Sessions, alive: usize) -> Self {
        let handles = crate::handles::plugin_budget();
        Reach {
            grant: Arc::new(grant),
            sessions,
            handle_share: handles.total() / alive.max(1),
            handles,
            log_tap: None,
            host_state: None,
        }
    }
}

/// The state each plugin instance's `Store` carries (opaque outside the runtime): its
/// WASI context built from its grant, resource table, limiter, captured output, the running
/// call's deadline and session scope.
pub struct InstanceState {
    pub(crate) plugin: Arc<str>,
    pub(crate) wasi: WasiCtx,
    /// What each capability keeps for this instance beyond the WASI context.
    pub(crate) capabilities: crate::capabilities::Instances,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: Limiter,
    pub(crate) stderr: OutputCapture,
    /// When the running call must stop: read at every fuel yield and whenever a host call
    /// returns, and by host calls that wait (exec, outbound HTTP) to bound their timeouts.
    pub(crate) deadline: Instant,
    /// What this instance may reach; its WASI context was built from this alone.
    pub(crate) grant: Arc<Grant>,
    pub(crate) output_cap: usize,
    /// What the running call may still log, shared with the stdio captures.
    pub(crate) log: LogBudget,
    /// The runtime's session contexts, and the session of the running call (if any).
    pub(crate) sessions: Sessions,
    pub(crate) scope: Option<Scope>,
    /// The handle slots this instance reserved; its table's capacity is `handles.cap`.
    pub(crate) handles: Reservation,
    /// The running call's progress listener and counts ([`crate::progress`]).
    pub(crate) progress: crate::progress::CallProgress,
    /// The embedder's own state for its imports ([`InstanceState::host_state`]).
    host: Option<Box<dyn std::any::Any + Send>>,
}

impl InstanceState {
    pub(crate) fn new(plugin: Arc<str>, limits: &Limits, reach: &Reach) -> wasmtime::Result<Self> {
        let (grant, sessions) = (reach.grant.clone(), reach.sessions.clone());
        let log = LogBudget::new(plugin.clone(), reach.log_tap.clone());
        let stdout = OutputCapture::new(Stream::Stdout, log.clone());
        let stderr = OutputCapture::new(Stream::Stderr, log.clone());
        let (wasi, capabilities) = grant.prepare(limits, &log, &stdout, &stderr)?;
        let handles = reserve_handles(&grant, limits, reach);
        let mut table = ResourceTable::new();
        // A guest cannot make the host hold an unbounded number of handles.
        table.set_max_capacity(handles.cap);
        Ok(InstanceState {
            plugin,
            wasi,
            capabilities,
            table,
            limiter: Limiter::new(limits),
            stderr,
            deadline: Instant::now(),
            grant,
            output_cap: limits.output_bytes,
            log,
            sessions,
            scope: None,
            handles,
            progress: Default::default(),
            host: reach.host_state.as_ref().map(|make| (make.0)()),
        })
    }
}

impl InstanceState {
    /// This instance's state for the embedder's own imports, as `T`: what
    /// [`crate::LoadOptions::host_state`] made for it, or `T::default()` when it made
    /// nothing of that type. What a `bindgen!`-generated `add_to_linker` reaches its host
    /// trait through:
    ///
    /// ```ignore
    /// host_api::add_to_linker::<InstanceState, HasSelf<MyHost>>(linker, |state| {
    ///     state.host_state::<MyHost>()
    /// })
    /// ```
    pub fn host_state<T: std::any::Any + Send + Default>(&mut self) -> &mut T {
        if !self.host.as_ref().is_some_and(|h| h.is::<T>()) {
            self.host = Some(Box::new(T::default()));
        }
        self.host
            .as_mut()
            .and_then(|h| h.downcast_mut::<T>())
            .expect("just made")
    }

    /// Hands a load's probe instance over to the plugin it proved to be: its records and
    /// errors carry `plugin` from now on, and it reaches `reach`'s session contexts (its
    /// grant must already be the same as `reach`'s).
    pub(crate) fn adopt(&mut self, plugin: Arc<str>, reach: &Reach) {
        debug_assert!(*self.grant == *reach.grant);
        self.log.relabel(plugin.clone());
        self.plugin = plugin;
        self.grant = reach.grant.clone();
        self.sessions = reach.sessions.clone();
    }
}

/// An instance whose grant can open descriptors (files, sockets) reserves its table cap —
/// `Limits::handles`, or its share of the plugin's budget when that is smaller — plus one
/// descriptor per preopened directory, from the plugin's and the process's budgets. Any
/// other instance holds no descriptor and reserves nothing.
fn reserve_handles(grant: &Grant, limits: &Limits, reach: &Reach) -> Reservation {
    if grant.files.is_empty() && grant.network.entries.is_empty() {
        return Reservation::unreserved(limits.handles);
    }
    let preopens = grant.files.len();
    let cap = limits
        .handles
        .min(reach.handle_share.saturating_sub(preopens));
    let mut reservation = Reservation::take(&reach.handles, cap + preopens);
    reservation.cap = reservation.cap.saturating_sub(preopens);
    if cap < limits.handles && reservation.source == CapSource::Instance {
        reservation.source = CapSource::PluginShare;
    }
    reservation
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}
