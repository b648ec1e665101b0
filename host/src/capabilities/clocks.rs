//! Clocks: granted by default (the host's wall and monotonic clocks); an operator can
//! replace them with deterministic ones that always read the same instant. Covers
//! `wasi:clocks/*`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use wasmtime::component::Linker;
use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView};
use wasmtime_wasi::p2::bindings::clocks;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtxBuilder};

use super::{Capability, Missing, Prepare, Scope};
use crate::store::InstanceState;

pub const NAME: &str = "clocks";
pub const IMPORTS: &[&str] = &["wasi:clocks/"];

/// The clocks capability (see the module docs): set by the policy alone.
pub struct Clocks;

impl Capability for Clocks {
    const NAME: &'static str = NAME;
    const IMPORTS: &'static [&'static str] = IMPORTS;
    type Request = ();
    type Allow = ClockMode;
    type Grant = ClockMode;
    type Instance = ();

    fn grant(_: &(), mode: &ClockMode, _: &Scope<'_>) -> (ClockMode, Vec<Missing>) {
        (*mode, Vec::new())
    }

    fn link(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
        clocks::wall_clock::add_to_linker::<_, WasiClocks>(linker, InstanceState::clocks)?;
        clocks::monotonic_clock::add_to_linker::<_, WasiClocks>(linker, InstanceState::clocks)
    }

    fn prepare(mode: &ClockMode, instance: &mut Prepare<'_>) -> wasmtime::Result<()> {
        apply(*mode, instance.wasi);
        Ok(())
    }

    /// A plugin does not ask for clocks: the row shows `host`, what it gets by default.
    fn audit(_: &(), mode: &ClockMode, grant: Option<&ClockMode>) -> Option<super::AuditRow> {
        Some(super::AuditRow::new(ClockMode::Host, mode, grant))
    }
}

/// Which clocks a plugin sees.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClockMode {
    #[default]
    Host,
    Deterministic,
}

/// 2023-11-14T22:13:20Z, forever.
const FIXED_WALL: Duration = Duration::from_secs(1_700_000_000);

struct FixedClock;

impl HostWallClock for FixedClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        FIXED_WALL
    }
}

impl HostMonotonicClock for FixedClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

pub fn apply(mode: ClockMode, builder: &mut WasiCtxBuilder) {
    if mode == ClockMode::Deterministic {
        builder.wall_clock(FixedClock).monotonic_clock(FixedClock);
    }
}
