//! Decomposition rows: the same raw bindings, but called the way Airlock calls them — async
//! (on a fiber), optionally with Airlock's per-call limits armed exactly as
//! `host/src/plugin/instance.rs` arms them (fuel refilled per call, epoch deadline with the
//! 5 ms ticker and a yield-or-interrupt callback, the outer timer (started only when the
//! call waits), and a store memory limiter with memories reserved at the cap). No Airlock layer above that: no schema validation, no
//! `serde_json::Value` round trips, no pool, no call ids. So
//! `Airlock − raw async + limits` is what Airlock's own layers cost, and
//! `raw async + limits − raw sync` what async execution and the limits cost.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store, StoreLimits, StoreLimitsBuilder, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

mod wit {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "airlock:plugin/tool-plugin",
        imports: { default: async },
        exports: { default: async },
    });
}

use wit::airlock::plugin::{context, exec, host, types};
use wit::{ToolPlugin, ToolPluginPre};

use types::CallContext;

/// Airlock's defaults (`Limits::default()`).
const FUEL: u64 = 2_000_000_000;
const DEADLINE: Duration = Duration::from_secs(5);
const MEMORY: usize = 64 << 20;
const TICK: Duration = Duration::from_millis(5);

/// Which of Airlock's per-call limits are armed.
#[derive(Clone, Copy, Debug)]
pub struct Armed {
    /// Fuel metering, refilled before every call.
    pub fuel: bool,
    /// Epoch deadline (5 ms ticker thread, yield-or-interrupt callback) and the outer
    /// `tokio::time::timeout`.
    pub deadline: bool,
    /// The store's memory limiter at the cap (64 MiB). Memories keep wasmtime's 4 GiB
    /// reservations, as Airlock's instance pool does by default, so no bounds checks.
    pub limiter: bool,
}

impl Armed {
    pub const NONE: Armed = Armed {
        fuel: false,
        deadline: false,
        limiter: false,
    };
    pub const ALL: Armed = Armed {
        fuel: true,
        deadline: true,
        limiter: true,
    };
}

pub struct State {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
    deadline: Instant,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl types::Host for State {}

impl host::Host for State {
    async fn log(&mut self, _level: host::LogLevel, _message: String) {}
}

impl exec::Host for State {
    async fn run(
        &mut self,
        _command: String,
        _args: Vec<String>,
    ) -> Result<exec::ExecOutput, String> {
        Err("denied: not granted".into())
    }
}

impl context::Host for State {
    async fn get(&mut self, _key: String) -> Option<String> {
        None
    }
    async fn set(&mut self, _key: String, _value: String) -> Result<(), String> {
        Err("no session".into())
    }
    async fn delete(&mut self, _key: String) -> bool {
        false
    }
    async fn keys(&mut self) -> Vec<String> {
        Vec::new()
    }
}

pub struct RawAsync {
    armed: Armed,
    store: Store<State>,
    bindings: ToolPlugin,
    ctx: CallContext,
    stop: Arc<AtomicBool>,
}

impl Drop for RawAsync {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl RawAsync {
    pub async fn new(path: &str, armed: Armed) -> Result<RawAsync> {
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .consume_fuel(armed.fuel)
            .epoch_interruption(armed.deadline)
            .max_wasm_stack(512 << 10)
            .async_stack_zeroing(true);
        let engine = Engine::new(&config)?;
        let stop = Arc::new(AtomicBool::new(false));
        if armed.deadline {
            let (weak, stop) = (engine.weak(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    match weak.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            });
        }
        let component = Component::from_file(&engine, path)
            .map_err(|e| anyhow::anyhow!("compiling {path}: {e:#}"))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        ToolPlugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        let pre = ToolPluginPre::new(linker.instantiate_pre(&component)?)?;
        let state = State {
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(MEMORY)
                .trap_on_grow_failure(true)
                .build(),
            deadline: Instant::now(),
        };
        let mut store = Store::new(&engine, state);
        if armed.limiter {
            store.limiter(|s| &mut s.limits);
        }
        if armed.deadline {
            store.epoch_deadline_callback(|ctx| {
                Ok(match Instant::now() >= ctx.data().deadline {
                    true => UpdateDeadline::Interrupt,
                    false => UpdateDeadline::Yield(1),
                })
            });
        }
        let mut me_store = store;
        arm(&mut me_store, armed);
        let bindings = pre.instantiate_async(&mut me_store).await?;
        arm(&mut me_store, armed);
        bindings
            .airlock_plugin_lifecycle()
            .call_init(&mut me_store, "{}")
            .await?
            .map_err(|e| anyhow::anyhow!("init failed: {}", e.message))?;
        Ok(RawAsync {
            armed,
            store: me_store,
            bindings,
            ctx: CallContext {
                tenant: "default".into(),
                session_id: String::new(),
                call_id: "bench-1".into(),
            },
            stop,
        })
    }

    pub async fn call(&mut self, tool: &str, arguments: &str) -> Result<String> {
        arm(&mut self.store, self.armed);
        let stop = self.store.data().deadline + Duration::from_millis(50);
        let tools = self.bindings.airlock_plugin_tools();
        let call = tools.call_call_tool(&mut self.store, tool, arguments, &self.ctx);
        let result = match self.armed.deadline {
            true => within(stop, call)
                .await
                .map_err(|_| anyhow::anyhow!("deadline"))??,
            false => call.await?,
        };
        result.map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.message))
    }
}

/// The outer timer as Airlock runs it (`host/src/plugin/timer.rs`): only set up once the
/// call has to wait.
async fn within<F: std::future::Future>(at: Instant, call: F) -> Result<F::Output, ()> {
    let mut call = std::pin::pin!(call);
    let mut timer = std::pin::pin!(None::<tokio::time::Sleep>);
    std::future::poll_fn(move |cx| {
        if let std::task::Poll::Ready(output) = call.as_mut().poll(cx) {
            return std::task::Poll::Ready(Ok(output));
        }
        if timer.is_none() {
            timer.set(Some(tokio::time::sleep_until(at.into())));
        }
        let sleep = timer.as_mut().as_pin_mut().expect("set above");
        sleep.poll(cx).map(|()| Err(()))
    })
    .await
}

fn arm(store: &mut Store<State>, armed: Armed) {
    if armed.fuel {
        store.set_fuel(FUEL).expect("fuel enabled");
    }
    if armed.deadline {
        store.set_epoch_deadline(1);
        store.data_mut().deadline = Instant::now() + DEADLINE;
    }
}

pub fn warm(
    rt: &tokio::runtime::Runtime,
    instance: &mut RawAsync,
    tool: &str,
    arguments: &str,
    n: u64,
) -> Duration {
    rt.block_on(async {
        let start = Instant::now();
        for _ in 0..n {
            let out = instance.call(tool, std::hint::black_box(arguments)).await;
            std::hint::black_box(out.expect("raw async call"));
        }
        start.elapsed()
    })
}
