//! The WASI context of an instance. Deny-by-default: no preopened directories, no
//! environment, no arguments, no sockets or name lookup, stdin closed; stdout and stderr are
//! captured into the host log. Clocks and random are the host's.

use wasmtime_wasi::{WasiCtx, WasiCtxBuilder};

use crate::stdio::OutputCapture;

/// Largest `get-random-bytes` request a guest may make at once.
const MAX_RANDOM_BYTES: u64 = 1 << 20;

pub(crate) fn context(stdout: OutputCapture, stderr: OutputCapture) -> WasiCtx {
    let mut builder = WasiCtxBuilder::new();
    builder
        .stdout(stdout)
        .stderr(stderr)
        .max_random_size(MAX_RANDOM_BYTES);
    // Sockets and name lookup are already denied by WasiCtxBuilder's defaults; say it anyway
    // so a future default change cannot open them.
    builder
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false);
    builder.build()
}
