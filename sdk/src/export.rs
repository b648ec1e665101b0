//! The glue between a [`Plugin`] and the generated bindings: [`Adapter`] implements every
//! world's export traits on top of one per-instance state, and the `export_*` macros hand it
//! to wit-bindgen.

use std::any::Any;
use std::cell::RefCell;
use std::marker::PhantomData;

use crate::bindings::plugin_world::airlock::plugin::types as wit;
use crate::hooks::RawOutcome;
use crate::{
    CallContext, Health, HealthStatus, HookKind, Hooks, Metadata, Plugin, PluginError, Tools,
};

/// Implements the generated export traits for plugin type `P`. Not for direct use.
#[doc(hidden)]
pub struct Adapter<P>(PhantomData<P>);

/// Everything one instance holds: the registries (built on first use) and the plugin value
/// (created by `init`).
struct Instance<P> {
    tools: Tools<P>,
    hooks: Hooks<P>,
    plugin: Option<P>,
}

thread_local! {
    // A component instance is single-threaded and hosts exactly one plugin type.
    static INSTANCE: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };
}

fn with_instance<P: Plugin, R>(f: impl FnOnce(&mut Instance<P>) -> R) -> R {
    INSTANCE.with(|cell| {
        let mut slot = cell.borrow_mut();
        let any = slot.get_or_insert_with(|| {
            let mut tools = Tools::new();
            P::tools(&mut tools);
            let mut hooks = Hooks::new();
            P::hooks(&mut hooks);
            Box::new(Instance::<P> {
                tools,
                hooks,
                plugin: None,
            })
        });
        let instance = any
            .downcast_mut::<Instance<P>>()
            .expect("one plugin type per component");
        f(instance)
    })
}

fn not_initialised() -> PluginError {
    PluginError::new(
        PluginError::UNAVAILABLE,
        "plugin is not initialised: the host must call init first",
    )
}

impl From<PluginError> for wit::PluginError {
    fn from(e: PluginError) -> Self {
        wit::PluginError {
            code: e.code,
            message: e.message,
            details: e.details,
        }
    }
}

impl From<wit::CallContext> for CallContext {
    fn from(c: wit::CallContext) -> Self {
        CallContext {
            tenant: c.tenant,
            session_id: c.session_id,
            call_id: c.call_id,
        }
    }
}

impl From<Metadata> for wit::PluginMetadata {
    fn from(m: Metadata) -> Self {
        wit::PluginMetadata {
            name: m.name,
            version: m.version,
            author: m.author,
            description: m.description,
            license: m.license,
            permissions: m.permissions,
            host_versions: m.host_versions,
        }
    }
}

impl From<Health> for wit::HealthReport {
    fn from(h: Health) -> Self {
        let status = match h.status {
            HealthStatus::Ready => wit::HealthStatus::Ready,
            HealthStatus::Busy => wit::HealthStatus::Busy,
            HealthStatus::Error => wit::HealthStatus::Error,
        };
        wit::HealthReport {
            status,
            message: h.message,
            details: h.details.to_string(),
        }
    }
}

/// World-independent implementations; the per-world trait impls below only convert types.
impl<P: Plugin> Adapter<P> {
    pub(crate) fn metadata() -> wit::PluginMetadata {
        P::metadata().into()
    }

    pub(crate) fn init(config: String) -> Result<(), wit::PluginError> {
        let config: P::Config = serde_json::from_str(&config)
            .map_err(|e| PluginError::invalid_input(format!("invalid configuration: {e}")))?;
        let plugin = P::init(config)?;
        with_instance::<P, _>(|i| i.plugin = Some(plugin));
        Ok(())
    }

    pub(crate) fn shutdown() {
        with_instance::<P, _>(|i| {
            if let Some(plugin) = i.plugin.as_mut() {
                plugin.shutdown();
            }
            i.plugin = None;
        });
    }

    pub(crate) fn health() -> wit::HealthReport {
        with_instance::<P, _>(|i| match &i.plugin {
            Some(plugin) => plugin.health().into(),
            None => wit::HealthReport {
                status: wit::HealthStatus::Initializing,
                message: "init has not run".into(),
                details: "{}".into(),
            },
        })
    }

    pub(crate) fn capture_state() -> Option<Vec<u8>> {
        with_instance::<P, _>(|i| i.plugin.as_ref().and_then(|p| p.capture_state()))
    }

    pub(crate) fn restore_state(state: Vec<u8>) -> Result<(), wit::PluginError> {
        with_instance::<P, _>(|i| match i.plugin.as_mut() {
            Some(plugin) => plugin.restore_state(state).map_err(Into::into),
            None => Err(not_initialised().into()),
        })
    }

    pub(crate) fn tool_definitions() -> Vec<(String, String, String)> {
        with_instance::<P, _>(|i| {
            i.tools
                .tools
                .iter()
                .map(|t| {
                    (
                        t.name.clone(),
                        t.description.clone(),
                        t.input_schema.clone(),
                    )
                })
                .collect()
        })
    }

    pub(crate) fn call_tool(
        name: String,
        arguments: String,
        context: wit::CallContext,
    ) -> Result<String, wit::PluginError> {
        let context = context.into();
        with_instance::<P, _>(|i| {
            let plugin = i.plugin.as_mut().ok_or_else(not_initialised)?;
            i.tools.call(plugin, &name, &arguments, &context)
        })
        .map_err(Into::into)
    }

    pub(crate) fn subscriptions() -> Vec<HookKind> {
        with_instance::<P, _>(|i| i.hooks.kinds().cloned().collect())
    }

    pub(crate) fn handle(
        kind: HookKind,
        payload: String,
        context: wit::CallContext,
    ) -> Result<RawOutcome, wit::PluginError> {
        let context = context.into();
        with_instance::<P, _>(|i| {
            let plugin = i.plugin.as_mut().ok_or_else(not_initialised)?;
            i.hooks.handle(plugin, &kind, &payload, &context)
        })
        .map_err(Into::into)
    }
}

/// Implements `lifecycle.Guest` for one world's bindings.
macro_rules! impl_lifecycle {
    ($world:ident) => {
        impl<P: Plugin> crate::bindings::$world::exports::airlock::plugin::lifecycle::Guest
            for Adapter<P>
        {
            fn metadata() -> wit::PluginMetadata {
                Self::metadata()
            }
            fn init(config: String) -> Result<(), wit::PluginError> {
                Self::init(config)
            }
            fn shutdown() {
                Self::shutdown()
            }
            fn health() -> wit::HealthReport {
                Self::health()
            }
            fn capture_state() -> Option<Vec<u8>> {
                Self::capture_state()
            }
            fn restore_state(state: Vec<u8>) -> Result<(), wit::PluginError> {
                Self::restore_state(state)
            }
        }
    };
}

/// Implements `tools.Guest` for one world's bindings.
macro_rules! impl_tools {
    ($world:ident) => {
        impl<P: Plugin> crate::bindings::$world::exports::airlock::plugin::tools::Guest
            for Adapter<P>
        {
            fn list_tools()
            -> Vec<crate::bindings::$world::exports::airlock::plugin::tools::ToolDefinition> {
                Self::tool_definitions()
                    .into_iter()
                    .map(|(name, description, input_schema)| {
                        crate::bindings::$world::exports::airlock::plugin::tools::ToolDefinition {
                            name,
                            description,
                            input_schema,
                        }
                    })
                    .collect()
            }
            fn call_tool(
                name: String,
                arguments: String,
                context: wit::CallContext,
            ) -> Result<String, wit::PluginError> {
                Self::call_tool(name, arguments, context)
            }
        }
    };
}

/// Implements `hooks.Guest` for one world's bindings.
macro_rules! impl_hooks {
    ($world:ident) => {
        impl<P: Plugin> crate::bindings::$world::exports::airlock::plugin::hooks::Guest
            for Adapter<P>
        {
            fn subscriptions()
            -> Vec<crate::bindings::$world::exports::airlock::plugin::hooks::HookKind> {
                use crate::bindings::$world::exports::airlock::plugin::hooks::HookKind as W;
                Self::subscriptions()
                    .into_iter()
                    .map(|kind| match kind {
                        HookKind::BeforeAgentRun => W::BeforeAgentRun,
                        HookKind::AfterAgentRun => W::AfterAgentRun,
                        HookKind::BeforeToolCall => W::BeforeToolCall,
                        HookKind::AfterToolCall => W::AfterToolCall,
                        HookKind::OnError => W::OnError,
                        HookKind::OnReasoningStep => W::OnReasoningStep,
                        HookKind::Custom(name) => W::Custom(name),
                    })
                    .collect()
            }
            fn handle(
                kind: crate::bindings::$world::exports::airlock::plugin::hooks::HookKind,
                payload: String,
                context: wit::CallContext,
            ) -> Result<
                crate::bindings::$world::exports::airlock::plugin::hooks::HookOutcome,
                wit::PluginError,
            > {
                use crate::bindings::$world::exports::airlock::plugin::hooks::{
                    HookKind as W, HookOutcome as O,
                };
                let kind = match kind {
                    W::BeforeAgentRun => HookKind::BeforeAgentRun,
                    W::AfterAgentRun => HookKind::AfterAgentRun,
                    W::BeforeToolCall => HookKind::BeforeToolCall,
                    W::AfterToolCall => HookKind::AfterToolCall,
                    W::OnError => HookKind::OnError,
                    W::OnReasoningStep => HookKind::OnReasoningStep,
                    W::Custom(name) => HookKind::Custom(name),
                };
                Ok(match Self::handle(kind, payload, context)? {
                    RawOutcome::Pass => O::Pass,
                    RawOutcome::Replace(payload) => O::Replace(payload),
                    RawOutcome::Veto(reason) => O::Veto(reason),
                })
            }
        }
    };
}

impl_lifecycle!(plugin_world);
impl_tools!(plugin_world);
impl_hooks!(plugin_world);
impl_lifecycle!(tool_world);
impl_tools!(tool_world);
impl_lifecycle!(hook_world);
impl_hooks!(hook_world);

/// Exports `$plugin` as a `tool-plugin` component (lifecycle + tools).
#[macro_export]
macro_rules! export_tool_plugin {
    ($plugin:ty) => {
        type __AirlockExport = $crate::__private::Adapter<$plugin>;
        $crate::__private::tool_world::export_tool_world!(__AirlockExport with_types_in $crate::__private::tool_world);
    };
}

/// Exports `$plugin` as a `hook-plugin` component (lifecycle + hooks).
#[macro_export]
macro_rules! export_hook_plugin {
    ($plugin:ty) => {
        type __AirlockExport = $crate::__private::Adapter<$plugin>;
        $crate::__private::hook_world::export_hook_world!(__AirlockExport with_types_in $crate::__private::hook_world);
    };
}

/// Exports `$plugin` as a `plugin` component (lifecycle + tools + hooks).
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        type __AirlockExport = $crate::__private::Adapter<$plugin>;
        $crate::__private::plugin_world::export_plugin_world!(__AirlockExport with_types_in $crate::__private::plugin_world);
    };
}
