//! [`InstanceState`]: the data each plugin instance's `Store` carries — its WASI context,
//! resource table, limiter, captured stdio and the current call's deadline.

use std::sync::Arc;
use std::time::Instant;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::limits::{Limiter, Limits};
use crate::stdio::{OutputCapture, Stream};

pub(crate) struct InstanceState {
    pub(crate) plugin: Arc<str>,
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: Limiter,
    pub(crate) stderr: OutputCapture,
    /// When the running call must stop; checked on every epoch tick.
    pub(crate) deadline: Instant,
}

impl InstanceState {
    pub(crate) fn new(plugin: Arc<str>, limits: &Limits) -> Self {
        let stdout = OutputCapture::new(plugin.clone(), Stream::Stdout);
        let stderr = OutputCapture::new(plugin.clone(), Stream::Stderr);
        let wasi = crate::wasi::context(stdout, stderr.clone());
        let mut table = ResourceTable::new();
        // A guest cannot make the host hold an unbounded number of handles.
        table.set_max_capacity(10_000);
        InstanceState {
            plugin,
            wasi,
            table,
            limiter: Limiter::new(limits),
            stderr,
            deadline: Instant::now(),
        }
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
