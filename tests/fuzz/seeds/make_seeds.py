#!/usr/bin/env python3
"""Writes the starting corpora of the fuzz targets (corpus/TARGET/seed-*) from the
repository's real inputs: the example manifests, the manifest and policy blocks of the
README, the grammar examples of the capability tests, and the JSON-RPC and MCP messages the
integration tests send. The checked-in corpora are these seeds plus what the campaigns found,
minimised with `cargo fuzz cmin`; re-run this only to start over."""

import json
import pathlib
import re

FUZZ = pathlib.Path(__file__).resolve().parent.parent
ROOT = FUZZ.parent.parent


def readme_blocks(lang):
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```" + lang + r"\n(.*?)```", text, re.S)


MINIMAL = '[plugin]\nname = "x"\nversion = "1.2.3"\ncomponent = "x.wasm"\n'
FULL = (
    MINIMAL
    + 'sha256 = "' + "ab" * 32 + '"\nhost-versions = "^0.1"\nisolation = "fresh"\n'
    + '[limits]\nfuel = 1000\ndeadline = "2s"\nmemory = "32MiB"\noutput = 4096\n'
    + '[config]\nschema = { type = "object" }\n'
    + '[capabilities]\nfiles = [{ host = "data", guest = "/data", access = "read" }]\n'
    + 'env = ["API_KEY", "AWS_*"]\nnetwork = ["api.example.com:443", "[::1]:80", "10.0.0.0/8:5432"]\n'
    + 'exec = [{ command = "git", args = ["log", "*", "**"] }]\n'
    + '[dependencies]\ncalculator = "^0.1"\n[hooks]\npriority = -5\n'
)
CONFIG = (
    MINIMAL
    + '[config]\nschema = { type = "object", additionalProperties = false, properties = '
    + '{ deny_tools = { type = "array", items = { type = "string" }, default = ["rm"] } } }\n'
)


def manifests():
    found = [p.read_text() for p in sorted(ROOT.glob("examples/*/airlock.toml"))]
    found += [b for b in readme_blocks("toml") if "[plugin]" in b]
    found += [MINIMAL, FULL, CONFIG, MINIMAL + '[config]\nschema-file = "config.json"\n',
              MINIMAL + 'verison = "1"\n', "[plugin]\nname = 1\n",
              MINIMAL + '[capabilities]\nexec = [{ command = "sh", args = ["**", "x"] }]\n']
    return found


POLICIES = [
    '[plugins.prober]\nfiles = [{ host = "data", access = "read-write" }]\n',
    '[plugins.prober]\nenv = ["AWS_REGION"]\n',
    '[network]\nallow-local = ["127.0.0.0/8"]\n[plugins.prober]\nnetwork = ["127.0.0.1:8080"]\n',
    '[network]\nallow-local = ["127.0.0.1/32"]\nblock = ["127.0.0.1/32"]\n[plugins.prober]\nnetwork = ["127.0.0.1:80"]\n',
    '[plugins.prober]\nclocks = "deterministic"\nrandom = "deterministic"\n',
    '[plugins.calculator]\nsha256 = "' + "0" * 64 + '"\n',
    '[limits]\nfuel = 5000000000\ndeadline = "30s"\nmemory = "256MiB"\noutput = "16MiB"\n'
    '[hooks]\nfail-closed = ["before-tool-call"]\n',
    '[plugins.x]\nexec = [{ command = "git", args = ["**"] }]\nnetwork = ["*.example.com:*"]\nenv = ["API_*"]\n',
]


def policies():
    found = [b for b in readme_blocks("toml") if "[plugins." in b] + POLICIES
    # With a manifest after `#---`: the grant of that manifest under that policy.
    found += [POLICIES[-1] + "\n#---\n" + FULL, POLICIES[1] + "\n#---\n" + FULL,
              "[plugins.x]\n\n#---\n" + FULL]
    return found


EXEC = [
    "git\tlog\t*\t**\ngit\tlog\t*\t**\ngit\tlog\tmain\t-n\t5",
    "git\t**\ngit\tlog\t*\ngit\tlog\tHEAD~3",
    "git\tlog\t*\ngit\tlog\t*\ngit\tlog\t--output=/etc/passwd",
    "echo\t*\necho\t*\necho\ta; rm -rf /",
    "git\tlog\t--oneline\t*\ngit\tlog\t--oneline\t*\ngit\tlog\t--oneline\tmain",
    "sh\t**\tx\nsh\nsh",
]

NETWORK = [
    "*.example.com:*\napi.example.com:443\n93.184.216.34:443",
    "10.0.0.0/8:*\n10.1.2.3:5432\n10.1.2.3:5432\nallow 10.0.0.0/8",
    "[::1]:80\n[::1]:80\n[::1]:80\nallow ::1/128",
    "*:8000-8999\nx.org:8500\n203.0.113.7:8500\nblock 203.0.113.0/24",
    "127.0.0.1:9000\n127.0.0.1:9000\n127.0.0.1:9000\nallow 127.0.0.1/32\nblock 127.0.0.2/32",
    "[fd00::/8]:*\n[fd00::1]:22\n[::ffff:192.168.1.1]:22\nblock ::ffff:192.168.0.0/112",
    "*:*\n*:*\n0.0.0.0:0",
    "[64:ff9b::/96]:*\n[2002::1]:80\n[64:ff9b::a00:1]:80",
]


def rpc(id_, method, params=None):
    message = {"jsonrpc": "2.0", "method": method}
    if id_ is not None:
        message["id"] = id_
    if params is not None:
        message["params"] = params
    return json.dumps(message)


JSONRPC = [
    rpc(1, "plugin/list"),
    rpc(2, "tool/list", {"tenant": "acme"}),
    rpc(3, "tool/call", {"tool": "calculator.add", "arguments": {"a": 2, "b": 2}}),
    rpc(4, "hook/dispatch", {"kind": "before-tool-call", "payload": {"tool": "rm"}}),
    rpc(5, "plugin/enable", {"plugin": "calculator", "config": {}}),
    rpc(6, "plugin/config/set", {"plugin": "redact", "config": {"deny_tools": ["curl"]}}),
    rpc("a", "plugin/config/get", {"plugin": "redact", "tenant": "acme"}),
    rpc(7, "plugin/health", {"plugin": "x"}),
    rpc(8, "plugin/load", {"path": "plugins/x"}),
    rpc(9, "plugin/unload", {"plugin": "x"}),
    rpc(None, "plugin/disable", {"plugin": "calculator"}),
    '{"jsonrpc": "1.0", "id": 2, "method": "tool/list"}',
    '[1, {"jsonrpc":"2.0","id":"a","method":"m","params":[1]}]',
    "[]",
    "{not json",
    rpc(1, "tool/list") + "\n" + rpc(None, "tool/list") + "\n\n" + rpc(2, "nope"),
    rpc(10, "hook/dispatch", {"kind": "custom:audit", "payload": {}, "session": "s"}),
]

MODERN_META = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
               "io.modelcontextprotocol/clientCapabilities": {}}
MCP = [
    rpc(1, "initialize", {"protocolVersion": "2025-11-25", "capabilities": {}}) + "\n"
    + rpc(None, "notifications/initialized") + "\n" + rpc(2, "tools/list"),
    rpc(3, "tools/call", {"name": "calculator.add", "arguments": {"a": 20, "b": 22}}),
    rpc(6, "ping"),
    rpc(7, "initialize", {}),
    rpc(1, "server/discover", {"_meta": MODERN_META}),
    rpc(2, "tools/call", {"_meta": MODERN_META, "name": "calculator.add", "arguments": {"a": 1, "b": 2}}),
    rpc(5, "ping", {"_meta": MODERN_META}),
    rpc(4, "tools/list", {"_meta": MODERN_META, "cursor": "x"}),
    rpc(8, "tools/list", {"_meta": {"io.modelcontextprotocol/protocolVersion": "2099-01-01"}}),
    "[" + rpc(1, "ping") + "," + rpc(None, "notifications/cancelled", {"requestId": 1}) + "]",
]

NUMBERS = {"type": "number", "format": "double"}
SCHEMAS = [
    ({"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "Operands",
      "type": "object", "properties": {"a": NUMBERS, "b": NUMBERS}, "required": ["a", "b"]},
     {"a": 1, "b": 2}),
    ({"type": "object", "additionalProperties": False, "properties": {
        "deny_tools": {"type": "array", "items": {"type": "string"}, "default": ["rm"]}}},
     {}),
    ({"type": "object", "properties": {"text": {"type": "string", "maxLength": 10,
                                                 "pattern": "^[a-z]+$"}}}, {"text": "hello"}),
    ({"$defs": {"node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/node"}}}},
      "$ref": "#/$defs/node"}, {"next": {"next": {}}}),
    ({"oneOf": [{"type": "integer", "minimum": 0}, {"type": "string", "enum": ["a", "b"]}]}, 3),
    ({"type": "array", "items": {"type": "number"}, "uniqueItems": True, "minItems": 1}, [1, 2]),
    ({"type": "object", "patternProperties": {"^x-": {"type": "boolean"}},
      "dependentRequired": {"a": ["b"]}}, {"x-y": True, "a": 1}),
    ({"if": {"properties": {"k": {"const": 1}}}, "then": {"required": ["v"]},
      "else": {"not": {"required": ["v"]}}}, {"k": 1}),
    ({"$schema": "http://json-schema.org/draft-07/schema#", "definitions": {"s": {"type": "string"}},
      "properties": {"s": {"$ref": "#/definitions/s"}}}, {"s": 1}),
    (True, None),
]


def schemas():
    return [json.dumps(s) + "\n" + json.dumps(i) for s, i in SCHEMAS]


def write(target, inputs):
    folder = FUZZ / "corpus" / target
    folder.mkdir(parents=True, exist_ok=True)
    for n, text in enumerate(inputs):
        (folder / f"seed-{n:02}").write_text(text)


write("manifest", manifests())
write("policy", policies())
write("exec_pattern", EXEC)
write("network_grant", NETWORK)
write("jsonrpc", JSONRPC)
write("mcp", MCP + JSONRPC[:3])
write("schema", schemas())
