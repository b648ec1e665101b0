//! Shared helpers for the integration tests: one runtime per test, loading the guest
//! components built by `airlock-guests`, and hand-made fixtures for exact control.

use airlock::{Limits, LoadOptions, Plugin, Runtime};

pub use airlock_guests as guests;

/// A runtime with default limits.
pub fn runtime() -> Runtime {
    Runtime::new().expect("runtime builds")
}

/// Loads `path` with `limits`.
pub async fn load_with(runtime: &Runtime, path: &str, limits: Limits) -> Plugin {
    runtime
        .load_file(path, LoadOptions::default().limits(limits))
        .await
        .unwrap_or_else(|e| panic!("loading {path}: {e}"))
}

/// Loads `path` with default limits.
pub async fn load(runtime: &Runtime, path: &str) -> Plugin {
    load_with(runtime, path, Limits::default()).await
}

/// A core WebAssembly module (not a component).
pub fn core_module() -> Vec<u8> {
    wat::parse_str(r#"(module (func (export "run")))"#).expect("valid wat")
}

/// The first half of a real component: a truncated file.
pub fn truncated(path: &str) -> Vec<u8> {
    let bytes = std::fs::read(path).expect("guest exists");
    bytes[..bytes.len() / 2].to_vec()
}
