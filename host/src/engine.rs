//! The one shared `Engine`: the component model, async calls, fuel metering and the pooling
//! instance allocator.
//!
//! Fuel is the only instrumentation compiled into guest code. It enforces the fuel budget,
//! and it also carries the wall-clock deadline: a running guest yields to the executor every
//! [`YIELD_FUEL`] units, and the call's timer checks the clock at each yield (see
//! `plugin/timer.rs`). Host calls cost the guest little fuel whatever they cost the host,
//! so the clock is also read whenever one returns (a store call hook, `plugin/instance.rs`).
//! Epoch interruption would add a second check to every loop and function entry for the
//! same guarantee; the benchmarks measured either one alone at about the cost of both, so
//! Airlock compiles only fuel. A plugin whose fuel budget is off (`fuel = None`)
//! is still metered, with a budget it cannot reach, so its deadline works the same way.

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::{Limits, LoadError};

/// Fuel between two yields of a running guest to the async executor: the granularity of the
/// wall-clock deadline for guest code, and of fairness between calls sharing a worker.
///
/// Ten million units are about 1.5 ms of guest code on the benchmark machine (a unit is
/// roughly one wasm operator; count-vowels and a tight loop both ran ~7·10⁹ units a second),
/// far above a normal call (a 10 KiB count-vowels call takes about 365 thousand), so
/// ordinary calls never yield, and a runaway loop is stopped within about that much of its
/// deadline (measured 0.7–1.6 ms late, `tests/tests/all/hostile.rs`).
pub(crate) const YIELD_FUEL: u64 = 10_000_000;

/// Memories and tables one core module may define under the pool: as many as the store
/// limiter lets an instance create by default.
const PER_MODULE: u32 = 32;

/// Guest stack budget; deep recursion traps with a stack overflow at this depth.
const MAX_WASM_STACK: usize = 512 << 10;

/// The pooling instance allocator's size: instances are carved out of memory reserved once,
/// so instantiating is a few page-table updates instead of fresh mappings.
///
/// By default every memory slot reserves 4 GiB of address space (all a 32-bit memory can
/// address) plus guard pages, wasmtime's own design: compiled code then needs no bounds
/// check on memory accesses, which the benchmarks measure at about a quarter of the time
/// of call-heavy guest code such as JSON parsing. The default thousand instances (two
/// thousand memory slots) reserve about 8 TiB of address space, not memory: Linux gives a
/// 64-bit process 128 TiB. Where that reservation fails (a low `ulimit -v`, strict
/// overcommit), the runtime falls back to slots the size of the memory cap, with bounds
/// checks, and logs one line saying so; [`Runtime::instance_pool`](crate::Runtime::instance_pool)
/// tells which it got. The memory cap itself is enforced by the store limiter either way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstancePool {
    /// Most plugin instances alive at once in the runtime, all plugins together: each
    /// warm instance and each instance running a call takes one.
    pub instances: u32,
    /// The largest memory cap any plugin of the runtime may have (bytes). A plugin whose
    /// limits allow more is refused at load.
    pub memory_bytes: usize,
    /// The largest table cap (elements) any plugin of the runtime may have; likewise.
    pub table_elements: usize,
    /// Reserve 4 GiB of address space per memory slot (wasmtime's default; the default
    /// here too) instead of `memory_bytes`, so compiled code needs no bounds checks: faster
    /// guest code for about 4 GiB of address space (not memory) per slot. Memory growth is
    /// still capped at `memory_bytes`. Changing it recompiles cached components (the
    /// engine differs).
    pub elide_bounds_checks: bool,
}

impl InstancePool {
    /// The default number of instance slots.
    pub const DEFAULT_INSTANCES: u32 = 1000;

    /// A pool of [`InstancePool::DEFAULT_INSTANCES`] slots for memories up to `memory_bytes`.
    pub fn for_memory(memory_bytes: usize) -> Self {
        InstancePool {
            instances: InstancePool::DEFAULT_INSTANCES,
            memory_bytes,
            table_elements: Limits::default().table_elements,
            elide_bounds_checks: true,
        }
    }

    /// This pool with 4 GiB slots and no bounds checks (the default; see
    /// [`InstancePool::elide_bounds_checks`]).
    pub fn with_elided_bounds_checks(mut self) -> Self {
        self.elide_bounds_checks = true;
        self
    }

    /// This pool with slots the size of the memory cap: ~200 GiB of address space for the
    /// default thousand instances of a 64 MiB cap instead of ~8 TiB, for an explicit bounds
    /// check on every memory access (what the runtime falls back to when it must).
    pub fn with_bounds_checks(mut self) -> Self {
        self.elide_bounds_checks = false;
        self
    }

    /// The first cap in `limits` a slot cannot hold, as (which cap, the limit, the slot's
    /// size); `None` when the limits fit.
    pub(crate) fn shortfall(&self, limits: &Limits) -> Option<(&'static str, usize, usize)> {
        if limits.memory_bytes > self.memory_bytes {
            return Some(("bytes of memory", limits.memory_bytes, self.memory_bytes));
        }
        if limits.table_elements > self.table_elements {
            return Some(("table elements", limits.table_elements, self.table_elements));
        }
        None
    }

    /// The address space one memory slot reserves: the cap, or with elided bounds checks
    /// at least the 4 GiB a 32-bit memory can address.
    fn reservation(&self) -> u64 {
        const PAGE: u64 = 64 << 10;
        let cap = (self.memory_bytes as u64).div_ceil(PAGE).max(1) * PAGE;
        match self.elide_bounds_checks {
            true => cap.max(4 << 30),
            false => cap,
        }
    }

    fn allocation(&self) -> PoolingAllocationConfig {
        let n = self.instances.max(1);
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(n)
            // A component holds several core instances (its module, shims, adapters) and
            // may hold a few memories and tables; the store limiter caps each instance's
            // counts, these only size the shared pool.
            .total_core_instances(n.saturating_mul(8))
            .total_memories(n.saturating_mul(2))
            .total_tables(n.saturating_mul(4))
            .total_stacks(n)
            // A returned fiber stack is zeroed (`async_stack_zeroing`). Its top 64 KiB, all
            // an ordinary call touches, by `memset`; the rest by the kernel. Decommitting
            // the touched pages too would cost a page fault apiece when the next store
            // uses the slot: measured ~3 µs (7 %) slower per call under isolation `fresh`.
            .async_stack_keep_resident(64 << 10)
            // A returned table is zeroed by `memset` up to 64 KiB (8,192 entries, more than
            // most guests have; only the table's own size is touched), not by `madvise`:
            // each `madvise` also flushes the TLB of every core the process runs on, and
            // a fresh instance's tables cost ~9 µs (19 %) per call that way (isolation
            // `fresh`, count-vowels, measured A/B). Linear memory is left to the kernel:
            // keeping 128 KiB or 2 MiB of it resident measured slower.
            .table_keep_resident(64 << 10)
            .max_memory_size(self.memory_bytes)
            .table_elements(self.table_elements)
            // Wasmtime's pool allows one memory and one table per core module unless told
            // otherwise; the store limiter already caps how many an instance may create.
            .max_memories_per_module(PER_MODULE)
            .max_tables_per_module(PER_MODULE);
        pool
    }
}

/// The engine for `pool`, and the pool it got. Guard-page slots whose address space cannot
/// be reserved (a low `ulimit -v`, `vm.overcommit_memory = 2`) fall back to slots the size
/// of the memory cap, with one log line saying why; any other failure is an error.
pub(crate) fn new_engine(
    pool: Option<InstancePool>,
) -> Result<(Engine, Option<InstancePool>), LoadError> {
    let error = match engine_for(pool.as_ref()) {
        Ok(engine) => return Ok((engine, pool)),
        Err(error) => error,
    };
    match pool {
        Some(pool) if pool.elide_bounds_checks => {
            let fallback = pool.with_bounds_checks();
            let engine = engine_for(Some(&fallback))?;
            tracing::warn!(
                "instance pool: cannot reserve 4 GiB of address space per memory slot ({error}); \
                 using slots of the memory cap ({} bytes) with bounds checks, so guest code runs \
                 slower: raise `ulimit -v` or allow memory overcommit to avoid this",
                fallback.memory_bytes
            );
            Ok((engine, Some(fallback)))
        }
        _ => Err(error),
    }
}

fn engine_for(pool: Option<&InstancePool>) -> Result<Engine, LoadError> {
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .consume_fuel(true)
        .max_wasm_stack(MAX_WASM_STACK)
        // Host stacks of fibers are reused across instances: never leak one plugin's data
        // into the next.
        .async_stack_zeroing(true);
    if let Some(pool) = pool {
        config
            .memory_reservation(pool.reservation())
            // Never move a memory to grow it: the slot already holds the whole cap.
            .memory_reservation_for_growth(0)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool.allocation()));
    }
    Engine::new(&config).map_err(|e| LoadError::Engine(format!("{e:#}")))
}
