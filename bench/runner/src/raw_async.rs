//! Decomposition rows: the same raw bindings, but called the way Airlock calls them — async
//! (on a fiber), optionally with Airlock's per-call limits armed exactly as
//! `host/src/plugin/instance.rs` arms them: fuel refilled per call, the deadline carried by
//! fuel yields (every 10⁷ units, the clock read at each yield, a timer only once the call
//! waits), and a store memory limiter at the cap with 4 GiB reservations. That combination
//! is the **guarantee floor**: the least any runtime can pay for a fuel budget, a wall-clock
//! deadline and a memory cap. For comparison, the deadline can also ride on epochs (5 ms
//! ticker thread, yield-or-interrupt callback), as Airlock did before. No Airlock layer
//! above that: no schema validation, no `serde_json::Value` round trips, no pool, no call
//! ids. So `Airlock ÷ guarantee floor` is what Airlock's own layers cost.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

use anyhow::Result;
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{
    CallHook, Config, Engine, Store, StoreLimits, StoreLimitsBuilder, Trap, UpdateDeadline,
};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

mod wit {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "airlock:plugin/tool-plugin",
        imports: { default: async },
        exports: { default: async },
    });
}

use wit::airlock::plugin::{context, exec, host, progress, types};
use wit::{ToolPlugin, ToolPluginPre};

use types::CallContext;

/// Airlock's defaults (`Limits::default()`).
const FUEL: u64 = 2_000_000_000;
const DEADLINE: Duration = Duration::from_secs(5);
const MEMORY: usize = 64 << 20;
const TICK: Duration = Duration::from_millis(5);
/// Airlock's `engine::YIELD_FUEL`.
const YIELD_FUEL: u64 = 10_000_000;

/// How the wall-clock deadline is enforced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deadline {
    Off,
    /// Epoch interruption: a 5 ms ticker thread, a yield-or-interrupt callback, and the
    /// outer timer (only once the call waits) 50 ms past the deadline.
    Epoch,
    /// Fuel yields every 10⁷ units, the clock read at each yield and whenever a host call
    /// returns (a call hook), a timer only once the call waits: Airlock's way. Needs `fuel`.
    FuelYield,
}

/// Which of Airlock's per-call limits are armed.
#[derive(Clone, Copy, Debug)]
pub struct Armed {
    /// Fuel metering, refilled before every call.
    pub fuel: bool,
    pub deadline: Deadline,
    /// The store's memory limiter at the cap (64 MiB). Memories keep wasmtime's 4 GiB
    /// reservations, as Airlock's instance pool does by default, so no bounds checks.
    pub limiter: bool,
}

impl Armed {
    pub const NONE: Armed = Armed {
        fuel: false,
        deadline: Deadline::Off,
        limiter: false,
    };
    /// The guarantee floor: every limit Airlock enforces, armed the way it arms them.
    pub const FLOOR: Armed = Armed {
        fuel: true,
        deadline: Deadline::FuelYield,
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

impl progress::Host for State {
    async fn emit(&mut self, _chunk: String) {}
    async fn report(&mut self, _done: u64, _total: Option<u64>, _message: String) {}
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
            .epoch_interruption(armed.deadline == Deadline::Epoch)
            .max_wasm_stack(512 << 10)
            .async_stack_zeroing(true);
        let engine = Engine::new(&config)?;
        let stop = Arc::new(AtomicBool::new(false));
        if armed.deadline == Deadline::Epoch {
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
        match armed.deadline {
            Deadline::Off => {}
            Deadline::Epoch => store.epoch_deadline_callback(|ctx| {
                Ok(match Instant::now() >= ctx.data().deadline {
                    true => UpdateDeadline::Interrupt,
                    false => UpdateDeadline::Yield(1),
                })
            }),
            Deadline::FuelYield => {
                store.fuel_async_yield_interval(Some(YIELD_FUEL))?;
                store.call_hook(|store, hook| match hook {
                    CallHook::ReturningFromHost if Instant::now() >= store.data().deadline => {
                        Err(Trap::Interrupt.into())
                    }
                    _ => Ok(()),
                });
            }
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
        let deadline = self.store.data().deadline;
        let tools = self.bindings.airlock_plugin_tools();
        let call = tools.call_call_tool(&mut self.store, tool, arguments, &self.ctx);
        let result = match self.armed.deadline {
            Deadline::Off => call.await?,
            Deadline::Epoch => within(deadline + Duration::from_millis(50), false, call)
                .await
                .map_err(|_| anyhow::anyhow!("deadline"))??,
            Deadline::FuelYield => within(deadline, true, call)
                .await
                .map_err(|_| anyhow::anyhow!("deadline"))??,
        };
        result.map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.message))
    }

    /// Fuel the last call consumed (the store must meter fuel).
    pub fn fuel_used(&self) -> u64 {
        FUEL - self.store.get_fuel().expect("fuel enabled")
    }
}

/// The outer timer as Airlock runs it (`host/src/plugin/timer.rs`): the clock read at each
/// `Pending` when `check_clock`, a timer set up only once the call returns `Pending`.
async fn within<F: std::future::Future>(
    at: Instant,
    check_clock: bool,
    call: F,
) -> Result<F::Output, ()> {
    let mut call = std::pin::pin!(call);
    let mut timer = std::pin::pin!(None::<tokio::time::Sleep>);
    std::future::poll_fn(move |cx| {
        if let Poll::Ready(output) = call.as_mut().poll(cx) {
            return Poll::Ready(Ok(output));
        }
        if check_clock && Instant::now() >= at {
            return Poll::Ready(Err(()));
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
    match armed.deadline {
        Deadline::Off => {}
        Deadline::Epoch => {
            store.set_epoch_deadline(1);
            store.data_mut().deadline = Instant::now() + DEADLINE;
        }
        Deadline::FuelYield => store.data_mut().deadline = Instant::now() + DEADLINE,
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
