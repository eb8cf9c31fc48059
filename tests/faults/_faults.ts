/**
 * Helpers of the fault tests: hubbub nodes as child processes (`deno run main.ts`), their readiness, their
 * memory, and clocks for "at once".
 * @module
 */

import assert from "node:assert/strict";
import { Child, eventually } from "../_helpers.ts";
import { RedisServer } from "../_redis.ts";

/** A hubbub child process, up (its listeners bound). */
export interface Node extends AsyncDisposable {
  readonly id: string;
  readonly child: Child;
  readonly tcp: Deno.NetAddr;
  readonly http: Deno.NetAddr;
}

/** Options of {@linkcode startNode}. */
export interface NodeOptions {
  /** `--redis` URL; without it the node runs alone on `--store` (memory unless `args` says otherwise). */
  readonly redis?: RedisServer;
  /** Node id (`--node-id`), shown in its log records. */
  readonly id?: string;
  /** More command-line arguments. */
  readonly args?: readonly string[];
  /** Runs the node through this command first (see {@linkcode Child}). */
  readonly via?: readonly string[];
  /** V8 flags of the child (`--v8-flags=...`). */
  readonly v8Flags?: string;
  /** Wait for `/readyz` 200 before resolving (the default). */
  readonly ready?: boolean;
}

/** Starts a node on loopback ports chosen by the system, with JSON logs and no rate limit. */
export async function startNode(options: NodeOptions = {}): Promise<Node> {
  const id = options.id ?? "A";
  const child = new Child([
    "run",
    ...(options.v8Flags ? [`--v8-flags=${options.v8Flags}`] : []),
    "-P=server",
    "main.ts",
    "--tcp",
    "127.0.0.1:0",
    "--http",
    "127.0.0.1:0",
    "--log-format",
    "json",
    "--rate",
    "0",
    ...(options.redis ? ["--redis", options.redis.url, "--node-id", id] : []),
    ...(options.args ?? []),
  ], options.via ? { via: options.via } : {});
  try {
    const [tcp, http] = await Promise.all([child.tcpAddr(), child.httpAddr()]);
    if (options.ready ?? true) {
      await eventually(async () => (await status(http, "/readyz")) === 200, `node ${id} is ready`, 10_000);
    }
    return { id, child, tcp, http, [Symbol.asyncDispose]: () => child[Symbol.asyncDispose]() };
  } catch (error) {
    await child[Symbol.asyncDispose]();
    throw error;
  }
}

/** The status of a GET, or 0 when nothing answers within `ms`. */
export async function status(addr: Deno.NetAddr, path: string, ms = 5000): Promise<number> {
  try {
    const response = await fetch(`http://${addr.hostname}:${addr.port}${path}`, {
      signal: AbortSignal.timeout(ms),
    });
    await response.body?.cancel();
    return response.status;
  } catch {
    return 0;
  }
}

/** Runs `fn` and resolves with its result and how long it took (milliseconds). */
export async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await fn();
  return { value, ms: performance.now() - started };
}

/** Asserts that `fn` settles within `ms` milliseconds, and resolves with its result. */
export async function within<T>(ms: number, what: string, fn: () => Promise<T>): Promise<T> {
  const { value, ms: took } = await timed(fn);
  assert.ok(took < ms, `${what}: took ${Math.round(took)} ms, more than ${ms}`);
  return value;
}

/** Resident memory of a process in bytes (`ps -o rss=`; Deno asks for every permission to read `/proc`). */
export async function rss(pid: number): Promise<number> {
  const { stdout } = await new Deno.Command("ps", {
    args: ["-o", "rss=", "-p", String(pid)],
    stdout: "piped",
  })
    .output();
  const kib = Number(new TextDecoder().decode(stdout).trim());
  assert.ok(Number.isFinite(kib) && kib > 0, `RSS of ${pid}`);
  return kib * 1024;
}

/** Log records of a child at `level` (e.g. `WARNING`) whose message starts with `prefix`. */
export function records(child: Child, level: string, prefix: string): Record<string, unknown>[] {
  return child.records.filter((r) => r.level === level && String(r.message).startsWith(prefix));
}

/** Whether redis-server is installed; fault tests of Redis skip (with one line) without it, unless CI=true. */
export const HAVE_REDIS = await RedisServer.available();

/** A test that needs redis-server: ignored without it, a failure without it under CI=true. */
export function redisTest(name: string, fn: () => Promise<void>): void {
  const skip = !HAVE_REDIS && Deno.env.get("CI") !== "true";
  Deno.test({
    name,
    ignore: skip,
    fn: async () => {
      assert.ok(HAVE_REDIS, "redis-server is not installed, and CI=true needs the fault tests to run");
      await fn();
    },
  });
}
