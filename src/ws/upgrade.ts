/**
 * What every WebSocket dialect shares: the opening handshake, the socket's read loop, the heartbeat, the
 * rate limits, and handing the connection back to the hub when it closes.
 *
 * A dialect supplies a {@linkcode Dialect}: its starting codec and what to do with a text or binary message.
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { Client, Hub } from "../hub/hub.ts";
import type { HttpInfo, UpgradedIo } from "../http/server.ts";
import { type RateOptions, TokenBucket } from "../hub/limits.ts";
import type { CloseReason, Codec } from "../model.ts";
import { closeQuietly } from "../net/accept.ts";
import { CloseCode, FrameReader } from "./frames.ts";
import { ReadBuffer } from "../net/read_buffer.ts";
import { WsSession } from "./session.ts";

const log = getLogger(["hubbub", "ws"]);

/** The GUID RFC 6455 appends to the client's key. */
const WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/** After we sent our close frame, how long the peer has to answer with its own before the socket is cut. */
const LINGER_MS = 1000;
/** Typing frames may come this many times faster than messages (one per keystroke) before they are shed. */
const TYPING_FACTOR = 4;

/** Settings every WebSocket dialect needs. */
export interface WsOptions {
  /** The hub. */
  readonly hub: Hub;
  /** Largest message accepted, in bytes. */
  readonly maxFrameBytes: number;
  /** Unread bytes tolerated per connection before it is dropped. */
  readonly maxQueueBytes: number;
  /** Heartbeat: a peer silent this long (no frame, no pong) is closed; a ping goes out at half of it (ms). */
  readonly idleTimeoutMs: number;
  /** Inbound message rate per connection (per second; 0 = unlimited), burst, flood window and clock. */
  readonly rate?: RateOptions;
  /** Close a connection that has not finished its handshake after this long (milliseconds). */
  readonly loginTimeoutMs?: number;
}

/** One open WebSocket connection as a dialect sees it. */
export interface WsConnection {
  /** The hub. */
  readonly hub: Hub;
  /** The hub's handle for this connection. */
  readonly client: Client;
  /** The outbound side. */
  readonly session: WsSession;
  /** The peer's address (password attempts are limited per address). */
  readonly remote: string;
  /** Whether the connection is encrypted (TLS). */
  readonly secure: boolean;
  /** The page session token the upgrade request's cookie carried, if any (the dialect may sign in with it). */
  readonly pageSession: string | null;
  /**
   * Spends one message token; `false` when the message must not be processed (the dialect's `limited` has
   * told the client, or a flood closed the connection). Every frame but typing calls it.
   */
  admit(): boolean;
  /** Spends one typing token; `false` when the typing frame is to be shed, silently. */
  admitTyping(): boolean;
}

/** A WebSocket dialect: how it starts and what it does with messages. */
export interface Dialect {
  /** The codec the connection starts with. */
  readonly codec: Codec;
  /** Called once the socket is open. A returned promise holds back the connection's frames until it settles. */
  open(connection: WsConnection): void | Promise<void>;
  /**
   * A text message within the size limit. A returned promise (a name being claimed cluster-wide) holds back
   * this connection's later frames until it settles, so they are handled in order.
   */
  text(connection: WsConnection, data: string): void | Promise<void>;
  /** A binary message within the size limit; as `text`. */
  binary(connection: WsConnection, data: Uint8Array): void | Promise<void>;
  /** Called before a too-large message closes the connection (1009), to say so in the dialect. */
  tooLarge(connection: WsConnection): void;
  /** A message refused by the rate limit: say so in the dialect (it was not processed, nothing was sent). */
  limited(connection: WsConnection): void;
  /** Whether the connection still owes its handshake (MaChat); such connections meet the login deadline. */
  awaitingHandshake?(connection: WsConnection): boolean;
  /** Called once the socket has closed and the hub has let the connection go. */
  close?(connection: WsConnection): void;
}

/** What an upgrade request tells about its connection, beyond the socket. */
export interface UpgradeOptions {
  /** The page session token of the request's cookie (see `src/wire/cookie.ts`). */
  readonly pageSession?: string | null;
}

/** Why an upgrade request is refused: an HTTP status, a code and a line of text. */
export class UpgradeError extends Error {
  /** HTTP status (400, 426). */
  readonly status: number;
  /** Extra response headers (`Sec-WebSocket-Version` for 426). */
  readonly headers: Record<string, string>;

  /** Creates a refusal. */
  constructor(status: number, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = "UpgradeError";
    this.status = status;
    this.headers = headers;
  }
}

/**
 * The WebSocket door: every open WebSocket of one HTTP listener, their heartbeat and deadlines in one sweep,
 * and the upgrade itself.
 */
export class WsDoor {
  readonly #options: WsOptions;
  readonly #sockets = new Set<Socket>();
  readonly #sweeper: ReturnType<typeof setInterval>;

  /** Creates a door and starts its sweep. */
  constructor(options: WsOptions) {
    this.#options = options;
    const every = Math.max(
      25,
      Math.min(1000, options.idleTimeoutMs / 4, (options.loginTimeoutMs ?? 1000) / 4),
    );
    this.#sweeper = setInterval(() => {
      const now = performance.now();
      for (const socket of this.#sockets) socket.sweep(now);
    }, every);
  }

  /** The hub. */
  get hub(): Hub {
    return this.#options.hub;
  }

  /** Open sockets. */
  get size(): number {
    return this.#sockets.size;
  }

  /**
   * Checks a WebSocket upgrade request and, when it is one, arranges for the HTTP server to hand the socket to
   * `dialect` once the handler returns (the response it returns is then not sent). Throws
   * {@linkcode UpgradeError} for a request that is not a valid upgrade.
   */
  async upgrade(
    request: Request,
    info: HttpInfo,
    dialect: Dialect,
    options: UpgradeOptions = {},
  ): Promise<Response> {
    const headers = request.headers;
    if (request.method !== "GET") throw new UpgradeError(400, "Cannot upgrade: WebSocket upgrades use GET");
    const connection = (headers.get("connection") ?? "").toLowerCase().split(",").map((t) => t.trim());
    if (headers.get("upgrade")?.toLowerCase() !== "websocket" || !connection.includes("upgrade")) {
      throw new UpgradeError(426, "Expected a WebSocket upgrade", { upgrade: "websocket" });
    }
    if (headers.get("sec-websocket-version") !== "13") {
      throw new UpgradeError(426, "Cannot upgrade: only WebSocket version 13 is supported", {
        "sec-websocket-version": "13",
      });
    }
    const key = headers.get("sec-websocket-key")?.trim() ?? "";
    if (!validKey(key)) {
      throw new UpgradeError(400, "Cannot upgrade: Sec-WebSocket-Key is not 16 bytes of base64");
    }
    const digest = await crypto.subtle.digest("SHA-1", new TextEncoder().encode(key + WS_GUID));
    info.upgrade({
      headers: [
        ["upgrade", "websocket"],
        ["connection", "Upgrade"],
        ["sec-websocket-accept", btoa(String.fromCharCode(...new Uint8Array(digest)))],
      ],
      run: (io) =>
        this.#run(io, dialect, {
          remote: info.remoteAddr.hostname,
          secure: info.secure,
          pageSession: options.pageSession ?? null,
        }),
    });
    // Not sent: the server answers 101 instead.
    return new Response(null, { status: 204 });
  }

  /** Stops the sweep; open sockets are closed by the hub's shutdown. */
  close(): void {
    clearInterval(this.#sweeper);
  }

  async #run(io: UpgradedIo, dialect: Dialect, peer: Peer): Promise<void> {
    const socket = new Socket(io, this.#options, dialect, peer);
    this.#sockets.add(socket);
    try {
      await socket.run();
    } finally {
      this.#sockets.delete(socket);
    }
  }
}

/** What a connection knows of its peer. */
type Peer = Pick<WsConnection, "remote" | "secure" | "pageSession">;

/** Whether `key` is base64 of 16 bytes, as RFC 6455 §4.2.1 asks. */
function validKey(key: string): boolean {
  if (!/^[A-Za-z0-9+/]{22}==$/.test(key)) return false;
  return true;
}

/** One open WebSocket: its read loop, heartbeat, limits and dialect. */
class Socket {
  readonly #conn: Deno.Conn;
  readonly #options: WsOptions;
  readonly #dialect: Dialect;
  readonly #session: WsSession;
  readonly #connection: WsConnection;
  readonly #reader: FrameReader;
  readonly #messages: TokenBucket;
  readonly #typing: TokenBucket;
  readonly #openedAt = performance.now();
  #head: Uint8Array;
  /** When the peer last sent anything (a frame or a pong). */
  #heardAt = performance.now();
  #pinged = false;
  /** The peer's close frame arrived: stop reading; our answer is on its way. */
  #closeReceived = false;
  #linger: ReturnType<typeof setTimeout> | undefined;
  /** Settles once the socket is closed. */
  readonly #gone: Promise<void>;
  #cut!: () => void;
  /** Frames are handled in order: while one waits on a name claim, the next ones queue behind it. */
  #chain: Promise<void> | null = null;

  constructor(io: UpgradedIo, options: WsOptions, dialect: Dialect, peer: Peer) {
    this.#conn = io.conn;
    this.#head = io.head;
    this.#gone = new Promise((resolve) => {
      this.#cut = () => {
        clearTimeout(this.#linger);
        closeQuietly(this.#conn);
        resolve();
      };
    });
    this.#options = options;
    this.#dialect = dialect;
    this.#reader = new FrameReader({ maxMessage: options.maxFrameBytes });
    const rate = options.rate ?? { rate: 0, burst: 1 };
    this.#messages = new TokenBucket(rate);
    this.#typing = new TokenBucket({
      ...rate,
      rate: rate.rate * TYPING_FACTOR,
      burst: rate.burst * TYPING_FACTOR,
    });
    const hub = options.hub;
    this.#session = new WsSession({
      codec: dialect.codec,
      maxQueueBytes: options.maxQueueBytes,
      load: hub.load,
      sink: {
        write: (bytes) => this.#conn.write(bytes),
        end: (graceful) => this.#end(graceful),
      },
      onClose: (reason) => this.#closing(reason),
    });
    const session = this.#session;
    this.#connection = {
      hub,
      client: hub.connect(session),
      session,
      ...peer,
      admit: () => this.#admit(this.#messages, true),
      admitTyping: () => this.#admit(this.#typing, false),
    };
  }

  async run(): Promise<void> {
    log.info("connect", { conn: this.#session.id, codec: this.#dialect.codec.name });
    this.#handle(() => this.#dialect.open(this.#connection));
    const reader = new ReadBuffer();
    try {
      if (this.#head.length > 0) this.#feed(this.#head);
      this.#head = new Uint8Array(0);
      while (!this.#closeReceived) {
        const bytes = await reader.read(this.#conn);
        if (bytes === null) break;
        this.#heardAt = performance.now();
        this.#pinged = false;
        this.#feed(bytes);
      }
    } catch {
      // Reset by the peer, or closed by us: either way the connection is over.
    }
    // The peer is gone, unless it sent its close frame (then our answer drains, bounded by the outbox).
    if (!this.#closeReceived) {
      this.#session.abort("quit");
      this.#cut();
    }
    await this.#gone;
    if (this.#chain !== null) await this.#chain;
  }

  /** Heartbeat and deadlines; the door's sweep calls it. */
  sweep(now: number): void {
    this.#session.sweep(now);
    if (this.#session.closeReason !== null) return;
    const { idleTimeoutMs, loginTimeoutMs } = this.#options;
    if (
      loginTimeoutMs && this.#dialect.awaitingHandshake?.(this.#connection) &&
      now - this.#openedAt > loginTimeoutMs
    ) {
      return this.#session.close("login-timeout");
    }
    const silent = now - this.#heardAt;
    if (silent > idleTimeoutMs) return this.#session.close("idle");
    if (silent > idleTimeoutMs / 2 && !this.#pinged) {
      this.#pinged = true;
      this.#session.ping();
    }
  }

  #feed(bytes: Uint8Array): void {
    this.#reader.push(bytes, {
      text: (data) => this.#handle(() => this.#dialect.text(this.#connection, data)),
      binary: (data) => this.#handle(() => this.#dialect.binary(this.#connection, data)),
      ping: (payload) => this.#session.pong(payload),
      pong: () => {},
      close: (code) => {
        this.#closeReceived = true;
        // Answer the close handshake (echoing a normal close); a close we started is now complete.
        if (this.#session.closeReason === null) {
          this.#session.close("quit", code === 1005 ? CloseCode.normal : echoable(code), "");
        } else this.#cut();
      },
      error: (code, reason, tooLarge) => {
        if (tooLarge) {
          guard(() => this.#dialect.tooLarge(this.#connection));
          return this.#session.close("too-large");
        }
        log.info("protocol error: {reason}", { conn: this.#session.id, reason });
        this.#session.close("protocol", code, reason);
      },
    });
  }

  #admit(bucket: TokenBucket, tell: boolean): boolean {
    if (this.#session.closeReason !== null) return false;
    const verdict = bucket.take();
    if (verdict.kind === "ok") return true;
    // No way to pause a WebSocket's reads without stalling its pings: over the rate a frame is refused
    // (told, except typing, which is shed), and a flood is closed.
    if (verdict.kind === "flood") this.#session.close("flood");
    else if (tell) guard(() => this.#dialect.limited(this.#connection));
    return false;
  }

  #handle(handle: () => void | Promise<void>): void {
    // Once closing, frames still arriving are dropped (RFC 6455 §5.5.1): nothing more is sent or processed.
    if (this.#session.closeReason !== null) return;
    if (this.#chain !== null) {
      const next: Promise<void> = this.#chain.then(() => guard(handle));
      this.#chain = next;
      next.then(() => {
        if (this.#chain === next) this.#chain = null;
      });
      return;
    }
    const pending = guard(handle);
    if (pending) {
      this.#chain = pending;
      pending.then(() => {
        if (this.#chain === pending) this.#chain = null;
      });
    }
  }

  /** The session started closing: the hub lets the member go now. */
  #closing(reason: CloseReason): void {
    const hub = this.#options.hub;
    if (reason === "slow-reader") hub.metrics.slowReadersDropped++;
    hub.disconnect(this.#connection.client);
    if (this.#dialect.close) guard(() => this.#dialect.close!(this.#connection));
    log.info("disconnect", { conn: this.#session.id, reason });
  }

  /** The outbox is done: after a graceful close frame, wait a moment for the peer's; otherwise cut. */
  #end(graceful: boolean): void {
    if (!graceful || this.#closeReceived) return this.#cut();
    this.#linger ??= setTimeout(() => this.#cut(), LINGER_MS);
  }
}

/** Close codes a peer may send and we may echo; anything else is answered with a normal close. */
function echoable(code: number): number {
  return code >= 1000 && code <= 1003 || code >= 1007 && code <= 1014 || code >= 3000 && code <= 4999
    ? code
    : CloseCode.protocolError;
}

// A bug in one dialect's handler must cost one frame, never the process.
function guard(fn: () => void | Promise<void>): Promise<void> | undefined {
  const failed = (error: unknown) => log.error("frame handler failed: {error}", { error: String(error) });
  try {
    const result = fn();
    return result instanceof Promise ? result.catch(failed) : undefined;
  } catch (error) {
    failed(error);
    return undefined;
  }
}

/** Resolves a hub promise and reports a refusal through `onFail`; never rejects. */
export function settle<T>(
  pending: Promise<{ ok: true; value: T } | { ok: false; code: string; detail: string }>,
  onFail: (code: string, detail: string) => void,
): void {
  pending.then((result) => {
    if (!result.ok) onFail(result.code, result.detail);
  }, (error) => log.error("hub call failed: {error}", { error: String(error) }));
}
