/** The command line: flags and HUBBUB_* variables → a validated Config, with output injected. */

import assert from "node:assert/strict";
import {
  allowedOrigin,
  type CliOutcome,
  type Config,
  DEFAULTS,
  duration,
  hostPort,
  OPTION_GROUPS,
  optionName,
  OPTIONS,
  parseCli,
  shownDefault,
  size,
  VERSION,
} from "../src/cli.ts";

interface Run {
  readonly outcome: CliOutcome;
  readonly out: string[];
  readonly err: string[];
}

/** Runs parseCli with no HUBBUB_* variables set except `env`, capturing its output. */
function run(argv: string[], options: { tty?: boolean; env?: Record<string, string> } = {}): Run {
  const saved = Object.entries(Deno.env.toObject()).filter(([k]) => k.startsWith("HUBBUB_"));
  for (const [k] of saved) Deno.env.delete(k);
  for (const [k, v] of Object.entries(options.env ?? {})) Deno.env.set(k, v);
  const out: string[] = [];
  const err: string[] = [];
  try {
    const outcome = parseCli(argv, {
      out: (t) => out.push(t),
      err: (t) => err.push(t),
      tty: options.tty ?? false,
    });
    return { outcome, out, err };
  } finally {
    for (const k of Object.keys(options.env ?? {})) Deno.env.delete(k);
    for (const [k, v] of saved) Deno.env.set(k, v);
  }
}

function config(argv: string[], options: { tty?: boolean; env?: Record<string, string> } = {}): Config {
  const { outcome, err } = run(argv, options);
  assert.ok(
    "config" in outcome,
    `expected a config for ${JSON.stringify(argv)}; got ${JSON.stringify(outcome)}`,
  );
  assert.deepEqual(err, [], "nothing is written to stderr on success");
  return outcome.config;
}

/** Asserts that argv is refused with exit 2 and exactly one line on err; returns that line. */
function refused(argv: string[], env: Record<string, string> = {}): string {
  const { outcome, out, err } = run(argv, { env });
  assert.deepEqual(outcome, { exit: 2 }, `expected exit 2 for ${JSON.stringify(argv)}`);
  assert.deepEqual(out, [], "nothing on stdout");
  assert.equal(err.length, 1, `one write to stderr, got ${JSON.stringify(err)}`);
  const text = err[0]!;
  assert.ok(text.endsWith("\n"), "the line is terminated");
  assert.equal(text.trimEnd().split("\n").length, 1, `exactly one line, got ${JSON.stringify(text)}`);
  assert.ok(text.trim().length > 0);
  return text;
}

Deno.test("parseCli: no arguments: the embedded defaults", () => {
  const c = config([]);
  assert.deepEqual(c, { ...DEFAULTS, allowOrigins: [], logFormat: "json" } as Config);
  assert.deepEqual(c.tcp, { hostname: "0.0.0.0", port: 4000 });
  assert.deepEqual(c.http, { hostname: "0.0.0.0", port: 8080 });
  assert.equal(c.idleTimeoutMs, 60_000);
  assert.equal(c.loginTimeoutMs, 30_000);
  assert.equal(c.maxLineBytes, 8192);
  assert.equal(c.maxFrameBytes, 65536);
  assert.equal(c.maxQueueBytes, 1 << 20);
  assert.equal(c.presenceIntervalMs, 250);
  assert.equal(c.logLevel, "info");
});

Deno.test("parseCli: 'serve' is the default and only command", () => {
  assert.deepEqual(config(["serve"]), config([]));
});

Deno.test("parseCli: log format: pretty on a terminal, json otherwise, a flag wins", () => {
  assert.equal(config([], { tty: true }).logFormat, "pretty");
  assert.equal(config([], { tty: false }).logFormat, "json");
  assert.equal(config(["--log-format", "json"], { tty: true }).logFormat, "json");
  assert.equal(config(["--log-format", "pretty"], { tty: false }).logFormat, "pretty");
  assert.equal(config(["--log-level", "debug"]).logLevel, "debug");
});

// Regression: commander turns a parser's `null` into ""; `off` must still reach the config as null.
Deno.test({
  name: "parseCli: --tcp off and --http off disable a listener (null in the config)",

  fn() {
    assert.equal(config(["--tcp", "off"]).tcp, null);
    assert.equal(config(["--tcp=OFF"]).tcp, null);
    const c = config(["--http", "off"]);
    assert.equal(c.http, null);
    assert.deepEqual(c.tcp, DEFAULTS.tcp);
    assert.equal(config([], { env: { HUBBUB_TCP: "off" } }).tcp, null);
  },
});

Deno.test("parseCli: --tcp off leaves no listen address for that door, and the other door keeps its default", () => {
  const noTcp = config(["--tcp", "off"]);
  assert.ok(!noTcp.tcp, "no TCP listen address");
  assert.deepEqual(noTcp.http, DEFAULTS.http);
  const noHttp = config(["--http", "OFF"]);
  assert.ok(!noHttp.http, "no HTTP listen address");
  assert.deepEqual(noHttp.tcp, DEFAULTS.tcp);
});

Deno.test("parseCli: --tcp :0 binds every interface on a free port", () => {
  assert.deepEqual(config(["--tcp", ":0"]).tcp, { hostname: "0.0.0.0", port: 0 });
});

Deno.test("parseCli: listen addresses: host:port, bare port, bracketed IPv6", () => {
  assert.deepEqual(config(["--tcp", "127.0.0.1:4001"]).tcp, { hostname: "127.0.0.1", port: 4001 });
  assert.deepEqual(config(["--http", "[::1]:4000"]).http, { hostname: "::1", port: 4000 });
  assert.deepEqual(config(["--http", "localhost:80"]).http, { hostname: "localhost", port: 80 });
  assert.deepEqual(config(["--tcp", "5000"]).tcp, { hostname: "0.0.0.0", port: 5000 });
});

Deno.test("parseCli: durations and sizes through flags", () => {
  const c = config([
    "--idle-timeout",
    "5m",
    "--login-timeout=10",
    "--presence-interval",
    "100ms",
    "--max-line",
    "16KiB",
    "--max-frame",
    "1MiB",
    "--max-queue",
    "64k",
  ]);
  assert.equal(c.idleTimeoutMs, 300_000);
  assert.equal(c.loginTimeoutMs, 10_000);
  assert.equal(c.presenceIntervalMs, 100);
  assert.equal(c.maxLineBytes, 16 * 1024);
  assert.equal(c.maxFrameBytes, 1024 * 1024);
  assert.equal(c.maxQueueBytes, 64 * 1024);
});

Deno.test("parseCli: --allow-origin is repeatable and normalised", () => {
  assert.deepEqual(
    config(["--allow-origin", "https://Chat.Example.com/", "--allow-origin", "*", "--allow-origin", "null"])
      .allowOrigins,
    ["https://chat.example.com", "*", "null"],
  );
});

Deno.test("parseCli: HUBBUB_* variables set options, and flags win over them", () => {
  const env = { HUBBUB_TCP: ":4100", HUBBUB_IDLE_TIMEOUT: "2m", HUBBUB_LOG_LEVEL: "warning" };
  const fromEnv = config([], { env });
  assert.deepEqual(fromEnv.tcp, { hostname: "0.0.0.0", port: 4100 });
  assert.equal(fromEnv.idleTimeoutMs, 120_000);
  assert.equal(fromEnv.logLevel, "warning");
  const flagged = config(["--tcp", ":4200", "--log-level", "error"], { env });
  assert.deepEqual(flagged.tcp, { hostname: "0.0.0.0", port: 4200 });
  assert.equal(flagged.logLevel, "error");
  assert.equal(flagged.idleTimeoutMs, 120_000, "variables without a flag still apply");
  assert.deepEqual(
    config([], { env: { HUBBUB_ALLOW_ORIGIN: "https://a.example, https://b.example" } }).allowOrigins,
    ["https://a.example", "https://b.example"],
  );
});

Deno.test("parseCli: history on join: goChat replays 20 and MaChat none by default; each has its flag and variable", () => {
  assert.equal(config([]).historyOnJoin, 20);
  assert.equal(config([]).machatHistoryOnJoin, 0);
  const flagged = config(["--history-on-join", "0", "--machat-history-on-join", "5"]);
  assert.deepEqual([flagged.historyOnJoin, flagged.machatHistoryOnJoin], [0, 5]);
  const env = config([], { env: { HUBBUB_MACHAT_HISTORY_ON_JOIN: "7", HUBBUB_HISTORY_ON_JOIN: "3" } });
  assert.deepEqual([env.historyOnJoin, env.machatHistoryOnJoin], [3, 7]);
  assert.match(refused(["--machat-history-on-join", "lots"]), /machat-history-on-join/);
  refused([], { HUBBUB_MACHAT_HISTORY_ON_JOIN: "-1" });
});

Deno.test("parseCli: a bad environment variable is refused like a bad flag", () => {
  refused([], { HUBBUB_TCP: "nowhere" });
  refused([], { HUBBUB_MAX_LINE: "lots" });
});

Deno.test("parseCli: bad flag values exit 2 with exactly one line on stderr", () => {
  const cases: string[][] = [
    ["--tcp", "nowhere"],
    ["--tcp", "host:99999"],
    ["--tcp", "::1:4000"],
    ["--tcp", "host:"],
    ["--http", "1.2.3.4:port"],
    ["--idle-timeout", "0"],
    ["--idle-timeout", "soon"],
    ["--login-timeout", "-5s"],
    ["--presence-interval", "5 parsecs"],
    ["--max-line", "0"],
    ["--max-line", "lots"],
    ["--max-frame", "1.5k"],
    ["--max-queue", "-1"],
    ["--log-level", "loud"],
    ["--log-format", "xml"],
    ["--allow-origin", "ftp://files.example.com"],
    ["--allow-origin", "not a url"],
    ["--tcp"],
    ["--no-such-flag"],
    ["--tpc", ":0"],
  ];
  for (const argv of cases) refused(argv);
});

Deno.test("parseCli: the error line names the problem", () => {
  assert.match(refused(["--tcp", "nowhere"]), /--tcp/);
  assert.match(refused(["--tcp", "nowhere"]), /HOST:PORT/);
  assert.match(refused(["--idle-timeout", "soon"]), /duration/);
  assert.match(refused(["--max-line", "lots"]), /size/);
  assert.match(refused(["--no-such-flag"]), /--no-such-flag/);
  // Commander's suggestion stays on the same line.
  assert.match(refused(["--tpc", ":0"]), /--tcp/);
});

Deno.test("parseCli: an unknown command exits 2 with one line", () => {
  const line = refused(["start"]);
  assert.match(line, /unknown command 'start'/);
  assert.match(line, /serve/);
  refused(["serve", "extra"]);
});

Deno.test("parseCli: --help and -h print help on stdout and exit 0", () => {
  for (const flag of ["--help", "-h"]) {
    const { outcome, out, err } = run([flag]);
    assert.deepEqual(outcome, { exit: 0 });
    assert.deepEqual(err, []);
    const text = out.join("");
    assert.match(text, /Usage: hubbub/);
    for (
      const option of ["--tcp", "--http", "--idle-timeout", "--max-line", "--allow-origin", "--log-level"]
    ) {
      assert.ok(text.includes(option), `help mentions ${option}`);
    }
    assert.match(text, /HUBBUB_/);
  }
});

Deno.test("parseCli: --version and -V print the version on stdout and exit 0", () => {
  for (const flag of ["--version", "-V"]) {
    const { outcome, out, err } = run([flag]);
    assert.deepEqual(outcome, { exit: 0 });
    assert.deepEqual(err, []);
    assert.equal(out.length, 1);
    assert.ok(out[0]!.startsWith(`hubbub ${VERSION} `), out[0]);
    assert.ok(out[0]!.includes(Deno.version.deno));
  }
  assert.match(VERSION, /^\d+\.\d+\.\d+/);
});

Deno.test("duration: ms, s, m, h; a bare number is seconds", () => {
  assert.equal(duration("500ms"), 500);
  assert.equal(duration("60s"), 60_000);
  assert.equal(duration("5m"), 300_000);
  assert.equal(duration("1h"), 3_600_000);
  assert.equal(duration("30"), 30_000);
  assert.equal(duration("1.5s"), 1500);
  assert.equal(duration("250MS"), 250);
  assert.equal(duration(" 2 m "), 120_000);
  for (const bad of ["", "0", "0s", "-1s", "soon", "5 parsecs", "1e3", "s", "5x", "1.s", "ms"]) {
    assert.throws(() => duration(bad), /positive duration/, JSON.stringify(bad));
  }
});

Deno.test("size: bytes, k/KiB, KB, m/MiB, MB", () => {
  assert.equal(size("65536"), 65536);
  assert.equal(size("8KiB"), 8192);
  assert.equal(size("64k"), 65536);
  assert.equal(size("64K"), 65536);
  assert.equal(size("1MiB"), 1_048_576);
  assert.equal(size("1m"), 1_048_576);
  assert.equal(size("1MB"), 1_000_000);
  assert.equal(size("2kb"), 2000);
  assert.equal(size("10b"), 10);
  assert.equal(size(" 64 KiB "), 65536);
  for (const bad of ["", "0", "0k", "-1", "1.5k", "lots", "5x", "1GiB", "99999999999999999999"]) {
    assert.throws(() => size(bad), /positive size/, JSON.stringify(bad));
  }
});

Deno.test("hostPort parses every documented shape", () => {
  assert.equal(hostPort("off"), null);
  assert.equal(hostPort(" Off "), null);
  assert.deepEqual(hostPort(":0"), { hostname: "0.0.0.0", port: 0 });
  assert.deepEqual(hostPort("4000"), { hostname: "0.0.0.0", port: 4000 });
  assert.deepEqual(hostPort("0.0.0.0:4000"), { hostname: "0.0.0.0", port: 4000 });
  assert.deepEqual(hostPort("[::1]:4000"), { hostname: "::1", port: 4000 });
  assert.deepEqual(hostPort("[::]:65535"), { hostname: "::", port: 65535 });
  for (const bad of ["", "nowhere", "host:65536", "::1:4000", "[::1]", "host:", "a b:1", "[zz]:1", "1:2:3"]) {
    assert.throws(() => hostPort(bad), /HOST:PORT/, JSON.stringify(bad));
  }
});

// Regression: a sub-millisecond duration rounds to 0 and must be refused, not returned.
Deno.test({
  name: "duration never returns zero for a tiny positive value",

  fn() {
    let value: number | undefined;
    try {
      value = duration("0.4ms");
    } catch {
      return; // Refusing it is fine too.
    }
    assert.ok(value > 0, `duration("0.4ms") returned ${value}`);
  },
});

/** Writes `text` to a temporary config file named `name`; returns its path. */
function configFile(name: string, text: string): string {
  const dir = Deno.makeTempDirSync({ prefix: "hubbub-cli-" });
  const path = `${dir}/${name}`;
  Deno.writeTextFileSync(path, text);
  return path;
}

// Regression: a single origin (not a list) in the file failed with "previous is not iterable".
Deno.test("parseCli --config: a repeatable option takes one value or a list", () => {
  const one = configFile("one.toml", 'allow-origin = "https://A.example/"\n');
  const list = configFile("list.json", JSON.stringify({ allowOrigin: ["https://a.example", "null"] }));
  try {
    assert.deepEqual(config(["--config", one]).allowOrigins, ["https://a.example"]);
    assert.deepEqual(config(["--config", list]).allowOrigins, ["https://a.example", "null"]);
  } finally {
    Deno.removeSync(one.replace(/\/[^/]+$/, ""), { recursive: true });
    Deno.removeSync(list.replace(/\/[^/]+$/, ""), { recursive: true });
  }
});

// Regression: flags and variables were appended to the file's origins instead of winning over them.
Deno.test("parseCli --config: flags and variables replace a repeatable option's file values", () => {
  const file = configFile("origins.toml", 'allow-origin = ["https://file.example"]\n');
  try {
    assert.deepEqual(config(["--config", file]).allowOrigins, ["https://file.example"]);
    assert.deepEqual(
      config(["--config", file, "--allow-origin", "https://flag.example"]).allowOrigins,
      ["https://flag.example"],
    );
    assert.deepEqual(
      config(["--config", file], { env: { HUBBUB_ALLOW_ORIGIN: "https://env.example" } }).allowOrigins,
      ["https://env.example"],
    );
  } finally {
    Deno.removeSync(file.replace(/\/[^/]+$/, ""), { recursive: true });
  }
});

Deno.test("parseCli --config: a switch takes true or false", () => {
  const on = configFile("on.json", JSON.stringify({ "reuse-port": true }));
  const bad = configFile("bad.json", JSON.stringify({ reusePort: "yes" }));
  try {
    assert.equal(config(["--config", on]).reusePort, true);
    assert.equal(config([]).reusePort, false);
    assert.match(refused(["--config", bad]), /'reusePort': Expected true or false/);
  } finally {
    Deno.removeSync(on.replace(/\/[^/]+$/, ""), { recursive: true });
    Deno.removeSync(bad.replace(/\/[^/]+$/, ""), { recursive: true });
  }
});

Deno.test("parseCli --config: a file value is refused with the flag's own message", () => {
  const bad = configFile("bad.toml", 'max-line = "lots"\nlog-level = "loud"\n');
  try {
    assert.match(refused(["--config", bad]), /config file .*bad\.toml: 'max-line': .*positive size/);
  } finally {
    Deno.removeSync(bad.replace(/\/[^/]+$/, ""), { recursive: true });
  }
});

Deno.test("allowedOrigin: *, null, or an http(s)/ws(s) URL normalised to its origin", () => {
  assert.equal(allowedOrigin("*"), "*");
  assert.equal(allowedOrigin(" null "), "null");
  assert.equal(allowedOrigin("https://Chat.Example.com/"), "https://chat.example.com");
  assert.equal(allowedOrigin("https://chat.example.com:443/path?q"), "https://chat.example.com");
  assert.equal(allowedOrigin("http://localhost:8080"), "http://localhost:8080");
  assert.equal(allowedOrigin("wss://chat.example.com"), "wss://chat.example.com");
  for (const bad of ["", "chat.example.com", "ftp://files.example.com", "file:///tmp/x", "not a url"]) {
    assert.throws(() => allowedOrigin(bad), /as an origin: expected \*, null or a URL/, JSON.stringify(bad));
  }
});

Deno.test("OPTIONS: one entry per Config key, with a unique flag and variable, and DEFAULTS from the table", () => {
  const keyed = OPTIONS.filter((spec) => spec.key !== null);
  assert.deepEqual(Object.keys(DEFAULTS).sort(), keyed.map((spec) => spec.key).sort());
  for (const spec of keyed) assert.deepEqual(DEFAULTS[spec.key!], spec.default, spec.flag);
  const names = OPTIONS.map(optionName);
  assert.equal(new Set(names).size, names.length, "flags are unique");
  const envs = OPTIONS.flatMap((spec) => spec.env ?? []);
  assert.equal(new Set(envs).size, envs.length, "variables are unique");
  for (const spec of OPTIONS) {
    assert.match(spec.flag, /^--[a-z][a-z-]*( <[a-z:]+>)?$/, spec.flag);
    if (!spec.hidden) assert.ok(spec.env?.startsWith("HUBBUB_"), `${spec.flag} has a HUBBUB_* variable`);
  }
  assert.deepEqual(OPTIONS, Object.values(OPTION_GROUPS).flat());
});

Deno.test("parseCli --help: every option in its group with its variable and default; hidden ones absent", () => {
  const { outcome, out } = run(["--help"]);
  assert.deepEqual(outcome, { exit: 0 });
  // Unwrapped, so that a variable or default broken over two lines still matches.
  const text = out.join("").replace(/\n {3,}/g, " ");
  for (const [group, specs] of Object.entries(OPTION_GROUPS)) {
    const section = text.slice(text.indexOf(`\n${group}:\n`));
    assert.ok(section.length < text.length, `help has a ${group} section`);
    for (const spec of specs) {
      const at = section.indexOf(`  ${spec.flag} `);
      if (spec.hidden) {
        assert.equal(text.indexOf(`--${optionName(spec)}`), -1, `${spec.flag} is hidden`);
        continue;
      }
      assert.ok(at >= 0, `${spec.flag} is under ${group}`);
      const line = section.slice(at, section.indexOf("\n", at));
      const shown = shownDefault(spec);
      if (shown !== null) assert.ok(line.includes(`default: ${shown}`), line);
      if (spec.env !== undefined) assert.ok(line.includes(`env: ${spec.env}`), line);
      if (spec.choices) {
        assert.ok(line.includes(`choices: ${spec.choices.map((c) => `"${c}"`).join(", ")}`), line);
      }
    }
  }
});

/** The rows of every table under README's `## heading`, as cells, without header and rule rows. */
async function readmeRows(heading: string): Promise<string[][]> {
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  const start = readme.indexOf(`\n## ${heading}\n`);
  assert.ok(start >= 0, `README has a ${heading} section`);
  const end = readme.indexOf("\n## ", start + 1);
  const rows: string[][] = [];
  let header = true;
  for (const line of readme.slice(start, end < 0 ? undefined : end).split("\n")) {
    if (!line.startsWith("|")) {
      header = true;
      continue;
    }
    const cells = line.slice(1, -1).split(/(?<!\\)\|/).map((cell) => cell.trim().replaceAll("\\|", "|"));
    if (!header && !/^-+$/.test(cells[0]!)) rows.push(cells);
    header = false;
  }
  return rows;
}

Deno.test("README configuration table: each row is an option with that variable and default; all are there", async () => {
  const documented = new Map<string, number>();
  const rows = (await readmeRows("Configuration")).filter(([flag]) => flag!.startsWith("`--"));
  assert.ok(rows.length >= 30, `found the table (${rows.length} rows)`);
  for (const [flag, env, shown] of rows) {
    const name = /^`--([a-z-]+)/.exec(flag!)![1]!;
    const spec = OPTIONS.find((spec) => optionName(spec) === name);
    assert.ok(spec, `README documents ${flag}, which is no option`);
    assert.ok(!spec.hidden, `README documents ${flag}, which is hidden`);
    const value = / <([^>]+)>$/.exec(spec.flag)?.[1];
    assert.equal(flag, `\`--${name}${value ? ` ${value.toUpperCase()}` : ""}\``, "flag and value name");
    assert.equal(env, spec.env ? `\`${spec.env}\`` : "–", `variable of ${flag}`);
    assert.equal(shown!.replaceAll("`", ""), shownDefault(spec) ?? "–", `default of ${flag}`);
    documented.set(name, (documented.get(name) ?? 0) + 1);
  }
  for (const spec of OPTIONS) {
    const times = documented.get(optionName(spec)) ?? 0;
    assert.equal(times, spec.hidden ? 0 : 1, `README's configuration table has ${spec.flag} ${times} times`);
  }
});

Deno.test("README limits table: every flag it names is an option, with the same default", async () => {
  const rows = await readmeRows("Limits and security");
  assert.ok(rows.length >= 10, `found the table (${rows.length} rows)`);
  let checked = 0;
  for (const [limit, flags, shown] of rows) {
    for (const [, name] of flags!.matchAll(/`--([a-z-]+)`/g)) {
      const spec = OPTIONS.find((spec) => optionName(spec) === name);
      assert.ok(spec && !spec.hidden, `the limits table names --${name} (${limit}), which is no option`);
      // A row about one flag shows its default for people (`8 KiB`, `10 s`): the same, spaced.
      if (flags === `\`--${name}\``) {
        assert.equal(
          shown!.replaceAll(" ", ""),
          shownDefault(spec)!.replaceAll(" ", ""),
          `default of --${name}`,
        );
        checked++;
      }
    }
  }
  assert.ok(checked >= 10, `compared ${checked} defaults`);
});
