//! Paths of the guest plugin components, built for `wasm32-wasip2` by this crate's build
//! script: the examples (`CALCULATOR`, `REDACT`, `COUNT_VOWELS`), the misbehaving test plugin
//! (`HOSTILE`), the capability prober (`PROBER`), the examples' assembled plugin folders
//! (`CALCULATOR_DIR`, …) and a plain `wasi:cli` command (`CLI_COMMAND`, the wrong world on purpose).

include!(concat!(env!("OUT_DIR"), "/guests.rs"));
