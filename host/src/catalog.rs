//! The tool catalog: every tool of a set of plugins under one namespaced name,
//! `plugin.tool`. Plugin names cannot contain `.` and tool names cannot either, so names
//! never collide across plugins. Calls are routed by that name; arguments are validated
//! against the tool's schema before any guest code runs (by [`Plugin::call_tool`]).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{CallContext, CallError, Plugin, ToolDefinition};

/// One tool in the catalog. As JSON: `name` (`plugin.tool`), `plugin`, `tool` (the
/// plugin's own name for it), `description`, `input_schema`.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// `plugin.tool`
    pub name: String,
    pub plugin: String,
    pub definition: ToolDefinition,
}

impl Serialize for Entry {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut entry = s.serialize_struct("Entry", 5)?;
        entry.serialize_field("name", &self.name)?;
        entry.serialize_field("plugin", &self.plugin)?;
        entry.serialize_field("tool", &self.definition.name)?;
        entry.serialize_field("description", &self.definition.description)?;
        entry.serialize_field("input_schema", &self.definition.input_schema)?;
        entry.end()
    }
}

/// Which of a plugin's tools a tenant sees and may call: those matching an `allow` pattern
/// (all, when `allow` is empty) and no `deny` pattern. Patterns name the plugin's own tool
/// names (`add`, not `calculator.add`); `*` matches any run of characters, everything else
/// itself. As JSON: `{"allow": ["…"], "deny": ["…"]}`, both optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolFilter {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<String>,
}

impl ToolFilter {
    /// At most this many patterns, each at most [`ToolFilter::MAX_PATTERN`] bytes.
    pub const MAX_PATTERNS: usize = 256;
    pub const MAX_PATTERN: usize = 128;

    /// Whether `tool` (the plugin's own name for it) passes.
    pub fn permits(&self, tool: &str) -> bool {
        let allowed = self.allow.is_empty() || self.allow.iter().any(|p| glob(p, tool));
        allowed && !self.deny.iter().any(|p| glob(p, tool))
    }

    /// True when every tool passes.
    pub fn is_open(&self) -> bool {
        self.allow.is_empty() && self.deny.is_empty()
    }

    /// Checks the bounds; the error names the one exceeded.
    pub fn check(&self) -> Result<(), String> {
        let count = self.allow.len() + self.deny.len();
        if count > Self::MAX_PATTERNS {
            return Err(format!(
                "{count} tool patterns; at most {} are allowed",
                Self::MAX_PATTERNS
            ));
        }
        match self
            .allow
            .iter()
            .chain(&self.deny)
            .find(|p| p.is_empty() || p.len() > Self::MAX_PATTERN)
        {
            Some(p) => Err(format!(
                "tool pattern `{}` must be 1 to {} bytes",
                p.chars().take(32).collect::<String>(),
                Self::MAX_PATTERN
            )),
            None => Ok(()),
        }
    }
}

/// Whether `text` matches `pattern`, where `*` matches any run of characters. Linear in
/// practice: the classic greedy match with one backtrack point.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == b'*')
}

/// The tools of a set of plugins, each seen through its [`ToolFilter`].
#[derive(Clone, Default)]
pub struct Catalog {
    plugins: Vec<(Plugin, ToolFilter)>,
}

impl Catalog {
    /// Every tool of `plugins`.
    pub fn new(plugins: impl IntoIterator<Item = Plugin>) -> Self {
        Catalog::filtered(plugins.into_iter().map(|p| (p, ToolFilter::default())))
    }

    /// The tools of `plugins` that each one's filter lets through.
    pub fn filtered(plugins: impl IntoIterator<Item = (Plugin, ToolFilter)>) -> Self {
        let mut plugins: Vec<(Plugin, ToolFilter)> = plugins.into_iter().collect();
        plugins.sort_by(|a, b| a.0.name().cmp(b.0.name()));
        Catalog { plugins }
    }

    /// Every tool, sorted by namespaced name.
    pub fn entries(&self) -> Vec<Entry> {
        self.plugins
            .iter()
            .flat_map(|(p, filter)| {
                p.tools()
                    .iter()
                    .filter(|t| filter.permits(&t.name))
                    .map(|t| Entry {
                        name: format!("{}.{}", p.name(), t.name),
                        plugin: p.name().to_string(),
                        definition: t.clone(),
                    })
            })
            .collect()
    }

    /// Calls `plugin.tool` with `arguments`.
    pub async fn call(
        &self,
        name: &str,
        arguments: &Value,
        context: &CallContext,
    ) -> Result<Value, CallError> {
        let unknown = || CallError::UnknownTool {
            plugin: name.split_once('.').map_or(name, |(p, _)| p).to_string(),
            tool: name.to_string(),
            available: self.entries().into_iter().map(|e| e.name).collect(),
        };
        let (plugin, tool) = name.split_once('.').ok_or_else(unknown)?;
        let (plugin, _) = self
            .plugins
            .iter()
            .find(|(p, filter)| p.name() == plugin && filter.permits(tool))
            .ok_or_else(unknown)?;
        plugin.call_tool(tool, arguments, context).await
    }
}

#[cfg(test)]
mod tests {
    use super::{ToolFilter, glob};

    #[test]
    fn globs_match_runs_of_characters() {
        for (pattern, text, matches) in [
            ("add", "add", true),
            ("add", "adder", false),
            ("a*", "add", true),
            ("*d", "add", true),
            ("*", "", true),
            ("a*d*", "add", true),
            ("a*x", "add", false),
            ("*a*a*a*b", "aaaaaaaaaaaaaaaaaaaa", false),
        ] {
            assert_eq!(glob(pattern, text), matches, "{pattern} ~ {text}");
        }
    }

    #[test]
    fn deny_wins_and_an_empty_allow_list_allows_all() {
        let filter = ToolFilter {
            allow: vec![],
            deny: vec!["rm*".into()],
        };
        assert!(filter.permits("ls") && !filter.permits("rmdir"));
        let filter = ToolFilter {
            allow: vec!["add".into(), "sub*".into()],
            deny: vec!["subtle".into()],
        };
        assert!(filter.permits("add") && filter.permits("sub") && !filter.permits("subtle"));
        assert!(!filter.permits("mul"));
        assert!(ToolFilter::default().is_open() && ToolFilter::default().permits("x"));
    }
}
