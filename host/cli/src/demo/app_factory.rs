//! `airlock demo --system app-factory`: App Factory's TTS, STT and LLM contracts on Airlock
//! (`examples/systems/app-factory`). espeak-ng speaks "hello world" through the `exec`
//! grant, PocketSphinx hears it back, and the LLM plugin streams a completion of the
//! transcript from a local OpenAI-compatible server over the `http` grant, piece by piece.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use airlock::policy::Policy;
use airlock::progress::{Progress, channel, with_progress};
use airlock::{CallContext, LoadOptions, Runtime};
use anyhow::{Context, Result, bail};
use serde_json::json;

use super::{outcome, step};

/// (folder under `examples/`, package) of the three plugins.
const PLUGINS: [(&str, &str); 3] = [
    (
        "systems/app-factory/plugins/tts-espeak",
        "appfactory-tts-espeak",
    ),
    (
        "systems/app-factory/plugins/stt-pocketsphinx",
        "appfactory-stt-pocketsphinx",
    ),
    (
        "systems/app-factory/plugins/llm-openai",
        "appfactory-llm-openai",
    ),
];

pub(super) async fn run() -> Result<()> {
    require("espeak-ng", "espeak-ng")?;
    require("pocketsphinx_continuous", "pocketsphinx pocketsphinx-en-us")?;
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/systems/app-factory");
    let dir = super::build_guests(&PLUGINS.map(|(_, package)| package))?;
    let plugins = super::assemble_folders(&dir, &PLUGINS)?;
    let scratch = plugins.join("stt-pocketsphinx/scratch");
    std::fs::create_dir_all(&scratch)?;
    let server = Server::start(&example)?;
    let policy = policy(&example, &plugins)?;
    let runtime = Runtime::new()?;
    let load = |name: &str, config: serde_json::Value| {
        let folder = plugins.join(name);
        let runtime = &runtime;
        let policy = &policy;
        async move {
            runtime
                .load_dir(&folder, policy, LoadOptions::default().config(config))
                .await
                .with_context(|| format!("loading {}", folder.display()))
        }
    };
    let tts = load("tts-espeak", json!({})).await?;
    let stt = load("stt-pocketsphinx", json!({"scratch_dir": scratch})).await?;
    let llm = load("llm-openai", json!({"base_url": server.base_url})).await?;
    let ctx = CallContext::for_tenant("demo");

    step("1. TTS (tts-espeak): espeak-ng through the plugin's exec grant");
    let audio = tts
        .call_tool("synthesize", &json!({"text": "hello world"}), &ctx)
        .await?;
    let encoded = audio.as_str().unwrap_or_default();
    println!(
        "   synthesize {{text: \"hello world\"}} → a WAV of {} bytes",
        encoded.len() * 3 / 4
    );

    step("2. STT (stt-pocketsphinx): the same audio, resampled in wasm, through PocketSphinx");
    let heard = stt
        .call_tool("transcribe", &json!({"audio": encoded}), &ctx)
        .await;
    println!("   transcribe → {}", outcome(&heard));

    step("3. LLM (llm-openai): a streamed completion over the plugin's http grant");
    let prompt = heard.ok().and_then(|t| t.as_str().map(String::from));
    let prompt = prompt.unwrap_or_else(|| "hello world".into());
    let (events, mut received) = channel();
    let arguments = json!({"prompt": prompt});
    let call = Box::pin(with_progress(
        events,
        llm.call_tool("stream-complete", &arguments, &ctx),
    ));
    let printer = async {
        while let Some(event) = received.recv().await {
            if let Progress::Chunk { chunk } = event {
                println!("   │ {}", airlock::text::escape(&chunk));
            }
        }
    };
    let (completion, ()) = tokio::join!(call, printer);
    println!("   stream-complete → {}", outcome(&completion));

    step("4. App Factory's error codes, as plugin errors");
    let missing = tts
        .call_tool(
            "synthesize",
            &json!({"text": "hi", "voice-id": "xx-nowhere"}),
            &ctx,
        )
        .await;
    println!("   synthesize in voice xx-nowhere → {}", outcome(&missing));
    let model = llm
        .call_tool(
            "complete",
            &json!({"prompt": "hi", "options": {"model": "gpt-nowhere"}}),
            &ctx,
        )
        .await;
    println!("   complete with model gpt-nowhere → {}", outcome(&model));

    step("5. Health: the plugin's own report, and what the host measured");
    let health = tts.health().await?;
    let usage = tts.usage();
    println!(
        "   tts-espeak: {:?}, {} | {} calls, {:.1} ms mean latency, {:.1} MiB memory",
        health.status,
        airlock::text::escape(&health.details.to_string()),
        usage.calls,
        usage.latency_ms,
        usage.memory_mb
    );
    Ok(())
}

/// The example's policy (`examples/systems/app-factory/policy.toml`) with the plugin
/// folders where the demo assembled them.
fn policy(example: &Path, plugins: &Path) -> Result<Policy> {
    let path = example.join("policy.toml");
    let text = std::fs::read_to_string(&path)?;
    let plugins = plugins.to_str().context("a UTF-8 target directory")?;
    let deployed = text.replace("/srv/airlock/plugins", plugins);
    Ok(Policy::parse(&deployed, &path, example)?)
}

/// Fails, naming the Debian packages, unless `program` is on the PATH.
fn require(program: &str, packages: &str) -> Result<()> {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        bail!("this scene runs `{program}`: install it with `apt-get install -y {packages}`");
    }
    Ok(())
}

/// `openai_server.py` on a free loopback port; killed on drop.
struct Server {
    child: Child,
    base_url: String,
}

impl Server {
    fn start(example: &Path) -> Result<Server> {
        let script: PathBuf = example.join("openai_server.py");
        let mut child = Command::new("python3")
            .arg(&script)
            .stdout(Stdio::piped())
            .spawn()
            .context("starting python3 (the example's OpenAI-compatible server needs it)")?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().context("the server's stdout")?).read_line(&mut line)?;
        Ok(Server {
            child,
            base_url: line.trim().to_string(),
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
