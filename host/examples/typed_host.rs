//! Typed embedding: a host application with its own WIT world (`fixture:typed/reporter`, in
//! `tests/plugins/typed/wit/`) calls a component of that world (`tests/plugins/reporter`)
//! through Airlock with `bindgen!` bindings, under Airlock's limits and typed errors, and
//! serves the world's own imports (`host-api`: configuration and progress) next to
//! Airlock's capabilities.
//!
//! What the embedder writes, all of it below:
//! 1. `bindgen!` for its world, async, on Airlock's wasmtime (`wasmtime_crate`);
//! 2. a state type for its imports and the generated `Host` trait for it;
//! 3. [`runtime`]: `RuntimeBuilder::host_imports` naming the interfaces and adding them to
//!    the linker, reaching the state with `InstanceState::host_state`;
//! 4. `LoadOptions::host_state` to make each instance's state, and `call_typed` around each
//!    call of the bindings.
//!
//! Run it with `cargo run -p airlock --example typed_host` (after the demo or the tests
//! built the guests). The test suite runs the same code (`tests/tests/all/dynamic.rs`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use airlock::wasmtime::component::HasSelf;
use airlock::{CallError, InstanceState, LoadOptions, Runtime, dynamic::DynamicComponent};

airlock::wasmtime::component::bindgen!({
    path: "../tests/plugins/typed/wit",
    world: "reporter",
    imports: { default: async },
    exports: { default: async },
    wasmtime_crate: airlock::wasmtime,
});

use fixture::typed::host_api;

/// One instance's state for `host-api`: the configuration it is served and where its
/// progress reports go.
#[derive(Default)]
pub struct HostApi {
    pub config: Arc<HashMap<String, String>>,
    pub progress: Arc<Mutex<Vec<u8>>>,
}

impl host_api::Host for HostApi {
    async fn get_config(&mut self, key: String) -> Option<String> {
        self.config.get(&key).cloned()
    }

    async fn report_progress(&mut self, percent: u8) {
        self.progress.lock().unwrap().push(percent);
    }
}

/// A runtime whose linker also serves `fixture:typed/host-api`.
pub fn runtime() -> Runtime {
    Runtime::builder()
        .host_imports(&["fixture:typed/host-api"], |linker| {
            host_api::add_to_linker::<InstanceState, HasSelf<HostApi>>(linker, |state| {
                state.host_state::<HostApi>()
            })
        })
        .build()
        .expect("the runtime builds")
}

/// Loads the component at `path` with `config` for its `get-config`; its progress reports
/// go to `progress`.
pub async fn load(
    runtime: &Runtime,
    path: &str,
    config: HashMap<String, String>,
    progress: Arc<Mutex<Vec<u8>>>,
) -> Result<DynamicComponent, airlock::LoadError> {
    let config = Arc::new(config);
    let options = LoadOptions::default().host_state(move || HostApi {
        config: config.clone(),
        progress: progress.clone(),
    });
    runtime.load_component(path, options).await
}

/// `jobs.describe` through the typed bindings.
pub async fn describe(component: &DynamicComponent, name: &str) -> Result<String, CallError> {
    let name = name.to_string();
    component
        .call_typed(move |store, instance| {
            Box::pin(async move {
                let reporter = Reporter::new(&mut *store, &instance)?;
                reporter
                    .fixture_typed_jobs()
                    .call_describe(&mut *store, &name)
                    .await
            })
        })
        .await
}

/// `jobs.work` through the typed bindings.
pub async fn work(component: &DynamicComponent, steps: u8) -> Result<u8, CallError> {
    component
        .call_typed(move |store, instance| {
            Box::pin(async move {
                let reporter = Reporter::new(&mut *store, &instance)?;
                reporter
                    .fixture_typed_jobs()
                    .call_work(&mut *store, steps)
                    .await
            })
        })
        .await
}

/// `jobs.spin`: loops until a limit stops it.
pub async fn spin(component: &DynamicComponent) -> Result<(), CallError> {
    component
        .call_typed(|store, instance| {
            Box::pin(async move {
                let reporter = Reporter::new(&mut *store, &instance)?;
                reporter.fixture_typed_jobs().call_spin(&mut *store).await
            })
        })
        .await
}

#[allow(dead_code)] // the tests include this file for the functions above
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| airlock_guests::REPORTER.to_string());
    let progress = Arc::new(Mutex::new(Vec::new()));
    let config = HashMap::from([("prefix".to_string(), "a ".to_string())]);
    let component = load(&runtime(), &path, config, progress.clone()).await?;
    println!("{}", describe(&component, "nightly build").await?);
    println!("worked {} steps", work(&component, 4).await?);
    println!("progress reports: {:?}", progress.lock().unwrap());
    Ok(())
}
