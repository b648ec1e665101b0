//! `redact`: a hook plugin that keeps secrets out of tool calls.
//!
//! On `before-tool-call` it replaces e-mail addresses and API-key-looking strings anywhere in
//! the payload's string values, and vetoes calls to the tools named in its configuration
//! (`{"deny_tools": ["shell"]}`). The payload is `{"tool": "...", "arguments": {...}}`.

use airlock_sdk::prelude::*;
use regex_lite::Regex;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Config {
    /// Tools whose calls are vetoed outright.
    #[serde(default)]
    deny_tools: Vec<String>,
}

struct Redact {
    deny_tools: Vec<String>,
    email: Regex,
    api_key: Regex,
}

impl Redact {
    /// Redacts every string inside `value`; returns how many secrets were replaced.
    fn scrub(&self, value: &mut Value) -> usize {
        match value {
            Value::String(s) => {
                let mut hits = self.email.find_iter(s).count();
                let scrubbed = self.email.replace_all(s, "[REDACTED:email]").into_owned();
                hits += self.api_key.find_iter(&scrubbed).count();
                *s = self
                    .api_key
                    .replace_all(&scrubbed, "[REDACTED:key]")
                    .into_owned();
                hits
            }
            Value::Array(items) => items.iter_mut().map(|v| self.scrub(v)).sum(),
            Value::Object(map) => map.values_mut().map(|v| self.scrub(v)).sum(),
            _ => 0,
        }
    }
}

impl Plugin for Redact {
    type Config = Config;

    fn metadata() -> Metadata {
        Metadata::new("redact", env!("CARGO_PKG_VERSION"))
            .author("Airlock examples")
            .description(
                "Redacts e-mail addresses and API keys from tool calls; vetoes denied tools.",
            )
            .license("Apache-2.0")
    }

    fn init(config: Config) -> Result<Self, PluginError> {
        Ok(Redact {
            deny_tools: config.deny_tools,
            email: Regex::new(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}").unwrap(),
            // Provider prefixes (sk-, pk_, ghp_, xoxb-, AKIA…) or `key`/`token`-labelled runs,
            // followed by a long run of key characters.
            api_key: Regex::new(
                r"\b(?:sk|pk|rk|ghp|gho|ghs|xox[abpr]|api|key|token)[-_][A-Za-z0-9_-]{16,}|\bAKIA[0-9A-Z]{16}\b",
            )
            .unwrap(),
        })
    }

    fn hooks(hooks: &mut Hooks<Self>) {
        hooks.on(HookKind::BeforeToolCall, |me, mut payload: Value, _| {
            let tool = payload
                .get("tool")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if me.deny_tools.contains(&tool) {
                return Ok(HookOutcome::Veto(format!(
                    "tool `{tool}` is denied by the redact plugin's configuration"
                )));
            }
            let hits = me.scrub(&mut payload);
            if hits == 0 {
                return Ok(HookOutcome::Pass);
            }
            airlock_sdk::info!("redacted {hits} secret(s) from a call to `{tool}`");
            Ok(HookOutcome::Replace(payload))
        });
    }
}

airlock_sdk::export_hook_plugin!(Redact);
