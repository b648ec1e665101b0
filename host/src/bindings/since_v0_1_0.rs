//! `airlock:plugin@0.1.0` (`wit/v0.1.0/plugin.wit`), mapped onto the latest version: its
//! `types` are the latest's (the interface is unchanged, and sharing it means calls pass the
//! same values), its imports are answered by the latest's host implementation, and what its
//! exports return that 0.2.0 defines anew (tool definitions, hook kinds and outcomes) is
//! converted here. 0.1.0 has no `progress` import; nothing else differs.

wasmtime::component::bindgen!({
    path: "../wit/v0.1.0",
    world: "airlock:plugin/plugin",
    imports: { default: async },
    exports: { default: async },
    with: {
        "airlock:plugin/types": super::wit,
    },
});

use wasmtime::component::{HasSelf, Linker};

pub(crate) use self::airlock::plugin::{context, exec, host};
pub(crate) use self::exports::airlock::plugin::{hooks, lifecycle, tools};
use super::airlock::plugin as latest;
use super::hooks as latest_hooks;
use crate::store::InstanceState;

/// Links 0.1.0's `host` and `context` (the base capability's imports at this version).
pub(crate) fn link_base(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
    host::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?;
    context::add_to_linker::<_, HasSelf<_>>(linker, |s| s)
}

/// Links 0.1.0's `exec` (the exec capability's import at this version).
pub(crate) fn link_exec(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
    exec::add_to_linker::<_, HasSelf<_>>(linker, |s| s)
}

impl host::Host for InstanceState {
    async fn log(&mut self, level: host::LogLevel, message: String) {
        use host::LogLevel as Old;
        use latest::host::LogLevel as New;
        let level = match level {
            Old::Trace => New::Trace,
            Old::Debug => New::Debug,
            Old::Info => New::Info,
            Old::Warn => New::Warn,
            Old::Error => New::Error,
        };
        latest::host::Host::log(self, level, message).await
    }
}

impl context::Host for InstanceState {
    async fn get(&mut self, key: String) -> Option<String> {
        latest::context::Host::get(self, key).await
    }

    async fn set(&mut self, key: String, value: String) -> Result<(), String> {
        latest::context::Host::set(self, key, value).await
    }

    async fn delete(&mut self, key: String) -> bool {
        latest::context::Host::delete(self, key).await
    }

    async fn keys(&mut self) -> Vec<String> {
        latest::context::Host::keys(self).await
    }
}

impl exec::Host for InstanceState {
    async fn run(
        &mut self,
        command: String,
        args: Vec<String>,
    ) -> Result<exec::ExecOutput, String> {
        let out = latest::exec::Host::run(self, command, args).await?;
        Ok(exec::ExecOutput {
            status: out.status,
            stdout: out.stdout,
            stderr: out.stderr,
            truncated: out.truncated,
        })
    }
}

/// A 0.1.0 tool definition in the latest's type.
pub(crate) fn latest_tool(tool: tools::ToolDefinition) -> super::tools::ToolDefinition {
    super::tools::ToolDefinition {
        name: tool.name,
        description: tool.description,
        input_schema: tool.input_schema,
    }
}

/// A 0.1.0 hook kind in the latest's type.
pub(crate) fn latest_kind(kind: hooks::HookKind) -> latest_hooks::HookKind {
    use hooks::HookKind as Old;
    use latest_hooks::HookKind as New;
    match kind {
        Old::BeforeAgentRun => New::BeforeAgentRun,
        Old::AfterAgentRun => New::AfterAgentRun,
        Old::BeforeToolCall => New::BeforeToolCall,
        Old::AfterToolCall => New::AfterToolCall,
        Old::OnError => New::OnError,
        Old::OnReasoningStep => New::OnReasoningStep,
        Old::Custom(name) => New::Custom(name),
    }
}

/// A latest hook kind in 0.1.0's type (the two have the same cases).
pub(crate) fn old_kind(kind: &latest_hooks::HookKind) -> hooks::HookKind {
    use hooks::HookKind as Old;
    use latest_hooks::HookKind as New;
    match kind {
        New::BeforeAgentRun => Old::BeforeAgentRun,
        New::AfterAgentRun => Old::AfterAgentRun,
        New::BeforeToolCall => Old::BeforeToolCall,
        New::AfterToolCall => Old::AfterToolCall,
        New::OnError => Old::OnError,
        New::OnReasoningStep => Old::OnReasoningStep,
        New::Custom(name) => Old::Custom(name.clone()),
    }
}

/// A 0.1.0 hook outcome in the latest's type.
pub(crate) fn latest_outcome(outcome: hooks::HookOutcome) -> latest_hooks::HookOutcome {
    use hooks::HookOutcome as Old;
    use latest_hooks::HookOutcome as New;
    match outcome {
        Old::Pass => New::Pass,
        Old::Replace(text) => New::Replace(text),
        Old::Veto(reason) => New::Veto(reason),
    }
}
