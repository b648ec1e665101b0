//! Random: granted by default (the host's CSPRNG, at most 1 MiB per request); an operator can
//! replace it with a deterministic byte stream. Covers `wasi:random/*`.

use serde::{Deserialize, Serialize};
use wasmtime_wasi::{Deterministic, WasiCtxBuilder};

pub const NAME: &str = "random";
pub const IMPORTS: &[&str] = &["wasi:random/"];

/// Largest `get-random-bytes` request a guest may make at once.
const MAX_RANDOM_BYTES: u64 = 1 << 20;

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
