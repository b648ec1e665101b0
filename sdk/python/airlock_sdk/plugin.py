"""The author-facing model: :class:`Plugin`, :class:`Metadata`, the ``@tool`` and ``@hook``
decorators, hook outcomes and :class:`PluginError`. Pure Python: importable (and unit
testable) outside a component; only :mod:`airlock_sdk.host` and the export glue touch the
component bindings, and only when called."""

from __future__ import annotations

import enum
import inspect
import json
from json import encoder as _json_encoder
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Dict, List, Optional

#: Host series this SDK speaks to; the default ``host_versions`` of a plugin.
HOST_VERSIONS = "^0.1.0"


class PluginError(Exception):
    """A failure the plugin reports on purpose: the caller gets a typed plugin error with
    this ``code``, ``message`` and optional ``details`` (any JSON-serialisable value).
    Codes below 1000 are shared: 400 invalid input, 403 not granted, 404 not found, 409
    conflict, 422 refused, 500 internal, 503 unavailable."""

    INVALID_INPUT = 400
    NOT_GRANTED = 403
    NOT_FOUND = 404
    CONFLICT = 409
    REFUSED = 422
    INTERNAL = 500
    UNAVAILABLE = 503

    def __init__(self, code: int, message: str, details: Any = None):
        super().__init__(f"error {code}: {message}")
        if not isinstance(code, int) or not 0 <= code < 2**32:
            raise ValueError(f"PluginError code must be an integer in 0..2^32, got {code!r}")
        self.code = code
        self.message = message
        self.details = details

    def details_json(self) -> Optional[str]:
        """The details as JSON text, or None."""
        return None if self.details is None else json.dumps(self.details, default=_jsonable)

    @classmethod
    def invalid_input(cls, message: str, details: Any = None) -> "PluginError":
        """Code 400: the input was invalid."""
        return cls(cls.INVALID_INPUT, message, details)

    @classmethod
    def not_found(cls, message: str, details: Any = None) -> "PluginError":
        """Code 404: something named in the input does not exist."""
        return cls(cls.NOT_FOUND, message, details)

    @classmethod
    def internal(cls, message: str, details: Any = None) -> "PluginError":
        """Code 500: a bug or unexpected state inside the plugin."""
        return cls(cls.INTERNAL, message, details)


@dataclass
class Metadata:
    """Who a plugin is: the ``plugin-metadata`` record of ``wit/plugin.wit``."""

    name: str
    version: str
    author: str = ""
    description: str = ""
    license: str = ""
    #: Capabilities the plugin says it needs, in the manifest grammar (informational).
    permissions: List[str] = field(default_factory=list)
    #: Semver range of compatible Airlock host versions.
    host_versions: str = HOST_VERSIONS


class HealthStatus(enum.Enum):
    """What ``health`` reports."""

    READY = "ready"
    BUSY = "busy"
    ERROR = "error"


@dataclass
class Health:
    """Answer to the host's health poll; ``details`` is a JSON object."""

    status: HealthStatus = HealthStatus.READY
    message: str = "ok"
    details: Dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CallContext:
    """Who a call is made for, set by the host (read-only)."""

    tenant: str = ""
    session_id: str = ""
    call_id: str = ""


class HookKind(enum.Enum):
    """The events a hook can subscribe to; ``HookKind.custom("name")`` for host-defined
    ones."""

    BEFORE_AGENT_RUN = "before-agent-run"
    AFTER_AGENT_RUN = "after-agent-run"
    BEFORE_TOOL_CALL = "before-tool-call"
    AFTER_TOOL_CALL = "after-tool-call"
    ON_ERROR = "on-error"
    ON_REASONING_STEP = "on-reasoning-step"

    @staticmethod
    def custom(name: str) -> "CustomHook":
        """A host-defined event, by name."""
        return CustomHook(name)


@dataclass(frozen=True)
class CustomHook:
    """A host-defined hook kind (``custom(name)`` in WIT)."""

    name: str


@dataclass
class Pass:
    """Hook outcome: leave the payload as it is (returning ``None`` means the same)."""


@dataclass
class Replace:
    """Hook outcome: continue with ``payload`` (any JSON-serialisable value) instead."""

    payload: Any


@dataclass
class Veto:
    """Hook outcome: stop the pipeline, saying why."""

    reason: str


@dataclass
class ToolSpec:
    """One registered tool: what ``list-tools`` reports and how to call it."""

    name: str
    description: str
    input_schema: Dict[str, Any]
    method: Callable[..., Any]
    #: Parameter names filled from the arguments object (the rest: the call context).
    params: Dict[str, Any]
    context_param: Optional[str]


def tool(fn: Optional[Callable] = None, *, name: Optional[str] = None, description: Optional[str] = None):
    """Marks a :class:`Plugin` method as a tool. Its parameters (after ``self``) are the
    arguments object: their type hints give the JSON Schema, their defaults make them
    optional, the docstring's first paragraph is the description and its ``Args:`` section
    describes each parameter. A parameter annotated :class:`CallContext` receives the call
    context instead. The return value is sent back as JSON (dataclasses become objects).
    Usable bare (``@tool``) or with ``name=`` / ``description=``."""

    def mark(f: Callable) -> Callable:
        f.__airlock_tool__ = {"name": name or f.__name__, "description": description}
        return f

    return mark(fn) if fn is not None else mark


def hook(kind: "HookKind | CustomHook"):
    """Marks a :class:`Plugin` method ``(self, payload, ctx)`` as the handler of ``kind``.
    ``payload`` is the event's parsed JSON; return :class:`Pass` (or ``None``),
    :class:`Replace` or :class:`Veto`."""
    if not isinstance(kind, (HookKind, CustomHook)):
        raise TypeError(f"@hook needs a HookKind, got {kind!r}")

    def mark(f: Callable) -> Callable:
        f.__airlock_hook__ = kind
        return f

    return mark


class Plugin:
    """Base class of a plugin. Set ``metadata``; override what you need:

    - ``init(self, config: dict)``: called once per fresh instance with the configuration
      object (``{}`` when none); raise :class:`PluginError` to refuse it.
    - ``health(self) -> Health``: ready by default.
    - ``shutdown(self)``: before the host drops the instance on purpose.
    - ``capture_state(self) -> bytes | None`` / ``restore_state(self, state: bytes)``: carry
      state across a hot reload; nothing by default.

    Exactly one subclass per component: it is registered when the class is defined.
    """

    metadata: ClassVar[Metadata]
    _registered: ClassVar[Optional[type]] = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        Plugin._registered = cls

    def init(self, config: Dict[str, Any]) -> None:
        """Receives the plugin's configuration; accepts anything by default."""

    def health(self) -> Health:
        """Current health; ready by default."""
        return Health()

    def shutdown(self) -> None:
        """Called before the host drops the instance on purpose."""

    def capture_state(self) -> Optional[bytes]:
        """State to hand to the next version on a hot reload; none by default."""
        return None

    def restore_state(self, state: bytes) -> None:
        """Receives what the previous version captured; ignored by default."""

    @classmethod
    def tool_specs(cls) -> List[ToolSpec]:
        """Every ``@tool`` method, in definition order, with its derived schema."""
        from .schema import tool_spec

        return [tool_spec(m) for m in _marked(cls, "__airlock_tool__")]

    @classmethod
    def hook_handlers(cls) -> List[tuple]:
        """``(kind, method)`` for every ``@hook`` method, in definition order."""
        return [(m.__airlock_hook__, m) for m in _marked(cls, "__airlock_hook__")]


def _marked(cls: type, attribute: str) -> List[Callable]:
    """Methods of ``cls`` (and its bases, base first) carrying ``attribute``, in definition
    order, a subclass's override replacing the base's."""
    seen: Dict[str, Callable] = {}
    for klass in reversed(cls.__mro__):
        for key, value in vars(klass).items():
            if callable(value) and hasattr(value, attribute):
                seen[key] = value
            elif key in seen and not hasattr(value, attribute):
                del seen[key]
    return list(seen.values())


def registered_plugin() -> type:
    """The plugin class of this component; a clear error when there is none."""
    if Plugin._registered is None:
        raise RuntimeError("no airlock_sdk.Plugin subclass was defined by the plugin module")
    return Plugin._registered


def world_of(cls: type) -> str:
    """The WIT world a plugin class needs: ``tool-plugin``, ``hook-plugin`` or ``plugin``."""
    has_tools = bool(_marked(cls, "__airlock_tool__"))
    has_hooks = bool(_marked(cls, "__airlock_hook__"))
    if has_tools and has_hooks:
        return "plugin"
    if has_hooks:
        return "hook-plugin"
    return "tool-plugin"


def _jsonable(value: Any) -> Any:
    """``json.dumps`` fallback: dataclasses as objects, enums as values, bytes refused."""
    import dataclasses

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


#: One encoder for every result: ``json.dumps`` with non-default options builds (and
#: initialises, in Python) a new ``JSONEncoder`` on every call.
_ENCODER = json.JSONEncoder(default=_jsonable, separators=(",", ":"), ensure_ascii=False)
#: The C encoder ``_ENCODER.encode`` builds for each value, built once: with the objects
#: on the path being encoded in ``_MARKERS`` (the circular-reference check), emptied again
#: after a failure. ``None`` where CPython has no ``_json``.
_MARKERS: Dict[int, Any] = {}
_C_ENCODE = (
    None
    if _json_encoder.c_make_encoder is None
    else _json_encoder.c_make_encoder(
        _MARKERS, _jsonable, _json_encoder.c_encode_basestring, None, ":", ",", False, False, True
    )
)


def to_json(value: Any) -> str:
    """Serialises a tool result or payload as compact JSON (what ``json.dumps(value,
    separators=(",", ":"), ensure_ascii=False)`` gives, with dataclasses, enums, sets and
    tuples converted)."""
    if _C_ENCODE is None:
        return _ENCODER.encode(value)
    try:
        return "".join(_C_ENCODE(value, 0))
    except BaseException:
        _MARKERS.clear()
        raise


def is_context_param(param: inspect.Parameter, hint: Any) -> bool:
    """Whether a tool parameter receives the call context rather than an argument."""
    return hint is CallContext
