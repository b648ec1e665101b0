//! `hostile`: a test plugin that misbehaves on request, one tool per attack, plus harmless
//! tools (`echo`, `counter`) to prove the host recovered. Never ship anything like it.

use airlock_sdk::prelude::*;
use std::hint::black_box;

#[derive(Deserialize, JsonSchema)]
struct Text {
    text: String,
}

#[derive(Deserialize, JsonSchema)]
struct Nothing {}

#[derive(Deserialize, JsonSchema)]
struct Size {
    /// Size in MiB.
    mib: usize,
}

#[derive(Deserialize, JsonSchema)]
struct Millis {
    ms: u64,
}

#[derive(Deserialize, JsonSchema)]
struct Words {
    words: Vec<String>,
    /// Milliseconds to wait after each word (as a model's tokens come, spaced in time).
    #[serde(default)]
    delay_ms: u64,
}

#[derive(Deserialize, JsonSchema)]
struct Flood {
    /// How many chunks to emit.
    chunks: u32,
    /// Bytes in each chunk.
    bytes: u32,
    /// One-byte chunks emitted after them.
    #[serde(default)]
    tail: u32,
}

struct Hostile {
    calls: u64,
}

/// How many times the host asked this instance for its metadata.
static METADATA_ASKED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Recursion on the WebAssembly stack only: scalar locals, no address taken, and a
/// non-associative step so the optimiser cannot turn it into a loop.
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    if depth == u64::MAX {
        return 1;
    }
    recurse(depth + 1).rotate_left((depth & 63) as u32) ^ depth
}

/// Recursion with frames in linear memory (Rust's shadow stack), which runs out before the
/// WebAssembly stack does.
#[allow(unconditional_recursion)]
fn recurse_frames(depth: u64) -> u64 {
    let frame = black_box([depth; 16]);
    black_box(recurse_frames(black_box(depth + 1))) + frame[3]
}

impl Plugin for Hostile {
    type Config = NoConfig;

    fn metadata() -> Metadata {
        METADATA_ASKED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Metadata::new("hostile", env!("CARGO_PKG_VERSION"))
            .author("Airlock tests")
            .description("Misbehaves on request: loops, bombs, panics, recursion, huge output.")
    }

    fn init(_config: NoConfig) -> Result<Self, PluginError> {
        Ok(Hostile { calls: 0 })
    }

    fn tools(tools: &mut Tools<Self>) {
        tools
            .tool("echo", "Return the text", |_, x: Text, _| Ok(x.text))
            .tool(
                "whoami",
                "Return the call's context: [tenant, session id, call id]",
                |_, _: Nothing, ctx| {
                    Ok([
                        ctx.tenant.clone(),
                        ctx.session_id.clone(),
                        ctx.call_id.clone(),
                    ])
                },
            )
            .tool(
                "counter",
                "Count calls on this instance",
                |me, _: Nothing, _| {
                    me.calls += 1;
                    Ok(me.calls)
                },
            )
            .tool(
                "metadata_asked",
                "How many times the host asked this instance for its metadata",
                |_, _: Nothing, _| Ok(METADATA_ASKED.load(std::sync::atomic::Ordering::Relaxed)),
            )
            .tool(
                "spin",
                "Loop forever",
                |_, _: Nothing, _| -> Result<(), PluginError> {
                    let mut x = 0u64;
                    loop {
                        x = black_box(x.wrapping_add(1));
                    }
                },
            )
            .tool(
                "grow",
                "Allocate 1 MiB after 1 MiB, forever",
                |_, _: Nothing, _| -> Result<(), PluginError> {
                    let mut hoard: Vec<Vec<u8>> = Vec::new();
                    loop {
                        hoard.push(black_box(vec![1u8; 1 << 20]));
                    }
                },
            )
            .tool(
                "panic",
                "Panic with the text",
                |_, x: Text, _| -> Result<(), PluginError> { panic!("{}", x.text) },
            )
            .tool("recurse", "Recurse without end", |_, _: Nothing, _| {
                Ok(recurse(black_box(0)))
            })
            .tool(
                "recurse_frames",
                "Recurse without end, with big frames",
                |_, _: Nothing, _| Ok(recurse_frames(0)),
            )
            .tool(
                "big_output",
                "Return a string of `mib` MiB",
                |_, x: Size, _| Ok("x".repeat(x.mib << 20)),
            )
            .tool(
                "sleep",
                "Block in the host for `ms` milliseconds",
                |_, x: Millis, _| {
                    std::thread::sleep(std::time::Duration::from_millis(x.ms));
                    Ok(())
                },
            )
            .tool(
                "random_storm",
                "Ask the host for `mib` MiB of random bytes, forever: much host work per \
                 call, little fuel, no waiting",
                |_, x: Size, _| -> Result<(), PluginError> {
                    loop {
                        let bytes = wasip2::random::random::get_random_bytes((x.mib as u64) << 20);
                        black_box(bytes);
                    }
                },
            )
            .tool(
                "stream",
                "Emit each word as a progress chunk, report the count so far, return them joined",
                |_, x: Words, _| {
                    let total = x.words.len() as u64;
                    for (i, word) in x.words.iter().enumerate() {
                        airlock_sdk::progress::emit(word);
                        airlock_sdk::progress::report(
                            i as u64 + 1,
                            Some(total),
                            &format!("word {}", i + 1),
                        );
                        std::thread::sleep(std::time::Duration::from_millis(x.delay_ms));
                    }
                    Ok(x.words.join(" "))
                },
            )
            .tool(
                "flood",
                "Emit `chunks` progress chunks of `bytes` bytes each, as fast as it can",
                |_, x: Flood, _| {
                    let chunk = "x".repeat(x.bytes as usize);
                    for _ in 0..x.chunks {
                        airlock_sdk::progress::emit(&chunk);
                    }
                    for _ in 0..x.tail {
                        airlock_sdk::progress::emit("y");
                    }
                    Ok(x.chunks)
                },
            )
            .tool(
                "naps",
                "Sleep in the host for `ms` milliseconds at a time, forever: little fuel, \
                 all of it spent waiting on a slow host import",
                |_, x: Millis, _| -> Result<(), PluginError> {
                    loop {
                        std::thread::sleep(std::time::Duration::from_millis(x.ms));
                    }
                },
            );
    }
}

airlock_sdk::export_tool_plugin!(Hostile);
