//! `versioned`: a stateful plugin built twice (as 1.0.0 and, from `versioned-v2`, as 2.0.0)
//! for the hot-reload tests. Every answer names the version that gave it; the remembered
//! note is carried across a reload through `capture-state` / `restore-state`; 2.0.0 adds a
//! tool, so a reload changes the tool list.

use airlock_sdk::prelude::*;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Config {
    /// `init` refuses to start when the plugin's own version is this one.
    #[serde(default)]
    refuse_version: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
struct WhoAmI {
    /// Busy-work iterations, to keep a call running for a while.
    #[serde(default)]
    spin: u32,
}

#[derive(Deserialize, JsonSchema)]
struct Nothing {}

#[derive(Deserialize, JsonSchema)]
struct Remember {
    note: String,
}

#[derive(Serialize)]
struct Answer {
    version: &'static str,
    note: Option<String>,
}

struct Versioned {
    note: Option<String>,
}

const VERSION: &str = env!("CARGO_PKG_VERSION");

impl Plugin for Versioned {
    type Config = Config;

    fn metadata() -> Metadata {
        Metadata::new("versioned", VERSION).description("Says which version answered.")
    }

    fn init(config: Config) -> Result<Self, PluginError> {
        if config.refuse_version.as_deref() == Some(VERSION) {
            return Err(PluginError::internal(format!(
                "version {VERSION} refuses to start"
            )));
        }
        Ok(Versioned { note: None })
    }

    fn tools(tools: &mut Tools<Self>) {
        tools.tool(
            "whoami",
            "The version answering, and the remembered note",
            |me, args: WhoAmI, _| {
                let mut x = 0u64;
                for i in 0..args.spin {
                    x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(u64::from(i)));
                }
                std::hint::black_box(x);
                Ok(Answer {
                    version: VERSION,
                    note: me.note.clone(),
                })
            },
        );
        tools.tool("remember", "Remember a note", |me, args: Remember, _| {
            me.note = Some(args.note);
            Ok(Answer {
                version: VERSION,
                note: me.note.clone(),
            })
        });
        // 2.0.0 offers one tool more, so a reload changes the tool list.
        if VERSION.starts_with("2.") {
            tools.tool("farewell", "Say goodbye", |_, _: Nothing, _| {
                Ok("goodbye from 2.0.0")
            });
        }
    }

    fn capture_state(&self) -> Option<Vec<u8>> {
        self.note.clone().map(String::into_bytes)
    }

    fn restore_state(&mut self, state: Vec<u8>) -> Result<(), PluginError> {
        let note = String::from_utf8(state)
            .map_err(|_| PluginError::invalid_input("state must be UTF-8"))?;
        self.note = Some(note);
        Ok(())
    }
}

airlock_sdk::export_tool_plugin!(Versioned);
