//! `tts-espeak`: App Factory's TTS contract (`appfactory:contracts/tts`) on the `espeak-ng`
//! program, run through Airlock's `exec` capability (the operator grants `espeak-ng` with
//! the argument shapes below and nothing else).
//!
//! `synthesize` runs `espeak-ng -v VOICE -s RATE --stdout TEXT` and returns the WAV it
//! writes, its RIFF and data sizes fixed (espeak-ng cannot seek a pipe, so it writes
//! placeholders there). The voice list comes from `espeak-ng --voices` once per instance.
//! State carried across a hot swap: how many texts it has spoken, and the voice list.

wit_bindgen::generate!({
    path: "../../wit",
    world: "appfactory:contracts/tts-plugin",
    generate_all,
});

use std::cell::RefCell;

use airlock::plugin::exec;
use airlock::plugin::types::{HealthReport, HealthStatus, PluginError, PluginMetadata};
use exports::airlock::plugin::lifecycle;
use exports::appfactory::contracts::tts::{self, ContractError, Voice};
use serde::{Deserialize, Serialize};

/// App Factory's error codes (its guide, "Error Codes").
const SYNTHESIS_FAILED: u32 = 1000;
const VOICE_NOT_FOUND: u32 = 1001;
const TEXT_TOO_LONG: u32 = 1002;

/// The manifest's `[config]` schema fills every default, so all fields are present.
#[derive(Deserialize, Clone)]
struct Config {
    voice: String,
    /// Words per minute.
    rate: u32,
    /// Longest text, in characters (App Factory's guide: 10,000).
    max_text: usize,
}

/// What this instance keeps, and hands to its successor on a swap.
#[derive(Serialize, Deserialize, Default, Clone)]
struct State {
    synthesized: u64,
}

#[derive(Clone)]
struct VoiceRow {
    id: String,
    name: String,
    gender: String,
}

thread_local! {
    static CONFIG: RefCell<Option<Config>> = const { RefCell::new(None) };
    static STATE: RefCell<State> = RefCell::new(State::default());
    /// The voices of the installed espeak-ng, asked once per instance (a new version may
    /// run on a host with other voices, so they are not carried across a swap).
    static VOICES: RefCell<Option<Vec<VoiceRow>>> = const { RefCell::new(None) };
}

fn config() -> Config {
    // Before `init` (never, once loaded): the schema's defaults.
    CONFIG.with(|c| c.borrow().clone()).unwrap_or(Config {
        voice: "en-us".into(),
        rate: 120,
        max_text: 2_000,
    })
}

fn error(code: u32, message: impl Into<String>) -> ContractError {
    ContractError {
        code,
        message: message.into(),
    }
}

struct Tts;

impl lifecycle::Guest for Tts {
    fn metadata() -> PluginMetadata {
        PluginMetadata {
            name: "tts-espeak".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            author: "Airlock examples".into(),
            description: "Text to speech with espeak-ng".into(),
            license: "Apache-2.0".into(),
            permissions: vec!["exec:espeak-ng".into()],
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
        let state = STATE.with(|s| s.borrow().clone());
        HealthReport {
            status: HealthStatus::Ready,
            message: "ok".into(),
            details: serde_json::json!({
                "engine": "espeak-ng",
                "synthesized": state.synthesized,
                "voice": config().voice,
                "rate": config().rate,
                "max_text": config().max_text,
            })
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

impl tts::Guest for Tts {
    fn synthesize(text: String, voice_id: Option<String>) -> Result<Vec<u8>, ContractError> {
        let config = config();
        let chars = text.chars().count();
        if chars > config.max_text {
            return Err(error(
                TEXT_TOO_LONG,
                format!(
                    "the text has {chars} characters, over the {} allowed",
                    config.max_text
                ),
            ));
        }
        let voice = voice_id.unwrap_or(config.voice);
        find_voice(&voice)?;
        // A text starting with `-` would read as an option: a leading space keeps it text
        // (the grant allows only a plain operand there anyway).
        let text = match text.starts_with('-') {
            true => format!(" {text}"),
            false => text,
        };
        let rate = config.rate.to_string();
        let out = exec::run(
            "espeak-ng",
            &["-v", &voice, "-s", &rate, "--stdout", &text].map(String::from),
        )
        .map_err(|e| error(SYNTHESIS_FAILED, format!("espeak-ng: {e}")))?;
        if out.status != 0 || out.truncated {
            let why = String::from_utf8_lossy(&out.stderr);
            return Err(error(
                SYNTHESIS_FAILED,
                format!(
                    "espeak-ng exited with {} (truncated: {}): {why}",
                    out.status, out.truncated
                ),
            ));
        }
        let wav = fix_sizes(out.stdout).map_err(|e| error(SYNTHESIS_FAILED, e))?;
        STATE.with(|s| s.borrow_mut().synthesized += 1);
        Ok(wav)
    }

    fn get_voices() -> Result<Vec<Voice>, ContractError> {
        Ok(voices()?.into_iter().map(to_voice).collect())
    }

    fn get_voice_info(voice_id: String) -> Result<Voice, ContractError> {
        find_voice(&voice_id).map(to_voice)
    }
}

fn to_voice(row: VoiceRow) -> Voice {
    Voice {
        language: row.id.clone(),
        id: row.id,
        name: row.name,
        gender: row.gender,
    }
}

/// The voice `id`, or 1001.
fn find_voice(id: &str) -> Result<VoiceRow, ContractError> {
    voices()?
        .into_iter()
        .find(|v| v.id == id)
        .ok_or_else(|| error(VOICE_NOT_FOUND, format!("no voice `{id}`: see get-voices")))
}

/// Every voice, asked of `espeak-ng --voices` once per instance. A listing that failed,
/// was cut or names no voice is an error, not an empty list to keep.
fn voices() -> Result<Vec<VoiceRow>, ContractError> {
    if let Some(voices) = VOICES.with(|v| v.borrow().clone()) {
        return Ok(voices);
    }
    let out = exec::run("espeak-ng", &["--voices".to_string()])
        .map_err(|e| error(SYNTHESIS_FAILED, format!("espeak-ng --voices: {e}")))?;
    let voices = parse_voices(&String::from_utf8_lossy(&out.stdout));
    if out.status != 0 || out.truncated || voices.is_empty() {
        return Err(error(
            SYNTHESIS_FAILED,
            format!(
                "espeak-ng --voices exited with {} and listed {} voices (cut: {})",
                out.status,
                voices.len(),
                out.truncated
            ),
        ));
    }
    VOICES.with(|v| *v.borrow_mut() = Some(voices.clone()));
    Ok(voices)
}

/// Rows of `espeak-ng --voices`: `Pty Language Age/Gender VoiceName File Other…`.
fn parse_voices(listing: &str) -> Vec<VoiceRow> {
    listing
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [_, id, age_gender, name, ..] = fields.as_slice() else {
                return None;
            };
            let gender = match age_gender.rsplit('/').next() {
                Some("M") => "male",
                Some("F") => "female",
                _ => "",
            };
            Some(VoiceRow {
                id: id.to_string(),
                name: name.to_string(),
                gender: gender.into(),
            })
        })
        .collect()
}

/// Writes the real RIFF and `data` chunk sizes into a canonical 44-byte-header WAV.
fn fix_sizes(mut wav: Vec<u8>) -> Result<Vec<u8>, String> {
    let canonical = wav.len() >= 44
        && &wav[0..4] == b"RIFF"
        && &wav[8..12] == b"WAVE"
        && &wav[36..40] == b"data";
    if !canonical {
        return Err("espeak-ng did not write a WAV".into());
    }
    let total = u32::try_from(wav.len()).map_err(|_| "the WAV is over 4 GiB")?;
    wav[4..8].copy_from_slice(&(total - 8).to_le_bytes());
    wav[40..44].copy_from_slice(&(total - 44).to_le_bytes());
    Ok(wav)
}

export!(Tts);
