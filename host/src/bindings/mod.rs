//! Host-side bindings of Airlock's own contract, one module per WIT version (Zed's
//! `since_v…` pattern): this module is the latest, `airlock:plugin@0.2.0` (`wit/plugin.wit`),
//! and the host is written against it; [`since_v0_1_0`] binds `airlock:plugin@0.1.0`
//! (`wit/v0.1.0/plugin.wit`) and maps it onto the latest, so plugins built against 0.1.0 keep
//! loading and working unchanged next to 0.2.0 ones.
//!
//! In each version the `plugin` world is the union of the three worlds, so its per-interface
//! export indices serve all of them: a component gets only the indices for the interfaces it
//! really exports. [`Lifecycle`], [`Tools`] and [`Hooks`] are one interface's exports of a
//! component of either version, answering in the latest types.

pub(crate) mod since_v0_1_0;

wasmtime::component::bindgen!({
    path: "../wit",
    world: "airlock:plugin/plugin",
    imports: { default: async },
    exports: { default: async },
});

use wasmtime::component::InstancePre;
use wasmtime::{AsContextMut, Store};

pub use self::airlock::plugin::types as wit;
pub use self::exports::airlock::plugin::{hooks, lifecycle, tools};
use crate::store::InstanceState;
use since_v0_1_0 as v0_1;

/// The versions of `airlock:plugin` this host serves, oldest first.
pub const VERSIONS: &[&str] = &["0.1.0", "0.2.0"];

/// The version a component's Airlock exports are bound by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Version {
    V0_1,
    V0_2,
}

impl Version {
    /// The package this version is: `airlock:plugin@x.y.z`.
    pub(crate) fn package(self) -> &'static str {
        match self {
            Version::V0_1 => "airlock:plugin@0.1.0",
            Version::V0_2 => "airlock:plugin@0.2.0",
        }
    }

    /// The version named by an export's `@x.y.z` suffix, when this host serves it.
    pub(crate) fn of_export(name: &str) -> Option<Self> {
        match name.rsplit_once('@')?.1 {
            "0.1.0" => Some(Version::V0_1),
            "0.2.0" => Some(Version::V0_2),
            _ => None,
        }
    }
}

/// Declares an enum over one interface's export indices of each version, and its
/// `new` (looked up in the component, by `version`).
macro_rules! indices {
    ($name:ident, $latest:path, $old:path) => {
        #[derive(Clone)]
        pub(crate) enum $name {
            Latest($latest),
            V0_1($old),
        }

        impl $name {
            pub(crate) fn new(
                pre: &InstancePre<InstanceState>,
                version: Version,
            ) -> wasmtime::Result<Self> {
                Ok(match version {
                    Version::V0_2 => $name::Latest(<$latest>::new(pre)?),
                    Version::V0_1 => $name::V0_1(<$old>::new(pre)?),
                })
            }
        }
    };
}

indices!(
    LifecycleIndices,
    lifecycle::GuestIndices,
    v0_1::lifecycle::GuestIndices
);
indices!(ToolsIndices, tools::GuestIndices, v0_1::tools::GuestIndices);
indices!(HooksIndices, hooks::GuestIndices, v0_1::hooks::GuestIndices);

/// A component's `lifecycle` exports, of either version.
#[derive(Clone)]
pub(crate) enum Lifecycle {
    Latest(lifecycle::Guest),
    V0_1(v0_1::lifecycle::Guest),
}

/// A component's `tools` exports, of either version.
#[derive(Clone)]
pub(crate) enum Tools {
    Latest(tools::Guest),
    V0_1(v0_1::tools::Guest),
}

/// A component's `hooks` exports, of either version.
#[derive(Clone)]
pub(crate) enum Hooks {
    Latest(hooks::Guest),
    V0_1(v0_1::hooks::Guest),
}

type Instance = wasmtime::component::Instance;

impl LifecycleIndices {
    pub(crate) fn load(
        &self,
        store: impl AsContextMut<Data = InstanceState>,
        instance: &Instance,
    ) -> wasmtime::Result<Lifecycle> {
        Ok(match self {
            LifecycleIndices::Latest(i) => Lifecycle::Latest(i.load(store, instance)?),
            LifecycleIndices::V0_1(i) => Lifecycle::V0_1(i.load(store, instance)?),
        })
    }
}

impl ToolsIndices {
    pub(crate) fn load(
        &self,
        store: impl AsContextMut<Data = InstanceState>,
        instance: &Instance,
    ) -> wasmtime::Result<Tools> {
        Ok(match self {
            ToolsIndices::Latest(i) => Tools::Latest(i.load(store, instance)?),
            ToolsIndices::V0_1(i) => Tools::V0_1(i.load(store, instance)?),
        })
    }
}

impl HooksIndices {
    pub(crate) fn load(
        &self,
        store: impl AsContextMut<Data = InstanceState>,
        instance: &Instance,
    ) -> wasmtime::Result<Hooks> {
        Ok(match self {
            HooksIndices::Latest(i) => Hooks::Latest(i.load(store, instance)?),
            HooksIndices::V0_1(i) => Hooks::V0_1(i.load(store, instance)?),
        })
    }
}

type S<'a> = &'a mut Store<InstanceState>;

/// Calls one export on whichever version the component has: `$call` is the same
/// expression for both (0.1.0 shares the latest `types`), so only the binding differs.
macro_rules! either {
    ($self:ident, $e:ident, $g:ident => $call:expr) => {
        match $self {
            $e::Latest($g) => $call,
            $e::V0_1($g) => $call,
        }
    };
}

impl Lifecycle {
    pub(crate) async fn call_metadata(
        &self,
        store: S<'_>,
    ) -> wasmtime::Result<wit::PluginMetadata> {
        either!(self, Lifecycle, g => g.call_metadata(store).await)
    }

    pub(crate) async fn call_init(
        &self,
        store: S<'_>,
        config: &str,
    ) -> wasmtime::Result<Result<(), wit::PluginError>> {
        either!(self, Lifecycle, g => g.call_init(store, config).await)
    }

    pub(crate) async fn call_shutdown(&self, store: S<'_>) -> wasmtime::Result<()> {
        either!(self, Lifecycle, g => g.call_shutdown(store).await)
    }

    pub(crate) async fn call_health(&self, store: S<'_>) -> wasmtime::Result<wit::HealthReport> {
        either!(self, Lifecycle, g => g.call_health(store).await)
    }

    pub(crate) async fn call_capture_state(
        &self,
        store: S<'_>,
    ) -> wasmtime::Result<Option<Vec<u8>>> {
        either!(self, Lifecycle, g => g.call_capture_state(store).await)
    }

    pub(crate) async fn call_restore_state(
        &self,
        store: S<'_>,
        state: &[u8],
    ) -> wasmtime::Result<Result<(), wit::PluginError>> {
        either!(self, Lifecycle, g => g.call_restore_state(store, state).await)
    }
}

impl Tools {
    pub(crate) async fn call_list_tools(
        &self,
        store: S<'_>,
    ) -> wasmtime::Result<Vec<tools::ToolDefinition>> {
        match self {
            Tools::Latest(g) => g.call_list_tools(store).await,
            Tools::V0_1(g) => Ok(g
                .call_list_tools(store)
                .await?
                .into_iter()
                .map(v0_1::latest_tool)
                .collect()),
        }
    }

    pub(crate) async fn call_call_tool(
        &self,
        store: S<'_>,
        name: &str,
        arguments: &str,
        context: &wit::CallContext,
    ) -> wasmtime::Result<Result<String, wit::PluginError>> {
        either!(self, Tools, g => g.call_call_tool(store, name, arguments, context).await)
    }
}

impl Hooks {
    pub(crate) async fn call_subscriptions(
        &self,
        store: S<'_>,
    ) -> wasmtime::Result<Vec<hooks::HookKind>> {
        match self {
            Hooks::Latest(g) => g.call_subscriptions(store).await,
            Hooks::V0_1(g) => Ok(g
                .call_subscriptions(store)
                .await?
                .into_iter()
                .map(v0_1::latest_kind)
                .collect()),
        }
    }

    pub(crate) async fn call_handle(
        &self,
        store: S<'_>,
        kind: &hooks::HookKind,
        payload: &str,
        context: &wit::CallContext,
    ) -> wasmtime::Result<Result<hooks::HookOutcome, wit::PluginError>> {
        match self {
            Hooks::Latest(g) => g.call_handle(store, kind, payload, context).await,
            Hooks::V0_1(g) => {
                let kind = v0_1::old_kind(kind);
                let outcome = g.call_handle(store, &kind, payload, context).await?;
                Ok(outcome.map(v0_1::latest_outcome))
            }
        }
    }
}
