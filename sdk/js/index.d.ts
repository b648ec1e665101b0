// TypeScript declarations of airlock-sdk (sdk/js/index.js).

/** JSON values as they cross the plugin boundary. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A JSON Schema object (draft 2020-12), describing a tool's arguments. */
export type JsonSchema = { [keyword: string]: Json };

/** Who a call is made for, set by the host (read-only). */
export interface CallContext {
  readonly tenant: string;
  readonly sessionId: string;
  readonly callId: string;
}

/** Who a plugin is: the `plugin-metadata` record of wit/plugin.wit. */
export interface Metadata {
  name: string;
  version: string;
  author?: string;
  description?: string;
  license?: string;
  /** Capabilities the plugin says it needs, in the manifest grammar (informational). */
  permissions?: string[];
  /** Semver range of compatible Airlock host versions; default `^0.1.0`. */
  hostVersions?: string;
}

/** One tool: what the host shows, validates against, and runs. */
export interface Tool<State, Args = any> {
  description?: string;
  /** JSON Schema of the arguments object; the host validates every call against it. */
  schema?: JsonSchema;
  /** Runs the tool; the result is sent back as JSON. Throw a PluginError to fail. */
  run(args: Args, state: State, ctx: CallContext): Json | object | void;
}

export type HookOutcome =
  | { outcome: "pass" }
  | { outcome: "replace"; payload: Json }
  | { outcome: "veto"; reason: string };

export type HookKindName =
  | "before-agent-run"
  | "after-agent-run"
  | "before-tool-call"
  | "after-tool-call"
  | "on-error"
  | "on-reasoning-step"
  | `custom:${string}`;

export type HookHandler<State> = (payload: any, state: State, ctx: CallContext) => HookOutcome | void;

export interface Health {
  status?: "ready" | "busy" | "error";
  message?: string;
  details?: { [key: string]: Json };
}

export interface PluginDefinition<State = Record<string, any>> {
  metadata: Metadata;
  /** Called once per fresh instance with the configuration object; returns the state
   * every handler receives. Throw a PluginError to refuse the configuration. */
  init?(config: { [key: string]: Json }): State;
  tools?: { [name: string]: Tool<State> };
  hooks?: { [kind in HookKindName]?: HookHandler<State> };
  health?(state: State): Health;
  shutdown?(state: State): void;
  /** State to hand to the next version on a hot reload. */
  captureState?(state: State): Uint8Array | undefined;
  /** Receives what the previous version captured. */
  restoreState?(state: State, bytes: Uint8Array): void;
}

export declare function definePlugin<State>(definition: PluginDefinition<State>): Readonly<PluginDefinition<State>>;
export declare function worldOf(plugin: PluginDefinition<any>): "tool-plugin" | "hook-plugin" | "plugin";

export declare class PluginError extends Error {
  static readonly INVALID_INPUT: 400;
  static readonly NOT_FOUND: 404;
  static readonly CONFLICT: 409;
  static readonly REFUSED: 422;
  static readonly INTERNAL: 500;
  static readonly UNAVAILABLE: 503;
  constructor(code: number, message: string, details?: Json);
  readonly code: number;
  readonly errorMessage: string;
  readonly details?: Json;
  static invalidInput(message: string, details?: Json): PluginError;
  static notFound(message: string, details?: Json): PluginError;
  static internal(message: string, details?: Json): PluginError;
}

export declare const HookKind: {
  readonly BEFORE_AGENT_RUN: "before-agent-run";
  readonly AFTER_AGENT_RUN: "after-agent-run";
  readonly BEFORE_TOOL_CALL: "before-tool-call";
  readonly AFTER_TOOL_CALL: "after-tool-call";
  readonly ON_ERROR: "on-error";
  readonly ON_REASONING_STEP: "on-reasoning-step";
  custom(name: string): `custom:${string}`;
};

export declare function pass(): HookOutcome;
export declare function replace(payload: Json | object): HookOutcome;
export declare function veto(reason: string): HookOutcome;

export declare const log: {
  trace(message: string): void;
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
};

export declare const session: {
  get(key: string): Json | undefined;
  set(key: string, value: Json): void;
  delete(key: string): boolean;
  keys(): string[];
};

export declare const progress: {
  emit(chunk: string): void;
  report(done: number, total?: number, message?: string): void;
};

export interface ExecOutput {
  status: number;
  stdout: Uint8Array;
  stderr: Uint8Array;
  truncated: boolean;
}
export declare function execRun(command: string, args?: string[]): ExecOutput;
export declare const HOST_VERSIONS: string;
