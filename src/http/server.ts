/**
 * The HTTP door's server: HTTP/1.1 on sockets hubbub accepts itself.
 *
 * `Deno.serve` cannot bound a request head's arrival time, close idle keep-alive connections, count
 * connections before a request completes, or survive running out of file descriptors (denoland/deno#3515;
 * its accept loop stops on `EMFILE`). So hubbub accepts HTTP connections with the same accept loop as every
 * other door ({@linkcode acceptLoop}: counted per IP and in the total, a descriptor reserve), reads each
 * request head within `headerTimeoutMs`, keeps an idle connection at most `keepAliveMs`, and hands requests
 * to a plain `(Request, info) => Response` handler, so routes stay testable without a socket. WebSocket
 * upgrades take the socket over through {@linkcode HttpInfo.upgrade}.
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { ConnectionGate } from "../hub/limits.ts";
import { acceptLoop, closeQuietly } from "../net/accept.ts";
import { listen, type TlsKeys } from "../net/tls.ts";
import { headEnd, parseHead, plainResponse, requestUrl, responseHead, skipEmptyLines } from "./wire.ts";

const log = getLogger(["hubbub", "http"]);

/** A request head may be at most this big (request line and header fields). */
export const MAX_HEAD_BYTES = 16 * 1024;
/** Request bodies may be at most this big: hubbub's routes take small JSON bodies only. */
export const MAX_BODY_BYTES = 64 * 1024;
/** A response must be written within this long, or the connection is closed (a client that does not read). */
const WRITE_TIMEOUT_MS = 30_000;
const READ_SIZE = 4096;

/** What a handler knows about a request's connection. */
export interface HttpInfo {
  /** The peer. */
  readonly remoteAddr: Deno.NetAddr;
  /** Whether the connection is TLS (for the Origin check and cookies). */
  readonly secure: boolean;
  /**
   * Takes the connection over once the handler returns (a WebSocket): the server answers `101` with
   * `headers` instead of the returned response, then runs `run` with the socket and any bytes that followed
   * the request, and is done with the connection. The connection stays counted until `run` settles.
   */
  upgrade(
    options: { readonly headers: [string, string][]; readonly run: (io: UpgradedIo) => Promise<void> },
  ): void;
}

/** A connection handed over by {@linkcode HttpInfo.upgrade}. */
export interface UpgradedIo {
  /** The socket, now the upgrader's to read, write and close. */
  readonly conn: Deno.Conn;
  /** Bytes the client sent after the request head (the first frames, when it did not wait for 101). */
  readonly head: Uint8Array;
}

/** A request handler: a route table, or a test's function. */
export type HttpHandler = (request: Request, info: HttpInfo) => Response | Promise<Response>;

/** Options of {@linkcode serveHttp}. */
export interface HttpServerOptions {
  /** Interface to bind. */
  readonly hostname: string;
  /** Port; 0 picks a free one. */
  readonly port: number;
  /** Share the port with other processes (SO_REUSEPORT, for `--workers`). */
  readonly reusePort?: boolean;
  /** Serve HTTPS (and WSS) with these keys; plain HTTP when absent. */
  readonly tls?: TlsKeys | null;
  /** Answers requests. */
  readonly handler: HttpHandler;
  /** Counts connections across doors. */
  readonly gate: ConnectionGate;
  /** A request head (and body) must arrive within this long of its first byte, or of the connection (ms). */
  readonly headerTimeoutMs: number;
  /** An idle keep-alive connection is closed after this long (milliseconds). */
  readonly keepAliveMs: number;
  /** Aborting it stops accepting and closes idle connections; upgraded ones are closed by their owners. */
  readonly signal: AbortSignal;
}

/** A running HTTP door. */
export interface HttpServer {
  /** The bound address (the real port when 0 was asked for). */
  readonly addr: Deno.NetAddr;
  /** Resolves when the listener is closed and every connection has ended. */
  readonly finished: Promise<void>;
}

/** The `Date` header value, refreshed by the door's sweep rather than formatted per response. */
let httpDate = new Date().toUTCString();

/** Starts an HTTP/1.1 server. Throws when the address cannot be bound. */
export function serveHttp(options: HttpServerOptions): HttpServer {
  const connections = new Set<HttpConnection>();
  const sweeper = setInterval(() => {
    httpDate = new Date().toUTCString();
    const now = performance.now();
    for (const connection of connections) connection.sweep(now);
  }, Math.max(50, Math.min(1000, options.headerTimeoutMs / 4, options.keepAliveMs / 4)));
  options.signal.addEventListener("abort", () => {
    for (const connection of connections) connection.shutdown();
  }, { once: true });
  const secure = Boolean(options.tls);
  const { addr, finished } = acceptLoop({
    listen: (port) => listen({ ...options, port }),
    port: options.port,
    renewals: options.tls ?? null,
    gate: options.gate,
    door: "http",
    signal: options.signal,
    serve: async (conn) => {
      const connection = new HttpConnection(conn, options, secure);
      connections.add(connection);
      try {
        await connection.run();
      } finally {
        connections.delete(connection);
      }
    },
    refuse: (conn, reason) => refuse(conn, reason),
  });
  return { addr, finished: finished.finally(() => clearInterval(sweeper)) };
}

/** Answers a connection over the limits with 503 and closes it, without waiting on the peer for long. */
async function refuse(conn: Deno.Conn, reason: string): Promise<void> {
  const bytes = plainResponse(503, `Cannot connect: ${reason}`, httpDate, [["retry-after", "5"]]);
  const timer = setTimeout(() => closeQuietly(conn), 1000);
  await conn.write(bytes).catch(() => 0);
  clearTimeout(timer);
  closeQuietly(conn);
}

type Phase = "idle" | "head" | "handling" | "writing" | "upgraded" | "closed";

/** One HTTP connection: reads requests one at a time, answers each, and enforces the deadlines. */
class HttpConnection {
  readonly #conn: Deno.Conn;
  readonly #options: HttpServerOptions;
  readonly #secure: boolean;
  #phase: Phase = "idle";
  /** When the current phase must be over (`performance.now()` time). */
  #deadline: number;
  #shuttingDown = false;
  /** Requests answered on this connection. */
  #served = 0;
  /** Bytes read and not yet used, `#fill` of them at the start of `#buffer`. */
  #buffer: Uint8Array<ArrayBuffer> = new Uint8Array(READ_SIZE);
  #fill = 0;

  constructor(conn: Deno.Conn, options: HttpServerOptions, secure: boolean) {
    this.#conn = conn;
    this.#options = options;
    this.#secure = secure;
    // A new connection owes its first request head as promptly as any other.
    this.#deadline = performance.now() + options.headerTimeoutMs;
    if ("setNoDelay" in conn) {
      try {
        (conn as Deno.TcpConn).setNoDelay(true);
      } catch {
        // Not essential.
      }
    }
  }

  /** Closes the connection when its deadline has passed; the door's sweep calls it. */
  sweep(now: number): void {
    if (this.#phase === "upgraded" || this.#phase === "closed" || now < this.#deadline) return;
    if (this.#phase === "head" || (this.#phase === "idle" && this.#fill > 0)) {
      // A request that started and did not finish in time is told so, best effort, then closed.
      this.#conn.write(plainResponse(408, "Request timeout: the request did not arrive in time", httpDate))
        .catch(() => {});
    }
    this.#close();
  }

  /** The server is stopping: idle connections close now, busy ones after their response. */
  shutdown(): void {
    this.#shuttingDown = true;
    if (this.#phase === "idle" || this.#phase === "head") this.#close();
  }

  async run(): Promise<void> {
    try {
      while (this.#phase !== "closed") {
        const keepAlive = await this.#request();
        if (!keepAlive || this.#shuttingDown) break;
      }
    } catch {
      // Reset by the peer, or closed by us (a deadline): the connection is over either way.
    } finally {
      if (this.#phase !== "upgraded") this.#close();
    }
  }

  /** Reads, handles and answers one request; resolves with whether the connection may go on. */
  async #request(): Promise<boolean> {
    // Between requests the connection is idle; the first byte of the next one starts the header deadline.
    const end = await this.#readHead();
    if (end === -1) return false;
    const head = parseHead(this.#buffer.subarray(0, end), { maxBody: MAX_BODY_BYTES });
    this.#consume(end);
    if ("status" in head) {
      await this.#writeRaw(plainResponse(head.status, head.reason, httpDate));
      return false;
    }
    const body = head.contentLength > 0 ? await this.#readBody(head.contentLength) : null;
    if (head.contentLength > 0 && body === null) return false;
    const url = requestUrl(head, this.#secure, this.#options.hostname);
    if (url === null) {
      await this.#writeRaw(plainResponse(400, "Malformed request target", httpDate));
      return false;
    }
    this.#phase = "handling";
    this.#deadline = Infinity;
    let upgrade: { headers: [string, string][]; run: (io: UpgradedIo) => Promise<void> } | null = null;
    const info: HttpInfo = {
      remoteAddr: this.#conn.remoteAddr as Deno.NetAddr,
      secure: this.#secure,
      upgrade: (options) => {
        upgrade = options;
      },
    };
    let response: Response;
    try {
      const hasBody = head.method !== "GET" && head.method !== "HEAD" && body !== null;
      const request = new Request(url, {
        method: head.method,
        headers: head.headers,
        ...(hasBody ? { body } : {}),
      });
      response = await this.#options.handler(request, info);
    } catch (error) {
      log.error("request failed: {error}", { error: String(error), path: url.pathname });
      response = new Response("Internal server error\n", {
        status: 500,
        headers: { "content-type": "text/plain; charset=utf-8" },
      });
    }
    if (upgrade !== null) return await this.#upgrade(upgrade, response);
    const keepAlive = head.keepAlive && !this.#shuttingDown;
    await this.#respond(response, head.method === "HEAD", keepAlive);
    this.#served++;
    this.#phase = "idle";
    this.#deadline = performance.now() +
      (this.#fill > 0 ? this.#options.headerTimeoutMs : this.#options.keepAliveMs);
    return keepAlive;
  }

  /** Reads until a whole head is buffered; its end, or -1 when the peer closed first (or sent too much). */
  async #readHead(): Promise<number> {
    while (true) {
      const skip = skipEmptyLines(this.#buffer.subarray(0, this.#fill));
      if (skip > 0) this.#consume(skip);
      if (this.#fill > 0) {
        if (this.#phase === "idle") {
          this.#phase = "head";
          // The first request's clock started at accept; a later one's starts with its first byte.
          if (this.#served > 0) this.#deadline = performance.now() + this.#options.headerTimeoutMs;
        }
        const end = headEnd(this.#buffer.subarray(0, this.#fill));
        if (end !== -1) return end;
        if (this.#fill >= MAX_HEAD_BYTES) {
          await this.#writeRaw(plainResponse(431, "Request head too large", httpDate));
          return -1;
        }
      }
      if (!(await this.#read())) return -1;
    }
  }

  /** Reads a body of `length` bytes (within the head's deadline); `null` when the peer closed first. */
  async #readBody(length: number): Promise<Uint8Array<ArrayBuffer> | null> {
    while (this.#fill < length) {
      if (!(await this.#read())) return null;
    }
    const body = this.#buffer.slice(0, length);
    this.#consume(length);
    return body;
  }

  /** Reads more bytes into the buffer; false at end of stream. */
  async #read(): Promise<boolean> {
    if (this.#fill === this.#buffer.length) {
      const grown = new Uint8Array(
        Math.min(this.#buffer.length * 2, MAX_HEAD_BYTES + MAX_BODY_BYTES + READ_SIZE),
      );
      if (grown.length <= this.#fill) return false;
      grown.set(this.#buffer.subarray(0, this.#fill));
      this.#buffer = grown;
    }
    const n = await this.#conn.read(this.#buffer.subarray(this.#fill));
    if (n === null) return false;
    this.#fill += n;
    return true;
  }

  #consume(bytes: number): void {
    this.#buffer.copyWithin(0, bytes, this.#fill);
    this.#fill -= bytes;
    // A connection between requests keeps only a small buffer.
    if (this.#fill === 0 && this.#buffer.length > READ_SIZE) this.#buffer = new Uint8Array(READ_SIZE);
  }

  async #respond(response: Response, head: boolean, keepAlive: boolean): Promise<void> {
    this.#phase = "writing";
    this.#deadline = performance.now() + WRITE_TIMEOUT_MS;
    const bodyless = head || response.status === 204 || response.status === 304;
    const body = response.body === null ? new Uint8Array(0) : new Uint8Array(await response.arrayBuffer());
    const headers = new Headers(response.headers);
    // Every answer, not only the page's: a browser must never guess a type hubbub did not send.
    if (!headers.has("x-content-type-options")) headers.set("x-content-type-options", "nosniff");
    const bytes = responseHead({
      status: response.status,
      headers,
      ...(response.status === 204 || response.status === 304 ? {} : { length: body.length }),
      keepAlive,
      date: httpDate,
    });
    if (bodyless || body.length === 0) return await this.#writeAll(bytes);
    const out = new Uint8Array(bytes.length + body.length);
    out.set(bytes);
    out.set(body, bytes.length);
    await this.#writeAll(out);
  }

  async #upgrade(
    upgrade: { headers: [string, string][]; run: (io: UpgradedIo) => Promise<void> },
    response: Response,
  ): Promise<boolean> {
    await response.body?.cancel();
    this.#phase = "writing";
    this.#deadline = performance.now() + WRITE_TIMEOUT_MS;
    await this.#writeAll(
      responseHead({ status: 101, headers: upgrade.headers, keepAlive: false, date: httpDate }),
    );
    this.#phase = "upgraded";
    const rest = this.#buffer.slice(0, this.#fill);
    this.#buffer = new Uint8Array(0);
    this.#fill = 0;
    await upgrade.run({ conn: this.#conn, head: rest });
    return false;
  }

  /** Writes a refusal and lets the connection go. */
  async #writeRaw(bytes: Uint8Array): Promise<void> {
    this.#phase = "writing";
    this.#deadline = performance.now() + WRITE_TIMEOUT_MS;
    try {
      await this.#writeAll(bytes);
    } catch {
      // The peer is gone already.
    }
  }

  async #writeAll(bytes: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < bytes.length) offset += await this.#conn.write(bytes.subarray(offset));
  }

  #close(): void {
    if (this.#phase === "closed") return;
    this.#phase = "closed";
    closeQuietly(this.#conn);
  }
}
