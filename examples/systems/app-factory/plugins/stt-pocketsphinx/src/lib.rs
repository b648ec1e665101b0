//! `stt-pocketsphinx`: App Factory's STT contract (`appfactory:contracts/stt`) on CMU
//! PocketSphinx (Debian's `pocketsphinx` + `pocketsphinx-en-us`), run through Airlock's
//! `exec` capability.
//!
//! The recogniser wants 16 kHz mono 16-bit PCM and a file to read (`exec` gives a program
//! no stdin), so this plugin parses the WAV it is given, mixes it to mono and resamples it
//! to 16 kHz here, in wasm, writes it into its granted scratch folder (`/scratch` inside,
//! `scratch_dir` on the host: the operator grants both) and runs
//! `pocketsphinx_continuous -infile FILE -hmm … -lm … -dict … -logfn /dev/null`.
//!
//! Streaming sessions (`start-stream`, `feed-audio`, `end-stream`) are a resource: the audio
//! accumulates in the instance that made the session (capped by `max_audio_bytes`) and is
//! transcribed when it ends.

wit_bindgen::generate!({
    path: "../../wit",
    world: "appfactory:contracts/stt-plugin",
    generate_all,
});

mod wav;

use std::cell::RefCell;

use airlock::plugin::exec;
use airlock::plugin::types::{HealthReport, HealthStatus, PluginError, PluginMetadata};
use exports::airlock::plugin::lifecycle;
use exports::appfactory::contracts::stt::{
    self, AudioStream, AudioStreamBorrow, ContractError, FeedStatus, Language,
};
use serde::{Deserialize, Serialize};

/// Debian's `pocketsphinx-en-us` model (`en-us/`, `en-us.lm.bin`, `cmudict-en-us.dict`):
/// written out in the manifest's exec grant too, so the recogniser reads nothing else as
/// a model.
const MODEL: &str = "/usr/share/pocketsphinx/model/en-us";

/// App Factory's error codes (its guide, "Error Codes").
const TRANSCRIPTION_FAILED: u32 = 1100;
const AUDIO_INVALID: u32 = 1101;

/// The manifest's `[config]` schema fills every default; `scratch_dir` is required.
#[derive(Deserialize, Clone)]
struct Config {
    /// The scratch folder's path on the host (what the recogniser is given).
    scratch_dir: String,
    /// The same folder inside the plugin (its `files` grant's `guest`).
    guest_scratch: String,
    /// Most audio one call or one streaming session takes, in bytes.
    max_audio_bytes: usize,
}

/// What this instance keeps, and hands to its successor on a swap.
#[derive(Serialize, Deserialize, Default, Clone)]
struct State {
    transcribed: u64,
}

thread_local! {
    static CONFIG: RefCell<Option<Config>> = const { RefCell::new(None) };
    static STATE: RefCell<State> = RefCell::new(State::default());
}

fn config() -> Result<Config, ContractError> {
    CONFIG
        .with(|c| c.borrow().clone())
        .ok_or_else(|| error(TRANSCRIPTION_FAILED, "not initialised"))
}

fn error(code: u32, message: impl Into<String>) -> ContractError {
    ContractError {
        code,
        message: message.into(),
    }
}

/// One streaming session's audio so far.
pub struct Session {
    language: Option<String>,
    audio: RefCell<Vec<u8>>,
    chunks: RefCell<u32>,
}

struct Stt;

impl lifecycle::Guest for Stt {
    fn metadata() -> PluginMetadata {
        PluginMetadata {
            name: "stt-pocketsphinx".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            author: "Airlock examples".into(),
            description: "Speech to text with PocketSphinx".into(),
            license: "Apache-2.0".into(),
            permissions: vec!["exec:pocketsphinx_continuous".into()],
            host_versions: ">=0.1".into(),
        }
    }

    fn init(config: String) -> Result<(), PluginError> {
        let parsed: Config = serde_json::from_str(&config).map_err(|e| PluginError {
            code: 400,
            message: format!("configuration: {e}"),
            details: None,
        })?;
        CONFIG.with(|c| *c.borrow_mut() = Some(parsed));
        Ok(())
    }

    fn shutdown() {}

    fn health() -> HealthReport {
        let transcribed = STATE.with(|s| s.borrow().transcribed);
        HealthReport {
            status: HealthStatus::Ready,
            message: "ok".into(),
            details: serde_json::json!({"engine": "pocketsphinx", "transcribed": transcribed})
                .to_string(),
        }
    }

    fn capture_state() -> Option<Vec<u8>> {
        STATE.with(|s| serde_json::to_vec(&*s.borrow()).ok())
    }

    fn restore_state(state: Vec<u8>) -> Result<(), PluginError> {
        let state: State = serde_json::from_slice(&state).map_err(|e| PluginError {
            code: 400,
            message: format!("state from the previous version: {e}"),
            details: None,
        })?;
        STATE.with(|s| *s.borrow_mut() = state);
        Ok(())
    }
}

impl stt::Guest for Stt {
    type AudioStream = Session;

    fn transcribe(audio: Vec<u8>, language: Option<String>) -> Result<String, ContractError> {
        check_language(language.as_deref())?;
        let config = config()?;
        if audio.len() > config.max_audio_bytes {
            return Err(error(
                AUDIO_INVALID,
                format!(
                    "{} bytes of audio, over the {} allowed",
                    audio.len(),
                    config.max_audio_bytes
                ),
            ));
        }
        let samples = wav::decode_to_16k_mono(&audio).map_err(|e| error(AUDIO_INVALID, e))?;
        let text = recognise(&config, &samples)?;
        STATE.with(|s| s.borrow_mut().transcribed += 1);
        Ok(text)
    }

    fn get_languages() -> Vec<Language> {
        vec![Language {
            code: "en-US".into(),
            name: "English (United States)".into(),
        }]
    }

    fn start_stream(language: Option<String>) -> AudioStream {
        AudioStream::new(Session {
            language,
            audio: RefCell::new(Vec::new()),
            chunks: RefCell::new(0),
        })
    }

    fn feed_audio(
        session: AudioStreamBorrow<'_>,
        chunk: Vec<u8>,
    ) -> Result<FeedStatus, ContractError> {
        let session: &Session = session.get();
        let cap = config()?.max_audio_bytes;
        let mut audio = session.audio.borrow_mut();
        if audio.len() + chunk.len() > cap {
            return Err(error(
                AUDIO_INVALID,
                format!("the session's audio would pass the {cap} bytes allowed"),
            ));
        }
        audio.extend_from_slice(&chunk);
        *session.chunks.borrow_mut() += 1;
        Ok(FeedStatus {
            received_bytes: audio.len() as u64,
            chunks: *session.chunks.borrow(),
        })
    }

    fn end_stream(session: AudioStream) -> Result<String, ContractError> {
        let session: Session = session.into_inner();
        <Stt as stt::Guest>::transcribe(session.audio.into_inner(), session.language)
    }
}

impl stt::GuestAudioStream for Session {}

/// Only the installed model's language.
fn check_language(language: Option<&str>) -> Result<(), ContractError> {
    match language {
        None => Ok(()),
        Some(l) if l.eq_ignore_ascii_case("en-us") || l.eq_ignore_ascii_case("en") => Ok(()),
        Some(other) => Err(error(
            TRANSCRIPTION_FAILED,
            format!("no model for language `{other}`: see get-languages"),
        )),
    }
}

/// Writes `samples` as a 16 kHz WAV into the scratch folder, runs the recogniser on it,
/// and removes it.
fn recognise(config: &Config, samples: &[i16]) -> Result<String, ContractError> {
    let name = format!("utterance-{:016x}.wav", unique());
    let inside = format!("{}/{name}", config.guest_scratch);
    std::fs::write(&inside, wav::encode_16k_mono(samples))
        .map_err(|e| error(TRANSCRIPTION_FAILED, format!("writing {inside}: {e}")))?;
    let model = MODEL;
    let args = [
        "-infile".to_string(),
        format!("{}/{name}", config.scratch_dir),
        "-hmm".into(),
        format!("{model}/en-us"),
        "-lm".into(),
        format!("{model}/en-us.lm.bin"),
        "-dict".into(),
        format!("{model}/cmudict-en-us.dict"),
        "-logfn".into(),
        "/dev/null".into(),
    ];
    let out = exec::run("pocketsphinx_continuous", &args);
    let _ = std::fs::remove_file(&inside);
    let out = out.map_err(|e| error(TRANSCRIPTION_FAILED, format!("pocketsphinx: {e}")))?;
    if out.status != 0 || out.truncated {
        let why = String::from_utf8_lossy(&out.stderr);
        return Err(error(
            TRANSCRIPTION_FAILED,
            format!(
                "pocketsphinx exited with {} (output cut at the cap: {}): {why}",
                out.status, out.truncated
            ),
        ));
    }
    // One hypothesis per utterance, one per line.
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// A value no other instance picks (wasi's random source, through std's hasher keys).
fn unique() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(0u8)
}

export!(Stt);
