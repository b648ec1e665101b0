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

    def test_plain_hints_skip_conversion_and_convert_would_not_change_them(self):
        from airlock_sdk.schema import is_plain

        plain = {str: "x", int: 3, bool: True, Optional[str]: None, List[str]: ["a"],
                 Literal["a", "b"]: "a", dict: {"k": [1]}}
        for hint, value in plain.items():
            self.assertTrue(is_plain(hint), hint)
            self.assertEqual(convert(value, hint, "v"), value, hint)
        for hint in (float, Point, List[Point], Colour, Optional[Point], tuple):
            self.assertFalse(is_plain(hint), hint)

    def test_plugin_error_checks_its_code_and_serialises_details(self):
        error = PluginError(1001, "division by zero", {"a": 1})
        self.assertEqual((error.code, error.message, error.details_json()), (1001, "division by zero", '{"a": 1}'))
        with self.assertRaises(ValueError):
            PluginError(-1, "negative")


class WireTest(unittest.TestCase):
    """The JSON the SDK reads and writes on every call, through its fast paths."""

    def test_results_are_compact_json_with_dataclasses_enums_and_sets_converted(self):
        from airlock_sdk.plugin import to_json

        self.assertEqual(to_json({"a": [1, 2.5, None], "é": "ü"}), '{"a":[1,2.5,null],"é":"ü"}')
        self.assertEqual(to_json(Point(1.0)), '{"x":1.0,"y":0.0,"label":null}')
        self.assertEqual(to_json([Colour.RED, (1,)]), '["red",[1]]')
        self.assertEqual(to_json("text"), '"text"')

    def test_a_circular_result_fails_and_the_next_result_is_unaffected(self):
        from airlock_sdk.plugin import to_json

        looped = {"k": []}
        looped["k"].append(looped)
        with self.assertRaises(ValueError):
            to_json(looped)
        looped["k"].pop()  # the same objects, no longer circular
        self.assertEqual(to_json(looped), '{"k":[]}')
        with self.assertRaises(TypeError):
            to_json({"k": [b"x"]})
        shared = [1]
        self.assertEqual(to_json({"a": shared, "b": shared}), '{"a":[1],"b":[1]}')

    def test_arguments_parse_with_whitespace_and_bad_text_names_the_problem(self):
        from airlock_sdk._export import _parse

        self.assertEqual(_parse('{"a": [1, "x"]}', "arguments"), {"a": [1, "x"]})
        self.assertEqual(_parse(' {"a": 1}\n', "arguments"), {"a": 1})
        for bad in ('{"a": ', '{"a": 1} x', "", "nope"):
            with self.assertRaises(PluginError) as raised:
                _parse(bad, "arguments")
            self.assertEqual(raised.exception.code, 400)
            self.assertIn("invalid arguments", raised.exception.message)


class HttpTest(unittest.TestCase):
    """The parts of ``airlock_sdk.http`` that need no host: error mapping and responses.
    Requests themselves are tested on the built ``examples/python/fetch`` component
    (tests/tests/all/outbound_http.rs)."""

    def test_wasi_error_codes_become_plugin_errors_with_the_rust_sdks_codes(self):
        from airlock_sdk import http

        def code(name):
            return type(f"ErrorCode_{name}", (), {})()

        cases = {
            "HttpRequestDenied": ("not-granted", 403),
            "ConnectionReadTimeout": ("timeout", 504),
            "HttpResponseBodySize": ("too-large", 413),
            "TlsCertificateError": ("tls", 502),
            "HttpRequestUriInvalid": ("invalid-request", 400),
            "ConnectionRefused": ("connection", 502),
        }
        for name, (kind, status) in cases.items():
            error = http._failure("GET https://x.example/", code(name))
            self.assertIsInstance(error, PluginError)
            self.assertEqual((error.kind, error.code), (kind, status), name)
            self.assertEqual(error.details, {"kind": kind, "request": "GET https://x.example/"})
        self.assertIn("not granted", http._failure("GET u", code("HttpRequestDenied")).message)
        self.assertEqual(http._body_error("GET u", "body size exceeds limit").kind, "too-large")

    def test_a_response_reads_headers_text_and_json(self):
        from airlock_sdk.http import HttpError, Response

        reply = Response(200, [("content-type", "application/json")], b'{"a": 1}')
        self.assertEqual(reply.header("Content-Type"), "application/json")
        self.assertEqual((reply.text(), reply.json()), ('{"a": 1}', {"a": 1}))
        with self.assertRaises(HttpError) as bad:
            Response(200, [], b"not json").json()
        self.assertEqual(bad.exception.kind, "invalid-response")

    def test_the_build_adds_wasi_http_only_for_a_module_that_imports_it(self):
        import io
        import sys
        import types
        from contextlib import redirect_stdout

        from airlock_sdk import _build

        def world_printed(source: str) -> str:
            saved = Plugin._registered
            module = types.ModuleType("probe_plugin")
            sys.modules["probe_plugin"] = module
            # As in the fresh interpreter of a build: the SDK's http module not yet imported.
            sys.modules.pop("airlock_sdk.http", None)
            sys.modules["airlock_sdk"].__dict__.pop("http", None)
            try:
                exec(source, module.__dict__)
                out = io.StringIO()
                with redirect_stdout(out):
                    _build.main("probe_plugin")
            finally:
                del sys.modules["probe_plugin"]
                Plugin._registered = saved
            return out.getvalue().strip().splitlines()[-1]

        base = (
            "from airlock_sdk import Metadata, Plugin, tool\n"
            "class P(Plugin):\n"
            "    metadata = Metadata(name='p', version='0.1.0')\n"
            "    @tool\n"
            "    def t(self, x: int) -> int:\n"
            "        '''T.'''\n"
            "        return x\n"
        )
        self.assertEqual(world_printed(base), "tool-plugin")
        self.assertEqual(world_printed("from airlock_sdk import http\n" + base), "tool-plugin-http")


if __name__ == "__main__":
    unittest.main()
