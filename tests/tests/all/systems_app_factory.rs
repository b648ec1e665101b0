//! App Factory's plugin model on Airlock (issue #16, `examples/systems/app-factory`): its
//! TTS, STT and LLM contracts as WIT, served by three real plugins through the registry —
//! espeak-ng speaks a real WAV, PocketSphinx hears it back (whole, and as a streaming
//! session), an LLM plugin streams a completion from an OpenAI-compatible server over the
//! `http` capability — with the guide's error codes, `config_schema` defaults, health with
//! latency and memory, and state carried across a swap to a new version.
//! The JSON-RPC round trip from a Python client is `host/cli/tests/all/systems.rs`.

use airlock::progress::{Progress, channel, with_progress};
use airlock::{CallContext, CallError};
use airlock_server::registry::Registry;
use airlock_tests::app_factory::{AppFactory, LLM, STT, TTS};
use airlock_tests::{TempDir, registry_with};
use base64::Engine as _;
use serde_json::{Value, json};

const BASE64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The example, a registry under its policy, and the plugins `names` installed and
/// enabled with the example's configuration.
async fn enabled(names: &[&str]) -> (AppFactory, Registry, TempDir) {
    let example = AppFactory::start();
    let dir = TempDir::new("app-factory-registry");
    let registry = registry_with(&dir, example.parsed_policy());
    for name in names {
        registry.install(&example.folder(name)).await.unwrap();
        registry
            .enable("default", name, example.config(name))
            .await
            .unwrap_or_else(|e| panic!("enabling {name}: {e}"));
    }
    (example, registry, dir)
}

async fn call(registry: &Registry, tool: &str, arguments: Value) -> Result<Value, CallError> {
    registry
        .call_tool(tool, &arguments, &CallContext::default())
        .await
}

/// The plugin error's code, or a panic naming what came instead.
fn code_of(result: Result<Value, CallError>) -> (u32, String) {
    match result {
        Err(CallError::Plugin { code, message, .. }) => (code, message),
        other => panic!("expected a plugin error, got {other:?}"),
    }
}

async fn synthesize(registry: &Registry, text: &str) -> Vec<u8> {
    let audio = call(registry, "tts-espeak.synthesize", json!({"text": text}))
        .await
        .unwrap();
    BASE64.decode(audio.as_str().unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn espeak_speaks_a_real_wav_and_pocketsphinx_hears_it_back_whole_and_streamed() {
    let (_example, registry, _dir) = enabled(&[TTS, STT]).await;
    let wav = synthesize(&registry, "hello world").await;
    // A canonical WAV whose sizes are the real ones (espeak-ng leaves placeholders on a pipe).
    assert_eq!(&wav[0..4], b"RIFF");
    assert_eq!(&wav[8..16], b"WAVEfmt ");
    let riff = u32::from_le_bytes(wav[4..8].try_into().unwrap()) as usize;
    let data = u32::from_le_bytes(wav[40..44].try_into().unwrap()) as usize;
    assert_eq!((riff, data), (wav.len() - 8, wav.len() - 44));
    let rate = u32::from_le_bytes(wav[24..28].try_into().unwrap());
    assert_eq!(
        rate, 22_050,
        "espeak-ng's rate; the STT plugin resamples it"
    );
    assert!(
        data > 22_050,
        "at least half a second of speech: {data} bytes"
    );

    let heard = call(
        &registry,
        "stt-pocketsphinx.transcribe",
        json!({"audio": BASE64.encode(&wav), "language": "en-US"}),
    )
    .await
    .unwrap();
    assert_eq!(heard, json!("hello world"));

    // The streaming session: a handle, chunks fed to the instance holding it, the transcript.
    let session = call(&registry, "stt-pocketsphinx.start-stream", json!({}))
        .await
        .unwrap();
    let chunks: Vec<&[u8]> = wav.chunks(16 << 10).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let status = call(
            &registry,
            "stt-pocketsphinx.feed-audio",
            json!({"session": session, "chunk": BASE64.encode(chunk)}),
        )
        .await
        .unwrap();
        assert_eq!(status["chunks"], json!(i + 1));
    }
    let ended = call(
        &registry,
        "stt-pocketsphinx.end-stream",
        json!({"session": session}),
    )
    .await
    .unwrap();
    assert_eq!(ended, json!("hello world"));
    // `end-stream` took the session: its handle is gone.
    let again = call(
        &registry,
        "stt-pocketsphinx.end-stream",
        json!({"session": session}),
    )
    .await;
    assert!(again.is_err(), "{again:?}");

    let voices = call(&registry, "tts-espeak.get-voices", json!({}))
        .await
        .unwrap();
    let us = voices
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["id"] == "en-us")
        .expect("espeak-ng has en-us");
    assert_eq!(us["name"], "English_(America)");
    let info = call(
        &registry,
        "tts-espeak.get-voice-info",
        json!({"voice-id": "en-us"}),
    )
    .await
    .unwrap();
    assert_eq!(&info, us);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_guides_error_codes_come_back_as_plugin_errors() {
    let (example, registry, _dir) = enabled(&[TTS, STT, LLM]).await;
    let (code, message) = code_of(
        call(
            &registry,
            "tts-espeak.synthesize",
            json!({"text": "hi", "voice-id": "xx-nowhere"}),
        )
        .await,
    );
    assert_eq!(code, 1001, "TTS_VOICE_NOT_FOUND: {message}");
    let (code, message) = code_of(
        call(
            &registry,
            "stt-pocketsphinx.transcribe",
            json!({"audio": BASE64.encode(b"RIFF....WAVEnot audio")}),
        )
        .await,
    );
    assert_eq!(code, 1101, "STT_AUDIO_INVALID: {message}");
    let (code, message) = code_of(
        call(
            &registry,
            "llm-openai.complete",
            json!({"prompt": "hi", "options": {"model": "gpt-nowhere"}}),
        )
        .await,
    );
    assert_eq!(code, 1201, "LLM_MODEL_NOT_AVAILABLE: {message}");
    assert!(message.contains("gpt-nowhere"), "{message}");

    // 1002 under a configured limit (the schema's default is App Factory's 10,000).
    registry
        .enable("default", TTS, json!({"max_text": 5}))
        .await
        .unwrap();
    let (code, message) = code_of(
        call(
            &registry,
            "tts-espeak.synthesize",
            json!({"text": "hello world"}),
        )
        .await,
    );
    assert_eq!(code, 1002, "TTS_TEXT_TOO_LONG: {message}");

    // A server that is gone: 1200.
    let mut config = example.config(LLM);
    config["base_url"] = json!("http://127.0.0.1:9/v1");
    registry.enable("default", LLM, config).await.unwrap();
    let (code, message) =
        code_of(call(&registry, "llm-openai.complete", json!({"prompt": "hi"})).await);
    assert_eq!(code, 1200, "LLM_COMPLETION_FAILED: {message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_llm_plugin_streams_a_completion_chunk_by_chunk_over_http() {
    let (_example, registry, _dir) = enabled(&[LLM]).await;
    let (events, mut received) = channel();
    let context = CallContext::default();
    let arguments = json!({"prompt": "tell me a story"});
    let completion = Box::pin(with_progress(
        events,
        registry.call_tool("llm-openai.stream-complete", &arguments, &context),
    ));
    let collect = async {
        let mut chunks = Vec::new();
        while let Some(event) = received.recv().await {
            if let Progress::Chunk { chunk } = event {
                chunks.push(chunk);
            }
        }
        chunks
    };
    let (result, chunks) = tokio::join!(completion, collect);
    assert_eq!(result.unwrap(), json!("You said: tell me a story"));
    assert_eq!(chunks, ["You", " said:", " tell", " me", " a", " story"]);

    let models = call(&registry, "llm-openai.get-models", json!({}))
        .await
        .unwrap();
    assert_eq!(
        models,
        json!([{"id": "tiny-echo", "owned-by": "airlock-examples"}])
    );
    let reply = call(
        &registry,
        "llm-openai.chat",
        json!({"messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "one two three"}
        ], "options": {"max-tokens": 4}}),
    )
    .await
    .unwrap();
    assert_eq!(
        reply["message"],
        json!({"role": "assistant", "content": "You said: one two"})
    );
    assert_eq!(reply["finish-reason"], "stop");
    assert_eq!(reply["usage"]["completion-tokens"], 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn config_schema_defaults_are_filled_health_has_latency_and_memory_and_a_swap_keeps_state() {
    let (example, registry, _dir) = enabled(&[TTS]).await;
    registry.install(&example.folder(STT)).await.unwrap();
    // A value the schema refuses is refused by name, before the plugin runs; nothing changes.
    let refused = registry
        .enable("default", TTS, json!({"rate": 5000}))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("rate") && refused.contains("450"),
        "{refused}"
    );
    let refused = registry
        .enable("default", STT, json!({}))
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("scratch_dir"), "{refused}");

    synthesize(&registry, "one").await;
    synthesize(&registry, "two").await;
    let health = registry.health("default", TTS).await.unwrap();
    let report = health.report.expect("the plugin's own report");
    // `init` got the schema's defaults for what the configuration left out.
    assert_eq!(report.details["voice"], "en-us");
    assert_eq!(report.details["rate"], 120);
    assert_eq!(report.details["max_text"], 2000);
    assert_eq!(report.details["synthesized"], 2);
    assert!(health.usage.latency_ms > 0.0, "{:?}", health.usage);
    assert!(health.usage.memory_mb > 0.0, "{:?}", health.usage);

    // A new version of the plugin: the swap hands the old instance's state to the new one.
    let manifest = example.folder(TTS).join("airlock.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replace("version = \"1.0.0\"", "version = \"1.1.0\""),
    )
    .unwrap();
    let outcomes = registry.reload(TTS).await.unwrap();
    assert!(outcomes.iter().all(|o| o.succeeded()), "{outcomes:?}");
    let health = registry.health("default", TTS).await.unwrap();
    assert_eq!(health.version, "1.1.0");
    assert_eq!(health.report.unwrap().details["synthesized"], 2);
}
