//! The orchestrator's domain plugins on Airlock (issue #16): plugins of the
//! `orchestrator:domain/domain-plugin` contract found by domain through the registry, and
//! `airlock_server::phases` running their phases — in order, each under its timeout, retried
//! with backoff, a required failure stopping the run and an optional one recorded, outputs
//! passed on through the session context and kept apart per session. The plugins are the
//! `docs` example (`examples/systems/orchestrator/docs`) and the `phasey` fixture, whose
//! phases sleep or fail as the run input says.

use std::path::{Path, PathBuf};
use std::time::Duration;

use airlock::manifest::Manifest;
use airlock::{CallContext, CallError};
use airlock_server::phases::{CONTRACT, Failure, Outcome, PhaseRunner, RunError, output_key};
use airlock_server::registry::Registry;
use airlock_tests::{TempDir, guests, plugin_folder, registry_with};
use serde_json::{Value, json};

const TENANT: &str = "acme";

fn orchestrator_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/systems/orchestrator")
}

/// A policy serving the orchestrator's contract (`[contracts] wit`).
fn policy() -> airlock::policy::Policy {
    let wit = orchestrator_dir().join("wit");
    let contracts = airlock::contract::Contracts::from_wit(&[wit]).expect("orchestrator WIT");
    airlock::policy::Policy::default().with_contracts(contracts)
}

/// The `phasey` fixture serving `domains`, with a 2 s deadline.
fn phasey_folder(domains: &[&str]) -> TempDir {
    let domains: Vec<String> = domains.iter().map(|d| format!("{d:?}")).collect();
    let extra = format!(
        "contract = \"{CONTRACT}\"\ndomains = [{}]\n\n[limits]\ndeadline = \"2s\"\n",
        domains.join(", ")
    );
    plugin_folder("phasey", guests::PHASEY, &extra)
}

/// The `docs` example's folder, pinned to the built component.
fn docs_folder() -> &'static Path {
    Path::new(guests::ORCH_DOCS_DIR)
}

/// A registry with the plugin `folders` (folder, name) installed and enabled for
/// [`TENANT`]; the folders must outlive it.
async fn registry_of(dir: &TempDir, folders: &[(&Path, &str)]) -> Registry {
    let registry = registry_with(dir, policy());
    for (folder, name) in folders {
        registry.install(folder).await.unwrap();
        registry.enable(TENANT, name, json!({})).await.unwrap();
    }
    registry
}

fn session(id: &str) -> CallContext {
    CallContext::for_tenant(TENANT).with_session(id)
}

fn names(report: &airlock_server::phases::RunReport) -> Vec<&str> {
    report
        .phases
        .iter()
        .map(|p| p.phase.name.as_str())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn phases_run_in_order_and_each_reads_the_outputs_before_it() {
    let (dir, folder) = (TempDir::new("orch-order"), phasey_folder(&["test"]));
    let registry = registry_of(&dir, &[(folder.path(), "phasey")]).await;
    let report = PhaseRunner::new(&registry)
        .run("test", &json!({"tag": "T"}), &session("s-order"))
        .await
        .unwrap();
    // Declared as finish, extra, prepare, flaky: run by `order`.
    assert_eq!(names(&report), ["prepare", "flaky", "extra", "finish"]);
    assert!(report.succeeded(), "{report:?}");
    assert_eq!(
        (report.plugin.as_str(), report.session.as_str()),
        ("phasey", "s-order")
    );
    for phase in &report.phases {
        assert_eq!(phase.outcome, Outcome::Succeeded);
        assert_eq!(phase.attempts.len(), 1);
        assert!(phase.duration > Duration::ZERO && phase.duration <= report.duration);
    }
    // Each phase read every earlier phase's output back from the session context.
    let finish = report.phase("finish").unwrap().output.as_ref().unwrap();
    assert_eq!(
        finish["seen"],
        json!({"prepare": "T", "flaky": "T", "extra": "T"})
    );
    assert_eq!(report.outputs()["prepare"]["seen"], json!({}));
    let stored = registry
        .sessions()
        .get(TENANT, "s-order", &output_key("test", "finish"));
    assert_eq!(stored.as_ref(), Some(finish));
    assert!(report.errors().is_empty() && report.notes.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_phase_over_its_timeout_ends_as_the_deadline_error() {
    let (dir, folder) = (TempDir::new("orch-timeout"), phasey_folder(&["test"]));
    let registry = registry_of(&dir, &[(folder.path(), "phasey")]).await;
    let input = json!({"behaviour": {"extra": {"sleep_ms": 5000}}});
    let report = PhaseRunner::new(&registry)
        .run("test", &input, &session("s-timeout"))
        .await
        .unwrap();
    let extra = report.phase("extra").unwrap();
    assert_eq!(extra.outcome, Outcome::Failed);
    let Some(Failure::Call(CallError::DeadlineExceeded { plugin, deadline })) = extra.failure()
    else {
        panic!("{:?}", extra.failure())
    };
    assert_eq!(
        (plugin.as_str(), *deadline),
        ("phasey", Duration::from_millis(500))
    );
    let took = extra.attempts[0].duration;
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_millis(1500),
        "{took:?}"
    );
    // `extra` is optional: the run went on, on a fresh instance.
    assert_eq!(report.phase("finish").unwrap().outcome, Outcome::Succeeded);
    assert!(report.succeeded());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flaky_phase_succeeds_on_its_second_try() {
    let (dir, folder) = (TempDir::new("orch-flaky"), phasey_folder(&["test"]));
    let registry = registry_of(&dir, &[(folder.path(), "phasey")]).await;
    let input = json!({"tag": "F", "behaviour": {"flaky": {"fail_times": 1}}});
    let report = PhaseRunner::new(&registry)
        .run("test", &input, &session("s-flaky"))
        .await
        .unwrap();
    let flaky = report.phase("flaky").unwrap();
    assert_eq!(flaky.outcome, Outcome::Succeeded);
    assert_eq!(flaky.attempts.len(), 2);
    let Some(Failure::Call(CallError::Plugin { code, message, .. })) = &flaky.attempts[0].failure
    else {
        panic!("{:?}", flaky.attempts[0])
    };
    assert_eq!(
        (*code, message.as_str()),
        (7, "`flaky` failed on attempt 1")
    );
    assert!(flaky.attempts[1].failure.is_none());
    assert_eq!(flaky.output.as_ref().unwrap()["attempt"], 2);
    // The first retry waits the backoff base (50 ms).
    assert!(
        flaky.duration >= Duration::from_millis(50),
        "{:?}",
        flaky.duration
    );
    assert!(report.succeeded());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_required_phase_that_fails_stops_the_run() {
    let (dir, folder) = (TempDir::new("orch-required"), phasey_folder(&["test"]));
    let registry = registry_of(&dir, &[(folder.path(), "phasey")]).await;
    let runner = PhaseRunner::new(&registry);
    // Retryable failures: the first try and its two retries, then the run stops.
    let input = json!({"behaviour": {"flaky": {"fail": true}}});
    let report = runner.run("test", &input, &session("s-req")).await.unwrap();
    assert!(!report.succeeded());
    assert_eq!(report.stopped_at(), Some("flaky"));
    let outcomes: Vec<Outcome> = report.phases.iter().map(|p| p.outcome).collect();
    use Outcome::*;
    assert_eq!(outcomes, [Succeeded, Failed, Skipped, Skipped]);
    assert_eq!(report.phase("flaky").unwrap().attempts.len(), 3);
    assert!(report.phase("finish").unwrap().attempts.is_empty());
    // As JSON (for a front end): the same story.
    let shown = report.to_json();
    assert_eq!(
        (shown["succeeded"].clone(), shown["stopped_at"].clone()),
        (json!(false), json!("flaky"))
    );
    let flaky = &shown["phases"][1];
    assert_eq!(
        (flaky["outcome"].clone(), flaky["timeout_ms"].clone()),
        (json!("failed"), json!(500.0))
    );
    assert_eq!(
        flaky["attempts"][2]["error"],
        json!({"kind": "plugin", "code": 7, "message": "`flaky` failed on attempt 3"})
    );
    assert_eq!(shown["phases"][3]["outcome"], "skipped");
    let keys = registry.sessions().keys(TENANT, "s-req");
    assert_eq!(keys, [output_key("test", "prepare")]);

    // An error the plugin says is not worth retrying is tried once.
    let input = json!({"behaviour": {"flaky": {"fail": true, "retryable": false}}});
    let report = runner.run("test", &input, &session("s-req")).await.unwrap();
    assert_eq!(report.phase("flaky").unwrap().attempts.len(), 1);
    assert_eq!(report.errors().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_optional_phase_that_fails_is_recorded_and_the_run_goes_on() {
    let (dir, folder) = (TempDir::new("orch-optional"), phasey_folder(&["test"]));
    let registry = registry_of(&dir, &[(folder.path(), "phasey")]).await;
    let runner = PhaseRunner::new(&registry);
    let first = runner
        .run("test", &json!({"tag": "1"}), &session("s-opt"))
        .await
        .unwrap();
    assert!(first.succeeded());
    let input = json!({"tag": "2", "behaviour": {"extra": {"fail": true}}});
    let report = runner.run("test", &input, &session("s-opt")).await.unwrap();
    assert!(report.succeeded() && report.stopped_at().is_none());
    let errors: Vec<&str> = report.errors().iter().map(|(phase, _)| *phase).collect();
    assert_eq!(errors, ["extra"]);
    // Retryable phase? No: `extra` declares no retries, so one attempt.
    assert_eq!(report.phase("extra").unwrap().attempts.len(), 1);
    // `finish` ran, and did not see the first run's `extra` output: a run starts clean.
    let finish = &report.outputs()["finish"];
    assert_eq!(finish["seen"], json!({"prepare": "2", "flaky": "2"}));
    let extra = registry
        .sessions()
        .get(TENANT, "s-opt", &output_key("test", "extra"));
    assert_eq!(extra, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_sessions_keep_their_runs_apart() {
    let (dir, folder) = (TempDir::new("orch-sessions"), phasey_folder(&["test"]));
    let registry = registry_of(&dir, &[(folder.path(), "phasey")]).await;
    let runner = PhaseRunner::new(&registry);
    let (a, b) = (session("s-a"), session("s-b"));
    let (input_a, input_b) = (json!({"tag": "A"}), json!({"tag": "B"}));
    let (ra, rb) = tokio::join!(
        runner.run("test", &input_a, &a),
        runner.run("test", &input_b, &b),
    );
    for (report, tag) in [(ra.unwrap(), "A"), (rb.unwrap(), "B")] {
        let finish = &report.outputs()["finish"];
        assert_eq!(finish["tag"], tag);
        assert_eq!(
            finish["seen"],
            json!({"prepare": tag, "flaky": tag, "extra": tag})
        );
        let stored = registry
            .sessions()
            .get(TENANT, &report.session, &output_key("test", "prepare"))
            .unwrap();
        assert_eq!(stored["tag"], tag);
    }
    // Another tenant's session of the same id sees none of it.
    let other = registry.sessions().keys("other", "s-a");
    assert!(other.is_empty(), "{other:?}");
}

/// The spec of the `docs` example's README.
const SPEC: &str = "# Running phases on Airlock\n\
    audience: plugin authors\n\
    Domain plugins declare phases; the host runs them in order.\n\
    - Declare: list the phases; give each a timeout\n\
    - Run: the runner retries flaky phases; required ones stop the run\n\
    - Read back: each phase reads earlier outputs from the session\n";

const MARKDOWN: &str = "# Running phases on Airlock\n\n## Contents\n\n\
    - [Overview](#overview)\n- [Declare](#declare)\n- [Run](#run)\n- [Read back](#read-back)\n\n\
    ## Overview\n\n- Written for plugin authors.\n\
    - Domain plugins declare phases; the host runs them in order.\n\
    - Covers Declare, Run, Read back.\n\n\
    ## Declare\n\n- List the phases.\n- Give each a timeout.\n\n\
    ## Run\n\n- The runner retries flaky phases.\n- Required ones stop the run.\n\n\
    ## Read back\n\n- Each phase reads earlier outputs from the session.\n";

#[tokio::test(flavor = "multi_thread")]
async fn the_docs_plugin_turns_a_spec_into_markdown() {
    let dir = TempDir::new("orch-docs");
    let registry = registry_of(&dir, &[(docs_folder(), "docs")]).await;
    let report = PhaseRunner::new(&registry)
        .run("docs", &json!({"spec": SPEC}), &session("s-docs"))
        .await
        .unwrap();
    assert_eq!(names(&report), ["analyze", "outline", "write"]);
    assert!(report.succeeded(), "{:?}", report.errors());
    let analysis = &report.outputs()["analyze"];
    assert_eq!(analysis["audience"], "plugin authors");
    assert_eq!(analysis["topics"].as_array().unwrap().len(), 3);
    let document = &report.outputs()["write"];
    assert_eq!(document["markdown"], MARKDOWN);
    assert_eq!(document["sections"], 4);

    // A spec without topics fails `analyze`, a required phase, with the plugin's reason.
    let report = PhaseRunner::new(&registry)
        .run("docs", &json!({"spec": "Just a title"}), &session("s-docs"))
        .await
        .unwrap();
    assert_eq!(report.stopped_at(), Some("analyze"));
    let (_, failure) = report.errors()[0];
    assert!(
        failure.to_string().contains("the spec names no topics"),
        "{failure}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_docs_write_phase_writes_from_the_outline_in_the_session() {
    let dir = TempDir::new("orch-docs-context");
    let registry = registry_of(&dir, &[(docs_folder(), "docs")]).await;
    let cx = session("s-context");
    let report = PhaseRunner::new(&registry)
        .run("docs", &json!({"spec": SPEC}), &cx)
        .await
        .unwrap();
    // Change the outline in the session, then run `write` alone: the document follows the
    // session's outline, not the spec it was given.
    let mut outline = report.outputs()["outline"].clone();
    outline["title"] = json!("Edited between phases");
    let key = output_key("docs", "outline");
    registry
        .sessions()
        .set(TENANT, "s-context", &key, &outline)
        .unwrap();
    let write = |cx: CallContext| {
        let registry = &registry;
        async move {
            let args = json!({
                "phase": "write",
                "input": json!({"spec": "# Ignored\n- Nothing: at all"}).to_string(),
                "context": {"domain": "docs", "session": cx.session_id, "attempt": 1,
                            "completed": ["analyze", "outline"]},
            });
            registry.call_tool("docs.execute", &args, &cx).await
        }
    };
    let answer = write(cx).await.unwrap();
    let document: Value = serde_json::from_str(answer.as_str().unwrap()).unwrap();
    let markdown = document["markdown"].as_str().unwrap();
    assert!(
        markdown.starts_with("# Edited between phases\n"),
        "{markdown}"
    );
    assert!(markdown.contains("## Read back"), "{markdown}");

    // In a session with no outline, `write` fails with the docs plugin's code 2.
    let err = write(session("s-empty")).await.unwrap_err();
    let CallError::Plugin {
        code,
        message,
        details,
        ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(*code, 2);
    assert!(message.contains("phase/docs/outline"), "{message}");
    assert_eq!(details.as_ref().unwrap()["retryable"], false);
}

#[tokio::test(flavor = "multi_thread")]
async fn domain_plugins_are_found_by_domain() {
    let dir = TempDir::new("orch-domains");
    let (docs, phasey) = (docs_folder(), phasey_folder(&["test", "fiction"]));
    let registry = registry_of(&dir, &[(docs, "docs"), (phasey.path(), "phasey")]).await;
    let found = |domain: &str| -> Vec<String> {
        let plugins = registry.providers(TENANT, CONTRACT, Some(domain));
        plugins.iter().map(|p| p.name().to_string()).collect()
    };
    assert_eq!(found("docs"), ["docs"]);
    assert_eq!(found("fiction"), ["phasey"]);
    assert!(found("code").is_empty());
    let plugin = registry.plugin(TENANT, "phasey").unwrap();
    assert_eq!(plugin.keys(), ["test", "fiction"]);

    let err = PhaseRunner::new(&registry)
        .run("code", &json!({}), &session("s-1"))
        .await
        .unwrap_err();
    assert!(matches!(err, RunError::NoProvider { .. }), "{err}");
    assert!(err.to_string().contains("serves domain `code`"), "{err}");
    let err = PhaseRunner::new(&registry)
        .run("docs", &json!({}), &CallContext::for_tenant(TENANT))
        .await
        .unwrap_err();
    assert!(matches!(err, RunError::NoSession), "{err}");

    // `domains` is the orchestrator's name for the routing keys: one list, not two.
    let both = "[plugin]\nname = \"x\"\nversion = \"0.1.0\"\ncomponent = \"x.wasm\"\n\
                domains = [\"docs\"]\nkeys = [\"docs\"]\n";
    let err = Manifest::parse(both, Path::new("x/airlock.toml")).unwrap_err();
    assert!(err.to_string().contains("duplicate field"), "{err}");
}

/// Sets the phase list `phasey` declares in `session` (see the fixture's docs).
fn declare(registry: &Registry, session: &str, phases: Value) {
    let sessions = registry.sessions();
    sessions
        .set(TENANT, session, "phasey/phases", &phases)
        .unwrap();
}

fn phase(name: &str, timeout: u64, max_retries: u32) -> Value {
    json!({"name": name, "order": 1, "timeout": timeout, "required": true,
           "retryable": true, "max-retries": max_retries})
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plugin_asking_too_much_is_capped_or_refused() {
    let (dir, folder) = (TempDir::new("orch-caps"), phasey_folder(&["test"]));
    let registry = registry_of(&dir, &[(folder.path(), "phasey")]).await;
    let runner = PhaseRunner::new(&registry);
    let ten_days = 10 * 24 * 3_600_000;
    declare(
        &registry,
        "s-caps",
        json!([phase("greedy", ten_days, 1_000_000_000)]),
    );
    let report = runner
        .run("test", &json!({}), &session("s-caps"))
        .await
        .unwrap();
    let greedy = &report.phase("greedy").unwrap().phase;
    // Capped at the plugin's 2 s deadline and the runner's 5 retries; the notes say so.
    assert_eq!(
        (greedy.timeout, greedy.max_retries),
        (Duration::from_secs(2), 5)
    );
    assert_eq!(report.notes.len(), 2, "{:?}", report.notes);
    assert!(
        report.notes[0].contains("capped at 2000 ms"),
        "{:?}",
        report.notes
    );
    assert!(report.notes[1].contains("1000000000 retries; capped at 5"));

    let refused = |phases: Value| {
        declare(&registry, "s-caps", phases);
        let runner = &runner;
        async move {
            let err = runner
                .run("test", &json!({}), &session("s-caps"))
                .await
                .unwrap_err();
            assert!(matches!(err, RunError::BadPhases { .. }), "{err}");
            err.to_string()
        }
    };
    let many: Vec<Value> = (0..33).map(|n| phase(&format!("p{n}"), 100, 0)).collect();
    assert!(
        refused(json!(many))
            .await
            .contains("33 phases, over the cap of 32")
    );
    let long = "x".repeat(65);
    assert!(
        refused(json!([phase(&long, 100, 0)]))
            .await
            .contains("is not a phase name")
    );
    let twice = json!([phase("a", 100, 0), phase("a", 100, 0)]);
    assert!(refused(twice).await.contains("two phases are named `a`"));
    assert!(
        refused(json!([phase("a", 0, 0)]))
            .await
            .contains("a timeout of 0 ms")
    );
    assert!(refused(json!([])).await.contains("declares no phases"));
}

#[path = "../../../host/server/examples/orchestrator.rs"]
#[allow(dead_code)]
mod example;

/// The runnable example (`cargo run -p airlock-server --example orchestrator`, included
/// here) documents its sample spec, every phase succeeding once.
#[tokio::test(flavor = "multi_thread")]
async fn the_orchestrator_example_documents_its_sample_spec() {
    let dir = TempDir::new("orch-example");
    let registry = example::registry_in(dir.path()).await.unwrap();
    let (report, markdown) = example::document(&registry, example::SAMPLE_SPEC, "s-ex")
        .await
        .unwrap();
    assert!(report.succeeded(), "{}", example::summary(&report));
    assert!(
        markdown.starts_with("# Domain plugins on Airlock\n\n## Contents\n"),
        "{markdown}"
    );
    assert!(markdown.contains("\n## Route\n\n- Name the plugin's domains in its manifest.\n"));
    let summary = example::summary(&report);
    let lines: Vec<&str> = summary.lines().collect();
    assert_eq!(lines.len(), 3, "{summary}");
    assert!(
        lines[2].starts_with("write      succeeded 1 attempt(s)"),
        "{summary}"
    );
}
