/**
 * Test helpers: an in-process server on port 0, a line-oriented TCP client, a line connection without a socket
 * for driving a TCP dialect directly, and a child `hubbub` process.
 * @module
 */

import { type Config, DEFAULTS } from "../src/cli.ts";
import { type Client, Hub } from "../src/hub/hub.ts";
import type { CloseReason, Codec, ErrorCode, Frame, Result, Session } from "../src/model.ts";
import { type Server, type ServerOptions, startServer } from "../src/server.ts";
import { MemoryStore } from "../src/store/memory.ts";
import type { LineConnection } from "../src/net/lines/dialect.ts";
import type { HubOptions } from "../src/hub/hub.ts";
import { LocalBus } from "../src/bus/local.ts";
import type { ChatMessage } from "../src/model.ts";
import type { Range, RangeOptions, Store } from "../src/store/store.ts";

/** The defaults with both listeners on loopback port 0; tests override what they exercise. */
export function testConfig(overrides: Partial<Config> = {}): Config {
  return {
    ...DEFAULTS,
    tcp: { hostname: "127.0.0.1", port: 0 },
    http: { hostname: "127.0.0.1", port: 0 },
    irc: { hostname: "127.0.0.1", port: 0 },
    store: { kind: "memory" },
    // Tests open many connections from one address and send fast; the abuse suite sets these limits itself.
    rate: 0,
    maxConnectionsPerIp: 0,
    ...overrides,
  };
}

/** Starts an in-process server; `await using` shuts it down at the end of the test. */
export function serve(
  overrides: Partial<Config> = {},
  options: ServerOptions = {},
): Server & AsyncDisposable {
  const server = startServer(testConfig(overrides), options);
  return Object.assign(server, { [Symbol.asyncDispose]: () => server.shutdown() });
}

const encoder = new TextEncoder();

/** How long a test waits for an expected line before failing. */
const WAIT_MS = 5000;

/** A TCP client that reads lines and waits for them, like a person watching ncat. */
export class LineClient implements AsyncDisposable {
  readonly conn: Deno.Conn;
  /** Every line received so far, in order. */
  readonly lines: string[] = [];
  #seen = 0;
  #waiters = new Set<() => void>();
  #closed = false;
  readonly done: Promise<void>;

  readonly #crlf: boolean;

  private constructor(conn: Deno.Conn, crlf = false) {
    this.conn = conn;
    this.#crlf = crlf;
    this.done = this.#read();
  }

  /** Connects over TLS, trusting `ca` (PEM) and checking the server's name against the address. */
  static async connectTls(
    addr: Deno.NetAddr,
    ca: string,
    options: { crlf?: boolean } = {},
  ): Promise<LineClient> {
    const conn = await Deno.connectTls({ hostname: addr.hostname, port: addr.port, caCerts: [ca] });
    return new LineClient(conn, options.crlf);
  }

  /** Connects to a server's TCP door; `crlf`: lines end in `\r\n` (IRC), and `lines` holds them without it. */
  static async connect(addr: Deno.NetAddr, options: { crlf?: boolean } = {}): Promise<LineClient> {
    return new LineClient(await Deno.connect({ hostname: addr.hostname, port: addr.port }), options.crlf);
  }

  /**
   * Connects to a server's IRC door and registers as `nick` (after `CAP REQ` of `caps`, when given),
   * consuming everything up to the end of the MOTD.
   */
  static async irc(addr: Deno.NetAddr, nick: string, caps: readonly string[] = []): Promise<LineClient> {
    const client = await LineClient.connect(addr, { crlf: true });
    if (caps.length > 0) await client.send(`CAP LS 302\r\nCAP REQ :${caps.join(" ")}`);
    await client.send(`NICK ${nick}\r\nUSER ${nick} 0 * :${nick}${caps.length > 0 ? "\r\nCAP END" : ""}`);
    await client.expect(/^:hubbub 376 /);
    return client;
  }

  /** Connects and logs in, consuming the `OK`. */
  static async login(addr: Deno.NetAddr, name: string): Promise<LineClient> {
    const client = await LineClient.connect(addr);
    await client.send(`LOGIN ${name}`);
    await client.expect("OK");
    return client;
  }

  async #read(): Promise<void> {
    const decoder = new TextDecoder();
    let partial = "";
    try {
      for await (const chunk of this.conn.readable) {
        partial += decoder.decode(chunk, { stream: true });
        const parts = partial.split("\n");
        partial = parts.pop()!;
        this.lines.push(...(this.#crlf ? parts.map((p) => p.replace(/\r$/, "")) : parts));
        for (const wake of this.#waiters) wake();
      }
    } catch {
      // Reset by the server: treated as closed.
    }
    if (partial) this.lines.push(partial);
    this.#closed = true;
    for (const wake of this.#waiters) wake();
  }

  /** Whether the server has closed the connection. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Sends one line (a `\n` is added) or raw bytes. */
  async send(data: string | Uint8Array): Promise<void> {
    const bytes = typeof data === "string" ? encoder.encode(data + "\n") : data;
    let offset = 0;
    while (offset < bytes.length) offset += await this.conn.write(bytes.subarray(offset));
  }

  /**
   * Waits for the next line (after those already consumed) matching `want`, and returns it. Lines before it
   * are consumed too. Fails after a timeout or when the connection closes first.
   */
  async expect(want: string | RegExp | ((line: string) => boolean), ms = WAIT_MS): Promise<string> {
    const test = typeof want === "string"
      ? (l: string) => l === want
      : want instanceof RegExp
      ? (l: string) => want.test(l)
      : want;
    const found = await this.#until(() => {
      while (this.#seen < this.lines.length) {
        const line = this.lines[this.#seen++]!;
        if (test(line)) return line;
      }
      return undefined;
    }, ms);
    if (found === undefined) {
      const last = this.lines.slice(-10).map((l) => l.length > 200 ? l.slice(0, 200) + "…" : l);
      throw new Error(`Timed out waiting for ${String(want)}; got ${JSON.stringify(last)}`);
    }
    return found;
  }

  /** Waits until the server closes the connection. */
  async closedByServer(ms = WAIT_MS): Promise<void> {
    const ok = await this.#until(() => this.#closed || undefined, ms);
    if (!ok) throw new Error("Timed out waiting for the server to close the connection");
  }

  /** Lines received and not yet consumed by `expect`. */
  unread(): string[] {
    return this.lines.slice(this.#seen);
  }

  #until<T>(check: () => T | undefined, ms: number): Promise<T | undefined> {
    return new Promise((resolve) => {
      const tryNow = () => {
        const value = check();
        if (value !== undefined || this.#closed) {
          clearTimeout(timer);
          this.#waiters.delete(tryNow);
          resolve(value ?? check());
        }
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(tryNow);
        resolve(undefined);
      }, ms);
      this.#waiters.add(tryNow);
      tryNow();
    });
  }

  /** Closes the connection and waits for the reader to end. */
  async close(): Promise<void> {
    try {
      this.conn.close();
    } catch {
      // Already closed.
    }
    await this.done;
  }

  /** `await using` support. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** Options for a hub of its own (unit tests): the embedded defaults, an in-process bus, over `store`. */
export function hubOptions(store: Store, overrides: Partial<HubOptions> = {}): HubOptions {
  return {
    store,
    bus: new LocalBus(),
    presenceIntervalMs: DEFAULTS.presenceIntervalMs,
    maxRooms: DEFAULTS.maxRooms,
    maxName: DEFAULTS.maxName,
    maxRoomName: DEFAULTS.maxRoomName,
    listLimit: DEFAULTS.listLimit,
    ...overrides,
  };
}

/** A room's stored history through the hub; fails the test when the store cannot answer. */
export async function roomHistory(
  hub: Hub,
  room: string,
  options: RangeOptions,
): Promise<Range<ChatMessage>> {
  const result = await hub.history(room, options);
  if (!result.ok) throw new Error(`Cannot read the history of ${room}: ${result.detail}`);
  return result.value;
}

/** Resolves after `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` until it returns true, failing after a timeout. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  what: string,
  ms = WAIT_MS,
): Promise<void> {
  const end = performance.now() + ms;
  while (!(await check())) {
    if (performance.now() > end) throw new Error(`Timed out waiting until ${what}`);
    await delay(10);
  }
}

/** The project root, for child processes. */
export const ROOT = new URL("../", import.meta.url).pathname;

/**
 * The environment of a child process, to pass with `clearEnv: true`: this process's without any `HUBBUB_*`
 * variable, `NO_COLOR`, and `extra`. Test files run in parallel share one environment, and a CLI test sets
 * `HUBBUB_*` variables for a moment: a child started meanwhile must not inherit them.
 */
export function childEnv(extra: Record<string, string> = {}): Record<string, string> {
  const inherited = Object.entries(Deno.env.toObject()).filter(([key]) => !key.startsWith("HUBBUB_"));
  return { ...Object.fromEntries(inherited), NO_COLOR: "1", ...extra };
}

/** A `hubbub` child process whose JSON log lines are parsed as they arrive. */
export class Child implements AsyncDisposable {
  readonly process: Deno.ChildProcess;
  /** Parsed JSON log records from stderr. */
  readonly records: Record<string, unknown>[] = [];
  /** Raw stderr text. */
  stderr = "";
  readonly #reading: Promise<void>;

  /**
   * Starts `deno <args>` in the project root with piped output. `via` runs it through another command first
   * (`["sh", "-c", "...; exec \"$@\"", "sh"]`), e.g. to start it with a signal ignored.
   */
  constructor(args: string[], options: { env?: Record<string, string>; via?: readonly string[] } = {}) {
    const via = options.via ?? [];
    this.process = new Deno.Command(via[0] ?? Deno.execPath(), {
      args: via.length > 0 ? [...via.slice(1), Deno.execPath(), ...args] : args,
      cwd: ROOT,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      // History in memory unless a test says otherwise: tests never write a database into the source tree.
      clearEnv: true,
      // The IRC door on a free port unless a test says otherwise: 6667 is one port for every test at once.
      env: childEnv({ HUBBUB_STORE: "memory", HUBBUB_IRC: "127.0.0.1:0", ...options.env }),
    }).spawn();
    this.#reading = this.#read();
    void this.process.stdout.pipeTo(new WritableStream());
  }

  async #read(): Promise<void> {
    const decoder = new TextDecoder();
    // Only complete lines are parsed, each once: a chatty child (thousands of records) stays cheap to follow.
    let partial = "";
    for await (const chunk of this.process.stderr) {
      const text = decoder.decode(chunk, { stream: true });
      this.stderr += text;
      const lines = (partial + text).split("\n");
      partial = lines.pop()!;
      for (const line of lines) {
        if (!line.startsWith("{")) continue;
        try {
          this.records.push(JSON.parse(line));
        } catch {
          // Not a log record.
        }
      }
    }
    if (partial.startsWith("{")) {
      try {
        this.records.push(JSON.parse(partial));
      } catch {
        // Cut off by the exit.
      }
    }
  }

  /** Waits for a log record whose message matches. */
  async record(message: string, ms = 30_000): Promise<Record<string, unknown>> {
    let found: Record<string, unknown> | undefined;
    await eventually(
      () => (found = this.records.find((r) => r.message === message)) !== undefined,
      `log '${message}'`,
      ms,
    );
    return found!;
  }

  /** Waits for a log record that `test` accepts (messages are rendered, with their values in them). */
  async recordWith(
    test: (record: Record<string, unknown>) => boolean,
    ms = 30_000,
  ): Promise<Record<string, unknown> & { properties: Record<string, unknown> }> {
    let found: Record<string, unknown> | undefined;
    await eventually(() => (found = this.records.find(test)) !== undefined, "a matching log record", ms);
    return found as Record<string, unknown> & { properties: Record<string, unknown> };
  }

  /** The TCP address from the startup record. */
  tcpAddr(): Promise<Deno.NetAddr> {
    return this.#addr("tcp");
  }

  /** The HTTP address from the startup record. */
  httpAddr(): Promise<Deno.NetAddr> {
    return this.#addr("http");
  }

  /** The IRC address from the startup record. */
  ircAddr(): Promise<Deno.NetAddr> {
    return this.#addr("irc");
  }

  async #addr(door: "tcp" | "http" | "irc"): Promise<Deno.NetAddr> {
    const up = await this.record("hubbub is up");
    const value = String((up.properties as Record<string, unknown>)[door]);
    const colon = value.lastIndexOf(":");
    return { transport: "tcp", hostname: value.slice(0, colon), port: Number(value.slice(colon + 1)) };
  }

  /** Waits for exit and for stderr to be read. */
  async status(): Promise<Deno.CommandStatus> {
    const status = await this.process.status;
    await this.#reading;
    return status;
  }

  /** Kills the process if it is still running. */
  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.process.kill("SIGKILL");
    } catch {
      // Already exited.
    }
    await this.status();
  }
}

/** A WebSocket test client that records every frame and waits for the ones a test expects. */
export class WsClient implements AsyncDisposable {
  readonly socket: WebSocket;
  /** Every text frame received so far, in order. */
  readonly frames: string[] = [];
  /** Set once the socket has closed. */
  closeEvent: CloseEvent | null = null;
  readonly opened: Promise<void>;
  readonly closedPromise: Promise<CloseEvent>;
  #seen = 0;
  #waiters = new Set<() => void>();

  /** Opens a socket (with handshake headers, such as a cookie, when given); `await client.opened` before sending. */
  constructor(url: string | URL, protocols?: string[] | { readonly headers: HeadersInit }) {
    // Handshake headers are Deno's extension to the WebSocket constructor; the DOM's type does not know it.
    const open = WebSocket as unknown as new (url: string | URL, options?: typeof protocols) => WebSocket;
    this.socket = new open(url, protocols);
    this.socket.binaryType = "arraybuffer";
    this.opened = new Promise((resolve, reject) => {
      this.socket.addEventListener("open", () => resolve(), { once: true });
      this.socket.addEventListener("error", () => reject(new Error(`Cannot open ${url}`)), { once: true });
    });
    this.opened.catch(() => {});
    this.socket.addEventListener("message", (event) => {
      this.frames.push(typeof event.data === "string" ? event.data : new TextDecoder().decode(event.data));
      for (const wake of this.#waiters) wake();
    });
    this.closedPromise = new Promise((resolve) => {
      this.socket.addEventListener("close", (event) => {
        this.closeEvent = event;
        for (const wake of this.#waiters) wake();
        resolve(event);
      });
    });
  }

  /** Opens a socket to `path` on a server's HTTP door and waits until it is open; `headers` go in the handshake. */
  static async open(addr: Deno.NetAddr, path: string, headers?: HeadersInit): Promise<WsClient> {
    const url = `ws://${addr.hostname}:${addr.port}${path}`;
    const client = new WsClient(url, headers === undefined ? undefined : { headers });
    await client.opened;
    return client;
  }

  /** Sends a frame; objects are sent as JSON. */
  send(data: unknown): void {
    if (data instanceof Uint8Array) this.socket.send(data.slice());
    else this.socket.send(typeof data === "string" ? data : JSON.stringify(data));
  }

  /** Waits for the next frame (after those consumed) that matches; frames before it are consumed. */
  async expect(want: string | ((frame: string) => boolean), ms = WAIT_MS): Promise<string> {
    const test = typeof want === "string" ? (f: string) => f === want : want;
    const found = await new Promise<string | undefined>((resolve) => {
      const check = () => {
        while (this.#seen < this.frames.length) {
          const frame = this.frames[this.#seen++]!;
          if (test(frame)) return finish(frame);
        }
        if (this.closeEvent) finish(undefined);
      };
      const finish = (value: string | undefined) => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve(value);
      };
      const timer = setTimeout(() => finish(undefined), ms);
      this.#waiters.add(check);
      check();
    });
    if (found === undefined) {
      const last = this.frames.slice(-6).map((f) => f.length > 200 ? f.slice(0, 200) + "…" : f);
      throw new Error(`Timed out waiting for ${String(want)}; last frames ${JSON.stringify(last)}`);
    }
    return found;
  }

  /** Waits for the next JSON frame whose fields include every field of `fields` (deep, partial). */
  async expectJson(fields: Record<string, unknown>, ms = WAIT_MS): Promise<Record<string, unknown>> {
    const frame = await this.expect((f) => {
      try {
        return matches(JSON.parse(f), fields);
      } catch {
        return false;
      }
    }, ms);
    return JSON.parse(frame);
  }

  /** Frames received and not yet consumed. */
  unread(): string[] {
    return this.frames.slice(this.#seen);
  }

  /** Closes and waits for the close event. */
  async close(): Promise<void> {
    if (this.socket.readyState === WebSocket.CONNECTING) await this.opened.catch(() => {});
    if (this.socket.readyState < WebSocket.CLOSING) this.socket.close();
    if (this.socket.readyState !== WebSocket.CLOSED || !this.closeEvent) await this.closedPromise;
  }

  /** `await using` support. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** Whether `value` contains every field of `want` (objects compared partially, arrays and scalars exactly). */
export function matches(value: unknown, want: unknown): boolean {
  if (want !== null && typeof want === "object" && !Array.isArray(want)) {
    if (value === null || typeof value !== "object") return false;
    return Object.entries(want).every(([k, v]) => matches((value as Record<string, unknown>)[k], v));
  }
  return JSON.stringify(value) === JSON.stringify(want);
}

/**
 * A line connection without a socket, for driving a TCP dialect directly: a real hub over a memory store, a
 * session that records every line it is sent, and the ends and hub calls the dialect asked for.
 */
export class FakeLineConnection implements LineConnection, Session {
  readonly id = `c_fake_${Math.random().toString(36).slice(2, 8)}`;
  readonly hub: Hub;
  /** The peer's address: a documentation address, not loopback (so cleartext warnings show). */
  remote = "192.0.2.7";
  secure = false;
  readonly client: Client;
  codec: Codec;
  /** Every line sent, without its terminator (frames from the hub's codec are decoded). */
  readonly lines: string[] = [];
  /** Every reason the dialect ended the connection for, in order. */
  readonly ended: CloseReason[] = [];
  /** Every reason the session was closed for (by `end`, or by the hub). */
  readonly closed: CloseReason[] = [];
  readonly #tracked: Promise<void>[] = [];

  /** Connects a fake to `hub` (a fresh one by default) speaking `codec`. */
  constructor(codec: Codec, hub: Hub = new Hub(hubOptions(new MemoryStore(), { presenceIntervalMs: 0 }))) {
    this.codec = codec;
    this.hub = hub;
    this.client = hub.connect(this);
  }

  /** The session is the fake itself. */
  get session(): Session {
    return this;
  }

  send(frame: Frame): void {
    const text = typeof frame === "string" ? frame : new TextDecoder().decode(frame).replace(/\n$/, "");
    this.lines.push(text);
  }

  pressure(): number {
    return 0;
  }

  queued(): number {
    return 0;
  }

  close(reason: CloseReason): void {
    this.closed.push(reason);
  }

  end(reason: CloseReason): void {
    this.ended.push(reason);
    this.hub.disconnect(this.client);
    this.close(reason);
  }

  useCodec(codec: Codec): void {
    this.codec = codec;
  }

  track<T>(pending: Promise<Result<T>>, onFail: (code: ErrorCode, detail: string) => void): void {
    this.#tracked.push(pending.then((result) => {
      if (!result.ok) onFail(result.code, result.detail);
    }));
  }

  /** Waits for every hub call the dialect tracked. */
  async settled(): Promise<void> {
    await Promise.all(this.#tracked);
  }
}

/** A module of `deno info --json`: its specifier and, for local modules, its imports. */
export interface InfoModule {
  /** `file:///…`, `npm:/pkg@1.2.3`, `node:…`. */
  readonly specifier: string;
  /** `esm`, `npm`, `node`, `asserted` (JSON). */
  readonly kind: string;
  /** For `npm` modules: the resolved package (`pkg@1.2.3`). */
  readonly npmPackage?: string;
  /** Imports: `code` for a value import, `type` alone for `import type`. */
  readonly dependencies?: readonly {
    readonly code?: { readonly specifier: string };
    readonly type?: { readonly specifier: string };
  }[];
}

/** What `deno info --json` says about one entry point's module graph. */
export interface DenoInfo {
  /** Every module the graph reaches. */
  readonly modules: readonly InfoModule[];
  /** Deno's npm resolution (the lockfile's snapshot): packages and their dependencies. */
  readonly npmPackages: Readonly<Record<string, { readonly dependencies: readonly string[] }>>;
}

/** Runs `deno info --json` on `entry` (relative to the project root) under `config` (default `deno.json`). */
export async function denoInfo(entry: string, config = "deno.json"): Promise<DenoInfo> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "--config", config, entry],
    cwd: ROOT,
    stdin: "null",
    env: { NO_COLOR: "1" },
  }).output();
  const decoder = new TextDecoder();
  if (code !== 0) throw new Error(`Cannot read the module graph of ${entry}: ${decoder.decode(stderr)}`);
  return JSON.parse(decoder.decode(stdout));
}
