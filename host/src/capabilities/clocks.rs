//! Clocks: granted by default (the host's wall and monotonic clocks); an operator can
//! replace them with deterministic ones that always read the same instant. Covers
//! `wasi:clocks/*`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtxBuilder};

pub const NAME: &str = "clocks";
pub const IMPORTS: &[&str] = &["wasi:clocks/"];

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
