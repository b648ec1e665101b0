//! `hooky`: a configurable hook plugin for pipeline tests, exporting the full `plugin` world
//! (hooks and tools). On `before-tool-call` it appends its tag to the payload's `tags`, or —
//! as configured — vetoes, fails with a plugin error, or panics. It counts the `on-error`
//! events it receives, readable through its `errors_seen` tool.

use airlock_sdk::prelude::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    tag: String,
    #[serde(default)]
    behaviour: Behaviour,
}

#[derive(Deserialize, Default, Clone, Copy, PartialEq)]
#[serde(rename_all = "kebab-case")]
enum Behaviour {
    #[default]
    Tag,
    Veto,
    Fail,
    Panic,
}

#[derive(Deserialize, JsonSchema)]
struct Nothing {}

struct Hooky {
    tag: String,
    behaviour: Behaviour,
    errors_seen: Vec<String>,
}

impl Plugin for Hooky {
    type Config = Config;

    fn metadata() -> Metadata {
        Metadata::new("hooky", env!("CARGO_PKG_VERSION"))
            .description("Tags, vetoes, fails or panics on request.")
    }

    fn init(config: Config) -> Result<Self, PluginError> {
        Ok(Hooky {
            tag: config.tag,
            behaviour: config.behaviour,
            errors_seen: Vec::new(),
        })
    }

    fn tools(tools: &mut Tools<Self>) {
        tools.tool(
            "errors_seen",
            "The plugins whose errors this instance was told about",
            |me, _: Nothing, _| Ok(me.errors_seen.clone()),
        );
    }

    fn hooks(hooks: &mut Hooks<Self>) {
        hooks
            .on(
                HookKind::BeforeToolCall,
                |me, mut payload: Value, _| match me.behaviour {
                    Behaviour::Veto => Ok(HookOutcome::Veto(format!("{} says no", me.tag))),
                    Behaviour::Fail => Err(PluginError::internal(format!(
                        "{} failed on purpose",
                        me.tag
                    ))),
                    Behaviour::Panic => panic!("{} panicked on purpose", me.tag),
                    Behaviour::Tag => {
                        let tags = payload
                            .as_object_mut()
                            .map(|o| o.entry("tags").or_insert_with(|| json!([])));
                        match tags.and_then(Value::as_array_mut) {
                            Some(tags) => tags.push(json!(me.tag)),
                            None => {
                                return Err(PluginError::invalid_input(
                                    "payload must be an object with a `tags` list",
                                ));
                            }
                        }
                        Ok(HookOutcome::Replace(payload))
                    }
                },
            )
            .on(HookKind::OnError, |me, event: Value, _| {
                let plugin = event["plugin"].as_str().unwrap_or("?").to_string();
                me.errors_seen.push(plugin);
                Ok(HookOutcome::Pass)
            });
    }
}

airlock_sdk::export_plugin!(Hooky);
