/**
 * A line door: accepts connections, sniffs the dialect from the first bytes, frames lines, paces them, keeps
 * the deadlines, and hands each line to the connection's {@linkcode LineDialect}. {@linkcode serveLines}
 * serves any set of line dialects, so a new one plugs in without touching this file: the TCP door
 * (`serveTcp` in `src/tcp/listener.ts`) and the IRC door (`src/irc/`) are two calls of it. Each connection
 * owns one small read buffer and a bounded outbound queue ({@linkcode LineSession}); deadlines are checked
 * by one sweep per door rather than a timer per connection.
 * @module
 */

import { getLogger, type Logger } from "@logtape/logtape";
import type { Client, Hub } from "../../hub/hub.ts";
import type { CloseReason, Codec, ErrorCode, Result } from "../../model.ts";
import { type ConnectionGate, type RateOptions, TokenBucket } from "../../hub/limits.ts";
import { acceptLoop, closeQuietly } from "../accept.ts";
import { listen, type TlsKeys } from "../tls.ts";
import { ReadBuffer } from "../read_buffer.ts";
import type { DoorClose, LineConnection, LineDialect, LineDialects, Preamble } from "./dialect.ts";
import { type Line, line, LineFramer } from "./framer.ts";
import { LineSession } from "./session.ts";

/** Options of {@linkcode serveLines}. */
export interface LineDoorOptions {
  /** The hub connections talk to. */
  readonly hub: Hub;
  /** The dialects this port speaks. */
  readonly dialects: LineDialects;
  /** A door name for logs (`tcp`). */
  readonly door: string;
  /** Address to listen on. */
  readonly hostname: string;
  /** Port to listen on; 0 picks a free one. */
  readonly port: number;
  /** Share the port with other processes (SO_REUSEPORT, for `--workers`). */
  readonly reusePort?: boolean;
  /** Serve TLS with these keys (`ncat --ssl`, IRC over TLS); plain TCP when absent. */
  readonly tls?: TlsKeys | null;
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
  /** Inbound line rate per connection (lines per second; 0 = unlimited), burst, flood window and clock. */
  readonly rate: RateOptions;
  /** Whether connections are encrypted (TLS); by default, whether `tls` is set. */
  readonly secure?: boolean;
}

/** A running line door. */
export interface LineDoor {
  /** The bound address (the real port when 0 was asked for). */
  readonly addr: Deno.NetAddr;
  /** Resolves when the listener is closed and every connection has ended. */
  readonly finished: Promise<void>;
}

// Lines a connection may have waiting on the store before its reads pause: bounds memory per flooder.
const MAX_IN_FLIGHT = 64;

/** Starts a line door speaking `options.dialects`. */
export function serveLines(options: LineDoorOptions): LineDoor {
  const log = getLogger(["hubbub", options.door]);
  const connections = new Set<LineDoorConnection>();
  const sweepEvery = Math.max(25, Math.min(1000, options.idleTimeoutMs / 4, options.loginTimeoutMs / 4));
  const sweeper = setInterval(() => {
    const now = performance.now();
    for (const connection of connections) connection.sweep(now);
  }, sweepEvery);
  const refusal = options.dialects.fallback.refusal ?? ((reason: string) => `ERR ${reason}`);
  const { addr, finished } = acceptLoop({
    listen: (port) => listen({ ...options, port }),
    port: options.port,
    renewals: options.tls ?? null,
    gate: options.gate,
    door: options.door,
    signal: options.signal,
    serve: async (conn) => {
      const connection = new LineDoorConnection(conn, options, log);
      connections.add(connection);
      try {
        await connection.run();
      } finally {
        connections.delete(connection);
      }
    },
    refuse: (conn, reason) => refuse(conn, refusal(reason)),
  });
  return { addr, finished: finished.finally(() => clearInterval(sweeper)) };
}

/** Tells a connection over the limits why, without waiting on it for long, and closes it. */
async function refuse(conn: Deno.Conn, text: string): Promise<void> {
  const timer = setTimeout(() => closeQuietly(conn), 1000);
  await conn.write(line(text)).catch(() => 0);
  clearTimeout(timer);
  closeQuietly(conn);
}

/** One accepted connection: its read loop, dialect, rate limit and deadlines. */
class LineDoorConnection implements LineConnection {
  readonly #conn: Deno.Conn;
  readonly #options: LineDoorOptions;
  readonly #log: Logger;
  readonly hub: Hub;
  readonly session: LineSession;
  readonly client: Client;
  readonly remote: string;
  readonly secure: boolean;
  readonly #framer: LineFramer;
  readonly #bucket: TokenBucket;
  /** The fallback until the first non-blank byte picks another. */
  #dialect: LineDialect;
  /** Lines waiting on the store; created on a connection's first message. */
  #inFlight: Set<Promise<unknown>> | null = null;
  #phase: "sniff" | "preamble" | "lines";
  #preamble: Preamble | null = null;
  #openedAt = performance.now();
  #activeAt = performance.now();
  #closeReason: CloseReason | null = null;
  /** The dialect was told of this quiet spell (`LineDialect.quiet`). */
  #pinged = false;

  constructor(conn: Deno.Conn, options: LineDoorOptions, log: Logger) {
    this.#conn = conn;
    this.#options = options;
    this.#log = log;
    this.hub = options.hub;
    this.remote = (conn.remoteAddr as Deno.NetAddr).hostname;
    this.secure = options.secure ?? Boolean(options.tls);
    this.#dialect = options.dialects.fallback;
    this.#phase = options.dialects.sniffed === undefined ? "lines" : "sniff";
    this.#framer = new LineFramer({ maxLength: options.maxLineBytes });
    this.#bucket = new TokenBucket(options.rate);
    this.session = new LineSession(conn, {
      codec: this.#dialect.codec,
      maxQueueBytes: options.maxQueueBytes,
      load: options.hub.load,
      onClose: (reason) => {
        this.#closeReason ??= reason;
        if (reason === "slow-reader") {
          this.hub.metrics.slowReadersDropped++;
          this.#log.warn("slow reader dropped", { conn: this.session.id });
        }
      },
    });
    this.#useDialect(this.#dialect);
    this.client = this.hub.connect(this.session);
    // A TLS connection has neither knob in Deno; a plain one gets both.
    if ("setNoDelay" in conn) {
      try {
        (conn as Deno.TcpConn).setNoDelay(true);
        // The TCP heartbeat: the kernel probes quiet peers, so a vanished client is noticed without chat noise.
        (conn as Deno.TcpConn).setKeepAlive(true);
      } catch {
        // Not every platform allows both; neither is essential.
      }
    }
  }

  async run(): Promise<void> {
    const addr = this.#conn.remoteAddr as Deno.NetAddr;
    this.#log.info("connect", { conn: this.session.id, remote: `${addr.hostname}:${addr.port}` });
    if (this.#phase === "lines") this.#dialect.open(this);
    const reads = new ReadBuffer();
    try {
      while (true) {
        // The framer and the preamble copy what they keep, so the next read may reuse the buffer.
        const bytes = await reads.read(this.#conn);
        if (bytes === null) break;
        await this.#feed(bytes);
        if ((this.#inFlight?.size ?? 0) >= MAX_IN_FLIGHT) await Promise.race(this.#inFlight!);
      }
      // A partial line at end of stream is dropped: only a terminated line is a message.
    } catch {
      // Reset by peer, or closed by us: either way the connection is over.
    } finally {
      if (this.#inFlight !== null) await Promise.allSettled([...this.#inFlight]);
      this.hub.disconnect(this.client);
      this.session.close(this.#closeReason ?? "quit");
      this.#dialect.close?.(this);
      this.#log.info("disconnect", { conn: this.session.id, reason: this.#closeReason ?? "peer" });
    }
  }

  /** Enforces deadlines; called by the door's sweep. */
  sweep(now: number): void {
    if (this.#closeReason !== null) return;
    this.session.sweep(now);
    const waiting = this.#dialect.awaitingLogin?.(this) ?? this.client.name === null;
    const quiet = now - this.#activeAt;
    if (waiting && now - this.#openedAt > this.#options.loginTimeoutMs) this.#farewell("login-timeout");
    else if (!waiting && quiet > this.#options.idleTimeoutMs) this.#farewell("idle");
    else if (!waiting && !this.#pinged && quiet > this.#options.idleTimeoutMs / 2 && this.#dialect.quiet) {
      this.#pinged = true;
      this.#dialect.quiet(this);
    }
  }

  /** {@inheritDoc LineConnection.end} */
  end(reason: CloseReason): void {
    this.#closeReason ??= reason;
    this.hub.disconnect(this.client);
    this.session.close(reason);
  }

  /** {@inheritDoc LineConnection.useCodec} */
  useCodec(codec: Codec): void {
    this.session.codec = codec;
  }

  #useDialect(dialect: LineDialect): void {
    this.#dialect = dialect;
    this.session.codec = dialect.codec;
    const tailor = dialect.tailor;
    this.session.tailor = tailor === undefined ? null : (frame) => tailor(this, frame);
  }

  /** {@inheritDoc LineConnection.track} */
  track<T>(pending: Promise<Result<T>>, onFail: (code: ErrorCode, detail: string) => void): void {
    const done = pending.then((result) => {
      if (!result.ok) onFail(result.code, result.detail);
    }).finally(() => this.#inFlight!.delete(done));
    (this.#inFlight ??= new Set()).add(done);
  }

  #farewell(reason: DoorClose): void {
    this.#dialect.farewell(this, reason);
    this.end(reason);
  }

  async #feed(chunk: Uint8Array): Promise<void> {
    if (this.#phase === "sniff") {
      let i = 0;
      while (i < chunk.length && isBlank(chunk[i]!)) i++;
      if (i === chunk.length) return;
      this.#useDialect(this.#options.dialects.sniffed?.[String.fromCharCode(chunk[i]!)] ?? this.#dialect);
      this.#dialect.open(this);
      this.#preamble = this.#dialect.preamble?.(this) ?? null;
      this.#phase = this.#preamble ? "preamble" : "lines";
      // A preamble starts at the byte that picked its dialect; lines are framed whole (blank lines are skipped).
      if (this.#preamble) chunk = chunk.subarray(i);
    }
    if (this.#phase === "preamble") {
      const rest = await this.#preamble!.read(chunk);
      if (rest === null) return;
      this.#phase = "lines";
      this.#preamble = null;
      this.#activeAt = performance.now();
      chunk = rest;
    }
    const lines: Line[] = [];
    this.#framer.transform(chunk, { enqueue: (item) => lines.push(item) });
    for (const item of lines) {
      if (this.#closeReason !== null) return;
      if ("text" in item && item.text.trim() === "") continue;
      if (!(await this.#admitLine())) return;
      if ("error" in item) this.#dialect.refused(this, item.error);
      else {
        this.#activeAt = performance.now();
        this.#pinged = false;
        await this.#dialect.line(this, item.text);
      }
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
      this.#farewell("flood");
      return false;
    }
    if (verdict.first) this.#dialect.limited(this);
    await new Promise((resolve) => setTimeout(resolve, verdict.waitMs));
    this.#bucket.spendAfterWait();
    return this.#closeReason === null;
  }
}

function isBlank(byte: number): boolean {
  return byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d;
}
