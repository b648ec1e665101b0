"""airlock-sdk for Python: write Airlock plugins as plain Python classes.

A plugin is a subclass of :class:`Plugin` with ``@tool`` methods (and/or ``@hook``
methods). ``airlock build`` turns it into a WebAssembly component with componentize-py;
the generated bindings stay out of sight::

    from airlock_sdk import Plugin, Metadata, tool

    class Greeter(Plugin):
        metadata = Metadata(name="greeter", version="0.1.0", description="Says hello.")

        @tool
        def greet(self, name: str) -> str:
            \"\"\"Greet someone by name.

            Args:
                name: Who to greet.
            \"\"\"
            return f"Hello, {name}!"

On the wire it behaves exactly like the Rust SDK: the same metadata record, JSON Schema
arguments derived from type hints, ``PluginError`` codes (400 invalid input, 404 unknown
tool, 500 internal, 503 not initialised) and hook outcomes.
"""

from .plugin import (
    CallContext,
    Health,
    HealthStatus,
    HookKind,
    Metadata,
    Pass,
    Plugin,
    PluginError,
    Replace,
    Veto,
    hook,
    tool,
)
from .host import ExecOutput, exec_run, log, progress, session
from .schema import schema_of

__all__ = [
    "CallContext",
    "ExecOutput",
    "Health",
    "HealthStatus",
    "HookKind",
    "Metadata",
    "Pass",
    "Plugin",
    "PluginError",
    "Replace",
    "Veto",
    "exec_run",
    "hook",
    "log",
    "progress",
    "schema_of",
    "session",
    "tool",
]
