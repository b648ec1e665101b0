//! Victor's workflow compilers on Airlock (`examples/systems/victor`, issue #16): the
//! `json://` compiler (Rust) and the `yaml://` compiler (Python, PyYAML bundled, built once
//! per run by `airlock::build` for the custom contract) installed in a registry, routed by
//! scheme through `victor-host`, which caches compiled workflows by the plugin's
//! `cache-key`. Typed errors name the line; an unknown scheme names the schemes served.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use airlock::contract::Contracts;
use airlock::policy::Policy;
use airlock_server::registry::Registry;
use airlock_tests::{TempDir, guests, polyglot, registry_with};
use serde_json::json;
use victor_host::{CacheLimits, Compilers, NodeKind, VictorError};

const TENANT: &str = "acme";

fn victor() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/systems/victor")
}

/// The `json` example's folder: its own manifest, pinned to the built component.
fn json_folder() -> TempDir {
    let dir = TempDir::new("victor-json");
    let manifest = std::fs::read_to_string(victor().join("json/airlock.toml")).unwrap();
    let bytes = std::fs::read(guests::VICTOR_JSON).unwrap();
    std::fs::write(dir.path().join("victor_json.wasm"), &bytes).unwrap();
    let path = dir.path().join("airlock.toml");
    let pinned =
        airlock::manifest::pin_text(&manifest, &path, &airlock::digest::Sha256::of(&bytes))
            .unwrap();
    std::fs::write(path, pinned).unwrap();
    dir
}

/// A registry serving Victor's contract, with both compilers installed and enabled for
/// [`TENANT`]; the folders live as long as it.
struct Setup {
    registry: Arc<Registry>,
    _state: TempDir,
    _json: TempDir,
}

async fn setup() -> Setup {
    let yaml = polyglot::victor_yaml();
    warm(&yaml).await;
    let contracts = Contracts::from_wit(&[victor().join("wit")]).expect("Victor's WIT");
    let state = TempDir::new("victor-registry");
    let registry = Arc::new(registry_with(
        &state,
        Policy::default().with_contracts(contracts),
    ));
    let json = json_folder();
    for folder in [json.path(), yaml.dir.as_path()] {
        let name = registry.install(folder).await.expect("installs");
        registry
            .enable(TENANT, &name, json!({}))
            .await
            .expect("enables");
    }
    Setup {
        registry,
        _state: state,
        _json: json,
    }
}

/// Compiles the Python component (19 MB, CPython inside) once, into the artifact cache
/// every later load reads: the tests' registries then load it in milliseconds instead of
/// each compiling it at once.
async fn warm(yaml: &polyglot::Built) {
    static WARM: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    WARM.get_or_init(|| async {
        airlock_tests::runtime()
            .load_component(yaml.path(), airlock::LoadOptions::default())
            .await
            .expect("the yaml compiler loads");
    })
    .await;
}

fn compilers(setup: &Setup) -> Compilers {
    Compilers::new(setup.registry.clone(), TENANT)
        .workflows_dir(victor().join("workflows"))
        .unwrap()
}

/// The plugin's call count so far.
fn calls(setup: &Setup, plugin: &str) -> u64 {
    setup
        .registry
        .plugin(TENANT, plugin)
        .expect("enabled")
        .usage()
        .calls
}

/// The plugin's typed error: (code, line, message).
fn compile_error(result: Result<victor_host::Compiled, VictorError>) -> (u32, Option<u32>, String) {
    match result {
        Err(VictorError::Compile {
            code,
            line,
            message,
            ..
        }) => (code, line, message),
        other => panic!("expected a compile error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn both_schemes_compile_real_sources_through_the_registry() {
    let setup = setup().await;
    let compilers = compilers(&setup);
    assert_eq!(compilers.schemes(), ["json", "yaml"]);

    let json = compilers
        .compile("json://support.json", None, true)
        .await
        .unwrap();
    assert_eq!(json.plugin, "victor-json");
    let triage = &json.workflow;
    assert_eq!(
        (triage.name.as_str(), triage.entry.as_str()),
        ("support_triage", "classify")
    );
    assert_eq!(triage.metadata.name, "Support triage");
    let kinds: Vec<NodeKind> = triage.nodes.iter().map(|n| n.kind).collect();
    use NodeKind::*;
    assert_eq!(kinds, [Agent, Condition, Agent, Hitl]);
    assert_eq!(triage.nodes[0].tool_budget, Some(3));
    let edges: Vec<(&str, &str)> = triage
        .edges
        .iter()
        .map(|e| (e.from_node.as_str(), e.to_node.as_str()))
        .collect();
    assert_eq!(
        edges,
        [
            ("classify", "route"),
            ("route", "answer"),
            ("route", "escalate")
        ]
    );

    let yaml = compilers
        .compile("yaml://research.yaml", Some("deep_research"), true)
        .await
        .unwrap();
    assert_eq!(yaml.plugin, "victor-yaml");
    let research = &yaml.workflow;
    assert_eq!(research.metadata.version.as_deref(), Some("2.1.0"));
    assert_eq!(research.nodes.len(), 5);
    assert_eq!(research.edges.len(), 5);
    assert_eq!(research.nodes[1].kind, Parallel);
    let quick = compilers
        .compile("yaml://research.yaml", Some("quick_answer"), true)
        .await
        .unwrap();
    assert_eq!(quick.workflow.metadata.name, "quick_answer"); // no metadata: its key

    // JSON is YAML too: the Python compiler reads the JSON file to the very same graph.
    let text = std::fs::read_to_string(victor().join("workflows/support.json")).unwrap();
    let same = compilers
        .compile_source("yaml", &text, None, true)
        .await
        .unwrap();
    assert_eq!(same.workflow, json.workflow);

    // Two workflows and none named: the plugin says which exist.
    let (code, _, message) =
        compile_error(compilers.compile("yaml://research.yaml", None, true).await);
    assert_eq!(code, 404);
    assert!(message.contains("deep_research, quick_answer"), "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_compile_of_the_same_source_is_a_cache_hit() {
    let setup = setup().await;
    let compilers = compilers(&setup);
    for (uri, plugin) in [
        ("json://support.json", "victor-json"),
        ("yaml://research.yaml", "victor-yaml"),
    ] {
        let name = uri.starts_with("yaml").then_some("deep_research");
        let before = calls(&setup, plugin);
        let first = compilers.compile(uri, name, true).await.unwrap();
        // A miss asks for the key, then compiles: two calls.
        assert_eq!(
            (first.cache_hit, calls(&setup, plugin) - before),
            (false, 2)
        );
        let second = compilers.compile(uri, name, true).await.unwrap();
        // A hit only asks for the key: `compile` did not run.
        assert_eq!(
            (second.cache_hit, calls(&setup, plugin) - before),
            (true, 3)
        );
        assert!(Arc::ptr_eq(&first.workflow, &second.workflow));
    }
    let stats = compilers.stats();
    assert_eq!((stats.hits, stats.misses, stats.entries), (2, 2, 2));

    // What the plugin's key does not cover is part of the host's key: `validate`.
    let unvalidated = compilers
        .compile("json://support.json", None, false)
        .await
        .unwrap();
    assert!(!unvalidated.cache_hit);
    // Another source is another key.
    let other = compilers
        .compile_source(
            "json",
            r#"{"workflows": {"w": {"nodes": [{"id": "a", "type": "compute"}]}}}"#,
            None,
            true,
        )
        .await
        .unwrap();
    assert!(!other.cache_hit);

    // The key covers the content: an edited file is a miss, the same text again a hit.
    let folder = TempDir::new("victor-workflows");
    let file = folder.path().join("w.json");
    let (one, two) = (
        r#"{"workflows": {"w": {"nodes": [{"id": "a", "type": "agent"}]}}}"#,
        r#"{"workflows": {"w": {"nodes": [{"id": "b", "type": "agent"}]}}}"#,
    );
    let edited = Compilers::new(setup.registry.clone(), TENANT)
        .workflows_dir(folder.path())
        .unwrap();
    let mut seen = Vec::new();
    for text in [one, two, one] {
        std::fs::write(&file, text).unwrap();
        let compiled = edited.compile("json://w.json", None, true).await.unwrap();
        seen.push((compiled.cache_hit, compiled.workflow.entry.clone()));
    }
    assert_eq!(
        seen,
        [(false, "a".into()), (false, "b".into()), (true, "a".into())]
    );

    // Bounded: with room for one workflow, the older one leaves.
    let small = Compilers::new(setup.registry.clone(), TENANT)
        .workflows_dir(victor().join("workflows"))
        .unwrap()
        .cache_limits(CacheLimits {
            max_entries: 1,
            max_bytes: 1 << 20,
        });
    small
        .compile("json://support.json", None, true)
        .await
        .unwrap();
    small
        .compile("yaml://research.yaml", Some("quick_answer"), true)
        .await
        .unwrap();
    let again = small
        .compile("json://support.json", None, true)
        .await
        .unwrap();
    assert!(!again.cache_hit);
    let stats = small.stats();
    assert_eq!((stats.entries, stats.evictions), (1, 2));
    assert!(stats.bytes > 0 && stats.bytes < 4096, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn validate_source_says_whether_a_source_parses() {
    let setup = setup().await;
    let compilers = compilers(&setup);
    let checks = [
        ("json", r#"{"test": true}"#, true),
        ("json", "invalid", false),
        ("json", "{\"a\": [1, 2}", false),
        ("yaml", "workflows: {a: {nodes: []}}", true),
        ("yaml", "a: [1, 2", false),
        ("yaml", "key: value\n  bad: indent", false),
    ];
    for (scheme, source, expected) in checks {
        let valid = compilers.validate_source(scheme, source).await.unwrap();
        assert_eq!(valid, expected, "{scheme}: {source}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_sources_give_typed_plugin_errors_naming_the_line() {
    let setup = setup().await;
    let compilers = compilers(&setup);
    let compile = |scheme: &'static str, source: &'static str, validate: bool| {
        let compilers = &compilers;
        async move {
            compilers
                .compile_source(scheme, source, None, validate)
                .await
        }
    };

    // JSON: a syntax error (a missing comma), then a wrong node type, with their lines.
    let missing_comma = "{\n  \"workflows\": {\n    \"w\": {\n      \"nodes\": [{\"id\": \"a\" \"type\": \"agent\"}]\n    }\n  }\n}";
    let (code, line, message) = compile_error(compile("json", missing_comma, true).await);
    assert_eq!((code, line), (400, Some(4)), "{message}");
    assert!(message.starts_with("invalid JSON"), "{message}");
    let bad_type =
        "{\"workflows\": {\"w\": {\"nodes\": [\n  {\"id\": \"a\", \"type\": \"agnt\"}\n]}}}";
    let error = compile("json", bad_type, true).await.unwrap_err();
    assert!(
        error.to_string().contains("error 422 at line 2")
            && error.to_string().contains("unknown variant `agnt`"),
        "{error}"
    );

    // YAML: a syntax error, an unknown field and a wrong type, each at its line.
    let unclosed = "workflows:\n  w:\n    nodes: [\n      {id: a, type: agent\n";
    let (code, line, message) = compile_error(compile("yaml", unclosed, true).await);
    assert_eq!(code, 400, "{message}");
    assert!(message.starts_with("invalid YAML"), "{message}");
    assert!(line.is_some_and(|l| l >= 4), "{line:?}: {message}");
    let typo =
        "workflows:\n  w:\n    nodes:\n      - id: a\n        type: agent\n        nxt: [b]\n";
    let error = compile("yaml", typo, true).await.unwrap_err();
    let VictorError::Compile {
        code,
        line,
        column,
        ref message,
        ..
    } = error
    else {
        panic!("{error:?}")
    };
    assert_eq!((code, line, column), (422, Some(6), Some(9)), "{message}");
    assert!(message.contains("unknown field `nxt`"), "{message}");
    assert!(error.to_string().contains("at line 6, column 9"), "{error}");
    let budget = "workflows:\n  w:\n    nodes:\n      - id: a\n        type: agent\n        tool_budget: lots\n";
    let (code, line, message) = compile_error(compile("yaml", budget, true).await);
    assert_eq!((code, line), (422, Some(6)), "{message}");
    assert!(message.contains("`tool_budget` must be a int"), "{message}");

    // The graph check: an edge to no node is refused with `validate`, kept without.
    let dangling =
        "workflows:\n  w:\n    nodes:\n      - id: a\n        type: agent\n        next: [b]\n";
    let (code, line, message) = compile_error(compile("yaml", dangling, true).await);
    assert_eq!((code, line), (422, Some(6)), "{message}");
    assert!(message.contains("goes to `b`"), "{message}");
    let kept = compile("yaml", dangling, false).await.unwrap();
    assert_eq!(kept.workflow.edges.len(), 1);
    let dangling_json =
        r#"{"workflows": {"w": {"nodes": [{"id": "a", "type": "agent", "next": ["b"]}]}}}"#;
    let (code, _, message) = compile_error(compile("json", dangling_json, true).await);
    assert_eq!(code, 422);
    assert!(message.contains("goes to `b`"), "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_scheme_is_a_clear_error_naming_the_schemes_served() {
    let setup = setup().await;
    let compilers = compilers(&setup);
    let error = compilers
        .compile("toml://pipeline.toml", None, true)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, VictorError::UnknownScheme { scheme, served } if scheme == "toml" && served == &["json", "yaml"]),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "no enabled plugin serves `toml://` (victor:workflow/compiler@0.1.0) for this tenant; schemes served: json, yaml"
    );
    // A tenant with no compiler enabled is told how to get one.
    let nobody = Compilers::new(setup.registry.clone(), "other");
    let error = nobody.validate_source("json", "{}").await.unwrap_err();
    assert!(
        error
            .to_string()
            .contains("schemes served: none (enable a plugin"),
        "{error}"
    );

    // Not a URI, or a path leaving the workflows folder: refused before any plugin runs.
    let error = compilers
        .compile("support.json", None, true)
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("expected SCHEME://PATH"),
        "{error}"
    );
    let error = compilers
        .compile("json://../json/airlock.toml", None, true)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("without `..`"), "{error}");
}

/// A compiler rebuilt under the same version (other code, same `version`) is another
/// cache key: the cache follows the component's digest, so the old build's workflows are
/// not served for the new one.
#[tokio::test(flavor = "multi_thread")]
async fn a_compiler_rebuilt_under_the_same_version_is_a_cache_miss() {
    let setup = setup().await;
    let compilers = compilers(&setup);
    let first = compilers
        .compile("json://support.json", None, true)
        .await
        .unwrap();
    assert!(!first.cache_hit);
    // The same component with one more custom section (name `airlock-rebuilt`, payload
    // `1`): other bytes, the same behaviour, the manifest's version untouched.
    let folder = setup._json.path();
    let wasm = folder.join("victor_json.wasm");
    let mut bytes = std::fs::read(&wasm).unwrap();
    let name = b"airlock-rebuilt";
    bytes.extend([0x00, (1 + name.len() + 1) as u8, name.len() as u8]);
    bytes.extend(name);
    bytes.push(b'1');
    std::fs::write(&wasm, &bytes).unwrap();
    let manifest = folder.join("airlock.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let digest = airlock::digest::Sha256::of(&bytes);
    let pinned = airlock::manifest::pin_text(&text, &manifest, &digest).unwrap();
    std::fs::write(&manifest, pinned).unwrap();
    let outcomes = setup.registry.reload("victor-json").await.unwrap();
    assert!(outcomes.iter().all(|o| o.succeeded()), "{outcomes:?}");

    let rebuilt = compilers
        .compile("json://support.json", None, true)
        .await
        .unwrap();
    assert!(!rebuilt.cache_hit, "the old build's workflow was served");
    assert!(!Arc::ptr_eq(&first.workflow, &rebuilt.workflow));
    let again = compilers
        .compile("json://support.json", None, true)
        .await
        .unwrap();
    assert!(again.cache_hit);
}
