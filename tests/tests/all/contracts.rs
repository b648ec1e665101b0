//! Components of the host's own contracts loaded as plugins (issue #15): the manifest's
//! `[plugin] contract` checked at review against the WIT the policy serves (a missing
//! function or a changed type refused by name), the exports as tools under the plugin's
//! limits, the JSON-RPC `plugin/call` and `contract/providers` methods, and the registry
//! routing by contract and key. The fixture is `tests/plugins/typed` (world
//! `fixture:typed/typed`, no Airlock export at all).

use airlock::contract::Contracts;
use airlock::folder::{AuditReport, review};
use airlock::policy::Policy;
use airlock::{CallContext, CallError, LoadError, LoadOptions, World};
use airlock_server::serve::Service;
use airlock_tests::{KITCHEN, TempDir, contracts_policy, kitchen_folder, registry_with};
use serde_json::json;

/// The fixture's WIT with `add` changed to answer `s64` and a function it lacks added.
fn changed_contract(dir: &TempDir) -> Policy {
    let wit = std::fs::read_to_string(airlock_tests::typed_wit().join("world.wit")).unwrap();
    let changed = wit
        .replace(
            "add: func(a: s32, b: s32) -> s32;",
            "add: func(a: s32, b: s32) -> s64;\n    subtract: func(a: s32, b: s32) -> s32;",
        )
        .replace("label: string,", "name: string,");
    assert_ne!(
        wit, changed,
        "the fixture's WIT still has the lines replaced"
    );
    std::fs::write(dir.path().join("world.wit"), changed).unwrap();
    let contracts = Contracts::from_wit(&[dir.path().to_path_buf()]).unwrap();
    Policy::default().with_contracts(contracts)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_component_of_a_host_contract_runs_as_a_plugin_under_its_limits() {
    let folder = kitchen_folder("kitchen", &["demo"], "[limits]\nfuel = 50000000\n");
    let plugin = airlock_tests::runtime()
        .load_dir(folder.path(), &contracts_policy(), LoadOptions::default())
        .await
        .unwrap();
    assert_eq!(plugin.world(), World::Custom);
    assert_eq!(plugin.metadata().version.to_string(), "0.1.0");
    assert_eq!(plugin.contracts(), [KITCHEN]);
    assert!(plugin.provides(KITCHEN, Some("demo")) && !plugin.provides(KITCHEN, Some("x")));
    let mut tools: Vec<&str> = plugin.tools().iter().map(|t| t.name.as_str()).collect();
    tools.sort();
    assert_eq!(
        tools,
        [
            "add",
            "count-vowels",
            "counter",
            "describe",
            "divide",
            "echo",
            "finish",
            "nothing",
            "spin",
            "tally-add",
            "tally-new",
            "tally-total",
            "version"
        ]
    );
    let add = plugin.tools().iter().find(|t| t.name == "add").unwrap();
    assert!(
        add.description.contains("func(a: s32, b: s32) -> s32"),
        "{}",
        add.description
    );
    assert_eq!(add.input_schema["required"], json!(["a", "b"]));

    let cx = CallContext::default();
    let sum = plugin
        .call_tool("add", &json!({"a": 2, "b": 40}), &cx)
        .await;
    assert_eq!(sum.unwrap(), json!(42));
    let described = plugin
        .call_tool(
            "describe",
            &json!({"shape": {"named": {"x": 1, "y": 2, "label": "p"}}, "color": "dark-blue"}),
            &cx,
        )
        .await
        .unwrap();
    assert!(
        described.as_str().is_some_and(|s| s.contains("dark-blue")),
        "{described}"
    );
    assert_eq!(
        plugin.call_tool("nothing", &json!({}), &cx).await.unwrap(),
        json!(null)
    );
    // Instances live across calls (reuse): the fixture's counter goes on.
    let first = plugin.call_tool("counter", &json!({}), &cx).await.unwrap();
    let second = plugin.call_tool("counter", &json!({}), &cx).await.unwrap();
    assert_eq!(second, json!(first.as_u64().unwrap() + 1));

    // `result<f64, string>`: `ok` is the answer, `err` a plugin error.
    let half = plugin
        .call_tool("divide", &json!({"a": 1.0, "b": 2.0}), &cx)
        .await;
    assert_eq!(half.unwrap(), json!(0.5));
    let err = airlock_tests::call_error(&plugin, "divide", &json!({"a": 1.0, "b": 0.0})).await;
    let CallError::Plugin {
        message, details, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(message, "division by zero");
    assert_eq!(details, &Some(json!("division by zero")));

    // The derived schema refuses before the guest runs; the limits stop a loop.
    let bad = airlock_tests::call_error(&plugin, "add", &json!({"a": "two", "b": 2})).await;
    assert_eq!(bad.kind(), "bad-arguments", "{bad}");
    let over = airlock_tests::call_error(&plugin, "add", &json!({"a": 1i64 << 40, "b": 2})).await;
    assert_eq!(over.kind(), "bad-arguments", "{over}");
    let spin = airlock_tests::call_error(&plugin, "spin", &json!({})).await;
    assert!(
        matches!(
            spin,
            CallError::FuelExhausted {
                budget: 50000000,
                ..
            }
        ),
        "{spin:?}"
    );
    assert_eq!(
        plugin
            .call_tool("add", &json!({"a": 1, "b": 1}), &cx)
            .await
            .unwrap(),
        json!(2),
        "the plugin goes on after its instance was discarded"
    );
    let health = plugin.health().await.unwrap();
    assert_eq!(health.status, airlock::HealthStatus::Ready);
}

#[tokio::test(flavor = "multi_thread")]
async fn review_refuses_a_contract_the_component_does_not_implement_by_name() {
    let runtime = airlock_tests::runtime();
    let folder = kitchen_folder("kitchen", &[], "");
    let wit = TempDir::new("changed-contract");
    let changed = changed_contract(&wit);

    let reviewed = review(&runtime, folder.path(), &changed).await;
    assert!(!reviewed.loads());
    let report = serde_json::to_value(AuditReport::from(&reviewed)).unwrap();
    let problems = report["contracts"][0]["problems"].to_string();
    assert_eq!(report["contracts"][0]["name"], KITCHEN);
    assert!(
        problems.contains(&format!("`{KITCHEN}#add` has a different type"))
            && problems.contains("-> s32")
            && problems.contains("-> s64"),
        "{problems}"
    );
    assert!(
        problems.contains(&format!("does not export `{KITCHEN}#subtract`")),
        "{problems}"
    );
    assert!(
        problems.contains(&format!("`{KITCHEN}#describe` has a different type"))
            && problems.contains("name: string"),
        "a record's field renamed changes every signature using it: {problems}"
    );
    let err = runtime
        .load_dir(folder.path(), &changed, LoadOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, LoadError::Contract { .. }), "{err}");

    // The right WIT admits it, and the audit says so.
    let reviewed = review(&runtime, folder.path(), &contracts_policy()).await;
    assert!(reviewed.loads(), "{:?}", reviewed.errors);
    let report = serde_json::to_value(AuditReport::from(&reviewed)).unwrap();
    assert_eq!(report["world"], "custom");
    assert_eq!(
        report["contracts"],
        json!([{"name": KITCHEN, "problems": []}])
    );

    // Resources (constructors, `own` parameters) and a whole world as the contract.
    let world = airlock_tests::plugin_folder(
        "kitchen",
        airlock_tests::guests::TYPED,
        "contract = [\"fixture:typed/totals@0.1.0\", \"fixture:typed/typed@0.1.0\"]\n",
    );
    let reviewed = review(&runtime, world.path(), &contracts_policy()).await;
    assert!(reviewed.loads(), "{:?}", reviewed.errors);
    assert_eq!(reviewed.contracts.len(), 2);

    // A contract the host does not serve, and no contract at all.
    let unknown = review(&runtime, folder.path(), &Policy::default()).await;
    let text = unknown.errors[0].to_string();
    assert!(
        text.contains("serves no contract") && text.contains("[contracts]"),
        "{text}"
    );
    let bare = airlock_tests::plugin_folder("kitchen", airlock_tests::guests::TYPED, "");
    let err = runtime
        .load_dir(bare.path(), &contracts_policy(), LoadOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, LoadError::WrongWorld { .. }) && err.to_string().contains("contract ="),
        "{err}"
    );

    // An interface without functions must still be exported.
    let marker = TempDir::new("marker-contract");
    std::fs::write(
        marker.path().join("marker.wit"),
        "package other:empty@0.1.0;\n\ninterface marker {\n    type id = u32;\n}\n",
    )
    .unwrap();
    let contracts = Contracts::from_wit(&[marker.path().to_path_buf()]).unwrap();
    let folder = airlock_tests::plugin_folder(
        "kitchen",
        airlock_tests::guests::TYPED,
        "contract = \"other:empty/marker@0.1.0\"\n",
    );
    let policy = Policy::default().with_contracts(contracts);
    let reviewed = review(&runtime, folder.path(), &policy).await;
    let problems = &reviewed.contracts[0].problems;
    assert_eq!(
        problems,
        &["the component does not export `other:empty/marker@0.1.0`"],
        "{:?}",
        reviewed.errors
    );
}

#[test]
fn a_policy_names_its_contracts_relative_to_itself_and_bad_wit_is_refused_where_written() {
    let dir = TempDir::new("contracts-policy");
    std::fs::create_dir_all(dir.path().join("wit")).unwrap();
    std::fs::copy(
        airlock_tests::typed_wit().join("world.wit"),
        dir.path().join("wit/world.wit"),
    )
    .unwrap();
    let path = dir.path().join("policy.toml");
    std::fs::write(&path, "[contracts]\nwit = [\"wit\"]\n").unwrap();
    let policy = Policy::from_file(&path).unwrap();
    let names: Vec<&str> = policy.contracts.names().collect();
    assert!(
        names.contains(&KITCHEN) && names.contains(&"fixture:typed/typed@0.1.0"),
        "{names:?}"
    );

    std::fs::write(
        dir.path().join("wit/world.wit"),
        "package a:b;\n\ninterface x {\n    f: func(a: nope);\n}\n",
    )
    .unwrap();
    let err = Policy::from_file(&path).unwrap_err().to_string();
    assert!(
        err.contains("policy.toml") && err.contains("[contracts] wit") && err.contains("world.wit"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_registry_routes_by_contract_and_key_and_json_rpc_calls_by_method() {
    let state = TempDir::new("contracts-registry");
    let registry = std::sync::Arc::new(registry_with(&state, contracts_policy()));
    let json_compiler = kitchen_folder("kitchen-json", &["json", "shared"], "");
    let yaml_compiler = kitchen_folder("kitchen-yaml", &["yaml"], "");
    for folder in [&json_compiler, &yaml_compiler] {
        registry.install(folder.path()).await.unwrap();
    }
    registry
        .enable("acme", "kitchen-json", json!({}))
        .await
        .unwrap();
    registry
        .enable("acme", "kitchen-yaml", json!({}))
        .await
        .unwrap();
    let names = |plugins: Vec<airlock::Plugin>| -> Vec<String> {
        plugins.iter().map(|p| p.name().to_string()).collect()
    };
    assert_eq!(
        names(registry.providers("acme", KITCHEN, None)),
        ["kitchen-json", "kitchen-yaml"]
    );
    assert_eq!(
        names(registry.providers("acme", KITCHEN, Some("yaml"))),
        ["kitchen-yaml"]
    );
    assert!(registry.providers("acme", KITCHEN, Some("toml")).is_empty());
    assert!(
        registry.providers("other", KITCHEN, None).is_empty(),
        "per tenant"
    );
    assert!(
        registry
            .providers("acme", "fixture:typed/jobs@0.1.0", None)
            .is_empty()
    );

    let service = Service::new(registry.clone(), "acme");
    let found = service
        .call(
            "contract/providers",
            json!({"contract": KITCHEN, "key": "json"}),
        )
        .await
        .unwrap();
    assert_eq!(found["plugins"][0]["plugin"], "kitchen-json");
    assert_eq!(found["plugins"][0]["keys"], json!(["json", "shared"]));
    let sum = service
        .call(
            "plugin/call",
            json!({"plugin": "kitchen-yaml", "method": "add", "args": {"a": 20, "b": 22}}),
        )
        .await
        .unwrap();
    assert_eq!(sum, json!(42));
    let refused = service
        .call(
            "plugin/call",
            json!({"plugin": "kitchen-yaml", "method": "add", "args": {"a": 1}}),
        )
        .await
        .unwrap_err();
    let refused = serde_json::to_value(&refused).unwrap();
    assert!(
        refused
            .to_string()
            .contains("\\\"b\\\" is a required property"),
        "{refused}"
    );
    let unknown = service
        .call(
            "plugin/call",
            json!({"plugin": "kitchen-yaml", "method": "multiply", "args": {}}),
        )
        .await
        .unwrap_err();
    assert!(
        serde_json::to_value(&unknown)
            .unwrap()
            .to_string()
            .contains("counter"),
        "lists the tools"
    );
    let absent = service
        .call(
            "plugin/call",
            json!({"plugin": "kitchen-toml", "method": "add", "args": {}}),
        )
        .await
        .unwrap_err();
    assert!(
        absent
            .message
            .contains("no plugin `kitchen-toml` runs for this tenant: is it enabled?"),
        "{absent:?}"
    );
    // The catalog (MCP's tools/list, the HTTP API) names them `plugin.function`.
    let entries: Vec<String> = registry
        .catalog("acme")
        .entries()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert!(
        entries.contains(&"kitchen-json.echo".to_string()),
        "{entries:?}"
    );

    // A handle over JSON-RPC: made, used and dropped in one session.
    let call = |method: &str, args: serde_json::Value| json!({"plugin": "kitchen-json", "method": method, "args": args, "session": "s1"});
    let h = service
        .call("plugin/call", call("tally-new", json!({"start": 1})))
        .await
        .unwrap();
    let total = service
        .call(
            "plugin/call",
            call("tally-add", json!({"self": h, "n": 41})),
        )
        .await
        .unwrap();
    assert_eq!(total, json!(42));
    let dropped = service
        .call(
            "handle/drop",
            json!({"plugin": "kitchen-json", "handle": h, "session": "s1"}),
        )
        .await
        .unwrap();
    assert_eq!(dropped["dropped"], true);
    let gone = service
        .call("plugin/call", call("tally-total", json!({"self": h})))
        .await
        .unwrap_err();
    assert!(
        serde_json::to_value(&gone)
            .unwrap()
            .to_string()
            .contains("no live handle")
    );
}

/// A resource-returning function answers a handle bound to the instance that owns the
/// resource: calls on it go there (its state goes on), other sessions and tenants cannot
/// use it, passing it as `own` consumes it, and dropping it or ending its session frees the
/// instance's slot.
#[tokio::test(flavor = "multi_thread")]
async fn resources_are_handles_bound_to_their_instance_tenant_and_session() {
    let folder = kitchen_folder("kitchen", &[], "");
    let plugin = airlock_tests::runtime()
        .load_dir(
            folder.path(),
            &contracts_policy(),
            LoadOptions::default().pool(2, 1),
        )
        .await
        .unwrap();
    let tools: Vec<&str> = plugin.tools().iter().map(|t| t.name.as_str()).collect();
    for tool in ["tally-new", "tally-add", "tally-total", "finish"] {
        assert!(tools.contains(&tool), "{tool} in {tools:?}");
    }
    let add = plugin
        .tools()
        .iter()
        .find(|t| t.name == "tally-add")
        .unwrap();
    assert_eq!(add.input_schema["properties"]["self"]["type"], "string");

    let alice = CallContext::for_tenant("acme").with_session("alice");
    let bob = CallContext::for_tenant("acme").with_session("bob");
    let handle = plugin
        .call_tool("tally-new", &json!({"start": 5}), &alice)
        .await
        .unwrap();
    let h = handle.as_str().expect("a handle is a string").to_string();
    assert!(h.starts_with("h-") && h.len() == 34, "{h}");
    let call = |tool: &'static str, args: serde_json::Value, cx: CallContext| {
        let plugin = plugin.clone();
        async move { plugin.call_tool(tool, &args, &cx).await }
    };
    assert_eq!(
        call("tally-add", json!({"self": h, "n": 3}), alice.clone())
            .await
            .unwrap(),
        json!(8)
    );
    // An ordinary call meanwhile runs on the pool's other slot.
    assert_eq!(
        call("add", json!({"a": 1, "b": 1}), alice.clone())
            .await
            .unwrap(),
        json!(2)
    );
    assert_eq!(
        call("tally-add", json!({"self": h, "n": 2}), alice.clone())
            .await
            .unwrap(),
        json!(10)
    );
    // A second tally of the same session lives in the same instance.
    let second = call("tally-new", json!({"start": 100}), alice.clone())
        .await
        .unwrap();
    assert_eq!(plugin.live_handles(), 2);

    for stranger in [
        bob.clone(),
        CallContext::for_tenant("other").with_session("alice"),
    ] {
        let err = call("tally-total", json!({"self": h}), stranger)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, CallError::BadArguments { problems, .. } if problems[0].contains("no live handle")),
            "{err:?}"
        );
    }
    // Only one instance is left for calls (the pool of 2 keeps one free): bob's own tally
    // would need a second held instance and is refused, naming why.
    let busy = call("tally-new", json!({"start": 1}), bob.clone())
        .await
        .unwrap_err();
    assert!(
        matches!(&busy, CallError::Busy { reason, .. } if reason.contains("one always stays for calls")),
        "{busy:?}"
    );

    // `finish` takes the tally (own): the guest owns it now, the handle is gone.
    assert_eq!(
        call("finish", json!({"tally": h}), alice.clone())
            .await
            .unwrap(),
        json!(10)
    );
    assert!(
        call("tally-total", json!({"self": h}), alice.clone())
            .await
            .is_err()
    );
    assert_eq!(plugin.live_handles(), 1);
    plugin
        .drop_handle(second.as_str().unwrap(), &alice)
        .await
        .unwrap();
    assert_eq!(plugin.live_handles(), 0);
    assert!(
        plugin
            .drop_handle(second.as_str().unwrap(), &alice)
            .await
            .is_err(),
        "dropped once"
    );

    // The held instance was discarded and its slot freed: bob gets one now, and ending his
    // session drops his handles.
    let bobs = call("tally-new", json!({"start": 7}), bob.clone())
        .await
        .unwrap();
    assert_eq!(
        call("tally-total", json!({"self": bobs}), bob.clone())
            .await
            .unwrap(),
        json!(7)
    );
    plugin.end_session("acme", "bob").await;
    assert_eq!(plugin.live_handles(), 0);
    assert_eq!(
        call("add", json!({"a": 2, "b": 2}), bob.clone())
            .await
            .unwrap(),
        json!(4)
    );
    // Shutting down drops the handles left.
    call("tally-new", json!({"start": 1}), bob.clone())
        .await
        .unwrap();
    plugin.shutdown().await;
    assert_eq!(plugin.live_handles(), 0);
    let err = call("tally-new", json!({"start": 1}), bob)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "shut-down", "{err}");
}

/// A handle unused for its time to live is gone, and so is its instance's hold on a slot.
#[tokio::test(flavor = "multi_thread")]
async fn an_unused_handle_expires_and_frees_its_instance() {
    let folder = kitchen_folder("kitchen", &[], "");
    let options = LoadOptions::default()
        .pool(2, 1)
        .handle_ttl(std::time::Duration::from_millis(200));
    let plugin = airlock_tests::runtime()
        .load_dir(folder.path(), &contracts_policy(), options)
        .await
        .unwrap();
    let alice = CallContext::for_tenant("acme").with_session("alice");
    let h = plugin
        .call_tool("tally-new", &json!({"start": 1}), &alice)
        .await
        .unwrap();
    for _ in 0..3 {
        // Each use restarts its time.
        tokio::time::sleep(std::time::Duration::from_millis(120)).await;
        let total = plugin
            .call_tool("tally-total", &json!({"self": h}), &alice)
            .await;
        assert_eq!(total.unwrap(), json!(1));
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(plugin.live_handles(), 0, "expired with no call coming");
    let err = plugin
        .call_tool("tally-total", &json!({"self": h}), &alice)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no live handle"), "{err}");
    assert_eq!(plugin.live_handles(), 0);
    // With the pool of 2, a second held instance would be refused: the first was freed.
    let bob = CallContext::for_tenant("acme").with_session("bob");
    let bobs = plugin
        .call_tool("tally-new", &json!({"start": 2}), &bob)
        .await;
    assert!(bobs.unwrap().is_string());
}
