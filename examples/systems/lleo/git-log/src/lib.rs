//! `git-log`: an LLEO module (`lleo:module/module@0.1.0`) wrapping `git`. It runs
//! `git -C <repo> log …` on the host through Airlock's exec import and answers the commits
//! it printed, parsed: hash, author, e-mail, date, subject.
//!
//! The repository is the plugin's configuration (`{"repo": "/srv/repos/app",
//! "max-commits": 50}`, checked against the manifest's `[config]` schema), and the exec
//! grant pins the very same path: asked for another repository, the host refuses the
//! command line and `run` fails with code 2 and the host's `denied:` message.

wit_bindgen::generate!({
    // Airlock's package first, then LLEO's: each may only refer to packages already read.
    path: ["../../../../wit", "../wit", "wit"],
    world: "lleo:git-log/git-log",
    generate_all,
});

use airlock::plugin::exec;
use exports::lleo::module::module::{Guest, ModuleError, Tool};
use serde::{Deserialize, Serialize};

/// `git log --format`: the fields this module returns, separated by the ASCII unit
/// separator, each commit ended by the record separator (neither appears in a hash, name,
/// e-mail or ISO date; a subject holding one is cut there rather than misread).
const FORMAT: &str = "--format=%H%x1f%an%x1f%ae%x1f%aI%x1f%s%x1e";
const FIELD: char = '\u{1f}';
const RECORD: char = '\u{1e}';

/// Error codes of `module-error` (see the contract).
const BAD_CONFIG: u32 = 1;
const REFUSED: u32 = 2;
const TOOL_FAILED: u32 = 3;
const UNREADABLE: u32 = 4;

/// Longest stderr excerpt quoted in an error, in bytes.
const STDERR_EXCERPT: usize = 512;

/// The plugin's configuration.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Config {
    /// The repository, a path on the host (exec runs `git` there, not in the sandbox).
    repo: String,
    /// How many commits at most, newest first.
    #[serde(default = "default_max_commits")]
    max_commits: u32,
}

fn default_max_commits() -> u32 {
    50
}

/// One commit, as `run` answers it.
#[derive(Serialize)]
struct Commit {
    hash: String,
    author: String,
    email: String,
    /// Author date, strict ISO 8601 (`2024-05-01T12:00:00+02:00`).
    date: String,
    subject: String,
}

/// What `run` answers.
#[derive(Serialize)]
struct Results {
    repo: String,
    commits: Vec<Commit>,
    /// True when the host cut git's output at its output cap: the commits listed are whole,
    /// later ones are missing.
    truncated: bool,
}

struct GitLog;

impl Guest for GitLog {
    fn required_tools() -> Vec<Tool> {
        // `%aI` (strict ISO 8601 author date) appeared in git 2.2.
        vec![Tool {
            name: "git".into(),
            version: "2.2".into(),
        }]
    }

    fn run(config: String) -> Result<String, ModuleError> {
        let config: Config = serde_json::from_str(&config)
            .map_err(|e| error(BAD_CONFIG, format!("bad configuration: {e}")))?;
        if config.repo.is_empty() || config.max_commits == 0 {
            return Err(error(
                BAD_CONFIG,
                "bad configuration: `repo` must be a path and `max-commits` at least 1".into(),
            ));
        }
        let results = log(&config)?;
        serde_json::to_string(&results).map_err(|e| error(UNREADABLE, e.to_string()))
    }
}

/// Runs `git log` on the configured repository and parses what it printed.
fn log(config: &Config) -> Result<Results, ModuleError> {
    let args: Vec<String> = [
        "-C",
        &config.repo,
        "log",
        "--no-color",
        FORMAT,
        "-n",
        &config.max_commits.to_string(),
    ]
    .map(String::from)
    .to_vec();
    let out = exec::run("git", &args).map_err(|refused| error(REFUSED, refused))?;
    if out.status != 0 {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let excerpt = &stderr[..stderr.floor_char_boundary(STDERR_EXCERPT)];
        return Err(error(
            TOOL_FAILED,
            format!(
                "git log exited with status {}: {}",
                out.status,
                excerpt.trim()
            ),
        ));
    }
    let text = String::from_utf8(out.stdout)
        .map_err(|_| error(UNREADABLE, "git log printed text that is not UTF-8".into()))?;
    Ok(Results {
        repo: config.repo.clone(),
        commits: parse(&text, out.truncated)?,
        truncated: out.truncated,
    })
}

/// The commits in git's output; when it was `truncated`, the last, partial one is left out.
fn parse(text: &str, truncated: bool) -> Result<Vec<Commit>, ModuleError> {
    let mut records: Vec<&str> = text.split(RECORD).collect();
    // What follows the last separator: a newline, or the start of a commit that was cut.
    let rest = records.pop().unwrap_or_default();
    if !truncated && !rest.trim().is_empty() {
        return Err(error(UNREADABLE, "git log output ends mid-commit".into()));
    }
    records.into_iter().map(commit).collect()
}

/// One record: five fields (the subject last, so it may hold anything but the separators).
fn commit(record: &str) -> Result<Commit, ModuleError> {
    let fields: Vec<&str> = record.trim_start_matches('\n').splitn(5, FIELD).collect();
    let [hash, author, email, date, subject] = fields[..] else {
        return Err(error(
            UNREADABLE,
            format!("a git log record has {} fields, not 5", fields.len()),
        ));
    };
    Ok(Commit {
        hash: hash.into(),
        author: author.into(),
        email: email.into(),
        date: date.into(),
        subject: subject.into(),
    })
}

fn error(code: u32, message: String) -> ModuleError {
    ModuleError { code, message }
}

export!(GitLog);
