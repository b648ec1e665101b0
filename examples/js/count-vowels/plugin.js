// `count-vowels` in JavaScript: counts the vowels in a text and keeps a running total per
// instance, carried across a hot reload. Answers exactly like the Rust example.
import { definePlugin, PluginError } from "airlock-sdk";

const VOWELS = "aeiouAEIOU";

export default definePlugin({
  metadata: {
    name: "count-vowels",
    version: "0.1.0",
    author: "Airlock examples",
    description: "Counts the vowels in a text and keeps a running total.",
    license: "Apache-2.0",
  },
  init: () => ({ total: 0 }),
  tools: {
    count_vowels: {
      description: "Count the vowels (aeiou, either case) in `text`",
      schema: {
        type: "object",
        properties: { text: { type: "string", description: "The text whose vowels are counted." } },
        required: ["text"],
      },
      run({ text }, state) {
        let count = 0;
        for (const c of text) if (VOWELS.includes(c)) count += 1;
        state.total += count;
        return { count, total: state.total, vowels: VOWELS };
      },
    },
  },
  captureState(state) {
    const bytes = new Uint8Array(8);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(state.total), true);
    return bytes;
  },
  restoreState(state, bytes) {
    if (bytes.length !== 8) throw PluginError.invalidInput("state must be 8 bytes");
    state.total = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  },
});
