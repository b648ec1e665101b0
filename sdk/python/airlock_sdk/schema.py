"""JSON Schema from Python type hints, and arguments back into those types.

Supported hints: ``str``, ``int``, ``float``, ``bool``, ``None``, ``Any``, ``list[T]`` /
``List[T]``, ``tuple[T, ...]``, ``dict[str, T]``, ``Optional[T]`` / ``T | None``,
``Union[...]``, ``Literal[...]``, ``enum.Enum`` subclasses, dataclasses and ``TypedDict``s
(nested freely). Descriptions come from docstrings: a function's first paragraph and its
Google-style ``Args:`` section, a dataclass field's ``metadata={"description": ...}``.
Anything else is refused when the plugin class is defined, naming the parameter."""

from __future__ import annotations

import dataclasses
import enum
import inspect
import re
import typing
from typing import Any, Dict, List, Literal, Optional, Union

from .plugin import CallContext, PluginError, ToolSpec

_SCALARS = {str: "string", int: "integer", float: "number", bool: "boolean"}


def schema_of(hint: Any, where: str = "value") -> Dict[str, Any]:
    """The JSON Schema of one type hint; raises TypeError for unsupported hints."""
    if hint is Any or hint is inspect.Parameter.empty:
        return {}
    if hint is None or hint is type(None):
        return {"type": "null"}
    if hint in _SCALARS:
        return {"type": _SCALARS[hint]}
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is Literal:
        return {"enum": list(args)}
    if origin is Union or _is_union_type(hint):
        options = [a for a in args if a is not type(None)]
        nullable = len(options) < len(args)
        if len(options) == 1:
            inner = schema_of(options[0], where)
            if nullable and set(inner) == {"type"} and isinstance(inner["type"], str):
                return {"type": [inner["type"], "null"]}
            return {"anyOf": [inner, {"type": "null"}]} if nullable else inner
        branches = [schema_of(o, where) for o in options]
        return {"anyOf": branches + ([{"type": "null"}] if nullable else [])}
    if origin in (list, List, set, frozenset) or hint in (list, set):
        return {"type": "array", "items": schema_of(args[0], where) if args else {}}
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return {"type": "array", "items": schema_of(args[0], where)}
        return {
            "type": "array",
            "prefixItems": [schema_of(a, where) for a in args],
            "minItems": len(args),
            "maxItems": len(args),
        }
    if origin in (dict, Dict) or hint is dict:
        values = schema_of(args[1], where) if len(args) == 2 else {}
        return {"type": "object", "additionalProperties": values}
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return {"enum": [m.value for m in hint]}
    if dataclasses.is_dataclass(hint):
        return _dataclass_schema(hint)
    if _is_typeddict(hint):
        return _typeddict_schema(hint)
    raise TypeError(f"{where}: type hint {hint!r} has no JSON Schema mapping in airlock_sdk")


def _is_union_type(hint: Any) -> bool:
    union_type = getattr(__import__("types"), "UnionType", None)
    return union_type is not None and isinstance(hint, union_type)


def _is_typeddict(hint: Any) -> bool:
    return isinstance(hint, type) and issubclass(hint, dict) and hasattr(hint, "__required_keys__")


def _dataclass_schema(cls: type) -> Dict[str, Any]:
    hints = typing.get_type_hints(cls)
    properties, required = {}, []
    for f in dataclasses.fields(cls):
        prop = schema_of(hints[f.name], f"{cls.__name__}.{f.name}")
        if "description" in f.metadata:
            prop["description"] = f.metadata["description"]
        properties[f.name] = prop
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            required.append(f.name)
    return _object(cls.__name__, _first_paragraph(cls.__doc__, generated=True), properties, required)


def _typeddict_schema(cls: type) -> Dict[str, Any]:
    hints = typing.get_type_hints(cls)
    properties = {k: schema_of(v, f"{cls.__name__}.{k}") for k, v in hints.items()}
    required = [k for k in hints if k in cls.__required_keys__]
    return _object(cls.__name__, _first_paragraph(cls.__doc__), properties, required)


def _object(title: str, doc: str, properties: Dict[str, Any], required: List[str]) -> Dict[str, Any]:
    schema: Dict[str, Any] = {"title": title, "type": "object", "properties": properties}
    if doc:
        schema["description"] = doc
    if required:
        schema["required"] = required
    return schema


def _first_paragraph(doc: Optional[str], generated: bool = False) -> str:
    """The docstring's first paragraph on one line ('' for dataclasses' generated ones)."""
    if not doc:
        return ""
    text = inspect.cleandoc(doc)
    if generated and re.match(r"^\w+\(.*\)$", text):
        return ""
    return " ".join(text.split("\n\n", 1)[0].split())


def _arg_docs(doc: Optional[str]) -> Dict[str, str]:
    """``name: description`` lines of a Google-style ``Args:`` section."""
    if not doc:
        return {}
    docs: Dict[str, str] = {}
    section = re.search(r"^(?:Args|Arguments|Parameters):\s*\n((?:[ \t]+.*\n?|\s*\n)*)", inspect.cleandoc(doc), re.M)
    if not section:
        return docs
    current = None
    for line in section.group(1).splitlines():
        match = re.match(r"^\s+(\w+)(?:\s*\(.*\))?:\s*(.*)$", line)
        if match and (current is None or _indent(line) <= _indent_of_first(section.group(1))):
            current = match.group(1)
            docs[current] = match.group(2).strip()
        elif current and line.strip():
            docs[current] = (docs[current] + " " + line.strip()).strip()
    return docs


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _indent_of_first(block: str) -> int:
    for line in block.splitlines():
        if line.strip():
            return _indent(line)
    return 0


def tool_spec(method: Any) -> ToolSpec:
    """Derives a tool's definition (name, description, input schema) from its method."""
    mark = method.__airlock_tool__
    where = f"tool `{mark['name']}`"
    hints = typing.get_type_hints(method)
    docs = _arg_docs(method.__doc__)
    properties, required, params = {}, [], {}
    context_param = None
    for name, param in list(inspect.signature(method).parameters.items())[1:]:
        hint = hints.get(name, Any)
        if hint is CallContext:
            context_param = name
            continue
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(f"{where}: *args / **kwargs cannot be described by a schema")
        prop = schema_of(hint, f"{where}, parameter `{name}`")
        if name in docs:
            prop["description"] = docs[name]
        properties[name] = prop
        params[name] = hint
        if param.default is inspect.Parameter.empty:
            required.append(name)
    schema: Dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": properties,
    }
    if required:
        schema["required"] = required
    description = mark["description"] or _first_paragraph(method.__doc__)
    return ToolSpec(mark["name"], description, schema, method, params, context_param)


def is_plain(hint: Any) -> bool:
    """Whether :func:`convert` returns every schema-valid JSON value for ``hint`` unchanged
    (``str``, ``int``, ``bool``, ``dict``, ``Any``, ``Literal``, and lists or optionals of
    those), so a call can skip it: the typing introspection costs microseconds per argument
    on every call in an interpreter running in WebAssembly."""
    if hint is Any or hint is inspect.Parameter.empty or hint in (str, int, bool, dict):
        return True
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is Literal or origin in (dict, Dict):
        return True
    if origin in (list, List):
        return all(is_plain(a) for a in args)
    if origin is Union or _is_union_type(hint):
        options = [a for a in args if a is not type(None)]
        return len(options) == 1 and is_plain(options[0])
    return False


def convert(value: Any, hint: Any, where: str) -> Any:
    """Turns validated JSON ``value`` into ``hint``'s Python type (dataclasses, enums,
    tuples); a mismatch is a 400 PluginError naming ``where``."""
    if value is None or hint is Any or hint is inspect.Parameter.empty:
        return value
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is Union or _is_union_type(hint):
        options = [a for a in args if a is not type(None)]
        return convert(value, options[0], where) if len(options) == 1 else value
    if origin in (list, List) and args and isinstance(value, list):
        return [convert(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is tuple and isinstance(value, list):
        return tuple(value)
    if origin in (set, frozenset) and isinstance(value, list):
        return origin(value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint(value)
    if dataclasses.is_dataclass(hint) and isinstance(value, dict):
        field_hints = typing.get_type_hints(hint)
        known = {f.name for f in dataclasses.fields(hint)}
        try:
            return hint(**{k: convert(v, field_hints[k], f"{where}.{k}") for k, v in value.items() if k in known})
        except TypeError as e:
            raise PluginError.invalid_input(f"invalid arguments: {where}: {e}") from None
    return value
