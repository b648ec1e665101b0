// The official MCP TypeScript SDK client calling one tool with `onprogress` (the SDK then
// sends a `progressToken` and hands each `notifications/progress` to the callback), over
// stdio (spawning `AIRLOCK mcp --no-watch`) or streamable HTTP (an `/mcp` URL). Prints
// `{"progress": [...], "result": {...}}` as one JSON line.
//
//   node progress.mjs stdio  /path/to/airlock    TOOL 'ARGS-JSON'
//   node progress.mjs http   http://HOST:PORT/mcp TOOL 'ARGS-JSON'
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [mode, target, tool, args] = process.argv.slice(2);
const transport =
  mode === "stdio"
    ? new StdioClientTransport({ command: target, args: ["mcp", "--no-watch"], env: { ...process.env }, stderr: "ignore" })
    : new StreamableHTTPClientTransport(new URL(target));
const client = new Client({ name: "airlock-progress-test", version: "1.0.0" });
await client.connect(transport);
const progress = [];
const result = await client.callTool({ name: tool, arguments: JSON.parse(args) }, undefined, {
  onprogress: (p) => progress.push(p),
});
console.log(JSON.stringify({ progress, result }));
await client.close();
