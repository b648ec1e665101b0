//! `llm-openai`: App Factory's LLM contract (`appfactory:contracts/llm`) over the
//! OpenAI-compatible chat-completions protocol (`POST {base_url}/chat/completions`,
//! `GET {base_url}/models`), through Airlock's `http` capability: the operator grants the
//! server's URL and nothing else is reachable.
//!
//! `stream-complete` asks for a streamed completion (`"stream": true`: server-sent events,
//! one `data: {…"delta":{"content":…}}` per piece, then `data: [DONE]`) and passes each
//! piece on through Airlock's `progress.emit` as it arrives; its result is the whole text.
//! An error whose `code` is `model_not_found` is App Factory's 1201; any other failure,
//! and a stream that ends before `data: [DONE]`, 1200.

wit_bindgen::generate!({
    path: "../../wit",
    world: "appfactory:contracts/llm-plugin",
    generate_all,
});

mod http;

use std::cell::RefCell;

use airlock::plugin::progress;
use airlock::plugin::types::{HealthReport, HealthStatus, PluginError, PluginMetadata};
use exports::airlock::plugin::lifecycle;
use exports::appfactory::contracts::llm::{
    self, ChatReply, ContractError, Message, ModelInfo, Options, TokenUsage,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use wasip2::http::types::Method;

/// App Factory's error codes (its guide, "Error Codes").
const COMPLETION_FAILED: u32 = 1200;
const MODEL_NOT_AVAILABLE: u32 = 1201;

/// The manifest's `[config]` schema fills every default; `base_url` is required.
#[derive(Deserialize, Clone)]
struct Config {
    /// `http://host:port/v1`: where `/chat/completions` and `/models` are.
    base_url: String,
    /// The model asked for when a call names none.
    model: String,
    /// Sent as `Authorization: Bearer …` when not empty.
    api_key: String,
    /// Most bytes one response may have.
    max_response_bytes: usize,
}

/// What this instance keeps, and hands to its successor on a swap.
#[derive(Serialize, Deserialize, Default, Clone)]
struct State {
    completions: u64,
    completion_tokens: u64,
}

thread_local! {
    static CONFIG: RefCell<Option<Config>> = const { RefCell::new(None) };
    static STATE: RefCell<State> = RefCell::new(State::default());
}

fn config() -> Result<Config, ContractError> {
    CONFIG
        .with(|c| c.borrow().clone())
        .ok_or_else(|| error(COMPLETION_FAILED, "not initialised"))
}

fn error(code: u32, message: impl Into<String>) -> ContractError {
    ContractError {
        code,
        message: message.into(),
    }
}

struct Llm;

impl lifecycle::Guest for Llm {
    fn metadata() -> PluginMetadata {
        PluginMetadata {
            name: "llm-openai".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            author: "Airlock examples".into(),
            description: "Chat completions from an OpenAI-compatible server".into(),
            license: "Apache-2.0".into(),
            permissions: vec!["http:base_url".into()],
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
            details: serde_json::to_string(&state).unwrap_or_else(|_| "{}".into()),
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

impl llm::Guest for Llm {
    fn complete(prompt: String, options: Option<Options>) -> Result<String, ContractError> {
        let reply = <Llm as llm::Guest>::chat(vec![user(prompt)], options)?;
        Ok(reply.message.content)
    }

    fn chat(messages: Vec<Message>, options: Option<Options>) -> Result<ChatReply, ContractError> {
        let config = config()?;
        let request = body(&config, &messages, options.as_ref(), false);
        let answer = whole(&config, Method::Post, "chat/completions", &request)?;
        let choice = &answer["choices"][0];
        let usage = answer.get("usage").map(|u| TokenUsage {
            prompt_tokens: u["prompt_tokens"].as_u64().unwrap_or(0) as u32,
            completion_tokens: u["completion_tokens"].as_u64().unwrap_or(0) as u32,
        });
        count(usage.as_ref().map_or(0, |u| u.completion_tokens as u64));
        Ok(ChatReply {
            message: Message {
                role: text_of(&choice["message"]["role"], "assistant"),
                content: text_of(&choice["message"]["content"], ""),
            },
            model: text_of(&answer["model"], &config.model),
            finish_reason: text_of(&choice["finish_reason"], ""),
            usage,
        })
    }

    fn get_models() -> Result<Vec<ModelInfo>, ContractError> {
        let config = config()?;
        let answer = whole(&config, Method::Get, "models", &[])?;
        let models = answer["data"].as_array().cloned().unwrap_or_default();
        Ok(models
            .iter()
            .map(|m| ModelInfo {
                id: text_of(&m["id"], ""),
                owned_by: text_of(&m["owned_by"], ""),
            })
            .collect())
    }

    fn stream_complete(prompt: String, options: Option<Options>) -> Result<String, ContractError> {
        let config = config()?;
        let request = body(&config, &[user(prompt)], options.as_ref(), true);
        let mut events = Events::default();
        let status = send(
            &config,
            Method::Post,
            "chat/completions",
            &request,
            |piece| events.feed(piece),
        )?;
        if !(200..300).contains(&status) {
            let answer: Value = serde_json::from_slice(&events.pending).unwrap_or(Value::Null);
            check(status, &answer)?;
        }
        if let Some(failure) = events.failure {
            return Err(failure);
        }
        if !events.done {
            return Err(error(
                COMPLETION_FAILED,
                format!(
                    "the stream ended without `data: [DONE]` after {} pieces",
                    events.pieces
                ),
            ));
        }
        count(events.pieces);
        Ok(events.text)
    }
}

/// The server-sent events of a streamed completion, parsed as they arrive.
#[derive(Default)]
struct Events {
    /// Bytes of a line not yet ended.
    pending: Vec<u8>,
    text: String,
    pieces: u64,
    failure: Option<ContractError>,
    /// `data: [DONE]` arrived: the protocol's end of a whole answer.
    done: bool,
}

impl Events {
    fn feed(&mut self, piece: &[u8]) {
        self.pending.extend_from_slice(piece);
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            self.line(String::from_utf8_lossy(&line).trim_end());
        }
    }

    fn line(&mut self, line: &str) {
        let Some(data) = line.strip_prefix("data:").map(str::trim_start) else {
            return; // comments, `event:`, blank separators
        };
        if data == "[DONE]" {
            self.done = true;
            return;
        }
        match serde_json::from_str::<Value>(data) {
            Ok(event) => {
                if let Some(content) = event["choices"][0]["delta"]["content"].as_str()
                    && !content.is_empty()
                {
                    progress::emit(content);
                    self.text.push_str(content);
                    self.pieces += 1;
                }
            }
            Err(e) => {
                self.failure
                    .get_or_insert(error(COMPLETION_FAILED, format!("a bad event: {e}")));
            }
        }
    }
}

fn user(content: String) -> Message {
    Message {
        role: "user".into(),
        content,
    }
}

/// The chat-completions request, App Factory's defaults filled in.
fn body(config: &Config, messages: &[Message], options: Option<&Options>, stream: bool) -> Vec<u8> {
    let model = options
        .and_then(|o| o.model.clone())
        .unwrap_or(config.model.clone());
    let mut request = json!({
        "model": model,
        "messages": messages.iter().map(|m| json!({"role": m.role, "content": m.content})).collect::<Vec<_>>(),
        "max_tokens": options.and_then(|o| o.max_tokens).unwrap_or(1024),
        "temperature": options.and_then(|o| o.temperature).unwrap_or(0.7),
        "stream": stream,
    });
    if let Some(stop) = options.and_then(|o| o.stop.clone()) {
        request["stop"] = json!(stop);
    }
    request.to_string().into_bytes()
}

/// `method {base_url}/{path}` with `request`, each piece of the answer to `each`: its status.
fn send(
    config: &Config,
    method: Method,
    path: &str,
    request: &[u8],
    each: impl FnMut(&[u8]),
) -> Result<u16, ContractError> {
    let url = format!("{}/{path}", config.base_url);
    http::exchange(
        method,
        &url,
        &config.api_key,
        request,
        config.max_response_bytes,
        each,
    )
    .map_err(|e| error(COMPLETION_FAILED, e))
}

/// [`send`], with the answer read whole as JSON and a non-2xx one turned into App Factory's
/// error ([`check`]).
fn whole(
    config: &Config,
    method: Method,
    path: &str,
    request: &[u8],
) -> Result<Value, ContractError> {
    let mut text = Vec::new();
    let status = send(config, method, path, request, |piece| {
        text.extend_from_slice(piece)
    })?;
    let answer: Value = serde_json::from_slice(&text).map_err(|e| {
        error(
            COMPLETION_FAILED,
            format!("the server's answer is not JSON: {e}"),
        )
    })?;
    check(status, &answer)?;
    Ok(answer)
}

/// A non-2xx answer as App Factory's error: 1201 for a model the server does not have.
fn check(status: u16, answer: &Value) -> Result<(), ContractError> {
    if (200..300).contains(&status) {
        return Ok(());
    }
    let message = text_of(&answer["error"]["message"], "no message");
    // Only the protocol's own code: a 404 alone may be a wrong `base_url`.
    let missing_model = answer["error"]["code"] == "model_not_found";
    let code = if missing_model {
        MODEL_NOT_AVAILABLE
    } else {
        COMPLETION_FAILED
    };
    Err(error(
        code,
        format!("the server answered {status}: {message}"),
    ))
}

fn text_of(value: &Value, default: &str) -> String {
    value.as_str().unwrap_or(default).to_string()
}

fn count(tokens: u64) {
    STATE.with(|s| {
        let mut state = s.borrow_mut();
        state.completions += 1;
        state.completion_tokens += tokens;
    });
}

export!(Llm);
