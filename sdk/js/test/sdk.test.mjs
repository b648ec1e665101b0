// Unit tests of the JavaScript SDK in plain Node: definition checks, world selection and
// the export glue's wire conventions (error codes, hook outcomes). The component itself is
// tested by the Rust integration tests on real built components (tests/tests/all/polyglot.rs).
import { test } from "node:test";
import assert from "node:assert/strict";
import { __exportsFor, definePlugin, HookKind, PluginError, replace, veto, worldOf } from "../index.js";

const ctx = { tenant: "t", sessionId: "", callId: "c" };
const plugin = definePlugin({
  metadata: { name: "demo", version: "0.1.0" },
  init: (config) => ({ seen: 0, config }),
  tools: {
    add: {
      schema: { type: "object", properties: { a: { type: "number" }, b: { type: "number" } } },
      run: ({ a, b }, state) => (state.seen++, { sum: a + b }),
    },
    divide: {
      run({ a, b }) {
        if (b === 0) throw new PluginError(1001, "division by zero", { a });
        return a / b;
      },
    },
    crash: { run: () => null.x },
  },
  hooks: {
    [HookKind.BEFORE_TOOL_CALL]: (payload) => (payload.tool === "shell" ? veto("no shell") : replace({ ...payload, checked: true })),
  },
});

test("a definition is checked when it is made", () => {
  assert.throws(() => definePlugin({ metadata: { name: "x" } }), /name` and `version/);
  assert.throws(() => definePlugin({ metadata: { name: "x", version: "1.0.0" }, tools: { "bad name": { run() {} } } }), /tool name/);
  assert.throws(() => definePlugin({ metadata: { name: "x", version: "1.0.0" }, hooks: { "before-lunch": () => {} } }), /unknown hook kind/);
});

test("the world follows what the plugin defines", () => {
  assert.equal(worldOf(plugin), "plugin");
  assert.equal(worldOf(definePlugin({ metadata: { name: "x", version: "1.0.0" }, tools: { t: { run() {} } } })), "tool-plugin");
  assert.equal(worldOf(definePlugin({ metadata: { name: "x", version: "1.0.0" }, hooks: { "on-error": () => {} } })), "hook-plugin");
});

test("calls before init are refused with 503, then tools answer JSON", () => {
  const { lifecycle, tools } = __exportsFor(plugin);
  assert.throws(() => tools.callTool("add", "{}", ctx), (e) => e.payload.code === 503);
  lifecycle.init('{"k": 1}');
  assert.equal(tools.callTool("add", '{"a": 2, "b": 3}', ctx), '{"sum":5}');
  assert.equal(lifecycle.metadata().hostVersions, "^0.1.0");
  assert.deepEqual(tools.listTools().map((t) => t.name), ["add", "divide", "crash"]);
});

test("errors keep their codes; a throw is a 500 with its message", () => {
  const { lifecycle, tools } = __exportsFor(plugin);
  lifecycle.init("{}");
  assert.throws(() => tools.callTool("divide", '{"a": 1, "b": 0}', ctx), (e) => e.payload.code === 1001 && e.payload.message === "division by zero" && e.payload.details === '{"a":1}');
  assert.throws(() => tools.callTool("nope", "{}", ctx), (e) => e.payload.code === 404);
  assert.throws(() => tools.callTool("crash", "{}", ctx), (e) => e.payload.code === 500 && e.payload.message.startsWith("TypeError: "));
  assert.throws(() => lifecycle.init("[]"), (e) => e.payload.code === 400);
});

test("hooks return pass, replace or veto", () => {
  const { lifecycle, hooks } = __exportsFor(plugin);
  lifecycle.init("{}");
  assert.deepEqual(hooks.subscriptions(), [{ tag: "before-tool-call" }]);
  assert.deepEqual(hooks.handle({ tag: "before-tool-call" }, '{"tool": "shell"}', ctx), { tag: "veto", val: "no shell" });
  assert.deepEqual(hooks.handle({ tag: "before-tool-call" }, '{"tool": "ls"}', ctx), { tag: "replace", val: '{"tool":"ls","checked":true}' });
  assert.deepEqual(hooks.handle({ tag: "on-error" }, "{}", ctx), { tag: "pass" });
});
