//! A component of the host's own world (`fixture:typed/typed`, `tests/plugins/typed`) called
//! two ways on the same export, `kitchen.count-vowels(text: string) -> u32`: dynamically,
//! with JSON arguments converted by the export's WIT types (`DynamicComponent::call_json`,
//! what JSON-RPC `plugin/call` and MCP reach), and through `bindgen!` bindings
//! (`DynamicComponent::call_typed`, what a Rust embedder with its own WIT writes). Both run
//! on the same warm instances under the same limits; the difference is the dynamic path's
//! conversions (issue #15: within 1.5× the typed call at count-vowels sizes).

use std::sync::Arc;
use std::time::Instant;

use airlock::dynamic::DynamicComponent;
use serde_json::{Value, json};

use crate::harness::Run;

airlock::wasmtime::component::bindgen!({
    path: "../../tests/plugins/typed/wit",
    world: "typed",
    imports: { default: async },
    exports: { default: async },
    wasmtime_crate: airlock::wasmtime,
});

/// The export both paths call.
pub const EXPORT: &str = "fixture:typed/kitchen@0.1.0#count-vowels";

/// Loads the typed fixture for dynamic and typed calls (default limits).
pub async fn load(runtime: &airlock::Runtime, path: &str) -> anyhow::Result<DynamicComponent> {
    Ok(runtime
        .load_component(path, airlock::LoadOptions::default())
        .await?)
}

/// The dynamic call's arguments for `text`.
pub fn arguments(text: &str) -> Value {
    json!({ "text": text })
}

/// One dynamic call: the count, as JSON.
pub async fn dynamic(component: &DynamicComponent, arguments: &Value) -> Value {
    component
        .call_json(EXPORT, arguments)
        .await
        .expect("dynamic call")
}

/// One typed call: the count. The bindings are looked up on the instance per call, as
/// `call_typed`'s documented use does; the text is shared, not copied, into the call.
pub async fn typed(component: &DynamicComponent, text: &Arc<str>) -> u32 {
    let text = text.clone();
    component
        .call_typed(move |store, instance| {
            Box::pin(async move {
                let bindings = Typed::new(&mut *store, &instance)?;
                bindings
                    .fixture_typed_kitchen()
                    .call_count_vowels(&mut *store, &text)
                    .await
            })
        })
        .await
        .expect("typed call")
}

/// A benchmark of dynamic calls with `text`.
pub fn dynamic_run<'a>(
    rt: &'a tokio::runtime::Runtime,
    component: &'a DynamicComponent,
    text: &str,
) -> Run<'a> {
    let args = arguments(text);
    Box::new(move |n| {
        rt.block_on(async {
            let start = Instant::now();
            for _ in 0..n {
                std::hint::black_box(dynamic(component, std::hint::black_box(&args)).await);
            }
            start.elapsed()
        })
    })
}

/// A benchmark of typed calls with `text`.
pub fn typed_run<'a>(
    rt: &'a tokio::runtime::Runtime,
    component: &'a DynamicComponent,
    text: &str,
) -> Run<'a> {
    let text: Arc<str> = text.into();
    Box::new(move |n| {
        rt.block_on(async {
            let start = Instant::now();
            for _ in 0..n {
                std::hint::black_box(typed(component, std::hint::black_box(&text)).await);
            }
            start.elapsed()
        })
    })
}
