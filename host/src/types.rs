//! Plain Rust values for what crosses the plugin boundary (metadata, tools, hooks, health),
//! converted from the generated bindings so embedders never see them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::bindings::{hooks, tools, wit};
use crate::text::Untrusted;

/// Longest short text a plugin declares: its version, author, license, host-version range,
/// each permission, each custom hook kind.
pub const SHORT_TEXT_BYTES: usize = 256;
/// Longest description (the plugin's or a tool's); also where a health message or a
/// plugin error message is cut.
pub const TEXT_BYTES: usize = 4 << 10;
/// Most permissions a plugin's metadata may list.
pub const MAX_PERMISSIONS: usize = 64;
/// Most tools one plugin may offer.
pub const MAX_TOOLS: usize = 256;
/// Most hook kinds one plugin may subscribe to.
pub const MAX_SUBSCRIPTIONS: usize = 64;
/// Most bytes of JSON `details` kept from a health report or a plugin error; larger
/// details are replaced by a note saying so.
pub const DETAILS_BYTES: usize = 16 << 10;

/// Refuses `text` (the plugin's `what`) when it is longer than `cap` bytes.
pub(crate) fn within(what: &str, text: &str, cap: usize) -> Result<(), String> {
    match text.len() > cap {
        true => Err(format!(
            "its {what} is {} bytes, over the cap of {cap} bytes",
            text.len()
        )),
        false => Ok(()),
    }
}

/// `text` cut to at most [`TEXT_BYTES`] bytes, on a character boundary.
pub(crate) fn cut_text(text: &str) -> &str {
    &text[..text.floor_char_boundary(TEXT_BYTES)]
}

/// A plugin's JSON `details`, parsed; kept as a string when not JSON (details are
/// informational), and replaced by a note when over [`DETAILS_BYTES`].
pub(crate) fn details(raw: String) -> serde_json::Value {
    if raw.len() > DETAILS_BYTES {
        return serde_json::Value::String(format!(
            "({} bytes of details dropped: over the cap of {DETAILS_BYTES} bytes)",
            raw.len()
        ));
    }
    serde_json::from_str(&raw).unwrap_or(serde_json::Value::String(raw))
}

/// Who a plugin is and what it says it needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    pub name: String,
    pub version: semver::Version,
    pub author: String,
    pub description: String,
    pub license: String,
    /// Capabilities the plugin says it needs (informational; grants come from policy).
    pub permissions: Vec<String>,
    /// Host versions the plugin works with.
    pub host_versions: semver::VersionReq,
}

impl Metadata {
    /// Validates the guest's raw metadata: a usable name, semver version and range, and
    /// every text within its cap ([`SHORT_TEXT_BYTES`], [`TEXT_BYTES`],
    /// [`MAX_PERMISSIONS`]).
    pub(crate) fn from_wit(raw: wit::PluginMetadata) -> Result<Self, String> {
        within("version", &raw.version, SHORT_TEXT_BYTES)?;
        within("author", &raw.author, SHORT_TEXT_BYTES)?;
        within("license", &raw.license, SHORT_TEXT_BYTES)?;
        within("host-versions", &raw.host_versions, SHORT_TEXT_BYTES)?;
        within("description", &raw.description, TEXT_BYTES)?;
        if raw.permissions.len() > MAX_PERMISSIONS {
            return Err(format!(
                "it lists {} permissions, over the cap of {MAX_PERMISSIONS}",
                raw.permissions.len()
            ));
        }
        for permission in &raw.permissions {
            within("permission", permission, SHORT_TEXT_BYTES)?;
        }
        let name_ok = !raw.name.is_empty()
            && raw.name.len() <= 64
            && raw
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !name_ok {
            return Err(format!(
                "name `{}` must be 1-64 characters of lowercase letters, digits and `-`",
                raw.name.escape_debug()
            ));
        }
        let version = semver::Version::parse(&raw.version)
            .map_err(|e| format!("version `{}` is not semver: {e}", Untrusted(&raw.version)))?;
        let host_versions = semver::VersionReq::parse(&raw.host_versions).map_err(|e| {
            format!(
                "host-versions `{}` is not a semver range: {e}",
                Untrusted(&raw.host_versions)
            )
        })?;
        Ok(Metadata {
            name: raw.name,
            version,
            author: raw.author,
            description: raw.description,
            license: raw.license,
            permissions: raw.permissions,
            host_versions,
        })
    }
}

/// One tool a plugin offers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolDefinition {
    pub name: String,
    pub description: String,
    /// JSON Schema of the arguments object.
    pub input_schema: serde_json::Value,
}

impl ToolDefinition {
    /// Parses the guest's tool definition; its description must be within [`TEXT_BYTES`]
    /// (the name and schema are checked by the caller).
    pub(crate) fn from_wit(raw: tools::ToolDefinition) -> Result<Self, String> {
        within("tool description", &raw.description, TEXT_BYTES)?;
        let input_schema = serde_json::from_str(&raw.input_schema).map_err(|e| {
            format!(
                "tool `{}` input schema is not JSON: {e}",
                Untrusted(&raw.name)
            )
        })?;
        Ok(ToolDefinition {
            name: raw.name,
            description: raw.description,
            input_schema,
        })
    }
}

/// Where a plugin is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HealthStatus {
    Unloaded,
    Initializing,
    Ready,
    Busy,
    Error,
    ShuttingDown,
    Stopped,
}

/// A plugin's answer to a health poll.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    pub status: HealthStatus,
    pub message: String,
    pub details: serde_json::Value,
}

impl Health {
    /// The guest's report, its message cut to [`TEXT_BYTES`] and its details capped at
    /// [`DETAILS_BYTES`].
    pub(crate) fn from_wit(raw: wit::HealthReport) -> Self {
        let status = match raw.status {
            wit::HealthStatus::Unloaded => HealthStatus::Unloaded,
            wit::HealthStatus::Initializing => HealthStatus::Initializing,
            wit::HealthStatus::Ready => HealthStatus::Ready,
            wit::HealthStatus::Busy => HealthStatus::Busy,
            wit::HealthStatus::Error => HealthStatus::Error,
            wit::HealthStatus::ShuttingDown => HealthStatus::ShuttingDown,
            wit::HealthStatus::Stopped => HealthStatus::Stopped,
        };
        Health {
            status,
            message: cut_text(&raw.message).to_string(),
            details: details(raw.details),
        }
    }
}

/// The events a hook plugin can subscribe to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HookKind {
    BeforeAgentRun,
    AfterAgentRun,
    BeforeToolCall,
    AfterToolCall,
    OnError,
    OnReasoningStep,
    /// A host-defined event, by name.
    Custom(String),
}

impl HookKind {
    const NAMED: [(&'static str, HookKind); 6] = [
        ("before-agent-run", HookKind::BeforeAgentRun),
        ("after-agent-run", HookKind::AfterAgentRun),
        ("before-tool-call", HookKind::BeforeToolCall),
        ("after-tool-call", HookKind::AfterToolCall),
        ("on-error", HookKind::OnError),
        ("on-reasoning-step", HookKind::OnReasoningStep),
    ];

    pub(crate) fn from_wit(raw: hooks::HookKind) -> Self {
        match raw {
            hooks::HookKind::BeforeAgentRun => HookKind::BeforeAgentRun,
            hooks::HookKind::AfterAgentRun => HookKind::AfterAgentRun,
            hooks::HookKind::BeforeToolCall => HookKind::BeforeToolCall,
            hooks::HookKind::AfterToolCall => HookKind::AfterToolCall,
            hooks::HookKind::OnError => HookKind::OnError,
            hooks::HookKind::OnReasoningStep => HookKind::OnReasoningStep,
            hooks::HookKind::Custom(name) => HookKind::Custom(name),
        }
    }

    pub(crate) fn to_wit(&self) -> hooks::HookKind {
        match self {
            HookKind::BeforeAgentRun => hooks::HookKind::BeforeAgentRun,
            HookKind::AfterAgentRun => hooks::HookKind::AfterAgentRun,
            HookKind::BeforeToolCall => hooks::HookKind::BeforeToolCall,
            HookKind::AfterToolCall => hooks::HookKind::AfterToolCall,
            HookKind::OnError => hooks::HookKind::OnError,
            HookKind::OnReasoningStep => hooks::HookKind::OnReasoningStep,
            HookKind::Custom(name) => hooks::HookKind::Custom(name.clone()),
        }
    }
}

impl fmt::Display for HookKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HookKind::Custom(name) => write!(f, "custom:{name}"),
            named => {
                let (text, _) = Self::NAMED
                    .iter()
                    .find(|(_, k)| k == named)
                    .expect("listed");
                f.write_str(text)
            }
        }
    }
}

/// Parses `before-tool-call` etc., and `custom:NAME` for custom kinds.
impl FromStr for HookKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(name) = s.strip_prefix("custom:") {
            return match name.is_empty() {
                true => Err("custom hook kind needs a name: `custom:NAME`".into()),
                false => Ok(HookKind::Custom(name.to_string())),
            };
        }
        Self::NAMED
            .iter()
            .find(|(text, _)| *text == s)
            .map(|(_, k)| k.clone())
            .ok_or_else(|| {
                let known: Vec<_> = Self::NAMED.iter().map(|(t, _)| *t).collect();
                format!(
                    "unknown hook kind `{s}`; expected one of {} or custom:NAME",
                    known.join(", ")
                )
            })
    }
}

impl Serialize for HookKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HookKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// What a hook decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", content = "value", rename_all = "kebab-case")]
pub enum HookOutcome {
    /// Leave the payload as it is.
    Pass,
    /// Continue with this payload.
    Replace(serde_json::Value),
    /// Stop, with the reason.
    Veto(String),
}

/// Who a call is made for. Passed to the plugin read-only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallContext {
    pub tenant: String,
    pub session_id: String,
    /// Unique id of the call; filled in by the host when empty.
    pub call_id: String,
}

impl Default for CallContext {
    fn default() -> Self {
        CallContext {
            tenant: "default".into(),
            session_id: String::new(),
            call_id: String::new(),
        }
    }
}

impl CallContext {
    /// A context for `tenant` with no session.
    pub fn for_tenant(tenant: impl Into<String>) -> Self {
        CallContext {
            tenant: tenant.into(),
            ..Default::default()
        }
    }

    /// This context in session `session_id`.
    pub fn with_session(mut self, session_id: impl Into<String>) -> Self {
        self.session_id = session_id.into();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata() -> wit::PluginMetadata {
        wit::PluginMetadata {
            name: "p".into(),
            version: "1.0.0".into(),
            author: "a".into(),
            description: "d".into(),
            license: "MIT".into(),
            permissions: vec!["env:X".into()],
            host_versions: "*".into(),
        }
    }

    #[test]
    fn metadata_texts_over_their_cap_are_refused_naming_it() {
        assert!(Metadata::from_wit(metadata()).is_ok());
        let long_author = wit::PluginMetadata {
            author: "a".repeat(SHORT_TEXT_BYTES + 1),
            ..metadata()
        };
        let why = Metadata::from_wit(long_author).unwrap_err();
        assert!(
            why.contains("author is 257 bytes, over the cap of 256"),
            "{why}"
        );
        let long_description = wit::PluginMetadata {
            description: "d".repeat(TEXT_BYTES + 1),
            ..metadata()
        };
        let why = Metadata::from_wit(long_description).unwrap_err();
        assert!(why.contains("over the cap of 4096"), "{why}");
        let many_permissions = wit::PluginMetadata {
            permissions: vec!["env:X".into(); MAX_PERMISSIONS + 1],
            ..metadata()
        };
        let why = Metadata::from_wit(many_permissions).unwrap_err();
        assert!(why.contains("over the cap of 64"), "{why}");
    }

    #[test]
    fn a_long_tool_description_is_refused() {
        let tool = |description: String| tools::ToolDefinition {
            name: "t".into(),
            description,
            input_schema: "{}".into(),
        };
        assert!(ToolDefinition::from_wit(tool("ok".into())).is_ok());
        let why = ToolDefinition::from_wit(tool("d".repeat(TEXT_BYTES + 1))).unwrap_err();
        assert!(why.contains("tool description is 4097 bytes"), "{why}");
    }

    #[test]
    fn details_over_the_cap_become_a_note() {
        assert_eq!(details(r#"{"a":1}"#.into()), serde_json::json!({"a": 1}));
        assert_eq!(details("not json".into()), serde_json::json!("not json"));
        let note = details("x".repeat(DETAILS_BYTES + 1));
        assert!(note.as_str().unwrap().contains("over the cap of 16384"));
        assert_eq!(cut_text(&"é".repeat(TEXT_BYTES)).len(), TEXT_BYTES);
    }
}
