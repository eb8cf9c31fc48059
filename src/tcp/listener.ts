/**
 * The TCP door: accepts connections, sniffs the dialect from the first bytes, frames lines and turns
 * them into hub calls.
 *
 * Each connection owns one small read buffer and a bounded outbound queue ({@linkcode TcpSession}).
 * Deadlines (login, idle) are checked by one sweep per door rather than a timer per connection.
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { Client, Hub } from "../hub/hub.ts";
import type { CloseReason, Codec, Frame, Result, Session } from "../model.ts";
import { newConnectionId } from "../model.ts";
import { DEFAULT_ROOM } from "../names.ts";
import { commandCodec, HELP_LINES, line, oneLine, parseCommand } from "./commands.ts";
import type { Command } from "./commands.ts";
import { type Line, LineFramer } from "./lines.ts";
import { concat, type LoadGauge, Outbox } from "../hub/backpressure.ts";
import { type ConnectionGate, TokenBucket } from "../hub/limits.ts";
import { acceptLoop, closeQuietly } from "../net/accept.ts";
import { BAD_HANDSHAKE, handshakeEnd, machatCodec, MAX_HANDSHAKE, parseHandshake } from "./machat.ts";

const log = getLogger(["hubbub", "tcp"]);

/** Options of {@linkcode serveTcp}. */
export interface TcpOptions {
  /** The hub connections talk to. */
  readonly hub: Hub;
  /** Address to listen on. */
  readonly hostname: string;
  /** Port to listen on; 0 picks a free one. */
  readonly port: number;
  /** Share the port with other processes (SO_REUSEPORT, for `--workers`). */
  readonly reusePort?: boolean;
  /** Longest line in bytes. */
  readonly maxLineBytes: number;
  /** Outbound bytes a connection may have queued before it is dropped as a slow reader. */
  readonly maxQueueBytes: number;
  /** Close a connection after this long without a non-empty line (milliseconds). */
  readonly idleTimeoutMs: number;
  /** Close a connection that has not logged in (or sent its handshake) after this long (milliseconds). */
  readonly loginTimeoutMs: number;
  /** Aborting it stops accepting; the hub's shutdown closes the connections. */
  readonly signal: AbortSignal;
  /** Counts connections across doors and refuses those over the limits. */
  readonly gate: ConnectionGate;
  /** Inbound line rate per connection (lines per second; 0 = unlimited) and burst. */
  readonly rate: { readonly rate: number; readonly burst: number };
  /** Recent messages replayed to a MaChat client when it joins (default 0: MaChat's client shows them as live). */
  readonly machatHistoryOnJoin?: number;
}

/** A running TCP door. */
export interface TcpDoor {
  /** The bound address (the real port when 0 was asked for). */
  readonly addr: Deno.NetAddr;
  /** Resolves when the listener is closed and every connection has ended. */
  readonly finished: Promise<void>;
}

// Small on purpose: every idle connection holds its buffer while its read is pending.
const READ_SIZE = 256;
// A connection whose read fills the small buffer is busy, and gets this one: fewer reads per byte.
const BUSY_READ_SIZE = 16 * 1024;
// A busy connection keeps the big buffer until this many reads in a row would have fitted the small one, so a
// sender of bursts does not swap buffers (an allocation each time) on every read.
const QUIET_READS = 64;
// Lines a connection may have waiting on the store before its reads pause: bounds memory per flooder.
const MAX_IN_FLIGHT = 64;

/** Starts the TCP door. */
export function serveTcp(options: TcpOptions): TcpDoor {
  const listener = Deno.listen({
    hostname: options.hostname,
    port: options.port,
    transport: "tcp",
    ...(options.reusePort ? { reusePort: true } : {}),
  });
  const connections = new Set<TcpConnection>();
  const sweepEvery = Math.max(
    25,
    Math.min(1000, Math.min(options.idleTimeoutMs, options.loginTimeoutMs) / 4),
  );
  const sweeper = setInterval(() => {
    const now = performance.now();
    for (const connection of connections) connection.sweep(now);
  }, sweepEvery);
  const finished = acceptLoop({
    listener,
    gate: options.gate,
    door: "tcp",
    signal: options.signal,
    serve: async (conn) => {
      const connection = new TcpConnection(conn, options);
      connections.add(connection);
      try {
        await connection.run();
      } finally {
        connections.delete(connection);
      }
    },
    refuse,
  }).finally(() => clearInterval(sweeper));
  return { addr: listener.addr, finished };
}

/** Tells a connection over the limits why, without waiting on it for long, and closes it. */
async function refuse(conn: Deno.TcpConn, reason: string): Promise<void> {
  const timer = setTimeout(() => closeQuietly(conn), 1000);
  await conn.write(line(`ERR ${reason}`)).catch(() => 0);
  clearTimeout(timer);
  closeQuietly(conn);
}

/** The outbound side of one TCP connection: a thin writer over the {@linkcode Outbox} every door shares. */
export class TcpSession implements Session {
  readonly id: string;
  codec: Codec;
  readonly #outbox: Outbox;

  /** Wraps a connection. `onClose` runs once, when closing starts. */
  constructor(
    conn: Deno.Conn,
    options: { maxQueueBytes: number; load: LoadGauge; onClose: (reason: CloseReason) => void },
  ) {
    this.id = newConnectionId();
    this.codec = commandCodec;
    this.#outbox = new Outbox({
      sink: { write: (bytes) => conn.write(bytes), end: () => closeQuietly(conn) },
      max: options.maxQueueBytes,
      load: options.load,
      onClose: options.onClose,
    });
  }

  /** {@inheritDoc Session.queued} */
  queued(): number {
    return this.#outbox.queued;
  }

  /** {@inheritDoc Session.send} Text is one line (its `\n` added); bytes go as they are. */
  send(frame: Frame): void {
    this.#outbox.push(typeof frame === "string" ? line(frame) : frame);
  }

  /** Marks the session backed up or not; the door's sweep calls it. */
  sweep(now: number): void {
    this.#outbox.sweep(now);
  }

  /** {@inheritDoc Session.pressure} */
  pressure(): number {
    return this.#outbox.pressure();
  }

  /** Closes after what is queued has been written (at most one second), or at once for a slow reader. */
  close(reason: CloseReason): void {
    this.#outbox.close(reason);
  }
}

type Phase = "sniff" | "handshake" | "lines";

/** One accepted connection: its read loop, dialect state and deadlines. */
class TcpConnection {
  readonly #conn: Deno.TcpConn;
  readonly #options: TcpOptions;
  readonly #hub: Hub;
  readonly #session: TcpSession;
  readonly #client: Client;
  readonly #framer: LineFramer;
  readonly #bucket: TokenBucket;
  /** Lines waiting on the store; created on a connection's first message. */
  #inFlight: Set<Promise<unknown>> | null = null;
  #phase: Phase = "sniff";
  #handshake: Uint8Array[] = [];
  #handshakeLength = 0;
  #machat = false;
  #openedAt = performance.now();
  #activeAt = performance.now();
  #closeReason: CloseReason | null = null;

  constructor(conn: Deno.TcpConn, options: TcpOptions) {
    this.#conn = conn;
    this.#options = options;
    this.#hub = options.hub;
    this.#framer = new LineFramer({ maxLength: options.maxLineBytes });
    this.#bucket = new TokenBucket(options.rate);
    this.#session = new TcpSession(conn, {
      maxQueueBytes: options.maxQueueBytes,
      load: options.hub.load,
      onClose: (reason) => {
        this.#closeReason ??= reason;
        if (reason === "slow-reader") {
          this.#hub.metrics.slowReadersDropped++;
          log.warn("slow reader dropped", { conn: this.#session.id });
        }
      },
    });
    this.#client = this.#hub.connect(this.#session);
    try {
      conn.setNoDelay(true);
      // The TCP heartbeat: the kernel probes quiet peers, so a vanished client is noticed without chat noise.
      conn.setKeepAlive(true);
    } catch {
      // Not every platform allows both; neither is essential.
    }
  }

  async run(): Promise<void> {
    const addr = this.#conn.remoteAddr as Deno.NetAddr;
    log.info("connect", { conn: this.#session.id, remote: `${addr.hostname}:${addr.port}` });
    let buffer = new Uint8Array(READ_SIZE);
    // Small reads in a row on the big buffer: after QUIET_READS of them the connection gets the small one back.
    let small = 0;
    try {
      while (true) {
        const n = await this.#conn.read(buffer);
        if (n === null) break;
        const bytes = buffer.subarray(0, n);
        // Lines are copied out of the buffer when framed, so it can be replaced at once.
        if (n === buffer.length && n < BUSY_READ_SIZE) buffer = new Uint8Array(BUSY_READ_SIZE);
        else if (buffer.length > READ_SIZE) {
          small = n < READ_SIZE ? small + 1 : 0;
          if (small >= QUIET_READS) buffer = new Uint8Array(READ_SIZE);
        }
        await this.#feed(bytes);
        if (this.#inFlight !== null && this.#inFlight.size >= MAX_IN_FLIGHT) {
          await Promise.race(this.#inFlight);
        }
      }
      // A partial line at end of stream is dropped: only a terminated line is a message.
    } catch {
      // Reset by peer, or closed by us: either way the connection is over.
    } finally {
      if (this.#inFlight !== null) await Promise.allSettled([...this.#inFlight]);
      this.#hub.disconnect(this.#client);
      this.#session.close(this.#closeReason ?? "quit");
      log.info("disconnect", { conn: this.#session.id, reason: this.#closeReason ?? "peer" });
    }
  }

  /** Enforces deadlines; called by the door's sweep. */
  sweep(now: number): void {
    if (this.#closeReason !== null) return;
    this.#session.sweep(now);
    const loggedIn = this.#client.name !== null;
    if (!loggedIn && now - this.#openedAt > this.#options.loginTimeoutMs) {
      this.#session.send(line(this.#machat ? BAD_HANDSHAKE : "ERR login-timeout"));
      this.#end("login-timeout");
    } else if (loggedIn && now - this.#activeAt > this.#options.idleTimeoutMs) {
      this.#session.send(line("INFO disconnected due to inactivity"));
      this.#end("idle");
    }
  }

  #end(reason: CloseReason): void {
    this.#closeReason ??= reason;
    this.#hub.disconnect(this.#client);
    this.#session.close(reason);
  }

  async #feed(chunk: Uint8Array): Promise<void> {
    if (this.#phase === "sniff") {
      let i = 0;
      while (i < chunk.length && isBlank(chunk[i]!)) i++;
      if (i === chunk.length) return;
      if (chunk[i] === 0x7b) {
        this.#phase = "handshake";
        this.#machat = true;
        this.#session.codec = machatCodec;
        chunk = chunk.subarray(i);
      } else {
        this.#phase = "lines";
      }
    }
    if (this.#phase === "handshake") {
      this.#handshake.push(chunk.slice());
      this.#handshakeLength += chunk.length;
      const bytes = concat(this.#handshake, this.#handshakeLength);
      const end = handshakeEnd(bytes);
      if (end === -1) {
        if (this.#handshakeLength > MAX_HANDSHAKE) this.#refuseHandshake();
        return;
      }
      this.#handshake = [];
      if (!(await this.#acceptHandshake(bytes.subarray(0, end)))) return;
      this.#phase = "lines";
      chunk = bytes.subarray(end);
    }
    await this.#lines((sink) => this.#framer.transform(chunk, sink));
  }

  async #lines(frame: (sink: { enqueue(line: Line): void }) => void): Promise<void> {
    const lines: Line[] = [];
    frame({ enqueue: (item) => lines.push(item) });
    for (const item of lines) {
      if (this.#closeReason !== null) return;
      if ("text" in item && item.text.trim() === "") continue;
      if (!(await this.#admitLine())) return;
      if ("error" in item) {
        this.#session.send(line(`ERR ${item.error === "too-long" ? "line-too-long" : "invalid-utf8"}`));
      } else if (this.#machat) this.#machatLine(item.text);
      else await this.#command(parseCommand(item.text));
    }
  }

  /**
   * The rate limit, IRC style: over the limit a line waits (fakelag: reading pauses, the client is slowed),
   * the client is told once per episode, and one limited for too long is disconnected.
   */
  async #admitLine(): Promise<boolean> {
    const verdict = this.#bucket.take();
    if (verdict.kind === "ok") return true;
    if (verdict.kind === "flood") {
      this.#session.send(line("ERR flood: too many lines for too long, disconnecting"));
      this.#end("flood");
      return false;
    }
    if (verdict.first) this.#session.send(line("ERR rate-limited: slow down"));
    await new Promise((resolve) => setTimeout(resolve, verdict.waitMs));
    this.#bucket.spendAfterWait();
    return this.#closeReason === null;
  }

  async #acceptHandshake(bytes: Uint8Array): Promise<boolean> {
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch {
      this.#refuseHandshake();
      return false;
    }
    const handshake = parseHandshake(text);
    if (!handshake) {
      this.#refuseHandshake();
      return false;
    }
    const login = await this.#hub.claim(this.#client, handshake.name, { variant: true });
    if (!login.ok && login.code === "unavailable") {
      // The handshake was fine; the cluster's names cannot be asked (Redis is away).
      this.#session.send(line("ERR unavailable"));
      this.#end("protocol");
      return false;
    }
    if (!login.ok) {
      this.#refuseHandshake();
      return false;
    }
    const joined = this.#hub.join(this.#client, handshake.room, {
      replay: this.#options.machatHistoryOnJoin ?? 0,
    });
    if (!joined.ok) {
      this.#hub.disconnect(this.#client);
      this.#refuseHandshake();
      return false;
    }
    if (login.value !== handshake.name) {
      this.#hub.notify(this.#client, "renamed", `your name is ${login.value} (${handshake.name} is taken)`);
    }
    this.#activeAt = performance.now();
    return true;
  }

  #refuseHandshake(): void {
    this.#session.send(line(BAD_HANDSHAKE));
    this.#end("protocol");
  }

  #machatLine(text: string): void {
    if (text.trim() === "") return;
    this.#activeAt = performance.now();
    this.#track(
      this.#hub.say(this.#client, text),
      (result) => this.#session.send(line(`ERR ${result.code}`)),
    );
  }

  #track<T>(pending: Promise<Result<T>>, onFail: (result: Result<T> & { ok: false }) => void): void {
    const done = pending.then((result) => {
      if (!result.ok) onFail(result);
    }).finally(() => this.#inFlight!.delete(done));
    (this.#inFlight ??= new Set()).add(done);
  }

  #reply(...lines: string[]): void {
    // Replies carry names and stored text (HIST): none of it may reach a terminal raw.
    for (const text of lines) this.#session.send(line(oneLine(text)));
  }

  async #command(command: Command): Promise<void> {
    if (command.cmd === "empty") return;
    this.#activeAt = performance.now();
    const hub = this.#hub;
    const client = this.#client;
    if (client.name === null && !["login", "ping", "help", "quit", "unknown"].includes(command.cmd)) {
      this.#reply("ERR expected 'LOGIN <username>'");
      return;
    }
    switch (command.cmd) {
      case "login": {
        if (client.name !== null) return this.#reply("ERR already-logged-in");
        if (command.name === "") return this.#reply("ERR expected 'LOGIN <username>'");
        const result = await hub.claim(client, command.name);
        if (!result.ok) return this.#reply(`ERR ${result.code}`);
        this.#reply("OK");
        hub.join(client, DEFAULT_ROOM);
        return;
      }
      case "say":
        return this.#track(hub.say(client, command.text), (r) => this.#reply(`ERR ${r.code}`));
      case "dm":
        return this.#track(hub.dm(client, command.to, command.text), (r) => this.#reply(`ERR ${r.code}`));
      case "who": {
        const page = hub.members(client.room ?? DEFAULT_ROOM, { offset: command.offset });
        const more = page.next === null ? [] : [`INFO ${page.total} members; more with WHO ${page.next}`];
        return this.#reply(...page.members.map((u) => `USER ${u.name}`), ...more, "OK");
      }
      case "ping":
        return this.#reply("PONG");
      case "join": {
        return this.#switchRoom(command.room);
      }
      case "leave":
        return this.#switchRoom(DEFAULT_ROOM);
      case "rooms":
        return this.#reply(...hub.rooms().map((r) => `ROOM ${r.name} ${r.members}`), "OK");
      case "history":
      case "history-since": {
        const room = client.room ?? DEFAULT_ROOM;
        const result = await hub.history(
          room,
          command.cmd === "history" ? { limit: command.count } : { after: command.id, limit: 100_000 },
        );
        // The store is away (Redis down): say so; the connection stays.
        if (!result.ok) return this.#reply(`ERR ${result.code}`);
        const range = result.value;
        if (!range.complete) this.#reply("INFO history-gap");
        return this.#reply(
          ...range.messages.map((m) => `HIST ${m.id} ${new Date(m.time).toISOString()} ${m.from} ${m.text}`),
          "OK",
        );
      }
      case "help":
        return this.#reply(...HELP_LINES);
      case "quit":
        this.#reply("INFO bye");
        return this.#end("quit");
      case "unknown":
        return this.#reply("ERR unknown-cmd");
      case "usage":
        return this.#reply(`ERR usage: ${command.usage}`);
    }
  }

  /** Command clients are in one room at a time: joining one leaves the other. */
  #switchRoom(room: string): void {
    const moved = this.#hub.move(this.#client, room);
    this.#reply(moved.ok ? "OK" : `ERR ${moved.code}`);
  }
}

function isBlank(byte: number): boolean {
  return byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d;
}
