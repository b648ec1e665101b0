//! `webhook`: a hook-only plugin that POSTs every `before-tool-call` payload to the URL in
//! its config and passes. A failed POST (not granted, unreachable) fails the hook with the
//! HTTP error, so tests see what the host let it do.

use airlock_sdk::http;
use airlock_sdk::prelude::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    url: String,
}

struct Webhook {
    url: String,
}

impl Plugin for Webhook {
    type Config = Config;

    fn metadata() -> Metadata {
        Metadata::new("webhook", env!("CARGO_PKG_VERSION"))
            .description("POSTs each tool call to a webhook.")
    }

    fn init(config: Config) -> Result<Self, PluginError> {
        Ok(Webhook { url: config.url })
    }

    fn hooks(hooks: &mut Hooks<Self>) {
        hooks.on(HookKind::BeforeToolCall, |me, payload: Value, _| {
            http::post(me.url.clone()).json(&payload).send()?;
            Ok(HookOutcome::Pass)
        });
    }
}

airlock_sdk::export_hook_plugin!(Webhook);
