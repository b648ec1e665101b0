//! The benchmarks: every id, declared once, and the report row each one is shown as. The
//! runner records measurements under an `Id` and the report renders rows from the same
//! `Id`, so a misspelt id fails to compile instead of silently dropping a row, and the
//! exhaustive `Id::row` match means no benchmark can lack a row.

/// Generates, from one list, the `Id` enum, `Id::ALL` and `Id::name`. The order of the list
/// is the order of the rows within each table of the report.
macro_rules! ids {
    ($($id:ident = $name:literal,)*) => {
        /// One benchmark.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Id {
            $($id,)*
        }

        impl Id {
            /// Every benchmark, in report order.
            pub const ALL: &[Id] = &[$(Id::$id,)*];

            /// The id as `--only`, the progress lines and the JSON results spell it.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Id::$id => $name,)*
                }
            }
        }
    };
}

ids! {
    Native96 = "native_96",
    Native10k = "native_10k",
    Raw96 = "raw_96",
    Raw1k = "raw_1k",
    Raw10k = "raw_10k",
    Raw100k = "raw_100k",
    RawAdd = "raw_add",
    RawSized96 = "raw_sized_96",
    RawAsync96 = "raw_async_96",
    RawAsync10k = "raw_async_10k",
    RawAsyncFuel96 = "raw_async_fuel_96",
    RawAsyncDeadline96 = "raw_async_epoch_96",
    Floor96 = "floor_96",
    Floor1k = "floor_1k",
    Floor10k = "floor_10k",
    Floor100k = "floor_100k",
    HostJson96 = "host_json_96",
    HostJson1k = "host_json_1k",
    HostJson10k = "host_json_10k",
    HostJson100k = "host_json_100k",
    HostText96 = "host_text_96",
    HostText1k = "host_text_1k",
    HostText10k = "host_text_10k",
    HostText100k = "host_text_100k",
    Airlock96 = "airlock_96",
    Airlock1k = "airlock_1k",
    Airlock10k = "airlock_10k",
    Airlock100k = "airlock_100k",
    AirlockAdd = "airlock_add",
    AirlockJson96 = "airlock_json_96",
    AirlockJson1k = "airlock_json_1k",
    AirlockJson10k = "airlock_json_10k",
    AirlockJson100k = "airlock_json_100k",
    Typed96 = "typed_96",
    Dynamic96 = "dynamic_96",
    Typed10k = "typed_10k",
    Dynamic10k = "dynamic_10k",
    AirlockBoundsChecked96 = "airlock_bounds_checked_96",
    UsageOn96 = "usage_on_96",
    UsageOff96 = "usage_off_96",
    UsageOn10k = "usage_on_10k",
    UsageOff10k = "usage_off_10k",
    Extism96 = "extism_96",
    Extism1k = "extism_1k",
    Extism10k = "extism_10k",
    Extism100k = "extism_100k",
    ExtismFuel96 = "extism_fuel_96",
    ExtismFuel1k = "extism_fuel_1k",
    ExtismFuel10k = "extism_fuel_10k",
    ExtismFuel100k = "extism_fuel_100k",
    ExtismLimits96 = "extism_limits_96",
    Stdio96 = "stdio_96",
    Stdio10k = "stdio_10k",
    Spawn96 = "spawn_96",
    Spawn10k = "spawn_10k",
    RawFreshPool96 = "raw_fresh_pool_96",
    RawFreshPoolTuned96 = "raw_fresh_pool_tuned_96",
    AirlockFresh96 = "airlock_fresh_96",
    AirlockFreshOndemand96 = "airlock_fresh_ondemand_96",
    ExtismFresh96 = "extism_fresh_96",
    RawSha = "raw_sha",
    RawShaSized = "raw_sha_sized",
    RawAsyncSha = "raw_async_sha",
    RawAsyncShaFuel = "raw_async_sha_fuel",
    RawAsyncShaDeadline = "raw_async_sha_epoch",
    RawAsyncShaLimits = "floor_sha",
    AirlockSha = "airlock_sha",
    TpAirlock1 = "tp_airlock_1",
    TpAirlock2 = "tp_airlock_2",
    TpAirlock8 = "tp_airlock_8",
    TpIdle8_8 = "tp_idle8_8",
    TpPlugins8 = "tp_plugins_8",
    TpTasks1 = "tp_tasks_1",
    TpTasks2 = "tp_tasks_2",
    TpTasks8 = "tp_tasks_8",
    TpRaw1 = "tp_raw_1",
    TpRaw2 = "tp_raw_2",
    TpNative1 = "tp_native_1",
    TpNative2 = "tp_native_2",
    HttpNative = "http_native",
    HttpAirlock = "http_airlock",
}

/// The table of the report a row is shown in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// Warm calls (time per call).
    Warm,
    /// A fresh instance per call.
    Fresh,
    /// The compute-bound plugin.
    Compute,
    /// Calls per second with concurrent callers.
    Throughput,
    /// Airlock's usage counters on vs off (issue #18), in pairs: an "on" row's `base` is
    /// its "off" row.
    Usage,
}

/// How a benchmark is shown in the report.
pub struct Row {
    pub table: Table,
    pub what: &'static str,
    /// The input column; in the throughput table, the number of callers.
    pub input: &'static str,
    /// The row this one is measured against: divided by in the "× raw floor" column, or the
    /// one-caller row of the throughput table's "vs 1 caller" column.
    pub base: Id,
    /// The Airlock row this one is compared with (peer time ÷ Airlock time).
    pub airlock: Option<Id>,
}

const fn row(
    table: Table,
    what: &'static str,
    input: &'static str,
    base: Id,
    airlock: Option<Id>,
) -> Row {
    Row {
        table,
        what,
        input,
        base,
        airlock,
    }
}

/// A throughput row: `callers` in parallel, scaled against the `one` caller row.
const fn callers(callers: &'static str, what: &'static str, one: Id) -> Row {
    row(Table::Throughput, what, callers, one, None)
}

/// The usage-counter pairs (issue #18), in report order: (input, counters on, counters off).
pub fn usage_pairs() -> impl Iterator<Item = (&'static str, Id, Id)> {
    rows(Table::Usage)
        .filter(|(id, r)| r.base != *id)
        .map(|(id, r)| (r.input, id, r.base))
}

/// The rows of `table`, in report order.
pub fn rows(table: Table) -> impl Iterator<Item = (Id, Row)> {
    Id::ALL
        .iter()
        .map(|&id| (id, id.row()))
        .filter(move |(_, r)| r.table == table)
}

impl Id {
    /// How the report shows this benchmark.
    pub const fn row(self) -> Row {
        use Table::{Compute, Fresh, Usage, Warm};
        match self {
            Id::Native96 => row(
                Warm,
                "native Rust call (parse + count + serialise; no boundary) — absolute floor",
                "96 B",
                Id::Raw96,
                Some(Id::Airlock96),
            ),
            Id::Native10k => row(
                Warm,
                "native Rust call",
                "10 KiB",
                Id::Raw10k,
                Some(Id::Airlock10k),
            ),
            Id::Raw96 => row(
                Warm,
                "**raw floor**: wasmtime 48 `bindgen!`, pre-instantiated instance, sync `call-tool`, no limits",
                "96 B",
                Id::Raw96,
                None,
            ),
            Id::Raw1k => row(Warm, "raw floor", "1 KiB", Id::Raw1k, None),
            Id::Raw10k => row(Warm, "raw floor", "10 KiB", Id::Raw10k, None),
            Id::Raw100k => row(Warm, "raw floor", "100 KiB", Id::Raw100k, None),
            Id::RawAdd => row(
                Warm,
                "raw floor, calculator `add`",
                "`{\"a\":1,\"b\":2}`",
                Id::RawAdd,
                None,
            ),
            Id::RawSized96 => row(
                Warm,
                "raw floor, but memories reserved at the 64 MiB cap, as Airlock's pool falls back to (explicit bounds checks instead of 4 GiB guard regions)",
                "96 B",
                Id::Raw96,
                None,
            ),
            Id::RawAsync96 => row(
                Warm,
                "raw, but async call (fiber), no limits",
                "96 B",
                Id::Raw96,
                None,
            ),
            Id::RawAsync10k => row(
                Warm,
                "raw, async call (fiber), no limits",
                "10 KiB",
                Id::Raw10k,
                None,
            ),
            Id::RawAsyncFuel96 => row(
                Warm,
                "raw, async + fuel metering only (refilled per call)",
                "96 B",
                Id::Raw96,
                None,
            ),
            Id::RawAsyncDeadline96 => row(
                Warm,
                "raw, async + an epoch deadline only (5 ms ticker thread + outer timer; Airlock's way before this round, for comparison)",
                "96 B",
                Id::Raw96,
                None,
            ),
            Id::Floor96 => row(
                Warm,
                "**guarantee floor**: raw async + every limit armed per call as Airlock arms it (fuel; deadline by fuel yields every 10⁷ units, clock read at each yield, timer once it waits; memory limiter at 64 MiB; 4 GiB guard-page reservations)",
                "96 B",
                Id::Raw96,
                None,
            ),
            Id::Floor1k => row(Warm, "guarantee floor", "1 KiB", Id::Raw1k, None),
            Id::Floor10k => row(Warm, "guarantee floor", "10 KiB", Id::Raw10k, None),
            Id::Floor100k => row(Warm, "guarantee floor", "100 KiB", Id::Raw100k, None),
            Id::HostJson96 => row(
                Warm,
                "Airlock's host-side JSON work alone, no wasm, for `call_tool`: the arguments (a `Value`) checked against the tool's schema and serialised, the result parsed into a `Value`",
                "96 B",
                Id::Raw96,
                None,
            ),
            Id::HostJson1k => row(Warm, "the same", "1 KiB", Id::Raw1k, None),
            Id::HostJson10k => row(Warm, "the same", "10 KiB", Id::Raw10k, None),
            Id::HostJson100k => row(Warm, "the same", "100 KiB", Id::Raw100k, None),
            Id::HostText96 => row(
                Warm,
                "Airlock's host-side JSON work alone, no wasm, for `call_tool_json`: the arguments' text parsed once and checked against the schema, the result checked to be JSON",
                "96 B",
                Id::Raw96,
                None,
            ),
            Id::HostText1k => row(Warm, "the same", "1 KiB", Id::Raw1k, None),
            Id::HostText10k => row(Warm, "the same", "10 KiB", Id::Raw10k, None),
            Id::HostText100k => row(Warm, "the same", "100 KiB", Id::Raw100k, None),
            Id::Typed96 => row(
                Warm,
                "**custom world, typed call**: the host's own `bindgen!` bindings of `fixture:typed/typed`, `kitchen.count-vowels(text) -> u32`, through `DynamicComponent::call_typed` (bindings looked up on the instance per call, as documented)",
                "96 B",
                Id::Typed96,
                None,
            ),
            Id::Dynamic96 => row(
                Warm,
                "**custom world, dynamic call** of the same export: JSON arguments converted by its WIT types and the result back to JSON (`DynamicComponent::call_json`, what `plugin/call` and MCP reach)",
                "96 B",
                Id::Typed96,
                None,
            ),
            Id::Typed10k => row(
                Warm,
                "custom world, typed call",
                "10 KiB",
                Id::Typed10k,
                None,
            ),
            Id::Dynamic10k => row(
                Warm,
                "custom world, dynamic call",
                "10 KiB",
                Id::Typed10k,
                None,
            ),
            Id::Airlock96 => row(
                Warm,
                "**Airlock warm call** (`Plugin::call_tool`, default limits)",
                "96 B",
                Id::Raw96,
                None,
            ),
            Id::Airlock1k => row(Warm, "**Airlock warm call**", "1 KiB", Id::Raw1k, None),
            Id::Airlock10k => row(Warm, "**Airlock warm call**", "10 KiB", Id::Raw10k, None),
            Id::Airlock100k => row(Warm, "**Airlock warm call**", "100 KiB", Id::Raw100k, None),
            Id::AirlockAdd => row(
                Warm,
                "**Airlock warm call**, calculator `add`",
                "`{\"a\":1,\"b\":2}`",
                Id::RawAdd,
                None,
            ),
            Id::AirlockJson96 => row(
                Warm,
                "Airlock warm call, JSON text in and out (`Plugin::call_tool_json`: arguments parsed once for the schema and passed as given, result checked, not parsed into a tree)",
                "96 B",
                Id::Raw96,
                None,
            ),
            Id::AirlockJson1k => row(
                Warm,
                "Airlock warm call, JSON text in and out",
                "1 KiB",
                Id::Raw1k,
                None,
            ),
            Id::AirlockJson10k => row(
                Warm,
                "Airlock warm call, JSON text in and out",
                "10 KiB",
                Id::Raw10k,
                None,
            ),
            Id::AirlockJson100k => row(
                Warm,
                "Airlock warm call, JSON text in and out",
                "100 KiB",
                Id::Raw100k,
                None,
            ),
            Id::AirlockBoundsChecked96 => row(
                Warm,
                "Airlock warm call, pool of cap-sized slots (`InstancePool::with_bounds_checks`: a bounds check per memory access, ~200 GiB of address space for the default 1000 instances instead of ~8 TiB; the fallback when 4 GiB slots cannot be reserved)",
                "96 B",
                Id::Raw96,
                None,
            ),
            Id::UsageOn96 => row(
                Usage,
                "Airlock warm call, usage counters on (`LoadOptions::default()`)",
                "96 B",
                Id::UsageOff96,
                None,
            ),
            Id::UsageOff96 => row(
                Usage,
                "Airlock warm call, usage counters off (`LoadOptions { usage: false, .. }`)",
                "96 B",
                Id::UsageOff96,
                None,
            ),
            Id::UsageOn10k => row(
                Usage,
                "Airlock warm call, usage counters on",
                "10 KiB",
                Id::UsageOff10k,
                None,
            ),
            Id::UsageOff10k => row(
                Usage,
                "Airlock warm call, usage counters off",
                "10 KiB",
                Id::UsageOff10k,
                None,
            ),
            Id::Extism96 => row(
                Warm,
                "Extism 1.30, reused `Plugin`, no fuel / timeout / memory cap",
                "96 B",
                Id::Raw96,
                Some(Id::Airlock96),
            ),
            Id::Extism1k => row(
                Warm,
                "Extism 1.30, reused `Plugin`, no limits",
                "1 KiB",
                Id::Raw1k,
                Some(Id::Airlock1k),
            ),
            Id::Extism10k => row(
                Warm,
                "Extism 1.30, reused `Plugin`, no limits",
                "10 KiB",
                Id::Raw10k,
                Some(Id::Airlock10k),
            ),
            Id::Extism100k => row(
                Warm,
                "Extism 1.30, reused `Plugin`, no limits",
                "100 KiB",
                Id::Raw100k,
                Some(Id::Airlock100k),
            ),
            Id::ExtismFuel96 => row(
                Warm,
                "Extism 1.30, reused `Plugin`, fuel 2·10⁹ only",
                "96 B",
                Id::Raw96,
                Some(Id::Airlock96),
            ),
            Id::ExtismFuel1k => row(
                Warm,
                "Extism 1.30, reused `Plugin`, fuel only",
                "1 KiB",
                Id::Raw1k,
                Some(Id::Airlock1k),
            ),
            Id::ExtismFuel10k => row(
                Warm,
                "Extism 1.30, reused `Plugin`, fuel only",
                "10 KiB",
                Id::Raw10k,
                Some(Id::Airlock10k),
            ),
            Id::ExtismFuel100k => row(
                Warm,
                "Extism 1.30, reused `Plugin`, fuel only",
                "100 KiB",
                Id::Raw100k,
                Some(Id::Airlock100k),
            ),
            Id::ExtismLimits96 => row(
                Warm,
                "Extism 1.30, reused `Plugin`, fuel 2·10⁹ + timeout 5 s + memory max 64 MiB",
                "96 B",
                Id::Raw96,
                Some(Id::Airlock96),
            ),
            Id::Stdio96 => row(
                Warm,
                "persistent subprocess, newline-delimited JSON-RPC 2.0 over stdio, one round trip",
                "96 B",
                Id::Raw96,
                Some(Id::Airlock96),
            ),
            Id::Stdio10k => row(
                Warm,
                "persistent subprocess, JSON-RPC over stdio",
                "10 KiB",
                Id::Raw10k,
                Some(Id::Airlock10k),
            ),
            Id::Spawn96 => row(
                Warm,
                "process per call (spawn, arguments on stdin, JSON on stdout, exit)",
                "96 B",
                Id::Raw96,
                Some(Id::Airlock96),
            ),
            Id::Spawn10k => row(
                Warm,
                "process per call",
                "10 KiB",
                Id::Raw10k,
                Some(Id::Airlock10k),
            ),
            Id::RawFreshPool96 => row(
                Fresh,
                "**raw fresh floor**: `InstancePre` + pooling allocator, new store + instantiate + `init` + call",
                "96 B",
                Id::RawFreshPool96,
                None,
            ),
            Id::RawFreshPoolTuned96 => row(
                Fresh,
                "raw fresh floor, with the pool setting Airlock adds (`table_keep_resident` 64 KiB: a returned table zeroed by `memset`, not `madvise`)",
                "96 B",
                Id::RawFreshPool96,
                None,
            ),
            Id::AirlockFresh96 => row(
                Fresh,
                "**Airlock, isolation `fresh`** (pooling allocator, 4 GiB slots, 64 MiB cap): instantiate + `init` + call, all limits",
                "96 B",
                Id::RawFreshPool96,
                None,
            ),
            Id::AirlockFreshOndemand96 => row(
                Fresh,
                "Airlock, isolation `fresh`, on-demand allocator (`instance_pool(None)`)",
                "96 B",
                Id::RawFreshPool96,
                None,
            ),
            Id::ExtismFresh96 => row(
                Fresh,
                "Extism 1.30, new `Plugin` from a `CompiledPlugin` + call",
                "96 B",
                Id::RawFreshPool96,
                Some(Id::AirlockFresh96),
            ),
            Id::RawSha => row(
                Compute,
                "**raw floor**: sync call, default engine (4 GiB reservations, no bounds checks), no limits",
                "1 MiB",
                Id::RawSha,
                None,
            ),
            Id::RawShaSized => row(
                Compute,
                "raw sync, memories reserved at the 64 MiB cap (explicit bounds checks), no limits",
                "1 MiB",
                Id::RawSha,
                None,
            ),
            Id::RawAsyncSha => row(
                Compute,
                "raw async (fiber), no limits",
                "1 MiB",
                Id::RawSha,
                None,
            ),
            Id::RawAsyncShaFuel => row(
                Compute,
                "raw async + fuel metering only",
                "1 MiB",
                Id::RawSha,
                None,
            ),
            Id::RawAsyncShaDeadline => row(
                Compute,
                "raw async + an epoch deadline only (for comparison)",
                "1 MiB",
                Id::RawSha,
                None,
            ),
            Id::RawAsyncShaLimits => row(
                Compute,
                "**guarantee floor**: raw async + every limit armed as Airlock arms it (fuel, fuel-yield deadline, limiter, guard-page reservations)",
                "1 MiB",
                Id::RawSha,
                None,
            ),
            Id::AirlockSha => row(
                Compute,
                "**Airlock warm call**, default limits",
                "1 MiB",
                Id::RawSha,
                None,
            ),
            Id::TpAirlock1 => callers(
                "1",
                "**Airlock**, one `Plugin` (default pool), callers on OS threads (`block_on` each)",
                Id::TpAirlock1,
            ),
            Id::TpAirlock2 => callers(
                "2",
                "**Airlock**, one `Plugin`, callers on OS threads",
                Id::TpAirlock1,
            ),
            Id::TpAirlock8 => callers(
                "8",
                "**Airlock**, one `Plugin`, callers on OS threads",
                Id::TpAirlock1,
            ),
            Id::TpIdle8_8 => callers(
                "8",
                "Airlock, one `Plugin` keeping 8 instances idle (`pool(16, 8)`), callers on OS threads",
                Id::TpAirlock1,
            ),
            Id::TpPlugins8 => callers(
                "8",
                "Airlock, **8 plugins**, one OS-thread caller each",
                Id::TpAirlock1,
            ),
            Id::TpTasks1 => callers(
                "1",
                "Airlock, one `Plugin`, callers as tokio tasks on the 2 workers",
                Id::TpTasks1,
            ),
            Id::TpTasks2 => callers(
                "2",
                "Airlock, one `Plugin`, callers as tokio tasks",
                Id::TpTasks1,
            ),
            Id::TpTasks8 => callers(
                "8",
                "Airlock, one `Plugin`, callers as tokio tasks",
                Id::TpTasks1,
            ),
            Id::TpRaw1 => callers(
                "1",
                "raw floor, one OS thread with its own instance",
                Id::TpRaw1,
            ),
            Id::TpRaw2 => callers(
                "2",
                "raw floor, two OS threads, an instance each",
                Id::TpRaw1,
            ),
            Id::TpNative1 => callers(
                "1",
                "native call, one OS thread (machine reference)",
                Id::TpNative1,
            ),
            Id::TpNative2 => callers(
                "2",
                "native call, two OS threads (machine reference)",
                Id::TpNative1,
            ),
            Id::HttpNative => row(
                Warm,
                "outbound HTTP, native Rust: one GET to a loopback server (hyper, new connection, 100 B body)",
                "GET",
                Id::HttpNative,
                Some(Id::HttpAirlock),
            ),
            Id::HttpAirlock => row(
                Warm,
                "outbound HTTP through a plugin: `fetch` (wasi:http; grant check, resolve, blocklist, connect, body into the guest)",
                "GET",
                Id::HttpNative,
                None,
            ),
        }
    }
}
