"""What the host offers a plugin: ``log``, the session context (``session``), partial results
and progress from inside a call (``progress``) and running a granted program (``exec_run``). Thin wrappers over the generated bindings, imported on first
use so the SDK stays importable outside a component."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, List, Optional


class _Log:
    """``log.info("…")`` etc.: structured records in the host's log, tagged with the plugin
    and call. Long messages are truncated by the host."""

    def _write(self, level: str, message: str) -> None:
        from wit_world.imports import host

        host.log(getattr(host.LogLevel, level), str(message))

    def trace(self, message: str) -> None:
        self._write("TRACE", message)

    def debug(self, message: str) -> None:
        self._write("DEBUG", message)

    def info(self, message: str) -> None:
        self._write("INFO", message)

    def warn(self, message: str) -> None:
        self._write("WARN", message)

    def error(self, message: str) -> None:
        self._write("ERROR", message)


log = _Log()


class _Progress:
    """Partial results and progress from inside a call (``airlock:plugin/progress@0.2.0``):
    they reach the caller while the tool runs. Nobody listening: they do nothing. The host
    caps a chunk at 64 KiB, a message at 1 KiB, and what one call may send."""

    def emit(self, chunk: str) -> None:
        """Sends ``chunk`` (text: the next tokens, a line of output) to the caller now."""
        from wit_world.imports import progress

        progress.emit(str(chunk))

    def report(self, done: int, total: Optional[int] = None, message: str = "") -> None:
        """Reports ``done`` units of ``total`` (``None`` when unknown) and a short message."""
        from wit_world.imports import progress

        progress.report(int(done), None if total is None else int(total), str(message))


progress = _Progress()


class _Session:
    """The current call's session context: JSON values by key, shared with the other
    plugins and the host on the same session (scoped by the host to tenant + session)."""

    def get(self, key: str, default: Any = None) -> Any:
        """The value under ``key`` (parsed JSON), or ``default``."""
        from wit_world.imports import context

        text = context.get(key)
        return default if text is None else json.loads(text)

    def set(self, key: str, value: Any) -> None:
        """Stores ``value`` (any JSON-serialisable value). Raises ``RuntimeError`` with the
        host's reason when there is no session or a size cap would be exceeded."""
        from componentize_py_types import Err
        from wit_world.imports import context

        try:
            context.set(key, json.dumps(value))
        except Err as e:
            raise RuntimeError(f"session.set({key!r}): {e.value}") from None

    def delete(self, key: str) -> bool:
        """Removes ``key``; True when it existed."""
        from wit_world.imports import context

        return context.delete(key)

    def keys(self) -> List[str]:
        """Every key of the session, sorted."""
        from wit_world.imports import context

        return list(context.keys())


session = _Session()


@dataclass
class ExecOutput:
    """What a finished program produced (``status`` -1 when killed by a signal)."""

    status: int
    stdout: bytes
    stderr: bytes
    truncated: bool


def exec_run(command: str, args: Optional[List[str]] = None) -> ExecOutput:
    """Runs ``command`` with ``args`` through the host (capability ``exec``), never through a
    shell. Raises ``PermissionError`` when the policy denies it (the message names the
    grant that would allow it), ``RuntimeError`` for other failures."""
    from componentize_py_types import Err
    from wit_world.imports import exec as wit_exec

    try:
        out = wit_exec.run(command, list(args or []))
    except Err as e:
        reason = str(e.value)
        raise (PermissionError if reason.startswith("denied:") else RuntimeError)(reason) from None
    return ExecOutput(out.status, bytes(out.stdout), bytes(out.stderr), out.truncated)
