"""Unit tests of the pure-Python parts of airlock_sdk: schemas from type hints, argument
conversion, registration and world selection. The component behaviour itself is tested
by the Rust integration tests on real built components (tests/tests/all/polyglot.rs)."""

import dataclasses
import enum
import unittest
from typing import List, Literal, Optional, TypedDict

from airlock_sdk import CallContext, HookKind, Metadata, Plugin, PluginError, hook, schema_of, tool
from airlock_sdk.plugin import world_of
from airlock_sdk.schema import convert


@dataclasses.dataclass
class Point:
    """A point on the plane."""

    x: float
    y: float = 0.0
    label: Optional[str] = dataclasses.field(default=None, metadata={"description": "A name for it."})


class Options(TypedDict, total=False):
    verbose: bool


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class SchemaTest(unittest.TestCase):
    def test_scalars_lists_optionals_literals_and_enums(self):
        self.assertEqual(schema_of(str), {"type": "string"})
        self.assertEqual(schema_of(List[int]), {"type": "array", "items": {"type": "integer"}})
        self.assertEqual(schema_of(list[float]), {"type": "array", "items": {"type": "number"}})
        self.assertEqual(schema_of(Optional[str]), {"type": ["string", "null"]})
        self.assertEqual(schema_of(int | None), {"type": ["integer", "null"]})
        self.assertEqual(schema_of(Literal["a", "b"]), {"enum": ["a", "b"]})
        self.assertEqual(schema_of(Colour), {"enum": ["red", "blue"]})
        self.assertEqual(schema_of(dict[str, int]), {"type": "object", "additionalProperties": {"type": "integer"}})

    def test_dataclasses_and_typeddicts_become_objects(self):
        point = schema_of(Point)
        self.assertEqual(point["required"], ["x"])
        self.assertEqual(point["description"], "A point on the plane.")
        self.assertEqual(point["properties"]["label"], {"type": ["string", "null"], "description": "A name for it."})
        self.assertEqual(schema_of(Options)["properties"], {"verbose": {"type": "boolean"}})
        self.assertNotIn("required", schema_of(Options))

    def test_an_unsupported_hint_is_refused_naming_where(self):
        with self.assertRaisesRegex(TypeError, "parameter `when`"):
            schema_of(complex, "tool `t`, parameter `when`")

    def test_tool_schema_comes_from_signature_and_docstring(self):
        class P(Plugin):
            metadata = Metadata(name="p", version="0.1.0")

            @tool
            def place(self, point: Point, mode: Literal["fast", "exact"] = "fast", ctx: CallContext = None) -> dict:
                """Place a point.

                Args:
                    point: Where to place it.
                    mode: How hard to try.
                """
                return {"x": point.x, "mode": mode, "tenant": ctx.tenant}

        [spec] = P.tool_specs()
        self.assertEqual(spec.name, "place")
        self.assertEqual(spec.description, "Place a point.")
        self.assertEqual(spec.input_schema["required"], ["point"])
        self.assertEqual(spec.input_schema["properties"]["mode"], {"enum": ["fast", "exact"], "description": "How hard to try."})
        self.assertEqual(spec.input_schema["properties"]["point"]["description"], "Where to place it.")
        self.assertEqual(spec.context_param, "ctx")
        self.assertNotIn("ctx", spec.input_schema["properties"])
        self.assertEqual(convert({"x": 1, "y": 2}, Point, "point"), Point(1.0, 2.0))
        self.assertEqual(convert([{"x": 1}], List[Point], "points"), [Point(1.0)])

    def test_world_follows_what_the_class_defines(self):
        class Tools(Plugin):
            metadata = Metadata(name="t", version="0.1.0")

            @tool
            def t(self) -> int:
                return 1

        class Hooks(Plugin):
            metadata = Metadata(name="h", version="0.1.0")

            @hook(HookKind.BEFORE_TOOL_CALL)
            def h(self, payload, ctx):
                return None

        class Both(Tools):
            @hook(HookKind.ON_ERROR)
            def h(self, payload, ctx):
                return None

        self.assertEqual(world_of(Tools), "tool-plugin")
        self.assertEqual(world_of(Hooks), "hook-plugin")
        self.assertEqual(world_of(Both), "plugin")

    def test_plugin_error_checks_its_code_and_serialises_details(self):
        error = PluginError(1001, "division by zero", {"a": 1})
        self.assertEqual((error.code, error.message, error.details_json()), (1001, "division by zero", '{"a": 1}'))
        with self.assertRaises(ValueError):
            PluginError(-1, "negative")


if __name__ == "__main__":
    unittest.main()
