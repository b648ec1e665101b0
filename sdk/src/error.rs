//! [`PluginError`]: the failure a plugin reports on purpose.

use serde::Serialize;

/// A failure the plugin reports on purpose. The host passes it to the caller as a typed
/// plugin error with this code and message (traps and limit hits are reported separately).
#[derive(Debug, Clone, PartialEq)]
pub struct PluginError {
    /// Plugin-defined code; see the constants for the shared meanings below 1000.
    pub code: u32,
    /// Human-readable message.
    pub message: String,
    /// Optional structured details, already serialised as JSON.
    pub details: Option<String>,
}

impl PluginError {
    /// The input was invalid.
    pub const INVALID_INPUT: u32 = 400;
    /// The host refused a request for reach the plugin was not granted.
    pub const NOT_GRANTED: u32 = 403;
    /// Something named in the input does not exist.
    pub const NOT_FOUND: u32 = 404;
    /// The request conflicts with the current state.
    pub const CONFLICT: u32 = 409;
    /// The plugin refuses by its own policy.
    pub const REFUSED: u32 = 422;
    /// A bug or unexpected state inside the plugin.
    pub const INTERNAL: u32 = 500;
    /// A dependency of the plugin is unavailable.
    pub const UNAVAILABLE: u32 = 503;

    /// An error with `code` and `message`.
    pub fn new(code: u32, message: impl Into<String>) -> Self {
        PluginError {
            code,
            message: message.into(),
            details: None,
        }
    }

    /// Code 400: the input was invalid.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(Self::INVALID_INPUT, message)
    }

    /// Code 404: something named in the input does not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Self::NOT_FOUND, message)
    }

    /// Code 500: a bug or unexpected state inside the plugin.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(Self::INTERNAL, message)
    }

    /// Attaches structured details (anything serde can serialise).
    pub fn with_details(mut self, details: impl Serialize) -> Self {
        self.details = serde_json::to_string(&details).ok();
        self
    }
}

impl std::fmt::Display for PluginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "error {}: {}", self.code, self.message)
    }
}

impl std::error::Error for PluginError {}
