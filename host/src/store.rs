//! [`InstanceState`]: the data each plugin instance's `Store` carries — its WASI context,
//! resource table, limiter, captured stdio and the current call's deadline.

use std::sync::Arc;
use std::time::Instant;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::capabilities::Grant;
use crate::capabilities::stdio::{OutputCapture, Stream};
use crate::context::{Scope, Sessions};
use crate::limits::{Limiter, Limits};
use crate::log_budget::LogBudget;

/// What every instance of one plugin reaches beyond its memory: its grant and the runtime's
/// session contexts.
#[derive(Clone)]
pub(crate) struct Reach {
    pub(crate) grant: Arc<Grant>,
    pub(crate) sessions: Sessions,
}

pub(crate) struct InstanceState {
    pub(crate) plugin: Arc<str>,
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: Limiter,
    pub(crate) stderr: OutputCapture,
    /// When the running call must stop; checked on every epoch tick.
    pub(crate) deadline: Instant,
    /// What this instance may reach; its WASI context was built from this alone.
    pub(crate) grant: Arc<Grant>,
    pub(crate) output_cap: usize,
    /// What the running call may still log, shared with the stdio captures.
    pub(crate) log: LogBudget,
    /// The runtime's session contexts, and the session of the running call (if any).
    pub(crate) sessions: Sessions,
    pub(crate) scope: Option<Scope>,
}

impl InstanceState {
    pub(crate) fn new(plugin: Arc<str>, limits: &Limits, reach: &Reach) -> wasmtime::Result<Self> {
        let (grant, sessions) = (reach.grant.clone(), reach.sessions.clone());
        let log = LogBudget::new(plugin.clone());
        let stdout = OutputCapture::new(plugin.clone(), Stream::Stdout, log.clone());
        let stderr = OutputCapture::new(plugin.clone(), Stream::Stderr, log.clone());
        let wasi = grant.wasi_context(stdout, stderr.clone())?;
        let mut table = ResourceTable::new();
        // A guest cannot make the host hold an unbounded number of handles.
        table.set_max_capacity(10_000);
        Ok(InstanceState {
            plugin,
            wasi,
            table,
            limiter: Limiter::new(limits),
            stderr,
            deadline: Instant::now(),
            grant,
            output_cap: limits.output_bytes,
            log,
            sessions,
            scope: None,
        })
    }
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}
