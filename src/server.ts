/**
 * Starts and stops everything from a {@linkcode Config}: the store, the hub and the doors.
 *
 * One `AbortController` owns the lifetime: aborting it (or calling `shutdown`) stops the listeners, tells
 * every client in its dialect, gives writes up to two seconds to drain, then closes the store.
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { type Config, VERSION } from "./cli.ts";
import { Hub } from "./hub/hub.ts";
import { MemoryStore } from "./store/memory.ts";
import { SqliteStore } from "./store/sqlite.ts";
import { Metrics } from "./metrics.ts";
import type { Bus } from "./bus/bus.ts";
import { LocalBus } from "./bus/local.ts";
import { RedisBus } from "./bus/redis.ts";
import { RedisStore } from "./store/redis.ts";
import { ConnectionGate, type RateOptions } from "./hub/limits.ts";
import { hasAccounts, type Store } from "./store/store.ts";
import type { AttemptLimits } from "./hub/attempts.ts";
import type { ScryptParams } from "./hub/passwords.ts";
import { serveTcp } from "./tcp/listener.ts";
import { serveIrc } from "./irc/door.ts";
import { serveHttp } from "./http/server.ts";
import { createHandler } from "./http/routes.ts";
import { wsRoutes } from "./ws/routes.ts";
import { descriptorBudget } from "./net/accept.ts";
import { TlsKeys } from "./net/tls.ts";

const log = getLogger(["hubbub", "server"]);

/** How long shutdown waits for connections to drain before it lets go. */
const DRAIN_MS = 1500;

/** Options of {@linkcode startServer}. */
export interface ServerOptions {
  /** Aborting it shuts the server down. */
  readonly signal?: AbortSignal;
  /** A store to use instead of the one the config names (tests inject failing stores). */
  readonly store?: Store;
  /** TLS keys loaded already (`main.ts` loads them first, to exit 2 on a bad file); else from the config. */
  readonly tls?: TlsKeys | null;
  /** Password attempt limits instead of hubbub's (tests shorten them). */
  readonly attemptLimits?: AttemptLimits;
  /** scrypt parameters for new password hashes instead of hubbub's (tests make them cheap). */
  readonly scrypt?: ScryptParams;
  /**
   * The clock (milliseconds, like `Date.now`) the hub stamps messages with and the rate limits measure with.
   * Tests pass one they move by hand instead of waiting; by default the hub reads the wall clock and the rate
   * limits a monotonic one.
   */
  readonly clock?: () => number;
  /**
   * Continuous rate limiting for this long counts as a flood (milliseconds; default 10 000): tests shorten it
   * rather than spend the real window. Not a command-line option.
   */
  readonly floodAfterMs?: number;
}

/** A running hubbub. */
export interface Server {
  /** The hub, for tests and in-process embedding. */
  readonly hub: Hub;
  /** Bound TCP address, or `null` when the TCP door is off. */
  readonly tcp: Deno.NetAddr | null;
  /** Bound HTTP address, or `null` when the HTTP door is off. */
  readonly http: Deno.NetAddr | null;
  /** Bound IRC address, or `null` when the IRC door is off. */
  readonly irc: Deno.NetAddr | null;
  /** Resolves once everything has stopped. */
  readonly finished: Promise<void>;
  /** Open sockets of every door, as the connection gate counts them (HTTP, WebSocket, TCP). */
  sockets(): number;
  /** The TLS keys every listener serves, or `null` without TLS; `reload()` them on SIGHUP. */
  readonly tls: TlsKeys | null;
  /** Stops the server gracefully; resolves when it has stopped. */
  shutdown(): Promise<void>;
}

/** Opens the store the config names (Redis with `--redis`). Throws when a SQLite file cannot be opened. */
export function openStore(config: Config, metrics: Metrics = new Metrics()): Store {
  const retention = { limit: config.historyLimit, maxAgeMs: config.historyAgeMs };
  if (config.redis) {
    return new RedisStore({
      url: config.redis,
      retention,
      latency: metrics.redisLatency,
      timeoutMs: config.redisTimeoutMs,
    });
  }
  if (config.store.kind === "memory") return new MemoryStore({ retention });
  return new SqliteStore({ path: config.store.path, retention, sync: config.storeSync });
}

/** The bus the config names: Redis with `--redis`, the in-process one otherwise. */
export function openBus(config: Config, metrics: Metrics): Bus {
  if (!config.redis) return new LocalBus();
  const node = config.nodeId ?? `n${Deno.pid}-${crypto.randomUUID().slice(0, 6)}`;
  return new RedisBus({
    url: config.redis,
    node,
    presenceTtlMs: config.presenceTtlMs,
    counters: metrics,
    timeoutMs: config.redisTimeoutMs,
  });
}

/** A view of `bus` whose `publish` drops messages and DMs: the store already published them. */
function storePublished(bus: Bus): Bus {
  return {
    get node() {
      return bus.node;
    },
    publish: (event) => {
      if (event.kind !== "message" && event.kind !== "dm") bus.publish(event);
    },
    subscribe: (handler) => bus.subscribe(handler),
    claim: (key, name, token) => bus.claim(key, name, token),
    release: (key) => bus.release(key),
    ready: () => bus.ready(),
    close: () => bus.close(),
  };
}

/**
 * The TLS keys the config names (`--tls-cert`/`--tls-key`, or `--tls-self-signed`), checked; `null` without
 * TLS. Throws `TlsError` naming the file and why.
 */
export function tlsFromConfig(config: Config): TlsKeys | null {
  if (config.tlsSelfSigned) return TlsKeys.load({ kind: "self-signed" });
  if (config.tlsCert === null || config.tlsKey === null) return null;
  return TlsKeys.load({ kind: "files", cert: config.tlsCert, key: config.tlsKey });
}

/** What every door is started with. */
interface DoorContext {
  readonly config: Config;
  /** TLS for every listener, or `null`. */
  readonly tls: TlsKeys | null;
  readonly hub: Hub;
  readonly gate: ConnectionGate;
  readonly metrics: Metrics;
  readonly signal: AbortSignal;
  /** Whether the server is ready to serve (for `/readyz`). */
  readonly ready: () => boolean;
  /** Every door's inbound rate limit: the configured rate and burst, the flood window and clock of the options. */
  readonly rate: RateOptions;
}

/** A door that is listening. */
interface RunningDoor {
  readonly addr: Deno.NetAddr;
  readonly finished: Promise<void>;
}

/** Starts hubbub. */
export function startServer(config: Config, options: ServerOptions = {}): Server {
  // TLS first: a certificate that cannot be used stops the start before anything is opened.
  const tls = options.tls !== undefined ? options.tls : tlsFromConfig(config);
  if (tls) log.info("TLS on every listener", { fingerprint: tls.fingerprint, selfSigned: tls.selfSigned });
  const controller = new AbortController();
  options.signal?.addEventListener("abort", () => controller.abort(), { once: true });
  const metrics = new Metrics();
  const store = options.store ?? openStore(config, metrics);
  const bus = openBus(config, metrics);
  const hub = openHub(config, options, { metrics, store, bus });
  const gate = openGate(config);
  const context: DoorContext = {
    config,
    tls,
    hub,
    gate,
    metrics,
    signal: controller.signal,
    // Listeners are up once a request can ask; readiness ends when shutdown begins.
    ready: () => !controller.signal.aborted && (store.ready?.() ?? true) && bus.ready(),
    rate: {
      rate: config.rate,
      burst: config.burst,
      ...(options.floodAfterMs === undefined ? {} : { floodAfterMs: options.floodAfterMs }),
      ...(options.clock === undefined ? {} : { now: options.clock }),
    },
  };
  let tcp: RunningDoor | null = null;
  let http: RunningDoor | null = null;
  let irc: RunningDoor | null = null;
  try {
    tcp = tcpDoor(context);
    http = httpDoor(context);
    irc = ircDoor(context);
  } catch (error) {
    controller.abort();
    void store.close();
    void bus.close();
    throw error;
  }
  const finished = stopped(controller.signal, hub, [tcp, http, irc], async () => {
    // Leaving the cluster at once: other nodes drop this node's members now, not after the presence TTL.
    await bus.close();
    await store.close();
  });
  return {
    hub,
    tcp: tcp?.addr ?? null,
    http: http?.addr ?? null,
    irc: irc?.addr ?? null,
    finished,
    sockets: () => gate.total,
    tls,
    shutdown() {
      controller.abort();
      return finished;
    },
  };
}

/** The hub over the store and the bus, with the config's limits and the options' test knobs. */
function openHub(
  config: Config,
  options: ServerOptions,
  parts: { readonly metrics: Metrics; readonly store: Store; readonly bus: Bus },
): Hub {
  const { metrics, store, bus } = parts;
  return new Hub({
    metrics,
    // In a Redis cluster the store's append already published each message, in the one atomic step that
    // numbered it: the hub's own publish of messages is dropped there, and only there.
    bus: config.redis ? storePublished(bus) : bus,
    maxRooms: config.maxRooms,
    listLimit: config.listLimit,
    maxName: config.maxName,
    maxRoomName: config.maxRoomName,
    store,
    presenceIntervalMs: config.presenceIntervalMs,
    accounts: {
      mode: config.accounts,
      // Accounts live in the same store as history (a SQLite table, a Redis hash in a cluster, or memory).
      store: hasAccounts(store) ? store : null,
      ...(options.attemptLimits ? { limits: options.attemptLimits } : {}),
      ...(options.scrypt ? { scrypt: options.scrypt } : {}),
    },
    ...(options.clock === undefined ? {} : { now: options.clock }),
  });
}

/**
 * The connection gate every door shares. Running out of file descriptors must refuse connections, not crash:
 * it never admits more than the open-file limit allows.
 */
function openGate(config: Config): ConnectionGate {
  const budget = descriptorBudget();
  let maxConnections = config.maxConnections;
  if (budget !== null && (maxConnections === 0 || maxConnections > budget)) {
    log.warn("max-connections lowered to {budget} by the open-file limit (ulimit -n)", {
      budget,
      configured: config.maxConnections,
    });
    maxConnections = budget;
  }
  return new ConnectionGate({ maxConnections, maxPerIp: config.maxConnectionsPerIp });
}

/** The TCP line door (command and MaChat dialects), unless it is off. */
function tcpDoor({ config, tls, hub, gate, signal, rate }: DoorContext): RunningDoor | null {
  if (!config.tcp) return null;
  return serveTcp({
    hub,
    tls,
    hostname: config.tcp.hostname,
    port: config.tcp.port,
    reusePort: config.reusePort,
    maxLineBytes: config.maxLineBytes,
    maxQueueBytes: config.maxQueueBytes,
    idleTimeoutMs: config.idleTimeoutMs,
    loginTimeoutMs: config.loginTimeoutMs,
    gate,
    rate,
    machatHistoryOnJoin: config.machatHistoryOnJoin,
    signal,
  });
}

/** The IRC door, unless it is off. */
function ircDoor({ config, tls, hub, gate, signal, rate }: DoorContext): RunningDoor | null {
  if (!config.irc) return null;
  return serveIrc({
    hub,
    tls,
    hostname: config.irc.hostname,
    port: config.irc.port,
    reusePort: config.reusePort,
    maxQueueBytes: config.maxQueueBytes,
    idleTimeoutMs: config.idleTimeoutMs,
    loginTimeoutMs: config.loginTimeoutMs,
    gate,
    rate,
    historyOnJoin: config.historyOnJoin,
    maxRooms: config.maxRooms,
    version: VERSION,
    signal,
  });
}

/** The HTTP door with the WebSocket door riding on it, unless it is off. */
function httpDoor({ config, tls, hub, gate, metrics, signal, ready, rate }: DoorContext): RunningDoor | null {
  if (!config.http) return null;
  // The WebSocket door rides on the HTTP listener: its routes join the HTTP door's table.
  const routes = wsRoutes({
    hub,
    maxFrameBytes: config.maxFrameBytes,
    maxQueueBytes: config.maxQueueBytes,
    idleTimeoutMs: config.idleTimeoutMs,
    allowOrigins: config.allowOrigins,
    rate,
    loginTimeoutMs: config.loginTimeoutMs,
    gochatHistoryOnJoin: config.historyOnJoin,
    machatHistoryOnJoin: config.machatHistoryOnJoin,
    signal,
  });
  return serveHttp({
    hostname: config.http.hostname,
    port: config.http.port,
    reusePort: config.reusePort,
    handler: createHandler({ hub, routes, metrics, ready }),
    tls,
    gate,
    headerTimeoutMs: config.headerTimeoutMs,
    keepAliveMs: config.keepAliveMs,
    signal,
  });
}

/**
 * Once `signal` aborts: tells every client, waits for the doors to drain (at most {@linkcode DRAIN_MS}), then
 * runs `close`. Resolves when all that is done.
 */
async function stopped(
  signal: AbortSignal,
  hub: Hub,
  doors: readonly (RunningDoor | null)[],
  close: () => Promise<void>,
): Promise<void> {
  await new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
  log.info("shutting down", { connections: hub.connections });
  hub.shutdown();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const drained = await Promise.race([
    Promise.allSettled(doors.flatMap((door) => door ? [door.finished] : [])).then(() => true),
    new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), DRAIN_MS)),
  ]);
  clearTimeout(timer);
  if (!drained) log.warn("shutdown: some connections did not drain in time");
  await close();
  log.info("stopped");
}
