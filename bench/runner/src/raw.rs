//! The raw floor: the same component called through plain wasmtime 48 component bindings
//! (`bindgen!` over `wit/`, world `tool-plugin`), synchronous, with no Airlock layer and no
//! limits (no fuel, no epoch deadline, no memory limiter, no timer). WASI is linked with an
//! empty context (nothing granted), the Airlock host imports with no-op implementations —
//! count-vowels calls none of them.

use std::time::{Duration, Instant};

use anyhow::Result;
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

mod wit {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "airlock:plugin/tool-plugin",
    });
}

use wit::airlock::plugin::{context, exec, host, progress, types};
use wit::{ToolPlugin, ToolPluginPre};

use types::CallContext;

pub struct State {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl State {
    pub fn new() -> Self {
        State {
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
        }
    }
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
    fn log(&mut self, _level: host::LogLevel, _message: String) {}
}

impl progress::Host for State {
    fn emit(&mut self, _chunk: String) {}
    fn report(&mut self, _done: u64, _total: Option<u64>, _message: String) {}
}

impl exec::Host for State {
    fn run(&mut self, _command: String, _args: Vec<String>) -> Result<exec::ExecOutput, String> {
        Err("denied: not granted".into())
    }
}

impl context::Host for State {
    fn get(&mut self, _key: String) -> Option<String> {
        None
    }
    fn set(&mut self, _key: String, _value: String) -> Result<(), String> {
        Err("no session".into())
    }
    fn delete(&mut self, _key: String) -> bool {
        false
    }
    fn keys(&mut self) -> Vec<String> {
        Vec::new()
    }
}

pub fn call_context() -> CallContext {
    CallContext {
        tenant: "default".into(),
        session_id: String::new(),
        call_id: "bench-1".into(),
    }
}

/// An engine + linker + pre-instantiated component.
pub struct Raw {
    pub engine: Engine,
    pub pre: ToolPluginPre<State>,
}

impl Raw {
    /// Default engine configuration (on-demand allocation).
    pub fn new(path: &str) -> Result<Raw> {
        Raw::with_config(path, Config::new())
    }

    /// The default configuration, but each linear memory reserved at Airlock's default
    /// memory cap (64 MiB) instead of 4 GiB, as Airlock's pool falls back to where 4 GiB
    /// slots cannot be reserved: what explicit bounds checks cost on their own.
    pub fn sized(path: &str) -> Result<Raw> {
        let mut config = Config::new();
        config
            .memory_reservation(64 << 20)
            .memory_reservation_for_growth(0);
        Raw::with_config(path, config)
    }

    /// The pooling allocator, sized for a few dozen live instances of a small component.
    pub fn pooling(path: &str) -> Result<Raw> {
        Raw::with_pool(path, PoolingAllocationConfig::default())
    }

    /// [`Raw::pooling`] with the one pool setting Airlock adds that a synchronous caller
    /// can use too: tables zeroed by `memset` (up to 64 KiB) when a slot is returned.
    pub fn pooling_tuned(path: &str) -> Result<Raw> {
        let mut pool = PoolingAllocationConfig::default();
        pool.table_keep_resident(64 << 10);
        Raw::with_pool(path, pool)
    }

    fn with_pool(path: &str, mut pool: PoolingAllocationConfig) -> Result<Raw> {
        pool.total_component_instances(64)
            .total_core_instances(64 * 8)
            .total_memories(64 * 2)
            .total_tables(64 * 8)
            .max_memory_size(64 << 20);
        let mut config = Config::new();
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        Raw::with_config(path, config)
    }

    fn with_config(path: &str, mut config: Config) -> Result<Raw> {
        config.wasm_component_model(true);
        let engine = Engine::new(&config)?;
        let component = Component::from_file(&engine, path)
            .map_err(|e| anyhow::anyhow!("compiling {path}: {e:#}"))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        ToolPlugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        let pre = ToolPluginPre::new(linker.instantiate_pre(&component)?)?;
        Ok(Raw { engine, pre })
    }

    /// A fresh store + instance, `init`-ed with `{}` (the SDK refuses calls before `init`).
    pub fn instance(&self) -> Result<RawInstance> {
        let mut store = Store::new(&self.engine, State::new());
        let bindings = self.pre.instantiate(&mut store)?;
        bindings
            .airlock_plugin_lifecycle()
            .call_init(&mut store, "{}")?
            .map_err(|e| anyhow::anyhow!("init failed: {}", e.message))?;
        Ok(RawInstance {
            store,
            bindings,
            ctx: call_context(),
        })
    }
}

pub struct RawInstance {
    store: Store<State>,
    bindings: ToolPlugin,
    ctx: CallContext,
}

impl RawInstance {
    pub fn call(&mut self, tool: &str, arguments: &str) -> Result<String> {
        self.bindings
            .airlock_plugin_tools()
            .call_call_tool(&mut self.store, tool, arguments, &self.ctx)?
            .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.message))
    }
}

/// `n` warm calls on one pre-instantiated instance.
pub fn warm(instance: &mut RawInstance, tool: &str, arguments: &str, n: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        let out = instance.call(tool, std::hint::black_box(arguments));
        std::hint::black_box(out.expect("raw call"));
    }
    start.elapsed()
}

/// `n` times: a fresh instance from the `InstancePre`, `init`, one call, drop.
pub fn fresh(raw: &Raw, tool: &str, arguments: &str, n: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        let mut instance = raw.instance().expect("instantiate");
        std::hint::black_box(instance.call(tool, arguments).expect("raw call"));
    }
    start.elapsed()
}

/// `n` warm calls on each of `threads` OS threads, every thread with its own instance: how
/// well the machine itself scales from one core to two.
pub fn threads(instances: &mut [RawInstance], tool: &str, arguments: &str, n: u64) -> Duration {
    let start = Instant::now();
    std::thread::scope(|s| {
        for instance in instances.iter_mut() {
            s.spawn(move || warm(instance, tool, arguments, n));
        }
    });
    start.elapsed()
}
