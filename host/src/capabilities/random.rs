//! Random: granted by default (the host's CSPRNG, at most 1 MiB per request); an operator can
//! replace it with a deterministic byte stream. Covers `wasi:random/*`.

use serde::{Deserialize, Serialize};
use wasmtime::component::Linker;
use wasmtime_wasi::p2::bindings::random as wit;
use wasmtime_wasi::random::{WasiRandom, WasiRandomView};
use wasmtime_wasi::{Deterministic, WasiCtxBuilder};

use super::{Capability, Missing, Prepare, Scope};
use crate::store::InstanceState;

pub const NAME: &str = "random";
pub const IMPORTS: &[&str] = &["wasi:random/"];

/// Largest `get-random-bytes` request a guest may make at once.
const MAX_RANDOM_BYTES: u64 = 1 << 20;

/// The random capability (see the module docs): set by the policy alone.
pub struct Random;

impl Capability for Random {
    const NAME: &'static str = NAME;
    const IMPORTS: &'static [&'static str] = IMPORTS;
    type Request = ();
    type Allow = RandomMode;
    type Grant = RandomMode;
    type Instance = ();

    fn grant(_: &(), mode: &RandomMode, _: &Scope<'_>) -> (RandomMode, Vec<Missing>) {
        (*mode, Vec::new())
    }

    fn link(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
        let view = InstanceState::random;
        wit::random::add_to_linker::<_, WasiRandom>(linker, view)?;
        wit::insecure::add_to_linker::<_, WasiRandom>(linker, view)?;
        wit::insecure_seed::add_to_linker::<_, WasiRandom>(linker, view)
    }

    fn prepare(mode: &RandomMode, instance: &mut Prepare<'_>) -> wasmtime::Result<()> {
        apply(*mode, instance.wasi);
        Ok(())
    }

    /// A plugin does not ask for randomness: the row shows `host`, what it gets by default.
    fn audit(_: &(), mode: &RandomMode, grant: Option<&RandomMode>) -> Option<super::AuditRow> {
        Some(super::AuditRow::new(RandomMode::Host, mode, grant))
    }
}

/// Which randomness a plugin sees.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RandomMode {
    #[default]
    Host,
    Deterministic,
}

pub fn apply(mode: RandomMode, builder: &mut WasiCtxBuilder) {
    builder.max_random_size(MAX_RANDOM_BYTES);
    if mode == RandomMode::Deterministic {
        let stream = || Deterministic::new((0u8..=255).collect());
        builder
            .secure_random(stream())
            .insecure_random(stream())
            .insecure_random_seed(0);
    }
}
