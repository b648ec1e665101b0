//! Plugins written in Python and JavaScript (built from source by `airlock::build` with the
//! pinned componentize-py / componentize-js) go through the same assertions as the Rust
//! examples: same answers, same metadata and schema on the wire, hooks with pass / replace /
//! veto, init config, plugin errors with codes, state across instances and a hot reload, and
//! the hostile cases (fuel, deadline, memory cap, an exception) with the host and a Rust
//! bystander unaffected.

use std::time::Duration;

use airlock::policy::Policy;
use airlock::{CallContext, CallError, HealthStatus, Limits};
use airlock_server::registry::Registry;
use airlock_tests::polyglot::{self, Lang};
use airlock_tests::{TempDir, call_error, guests, load, load_with, runtime, write_plugin_folder};
use serde_json::json;

use crate::examples::{
    check_config_rejected, check_count_vowels, check_redact_passes, check_redact_scrubs,
    check_redact_vetoes, check_state_moves,
};
use crate::hostile::{attack_on, keep_calling};

#[tokio::test(flavor = "multi_thread")]
async fn count_vowels_answers_like_the_rust_one() {
    for lang in Lang::ALL {
        check_count_vowels(polyglot::count_vowels(lang).path()).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn count_vowels_declares_the_same_metadata_and_schema_as_the_rust_one() {
    let runtime = runtime();
    let rust = load(&runtime, guests::COUNT_VOWELS).await;
    for lang in Lang::ALL {
        let plugin = load(&runtime, polyglot::count_vowels(lang).path()).await;
        assert_eq!(plugin.world(), rust.world(), "{lang:?}");
        let (ours, theirs) = (plugin.metadata(), rust.metadata());
        assert_eq!(
            (
                &ours.name,
                &ours.version,
                &ours.author,
                &ours.description,
                &ours.license
            ),
            (
                &theirs.name,
                &theirs.version,
                &theirs.author,
                &theirs.description,
                &theirs.license
            ),
            "{lang:?}"
        );
        assert_eq!(plugin.tools().len(), 1);
        let (tool, reference) = (&plugin.tools()[0], &rust.tools()[0]);
        assert_eq!(
            (&tool.name, &tool.description),
            (&reference.name, &reference.description)
        );
        for key in ["type", "properties", "required"] {
            assert_eq!(
                tool.input_schema[key], reference.input_schema[key],
                "{lang:?} schema `{key}`"
            );
        }
        let health = plugin.health().await.unwrap();
        assert_eq!(
            (health.status, health.message.as_str()),
            (HealthStatus::Ready, "ok")
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn arguments_are_validated_against_the_derived_schema() {
    let runtime = runtime();
    for lang in Lang::ALL {
        let plugin = load(&runtime, polyglot::count_vowels(lang).path()).await;
        let err = call_error(&plugin, "count_vowels", &json!({"text": 5})).await;
        let CallError::BadArguments { problems, .. } = &err else {
            panic!("{lang:?}: expected bad arguments, got {err:?}")
        };
        assert!(
            problems.iter().any(|p| p.starts_with("/text:")),
            "{problems:?}"
        );
        let err = call_error(&plugin, "count_vowels", &json!({})).await;
        assert!(matches!(err, CallError::BadArguments { .. }), "{err:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn state_moves_between_languages() {
    // The three count-vowels share one state format (a little-endian u64): the total moves
    // from Rust to Python to JavaScript and back.
    let python = polyglot::count_vowels(Lang::Python);
    let js = polyglot::count_vowels(Lang::Js);
    check_state_moves(guests::COUNT_VOWELS, python.path()).await;
    check_state_moves(python.path(), js.path()).await;
    check_state_moves(js.path(), guests::COUNT_VOWELS).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hot_reload_carries_the_state_across_languages() {
    let state = TempDir::new("polyglot-reload-state");
    let plugins = TempDir::new("polyglot-reload-plugins");
    let registry = Registry::open(
        &state.path().join("registry.db"),
        runtime(),
        Policy::default(),
    )
    .unwrap()
    .with_pool(1, 1);
    let folder = plugins.path().join("count-vowels");
    let ctx = CallContext::for_tenant("acme");
    let count = async |text: &str| {
        registry
            .call_tool("count-vowels.count_vowels", &json!({"text": text}), &ctx)
            .await
            .unwrap()
    };
    write_plugin_folder(&folder, "count-vowels", "0.1.0", guests::COUNT_VOWELS, "");
    registry.install(&folder).await.unwrap();
    registry
        .enable("acme", "count-vowels", json!({}))
        .await
        .unwrap();
    assert_eq!(count("aaaa").await["total"], 4);
    let mut expected = 4;
    for (lang, version) in [(Lang::Python, "0.2.0"), (Lang::Js, "0.3.0")] {
        let built = polyglot::count_vowels(lang);
        write_plugin_folder(&folder, "count-vowels", version, built.path(), "");
        let outcomes = registry.reload("count-vowels").await.unwrap();
        assert!(
            outcomes.iter().all(|o| o.succeeded()),
            "{lang:?}: {outcomes:?}"
        );
        expected += 1;
        assert_eq!(count("e").await["total"], expected, "{lang:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn redact_hooks_pass_replace_and_veto_like_the_rust_one() {
    for lang in Lang::ALL {
        let redact = polyglot::redact(lang);
        check_redact_scrubs(redact.path()).await;
        check_redact_passes(redact.path()).await;
        check_redact_vetoes(redact.path()).await;
        check_config_rejected(redact.path()).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_infinite_loop_runs_out_of_fuel() {
    for lang in Lang::ALL {
        let limits = Limits::default().with_fuel(Some(200_000_000));
        let error = attack_on(polyglot::hostile(lang).path(), limits, "spin", json!({})).await;
        assert!(
            matches!(
                error,
                CallError::FuelExhausted {
                    budget: 200_000_000,
                    ..
                }
            ),
            "{lang:?}: {error:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_infinite_loop_without_fuel_hits_the_deadline() {
    for lang in Lang::ALL {
        let limits = Limits::default()
            .with_fuel(None)
            .with_deadline(Duration::from_millis(400));
        let error = attack_on(polyglot::hostile(lang).path(), limits, "spin", json!({})).await;
        assert!(
            matches!(error, CallError::DeadlineExceeded { .. }),
            "{lang:?}: {error:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_memory_bomb_hits_the_memory_limit() {
    for lang in Lang::ALL {
        let limits = Limits::default();
        let cap = limits.memory_bytes;
        let error = attack_on(polyglot::hostile(lang).path(), limits, "grow", json!({})).await;
        assert!(
            matches!(error, CallError::MemoryLimit { limit, .. } if limit == cap),
            "{lang:?}: {error:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_exception_is_a_plugin_error_with_its_message_and_the_instance_lives_on() {
    let runtime = runtime();
    let bystander = load(&runtime, guests::CALCULATOR).await;
    let ctx = CallContext::default();
    for (lang, kind) in [(Lang::Python, "ValueError"), (Lang::Js, "TypeError")] {
        let hostile = load_with(&runtime, polyglot::hostile(lang).path(), Limits::default()).await;
        assert_eq!(
            hostile
                .call_tool("counter", &json!({}), &ctx)
                .await
                .unwrap(),
            1
        );
        let during = tokio::spawn(keep_calling(bystander.clone()));
        let error = hostile
            .call_tool("fail", &json!({"text": "the plugin gave up"}), &ctx)
            .await
            .unwrap_err();
        let CallError::Plugin {
            code,
            message,
            details,
            ..
        } = &error
        else {
            panic!("{lang:?}: expected a plugin error, got {error:?}")
        };
        assert_eq!(*code, 500, "{lang:?}");
        assert_eq!(message, &format!("{kind}: the plugin gave up"), "{lang:?}");
        let details = details.as_ref().expect("details");
        assert_eq!(details["exception"], kind, "{lang:?}");
        assert!(!error.discards_instance(), "{lang:?}: {error:?}");
        assert_eq!(during.await.unwrap(), 20, "the bystander kept answering");
        assert_eq!(
            hostile
                .call_tool("counter", &json!({}), &ctx)
                .await
                .unwrap(),
            2,
            "{lang:?}: the same instance answers on"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tool_the_plugin_does_not_have_is_refused_by_the_host() {
    let runtime = runtime();
    for lang in Lang::ALL {
        let plugin = load(&runtime, polyglot::hostile(lang).path()).await;
        let err = call_error(&plugin, "nope", &json!({})).await;
        let CallError::UnknownTool { available, .. } = err else {
            panic!("{lang:?}: expected unknown tool, got {err:?}")
        };
        assert_eq!(
            available,
            ["counter", "echo", "stream", "spin", "grow", "fail"]
        );
    }
}

/// Their SDKs' `progress` (`airlock:plugin/progress@0.2.0`) reaches the caller as the Rust
/// SDK's does: chunks and reports in order, then the result.
#[tokio::test(flavor = "multi_thread")]
async fn progress_from_python_and_javascript_reaches_the_caller() {
    let runtime = runtime();
    for lang in Lang::ALL {
        let plugin = load(&runtime, polyglot::hostile(lang).path()).await;
        let args = json!({"words": ["to", "be"]});
        let (events, result) = airlock_tests::call_listening(&plugin, "stream", &args).await;
        assert_eq!(result.unwrap(), json!("to be"), "{lang:?}");
        let expected = airlock_tests::stream_events(&["to", "be"]);
        assert_eq!(events, expected, "{lang:?}");
    }
}
