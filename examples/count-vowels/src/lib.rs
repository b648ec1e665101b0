//! `count-vowels`: counts the vowels in a text, and keeps a running total per instance.
//!
//! The same plugin exists for Extism and as a subprocess in the benchmarks, so the numbers
//! compare like with like. The running total is carried across a hot swap through
//! `capture-state` / `restore-state`.

use airlock_sdk::prelude::*;

const VOWELS: &str = "aeiouAEIOU";

#[derive(Deserialize, JsonSchema)]
struct CountArgs {
    /// The text whose vowels are counted.
    text: String,
}

#[derive(Serialize)]
struct Counted {
    /// Vowels in this text.
    count: u64,
    /// Vowels counted by this instance so far, this call included.
    total: u64,
    /// The characters counted as vowels.
    vowels: &'static str,
}

/// One of `VOWELS`. A `match`, not `VOWELS.contains(c)`: that searches the literal with
/// `memchr`, whose speed depends on where the linker happened to place the literal (an
/// unaligned one costs half as much again per character), and the benchmarks compare this
/// guest with the same code built for other runtimes.
fn is_vowel(c: char) -> bool {
    matches!(c, 'a' | 'e' | 'i' | 'o' | 'u' | 'A' | 'E' | 'I' | 'O' | 'U')
}

struct CountVowels {
    total: u64,
}

impl Plugin for CountVowels {
    type Config = NoConfig;

    fn metadata() -> Metadata {
        Metadata::new("count-vowels", env!("CARGO_PKG_VERSION"))
            .author("Airlock examples")
            .description("Counts the vowels in a text and keeps a running total.")
            .license("Apache-2.0")
    }

    fn init(_config: NoConfig) -> Result<Self, PluginError> {
        Ok(CountVowels { total: 0 })
    }

    fn tools(tools: &mut Tools<Self>) {
        tools.tool(
            "count_vowels",
            "Count the vowels (aeiou, either case) in `text`",
            |me, args: CountArgs, _| {
                let count = args.text.chars().filter(|&c| is_vowel(c)).count() as u64;
                me.total += count;
                Ok(Counted {
                    count,
                    total: me.total,
                    vowels: VOWELS,
                })
            },
        );
    }

    fn capture_state(&self) -> Option<Vec<u8>> {
        Some(self.total.to_le_bytes().to_vec())
    }

    fn restore_state(&mut self, state: Vec<u8>) -> Result<(), PluginError> {
        let bytes: [u8; 8] = state
            .try_into()
            .map_err(|_| PluginError::invalid_input("state must be 8 bytes"))?;
        self.total = u64::from_le_bytes(bytes);
        Ok(())
    }
}

airlock_sdk::export_tool_plugin!(CountVowels);
