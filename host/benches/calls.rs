//! Call benchmarks on the real example components: a warm call of a trivial tool,
//! count-vowels on 96 bytes (as a `Value` and as JSON text), and isolation `fresh`
//! (instantiate from the pool + init + call). All limits are on (fuel, deadline, memory
//! cap, output cap) as in production. The side-by-side comparison with raw wasmtime and
//! the peers is `bash bench/run.sh` (BENCHMARKS.md).
//!
//! Run: `cargo bench -p airlock --bench calls`

use airlock::{CallContext, Isolation, LoadOptions, Plugin, Runtime};
use airlock_guests as guests;
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;

fn load(
    rt: &tokio::runtime::Runtime,
    runtime: &Runtime,
    path: &str,
    options: LoadOptions,
) -> Plugin {
    rt.block_on(runtime.load_file(path, options))
        .expect("plugin loads")
}

fn calls(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let runtime = Runtime::new().unwrap();
    let ctx = CallContext::default();

    let calculator = load(&rt, &runtime, guests::CALCULATOR, LoadOptions::default());
    let args = json!({"a": 1, "b": 2});
    c.bench_function("warm call: calculator add", |b| {
        b.to_async(&rt)
            .iter(|| calculator.call_tool("add", &args, &ctx))
    });

    let vowels = load(&rt, &runtime, guests::COUNT_VOWELS, LoadOptions::default());
    let text = json!({"text": &"The quick brown fox jumps over the lazy dog. ".repeat(3)[..96]});
    c.bench_function("warm call: count-vowels 96 B", |b| {
        b.to_async(&rt)
            .iter(|| vowels.call_tool("count_vowels", &text, &ctx))
    });

    let text_json = text.to_string();
    c.bench_function("warm call, JSON text: count-vowels 96 B", |b| {
        b.to_async(&rt)
            .iter(|| vowels.call_tool_json("count_vowels", &text_json, &ctx))
    });

    let fresh_options = LoadOptions::default().isolation(Isolation::Fresh);
    let fresh = load(&rt, &runtime, guests::CALCULATOR, fresh_options);
    c.bench_function(
        "isolation fresh: instantiate + init + calculator add",
        |b| b.to_async(&rt).iter(|| fresh.call_tool("add", &args, &ctx)),
    );
}

criterion_group!(benches, calls);
criterion_main!(benches);
