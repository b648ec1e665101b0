//! A module's answer to `required-tools`, read as hostile input: at most [`MAX_TOOLS`]
//! tools, names and versions bounded in length, names that can only be a command (a
//! program name or an absolute path, nothing an exec grant could not name), and versions
//! that are a minimum (`2.20`) or a semver requirement (`>=2.20, <3`).

use semver::VersionReq;
use serde::Deserialize;
use serde_json::Value;

use crate::error::{EnableError, shown};

/// Most tools a module may require.
pub const MAX_TOOLS: usize = 16;
/// Longest tool name, in bytes (an absolute path included).
pub const MAX_NAME_BYTES: usize = 256;
/// Longest version requirement, in bytes.
pub const MAX_VERSION_BYTES: usize = 64;

/// One tool a module requires, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// The command (`git`, `/opt/tools/bin/scan`).
    pub name: String,
    /// The versions the module accepts; a bare version `2.20` becomes `>=2.20`.
    pub version: VersionReq,
}

/// What `required-tools` answers, as JSON (the WIT record `tool`).
#[derive(Deserialize)]
struct Tool {
    name: String,
    version: String,
}

/// Reads `answer`, the JSON of plugin `plugin`'s `required-tools`.
///
/// # Errors
/// [`EnableError::BadRequirements`] naming the first problem: too many tools, a name or
/// version too long, a name that is no command, a tool listed twice, a version that is no
/// requirement.
pub(crate) fn parse(plugin: &str, answer: &Value) -> Result<Vec<Requirement>, EnableError> {
    let bad = |problem: String| EnableError::BadRequirements {
        plugin: plugin.to_string(),
        problem,
    };
    // Counted before anything is copied out of the answer.
    let count = answer.as_array().map_or(0, Vec::len);
    if count > MAX_TOOLS {
        return Err(bad(format!(
            "it lists {count} tools, and a module may require at most {MAX_TOOLS}"
        )));
    }
    let tools: Vec<Tool> = serde_json::from_value(answer.clone()).map_err(|e| {
        bad(format!(
            "its answer is not a list of {{name, version}}: {e}"
        ))
    })?;
    let mut required: Vec<Requirement> = Vec::with_capacity(tools.len());
    for tool in tools {
        check_name(&tool.name).map_err(&bad)?;
        if required.iter().any(|r| r.name == tool.name) {
            return Err(bad(format!("it lists `{}` twice", tool.name)));
        }
        let version = requirement(&tool.version).ok_or_else(|| {
            bad(format!(
                "it requires `{}` in version `{}`, which is neither a version (`2.20`: that \
                 or newer) nor a semver requirement (`>=2.20, <3`), in at most \
                 {MAX_VERSION_BYTES} bytes",
                tool.name,
                shown(&tool.version)
            ))
        })?;
        required.push(Requirement {
            name: tool.name,
            version,
        });
    }
    Ok(required)
}

/// A tool name is a command an exec grant can name: a program name (letters, digits,
/// `. _ + -`, not starting with `-` or `.`) or an absolute path of such names.
fn check_name(name: &str) -> Result<(), String> {
    if name.len() > MAX_NAME_BYTES {
        return Err(format!(
            "a tool name is {} bytes long (`{}`), and at most {MAX_NAME_BYTES} are allowed",
            name.len(),
            shown(name)
        ));
    }
    let part_ok = |part: &str| {
        !part.is_empty()
            && !part.starts_with(['-', '.'])
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._+-".contains(c))
    };
    let ok = match name.strip_prefix('/') {
        Some(path) => path.split('/').all(part_ok),
        None => part_ok(name),
    };
    match ok {
        true => Ok(()),
        false => Err(format!(
            "`{}` is not a command: a program name (letters, digits, `. _ + -`) or an \
             absolute path of such names",
            shown(name)
        )),
    }
}

/// `text` as a version requirement: a bare version (`2`, `2.20`, `2.20.1`) is the oldest
/// accepted, anything else is parsed as a semver requirement.
fn requirement(text: &str) -> Option<VersionReq> {
    if text.len() > MAX_VERSION_BYTES || text.trim().is_empty() {
        return None;
    }
    let bare = text.split('.').count() <= 3
        && text
            .split('.')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()));
    match bare {
        true => VersionReq::parse(&format!(">={text}")).ok(),
        false => VersionReq::parse(text).ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_bare_version_is_a_minimum_and_a_requirement_is_kept() {
        let read = |v: &str| requirement(v).map(|r| r.to_string());
        assert_eq!(read("2.20").as_deref(), Some(">=2.20"));
        assert_eq!(read(">=2.20, <3").as_deref(), Some(">=2.20, <3"));
        assert_eq!(read("latest"), None);
        assert_eq!(read(""), None);
        assert_eq!(read(&"1".repeat(MAX_VERSION_BYTES + 1)), None);
    }

    #[test]
    fn names_are_commands_only() {
        assert!(check_name("git").is_ok() && check_name("/usr/local/bin/git").is_ok());
        for bad in [
            "",
            "-rf",
            "../git",
            "/usr/../bin/sh",
            "git log",
            "a\u{1b}[2J",
            "x/y",
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        let tools = json!([{"name": "git", "version": "2"}, {"name": "git", "version": "3"}]);
        let twice = parse("m", &tools).unwrap_err().to_string();
        assert!(twice.contains("lists `git` twice"), "{twice}");
    }
}
