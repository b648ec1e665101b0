//! Checking one required tool on the host, in the order that keeps a module from making the
//! host look at anything the operator did not grant: the exec grant must name the tool; it
//! must be an executable in the exec search path ([`SEARCH_PATH`], where exec itself looks)
//! or at its absolute path; and `<tool> --version`, run the way exec runs programs (no
//! shell, empty environment, no stdin) within [`VERSION_TIMEOUT`] and [`VERSION_OUTPUT_BYTES`],
//! must print a version the module accepts.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use airlock::capabilities::exec::{self, ExecPattern, SEARCH_PATH};
use semver::{Op, Version, VersionReq};

use crate::error::{ToolProblem, shown};
use crate::requirements::Requirement;

/// How long `<tool> --version` may run before it is killed.
pub const VERSION_TIMEOUT: Duration = Duration::from_secs(5);
/// How much of `<tool> --version`'s output (stdout and stderr, each) is read.
pub const VERSION_OUTPUT_BYTES: usize = 4 << 10;

/// A required tool as found on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundTool {
    /// The command the module runs.
    pub name: String,
    /// Where exec will find it.
    pub path: PathBuf,
    /// The version it printed.
    pub version: Version,
    /// The versions the module accepts.
    pub wanted: VersionReq,
}

/// Checks `required` against the plugin's exec grant `granted` and the host.
pub(crate) async fn check(
    required: &Requirement,
    granted: &[ExecPattern],
) -> Result<FoundTool, ToolProblem> {
    let tool = required.name.clone();
    if !granted.iter().any(|pattern| pattern.command == tool) {
        return Err(ToolProblem::NotGranted { tool });
    }
    let path = locate(&tool)?;
    let found = version_of(&tool, &required.version).await?;
    let wanted = required.version.clone();
    match (wanted.matches(&found), below_minimum(&found, &wanted)) {
        (true, _) => Ok(FoundTool {
            name: tool,
            path,
            version: found,
            wanted,
        }),
        (false, true) => Err(ToolProblem::TooOld {
            tool,
            path,
            found,
            wanted,
        }),
        (false, false) => Err(ToolProblem::NotAccepted {
            tool,
            path,
            found,
            wanted,
        }),
    }
}

/// Where exec finds `tool`: itself when it is a path, else the first executable of that
/// name in [`SEARCH_PATH`].
fn locate(tool: &str) -> Result<PathBuf, ToolProblem> {
    if tool.starts_with('/') {
        let path = PathBuf::from(tool);
        return match executable(&path) {
            true => Ok(path),
            false => Err(ToolProblem::MissingAt {
                tool: tool.to_string(),
                path,
            }),
        };
    }
    SEARCH_PATH
        .split(':')
        .map(|dir| Path::new(dir).join(tool))
        .find(|path| executable(path))
        .ok_or_else(|| ToolProblem::Missing {
            tool: tool.to_string(),
            searched: SEARCH_PATH.replace(':', ", "),
        })
}

/// A file (after symlinks) someone may execute.
fn executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Runs `tool --version` through exec and reads the version it prints (stdout, else
/// stderr, where some tools print it).
async fn version_of(tool: &str, wanted: &VersionReq) -> Result<Version, ToolProblem> {
    let args = vec!["--version".to_string()];
    let only_this = [ExecPattern {
        command: tool.to_string(),
        args: args.clone(),
    }];
    let failed = |reason: &str| ToolProblem::VersionFailed {
        tool: tool.to_string(),
        reason: shown(reason),
    };
    let out = exec::run(
        &only_this,
        tool,
        &args,
        VERSION_TIMEOUT,
        VERSION_OUTPUT_BYTES,
    )
    .await
    .map_err(|e| failed(&e))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status != 0 {
        return Err(failed(&format!(
            "exit status {}: {}",
            out.status,
            stderr.trim()
        )));
    }
    parse_version(&stdout)
        .or_else(|| parse_version(&stderr))
        .ok_or_else(|| ToolProblem::NoVersion {
            tool: tool.to_string(),
            printed: shown(stdout.trim()),
            wanted: wanted.clone(),
        })
}

/// The first version number in `text`: a word of at least two dot-separated numbers after
/// an optional `v` (`git version 2.47.1` → 2.47.1, `v1.2` → 1.2.0, `2.39.5.windows.1` →
/// 2.39.5); a fourth number and anything after the numbers are left out.
pub(crate) fn parse_version(text: &str) -> Option<Version> {
    text.split_whitespace().find_map(|word| {
        let word = word.strip_prefix(['v', 'V']).unwrap_or(word);
        let end = word
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(word.len());
        let numbers: Vec<u64> = word[..end]
            .split('.')
            .map_while(|part| part.parse().ok())
            .take(3)
            .collect();
        match numbers[..] {
            [major, minor] => Some(Version::new(major, minor, 0)),
            [major, minor, patch] => Some(Version::new(major, minor, patch)),
            _ => None,
        }
    })
}

/// Whether `found` is older than the oldest version some comparator of `wanted` accepts
/// (so "too old" rather than "not accepted", e.g. too new for `<3`).
fn below_minimum(found: &Version, wanted: &VersionReq) -> bool {
    wanted.comparators.iter().any(|c| {
        let floor = Version::new(c.major, c.minor.unwrap_or(0), c.patch.unwrap_or(0));
        let lower_bound = matches!(
            c.op,
            Op::Exact | Op::Greater | Op::GreaterEq | Op::Tilde | Op::Caret | Op::Wildcard
        );
        lower_bound && *found < floor
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_what_tools_print() {
        let read = |text: &str| parse_version(text).map(|v| v.to_string());
        assert_eq!(read("git version 2.47.1\n").as_deref(), Some("2.47.1"));
        assert_eq!(read("tool v1.2, built 2024").as_deref(), Some("1.2.0"));
        assert_eq!(
            read("git version 2.39.5.windows.1").as_deref(),
            Some("2.39.5")
        );
        assert_eq!(read("release 7, no dots"), None);
    }

    #[test]
    fn too_old_is_below_the_lowest_accepted_version() {
        let wanted = VersionReq::parse(">=2.20, <3").unwrap();
        assert!(below_minimum(&Version::new(2, 1, 0), &wanted));
        assert!(!below_minimum(&Version::new(3, 1, 0), &wanted));
    }
}
