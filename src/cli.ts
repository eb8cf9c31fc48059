/**
 * Command line and environment → a validated {@linkcode Config}.
 *
 * Every flag can also come from an environment variable `HUBBUB_*` (flags win). Bad values are refused
 * with one line and exit code 2, before anything starts.
 * @module
 */

import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { parse as parseToml } from "smol-toml";
import denoJson from "../deno.json" with { type: "json" };
import { LOG_LEVELS, type LogLevel } from "./log.ts";

/** A listen address. */
export interface HostPort {
  /** Interface to bind (`0.0.0.0`, `127.0.0.1`, `::`). */
  readonly hostname: string;
  /** Port; 0 picks a free one. */
  readonly port: number;
}

/** Where history lives: in memory (gone at exit) or in a SQLite file. */
export type StoreSpec = { readonly kind: "memory" } | { readonly kind: "sqlite"; readonly path: string };

/** Everything hubbub needs to start; `main.ts` builds it from the command line, tests build it directly. */
export interface Config {
  /** TCP line protocol listener; `null` disables it. */
  readonly tcp: HostPort | null;
  /** HTTP and WebSocket listener; `null` disables it. */
  readonly http: HostPort | null;
  /** Close connections quiet for this long (milliseconds). */
  readonly idleTimeoutMs: number;
  /** Close connections that have not logged in after this long (milliseconds). */
  readonly loginTimeoutMs: number;
  /** HTTP: a request head (and body) must arrive within this long (milliseconds). */
  readonly headerTimeoutMs: number;
  /** HTTP: an idle keep-alive connection is closed after this long (milliseconds). */
  readonly keepAliveMs: number;
  /** Longest TCP line in bytes. */
  readonly maxLineBytes: number;
  /** Outbound bytes queued per connection before it is dropped as a slow reader. */
  readonly maxQueueBytes: number;
  /** Largest WebSocket frame accepted, in bytes. */
  readonly maxFrameBytes: number;
  /** Origins allowed to open WebSockets besides the same origin (`*`, `null`, or origins). */
  readonly allowOrigins: readonly string[];
  /** Full user lists go to a room at most this often (milliseconds). */
  readonly presenceIntervalMs: number;
  /** Full-list frames and pages carry at most this many names (with the total). */
  readonly listLimit: number;
  /** Most open connections in total; 0 means unlimited. */
  readonly maxConnections: number;
  /** Most open connections from one IP address; 0 means unlimited. */
  readonly maxConnectionsPerIp: number;
  /** Inbound lines or frames per second per connection; 0 means unlimited. */
  readonly rate: number;
  /** How many lines or frames may arrive at once before the rate applies. */
  readonly burst: number;
  /** Rooms one connection may be in at once. */
  readonly maxRooms: number;
  /** Longest member name, in characters (at most 32, the protocol's limit). */
  readonly maxName: number;
  /** Longest room name, in characters (at most 64, the protocol's limit). */
  readonly maxRoomName: number;
  /** Where history lives. */
  readonly store: StoreSpec;
  /** `full`: fsync each batch before acknowledging; `normal`: survive a crash of hubbub, not of the OS. */
  readonly storeSync: "full" | "normal";
  /** Messages kept per room and per DM pair. */
  readonly historyLimit: number;
  /** Messages older than this are pruned (milliseconds); 0 keeps them regardless of age. */
  readonly historyAgeMs: number;
  /** Messages replayed to goChat clients when they join; 0 turns it off. */
  readonly historyOnJoin: number;
  /** Messages replayed to MaChat clients (TCP and `/mychat`) when they join; 0 (the default) turns it off. */
  readonly machatHistoryOnJoin: number;
  /** Redis URL: when set, the store and the bus are Redis and processes form one cluster. */
  readonly redis: string | null;
  /** Processes to run on this machine (sharing the ports); more than one needs `redis`. */
  readonly workers: number;
  /** A node whose heartbeat is older than this is gone, with its members (milliseconds). */
  readonly presenceTtlMs: number;
  /** A Redis command unanswered this long fails, and the node is not ready until Redis answers (milliseconds). */
  readonly redisTimeoutMs: number;
  /** This process's id in the cluster; generated when not given. */
  readonly nodeId: string | null;
  /** Listen with SO_REUSEPORT (set for the workers of `--workers`). */
  readonly reusePort: boolean;
  /** `json` (one JSON object per line) or `pretty` (for people). */
  readonly logFormat: "json" | "pretty";
  /** Lowest level logged. */
  readonly logLevel: LogLevel;
}

/** hubbub's version, from `deno.json`. */
export const VERSION: string = denoJson.version;

/** The embedded defaults: `deno task start` with no flags runs on these. */
export const DEFAULTS = {
  tcp: { hostname: "0.0.0.0", port: 4000 },
  http: { hostname: "0.0.0.0", port: 8080 },
  idleTimeoutMs: 60_000,
  loginTimeoutMs: 30_000,
  headerTimeoutMs: 10_000,
  keepAliveMs: 30_000,
  maxLineBytes: 8 * 1024,
  maxQueueBytes: 1024 * 1024,
  maxFrameBytes: 64 * 1024,
  allowOrigins: [],
  presenceIntervalMs: 250,
  listLimit: 1000,
  maxConnections: 10_000,
  maxConnectionsPerIp: 100,
  rate: 10,
  burst: 30,
  maxRooms: 50,
  maxName: 32,
  maxRoomName: 64,
  store: { kind: "sqlite", path: "./hubbub.db" },
  storeSync: "full",
  historyLimit: 1000,
  historyAgeMs: 0,
  historyOnJoin: 20,
  machatHistoryOnJoin: 0,
  redis: null,
  workers: 1,
  presenceTtlMs: 15_000,
  redisTimeoutMs: 2000,
  nodeId: null,
  reusePort: false,
  logFormat: "json",
  logLevel: "info",
} as const satisfies Config;

/** What {@linkcode parseCli} decided: run with a config, or exit with a code (help, version, bad flag). */
export type CliOutcome = { readonly config: Config } | { readonly exit: number };

/** Where {@linkcode parseCli} writes help, version and errors; injectable for tests. */
export interface CliOutput {
  /** Help and version text. */
  readonly out: (text: string) => void;
  /** The one-line error for a bad flag. */
  readonly err: (text: string) => void;
  /** Whether stderr is a terminal (picks the default log format). */
  readonly tty: boolean;
}

/** Parses `argv` (without the program name) and `HUBBUB_*` variables into a config. */
export function parseCli(argv: readonly string[], output: CliOutput): CliOutcome {
  const program = new Command("hubbub")
    .description("Rooms, DMs and history for browsers, ncat and older chat clients, in one program.")
    .argument("[command]", "what to do; 'serve' (the default) is the only command", "serve")
    .version(`hubbub ${VERSION} (deno ${Deno.version.deno})`, "-V, --version", "print the version and exit")
    .helpOption("-h, --help", "show this help and exit")
    .addOption(
      new Option("--tcp <host:port>", "TCP line protocol listener, or 'off'")
        .env("HUBBUB_TCP").argParser(hostPort).default(DEFAULTS.tcp, "0.0.0.0:4000"),
    )
    .addOption(
      new Option("--http <host:port>", "HTTP and WebSocket listener, or 'off'")
        .env("HUBBUB_HTTP").argParser(hostPort).default(DEFAULTS.http, "0.0.0.0:8080"),
    )
    .addOption(
      new Option("--idle-timeout <duration>", "close connections quiet this long (e.g. 60s, 5m)")
        .env("HUBBUB_IDLE_TIMEOUT").argParser(duration).default(DEFAULTS.idleTimeoutMs, "60s"),
    )
    .addOption(
      new Option("--login-timeout <duration>", "close connections that have not logged in after this long")
        .env("HUBBUB_LOGIN_TIMEOUT").argParser(duration).default(DEFAULTS.loginTimeoutMs, "30s"),
    )
    .addOption(
      new Option("--header-timeout <duration>", "HTTP: a request head must arrive within this long")
        .env("HUBBUB_HEADER_TIMEOUT").argParser(duration).default(DEFAULTS.headerTimeoutMs, "10s"),
    )
    .addOption(
      new Option("--keep-alive <duration>", "HTTP: close an idle keep-alive connection after this long")
        .env("HUBBUB_KEEP_ALIVE").argParser(duration).default(DEFAULTS.keepAliveMs, "30s"),
    )
    .addOption(
      new Option("--max-line <size>", "longest TCP line (e.g. 8KiB)")
        .env("HUBBUB_MAX_LINE").argParser(size).default(DEFAULTS.maxLineBytes, "8KiB"),
    )
    .addOption(
      new Option("--max-frame <size>", "largest WebSocket frame (e.g. 64KiB)")
        .env("HUBBUB_MAX_FRAME").argParser(size).default(DEFAULTS.maxFrameBytes, "64KiB"),
    )
    .addOption(
      new Option("--allow-origin <origin>", "also accept WebSockets from this origin (repeatable; * for any)")
        .env("HUBBUB_ALLOW_ORIGIN").argParser(origins).default([], "same origin only"),
    )
    .addOption(
      new Option("--max-queue <size>", "outbound bytes queued per connection before a slow reader is dropped")
        .env("HUBBUB_MAX_QUEUE").argParser(size).default(DEFAULTS.maxQueueBytes, "1MiB"),
    )
    .addOption(
      new Option("--presence-interval <duration>", "send full user lists to a room at most this often")
        .env("HUBBUB_PRESENCE_INTERVAL").argParser(duration).default(DEFAULTS.presenceIntervalMs, "250ms"),
    )
    .addOption(
      new Option(
        "--list-limit <n>",
        "names per user-list frame or page in big rooms (the total is always sent)",
      )
        .env("HUBBUB_LIST_LIMIT").argParser(bounded(1, 100_000)).default(DEFAULTS.listLimit),
    )
    .addOption(
      new Option("--max-connections <n>", "most open connections in total; 0 = unlimited")
        .env("HUBBUB_MAX_CONNECTIONS").argParser(integer).default(DEFAULTS.maxConnections),
    )
    .addOption(
      new Option("--max-connections-per-ip <n>", "most open connections from one IP address; 0 = unlimited")
        .env("HUBBUB_MAX_CONNECTIONS_PER_IP").argParser(integer).default(DEFAULTS.maxConnectionsPerIp),
    )
    .addOption(
      new Option(
        "--rate <n>",
        "lines or frames per second per connection (then slowed, then dropped); 0 = off",
      )
        .env("HUBBUB_RATE").argParser(integer).default(DEFAULTS.rate),
    )
    .addOption(
      new Option("--burst <n>", "lines or frames that may arrive at once before --rate applies")
        .env("HUBBUB_BURST").argParser(integer).default(DEFAULTS.burst),
    )
    .addOption(
      new Option("--max-rooms <n>", "rooms one connection may be in at once")
        .env("HUBBUB_MAX_ROOMS").argParser(integer).default(DEFAULTS.maxRooms),
    )
    .addOption(
      new Option("--max-name <n>", "longest member name (1-32 characters)")
        .env("HUBBUB_MAX_NAME").argParser(bounded(1, 32)).default(DEFAULTS.maxName),
    )
    .addOption(
      new Option("--max-room-name <n>", "longest room name (1-64 characters)")
        .env("HUBBUB_MAX_ROOM_NAME").argParser(bounded(1, 64)).default(DEFAULTS.maxRoomName),
    )
    .addOption(
      new Option("--store <store>", "where history lives: sqlite:PATH or memory")
        .env("HUBBUB_STORE").argParser(store).default(DEFAULTS.store, "sqlite:./hubbub.db"),
    )
    .addOption(
      new Option(
        "--store-sync <mode>",
        "full: fsync before acknowledging; normal: survive crashes of hubbub only",
      )
        .env("HUBBUB_STORE_SYNC").choices(["full", "normal"]).default(DEFAULTS.storeSync),
    )
    .addOption(
      new Option("--history-limit <n>", "messages kept per room and per DM pair")
        .env("HUBBUB_HISTORY_LIMIT").argParser(integer).default(DEFAULTS.historyLimit),
    )
    .addOption(
      new Option("--history-age <duration>", "also prune messages older than this (e.g. 30d), or 'off'")
        .env("HUBBUB_HISTORY_AGE").argParser(age).default(DEFAULTS.historyAgeMs, "off"),
    )
    .addOption(
      new Option("--history-on-join <n>", "recent messages replayed to goChat clients on join; 0 = off")
        .env("HUBBUB_HISTORY_ON_JOIN").argParser(integer).default(DEFAULTS.historyOnJoin),
    )
    .addOption(
      new Option(
        "--machat-history-on-join <n>",
        "recent messages replayed to MaChat clients on join (shown as live lines); 0 = off",
      )
        .env("HUBBUB_MACHAT_HISTORY_ON_JOIN").argParser(integer).default(DEFAULTS.machatHistoryOnJoin),
    )
    .addOption(
      new Option(
        "--redis <url>",
        "join a cluster: history, names and presence in Redis (redis://host:6379/0)",
      )
        .env("HUBBUB_REDIS_URL").argParser(redisUrl),
    )
    .addOption(
      new Option("--workers <n>", "processes to run on this machine, sharing the ports (needs --redis)")
        .env("HUBBUB_WORKERS").argParser(bounded(1, 64)).default(DEFAULTS.workers),
    )
    .addOption(
      new Option("--presence-ttl <duration>", "a cluster node silent this long is gone, with its members")
        .env("HUBBUB_PRESENCE_TTL").argParser(duration).default(DEFAULTS.presenceTtlMs, "15s"),
    )
    .addOption(
      new Option(
        "--redis-timeout <duration>",
        "a Redis command unanswered this long fails; the node is not ready until Redis answers",
      )
        .env("HUBBUB_REDIS_TIMEOUT").argParser(duration).default(DEFAULTS.redisTimeoutMs, "2s"),
    )
    .addOption(
      new Option("--node-id <id>", "this process's name in the cluster (default: generated)")
        .env("HUBBUB_NODE_ID").argParser(nodeId),
    )
    .addOption(
      new Option("--reuse-port", "share the listening ports; set for the workers of --workers").hideHelp(),
    )
    .addOption(
      new Option("--log-format <format>", "log format (default: pretty on a terminal, json otherwise)")
        .env("HUBBUB_LOG_FORMAT").choices(["json", "pretty"]),
    )
    .addOption(
      new Option("--log-level <level>", "lowest level logged")
        .env("HUBBUB_LOG_LEVEL").choices(LOG_LEVELS).default(DEFAULTS.logLevel),
    )
    .addOption(
      new Option("--config <file>", "read options from a JSON or TOML file (keys are option names)")
        .env("HUBBUB_CONFIG"),
    )
    .addHelpText(
      "after",
      "\nEvery option can also be set with its HUBBUB_* environment variable or in the --config file;\n" +
        "flags win over the environment, which wins over the file.\n" +
        "Open http://localhost:8080 in a browser, or chat from a terminal: ncat localhost 4000",
    )
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeOut: output.out,
      writeErr: output.err,
      // Plain text always: asking commander to detect colour would read FORCE_COLOR and friends.
      getOutHasColors: () => false,
      getErrHasColors: () => false,
      outputError: (text, write) => write(text.trimEnd().replace(/\n+/g, " ") + "\n"),
    });

  try {
    const file = configPath(argv);
    if (file !== undefined) applyConfigFile(program, file);
    program.parse(argv as string[], { from: "user" });
  } catch (error) {
    if (error instanceof CommanderError) {
      const clean = error.code === "commander.helpDisplayed" || error.code === "commander.version" ||
        error.code === "commander.help";
      return { exit: clean ? 0 : 2 };
    }
    throw error;
  }
  const [command] = program.args;
  if (command !== undefined && command !== "serve") {
    output.err(`error: unknown command '${command}' (the only command is 'serve'; see --help)\n`);
    return { exit: 2 };
  }
  const o = program.opts();
  if (o.workers > 1 && !o.redis) {
    output.err(
      "error: --workers needs --redis (worker processes share rooms, names and history through Redis)\n",
    );
    return { exit: 2 };
  }
  return {
    config: {
      // commander turns a parser's `null` into "": `off` arrives here as a falsy value.
      tcp: o.tcp || null,
      http: o.http || null,
      idleTimeoutMs: o.idleTimeout,
      loginTimeoutMs: o.loginTimeout,
      headerTimeoutMs: o.headerTimeout,
      keepAliveMs: o.keepAlive,
      maxLineBytes: o.maxLine,
      maxQueueBytes: o.maxQueue,
      maxFrameBytes: o.maxFrame,
      allowOrigins: o.allowOrigin,
      presenceIntervalMs: o.presenceInterval,
      listLimit: o.listLimit,
      maxConnections: o.maxConnections,
      maxConnectionsPerIp: o.maxConnectionsPerIp,
      rate: o.rate,
      burst: o.burst,
      maxRooms: o.maxRooms,
      maxName: o.maxName,
      maxRoomName: o.maxRoomName,
      store: o.store,
      storeSync: o.storeSync,
      historyLimit: o.historyLimit,
      historyAgeMs: o.historyAge,
      historyOnJoin: o.historyOnJoin,
      machatHistoryOnJoin: o.machatHistoryOnJoin,
      redis: o.redis ?? null,
      workers: o.workers,
      presenceTtlMs: o.presenceTtl,
      redisTimeoutMs: o.redisTimeout,
      nodeId: o.nodeId ?? null,
      reusePort: o.reusePort === true,
      logFormat: o.logFormat ?? (output.tty ? "pretty" : "json"),
      logLevel: o.logLevel,
    },
  };
}

/** The `--config` file named on the command line or in `HUBBUB_CONFIG`, read before the real parse. */
function configPath(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") break;
    if (arg === "--config") return argv[i + 1];
    if (arg.startsWith("--config=")) return arg.slice("--config=".length);
  }
  return Deno.env.get("HUBBUB_CONFIG") || undefined;
}

/**
 * Loads a JSON or TOML file into the program's option values with source `config`, so that the environment
 * and flags still override them. Keys are option names (`idle-timeout`, or `idleTimeout`); values go through
 * the same parsers as flags. Errors become commander errors: one line, exit 2.
 */
function applyConfigFile(program: Command, file: string): void {
  const fail = (message: string): never =>
    program.error(`error: config file ${file}: ${message}`, { exitCode: 2 });
  let text: string;
  try {
    text = Deno.readTextFileSync(file);
  } catch (error) {
    return fail(`cannot read it (${(error as Error).message})`);
  }
  let values: Record<string, unknown>;
  try {
    values = /\.toml$/i.test(file) ? parseToml(text) : JSON.parse(text);
  } catch (error) {
    return fail(`cannot parse it: ${(error as Error).message.split("\n")[0]}`);
  }
  if (typeof values !== "object" || values === null || Array.isArray(values)) {
    return fail("expected a table/object");
  }
  for (const [key, raw] of Object.entries(values)) {
    const flag = `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
    const option = program.options.find((o) => o.long === flag && flag !== "--config");
    if (!option) return fail(`unknown option '${key}'`);
    const items = Array.isArray(raw) ? raw : [raw];
    let value: unknown = option.defaultValue;
    for (const item of items) {
      if (typeof item !== "string" && typeof item !== "number" && typeof item !== "boolean") {
        return fail(`'${key}' must be a string or a number`);
      }
      const text = String(item);
      if (option.argChoices && !option.argChoices.includes(text)) {
        return fail(`'${key}' must be one of ${option.argChoices.join(", ")}`);
      }
      try {
        value = option.parseArg ? option.parseArg(text, Array.isArray(raw) ? value : undefined) : text;
      } catch (error) {
        return fail(`'${key}': ${(error as Error).message}`);
      }
    }
    program.setOptionValueWithSource(option.attributeName(), value, "config");
  }
}

/** Parses `HOST:PORT`, `:PORT`, `PORT`, `[::1]:PORT` or `off`. */
export function hostPort(value: string): HostPort | null {
  if (value.trim().toLowerCase() === "off") return null;
  const match = /^(?:\[([0-9a-fA-F:.]+)\]:|([^:\s\[\]]*):)?(\d{1,5})$/.exec(value.trim());
  const port = Number(match?.[3]);
  if (!match || port > 65535) {
    throw new InvalidArgumentError("Expected HOST:PORT (e.g. 0.0.0.0:4000), :PORT or 'off'.");
  }
  return { hostname: match[1] ?? (match[2] || "0.0.0.0"), port };
}

/** Parses `memory` or `sqlite:PATH` (a bare path also means SQLite). */
export function store(value: string): StoreSpec {
  const trimmed = value.trim();
  if (trimmed === "memory") return { kind: "memory" };
  const path = trimmed.startsWith("sqlite:") ? trimmed.slice("sqlite:".length) : trimmed;
  if (path === "") {
    throw new InvalidArgumentError("Expected sqlite:PATH (e.g. sqlite:./hubbub.db) or memory.");
  }
  return { kind: "sqlite", path };
}

/** Parses a non-negative integer. */
export function integer(value: string): number {
  if (!/^\d{1,9}$/.test(value.trim())) {
    throw new InvalidArgumentError("Expected a whole number such as 0, 20 or 1000.");
  }
  return Number(value.trim());
}

/** A parser for whole numbers within `[min, max]`. */
function bounded(min: number, max: number): (value: string) => number {
  return (value) => {
    const n = integer(value);
    if (n < min || n > max) throw new InvalidArgumentError(`Expected a whole number from ${min} to ${max}.`);
    return n;
  };
}

/** Checks a Redis URL. */
function redisUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    throw new InvalidArgumentError("Expected a URL such as redis://127.0.0.1:6379/0.");
  }
  if (url.protocol !== "redis:" && url.protocol !== "rediss:") {
    throw new InvalidArgumentError("Expected a redis:// or rediss:// URL.");
  }
  return url.href;
}

/** Checks a node id: short, and safe inside Redis keys and log lines. */
function nodeId(value: string): string {
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(value)) {
    throw new InvalidArgumentError("Expected 1-64 letters, digits, '_', '-' or '.'.");
  }
  return value;
}

/** Parses a retention age: a duration, or `off` / `0` for none. */
function age(value: string): number {
  return value.trim() === "off" || value.trim() === "0" ? 0 : duration(value);
}

/** Collects `--allow-origin` values; the environment variable may hold several, comma-separated. */
function origins(value: string, previous: readonly string[]): string[] {
  return [...previous, ...value.split(",").filter((v) => v.trim() !== "").map(allowedOrigin)];
}

/**
 * Parses an `--allow-origin` value: `*`, `null`, or an `http(s)`/`ws(s)` URL, which becomes its origin
 * (`https://Chat.Example.com/` → `https://chat.example.com`) as `http/origin.ts` compares them.
 */
export function allowedOrigin(value: string): string {
  const trimmed = value.trim();
  if (trimmed === "*" || trimmed === "null") return trimmed;
  let url: URL | undefined;
  try {
    url = new URL(trimmed);
  } catch {
    // Refused below, like a URL of another scheme.
  }
  if (!url || !/^(https?|wss?):$/.test(url.protocol)) {
    throw new InvalidArgumentError(
      `Cannot use '${trimmed}' as an origin: expected *, null or a URL like https://chat.example.com`,
    );
  }
  return url.origin;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses a duration (`500ms`, `60s`, `5m`, `1h`; a bare number is seconds) into milliseconds. */
export function duration(value: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/i.exec(value.trim());
  const ms = match ? Math.round(Number(match[1]) * UNITS[(match[2] ?? "s").toLowerCase()]!) : NaN;
  if (!Number.isFinite(ms) || ms <= 0) {
    throw new InvalidArgumentError("Expected a positive duration such as 500ms, 60s, 5m or 1h.");
  }
  return ms;
}

const SIZES: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1 << 20,
  mb: 1e6,
  mib: 1 << 20,
};

/** Parses a byte size (`65536`, `64KiB`, `64k`, `1MiB`, `1MB`). */
export function size(value: string): number {
  const match = /^(\d+)\s*([a-z]*)$/i.exec(value.trim());
  const unit = match ? SIZES[match[2]!.toLowerCase()] : undefined;
  const bytes = match && unit ? Number(match[1]) * unit : NaN;
  if (!Number.isSafeInteger(bytes) || bytes <= 0) {
    throw new InvalidArgumentError("Expected a positive size such as 8KiB, 64k or 1MiB.");
  }
  return bytes;
}
