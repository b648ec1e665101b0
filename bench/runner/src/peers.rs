//! The peers: a native Rust call, Extism 1.30 (same logic, `extism-pdk`, wasm32-unknown-unknown),
//! a persistent subprocess speaking newline-delimited JSON-RPC 2.0 over stdio, and a process
//! spawned per call. Every one gets the same argument bytes and does the same work
//! (`vowels_core`, identical to `examples/count-vowels`).

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// Native: parse the arguments, count, serialise the answer — no boundary at all.
pub fn native(total: &mut u64, arguments: &str, n: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        let out = vowels_core::count_vowels(total, std::hint::black_box(arguments));
        std::hint::black_box(out.expect("native call"));
    }
    start.elapsed()
}

/// The native call on `threads` OS threads at once: how this machine scales from one CPU
/// to two with no shared state at all.
pub fn native_threads(threads: u64, arguments: &str, n: u64) -> Duration {
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| native(&mut 0, arguments, n));
        }
    });
    start.elapsed()
}

// ---------------------------------------------------------------------------------------
// Extism

#[derive(Clone, Copy)]
pub struct ExtismOptions {
    /// A fuel budget per call (as Airlock's default, 2·10⁹).
    pub fuel: bool,
    /// A 5 s timeout and a 64 MiB memory cap (as Airlock's defaults).
    pub timeout_and_memory: bool,
}

pub fn extism_manifest(wasm: &[u8], options: &ExtismOptions) -> extism::Manifest {
    let manifest = extism::Manifest::new([extism::Wasm::data(wasm.to_vec())]);
    match options.timeout_and_memory {
        true => manifest
            .with_timeout(Duration::from_secs(5))
            .with_memory_max(1024), // 64 KiB pages: 64 MiB
        false => manifest,
    }
}

pub fn extism_builder(wasm: &[u8], options: &ExtismOptions) -> extism::PluginBuilder<'static> {
    let builder = extism::PluginBuilder::new(extism_manifest(wasm, options))
        .with_wasi(false)
        .with_cache_disabled();
    match options.fuel {
        true => builder.with_fuel_limit(2_000_000_000),
        false => builder,
    }
}

pub fn extism_plugin(wasm: &[u8], options: &ExtismOptions) -> Result<extism::Plugin> {
    extism_builder(wasm, options)
        .build()
        .map_err(|e| anyhow::anyhow!("extism plugin: {e:#}"))
}

pub fn extism_call(plugin: &mut extism::Plugin, arguments: &str) -> Result<String> {
    let out: &str = plugin
        .call("count_vowels", arguments)
        .map_err(|e| anyhow::anyhow!("extism call: {e:#}"))?;
    Ok(out.to_string())
}

/// `n` calls on one reused `Plugin` (Extism's fastest way to call).
pub fn extism_warm(plugin: &mut extism::Plugin, arguments: &str, n: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        let out: &str = plugin
            .call("count_vowels", std::hint::black_box(arguments))
            .expect("extism call");
        std::hint::black_box(out);
    }
    start.elapsed()
}

/// `n` times: a new `Plugin` from the already compiled one, one call, drop.
pub fn extism_fresh(compiled: &extism::CompiledPlugin, arguments: &str, n: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        let mut plugin = extism::Plugin::new_from_compiled(compiled).expect("extism instance");
        let out: &str = plugin
            .call("count_vowels", std::hint::black_box(arguments))
            .expect("extism call");
        std::hint::black_box(out);
    }
    start.elapsed()
}

// ---------------------------------------------------------------------------------------
// Persistent subprocess, JSON-RPC 2.0 over stdio

pub struct StdioPlugin {
    child: Child,
    stdin: BufWriter<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    next_id: u64,
    line: String,
}

impl StdioPlugin {
    pub fn start(binary: &str) -> Result<StdioPlugin> {
        let mut child = Command::new(binary)
            .arg("--serve")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {binary} --serve"))?;
        let stdin = BufWriter::new(child.stdin.take().expect("piped"));
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        Ok(StdioPlugin {
            child,
            stdin,
            stdout,
            next_id: 1,
            line: String::new(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// One request/response round trip; the result object parsed, as a client would.
    pub fn call(&mut self, arguments: &str) -> Result<Value> {
        let id = self.next_id;
        self.next_id += 1;
        write!(
            self.stdin,
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"count_vowels","arguments":{arguments}}}}}"#
        )?;
        self.stdin.write_all(b"\n")?;
        self.stdin.flush()?;
        self.line.clear();
        if self.stdout.read_line(&mut self.line)? == 0 {
            bail!("the plugin closed its stdout");
        }
        let mut reply: Value = serde_json::from_str(&self.line)?;
        if reply["id"] != id {
            bail!("reply to the wrong request: {}", self.line.trim_end());
        }
        match reply.get_mut("result") {
            Some(result) => Ok(result.take()),
            None => bail!("error reply: {}", self.line.trim_end()),
        }
    }
}

impl Drop for StdioPlugin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn stdio_warm(plugin: &mut StdioPlugin, arguments: &str, n: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        std::hint::black_box(plugin.call(arguments).expect("stdio call"));
    }
    start.elapsed()
}

// ---------------------------------------------------------------------------------------
// A process per call

/// Spawns the binary, writes the arguments to its stdin, reads its stdout to the end,
/// waits for it to exit, parses the answer.
pub fn spawn_call(binary: &str, arguments: &str) -> Result<Value> {
    let mut child = Command::new(binary)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("spawning {binary}"))?;
    {
        let mut stdin = child.stdin.take().expect("piped");
        stdin.write_all(arguments.as_bytes())?;
    }
    let output = child.wait_with_output()?;
    if !output.status.success() {
        bail!("{binary} exited with {}", output.status);
    }
    Ok(serde_json::from_slice(&output.stdout)?)
}

pub fn spawn_per_call(binary: &str, arguments: &str, n: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        std::hint::black_box(spawn_call(binary, arguments).expect("spawned call"));
    }
    start.elapsed()
}
