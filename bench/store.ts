/**
 * Store micro-benchmark (issue 5): append throughput and append latency of the history store, measured
 * in process on the store class the server uses, with the server's defaults (`sync: "full"`, retention
 * 1000 per room), against `sync: "normal"`, the memory store, and the disk's own fsync time.
 *
 * Two loads: `serial` (one append at a time, each awaited: the latency a lone chatter sees) and `burst`
 * (10 rooms' worth of senders with 16 appends in flight each: what batching buys under load).
 * `deno run --allow-read --allow-write --allow-env bench/store.ts [--quick] [--dir DIR] [--root HUBBUB_DIR]`; prints one JSON line.
 * @module
 */

import type { SqliteStore } from "../src/store/sqlite.ts";
import type { MemoryStore } from "../src/store/memory.ts";
import type { Store } from "../src/store/store.ts";
import { Histogram } from "./_wire.ts";

/** One measured load. */
export interface StoreRun {
  /** Which store and setting. */
  readonly store: string;
  /** `serial` or `burst`. */
  readonly load: string;
  /** Appends per second. */
  readonly perSecond: number;
  /** Latency from `append()` to its promise resolving, microseconds. */
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  /** Appends measured. */
  readonly appends: number;
}

async function serial(store: Store, ms: number): Promise<[number, Histogram]> {
  const h = new Histogram();
  const end = performance.now() + ms;
  let n = 0;
  const started = performance.now();
  while (performance.now() < end) {
    const t = performance.now();
    await store.append({ room: "lobby", time: Date.now(), from: "u1", text: `message ${n}`, conn: "c_1" });
    h.record((performance.now() - t) * 1000);
    n++;
  }
  return [n / ((performance.now() - started) / 1000), h];
}

async function burst(store: Store, ms: number, senders = 10, window = 16): Promise<[number, Histogram]> {
  const h = new Histogram();
  const end = performance.now() + ms;
  let n = 0;
  const started = performance.now();
  const sender = async (s: number) => {
    const lane = async () => {
      while (performance.now() < end) {
        const t = performance.now();
        await store.append({
          room: "lobby",
          time: Date.now(),
          from: `u${s}`,
          text: `message ${n} from ${s}`,
          conn: `c_${s}`,
        });
        h.record((performance.now() - t) * 1000);
        n++;
      }
    };
    await Promise.all(Array.from({ length: window }, lane));
  };
  await Promise.all(Array.from({ length: senders }, (_, s) => sender(s)));
  return [n / ((performance.now() - started) / 1000), h];
}

function fsyncTime(dir: string, count: number): Histogram {
  const h = new Histogram();
  const path = `${dir}/fsync.bin`;
  const file = Deno.openSync(path, { write: true, create: true, truncate: true });
  const data = new Uint8Array(512);
  for (let i = 0; i < count; i++) {
    file.writeSync(data);
    const t = performance.now();
    file.syncSync();
    h.record((performance.now() - t) * 1000);
  }
  file.close();
  Deno.removeSync(path);
  return h;
}

/** The store classes of a hubbub checkout (`root`: its directory; this repository by default). */
async function storeClasses(root: string): Promise<
  { SqliteStore: typeof SqliteStore; MemoryStore: typeof MemoryStore }
> {
  const base = new URL(`file://${root.replace(/\/$/, "")}/src/store/`);
  const sqlite = await import(new URL("sqlite.ts", base).href);
  const memory = await import(new URL("memory.ts", base).href);
  return { SqliteStore: sqlite.SqliteStore, MemoryStore: memory.MemoryStore };
}

/** Runs every load on every store; `ms` per load. */
export async function storeBench(
  dir: string,
  ms: number,
  root = new URL("../", import.meta.url).pathname,
): Promise<{ runs: StoreRun[]; fsync: StoreRun }> {
  const { SqliteStore, MemoryStore } = await storeClasses(root);
  const runs: StoreRun[] = [];
  const retention = { limit: 1000, maxAgeMs: 0 };
  const stores: [string, () => Store][] = [
    ["sqlite (default: sync full)", () => new SqliteStore({ path: `${dir}/full.db`, retention })],
    ["sqlite sync normal", () => new SqliteStore({ path: `${dir}/normal.db`, retention, sync: "normal" })],
    ["memory", () => new MemoryStore({ retention })],
  ];
  for (const [name, open] of stores) {
    for (const [load, fn] of [["serial", serial], ["burst 10x16", burst]] as const) {
      const store = open();
      // Warm up: prepared statements, page cache, JIT.
      await fn(store, Math.min(200, ms / 4));
      const [perSecond, h] = await fn(store, ms);
      await store.close();
      runs.push({
        store: name,
        load,
        perSecond,
        p50: h.quantile(0.5),
        p99: h.quantile(0.99),
        max: h.max,
        appends: h.count,
      });
    }
  }
  const f = fsyncTime(dir, Math.max(50, Math.round(ms / 10)));
  const fsync = {
    store: "fsync of a 512-byte write",
    load: "serial",
    perSecond: 1e6 / (f.sum / f.count),
    p50: f.quantile(0.5),
    p99: f.quantile(0.99),
    max: f.max,
    appends: f.count,
  };
  return { runs, fsync };
}

if (import.meta.main) {
  const quick = Deno.args.includes("--quick");
  const i = Deno.args.indexOf("--dir");
  const dir = i === -1 ? Deno.makeTempDirSync({ prefix: "hubbub-store-bench-" }) : Deno.args[i + 1]!;
  Deno.mkdirSync(dir, { recursive: true });
  const r = Deno.args.indexOf("--root");
  const result = await storeBench(dir, quick ? 600 : 4000, r === -1 ? undefined : Deno.args[r + 1]);
  for (const entry of Deno.readDirSync(dir)) {
    if (/\.db(-wal|-shm)?$/.test(entry.name)) Deno.removeSync(`${dir}/${entry.name}`);
  }
  if (i === -1) Deno.removeSync(dir, { recursive: true });
  Deno.stdout.writeSync(new TextEncoder().encode(JSON.stringify(result) + "\n"));
}
