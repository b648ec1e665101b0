// airlock-sdk for JavaScript: write Airlock plugins as one plain object.
//
//   import { definePlugin, PluginError } from "airlock-sdk";
//   export default definePlugin({
//     metadata: { name: "greeter", version: "0.1.0", description: "Says hello." },
//     tools: {
//       greet: {
//         description: "Greet someone by name",
//         schema: { type: "object", properties: { name: { type: "string" } }, required: ["name"] },
//         run: ({ name }) => `Hello, ${name}!`,
//       },
//     },
//   });
//
// `airlock build` bundles this with the plugin and turns it into a WebAssembly component
// with componentize-js. This module never imports the component bindings itself: the
// generated entry hands them over with `__bindHost`, so plugins and this SDK also run in
// plain Node for unit tests. On the wire it behaves exactly like the Rust SDK: the same
// metadata record, error codes (400 invalid input, 404 unknown tool, 500 internal, 503 not
// initialised) and hook outcomes.

/** Host series this SDK speaks to; the default `hostVersions` of a plugin. */
export const HOST_VERSIONS = "^0.1.0";

/** A failure the plugin reports on purpose: the caller gets a typed plugin error with this
 * `code`, `message` and optional `details` (any JSON value). Codes below 1000 are shared. */
export class PluginError extends Error {
  static INVALID_INPUT = 400;
  static NOT_FOUND = 404;
  static CONFLICT = 409;
  static REFUSED = 422;
  static INTERNAL = 500;
  static UNAVAILABLE = 503;

  constructor(code, message, details) {
    super(`error ${code}: ${message}`);
    if (!Number.isInteger(code) || code < 0 || code >= 2 ** 32) {
      throw new TypeError(`PluginError code must be an integer in 0..2^32, got ${code}`);
    }
    this.name = "PluginError";
    this.code = code;
    this.errorMessage = message;
    this.details = details;
  }
  static invalidInput(message, details) { return new PluginError(400, message, details); }
  static notFound(message, details) { return new PluginError(404, message, details); }
  static internal(message, details) { return new PluginError(500, message, details); }
}

/** The hook kinds; `HookKind.custom(name)` for host-defined events. */
export const HookKind = Object.freeze({
  BEFORE_AGENT_RUN: "before-agent-run",
  AFTER_AGENT_RUN: "after-agent-run",
  BEFORE_TOOL_CALL: "before-tool-call",
  AFTER_TOOL_CALL: "after-tool-call",
  ON_ERROR: "on-error",
  ON_REASONING_STEP: "on-reasoning-step",
  custom: (name) => `custom:${name}`,
});

/** Hook outcome: leave the payload as it is (returning `undefined` means the same). */
export const pass = () => ({ outcome: "pass" });
/** Hook outcome: continue with `payload` (any JSON value) instead. */
export const replace = (payload) => ({ outcome: "replace", payload });
/** Hook outcome: stop the pipeline, saying why. */
export const veto = (reason) => ({ outcome: "veto", reason: String(reason) });

const TOOL_NAME = /^[A-Za-z0-9_-]+$/;
const WIT_KINDS = {
  "before-agent-run": "before-agent-run",
  "after-agent-run": "after-agent-run",
  "before-tool-call": "before-tool-call",
  "after-tool-call": "after-tool-call",
  "on-error": "on-error",
  "on-reasoning-step": "on-reasoning-step",
};

/** Checks a plugin definition and returns it (frozen). Throws a TypeError naming the
 * first mistake, so it surfaces at build time, not on the first call. */
export function definePlugin(definition) {
  const { metadata, tools = {}, hooks = {} } = definition ?? {};
  if (!metadata || typeof metadata.name !== "string" || typeof metadata.version !== "string") {
    throw new TypeError("definePlugin: `metadata` needs at least `name` and `version` strings");
  }
  for (const [name, tool] of Object.entries(tools)) {
    if (!TOOL_NAME.test(name)) throw new TypeError(`definePlugin: tool name \`${name}\` may only use letters, digits, _ and -`);
    if (typeof tool?.run !== "function") throw new TypeError(`definePlugin: tool \`${name}\` needs a \`run(args, state, ctx)\` function`);
    if (tool.schema !== undefined && (typeof tool.schema !== "object" || tool.schema === null)) {
      throw new TypeError(`definePlugin: tool \`${name}\`'s \`schema\` must be a JSON Schema object`);
    }
  }
  for (const [kind, handler] of Object.entries(hooks)) {
    if (!(kind in WIT_KINDS) && !kind.startsWith("custom:")) throw new TypeError(`definePlugin: unknown hook kind \`${kind}\``);
    if (typeof handler !== "function") throw new TypeError(`definePlugin: hook \`${kind}\` must be a function (payload, state, ctx)`);
  }
  return Object.freeze({ ...definition, tools, hooks });
}

/** The WIT world a definition needs: `tool-plugin`, `hook-plugin` or `plugin`. */
export function worldOf(plugin) {
  const hasTools = Object.keys(plugin.tools).length > 0;
  const hasHooks = Object.keys(plugin.hooks).length > 0;
  if (hasTools && hasHooks) return "plugin";
  return hasHooks ? "hook-plugin" : "tool-plugin";
}

// The component's host imports, handed over by the generated entry (absent in Node).
const bound = { host: null, exec: null, context: null, progress: null };

/** Used by the generated entry only. */
export function __bindHost(imports) {
  Object.assign(bound, imports);
}

function needHost(name) {
  if (!bound[name]) throw new Error(`airlock-sdk: \`${name}\` is only available inside a component`);
  return bound[name];
}

/** Structured records in the host's log, tagged with the plugin and the call. */
export const log = {
  trace: (message) => needHost("host").log("trace", String(message)),
  debug: (message) => needHost("host").log("debug", String(message)),
  info: (message) => needHost("host").log("info", String(message)),
  warn: (message) => needHost("host").log("warn", String(message)),
  error: (message) => needHost("host").log("error", String(message)),
};

/** The current call's session context: JSON values by key, shared with the other plugins
 * and the host on the same session (scoped by the host to tenant + session). */
export const session = {
  /** The value under `key` (parsed JSON), or `undefined`. */
  get(key) {
    const text = needHost("context").get(key);
    return text === undefined || text === null ? undefined : JSON.parse(text);
  },
  /** Stores `value`; throws an Error with the host's reason when it cannot. */
  set(key, value) {
    try {
      needHost("context").set(key, JSON.stringify(value));
    } catch (e) {
      throw new Error(`session.set(${JSON.stringify(key)}): ${e?.payload ?? e}`);
    }
  },
  /** Removes `key`; true when it existed. (Bindings may spell the reserved word `delete$`.) */
  delete(key) {
    const context = needHost("context");
    return (context.delete ?? context["delete$"]).call(context, key);
  },
  /** Every key of the session, sorted. */
  keys: () => needHost("context").keys(),
};

/** Partial results and progress from inside a call (`airlock:plugin/progress@0.2.0`): they
 * reach the caller while the tool runs; nobody listening, they do nothing. The host caps a
 * chunk at 64 KiB, a message at 1 KiB, and what one call may send. */
export const progress = {
  /** Sends `chunk` (text: the next tokens, a line of output) to the caller now. */
  emit: (chunk) => needHost("progress").emit(String(chunk)),
  /** Reports `done` units of `total` (`undefined` when unknown) and a short message. */
  report: (done, total, message = "") =>
    needHost("progress").report(BigInt(done), total === undefined ? undefined : BigInt(total), String(message)),
};

/** Runs `command` with `args` through the host (capability `exec`), never through a shell.
 * Returns `{ status, stdout, stderr, truncated }` (bytes as Uint8Array); throws an Error with
 * the host's reason (starting with `denied:` when the policy refuses it). */
export function execRun(command, args = []) {
  try {
    return needHost("exec").run(command, args.map(String));
  } catch (e) {
    throw new Error(e?.payload ?? String(e));
  }
}

// ---- the export glue (used by the generated entry) ----

/** Traceback text kept in an error's details. */
const MAX_STACK_CHARS = 4000;

function witError(error) {
  if (error instanceof PluginError) {
    return {
      code: error.code,
      message: error.errorMessage,
      details: error.details === undefined ? undefined : JSON.stringify(error.details),
    };
  }
  const name = error?.constructor?.name ?? "Error";
  const message = error instanceof Error ? error.message : String(error);
  const details = { exception: name };
  if (error?.stack) details.stack = String(error.stack).slice(0, MAX_STACK_CHARS);
  return { code: 500, message: `${name}: ${message}`, details: JSON.stringify(details) };
}

/** Runs `body`; a PluginError or any other throw becomes the WIT error result (a
 * componentize-js export signals `result::err` by throwing `{ payload }`). */
function guarded(body) {
  try {
    return body();
  } catch (error) {
    // Running out of memory is not the plugin's answer: trap, so the host reports the
    // memory cap that caused it. A payload the bindings cannot lower (a Symbol) makes the
    // export trap; an Error would become an error result with code 0.
    const text = error instanceof Error ? error.message : String(error);
    if (/out of memory|allocation size overflow/i.test(text)) throw { payload: Symbol(`out of memory: ${text}`) };
    throw { payload: witError(error) };
  }
}

function parse(text, what) {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw PluginError.invalidInput(`invalid ${what}: ${e.message}`);
  }
}

function toContext(ctx) {
  return Object.freeze({ tenant: ctx.tenant, sessionId: ctx.sessionId, callId: ctx.callId });
}

function toWitKind(kind) {
  if (kind.startsWith("custom:")) return { tag: "custom", val: kind.slice("custom:".length) };
  return { tag: WIT_KINDS[kind] };
}

function fromWitKind(kind) {
  return kind.tag === "custom" ? `custom:${kind.val}` : kind.tag;
}

/** The `lifecycle`, `tools` and `hooks` export objects for a plugin definition. */
export function __exportsFor(plugin) {
  let state;
  let initialised = false;
  const needInit = () => {
    if (!initialised) throw new PluginError(503, "plugin is not initialised: the host must call init first");
  };
  const m = plugin.metadata;
  const lifecycle = {
    metadata: () => ({
      name: m.name,
      version: m.version,
      author: m.author ?? "",
      description: m.description ?? "",
      license: m.license ?? "",
      permissions: [...(m.permissions ?? [])],
      hostVersions: m.hostVersions ?? HOST_VERSIONS,
    }),
    init: (config) =>
      guarded(() => {
        const parsed = parse(config, "configuration");
        if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
          throw PluginError.invalidInput("invalid configuration: expected a JSON object");
        }
        state = plugin.init ? plugin.init(parsed) ?? {} : {};
        initialised = true;
      }),
    shutdown: () => {
      try {
        if (initialised) plugin.shutdown?.(state);
      } catch {
        // shutdown has no error channel
      }
      initialised = false;
      state = undefined;
    },
    health: () => {
      if (!initialised) return { status: "initializing", message: "init has not run", details: "{}" };
      try {
        const h = plugin.health?.(state) ?? {};
        return { status: h.status ?? "ready", message: h.message ?? "ok", details: JSON.stringify(h.details ?? {}) };
      } catch (e) {
        return { status: "error", message: `health threw ${e}`, details: "{}" };
      }
    },
    captureState: () => {
      if (!initialised || !plugin.captureState) return undefined;
      const bytes = plugin.captureState(state);
      return bytes === undefined || bytes === null ? undefined : new Uint8Array(bytes);
    },
    restoreState: (bytes) =>
      guarded(() => {
        needInit();
        plugin.restoreState?.(state, new Uint8Array(bytes));
      }),
  };
  const tools = {
    listTools: () =>
      Object.entries(plugin.tools).map(([name, tool]) => ({
        name,
        description: tool.description ?? "",
        inputSchema: JSON.stringify(tool.schema ?? { type: "object" }),
      })),
    callTool: (name, argumentsJson, ctx) =>
      guarded(() => {
        needInit();
        const tool = Object.hasOwn(plugin.tools, name) ? plugin.tools[name] : undefined;
        if (!tool) throw PluginError.notFound(`no tool named \`${name}\``);
        const args = parse(argumentsJson, "arguments");
        const result = tool.run(args, state, toContext(ctx));
        if (result instanceof Promise) throw PluginError.internal(`tool \`${name}\` returned a Promise; tools must be synchronous`);
        return JSON.stringify(result ?? null);
      }),
  };
  const hooks = {
    subscriptions: () => Object.keys(plugin.hooks).map(toWitKind),
    handle: (kind, payload, ctx) =>
      guarded(() => {
        needInit();
        const handler = plugin.hooks[fromWitKind(kind)];
        // The host only sends subscribed kinds; anything else passes untouched.
        if (!handler) return { tag: "pass" };
        const outcome = handler(parse(payload, "payload"), state, toContext(ctx));
        if (outcome === undefined || outcome === null || outcome.outcome === "pass") return { tag: "pass" };
        if (outcome.outcome === "replace") return { tag: "replace", val: JSON.stringify(outcome.payload) };
        if (outcome.outcome === "veto") return { tag: "veto", val: outcome.reason };
        throw PluginError.internal("hook returned something other than pass(), replace(x) or veto(reason)");
      }),
  };
  return { lifecycle, tools, hooks };
}
