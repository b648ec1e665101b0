// A misbehaving JavaScript plugin for the hostile tests: each tool attacks the host one way.
// `counter` and `echo` are well-behaved, to show which instance answers afterwards.
import { definePlugin, progress } from "airlock-sdk";

const object = (properties = {}, required = []) => ({ type: "object", properties, required });

export default definePlugin({
  metadata: { name: "hostile-js", version: "0.1.0", description: "Misbehaves on purpose (tests only)." },
  init: () => ({ calls: 0 }),
  tools: {
    counter: {
      description: "Calls answered by this instance, this one included (1 on a fresh instance).",
      schema: object(),
      run: (_, state) => ++state.calls,
    },
    echo: {
      description: "Returns `text`.",
      schema: object({ text: { type: "string" } }, ["text"]),
      run: ({ text }) => text,
    },
    stream: {
      description: "Emits each word as a progress chunk, reports the count so far, returns them joined.",
      schema: object({ words: { type: "array", items: { type: "string" } } }, ["words"]),
      run({ words }) {
        words.forEach((word, i) => {
          progress.emit(word);
          progress.report(i + 1, words.length, `word ${i + 1}`);
        });
        return words.join(" ");
      },
    },
    spin: {
      description: "Loops forever.",
      schema: object(),
      run() {
        for (;;) {}
      },
    },
    grow: {
      description: "Allocates 1 MiB blocks until something stops it.",
      schema: object(),
      run() {
        const blocks = [];
        for (;;) blocks.push(new Uint8Array(1 << 20).fill(1));
      },
    },
    fail: {
      description: "Throws an ordinary JavaScript error carrying `text`.",
      schema: object({ text: { type: "string" } }, ["text"]),
      run({ text }) {
        throw new TypeError(text);
      },
    },
  },
});
