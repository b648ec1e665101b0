//! The [`Plugin`] trait an author implements, and the values it returns.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use crate::{Hooks, PluginError, Tools};

/// A plugin. Implement the methods you need; everything but `metadata` and `init` has a
/// sensible default. Export the type with [`export_tool_plugin!`](crate::export_tool_plugin),
/// [`export_hook_plugin!`](crate::export_hook_plugin) or [`export_plugin!`](crate::export_plugin).
///
/// One value of the type lives per instance, created by `init`; tool and hook handlers get
/// `&mut self`, so plain fields are your state (the host never runs two calls on one
/// instance at once).
pub trait Plugin: Sized + 'static {
    /// The configuration `init` receives, deserialised from the host's JSON object.
    /// Use [`NoConfig`] when the plugin takes none.
    type Config: DeserializeOwned;

    /// Who the plugin is. Called before `init`, so it must not depend on state.
    fn metadata() -> Metadata;

    /// Creates the plugin's state from its configuration.
    fn init(config: Self::Config) -> Result<Self, PluginError>;

    /// Registers the plugin's tools. Called once per instance, before `init`.
    fn tools(_tools: &mut Tools<Self>) {}

    /// Registers the plugin's hook handlers. Called once per instance, before `init`.
    fn hooks(_hooks: &mut Hooks<Self>) {}

    /// Current health; `ready` by default.
    fn health(&self) -> Health {
        Health::ready()
    }

    /// Called before the host drops the instance on purpose.
    fn shutdown(&mut self) {}

    /// Hot swap: the state to hand to the next version; none by default.
    fn capture_state(&self) -> Option<Vec<u8>> {
        None
    }

    /// Hot swap: receives what the previous version captured; ignored by default.
    fn restore_state(&mut self, _state: Vec<u8>) -> Result<(), PluginError> {
        Ok(())
    }
}

/// Configuration type for plugins that take none: accepts (and ignores) any JSON.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoConfig;

impl<'de> Deserialize<'de> for NoConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(deserializer).map(|_| NoConfig)
    }
}

/// Who a plugin is. Built with [`Metadata::new`] and the chained setters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    pub name: String,
    pub version: String,
    pub author: String,
    pub description: String,
    pub license: String,
    pub permissions: Vec<String>,
    pub host_versions: String,
}

impl Metadata {
    /// Metadata with a name and a semver version (usually `env!("CARGO_PKG_VERSION")`).
    /// The compatible host range defaults to the host series this SDK was built for.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        Metadata {
            name: name.into(),
            version: version.into(),
            author: String::new(),
            description: String::new(),
            license: String::new(),
            permissions: Vec::new(),
            host_versions: concat!("^", env!("CARGO_PKG_VERSION")).to_string(),
        }
    }

    pub fn author(mut self, author: impl Into<String>) -> Self {
        self.author = author.into();
        self
    }

    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    pub fn license(mut self, license: impl Into<String>) -> Self {
        self.license = license.into();
        self
    }

    /// Adds a capability the plugin needs, e.g. `files:/data:read`.
    pub fn permission(mut self, permission: impl Into<String>) -> Self {
        self.permissions.push(permission.into());
        self
    }

    /// Semver range of compatible host versions, e.g. `>=0.1, <0.3`.
    pub fn host_versions(mut self, range: impl Into<String>) -> Self {
        self.host_versions = range.into();
        self
    }
}

/// Where a plugin is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthStatus {
    Ready,
    Busy,
    Error,
}

/// Answer to the host's health poll.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    pub status: HealthStatus,
    pub message: String,
    /// Further facts as a JSON value (an object by convention).
    pub details: serde_json::Value,
}

impl Health {
    /// Ready, message `ok`, no details.
    pub fn ready() -> Self {
        Health::new(HealthStatus::Ready, "ok")
    }

    /// Any status with a message.
    pub fn new(status: HealthStatus, message: impl Into<String>) -> Self {
        Health {
            status,
            message: message.into(),
            details: serde_json::Value::Object(Default::default()),
        }
    }

    /// Attaches details.
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}
