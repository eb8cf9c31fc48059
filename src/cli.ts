/**
 * Command line, `HUBBUB_*` variables and the `--config` file → a validated {@linkcode Config}.
 *
 * Every option is described once, in the table {@linkcode OPTION_GROUPS}: flag, variable, parser, default,
 * help and the `Config` key. The commander program (and so `--help`), the config file reading, the `Config`
 * type and {@linkcode DEFAULTS} are derived from it, and `tests/cli_test.ts` checks README's configuration
 * table against it: a new option is one entry here plus its README row. Flags win over the environment,
 * which wins over the file. Bad values are refused with one line and exit code 2, before anything starts.
 * @module
 */

import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { parse as parseToml } from "smol-toml";
import denoJson from "../deno.json" with { type: "json" };
import { LOG_LEVELS } from "./log.ts";

/** A listen address. */
export interface HostPort {
  /** Interface to bind (`0.0.0.0`, `127.0.0.1`, `::`). */
  readonly hostname: string;
  /** Port; 0 picks a free one. */
  readonly port: number;
}

/** Where history lives: in memory (gone at exit) or in a SQLite file. */
export type StoreSpec = { readonly kind: "memory" } | { readonly kind: "sqlite"; readonly path: string };

/**
 * One option, described once: `K` is the {@linkcode Config} key it sets, `T` the type its parser (or its
 * choices) yields, `D` its default; a `null` default adds `null` ("not set") to the option's type.
 */
export interface OptionSpec<K extends string | null = string | null, T = unknown, D = unknown> {
  /** The `Config` key it sets; `null` for `--config`, which only names a file of other options. */
  readonly key: K;
  /** The long flag and its value name, as help shows them (`--tcp <host:port>`); without a value: a switch. */
  readonly flag: string;
  /** Its `HUBBUB_*` variable; options hubbub sets only for its own workers have none. */
  readonly env?: string;
  /** Parses one value of a flag, variable or file key; a repeatable option adds it to `previous`. */
  parse?(value: string, previous: T): T;
  /** The values allowed, for an option that is a choice (instead of `parse`). */
  readonly choices?: readonly T[];
  /** The value when nothing sets it. */
  readonly default: D;
  /** The default as `--help` and README show it; without it: the value itself, or none when `null`. */
  readonly shown?: string;
  /** The default instead of `default` when stderr is a terminal. */
  readonly onTerminal?: T;
  /** What it does, in one line of `--help`. */
  readonly help: string;
  /** Set by hubbub for its own workers: in neither `--help` nor README. */
  readonly hidden?: boolean;
}

// Only types the entries: the type parameters are inferred from `parse` or `choices`, and from `default`.
function option<K extends string | null, const T, const D extends T | null>(
  spec: OptionSpec<K, T, D>,
): OptionSpec<K, T, D> {
  return spec;
}

const GENERAL = [
  option({
    key: null,
    flag: "--config <file>",
    env: "HUBBUB_CONFIG",
    parse: asIs,
    default: null,
    help: "read options from a JSON or TOML file (keys are option names)",
  }),
] as const;

const LISTENERS = [
  option({
    key: "tcp",
    flag: "--tcp <host:port>",
    env: "HUBBUB_TCP",
    parse: hostPort,
    default: { hostname: "0.0.0.0", port: 4000 },
    shown: "0.0.0.0:4000",
    help: "TCP line protocol listener, or 'off'",
  }),
  option({
    key: "http",
    flag: "--http <host:port>",
    env: "HUBBUB_HTTP",
    parse: hostPort,
    default: { hostname: "0.0.0.0", port: 8080 },
    shown: "0.0.0.0:8080",
    help: "HTTP and WebSocket listener, or 'off'",
  }),
  option({
    key: "irc",
    flag: "--irc <host:port>",
    env: "HUBBUB_IRC",
    parse: hostPort,
    default: { hostname: "0.0.0.0", port: 6667 },
    shown: "0.0.0.0:6667",
    help: "IRC listener (irssi, WeeChat, ...), or 'off'",
  }),
  option({
    key: "allowOrigins",
    flag: "--allow-origin <origin>",
    env: "HUBBUB_ALLOW_ORIGIN",
    parse: origins,
    default: [],
    shown: "same origin only",
    help: "also accept WebSockets from this origin (repeatable; * for any)",
  }),
] as const;

const TLS = [
  option({
    key: "tlsCert",
    flag: "--tls-cert <file>",
    env: "HUBBUB_TLS_CERT",
    parse: asIs,
    default: null,
    help: "serve every listener over TLS with this PEM certificate (chain); needs --tls-key",
  }),
  option({
    key: "tlsKey",
    flag: "--tls-key <file>",
    env: "HUBBUB_TLS_KEY",
    parse: asIs,
    default: null,
    help: "the PEM private key of --tls-cert",
  }),
  option({
    key: "tlsSelfSigned",
    flag: "--tls-self-signed",
    env: "HUBBUB_TLS_SELF_SIGNED",
    parse: switchValue,
    default: false,
    help: "serve over TLS with a certificate for localhost made at start (openssl), for trying it out",
  }),
] as const;

const TIMEOUTS = [
  option({
    key: "idleTimeoutMs",
    flag: "--idle-timeout <duration>",
    env: "HUBBUB_IDLE_TIMEOUT",
    parse: duration,
    default: 60_000,
    shown: "60s",
    help: "close connections quiet this long (e.g. 60s, 5m)",
  }),
  option({
    key: "loginTimeoutMs",
    flag: "--login-timeout <duration>",
    env: "HUBBUB_LOGIN_TIMEOUT",
    parse: duration,
    default: 30_000,
    shown: "30s",
    help: "close connections that have not logged in after this long",
  }),
  option({
    key: "headerTimeoutMs",
    flag: "--header-timeout <duration>",
    env: "HUBBUB_HEADER_TIMEOUT",
    parse: duration,
    default: 10_000,
    shown: "10s",
    help: "HTTP: a request head must arrive within this long",
  }),
  option({
    key: "keepAliveMs",
    flag: "--keep-alive <duration>",
    env: "HUBBUB_KEEP_ALIVE",
    parse: duration,
    default: 30_000,
    shown: "30s",
    help: "HTTP: close an idle keep-alive connection after this long",
  }),
] as const;

const LIMITS = [
  option({
    key: "maxLineBytes",
    flag: "--max-line <size>",
    env: "HUBBUB_MAX_LINE",
    parse: size,
    default: 8 * 1024,
    shown: "8KiB",
    help: "longest TCP line (e.g. 8KiB)",
  }),
  option({
    key: "maxFrameBytes",
    flag: "--max-frame <size>",
    env: "HUBBUB_MAX_FRAME",
    parse: size,
    default: 64 * 1024,
    shown: "64KiB",
    help: "largest WebSocket frame (e.g. 64KiB)",
  }),
  option({
    key: "maxQueueBytes",
    flag: "--max-queue <size>",
    env: "HUBBUB_MAX_QUEUE",
    parse: size,
    default: 1024 * 1024,
    shown: "1MiB",
    help: "outbound bytes queued per connection before a slow reader is dropped",
  }),
  option({
    key: "maxConnections",
    flag: "--max-connections <n>",
    env: "HUBBUB_MAX_CONNECTIONS",
    parse: integer,
    default: 10_000,
    help: "most open connections in total; 0 = unlimited",
  }),
  option({
    key: "maxConnectionsPerIp",
    flag: "--max-connections-per-ip <n>",
    env: "HUBBUB_MAX_CONNECTIONS_PER_IP",
    parse: integer,
    default: 100,
    help: "most open connections from one IP address; 0 = unlimited",
  }),
  option({
    key: "rate",
    flag: "--rate <n>",
    env: "HUBBUB_RATE",
    parse: integer,
    default: 10,
    help: "lines or frames per second per connection (then slowed, then dropped); 0 = off",
  }),
  option({
    key: "burst",
    flag: "--burst <n>",
    env: "HUBBUB_BURST",
    parse: integer,
    default: 30,
    help: "lines or frames that may arrive at once before --rate applies",
  }),
] as const;

const ROOMS = [
  option({
    key: "maxRooms",
    flag: "--max-rooms <n>",
    env: "HUBBUB_MAX_ROOMS",
    parse: integer,
    default: 50,
    help: "rooms one connection may be in at once",
  }),
  option({
    key: "maxName",
    flag: "--max-name <n>",
    env: "HUBBUB_MAX_NAME",
    parse: bounded(1, 32),
    default: 32,
    help: "longest member name (1-32 characters)",
  }),
  option({
    key: "maxRoomName",
    flag: "--max-room-name <n>",
    env: "HUBBUB_MAX_ROOM_NAME",
    parse: bounded(1, 64),
    default: 64,
    help: "longest room name (1-64 characters)",
  }),
  option({
    key: "presenceIntervalMs",
    flag: "--presence-interval <duration>",
    env: "HUBBUB_PRESENCE_INTERVAL",
    parse: duration,
    default: 250,
    shown: "250ms",
    help: "send full user lists to a room at most this often",
  }),
  option({
    key: "listLimit",
    flag: "--list-limit <n>",
    env: "HUBBUB_LIST_LIMIT",
    parse: bounded(1, 100_000),
    default: 1000,
    help: "names per user-list frame or page in big rooms (the total is always sent)",
  }),
  option({
    key: "accounts",
    flag: "--accounts <mode>",
    env: "HUBBUB_ACCOUNTS",
    choices: ["off", "on", "required"],
    default: "off",
    help: "accounts that own names: off, on (guests too) or required (no guests)",
  }),
] as const;

const HISTORY = [
  option({
    key: "store",
    flag: "--store <store>",
    env: "HUBBUB_STORE",
    parse: store,
    default: { kind: "sqlite", path: "./hubbub.db" },
    shown: "sqlite:./hubbub.db",
    help: "where history lives: sqlite:PATH or memory",
  }),
  option({
    key: "storeSync",
    flag: "--store-sync <mode>",
    env: "HUBBUB_STORE_SYNC",
    choices: ["full", "normal"],
    default: "full",
    help: "full: fsync before acknowledging; normal: survive crashes of hubbub only",
  }),
  option({
    key: "historyLimit",
    flag: "--history-limit <n>",
    env: "HUBBUB_HISTORY_LIMIT",
    parse: integer,
    default: 1000,
    help: "messages kept per room and per DM pair",
  }),
  option({
    key: "historyAgeMs",
    flag: "--history-age <duration>",
    env: "HUBBUB_HISTORY_AGE",
    parse: age,
    default: 0,
    shown: "off",
    help: "also prune messages older than this (e.g. 30d), or 'off'",
  }),
  option({
    key: "historyOnJoin",
    flag: "--history-on-join <n>",
    env: "HUBBUB_HISTORY_ON_JOIN",
    parse: integer,
    default: 20,
    help:
      "recent messages replayed on join to goChat clients, and to IRC clients as a chathistory batch; 0 = off",
  }),
  option({
    key: "machatHistoryOnJoin",
    flag: "--machat-history-on-join <n>",
    env: "HUBBUB_MACHAT_HISTORY_ON_JOIN",
    parse: integer,
    default: 0,
    help: "recent messages replayed to MaChat clients on join (shown as live lines); 0 = off",
  }),
] as const;

const CLUSTER = [
  option({
    key: "redis",
    flag: "--redis <url>",
    env: "HUBBUB_REDIS_URL",
    parse: redisUrl,
    default: null,
    help: "join a cluster: history, names and presence in Redis (redis://host:6379/0)",
  }),
  option({
    key: "workers",
    flag: "--workers <n>",
    env: "HUBBUB_WORKERS",
    parse: bounded(1, 64),
    default: 1,
    help: "processes to run on this machine, sharing the ports (needs --redis)",
  }),
  option({
    key: "presenceTtlMs",
    flag: "--presence-ttl <duration>",
    env: "HUBBUB_PRESENCE_TTL",
    parse: duration,
    default: 15_000,
    shown: "15s",
    help: "a cluster node silent this long is gone, with its members",
  }),
  option({
    key: "redisTimeoutMs",
    flag: "--redis-timeout <duration>",
    env: "HUBBUB_REDIS_TIMEOUT",
    parse: duration,
    default: 2000,
    shown: "2s",
    help: "a Redis command unanswered this long fails; the node is not ready until Redis answers",
  }),
  option({
    key: "nodeId",
    flag: "--node-id <id>",
    env: "HUBBUB_NODE_ID",
    parse: nodeId,
    default: null,
    shown: "generated",
    help: "this process's name in the cluster",
  }),
  option({
    key: "reusePort",
    flag: "--reuse-port",
    parse: switchValue,
    default: false,
    help: "share the listening ports; set for the workers of --workers",
    hidden: true,
  }),
] as const;

const LOGGING = [
  option({
    key: "logFormat",
    flag: "--log-format <format>",
    env: "HUBBUB_LOG_FORMAT",
    choices: ["json", "pretty"],
    default: "json",
    onTerminal: "pretty",
    shown: "json, pretty on a terminal",
    help: "log format",
  }),
  option({
    key: "logLevel",
    flag: "--log-level <level>",
    env: "HUBBUB_LOG_LEVEL",
    choices: LOG_LEVELS,
    default: "info",
    help: "lowest level logged",
  }),
] as const;

/** The option table, by the heading `--help` shows each group under (in this order). */
export const OPTION_GROUPS = {
  Options: GENERAL,
  Listeners: LISTENERS,
  TLS: TLS,
  Timeouts: TIMEOUTS,
  Limits: LIMITS,
  "Rooms and names": ROOMS,
  History: HISTORY,
  Cluster: CLUSTER,
  Logging: LOGGING,
} as const;

type Spec = (typeof OPTION_GROUPS)[keyof typeof OPTION_GROUPS][number];

/** Every option of {@linkcode OPTION_GROUPS}, in help order. */
export const OPTIONS: readonly Spec[] = Object.values(OPTION_GROUPS).flat();

type ValueOf<S> = S extends OptionSpec<string | null, infer T, infer D> ? T | (null extends D ? null : never)
  : never;

/**
 * Everything hubbub needs to start, one key per option of the table; `main.ts` builds it from the command
 * line, tests build it directly. Durations are milliseconds, sizes bytes; `null` means off or not set.
 */
export type Config = { readonly [S in Spec as S["key"] & string]: ValueOf<S> };

/** hubbub's version, from `deno.json`. */
export const VERSION: string = denoJson.version;

// The one place a Config is put together from the table: one key per keyed entry, each with a value that
// entry's default or parser gave, which is what the Config type says.
function configFrom(value: (spec: Spec) => unknown): Config {
  return Object.fromEntries(
    OPTIONS.flatMap((spec) => spec.key === null ? [] : [[spec.key, value(spec)]]),
  ) as Config;
}

/** The embedded defaults: `deno task start` with no flags runs on these (json logs, as off a terminal). */
export const DEFAULTS: Config = Object.freeze(configFrom((spec) => spec.default));

/** The default of `spec` as `--help` and README show it; `null` when it has none to show. */
export function shownDefault(spec: OptionSpec): string | null {
  if (spec.shown !== undefined) return spec.shown;
  if (spec.default === null) return null;
  if (typeof spec.default === "object") {
    throw new TypeError(`Cannot show the default of ${spec.flag}: set 'shown'`);
  }
  return String(spec.default);
}

/** The option's name: its long flag without dashes, as in config files (`idle-timeout`). */
export function optionName(spec: OptionSpec): string {
  return spec.flag.split(" ", 1)[0]!.slice(2);
}

/**
 * What to do with the config: serve (the default), or one of the operator's account commands on the store the
 * config names (`hubbub accounts list`, `hubbub accounts delete NAME`, `hubbub accounts reset NAME`).
 */
export type CliCommand =
  | { readonly kind: "serve" }
  | { readonly kind: "accounts"; readonly action: "list" }
  | { readonly kind: "accounts"; readonly action: "delete" | "reset"; readonly name: string };

/** What {@linkcode parseCli} decided: run a command with a config, or exit with a code (help, version, bad flag). */
export type CliOutcome = { readonly config: Config; readonly command: CliCommand } | {
  readonly exit: number;
};

/** Where {@linkcode parseCli} writes help, version and errors; injectable for tests. */
export interface CliOutput {
  /** Help and version text. */
  readonly out: (text: string) => void;
  /** The one-line error for a bad flag. */
  readonly err: (text: string) => void;
  /** Whether stderr is a terminal (picks the default log format). */
  readonly tty: boolean;
}

/** Parses `argv` (without the program name), `HUBBUB_*` variables and the `--config` file into a config. */
export function parseCli(argv: readonly string[], output: CliOutput): CliOutcome {
  const program = commanderProgram(output);
  let config: Config;
  try {
    program.parse(argv as string[], { from: "user" });
    const file: unknown = program.getOptionValue("config");
    const fromFile = typeof file === "string" && file !== "" ? readConfigFile(program, file) : new Map();
    config = configFrom((spec) => {
      const source = program.getOptionValueSource(attributeName(spec));
      if (source === "cli" || source === "env") {
        return fromCommander(program.getOptionValue(attributeName(spec)));
      }
      if (fromFile.has(spec)) return fromFile.get(spec);
      return output.tty && spec.onTerminal !== undefined ? spec.onTerminal : spec.default;
    });
  } catch (error) {
    if (error instanceof CommanderError) {
      const clean = error.code === "commander.helpDisplayed" || error.code === "commander.version" ||
        error.code === "commander.help";
      return { exit: clean ? 0 : 2 };
    }
    throw error;
  }
  const command = cliCommand(program.args);
  if (typeof command === "string") {
    output.err(`error: ${command} (commands: serve, accounts list|delete NAME|reset NAME; see --help)\n`);
    return { exit: 2 };
  }
  if ((config.tlsCert === null) !== (config.tlsKey === null)) {
    output.err("error: --tls-cert and --tls-key go together (a certificate and its private key)\n");
    return { exit: 2 };
  }
  if (config.tlsSelfSigned && config.tlsCert !== null) {
    output.err("error: --tls-self-signed makes its own certificate: leave out --tls-cert and --tls-key\n");
    return { exit: 2 };
  }
  if (config.tlsSelfSigned && config.workers > 1) {
    output.err(
      "error: --tls-self-signed makes a certificate per process: with --workers use --tls-cert and --tls-key\n",
    );
    return { exit: 2 };
  }
  if (command.kind === "serve" && config.workers > 1 && config.redis === null) {
    output.err(
      "error: --workers needs --redis (worker processes share rooms, names and history through Redis)\n",
    );
    return { exit: 2 };
  }
  return { config, command };
}

/** The command the words after the options name, or why they name none. */
function cliCommand(words: readonly string[]): CliCommand | string {
  const [first = "serve", action, name, ...rest] = words;
  if (first === "serve" && words.length <= 1) return { kind: "serve" };
  if (first !== "accounts") return `unknown command '${words.join(" ")}'`;
  if (action === "list" && name === undefined) return { kind: "accounts", action };
  if ((action === "delete" || action === "reset") && name !== undefined && rest.length === 0) {
    return { kind: "accounts", action, name };
  }
  return `usage: hubbub accounts list | accounts delete NAME | accounts reset NAME`;
}

/** The commander program of the table: flags, variables, help; it leaves the config file to us. */
function commanderProgram(output: CliOutput): Command {
  const program = new Command("hubbub")
    .description("Rooms, DMs and history for browsers, ncat and older chat clients, in one program.")
    .argument(
      "[command...]",
      "'serve' (the default); or 'accounts list', 'accounts delete NAME', 'accounts reset NAME' on the store",
    )
    .version(`hubbub ${VERSION} (deno ${Deno.version.deno})`, "-V, --version", "print the version and exit")
    .helpOption("-h, --help", "show this help and exit");
  for (const [group, specs] of Object.entries(OPTION_GROUPS)) {
    for (const spec of specs) program.addOption(commanderOption(spec).helpGroup(`${group}:`));
  }
  return program
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
}

// Commander stores a parser's `null` (`--tcp off`) as "", so a null travels through it as OFF.
const OFF = Symbol("off");

function fromCommander(value: unknown): unknown {
  return value === OFF ? null : value;
}

/** One entry of the table as a commander option. */
function commanderOption(spec: OptionSpec): Option {
  const option = new Option(spec.flag, spec.help);
  if (spec.env !== undefined) option.env(spec.env);
  if (spec.choices !== undefined) option.choices(spec.choices.map(String));
  const parse = spec.parse;
  // A switch takes no value: commander sets it to true without a parser.
  if (parse !== undefined && option.required) {
    option.argParser((value: string, previous: unknown) => {
      const parsed = parse(value, previous === undefined ? spec.default : fromCommander(previous));
      return parsed === null ? OFF : parsed;
    });
  }
  const shown = shownDefault(spec);
  // Only for help: the config takes its defaults from the table.
  if (shown !== null) option.default(spec.default, shown);
  if (spec.hidden) option.hideHelp();
  return option;
}

function attributeName(spec: OptionSpec): string {
  return optionName(spec).replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());
}

/**
 * Reads a JSON or TOML file of options. Keys are option names (`idle-timeout`, or `idleTimeout`); values go
 * through the same parsers as flags, and a list gives a repeatable option several values. Errors become
 * commander errors: one line, exit 2.
 */
function readConfigFile(program: Command, file: string): Map<Spec, unknown> {
  const fail = (message: string): never =>
    program.error(`error: config file ${file}: ${message}`, { exitCode: 2 });
  let text: string;
  try {
    text = Deno.readTextFileSync(file);
  } catch (error) {
    return fail(`cannot read it (${(error as Error).message})`);
  }
  let values: unknown;
  try {
    values = /\.toml$/i.test(file) ? parseToml(text) : JSON.parse(text);
  } catch (error) {
    return fail(`cannot parse it: ${(error as Error).message.split("\n")[0]}`);
  }
  if (typeof values !== "object" || values === null || Array.isArray(values)) {
    return fail("expected a table/object");
  }
  const found = new Map<Spec, unknown>();
  for (const [key, raw] of Object.entries(values)) {
    const name = key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
    const spec = OPTIONS.find((spec) => spec.key !== null && optionName(spec) === name);
    if (!spec) return fail(`unknown option '${key}'`);
    let value = spec.default as unknown;
    for (const item of Array.isArray(raw) ? raw : [raw]) {
      if (typeof item !== "string" && typeof item !== "number" && typeof item !== "boolean") {
        return fail(`'${key}' must be a string or a number`);
      }
      const text = String(item);
      if (spec.choices && !spec.choices.some((choice) => choice === text)) {
        return fail(`'${key}' must be one of ${spec.choices.join(", ")}`);
      }
      try {
        value = spec.parse ? (spec as OptionSpec).parse!(text, value) : text;
      } catch (error) {
        return fail(`'${key}': ${(error as Error).message}`);
      }
    }
    found.set(spec, value);
  }
  return found;
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

/** A value as it is: the `--config` file's path. */
function asIs(value: string): string {
  return value;
}

/** A switch's value in a config file: `true` or `false`. */
function switchValue(value: string): boolean {
  if (value !== "true" && value !== "false") throw new InvalidArgumentError("Expected true or false.");
  return value === "true";
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
