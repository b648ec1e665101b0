// The JavaScript build driver `airlock build` runs with Node (also usable by hand):
//
//   node build.mjs --toolchain DIR --sdk SDK.js --wit WIT_DIR --plugin PLUGIN.js \
//                  --workdir DIR --out OUT.wasm
//
// 1. bundles the plugin (JS or TypeScript) with the SDK into one ES module (rolldown),
// 2. imports that bundle in Node to learn which world it needs (tools, hooks or both) and to
//    catch definition mistakes before the slow step,
// 3. componentizes the bundle with componentize-js (StarlingMonkey) against the Airlock WIT.
// Progress goes to stderr as `airlock-build: …` lines; the world is printed on stdout.
// TOOLCHAIN is a folder whose node_modules holds the pinned rolldown and componentize-js.

import { readFile, writeFile, mkdir } from "node:fs/promises";
import { join, resolve, relative, sep } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

const { values: opt } = parseArgs({
  options: {
    toolchain: { type: "string" },
    sdk: { type: "string" },
    wit: { type: "string" },
    plugin: { type: "string" },
    workdir: { type: "string" },
    out: { type: "string" },
  },
});
for (const key of ["toolchain", "sdk", "wit", "plugin", "workdir", "out"]) {
  if (!opt[key]) {
    console.error(`airlock-build: missing --${key}`);
    process.exit(2);
  }
}
const say = (message) => console.error(`airlock-build: ${message}`);
/** Imports package `name` from the toolchain's node_modules (ES module entry point). */
async function load(name) {
  const dir = join(resolve(opt.toolchain), "node_modules", name);
  const pkg = JSON.parse(await readFile(join(dir, "package.json"), "utf8"));
  let entry = pkg.exports?.["."] ?? pkg.exports ?? pkg.module ?? pkg.main;
  while (entry && typeof entry === "object") entry = entry.import ?? entry.default ?? entry.node;
  return import(pathToFileURL(join(dir, entry)).href);
}

const { rolldown } = await load("rolldown");
const { componentize } = await load("@bytecodealliance/componentize-js");

const workdir = resolve(opt.workdir);
await mkdir(workdir, { recursive: true });
const sdk = resolve(opt.sdk);
const pluginPath = resolve(opt.plugin);
const importPath = (from) => {
  const path = relative(from, pluginPath).split(sep).join("/");
  return path.startsWith(".") ? path : `./${path}`;
};

/** Bundles `entrySource` (written to `name`) with the plugin and the SDK into one module. */
async function bundle(name, entrySource) {
  const entry = join(workdir, name);
  await writeFile(entry, entrySource);
  const build = await rolldown({
    input: entry,
    resolve: { alias: { "airlock-sdk": sdk } },
    external: [/^airlock:/, /^wasi:/],
    logLevel: "warn",
  });
  const file = join(workdir, name.replace(/\.js$/, ".bundle.js"));
  await build.write({ file, format: "esm", codeSplitting: false });
  await build.close();
  return file;
}

say("bundling the plugin with the SDK");
const describe = await bundle(
  "describe.js",
  `import plugin from ${JSON.stringify(importPath(workdir))};\n` +
    `import { worldOf } from "airlock-sdk";\n` +
    `export const world = worldOf(plugin);\n`,
);
const { world } = await import(pathToFileURL(describe).href);
say(`the plugin needs world \`${world}\``);

const exported = { "tool-plugin": ["lifecycle", "tools"], "hook-plugin": ["lifecycle", "hooks"], plugin: ["lifecycle", "tools", "hooks"] }[world];
const source = await bundle(
  "component.js",
  `import plugin from ${JSON.stringify(importPath(workdir))};\n` +
    `import { __bindHost, __exportsFor } from "airlock-sdk";\n` +
    `import * as host from "airlock:plugin/host@0.2.0";\n` +
    `import * as exec from "airlock:plugin/exec@0.2.0";\n` +
    `import * as context from "airlock:plugin/context@0.2.0";\n` +
    `import * as progress from "airlock:plugin/progress@0.2.0";\n` +
    `__bindHost({ host, exec, context, progress });\n` +
    `const exported = __exportsFor(plugin);\n` +
    exported.map((name) => `export const ${name} = exported.${name};\n`).join(""),
);

say("componentizing with componentize-js (StarlingMonkey); this takes ~20 s");
const started = Date.now();
const { component } = await componentize({
  sourcePath: source,
  witPath: resolve(opt.wit),
  worldName: world,
  // No wasi:http (the host grants outbound HTTP separately) and no fetch-event export.
  disableFeatures: ["http", "fetch-event"],
});
await writeFile(resolve(opt.out), component);
say(`componentized in ${((Date.now() - started) / 1000).toFixed(1)} s`);
console.log(world);
