"""`redact` in Python: on `before-tool-call`, replaces e-mail addresses and API-key-looking
strings anywhere in the payload's string values, and vetoes calls to the tools named in its
configuration (`{"deny_tools": ["shell"]}`). Behaves like the Rust example."""

import re

from airlock_sdk import HookKind, Metadata, Plugin, PluginError, Replace, Veto, hook, log

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
# Provider prefixes (sk-, pk_, ghp_, xoxb-, AKIA…) or `key`/`token`-labelled runs, followed
# by a long run of key characters.
API_KEY = re.compile(
    r"\b(?:sk|pk|rk|ghp|gho|ghs|xox[abpr]|api|key|token)[-_][A-Za-z0-9_-]{16,}|\bAKIA[0-9A-Z]{16}\b"
)


class Redact(Plugin):
    metadata = Metadata(
        name="redact",
        version="0.1.0",
        author="Airlock examples",
        description="Redacts e-mail addresses and API keys from tool calls; vetoes denied tools.",
        license="Apache-2.0",
    )

    def init(self, config: dict) -> None:
        unknown = set(config) - {"deny_tools"}
        if unknown:
            raise PluginError.invalid_input(f"invalid configuration: unknown field(s) {sorted(unknown)}")
        self.deny_tools = list(config.get("deny_tools", []))

    def scrub(self, value):
        """Returns (redacted copy, number of secrets replaced)."""
        if isinstance(value, str):
            value, emails = EMAIL.subn("[REDACTED:email]", value)
            value, keys = API_KEY.subn("[REDACTED:key]", value)
            return value, emails + keys
        if isinstance(value, list):
            items = [self.scrub(v) for v in value]
            return [v for v, _ in items], sum(n for _, n in items)
        if isinstance(value, dict):
            items = {k: self.scrub(v) for k, v in value.items()}
            return {k: v for k, (v, _) in items.items()}, sum(n for _, n in items.values())
        return value, 0

    @hook(HookKind.BEFORE_TOOL_CALL)
    def before_tool_call(self, payload, ctx):
        tool = payload.get("tool", "") if isinstance(payload, dict) else ""
        if tool in self.deny_tools:
            return Veto(f"tool `{tool}` is denied by the redact plugin's configuration")
        scrubbed, hits = self.scrub(payload)
        if hits == 0:
            return None
        log.info(f"redacted {hits} secret(s) from a call to `{tool}`")
        return Replace(scrubbed)
