//! LLEO's tool-wrapping modules on Airlock (`examples/systems/lleo`, issue #16): the
//! `git-log` module runs the host's real `git` through the exec capability on a repository
//! the test makes, only on the repository its grant pins; `lleo-host` enables a module only
//! when each tool it requires is granted, installed and new enough, naming the tool
//! otherwise. The `lleo-needs` fixture requires whatever its granted folder lists.

use std::path::Path;
use std::process::Command;

use airlock::policy::Policy;
use airlock::{CallError, LoadError, LoadOptions, Plugin};
use airlock_tests::{TempDir, guests};
use lleo_host::{EnableError, ToolProblem};
use serde_json::{Value, json};

/// The repository path the example manifest names, replaced by the test's repository.
const EXAMPLE_REPO: &str = "/srv/repos/app";

/// Runs the real `git` in `repo`, with a fixed identity and no user or system config;
/// answers its stdout.
fn git(repo: &Path, args: &[&str], author: (&str, &str, &str)) -> String {
    let (name, email, date) = author;
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", name)
        .env("GIT_AUTHOR_EMAIL", email)
        .env("GIT_AUTHOR_DATE", date)
        .env("GIT_COMMITTER_NAME", name)
        .env("GIT_COMMITTER_EMAIL", email)
        .env("GIT_COMMITTER_DATE", date)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// The commits the test makes, oldest first: (author, e-mail, date, subject).
const COMMITS: &[(&str, &str, &str, &str)] = &[
    (
        "Ada Lovelace",
        "ada@example.org",
        "2024-05-01T12:00:00+02:00",
        "Add the analytical engine",
    ),
    (
        "Grace Hopper",
        "grace@example.org",
        "2024-06-02T08:30:00-05:00",
        "Fix a moth in relay 70 (\"bug\")",
    ),
    (
        "Ada Lovelace",
        "ada@example.org",
        "2024-07-03T23:59:59+01:00",
        "Note G: compute Bernoulli numbers $(touch pwned); café ☕",
    ),
];

/// A new repository in `dir` with [`COMMITS`]; their hashes, newest first.
fn repository(dir: &Path) -> Vec<String> {
    let nobody = ("", "", "");
    git(dir, &["init", "-q"], nobody);
    for &(name, email, date, subject) in COMMITS {
        git(
            dir,
            &["commit", "-q", "--allow-empty", "-m", subject],
            (name, email, date),
        );
    }
    let hashes = git(dir, &["rev-list", "HEAD"], nobody);
    hashes.lines().map(str::to_string).collect()
}

/// `examples/systems/lleo`.
fn example_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/systems/lleo")
}

/// The example's file `name` with its repository replaced by `repo`.
fn example_text(name: &str, repo: &Path) -> String {
    let text = std::fs::read_to_string(example_dir().join(name)).expect("the example file");
    assert!(text.contains(EXAMPLE_REPO), "{name} names {EXAMPLE_REPO}");
    text.replace(EXAMPLE_REPO, repo.to_str().unwrap())
}

/// The `git-log` module as an operator deploys it on `repo`: the example's folder (its
/// manifest pinned to the built component) under the example's policy (serving LLEO's
/// contract and allowing the manifest's exec entry), both on `repo`.
fn git_log_folder(repo: &Path) -> (TempDir, Policy) {
    let folder = TempDir::new("lleo-git-log");
    let component = std::fs::read(guests::LLEO_GIT_LOG).expect("component built");
    std::fs::write(folder.path().join("lleo_git_log.wasm"), &component).unwrap();
    let digest = airlock::digest::Sha256::of(&component);
    let path = folder.path().join("airlock.toml");
    let manifest = example_text("git-log/airlock.toml", repo);
    let pinned = airlock::manifest::pin_text(&manifest, &path, &digest).unwrap();
    std::fs::write(&path, pinned).unwrap();
    let dir = example_dir();
    let policy = example_text("policy.toml", repo);
    let policy = Policy::parse(&policy, &dir.join("policy.toml"), &dir).expect("policy parses");
    (folder, policy)
}

/// A policy (relative paths from `folder`) serving LLEO's contract, then `rest`.
fn policy(folder: &Path, rest: &str) -> Policy {
    let text = format!(
        "[contracts]\nwit = [{:?}]\n\n{rest}",
        lleo_host::wit_dir().display().to_string()
    );
    Policy::parse(&text, Path::new("policy.toml"), folder).expect("policy parses")
}

async fn load(folder: &TempDir, policy: &Policy, config: Value) -> Result<Plugin, LoadError> {
    airlock_tests::runtime()
        .load_dir(folder.path(), policy, LoadOptions::default().config(config))
        .await
}

/// What the test's own `git --version` says, as `lleo-host` reads it.
fn host_git_version() -> semver::Version {
    let printed = Command::new("git").arg("--version").output().unwrap();
    let text = String::from_utf8(printed.stdout).unwrap();
    let number = text.split_whitespace().nth(2).expect("git version X.Y.Z");
    let parts: Vec<u64> = number
        .split('.')
        .take(3)
        .map(|p| p.parse().unwrap())
        .collect();
    semver::Version::new(parts[0], parts[1], parts[2])
}

#[tokio::test(flavor = "multi_thread")]
async fn a_module_runs_git_on_the_granted_repository_and_answers_its_commits() {
    let repo = TempDir::new("lleo-repo");
    let hashes = repository(repo.path());
    let (folder, policy) = git_log_folder(repo.path());
    let config = json!({"repo": repo.path(), "max-commits": 10});
    let plugin = load(&folder, &policy, config).await.expect("git-log loads");
    assert!(plugin.provides(lleo_host::CONTRACT, Some("git")));

    let module = lleo_host::enable(plugin).await.expect("git is usable");
    let [git] = module.tools() else {
        panic!("{:?}", module.tools())
    };
    assert_eq!(git.name, "git");
    assert_eq!(git.version, host_git_version());
    assert_eq!(git.wanted.to_string(), ">=2.2");
    assert_eq!(
        git.path,
        Path::new("/usr/local/bin/git"),
        "found where exec looks first"
    );

    let results = module.run().await.expect("the module runs");
    let expected: Vec<Value> = COMMITS
        .iter()
        .rev()
        .zip(&hashes)
        .map(|(&(author, email, date, subject), hash)| {
            json!({"hash": hash, "author": author, "email": email, "date": date, "subject": subject})
        })
        .collect();
    assert_eq!(
        results,
        json!({"repo": repo.path(), "commits": expected, "truncated": false})
    );
    assert!(
        !repo.path().join("pwned").exists() && !folder.path().join("pwned").exists(),
        "a subject is text, never a command"
    );

    // `max-commits` reaches git as the operand the grant leaves open.
    let (folder, policy) = git_log_folder(repo.path());
    let two = json!({"repo": repo.path(), "max-commits": 2});
    let module = lleo_host::enable(load(&folder, &policy, two).await.unwrap())
        .await
        .unwrap();
    let results = module.run().await.unwrap();
    let subjects: Vec<&str> = results["commits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["subject"].as_str().unwrap())
        .collect();
    assert_eq!(subjects, [COMMITS[2].3, COMMITS[1].3]);
}

#[tokio::test(flavor = "multi_thread")]
async fn git_on_a_repository_outside_the_grant_is_refused_as_a_typed_plugin_error() {
    let granted = TempDir::new("lleo-granted");
    repository(granted.path());
    let other = TempDir::new("lleo-other");
    repository(other.path());
    let (folder, policy) = git_log_folder(granted.path());

    // Configured on another repository: the schema accepts the path, the grant does not.
    let config = json!({"repo": other.path()});
    let module = lleo_host::enable(load(&folder, &policy, config).await.unwrap())
        .await
        .unwrap();
    let err = module.run().await.unwrap_err();
    let CallError::Plugin { code, message, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*code, 2, "{message}");
    assert!(
        message.starts_with("denied:") && message.contains(other.path().to_str().unwrap()),
        "{message}"
    );

    // Asked directly (JSON-RPC `plugin/call` does the same), with the granted repository it
    // answers, with any other it is refused the same way.
    let plugin = module.plugin();
    let cx = airlock::CallContext::default();
    let run = |repo: &Path| json!({"config": json!({"repo": repo}).to_string()});
    let answer = plugin.call_tool("run", &run(granted.path()), &cx).await;
    let commits: Value = serde_json::from_str(answer.unwrap().as_str().unwrap()).unwrap();
    assert_eq!(commits["commits"].as_array().unwrap().len(), COMMITS.len());
    let err = airlock_tests::call_error(plugin, "run", &run(other.path())).await;
    assert!(
        matches!(&err, CallError::Plugin { code: 2, message, .. } if message.starts_with("denied:")),
        "{err:?}"
    );

    // A repository that is not a path is refused by the manifest's schema, at load.
    let err = load(&folder, &policy, json!({"repo": "--output=/tmp/x"}))
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("repo"), "{err}");
}

/// The `lleo-needs` fixture as plugin `needs`, requiring what `tools` lists, with `exec`
/// (TOML array entries) granted by its manifest and the policy.
async fn needs(tools: &Value, exec: &str) -> Result<lleo_host::Module, EnableError> {
    let extra = format!(
        "contract = \"{}\"\n\n[capabilities]\nfiles = [{{ host = \"needs\", guest = \"/needs\", access = \"read\" }}]\nexec = [{exec}]\n",
        lleo_host::CONTRACT
    );
    let folder = airlock_tests::plugin_folder("needs", guests::LLEO_NEEDS, &extra);
    std::fs::create_dir(folder.path().join("needs")).unwrap();
    std::fs::write(folder.path().join("needs/tools.json"), tools.to_string()).unwrap();
    let policy = policy(
        folder.path(),
        &format!(
            "[plugins.needs]\nfiles = [{{ host = \"needs\", access = \"read\" }}]\nexec = [{exec}]\n"
        ),
    );
    let plugin = load(&folder, &policy, json!({}))
        .await
        .expect("needs loads");
    lleo_host::enable(plugin).await
}

/// Exec entries granting `--version` of each command.
fn versions_of(commands: &[&str]) -> String {
    let entries: Vec<String> = commands
        .iter()
        .map(|c| format!("{{ command = {c:?}, args = [\"--version\"] }}"))
        .collect();
    entries.join(", ")
}

#[tokio::test(flavor = "multi_thread")]
async fn enabling_names_each_tool_missing_too_old_or_not_granted() {
    let tools = json!([
        {"name": "git", "version": "99.1"},
        {"name": "lleo-no-such-tool", "version": "1.0"},
        {"name": "ls", "version": "1"},
        {"name": "/opt/lleo/bin/scan", "version": "1"},
    ]);
    let exec = versions_of(&["git", "lleo-no-such-tool", "/opt/lleo/bin/scan"]);
    let err = needs(&tools, &exec).await.err().expect("refused");
    let EnableError::Tools { plugin, problems } = &err else {
        panic!("{err}")
    };
    assert_eq!(plugin, "needs");
    let found = host_git_version();
    assert_eq!(
        problems[0],
        ToolProblem::TooOld {
            tool: "git".into(),
            path: "/usr/local/bin/git".into(),
            found: found.clone(),
            wanted: semver::VersionReq::parse(">=99.1").unwrap(),
        }
    );
    assert!(
        matches!(&problems[1], ToolProblem::Missing { tool, searched } if tool == "lleo-no-such-tool" && searched.contains("/usr/local/bin")),
        "{:?}",
        problems[1]
    );
    assert_eq!(problems[2], ToolProblem::NotGranted { tool: "ls".into() });
    assert!(
        matches!(&problems[3], ToolProblem::MissingAt { tool, .. } if tool == "/opt/lleo/bin/scan"),
        "{:?}",
        problems[3]
    );
    let text = err.to_string();
    for said in [
        "module `needs` cannot be enabled: 4 of its required tools cannot be used",
        &format!(
            "`git` is version {found} at /usr/local/bin/git, too old: the module needs >=99.1; upgrade it"
        ),
        "`lleo-no-such-tool` is not installed on this host",
        "install it there",
        "`ls` is not in the plugin's exec grant",
    ] {
        assert!(text.contains(said), "{said:?} missing from: {text}");
    }

    // A range the host's git is above: not "too old", and says what it needs.
    let range = json!([{"name": "git", "version": ">=1, <2"}]);
    let err = needs(&range, &versions_of(&["git"])).await.err().unwrap();
    assert!(
        err.to_string()
            .contains("which the module does not accept: it needs >=1, <2"),
        "{err}"
    );

    // Within the range: enabled, with the version the host's git printed.
    let fits = json!([{"name": "git", "version": format!(">={}, <99", found)}]);
    let module = needs(&fits, &versions_of(&["git"])).await.expect("enabled");
    assert_eq!(module.tools()[0].version, found);
    assert_eq!(module.run().await.unwrap(), json!({}), "its configuration");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_modules_required_tools_are_bounded_and_escaped() {
    let exec = versions_of(&["git"]);
    let many: Vec<Value> = (0..lleo_host::MAX_TOOLS + 1)
        .map(|i| json!({"name": format!("tool{i}"), "version": "1"}))
        .collect();
    let err = needs(&json!(many), &exec).await.err().unwrap().to_string();
    assert!(
        err.contains("it lists 17 tools, and a module may require at most 16"),
        "{err}"
    );

    let long = "g".repeat(lleo_host::MAX_NAME_BYTES + 1);
    let err = needs(&json!([{"name": long, "version": "1"}]), &exec)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("257 bytes long") && err.len() < 400, "{err}");

    let hostile = json!([{"name": "git\u{1b}[2J\nOK", "version": "1"}]);
    let err = needs(&hostile, &exec).await.err().unwrap().to_string();
    assert!(
        err.contains("is not a command") && !err.contains('\u{1b}') && !err.contains('\n'),
        "{err:?}"
    );

    let vague = json!([{"name": "git", "version": "latest"}]);
    let err = needs(&vague, &exec).await.err().unwrap().to_string();
    assert!(
        err.contains("requires `git` in version `latest`, which is neither a version"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plugin_without_the_contract_is_not_a_module() {
    let folder = airlock_tests::kitchen_folder("kitchen", &[], "");
    let plugin = airlock_tests::runtime()
        .load_dir(
            folder.path(),
            &airlock_tests::contracts_policy(),
            LoadOptions::default(),
        )
        .await
        .unwrap();
    let err = lleo_host::enable(plugin).await.err().unwrap();
    assert!(
        err.to_string()
            .contains("`kitchen` is not an LLEO module: its manifest must say `contract = \"lleo:module/module@0.1.0\"`"),
        "{err}"
    );
}
