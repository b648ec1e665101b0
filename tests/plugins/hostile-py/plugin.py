"""A misbehaving Python plugin for the hostile tests: each tool attacks the host one way.
`counter` and `echo` are well-behaved, to show which instance answers afterwards."""

from typing import List

from airlock_sdk import Metadata, Plugin, progress, tool


class HostilePy(Plugin):
    metadata = Metadata(name="hostile-py", version="0.1.0", description="Misbehaves on purpose (tests only).")

    def init(self, config: dict) -> None:
        self.calls = 0

    @tool
    def counter(self) -> int:
        """Calls answered by this instance, this one included (1 on a fresh instance)."""
        self.calls += 1
        return self.calls

    @tool
    def echo(self, text: str) -> str:
        """Returns `text`."""
        return text

    @tool
    def stream(self, words: List[str]) -> str:
        """Emits each word as a progress chunk, reports the count so far, returns them joined."""
        for i, word in enumerate(words):
            progress.emit(word)
            progress.report(i + 1, len(words), f"word {i + 1}")
        return " ".join(words)

    @tool
    def spin(self) -> None:
        """Loops forever."""
        while True:
            pass

    @tool
    def grow(self) -> int:
        """Allocates 1 MiB blocks until something stops it."""
        blocks = []
        while True:
            blocks.append(bytearray(1 << 20))

    @tool
    def fail(self, text: str) -> None:
        """Raises an ordinary Python exception carrying `text`."""
        raise ValueError(text)
