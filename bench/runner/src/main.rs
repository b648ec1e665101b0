//! `airlock-bench`: every count-vowels benchmark of issue #6 in one run, on one machine, with
//! the same argument bytes: the raw wasmtime floor, Airlock, Extism, a persistent stdio
//! JSON-RPC subprocess, a process per call and a native call; plus Airlock's throughput
//! with 1, 2 and 8 concurrent callers, and its warm call with its usage counters on and off
//! (issue #18). Writes the results into BENCHMARKS.md.
//!
//! Normally run through `bench/run.sh`, which builds the components and peers and sets:
//! `AIRLOCK_BENCH_COUNT_VOWELS`, `AIRLOCK_BENCH_CALCULATOR` (Airlock components),
//! `AIRLOCK_BENCH_EXTISM_WASM` (the Extism plugin), `AIRLOCK_BENCH_STDIO` (the subprocess
//! plugin binary), `AIRLOCK_BENCH_PY_COUNT_VOWELS` and `AIRLOCK_BENCH_JS_COUNT_VOWELS` (the
//! Python and JavaScript count-vowels, built by `airlock build`). Options: `--rounds N` (default 60), `--sample-ms N` (20), `--warmup-ms N`
//! (400), `--wait-idle-min N` (first wait up to N minutes for other processes to leave the
//! CPUs idle), `--attempts N` (measure again, up to N times, while other processes took
//! more than 15 % of the CPUs; the quietest attempt is reported), `--only SUBSTRING[,…]`
//! (benchmark ids containing any of them), `--markdown FILE` (splice the results between the markers in FILE),
//! `--json FILE`, `--reproduce "COMMAND"` (shown in the report).

mod catalogue;
mod harness;
mod http;
mod instructions;
mod load;
mod machine;
mod peers;
mod polyglot;
mod raw;
mod raw_async;
mod report;
mod rss;
mod serve_load;
mod typed;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use catalogue::Id;
use harness::{Bench, Run};

const PANGRAM: &str = "The quick brown fox jumps over the lazy dog. ";

/// One measuring attempt: the CPU shares busy (everything, other processes) and the samples
/// of every benchmark.
type Attempt = ((f64, f64), Vec<Vec<f64>>);

pub struct Options {
    rounds: usize,
    sample: Duration,
    warmup: Duration,
    only: Option<String>,
    markdown: Option<String>,
    json: Option<String>,
    reproduce: String,
    wait_idle: Duration,
    attempts: usize,
}

fn options() -> Result<Options> {
    let mut o = Options {
        rounds: 60,
        sample: Duration::from_millis(20),
        warmup: Duration::from_millis(400),
        only: None,
        markdown: None,
        json: None,
        reproduce: "bash bench/run.sh".into(),
        wait_idle: Duration::ZERO,
        attempts: 1,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--rounds" => o.rounds = value()?.parse()?,
            "--sample-ms" => o.sample = Duration::from_millis(value()?.parse()?),
            "--warmup-ms" => o.warmup = Duration::from_millis(value()?.parse()?),
            "--only" => o.only = Some(value()?),
            "--markdown" => o.markdown = Some(value()?),
            "--json" => o.json = Some(value()?),
            "--reproduce" => o.reproduce = value()?,
            "--attempts" => o.attempts = value()?.parse::<usize>()?.max(1),
            "--wait-idle-min" => o.wait_idle = Duration::from_secs(60 * value()?.parse::<u64>()?),
            other => bail!("unknown option {other}"),
        }
    }
    Ok(o)
}

fn env_path(name: &str) -> Result<String> {
    let path =
        std::env::var(name).with_context(|| format!("{name} is not set (run bench/run.sh)"))?;
    if !std::path::Path::new(&path).exists() {
        bail!("{name}={path} does not exist");
    }
    Ok(path)
}

/// The tool's JSON arguments for `text`, serialised once: every contender gets these bytes.
fn arguments(len: usize) -> (String, u64) {
    let text: String = PANGRAM.repeat(len / PANGRAM.len() + 1)[..len].to_string();
    let count = vowels_core::count(&text);
    (serde_json::json!({ "text": text }).to_string(), count)
}

/// `call_tool_json`'s host-side JSON work for one call, alone: the arguments' text parsed
/// and checked against the tool's schema (the validator's yes/no path, as
/// `host/src/schema.rs` takes for valid arguments), the result checked to be JSON. Timed by
/// the main run, counted by `--instructions-child`. Panics on invalid input (the benchmark's
/// own, known good).
fn json_text_work(validator: &jsonschema::Validator, arguments: &str, result: &str) {
    let parsed: Value = serde_json::from_str(std::hint::black_box(arguments)).expect("parses");
    assert!(validator.is_valid(&parsed));
    drop(parsed);
    let checked: &serde_json::value::RawValue =
        serde_json::from_str(std::hint::black_box(result)).expect("is JSON");
    std::hint::black_box(checked);
}

fn check_count(what: &str, out: &Value, expected: u64) -> Result<()> {
    match out["count"].as_u64() {
        Some(c) if c == expected && out["vowels"] == "aeiouAEIOU" => Ok(()),
        _ => bail!("{what} answered {out}, expected count {expected}"),
    }
}

fn check_text(what: &str, out: &str, expected: u64) -> Result<()> {
    let value: Value =
        serde_json::from_str(out).with_context(|| format!("{what} answered {out:?}"))?;
    check_count(what, &value, expected)
}

/// After one call each: the plugin with counters on counted it, the one with them off did
/// not, so the usage rows compare what they claim to (not two plugins counting alike).
fn check_usage(on: &airlock::Plugin, off: &airlock::Plugin) -> Result<()> {
    let (on, off) = (on.usage(), off.usage());
    if on.calls == 0 || on.fuel_total == 0 {
        bail!("usage counters on counted nothing: {on:?}");
    }
    if off.calls != 0 || off.fuel_total != 0 || off.memory_peak_bytes != 0 {
        bail!("usage counters off counted anyway: {off:?}");
    }
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--instructions-child") {
        let kind = args.get(2).context("--instructions-child KIND CALLS")?;
        let calls = args.get(3).context("--instructions-child KIND CALLS")?;
        return instructions::child(kind, calls.parse()?);
    }
    if args.get(1).map(String::as_str) == Some("--rss-child") {
        return rss::child(args.get(2).context("--rss-child COMPONENT")?);
    }
    if args.get(1).map(String::as_str) == Some("--polyglot-child") {
        return polyglot::child(args.get(2).context("--polyglot-child COMPONENTS")?);
    }
    let opts = options()?;
    let count_vowels = env_path("AIRLOCK_BENCH_COUNT_VOWELS")?;
    let calculator = env_path("AIRLOCK_BENCH_CALCULATOR")?;
    let compute = env_path("AIRLOCK_BENCH_COMPUTE")?;
    let guests_dir = env_path("AIRLOCK_BENCH_GUESTS")?;
    let guest = |file: &str| format!("{guests_dir}/{file}");
    let extism_wasm = std::fs::read(env_path("AIRLOCK_BENCH_EXTISM_WASM")?)?;
    let stdio_bin = env_path("AIRLOCK_BENCH_STDIO")?;
    let wanted = |id: &str| {
        let only = opts.only.as_deref();
        only.is_none_or(|o| o.split(',').any(|part| id.contains(part)))
    };

    let (args96, count96) = arguments(96);
    let (args1k, count1k) = arguments(1 << 10);
    let (args10k, count10k) = arguments(10 << 10);
    let (args100k, count100k) = arguments(100 << 10);
    let add = r#"{"a":1,"b":2}"#.to_string();
    let value96: Arc<Value> = Arc::new(serde_json::from_str(&args96)?);
    let value1k: Value = serde_json::from_str(&args1k)?;
    let value10k: Value = serde_json::from_str(&args10k)?;
    let value100k: Value = serde_json::from_str(&args100k)?;
    let value_add: Value = serde_json::from_str(&add)?;
    eprintln!(
        "inputs: {} B and {} B of arguments (text of 96 B and 10 KiB)",
        args96.len(),
        args10k.len()
    );

    if !opts.wait_idle.is_zero() {
        eprintln!(
            "waiting for the machine to be quiet (at most {} min)…",
            opts.wait_idle.as_secs() / 60
        );
        machine::wait_for_quiet(0.15, opts.wait_idle);
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let rt = &rt;
    let machine_before = machine::Machine::probe();
    let started = Instant::now();

    // ---- setup (everything compiled, instantiated and checked once before measuring) ----
    eprintln!("setting up…");
    let mut native_total = 0u64;
    let mut native_total_10k = 0u64;
    check_text(
        "native",
        &vowels_core::count_vowels(&mut 0, &args96).unwrap(),
        count96,
    )?;

    let raw_cv = raw::Raw::new(&count_vowels)?;
    let raw_calc = raw::Raw::new(&calculator)?;
    let mut raw_cv96 = raw_cv.instance()?;
    let mut raw_cv1k = raw_cv.instance()?;
    let mut raw_cv10k = raw_cv.instance()?;
    let mut raw_cv100k = raw_cv.instance()?;
    let mut raw_add = raw_calc.instance()?;
    let raw_cv_sized = raw::Raw::sized(&count_vowels)?;
    let mut raw_sized96 = raw_cv_sized.instance()?;
    check_text(
        "raw sized",
        &raw_sized96.call("count_vowels", &args96)?,
        count96,
    )?;
    check_text("raw", &raw_cv96.call("count_vowels", &args96)?, count96)?;
    check_text("raw", &raw_cv1k.call("count_vowels", &args1k)?, count1k)?;
    check_text("raw", &raw_cv10k.call("count_vowels", &args10k)?, count10k)?;
    check_text(
        "raw",
        &raw_cv100k.call("count_vowels", &args100k)?,
        count100k,
    )?;
    let sum: Value = serde_json::from_str(&raw_add.call("add", &add)?)?;
    if sum["result"] != 3.0 {
        bail!("raw calculator add answered {sum}");
    }
    let raw_pool = raw::Raw::pooling(&count_vowels)?;
    let raw_pool_tuned = raw::Raw::pooling_tuned(&count_vowels)?;
    check_text(
        "raw pooling",
        &raw_pool.instance()?.call("count_vowels", &args96)?,
        count96,
    )?;
    let mut raw_threads1 = vec![raw_cv.instance()?];
    let mut raw_threads2 = vec![raw_cv.instance()?, raw_cv.instance()?];

    use raw_async::{Armed, Deadline};
    let raw_async = |armed| rt.block_on(raw_async::RawAsync::new(&count_vowels, armed));
    let mut raw_async_bare = raw_async(Armed::NONE)?;
    let mut raw_async_bare10k = raw_async(Armed::NONE)?;
    let mut raw_async_fuel = raw_async(Armed {
        fuel: true,
        ..Armed::NONE
    })?;
    let mut raw_async_deadline = raw_async(Armed {
        deadline: Deadline::Epoch,
        ..Armed::NONE
    })?;
    let mut floor96 = raw_async(Armed::FLOOR)?;
    let mut floor1k = raw_async(Armed::FLOOR)?;
    let mut floor10k = raw_async(Armed::FLOOR)?;
    let mut floor100k = raw_async(Armed::FLOOR)?;
    // The work each size takes in the Airlock build of count-vowels, in fuel (≈ wasm
    // operators): the guarantee floor's store meters it.
    let mut airlock_fuel = Vec::new();
    for (floor, args, count) in [
        (&mut floor96, &args96, count96),
        (&mut floor1k, &args1k, count1k),
        (&mut floor10k, &args10k, count10k),
        (&mut floor100k, &args100k, count100k),
    ] {
        check_text(
            "guarantee floor",
            &rt.block_on(floor.call("count_vowels", args))?,
            count,
        )?;
        airlock_fuel.push(floor.fuel_used());
    }
    check_text(
        "raw async",
        &rt.block_on(raw_async_bare10k.call("count_vowels", &args10k))?,
        count10k,
    )?;
    for r in [
        &mut raw_async_bare,
        &mut raw_async_fuel,
        &mut raw_async_deadline,
    ] {
        check_text(
            "raw async",
            &rt.block_on(r.call("count_vowels", &args96))?,
            count96,
        )?;
    }

    // The compute-bound workload: SHA-256 of 1 MiB, generated inside the guest.
    let sha_args = r#"{"kib":1024}"#.to_string();
    let raw_sha_engine = raw::Raw::new(&compute)?;
    let mut raw_sha = raw_sha_engine.instance()?;
    let expected_sha = raw_sha.call("sha256", &sha_args)?;
    let raw_sized_engine = raw::Raw::sized(&compute)?;
    let mut raw_sha_sized = raw_sized_engine.instance()?;
    let raw_sha_async = |armed| rt.block_on(raw_async::RawAsync::new(&compute, armed));
    let mut raw_async_sha = raw_sha_async(Armed::NONE)?;
    let mut raw_async_sha_fuel = raw_sha_async(Armed {
        fuel: true,
        ..Armed::NONE
    })?;
    let mut raw_async_sha_deadline = raw_sha_async(Armed {
        deadline: Deadline::Epoch,
        ..Armed::NONE
    })?;
    let mut raw_async_sha_limits = raw_sha_async(Armed::FLOOR)?;
    if raw_sha_sized.call("sha256", &sha_args)? != expected_sha {
        bail!("raw sized-memory sha256 disagrees");
    }
    for r in [
        &mut raw_async_sha,
        &mut raw_async_sha_fuel,
        &mut raw_async_sha_deadline,
        &mut raw_async_sha_limits,
    ] {
        if rt.block_on(r.call("sha256", &sha_args))? != expected_sha {
            bail!("raw async sha256 disagrees");
        }
    }

    let runtime = airlock::Runtime::new()?;
    let ondemand = airlock::Runtime::builder().instance_pool(None).build()?;
    let checked = airlock::Runtime::builder()
        .instance_pool(Some(
            airlock::InstancePool::for_memory(64 << 20).with_bounds_checks(),
        ))
        .build()?;
    let load = |path: &str, options: airlock::LoadOptions| {
        rt.block_on(runtime.load_file(path, options))
            .with_context(|| format!("airlock loading {path}"))
    };
    let air_cv = load(&count_vowels, airlock::LoadOptions::default())?;
    let air_calc = load(&calculator, airlock::LoadOptions::default())?;
    let air_checked =
        rt.block_on(checked.load_file(&count_vowels, airlock::LoadOptions::default()))?;
    let fresh = || airlock::LoadOptions::default().isolation(airlock::Isolation::Fresh);
    let air_fresh = load(&count_vowels, fresh())?;
    let air_fresh_ondemand = rt.block_on(ondemand.load_file(&count_vowels, fresh()))?;
    let air_sha = load(&compute, airlock::LoadOptions::default())?;
    let air_typed = rt.block_on(typed::load(&runtime, &guest("typed.wasm")))?;
    let (text96, text10k) = (value96["text"].as_str(), value10k["text"].as_str());
    let (text96, text10k) = (text96.context("text")?, text10k.context("text")?);
    for (text, count) in [(text96, count96), (text10k, count10k)] {
        let dynamic = rt.block_on(typed::dynamic(&air_typed, &typed::arguments(text)));
        let typed = rt.block_on(typed::typed(&air_typed, &text.into()));
        if dynamic != serde_json::json!(count) || u64::from(typed) != count {
            bail!("the typed fixture counted {dynamic} (dynamic) and {typed} (typed), not {count}");
        }
    }
    let http_server = rt.block_on(http::serve())?;
    let air_fetch = rt.block_on(http::plugin(&runtime, &guest("fetch.wasm")))?;
    rt.block_on(http::check(&air_fetch, http_server))?;
    let fetch_args = http::arguments(http_server);
    let sha_value: Value = serde_json::from_str(&sha_args)?;
    let out =
        rt.block_on(air_sha.call_tool("sha256", &sha_value, &airlock::CallContext::default()))?;
    if out.as_str() != serde_json::from_str::<Value>(&expected_sha)?.as_str() {
        bail!("airlock sha256 answered {out}, raw {expected_sha}");
    }
    let air_tp = load(&count_vowels, airlock::LoadOptions::default())?;
    // The same with as many idle instances kept as there are callers (8), to tell the pool's
    // idle cap apart from everything else.
    let air_tp8 = load(&count_vowels, airlock::LoadOptions::default().pool(16, 8))?;
    // Eight separate plugins (same component), for callers that each use their own.
    let air_eight = (0..8)
        .map(|_| load(&count_vowels, airlock::LoadOptions::default()))
        .collect::<Result<Vec<_>>>()?;
    // Usage counters on vs off (issue #18): two plugins loaded alike but for
    // `LoadOptions::usage`, neither shared with another row, so the pair differs in that alone.
    let air_usage_on = load(&count_vowels, airlock::LoadOptions::default())?;
    let air_usage_off = load(
        &count_vowels,
        airlock::LoadOptions {
            usage: false,
            ..Default::default()
        },
    )?;
    let air_limits = air_cv.limits().clone();
    let ctx = airlock::CallContext::default();
    for (p, v, c) in [
        (&air_cv, &*value96, count96),
        (&air_cv, &value1k, count1k),
        (&air_cv, &value10k, count10k),
        (&air_cv, &value100k, count100k),
    ] {
        let out = rt.block_on(p.call_tool("count_vowels", v, &ctx))?;
        check_count("airlock", &out, c)?;
    }
    for p in [&air_usage_on, &air_usage_off] {
        let out = rt.block_on(p.call_tool("count_vowels", &value96, &ctx))?;
        check_count("airlock usage", &out, count96)?;
    }
    check_usage(&air_usage_on, &air_usage_off)?;
    let raw_json = rt.block_on(air_cv.call_tool_json("count_vowels", &args96, &ctx))?;
    check_text("airlock json", raw_json.get(), count96)?;
    let out = rt.block_on(air_calc.call_tool("add", &value_add, &ctx))?;
    if out["result"] != 3.0 {
        bail!("airlock calculator add answered {out}");
    }

    let bare = peers::ExtismOptions {
        fuel: false,
        timeout_and_memory: false,
    };
    let fuel = peers::ExtismOptions {
        fuel: true,
        timeout_and_memory: false,
    };
    let limits = peers::ExtismOptions {
        fuel: true,
        timeout_and_memory: true,
    };
    let mut ext_bare = peers::extism_plugin(&extism_wasm, &bare)?;
    let mut ext_bare1k = peers::extism_plugin(&extism_wasm, &bare)?;
    let mut ext_bare10k = peers::extism_plugin(&extism_wasm, &bare)?;
    let mut ext_bare100k = peers::extism_plugin(&extism_wasm, &bare)?;
    let mut ext_fuel = peers::extism_plugin(&extism_wasm, &fuel)?;
    let mut ext_fuel1k = peers::extism_plugin(&extism_wasm, &fuel)?;
    let mut ext_fuel10k = peers::extism_plugin(&extism_wasm, &fuel)?;
    let mut ext_fuel100k = peers::extism_plugin(&extism_wasm, &fuel)?;
    let mut ext_limits = peers::extism_plugin(&extism_wasm, &limits)?;
    let ext_compiled = peers::extism_builder(&extism_wasm, &bare)
        .compile()
        .map_err(|e| anyhow::anyhow!("extism compile: {e:#}"))?;
    for p in [&mut ext_bare, &mut ext_fuel, &mut ext_limits] {
        check_text("extism", &peers::extism_call(p, &args96)?, count96)?;
    }
    for (p, args, count) in [
        (&mut ext_bare1k, &args1k, count1k),
        (&mut ext_bare10k, &args10k, count10k),
        (&mut ext_bare100k, &args100k, count100k),
    ] {
        check_text("extism", &peers::extism_call(p, args)?, count)?;
    }
    // The same work measure for the Extism build: its fuel counts the Extism kernel's
    // own wasm (input and output copies) as well as the plugin's.
    let mut extism_fuel = Vec::new();
    for (p, args, count) in [
        (&mut ext_fuel, &args96, count96),
        (&mut ext_fuel1k, &args1k, count1k),
        (&mut ext_fuel10k, &args10k, count10k),
        (&mut ext_fuel100k, &args100k, count100k),
    ] {
        check_text("extism", &peers::extism_call(p, args)?, count)?;
        extism_fuel.push(p.fuel_consumed().context("extism fuel")?);
    }
    let work: Vec<report::Work> = [args96.len(), args1k.len(), args10k.len(), args100k.len()]
        .into_iter()
        .zip(airlock_fuel.into_iter().zip(extism_fuel))
        .map(|(bytes, (airlock, extism))| report::Work {
            bytes,
            airlock,
            extism,
        })
        .collect();

    let mut stdio96 = peers::StdioPlugin::start(&stdio_bin)?;
    let mut stdio10k = peers::StdioPlugin::start(&stdio_bin)?;
    check_count("stdio", &stdio96.call(&args96)?, count96)?;
    check_count("stdio", &stdio10k.call(&args10k)?, count10k)?;
    let stdio_pids = (stdio96.pid(), stdio10k.pid());
    check_count("spawn", &peers::spawn_call(&stdio_bin, &args96)?, count96)?;

    // Airlock's host-side JSON work on its own, no wasm, as `host/src/plugin/calls.rs` does
    // it: the arguments checked against the tool's schema (the validator's yes/no path, as
    // `host/src/schema.rs` takes for valid arguments), then for `call_tool` serialised to
    // text and the result parsed into a `Value`; for `call_tool_json` parsed from text, and
    // the result only checked to be JSON. The floor plus this is the least any call doing
    // the schema check can cost.
    let cv_schema = air_cv
        .tools()
        .iter()
        .find(|t| t.name == "count_vowels")
        .context("count_vowels tool")?
        .input_schema
        .clone();
    let validator = jsonschema::validator_for(&cv_schema)
        .map_err(|e| anyhow::anyhow!("compiling the schema: {e}"))?;
    let result96 = raw_cv96.call("count_vowels", &args96)?;
    let result1k = raw_cv1k.call("count_vowels", &args1k)?;
    let result10k = raw_cv10k.call("count_vowels", &args10k)?;
    let result100k = raw_cv100k.call("count_vowels", &args100k)?;
    let json_work = |arguments: &Value, result: &str, n: u64| {
        let start = Instant::now();
        for _ in 0..n {
            assert!(validator.is_valid(std::hint::black_box(arguments)));
            let text = serde_json::to_string(arguments).expect("serialises");
            std::hint::black_box(text);
            let out: Value = serde_json::from_str(std::hint::black_box(result)).expect("parses");
            std::hint::black_box(out);
        }
        start.elapsed()
    };
    let text_work = |arguments: &str, result: &str, n: u64| {
        let start = Instant::now();
        for _ in 0..n {
            json_text_work(&validator, arguments, result);
        }
        start.elapsed()
    };
    let text_work = &text_work;
    let json_work = &json_work;

    // ---- the benchmarks ----
    let (a96, a10k, add_s) = (&args96, &args10k, &add);
    let (a1k, a100k) = (&args1k, &args100k);
    let (v96, v1k, v10k, v100k, vadd) = (&*value96, &value1k, &value10k, &value100k, &value_add);
    let ctx = &ctx;
    let airlock_warm = |plugin: &'static str, p: &airlock::Plugin, v: &Value| -> Run<'_> {
        let (p, v) = (p.clone(), v.clone());
        Box::new(move |n| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..n {
                    let out = p.call_tool(plugin, std::hint::black_box(&v), ctx).await;
                    std::hint::black_box(out.expect("airlock call"));
                }
                start.elapsed()
            })
        })
    };
    let airlock_json = |p: &airlock::Plugin, text: &str| -> Run<'_> {
        let (p, text) = (p.clone(), text.to_string());
        Box::new(move |n| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..n {
                    let out = p
                        .call_tool_json("count_vowels", std::hint::black_box(&text), ctx)
                        .await;
                    std::hint::black_box(out.expect("airlock call"));
                }
                start.elapsed()
            })
        })
    };
    // Callers as OS threads, each driving its calls with `block_on` on the shared runtime:
    // truly parallel callers, like the raw reference rows.
    let callers_threads = |plugin: &airlock::Plugin, callers: u64| -> Run<'_> {
        let (p, v) = (plugin.clone(), value96.clone());
        Box::new(move |n| {
            let start = Instant::now();
            std::thread::scope(|s| {
                for _ in 0..callers {
                    let (p, v) = (&p, &v);
                    s.spawn(move || {
                        rt.block_on(async {
                            let ctx = airlock::CallContext::default();
                            for _ in 0..n {
                                let out = p.call_tool("count_vowels", v, &ctx).await;
                                std::hint::black_box(out.expect("airlock call"));
                            }
                        })
                    });
                }
            });
            start.elapsed()
        })
    };
    // Eight OS-thread callers, each on a plugin of its own: nothing shared but the runtime.
    let callers_plugins = |plugins: &[airlock::Plugin]| -> Run<'_> {
        let (plugins, v) = (plugins.to_vec(), value96.clone());
        Box::new(move |n| {
            let start = Instant::now();
            std::thread::scope(|s| {
                for p in &plugins {
                    let v = &v;
                    s.spawn(move || {
                        rt.block_on(async {
                            let ctx = airlock::CallContext::default();
                            for _ in 0..n {
                                let out = p.call_tool("count_vowels", v, &ctx).await;
                                std::hint::black_box(out.expect("airlock call"));
                            }
                        })
                    });
                }
            });
            start.elapsed()
        })
    };
    // Callers as tokio tasks spawned on the runtime's two workers.
    let callers_tasks = |callers: u64| -> Run<'_> {
        let (p, v) = (air_tp.clone(), value96.clone());
        Box::new(move |n| {
            rt.block_on(async {
                let start = Instant::now();
                let tasks: Vec<_> = (0..callers)
                    .map(|_| {
                        let (p, v) = (p.clone(), v.clone());
                        tokio::spawn(async move {
                            let ctx = airlock::CallContext::default();
                            for _ in 0..n {
                                let out = p.call_tool("count_vowels", &v, &ctx).await;
                                std::hint::black_box(out.expect("airlock call"));
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.expect("caller task");
                }
                start.elapsed()
            })
        })
    };

    let mut benches: Vec<Bench> = vec![
        Bench::new(
            Id::Native96,
            1,
            Box::new(|n| peers::native(&mut native_total, a96, n)),
        ),
        Bench::new(
            Id::Native10k,
            1,
            Box::new(|n| peers::native(&mut native_total_10k, a10k, n)),
        ),
        Bench::new(
            Id::Raw96,
            1,
            Box::new(|n| raw::warm(&mut raw_cv96, "count_vowels", a96, n)),
        ),
        Bench::new(
            Id::Raw1k,
            1,
            Box::new(|n| raw::warm(&mut raw_cv1k, "count_vowels", a1k, n)),
        ),
        Bench::new(
            Id::Raw10k,
            1,
            Box::new(|n| raw::warm(&mut raw_cv10k, "count_vowels", a10k, n)),
        ),
        Bench::new(
            Id::Raw100k,
            1,
            Box::new(|n| raw::warm(&mut raw_cv100k, "count_vowels", a100k, n)),
        ),
        Bench::new(
            Id::RawSized96,
            1,
            Box::new(|n| raw::warm(&mut raw_sized96, "count_vowels", a96, n)),
        ),
        Bench::new(
            Id::RawAdd,
            1,
            Box::new(|n| raw::warm(&mut raw_add, "add", add_s, n)),
        ),
        Bench::new(
            Id::RawAsync96,
            1,
            Box::new(|n| raw_async::warm(rt, &mut raw_async_bare, "count_vowels", a96, n)),
        ),
        Bench::new(
            Id::RawAsync10k,
            1,
            Box::new(|n| raw_async::warm(rt, &mut raw_async_bare10k, "count_vowels", a10k, n)),
        ),
        Bench::new(
            Id::RawAsyncFuel96,
            1,
            Box::new(|n| raw_async::warm(rt, &mut raw_async_fuel, "count_vowels", a96, n)),
        ),
        Bench::new(
            Id::RawAsyncDeadline96,
            1,
            Box::new(|n| raw_async::warm(rt, &mut raw_async_deadline, "count_vowels", a96, n)),
        ),
        Bench::new(
            Id::Floor96,
            1,
            Box::new(|n| raw_async::warm(rt, &mut floor96, "count_vowels", a96, n)),
        ),
        Bench::new(
            Id::Floor1k,
            1,
            Box::new(|n| raw_async::warm(rt, &mut floor1k, "count_vowels", a1k, n)),
        ),
        Bench::new(
            Id::Floor10k,
            1,
            Box::new(|n| raw_async::warm(rt, &mut floor10k, "count_vowels", a10k, n)),
        ),
        Bench::new(
            Id::Floor100k,
            1,
            Box::new(|n| raw_async::warm(rt, &mut floor100k, "count_vowels", a100k, n)),
        ),
        Bench::new(
            Id::RawFreshPool96,
            1,
            Box::new(|n| raw::fresh(&raw_pool, "count_vowels", a96, n)),
        ),
        Bench::new(
            Id::RawFreshPoolTuned96,
            1,
            Box::new(|n| raw::fresh(&raw_pool_tuned, "count_vowels", a96, n)),
        ),
        Bench::new(Id::Airlock96, 1, airlock_warm("count_vowels", &air_cv, v96)),
        Bench::new(Id::Airlock1k, 1, airlock_warm("count_vowels", &air_cv, v1k)),
        Bench::new(
            Id::Airlock10k,
            1,
            airlock_warm("count_vowels", &air_cv, v10k),
        ),
        Bench::new(
            Id::Airlock100k,
            1,
            airlock_warm("count_vowels", &air_cv, v100k),
        ),
        Bench::new(Id::AirlockAdd, 1, airlock_warm("add", &air_calc, vadd)),
        Bench::new(Id::AirlockJson96, 1, airlock_json(&air_cv, a96)),
        Bench::new(Id::AirlockJson1k, 1, airlock_json(&air_cv, a1k)),
        Bench::new(Id::AirlockJson10k, 1, airlock_json(&air_cv, a10k)),
        Bench::new(Id::AirlockJson100k, 1, airlock_json(&air_cv, a100k)),
        Bench::new(Id::Typed96, 1, typed::typed_run(rt, &air_typed, text96)),
        Bench::new(Id::Dynamic96, 1, typed::dynamic_run(rt, &air_typed, text96)),
        Bench::new(Id::Typed10k, 1, typed::typed_run(rt, &air_typed, text10k)),
        Bench::new(
            Id::Dynamic10k,
            1,
            typed::dynamic_run(rt, &air_typed, text10k),
        ),
        Bench::new(
            Id::AirlockBoundsChecked96,
            1,
            airlock_warm("count_vowels", &air_checked, v96),
        ),
        // Each pair side by side in the list, so its two samples of a round are taken
        // one right after the other.
        Bench::new(
            Id::UsageOn96,
            1,
            airlock_warm("count_vowels", &air_usage_on, v96),
        ),
        Bench::new(
            Id::UsageOff96,
            1,
            airlock_warm("count_vowels", &air_usage_off, v96),
        ),
        Bench::new(
            Id::UsageOn10k,
            1,
            airlock_warm("count_vowels", &air_usage_on, v10k),
        ),
        Bench::new(
            Id::UsageOff10k,
            1,
            airlock_warm("count_vowels", &air_usage_off, v10k),
        ),
        Bench::new(
            Id::AirlockFresh96,
            1,
            airlock_warm("count_vowels", &air_fresh, v96),
        ),
        Bench::new(
            Id::AirlockFreshOndemand96,
            1,
            airlock_warm("count_vowels", &air_fresh_ondemand, v96),
        ),
        Bench::new(
            Id::RawSha,
            1,
            Box::new(|n| raw::warm(&mut raw_sha, "sha256", &sha_args, n)),
        ),
        Bench::new(
            Id::RawShaSized,
            1,
            Box::new(|n| raw::warm(&mut raw_sha_sized, "sha256", &sha_args, n)),
        ),
        Bench::new(
            Id::RawAsyncSha,
            1,
            Box::new(|n| raw_async::warm(rt, &mut raw_async_sha, "sha256", &sha_args, n)),
        ),
        Bench::new(
            Id::RawAsyncShaFuel,
            1,
            Box::new(|n| raw_async::warm(rt, &mut raw_async_sha_fuel, "sha256", &sha_args, n)),
        ),
        Bench::new(
            Id::RawAsyncShaDeadline,
            1,
            Box::new(|n| raw_async::warm(rt, &mut raw_async_sha_deadline, "sha256", &sha_args, n)),
        ),
        Bench::new(
            Id::RawAsyncShaLimits,
            1,
            Box::new(|n| raw_async::warm(rt, &mut raw_async_sha_limits, "sha256", &sha_args, n)),
        ),
        Bench::new(
            Id::AirlockSha,
            1,
            airlock_warm("sha256", &air_sha, &sha_value),
        ),
        Bench::new(
            Id::HttpNative,
            1,
            Box::new(|n| rt.block_on(http::native(http_server, n))),
        ),
        Bench::new(
            Id::HttpAirlock,
            1,
            airlock_warm("fetch", &air_fetch, &fetch_args),
        ),
        Bench::new(
            Id::Extism96,
            1,
            Box::new(|n| peers::extism_warm(&mut ext_bare, a96, n)),
        ),
        Bench::new(
            Id::Extism1k,
            1,
            Box::new(|n| peers::extism_warm(&mut ext_bare1k, a1k, n)),
        ),
        Bench::new(
            Id::Extism10k,
            1,
            Box::new(|n| peers::extism_warm(&mut ext_bare10k, a10k, n)),
        ),
        Bench::new(
            Id::Extism100k,
            1,
            Box::new(|n| peers::extism_warm(&mut ext_bare100k, a100k, n)),
        ),
        Bench::new(
            Id::ExtismFuel96,
            1,
            Box::new(|n| peers::extism_warm(&mut ext_fuel, a96, n)),
        ),
        Bench::new(
            Id::ExtismFuel1k,
            1,
            Box::new(|n| peers::extism_warm(&mut ext_fuel1k, a1k, n)),
        ),
        Bench::new(
            Id::ExtismFuel10k,
            1,
            Box::new(|n| peers::extism_warm(&mut ext_fuel10k, a10k, n)),
        ),
        Bench::new(
            Id::ExtismFuel100k,
            1,
            Box::new(|n| peers::extism_warm(&mut ext_fuel100k, a100k, n)),
        ),
        Bench::new(
            Id::ExtismLimits96,
            1,
            Box::new(|n| peers::extism_warm(&mut ext_limits, a96, n)),
        ),
        Bench::new(
            Id::ExtismFresh96,
            1,
            Box::new(|n| peers::extism_fresh(&ext_compiled, a96, n)),
        ),
        Bench::new(
            Id::Stdio96,
            1,
            Box::new(|n| peers::stdio_warm(&mut stdio96, a96, n)),
        ),
        Bench::new(
            Id::Stdio10k,
            1,
            Box::new(|n| peers::stdio_warm(&mut stdio10k, a10k, n)),
        ),
        Bench::new(
            Id::Spawn96,
            1,
            Box::new(|n| peers::spawn_per_call(&stdio_bin, a96, n)),
        ),
        Bench::new(
            Id::Spawn10k,
            1,
            Box::new(|n| peers::spawn_per_call(&stdio_bin, a10k, n)),
        ),
        Bench::new(Id::TpAirlock1, 1, callers_threads(&air_tp, 1)),
        Bench::new(Id::TpAirlock2, 2, callers_threads(&air_tp, 2)),
        Bench::new(Id::TpAirlock8, 8, callers_threads(&air_tp, 8)),
        Bench::new(Id::TpIdle8_8, 8, callers_threads(&air_tp8, 8)),
        Bench::new(Id::TpPlugins8, 8, callers_plugins(&air_eight)),
        Bench::new(Id::TpTasks1, 1, callers_tasks(1)),
        Bench::new(Id::TpTasks2, 2, callers_tasks(2)),
        Bench::new(Id::TpTasks8, 8, callers_tasks(8)),
        Bench::new(
            Id::TpNative1,
            1,
            Box::new(|n| peers::native_threads(1, a96, n)),
        ),
        Bench::new(
            Id::TpNative2,
            2,
            Box::new(|n| peers::native_threads(2, a96, n)),
        ),
        Bench::new(
            Id::TpRaw1,
            1,
            Box::new(|n| raw::threads(&mut raw_threads1, "count_vowels", a96, n)),
        ),
        Bench::new(
            Id::TpRaw2,
            2,
            Box::new(|n| raw::threads(&mut raw_threads2, "count_vowels", a96, n)),
        ),
    ];
    // Airlock's host-side JSON work alone, at every size, for each entry point.
    let host_work = [
        (Id::HostJson96, Id::HostText96, v96, a96, &result96),
        (Id::HostJson1k, Id::HostText1k, v1k, a1k, &result1k),
        (Id::HostJson10k, Id::HostText10k, v10k, a10k, &result10k),
        (
            Id::HostJson100k,
            Id::HostText100k,
            v100k,
            a100k,
            &result100k,
        ),
    ];
    for (json, text, value, arguments, result) in host_work {
        benches.push(Bench::new(
            json,
            1,
            Box::new(move |n| json_work(value, result, n)),
        ));
        benches.push(Bench::new(
            text,
            1,
            Box::new(move |n| text_work(arguments, result, n)),
        ));
    }
    benches.retain(|b| wanted(b.id.name()));

    eprintln!(
        "warming up {} benchmarks ({} ms each)…",
        benches.len(),
        opts.warmup.as_millis()
    );
    for b in benches.iter_mut() {
        b.warm_up(opts.warmup, opts.sample);
        eprintln!("  {:<22} batch {}", b.id.name(), b.batch);
    }
    eprintln!(
        "measuring: {} interleaved rounds, ~{} ms per sample…",
        opts.rounds,
        opts.sample.as_millis()
    );
    // A run during which other processes took more than QUIET of the CPUs is repeated (up
    // to `--attempts`), and the quietest attempt kept: which attempt is kept depends only
    // on the machine's load, never on the numbers.
    const QUIET: f64 = 0.15;
    let children = [stdio_pids.0, stdio_pids.1];
    let mut kept: Option<Attempt> = None;
    let mut attempts = 0;
    for attempt in 1..=opts.attempts {
        attempts = attempt;
        if attempt > 1 {
            eprintln!(
                "attempt {attempt}/{}: waiting for a quiet machine first…",
                opts.attempts
            );
            machine::wait_for_quiet(QUIET, opts.wait_idle.max(Duration::from_secs(60)));
        }
        for b in benches.iter_mut() {
            b.samples.clear();
        }
        let cpu_before = machine::CpuTicks::with_children(&children);
        harness::run_rounds(&mut benches, opts.rounds, |r| {
            if r % 10 == 0 || r == opts.rounds {
                eprintln!("  round {r}/{}", opts.rounds);
            }
        });
        let busy = machine::CpuTicks::with_children(&children).busy_since(&cpu_before);
        eprintln!(
            "  other processes kept {:.0} % of the CPUs busy during this attempt",
            busy.1 * 100.0
        );
        if kept.as_ref().is_none_or(|(b, _)| busy.1 < b.1) {
            kept = Some((busy, benches.iter().map(|b| b.samples.clone()).collect()));
        }
        if busy.1 <= QUIET {
            break;
        }
    }
    let (busy, samples) = kept.expect("at least one attempt");
    for (b, s) in benches.iter_mut().zip(samples) {
        b.samples = s;
    }
    let loads = match wanted("load") {
        true => {
            eprintln!("cold vs cached loads…");
            let components = [
                ("calculator", calculator.clone()),
                ("count-vowels", count_vowels.clone()),
                ("redact", guest("redact.wasm")),
                ("compute", compute.clone()),
                ("large", guest("large.wasm")),
            ];
            load::measure(rt, &components, 5, 20)?
        }
        false => Vec::new(),
    };
    let rss = match wanted("rss") {
        true => {
            eprintln!("resident memory per plugin (child process)…");
            Some(rss::measure(&count_vowels)?)
        }
        false => None,
    };
    let polyglot = match wanted("polyglot") {
        true => {
            eprintln!("Rust / Python / JavaScript count-vowels (child process)…");
            let components = [
                ("Rust", count_vowels.clone()),
                ("Python", env_path("AIRLOCK_BENCH_PY_COUNT_VOWELS")?),
                ("JavaScript", env_path("AIRLOCK_BENCH_JS_COUNT_VOWELS")?),
            ];
            polyglot::measure_in_child(&components)?
        }
        false => Vec::new(),
    };
    let serve_load = match wanted("serve") {
        true => {
            eprintln!("the servers under load (release `airlock`, wrk)…");
            let text = value96["text"].as_str().context("the 96 B text")?;
            let plugin = format!("{}/count-vowels", env_path("AIRLOCK_BENCH_PLUGINS")?);
            let airlock = env_path("AIRLOCK_BENCH_AIRLOCK")?;
            serve_load::measure(&airlock, &plugin, text, Duration::from_secs(5))?
        }
        false => Vec::new(),
    };
    let elapsed = started.elapsed();
    let machine_after = machine::Machine::probe();

    let mut results = report::Results::new(
        &benches,
        &opts,
        machine_before,
        machine_after,
        elapsed,
        &air_limits,
        args96.len(),
        args10k.len(),
        busy,
        attempts,
    );
    results.loads = loads;
    results.rss = rss;
    results.polyglot = polyglot;
    results.work = work;
    results.serve_load = serve_load;
    println!("{}", results.markdown());
    if let Some(path) = &opts.json {
        std::fs::write(path, serde_json::to_string_pretty(&results.json())?)?;
        eprintln!("wrote {path}");
    }
    if let Some(path) = &opts.markdown {
        report::splice(path, &results.markdown())?;
        eprintln!("wrote the results into {path}");
    }
    Ok(())
}
