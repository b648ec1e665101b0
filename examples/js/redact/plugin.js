// `redact` in JavaScript: on `before-tool-call`, replaces e-mail addresses and
// API-key-looking strings anywhere in the payload's string values, and vetoes calls to the
// tools named in its configuration (`{"deny_tools": ["shell"]}`). Behaves like the Rust
// example.
import { definePlugin, HookKind, PluginError, log, replace, veto } from "airlock-sdk";

const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g;
// Provider prefixes (sk-, pk_, ghp_, xoxb-, AKIA…) or `key`/`token`-labelled runs, followed
// by a long run of key characters.
const API_KEY = /\b(?:sk|pk|rk|ghp|gho|ghs|xox[abpr]|api|key|token)[-_][A-Za-z0-9_-]{16,}|\bAKIA[0-9A-Z]{16}\b/g;

/** Returns [redacted copy, number of secrets replaced]. */
function scrub(value) {
  if (typeof value === "string") {
    let hits = 0;
    const out = value
      .replace(EMAIL, () => (hits++, "[REDACTED:email]"))
      .replace(API_KEY, () => (hits++, "[REDACTED:key]"));
    return [out, hits];
  }
  if (Array.isArray(value)) {
    const items = value.map(scrub);
    return [items.map(([v]) => v), items.reduce((n, [, h]) => n + h, 0)];
  }
  if (value !== null && typeof value === "object") {
    let hits = 0;
    const out = {};
    for (const [k, v] of Object.entries(value)) {
      const [scrubbed, n] = scrub(v);
      out[k] = scrubbed;
      hits += n;
    }
    return [out, hits];
  }
  return [value, 0];
}

export default definePlugin({
  metadata: {
    name: "redact",
    version: "0.1.0",
    author: "Airlock examples",
    description: "Redacts e-mail addresses and API keys from tool calls; vetoes denied tools.",
    license: "Apache-2.0",
  },
  init(config) {
    const unknown = Object.keys(config).filter((k) => k !== "deny_tools");
    if (unknown.length) throw PluginError.invalidInput(`invalid configuration: unknown field(s) ${unknown.join(", ")}`);
    return { denyTools: config.deny_tools ?? [] };
  },
  hooks: {
    [HookKind.BEFORE_TOOL_CALL](payload, state) {
      const tool = typeof payload?.tool === "string" ? payload.tool : "";
      if (state.denyTools.includes(tool)) return veto(`tool \`${tool}\` is denied by the redact plugin's configuration`);
      const [scrubbed, hits] = scrub(payload);
      if (hits === 0) return undefined;
      log.info(`redacted ${hits} secret(s) from a call to \`${tool}\``);
      return replace(scrubbed);
    },
  },
});
