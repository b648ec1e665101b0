//! `large`: regular-expression search and replace with the full `regex` crate (Unicode
//! tables included) and `serde_json`, built without optimisation (see the workspace's
//! `[profile.guest.package.large]`): a component of several MB, the size class where
//! compiling on every load hurts and the artifact cache matters.

use airlock_sdk::prelude::*;
use regex::Regex;

#[derive(Deserialize, JsonSchema)]
struct FindArgs {
    /// A regular expression (Rust `regex` syntax).
    pattern: String,
    /// The text to search.
    text: String,
}

#[derive(Deserialize, JsonSchema)]
struct ReplaceArgs {
    pattern: String,
    text: String,
    /// The replacement; `$1`, `$name` refer to groups.
    with: String,
}

#[derive(Serialize)]
struct Found {
    matches: Vec<Match>,
}

#[derive(Serialize)]
struct Match {
    start: usize,
    end: usize,
    text: String,
}

struct Large;

fn compile(pattern: &str) -> Result<Regex, PluginError> {
    Regex::new(pattern).map_err(|e| PluginError::invalid_input(format!("bad pattern: {e}")))
}

impl Plugin for Large {
    type Config = NoConfig;

    fn metadata() -> Metadata {
        Metadata::new("large", env!("CARGO_PKG_VERSION"))
            .author("Airlock tests")
            .description("Regex find and replace; a deliberately large component.")
    }

    fn init(_config: NoConfig) -> Result<Self, PluginError> {
        Ok(Large)
    }

    fn tools(tools: &mut Tools<Self>) {
        tools
            .tool(
                "find",
                "Every match of `pattern` in `text`",
                |_, a: FindArgs, _| {
                    let regex = compile(&a.pattern)?;
                    let matches = regex
                        .find_iter(&a.text)
                        .map(|m| Match {
                            start: m.start(),
                            end: m.end(),
                            text: m.as_str().to_string(),
                        })
                        .collect();
                    Ok(Found { matches })
                },
            )
            .tool(
                "replace",
                "`text` with every match of `pattern` replaced",
                |_, a: ReplaceArgs, _| {
                    let regex = compile(&a.pattern)?;
                    Ok(regex.replace_all(&a.text, a.with.as_str()).into_owned())
                },
            );
    }
}

airlock_sdk::export_tool_plugin!(Large);
