//! `--instructions-child KIND CALLS`: makes `CALLS` warm count-vowels calls of one kind and
//! nothing else, for `bench/instructions.sh` to count under valgrind's callgrind. Counted
//! instructions do not depend on what else the machine is doing, so the ratio of two kinds'
//! instructions per call is the same in every run: the noise-free companion of the timed
//! ratios, which a shared VM's neighbours move by ±20 %. The script runs each kind twice
//! with different `CALLS` and divides the difference, so set-up (compiling, loading) cancels.
//!
//! Kinds: `floor_SIZE` (the guarantee floor, `raw_async` with every limit armed),
//! `airlock_SIZE` (`Plugin::call_tool`), `airlock_json_SIZE` (`Plugin::call_tool_json`),
//! `host_text_SIZE` (`call_tool_json`'s host-side JSON work alone); SIZE is `96`, `1k`,
//! `10k` or `100k`.

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::raw_async::{Armed, RawAsync};

/// Runs `calls` calls of `kind`; the count-vowels component comes from the environment, as
/// for the main run.
pub fn child(kind: &str, calls: u64) -> Result<()> {
    let (what, size) = kind.rsplit_once('_').context("KIND is WHAT_SIZE")?;
    let bytes = match size {
        "96" => 96,
        "1k" => 1 << 10,
        "10k" => 10 << 10,
        "100k" => 100 << 10,
        _ => bail!("unknown size `{size}` (96, 1k, 10k, 100k)"),
    };
    let (arguments, count) = crate::arguments(bytes);
    let component = crate::env_path("AIRLOCK_BENCH_COUNT_VOWELS")?;
    // One thread: idle workers of a multi-threaded runtime wake now and then, and their
    // instructions would be counted too (±3 % between runs). The calls themselves run on
    // the calling thread in either, as the timed rows' `block_on` runs them.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let answer = match what {
        "floor" => {
            let mut floor = rt.block_on(RawAsync::new(&component, Armed::FLOOR))?;
            rt.block_on(async {
                let mut last = String::new();
                for _ in 0..calls {
                    last = floor.call("count_vowels", &arguments).await?;
                }
                anyhow::Ok(serde_json::from_str(&last)?)
            })?
        }
        "airlock" => {
            let plugin = rt.block_on(load(&component))?;
            let (ctx, value) = (
                airlock::CallContext::default(),
                serde_json::from_str(&arguments)?,
            );
            rt.block_on(async {
                let mut last = Value::Null;
                for _ in 0..calls {
                    last = plugin.call_tool("count_vowels", &value, &ctx).await?;
                }
                anyhow::Ok(last)
            })?
        }
        "airlock_json" => {
            let plugin = rt.block_on(load(&component))?;
            let ctx = airlock::CallContext::default();
            rt.block_on(async {
                // Kept as text until the end: parsing each answer would count the harness.
                let mut last = None;
                for _ in 0..calls {
                    last = Some(
                        plugin
                            .call_tool_json("count_vowels", &arguments, &ctx)
                            .await?,
                    );
                }
                anyhow::Ok(last.map_or(Ok(Value::Null), |l| serde_json::from_str(l.get()))?)
            })?
        }
        "host_text" => host_text(&rt, &component, &arguments, calls)?,
        _ => bail!("unknown kind `{what}` (floor, airlock, airlock_json, host_text)"),
    };
    if calls > 0 {
        crate::check_count(kind, &answer, count)?;
    }
    Ok(())
}

/// The plugin on a runtime whose pool has a few slots: the call path is the same as with
/// the default thousand, whose 8 TiB of reservations valgrind cannot map.
async fn load(component: &str) -> Result<airlock::Plugin> {
    let pool = airlock::InstancePool {
        instances: 4,
        ..airlock::InstancePool::for_memory(airlock::Limits::default().memory_bytes)
    };
    let runtime = airlock::Runtime::builder()
        .instance_pool(Some(pool))
        .build()?;
    Ok(runtime
        .load_file(component, airlock::LoadOptions::default())
        .await?)
}

/// `call_tool_json`'s host-side JSON work alone ([`crate::json_text_work`]), `calls` times.
fn host_text(
    rt: &tokio::runtime::Runtime,
    component: &str,
    arguments: &str,
    calls: u64,
) -> Result<Value> {
    let plugin = rt.block_on(load(component))?;
    let tool = plugin.tools().iter().find(|t| t.name == "count_vowels");
    let schema = &tool.context("count_vowels tool")?.input_schema;
    let validator = jsonschema::validator_for(schema)
        .map_err(|e| anyhow::anyhow!("compiling the schema: {e}"))?;
    let result = rt
        .block_on(plugin.call_tool_json("count_vowels", arguments, &Default::default()))?
        .get()
        .to_string();
    for _ in 0..calls {
        crate::json_text_work(&validator, arguments, &result);
    }
    Ok(serde_json::from_str(&result)?)
}
