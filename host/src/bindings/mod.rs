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
pub const VERSIONS: &[&str] = &[Version::V0_1.number(), Version::V0_2.number()];

/// The version a component's Airlock exports are bound by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Version {
    V0_1,
    V0_2,
}

impl Version {
    /// Its number and its package, `airlock:plugin@<number>`.
    const fn names(self) -> (&'static str, &'static str) {
        match self {
            Version::V0_1 => ("0.1.0", "airlock:plugin@0.1.0"),
            Version::V0_2 => ("0.2.0", "airlock:plugin@0.2.0"),
        }
    }

    const fn number(self) -> &'static str {
        self.names().0
    }

    /// The package this version is: `airlock:plugin@x.y.z`.
    pub(crate) fn package(self) -> &'static str {
        self.names().1
    }

    /// The version named by an export's `@x.y.z` suffix, when this host serves it.
    pub(crate) fn of_export(name: &str) -> Option<Self> {
        let number = name.rsplit_once('@')?.1;
        [Version::V0_1, Version::V0_2]
            .into_iter()
            .find(|v| v.number() == number)
    }
}

/// Declares, for one exported interface (`$module`, the same name in both versions' bindings),
/// the enum of its exports of either version (`$guest`, calling in the latest's types) and
/// the enum of their indices (`$indices`): `new` looks them up in the component by `version`,
/// `load` binds them to an instance.
macro_rules! exports_of_either_version {
    ($module:ident, $guest:ident, $indices:ident) => {
        #[doc = concat!("A component's `", stringify!($module), "` exports, of either version.")]
        #[derive(Clone)]
        pub(crate) enum $guest {
            Latest($module::Guest),
            V0_1(v0_1::$module::Guest),
        }

        #[doc = concat!("Where a component's `", stringify!($module), "` exports are, of either version.")]
        pub(crate) enum $indices {
            Latest($module::GuestIndices),
            V0_1(v0_1::$module::GuestIndices),
        }

        impl $indices {
            pub(crate) fn new(
                pre: &InstancePre<InstanceState>,
                version: Version,
            ) -> wasmtime::Result<Self> {
                Ok(match version {
                    Version::V0_2 => $indices::Latest($module::GuestIndices::new(pre)?),
                    Version::V0_1 => $indices::V0_1(v0_1::$module::GuestIndices::new(pre)?),
                })
            }

            pub(crate) fn load(
                &self,
                store: impl AsContextMut<Data = InstanceState>,
                instance: &wasmtime::component::Instance,
            ) -> wasmtime::Result<$guest> {
                Ok(match self {
                    $indices::Latest(i) => $guest::Latest(i.load(store, instance)?),
                    $indices::V0_1(i) => $guest::V0_1(i.load(store, instance)?),
                })
            }
        }
    };
}

exports_of_either_version!(lifecycle, Lifecycle, LifecycleIndices);
exports_of_either_version!(tools, Tools, ToolsIndices);
exports_of_either_version!(hooks, Hooks, HooksIndices);

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
