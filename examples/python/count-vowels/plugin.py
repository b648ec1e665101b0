"""`count-vowels` in Python: counts the vowels in a text and keeps a running total per
instance, carried across a hot reload. Answers exactly like the Rust example."""

from airlock_sdk import Metadata, Plugin, PluginError, tool

VOWELS = "aeiouAEIOU"


class CountVowels(Plugin):
    metadata = Metadata(
        name="count-vowels",
        version="0.1.0",
        author="Airlock examples",
        description="Counts the vowels in a text and keeps a running total.",
        license="Apache-2.0",
    )

    def init(self, config: dict) -> None:
        self.total = 0

    @tool
    def count_vowels(self, text: str) -> dict:
        """Count the vowels (aeiou, either case) in `text`

        Args:
            text: The text whose vowels are counted.
        """
        count = sum(1 for c in text if c in VOWELS)
        self.total += count
        return {"count": count, "total": self.total, "vowels": VOWELS}

    def capture_state(self) -> bytes:
        return self.total.to_bytes(8, "little")

    def restore_state(self, state: bytes) -> None:
        if len(state) != 8:
            raise PluginError.invalid_input("state must be 8 bytes")
        self.total = int.from_bytes(state, "little")
