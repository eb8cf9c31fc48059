/**
 * Helpers of the abuse suite: the "still serving a healthy client" check every row ends with, raw WebSocket
 * upgrades and frames (to misbehave below the WebSocket API), and a store that can be made to fail.
 * @module
 */

import assert from "node:assert/strict";
import type { Server } from "../../src/server.ts";
import { MemoryStore } from "../../src/store/memory.ts";
import type { NewDirectMessage, NewMessage, Range, RangeOptions, Store } from "../../src/store/store.ts";
import type { ChatMessage, DirectMessage } from "../../src/model.ts";
import { LineClient, roomHistory, WsClient } from "../_helpers.ts";

const encoder = new TextEncoder();
let serial = 0;

/** A short name nobody else in the suite uses (short: some rows run with `--max-name 8`). */
export function fresh(prefix = "h"): string {
  return `${prefix}${++serial}`;
}

/** Base64 of the UTF-8 bytes of `text` (goChat's `Contents`). */
export function b64(text: string): string {
  return btoa(String.fromCharCode(...encoder.encode(text)));
}

/**
 * Proves the server still serves: on the TCP door a fresh command client logs in and gets `PONG`, and a
 * message from a fresh MaChat client reaches it (and is echoed to the sender); on the HTTP door `/healthz`
 * answers and a fresh GoBanter client's broadcast is echoed and stored. Uses at most three connections at once.
 */
export async function assertHealthy(server: Server): Promise<void> {
  const room = fresh("hr");
  if (server.tcp) {
    const me = fresh();
    await using tcp = await LineClient.login(server.tcp, me);
    await tcp.send("PING");
    await tcp.expect("PONG");
    await tcp.send(`JOIN ${room}`);
    await tcp.expect("OK");
    const ma = fresh();
    await using machat = await LineClient.connect(server.tcp);
    await machat.send(`{"name":"${ma}","room":"${room}"}`);
    await tcp.expect(`INFO ${ma} joined`);
    await machat.send("healthy over tcp");
    await machat.expect(`${ma}:healthy over tcp`);
    await tcp.expect(`MSG ${ma} healthy over tcp`);
  }
  if (server.http) {
    const base = `http://${server.http.hostname}:${server.http.port}`;
    const health = await fetch(`${base}/healthz`);
    assert.equal(health.status, 200);
    await health.body?.cancel();
    const me = fresh();
    await using ws = await WsClient.open(server.http, "/ws");
    ws.send({ Action: "username", Payload: { Username: me } });
    await ws.expectJson({ Action: "username", Payload: { Username: me } });
    ws.send({ Action: "join", Payload: { Room: room } });
    ws.send({ Action: "broadcast", Payload: { Message: "healthy over ws", Room: room } });
    const echo = await ws.expectJson({ Action: "broadcast", Payload: { Message: "healthy over ws" } });
    const id = (echo.Payload as { Id: number }).Id;
    const stored = await roomHistory(server.hub, room, { limit: 50 });
    assert.ok(stored.messages.some((m) => m.id === id && m.text === "healthy over ws"));
  }
}

/** Opens a raw TCP connection and completes a WebSocket upgrade on `path`; the 101 response is consumed. */
export async function rawUpgrade(addr: Deno.NetAddr, path: string): Promise<Deno.TcpConn> {
  return await upgradeOn(await Deno.connect({ hostname: addr.hostname, port: addr.port }), addr, path);
}

/** {@linkcode rawUpgrade} over TLS, trusting the CA certificate `ca` (PEM). */
export async function rawUpgradeTls(addr: Deno.NetAddr, path: string, ca: string): Promise<Deno.TlsConn> {
  const conn = await Deno.connectTls({ hostname: addr.hostname, port: addr.port, caCerts: [ca] });
  return await upgradeOn(conn, addr, path);
}

async function upgradeOn<C extends Deno.Conn>(conn: C, addr: Deno.NetAddr, path: string): Promise<C> {
  await writeAll(conn, upgradeRequest(addr, path));
  const head = await readHead(conn);
  assert.match(head, /^HTTP\/1\.1 101 /, `upgrade of ${path} refused: ${head.split("\r\n")[0]}`);
  return conn;
}

/** The HTTP request that asks for a WebSocket on `path`. */
export function upgradeRequest(addr: Deno.NetAddr, path: string): Uint8Array {
  return encoder.encode(
    `GET ${path} HTTP/1.1\r\nHost: ${addr.hostname}:${addr.port}\r\nUpgrade: websocket\r\n` +
      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
  );
}

/** Reads an HTTP response head (up to the blank line) byte by byte, so no frame after it is consumed. */
async function readHead(conn: Deno.Conn): Promise<string> {
  const bytes: number[] = [];
  const one = new Uint8Array(1);
  while (bytes.length < 16_384) {
    const n = await conn.read(one);
    if (n === null) break;
    bytes.push(one[0]!);
    const l = bytes.length;
    if (l >= 4 && bytes[l - 4] === 13 && bytes[l - 3] === 10 && bytes[l - 2] === 13 && bytes[l - 1] === 10) {
      break;
    }
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

/**
 * A masked client frame. `length` overrides the length written in the header (to announce more bytes than
 * are sent); `fin: false` starts a fragmented message.
 */
export function clientFrame(
  payload: string | Uint8Array,
  options: { opcode?: number; length?: number; fin?: boolean } = {},
): Uint8Array {
  const body = typeof payload === "string" ? encoder.encode(payload) : payload;
  const length = options.length ?? body.length;
  const header: number[] = [((options.fin ?? true) ? 0x80 : 0) | (options.opcode ?? 1)];
  if (length < 126) header.push(0x80 | length);
  else if (length < 65536) header.push(0x80 | 126, length >> 8, length & 0xff);
  else {
    header.push(0x80 | 127);
    for (let shift = 56; shift >= 0; shift -= 8) {
      header.push(Number((BigInt(length) >> BigInt(shift)) & 0xffn));
    }
  }
  const mask = [0x11, 0x22, 0x33, 0x44];
  const out = new Uint8Array(header.length + 4 + body.length);
  out.set(header);
  out.set(mask, header.length);
  for (let i = 0; i < body.length; i++) out[header.length + 4 + i] = body[i]! ^ mask[i % 4]!;
  return out;
}

/** Writes every byte. */
export async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) offset += await conn.write(bytes.subarray(offset));
}

/** Closes a connection that may already be closed. */
export function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}

/**
 * Reads server frames from a raw upgraded connection until a close frame (returning its code) or the end of
 * the stream (`null`), giving up after `ms`. Data frames are skipped however large.
 */
export async function readUntilClose(conn: Deno.Conn, ms = 5000): Promise<number | null | "timeout"> {
  const buffer = new Uint8Array(64 * 1024);
  let pending = new Uint8Array(0);
  let skip = 0;
  const deadline = setTimeout(() => closeQuietly(conn), ms);
  let timedOut = true;
  try {
    while (true) {
      let n: number | null;
      try {
        n = await conn.read(buffer);
      } catch {
        n = null;
      }
      if (n === null) {
        timedOut = false;
        return null;
      }
      let chunk = buffer.subarray(0, n);
      if (skip > 0) {
        const used = Math.min(skip, chunk.length);
        skip -= used;
        chunk = chunk.subarray(used);
      }
      const joined = new Uint8Array(pending.length + chunk.length);
      joined.set(pending);
      joined.set(chunk, pending.length);
      pending = joined;
      while (pending.length >= 2) {
        const opcode = pending[0]! & 0x0f;
        let length = pending[1]! & 0x7f;
        let at = 2;
        if (length === 126) {
          if (pending.length < 4) break;
          length = (pending[2]! << 8) | pending[3]!;
          at = 4;
        } else if (length === 127) {
          if (pending.length < 10) break;
          length = 0;
          for (let i = 2; i < 10; i++) length = length * 256 + pending[i]!;
          at = 10;
        }
        if (opcode === 8) {
          if (pending.length < at + Math.min(length, 2)) break;
          timedOut = false;
          return length >= 2 ? (pending[at]! << 8) | pending[at + 1]! : 1005;
        }
        if (pending.length >= at + length) {
          pending = pending.subarray(at + length);
        } else {
          skip = at + length - pending.length;
          pending = new Uint8Array(0);
        }
      }
    }
  } finally {
    clearTimeout(deadline);
    if (timedOut) closeQuietly(conn);
  }
}

/**
 * A memory store whose writes (and, separately, reads) can be made to fail, like a full disk: `append` and
 * `appendDirect` reject while `failWrites` is set, `range` and `rangeDirect` while `failReads` is set.
 */
export class FlakyStore implements Store {
  readonly inner: MemoryStore = new MemoryStore();
  failWrites = false;
  failReads = false;
  /** Appends refused so far. */
  refused = 0;

  append(message: NewMessage): Promise<ChatMessage> {
    if (this.failWrites) {
      this.refused++;
      return Promise.reject(new Error("SQLITE_FULL: database or disk is full"));
    }
    return this.inner.append(message);
  }

  appendDirect(message: NewDirectMessage): Promise<DirectMessage> {
    if (this.failWrites) {
      this.refused++;
      return Promise.reject(new Error("SQLITE_FULL: database or disk is full"));
    }
    return this.inner.appendDirect(message);
  }

  range(room: string, options: RangeOptions): Promise<Range<ChatMessage>> {
    if (this.failReads) return Promise.reject(new Error("SQLITE_IOERR: disk I/O error"));
    return this.inner.range(room, options);
  }

  rangeDirect(a: string, b: string, options: RangeOptions): Promise<Range<DirectMessage>> {
    if (this.failReads) return Promise.reject(new Error("SQLITE_IOERR: disk I/O error"));
    return this.inner.rangeDirect(a, b, options);
  }

  prune(): Promise<void> {
    return this.inner.prune();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** Status of a WebSocket upgrade attempt on `path` (101 when accepted); the response body is discarded. */
export async function upgradeStatus(
  addr: Deno.NetAddr,
  path: string,
  origin?: string,
): Promise<{ status: number; headers: Headers }> {
  const response = await fetch(`http://${addr.hostname}:${addr.port}${path}`, {
    headers: {
      upgrade: "websocket",
      connection: "Upgrade",
      "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
      "sec-websocket-version": "13",
      ...(origin === undefined ? {} : { origin }),
    },
  });
  await response.body?.cancel();
  return { status: response.status, headers: response.headers };
}
