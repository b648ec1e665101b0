"""The glue between a :class:`~airlock_sdk.Plugin` subclass and componentize-py's generated
bindings: the ``Lifecycle``, ``Tools`` and ``Hooks`` classes the component exports. Not for
direct use; ``airlock build`` generates an entry module that imports the plugin module and
re-exports these.

Conventions shared with the Rust SDK: unknown tool → 404, bad arguments / config → 400,
any call before ``init`` → 503, an uncaught Python exception → 500 with
``"<ExceptionType>: <message>"`` and the traceback in ``details``. ``MemoryError`` is not
caught: it traps, so the host reports the memory cap that caused it."""

from __future__ import annotations

import json
import traceback
from typing import Any, Callable, Dict, List, Optional

from .plugin import (
    CallContext,
    CustomHook,
    HealthStatus,
    HookKind,
    Pass,
    PluginError,
    Replace,
    Veto,
    registered_plugin,
    to_json,
)
from .schema import convert, is_plain

#: Traceback text kept in an error's details; the host caps results anyway.
MAX_TRACEBACK_CHARS = 4000

_state: Dict[str, Any] = {"plugin": None, "tools": None, "hooks": None, "tool_list": None}


def prepare() -> None:
    """Does now what every new instance would otherwise do on the host's first calls:
    imports the generated bindings and derives the tool list (schemas from type hints,
    rendered as JSON). The entry module ``airlock build`` generates calls it at import,
    which componentize-py runs when it builds the component and snapshots: a new instance
    starts with the result, so the host's probe of a plugin (metadata, tools) and a load
    from the artifact cache stay fast."""
    import importlib
    import sys

    _types()
    for module in (
        "wit_world.exports.tools",
        "wit_world.exports.hooks",
        # Used by `airlock_sdk.progress`, and imported here because a component built by
        # componentize-py 0.25.1 lacked it at run time when nothing imported it at build
        # time (`polyglot::progress_from_python_and_javascript_reaches_the_caller`).
        "wit_world.imports.progress",
    ):
        try:
            importlib.import_module(module)
        except ImportError:  # the plugin's world does not export that interface
            pass
    if "airlock_sdk.http" in sys.modules:
        from .http import _bindings

        _bindings()
    _state["tool_list"] = _tool_rows()
    for name in _tools():
        _invoker_of(name)


def _types():
    """The ``airlock:plugin/types`` bindings: ``wit_world.imports.types``, or
    ``airlock_plugin_types`` when the world also imports ``wasi:http/types`` and
    componentize-py tells the two apart by package."""
    types = _state.get("types")
    if types is None:
        try:
            from wit_world.imports import airlock_plugin_types as types
        except ImportError:
            from wit_world.imports import types
        _state["types"] = types
    return types


def _tool_rows() -> List[tuple]:
    """``(name, description, input schema JSON)`` of every tool, as ``list-tools`` reports."""
    return [(s.name, s.description, json.dumps(s.input_schema)) for s in _tools().values()]


def _err(error: PluginError):
    from componentize_py_types import Err
    types = _types()

    return Err(types.PluginError(error.code, error.message, error.details_json()))


def _guarded(body: Callable[..., Any], *args: Any) -> Any:
    """Runs ``body(*args)``; a PluginError or other exception becomes the WIT error result."""
    try:
        return body(*args)
    except PluginError as e:
        raise _err(e) from None
    except MemoryError:
        raise
    except Exception as e:  # noqa: BLE001 - every plugin bug becomes a typed error
        if type(e).__name__ == "Err" and type(e).__module__ == "componentize_py_types":
            raise
        details = {"exception": type(e).__name__, "traceback": traceback.format_exc()[-MAX_TRACEBACK_CHARS:]}
        raise _err(PluginError(PluginError.INTERNAL, f"{type(e).__name__}: {e}", details)) from None


def _plugin():
    plugin = _state["plugin"]
    if plugin is None:
        raise PluginError(PluginError.UNAVAILABLE, "plugin is not initialised: the host must call init first")
    return plugin


def _tools():
    if _state["tools"] is None:
        _state["tools"] = {spec.name: spec for spec in registered_plugin().tool_specs()}
    return _state["tools"]


#: Tool name → ``invoke(plugin, arguments, wit_context)``, filled by :func:`prepare` (at
#: build time, so every instance starts with it) or on a tool's first call.
_invokers: Dict[str, Callable[[Any, dict, Any], Any]] = {}


def _invoker_of(name: str) -> Callable[[Any, dict, Any], Any]:
    """How to call tool ``name``, worked out once per tool; raises 404 for an unknown one."""
    invoke = _invokers.get(name)
    if invoke is None:
        spec = _tools().get(name)
        if spec is None:
            raise PluginError.not_found(f"no tool named `{name}`")
        invoke = _invokers[name] = _invoker(spec)
    return invoke


def _invoker(spec) -> Callable[[Any, dict, Any], Any]:
    """``spec``'s method as ``invoke(plugin, arguments, wit_context)``: a plain parameter's
    JSON value is passed as it is (see :func:`~airlock_sdk.schema.is_plain`), others are
    converted to their type hint; an argument the method does not take is left out."""
    method, context_param = spec.method, spec.context_param
    plain = tuple(k for k, hint in spec.params.items() if is_plain(hint))
    converted = tuple((k, hint) for k, hint in spec.params.items() if not is_plain(hint))

    def invoke(plugin, args: dict, context) -> Any:
        kwargs = {k: args[k] for k in plain if k in args}
        for k, hint in converted:
            if k in args:
                kwargs[k] = convert(args[k], hint, k)
        if context_param:
            kwargs[context_param] = _context(context)
        return method(plugin, **kwargs)

    return invoke


def _context(ctx) -> CallContext:
    return CallContext(ctx.tenant, ctx.session_id, ctx.call_id)


#: The C scanner behind ``json.loads``, called directly: the host has already checked the
#: text is JSON, and ``json.loads`` spends most of its time around the scanner.
_scan = json.decoder.JSONDecoder().scan_once


def _parse(text: str, what: str) -> Any:
    try:
        value, end = _scan(text, 0)
        if end == len(text):
            return value
    except (StopIteration, ValueError):
        pass
    try:  # whitespace around the value, or not JSON: json.loads accepts it or says why
        return json.loads(text)
    except ValueError as e:
        raise PluginError.invalid_input(f"invalid {what}: {e}") from None


class Lifecycle:
    """``airlock:plugin/lifecycle``."""

    def metadata(self):
        types = _types()

        m = registered_plugin().metadata
        return types.PluginMetadata(
            m.name, m.version, m.author, m.description, m.license, list(m.permissions), m.host_versions
        )

    def init(self, config: str) -> None:
        def body():
            parsed = _parse(config, "configuration")
            if not isinstance(parsed, dict):
                raise PluginError.invalid_input("invalid configuration: expected a JSON object")
            plugin = registered_plugin()()
            plugin.init(parsed)
            _state["plugin"] = plugin

        _guarded(body)

    def shutdown(self) -> None:
        plugin = _state["plugin"]
        _state["plugin"] = None
        if plugin is not None:
            try:
                plugin.shutdown()
            except Exception:  # noqa: BLE001 - shutdown has no error channel
                pass

    def health(self):
        types = _types()

        plugin = _state["plugin"]
        if plugin is None:
            return types.HealthReport(types.HealthStatus.INITIALIZING, "init has not run", "{}")
        try:
            report = plugin.health()
            status = {
                HealthStatus.READY: types.HealthStatus.READY,
                HealthStatus.BUSY: types.HealthStatus.BUSY,
                HealthStatus.ERROR: types.HealthStatus.ERROR,
            }[report.status]
            return types.HealthReport(status, report.message, to_json(report.details))
        except Exception as e:  # noqa: BLE001
            return types.HealthReport(types.HealthStatus.ERROR, f"health raised {type(e).__name__}: {e}", "{}")

    def capture_state(self) -> Optional[bytes]:
        plugin = _state["plugin"]
        if plugin is None:
            return None
        state = plugin.capture_state()
        return None if state is None else bytes(state)

    def restore_state(self, state: bytes) -> None:
        _guarded(lambda: _plugin().restore_state(bytes(state)))


class Tools:
    """``airlock:plugin/tools``."""

    def list_tools(self):
        from wit_world.exports import tools

        rows = _state["tool_list"] or _tool_rows()
        return [tools.ToolDefinition(name, description, schema) for name, description, schema in rows]

    def call_tool(self, name: str, arguments: str, context) -> str:
        return _guarded(_call_tool, name, arguments, context)


def _call_tool(name: str, arguments: str, context) -> str:
    plugin = _plugin()
    invoke = _invoker_of(name)
    args = _parse(arguments, "arguments")
    if type(args) is not dict:
        raise PluginError.invalid_input("invalid arguments: expected a JSON object")
    return to_json(invoke(plugin, args, context))


def _wit_kind(kind):
    from wit_world.exports import hooks as h

    if isinstance(kind, CustomHook):
        return h.HookKind_Custom(kind.name)
    return {
        HookKind.BEFORE_AGENT_RUN: h.HookKind_BeforeAgentRun,
        HookKind.AFTER_AGENT_RUN: h.HookKind_AfterAgentRun,
        HookKind.BEFORE_TOOL_CALL: h.HookKind_BeforeToolCall,
        HookKind.AFTER_TOOL_CALL: h.HookKind_AfterToolCall,
        HookKind.ON_ERROR: h.HookKind_OnError,
        HookKind.ON_REASONING_STEP: h.HookKind_OnReasoningStep,
    }[kind]()


def _sdk_kind(wit_kind):
    from wit_world.exports import hooks as h

    if isinstance(wit_kind, h.HookKind_Custom):
        return CustomHook(wit_kind.value)
    return {
        h.HookKind_BeforeAgentRun: HookKind.BEFORE_AGENT_RUN,
        h.HookKind_AfterAgentRun: HookKind.AFTER_AGENT_RUN,
        h.HookKind_BeforeToolCall: HookKind.BEFORE_TOOL_CALL,
        h.HookKind_AfterToolCall: HookKind.AFTER_TOOL_CALL,
        h.HookKind_OnError: HookKind.ON_ERROR,
        h.HookKind_OnReasoningStep: HookKind.ON_REASONING_STEP,
    }[type(wit_kind)]


class Hooks:
    """``airlock:plugin/hooks``."""

    def subscriptions(self) -> List[Any]:
        return [_wit_kind(kind) for kind, _ in registered_plugin().hook_handlers()]

    def handle(self, kind, payload: str, context):
        from wit_world.exports import hooks as h

        def body():
            plugin = _plugin()
            wanted = _sdk_kind(kind)
            handler = next((m for k, m in registered_plugin().hook_handlers() if k == wanted), None)
            if handler is None:
                # The host only sends subscribed kinds; anything else passes untouched.
                return h.HookOutcome_Pass()
            outcome = handler(plugin, _parse(payload, "payload"), _context(context))
            if outcome is None or isinstance(outcome, Pass):
                return h.HookOutcome_Pass()
            if isinstance(outcome, Replace):
                return h.HookOutcome_Replace(to_json(outcome.payload))
            if isinstance(outcome, Veto):
                return h.HookOutcome_Veto(str(outcome.reason))
            raise PluginError.internal(f"hook returned {type(outcome).__name__}; expected Pass, Replace or Veto")

        return _guarded(body)
