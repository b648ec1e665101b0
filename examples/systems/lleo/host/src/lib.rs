//! `lleo-host`: LLEO's module runner on Airlock. An LLEO module is a plugin implementing
//! the `lleo:module/module@0.1.0` contract (`../wit/module.wit`): it names the external
//! tools it needs (`required-tools`) and runs them through Airlock's exec capability
//! (`run`). This crate owns what LLEO's framework did around a module:
//!
//! - [`enable`]: before a module may run, each tool it requires must be in its exec grant,
//!   installed on the host (found in the exec search path, as exec will look for it) and of
//!   a version the module accepts (`<tool> --version`, run with a timeout and bounded
//!   output). Every problem is reported at once, naming the tool and what to do.
//! - [`Module::run`]: runs the module on its configuration (the plugin's `[config]`,
//!   checked against its manifest's schema at load) and answers its results as JSON.
//!
//! Loading is Airlock's: the operator's policy serves the contract
//! (`[contracts] wit = [...]`, see [`wit_dir`]) and grants the exec patterns.

mod check;
mod error;
mod requirements;

use std::path::PathBuf;

use airlock::contract::Contracts;
use airlock::{CallContext, CallError, Plugin};
use serde_json::{Value, json};

pub use check::{FoundTool, VERSION_OUTPUT_BYTES, VERSION_TIMEOUT};
pub use error::{EnableError, ToolProblem};
pub use requirements::{MAX_NAME_BYTES, MAX_TOOLS, MAX_VERSION_BYTES, Requirement};

/// The contract every LLEO module implements.
pub const CONTRACT: &str = "lleo:module/module@0.1.0";

/// The folder holding the contract's WIT package (this crate's `../wit`), for the policy's
/// `[contracts] wit = [...]`. A path of the source tree this crate was built from.
pub fn wit_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../wit")
}

/// The LLEO contracts, parsed from [`wit_dir`], for `Policy::with_contracts`.
///
/// # Errors
/// The WIT parser's message, naming the file and line.
pub fn contracts() -> Result<Contracts, String> {
    Contracts::from_wit(&[wit_dir()])
}

/// An enabled module: a loaded plugin whose required tools were all found usable.
pub struct Module {
    plugin: Plugin,
    tools: Vec<FoundTool>,
}

/// Enables `plugin` as an LLEO module: asks it which tools it requires and checks each one
/// (see the crate docs).
///
/// # Errors
/// [`EnableError::NotAModule`] when the plugin does not declare [`CONTRACT`];
/// [`EnableError::RequiredTools`] when `required-tools` fails;
/// [`EnableError::BadRequirements`] when its answer is over the bounds or unreadable;
/// [`EnableError::Tools`] listing every tool that is not granted, not installed, or of a
/// version the module does not accept.
pub async fn enable(plugin: Plugin) -> Result<Module, EnableError> {
    if !plugin.contracts().iter().any(|c| c == CONTRACT) {
        return Err(EnableError::NotAModule {
            plugin: plugin.name().to_string(),
        });
    }
    let answer = plugin
        .call_tool("required-tools", &json!({}), &CallContext::default())
        .await
        .map_err(|e| EnableError::RequiredTools(Box::new(e)))?;
    let required = requirements::parse(plugin.name(), &answer)?;
    let checked = futures::future::join_all(
        required
            .iter()
            .map(|tool| check::check(tool, &plugin.grant().exec)),
    )
    .await;
    let (tools, problems): (Vec<_>, Vec<_>) = checked.into_iter().partition(Result::is_ok);
    if !problems.is_empty() {
        return Err(EnableError::Tools {
            plugin: plugin.name().to_string(),
            problems: problems.into_iter().filter_map(Result::err).collect(),
        });
    }
    Ok(Module {
        tools: tools.into_iter().filter_map(Result::ok).collect(),
        plugin,
    })
}

impl Module {
    /// The plugin behind the module.
    pub fn plugin(&self) -> &Plugin {
        &self.plugin
    }

    /// The tools it requires, as found on the host when it was enabled.
    pub fn tools(&self) -> &[FoundTool] {
        &self.tools
    }

    /// Runs the module on the plugin's configuration; its results, parsed from the JSON text
    /// `run` answered.
    ///
    /// # Errors
    /// The call's typed error: a module's `module-error` is [`CallError::Plugin`] with its
    /// `code` and `message` (a tool the exec grant does not allow: code 2, the message
    /// starting `denied:`); results that are not JSON text are [`CallError::Protocol`].
    pub async fn run(&self) -> Result<Value, CallError> {
        let config = json!({ "config": self.plugin.config() });
        let answer = self
            .plugin
            .call_tool("run", &config, &CallContext::default())
            .await?;
        let protocol = |reason: String| CallError::Protocol {
            plugin: self.plugin.name().to_string(),
            reason,
        };
        let text = answer
            .as_str()
            .ok_or_else(|| protocol("`run` answered something other than text".into()))?;
        serde_json::from_str(text)
            .map_err(|e| protocol(format!("`run` answered results that are not JSON: {e}")))
    }
}
