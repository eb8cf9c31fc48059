/**
 * The baseline: the bare minimum Deno broadcast server, the runtime's ceiling for every scenario.
 *
 * WebSocket (`/ws` on the HTTP port): a Set of open sockets; every text frame received gets GoBanter's work
 * and nothing more: parsed as `{"Action","Payload"}`, wrapped as a `broadcast` payload (sender, connection,
 * time, room, id), stringified once, and sent to every socket, the sender included (hubbub's native dialect
 * echoes too). A frame that is not such JSON is relayed as it is (the join scenario's login frames).
 * `/ws?room=NAME` picks another Set, for the second room of the join scenario. TCP: a Set of connections; each complete line is re-sent to
 * every other connection (the command dialect does not echo), through each connection's stream writer.
 *
 * No names, no history, no bound on what it buffers for a slow reader: under overload it is expected to
 * collapse. `deno run --allow-net bench/baseline.ts --http 127.0.0.1:8081 --tcp 127.0.0.1:4001`
 * @module
 */

/** A running baseline. */
export interface Baseline {
  /** Bound WebSocket (HTTP) address. */
  readonly http: Deno.NetAddr;
  /** Bound TCP address. */
  readonly tcp: Deno.NetAddr;
  /** Stops both listeners. */
  shutdown(): Promise<void>;
}

/**
 * Starts the baseline on two addresses (port 0 picks free ports). `raw`: WebSockets on raw sockets instead of
 * `Deno.serve` (see {@linkcode startRawWs}).
 */
export function startBaseline(
  options: { hostname: string; httpPort: number; tcpPort: number; raw?: boolean },
): Baseline {
  const tcp = startTcpRelay(options.hostname, options.tcpPort);
  const ws = options.raw
    ? startRawWs(options.hostname, options.httpPort)
    : startServeWs(options.hostname, options.httpPort);
  return {
    http: ws.addr,
    tcp: tcp.addr,
    async shutdown() {
      await Promise.allSettled([ws.close(), tcp.close()]);
    },
  };
}

/** One half of the baseline: its address, and how to stop it. */
interface Half {
  readonly addr: Deno.NetAddr;
  close(): Promise<void>;
}

/** WebSockets on `Deno.serve` and `Deno.upgradeWebSocket`: what a bare Deno server would use. */
function startServeWs(hostname: string, port: number): Half {
  const rooms = new Map<string, Set<WebSocket>>();
  let connections = 0;
  const controller = new AbortController();
  const server = Deno.serve({
    hostname,
    port,
    signal: controller.signal,
    onListen: () => {},
  }, (request) => {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") return new Response("baseline\n");
    const room = new URL(request.url).searchParams.get("room") ?? "";
    let sockets = rooms.get(room);
    if (!sockets) rooms.set(room, sockets = new Set());
    const members = sockets;
    const { socket, response } = Deno.upgradeWebSocket(request);
    const conn = `c_${++connections}`;
    socket.onopen = () => members.add(socket);
    socket.onmessage = (event) => {
      const frame = gobanterBroadcast(event.data, conn, room || "lobby");
      for (const s of members) s.send(frame);
    };
    socket.onclose = () => members.delete(socket);
    socket.onerror = () => {};
    return response;
  });
  return {
    addr: server.addr,
    async close() {
      controller.abort();
      for (const sockets of rooms.values()) for (const s of sockets) s.close();
      await server.finished;
    },
  };
}

/** TCP: a Set of connections; each complete line goes to every other connection, through its stream writer. */
function startTcpRelay(hostname: string, port: number): Half {
  const listener = Deno.listen({ hostname, port });
  const writers = new Set<WritableStreamDefaultWriter<Uint8Array>>();
  const serveConn = async (conn: Deno.TcpConn) => {
    const writer = conn.writable.getWriter();
    writer.closed.catch(() => {});
    writers.add(writer);
    const buffer = new Uint8Array(4096);
    let partial: Uint8Array | null = null;
    try {
      while (true) {
        const n = await conn.read(buffer);
        if (n === null) break;
        let chunk = buffer.subarray(0, n);
        if (partial) {
          const joined = new Uint8Array(partial.length + n);
          joined.set(partial);
          joined.set(chunk, partial.length);
          chunk = joined;
          partial = null;
        }
        // Relay complete lines only: a line split across reads must not interleave with another sender's.
        const last = chunk.lastIndexOf(10);
        if (last !== chunk.length - 1) {
          partial = chunk.slice(last + 1);
          chunk = chunk.subarray(0, last + 1);
        }
        if (chunk.length === 0) continue;
        const out = chunk.slice();
        for (const w of writers) if (w !== writer) w.write(out).catch(() => {});
      }
    } catch {
      // Reset by peer.
    }
    writers.delete(writer);
  };
  return acceptAll(listener, serveConn);
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** A raw connection's writer: what queues while a write is in progress goes out in one write. */
class Writer {
  #queue: Uint8Array[] = [];
  #bytes = 0;
  #writing = false;
  constructor(readonly conn: Deno.Conn) {}

  push(bytes: Uint8Array): void {
    this.#queue.push(bytes);
    this.#bytes += bytes.length;
    if (!this.#writing) void this.#drain();
  }

  async #drain(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#queue.length > 0) {
        let chunk = this.#queue[0]!;
        if (this.#queue.length > 1) {
          chunk = new Uint8Array(this.#bytes);
          let at = 0;
          for (const part of this.#queue) {
            chunk.set(part, at);
            at += part.length;
          }
        }
        this.#queue = [];
        this.#bytes = 0;
        for (let at = 0; at < chunk.length;) at += await this.conn.write(chunk.subarray(at));
      }
    } catch {
      this.#queue = [];
    }
    this.#writing = false;
  }
}

/** An unmasked server text frame. */
function textFrame(text: string): Uint8Array {
  const payload = encoder.encode(text);
  const n = payload.length;
  const head = n < 126 ? 2 : n < 65536 ? 4 : 10;
  const out = new Uint8Array(head + n);
  out[0] = 0x81;
  if (head === 2) out[1] = n;
  else if (head === 4) {
    out[1] = 126;
    out[2] = n >> 8;
    out[3] = n & 0xff;
  } else {
    out[1] = 127;
    new DataView(out.buffer).setBigUint64(2, BigInt(n));
  }
  out.set(payload, head);
  return out;
}

/**
 * WebSockets on raw sockets, the way hubbub does them: `Deno.listen`, the upgrade answered by hand, client
 * frames unmasked in JavaScript, and each outgoing frame encoded once and shared by every recipient, written
 * with what queued behind it. The same GoBanter work per message as the `Deno.serve` baseline; no limits.
 */
function startRawWs(hostname: string, port: number): Half {
  const listener = Deno.listen({ hostname, port });
  const rooms = new Map<string, Set<Writer>>();
  let connections = 0;
  const serve = async (conn: Deno.Conn) => {
    let buf = new Uint8Array(0);
    const read = async () => {
      const chunk = new Uint8Array(16 * 1024);
      const n = await conn.read(chunk);
      if (n === null) return false;
      const joined = new Uint8Array(buf.length + n);
      joined.set(buf);
      joined.set(chunk.subarray(0, n), buf.length);
      buf = joined;
      return true;
    };
    const writer = new Writer(conn);
    let members: Set<Writer> | null = null;
    try {
      let end: number;
      while ((end = headEndOf(buf)) === -1) {
        if (!(await read())) return;
      }
      const head = decoder.decode(buf.subarray(0, end));
      buf = buf.slice(end);
      const key = /sec-websocket-key:\s*(\S+)/i.exec(head)?.[1] ?? "";
      const room = /GET [^ ?]*\?room=([^ &]+)/.exec(head)?.[1] ?? "";
      const digest = new Uint8Array(await crypto.subtle.digest("SHA-1", encoder.encode(key + GUID)));
      writer.push(encoder.encode(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
          `Sec-WebSocket-Accept: ${btoa(String.fromCharCode(...digest))}\r\n\r\n`,
      ));
      let set = rooms.get(room);
      if (!set) rooms.set(room, set = new Set());
      members = set;
      members.add(writer);
      const name = `c_${++connections}`;
      while (true) {
        while (buf.length >= 2) {
          let length = buf[1]! & 0x7f;
          let at = 2;
          if (length === 126) {
            if (buf.length < 4) break;
            length = (buf[2]! << 8) | buf[3]!;
            at = 4;
          } else if (length === 127) {
            if (buf.length < 10) break;
            length = Number(new DataView(buf.buffer, buf.byteOffset + 2, 8).getBigUint64(0));
            at = 10;
          }
          if (buf.length < at + 4 + length) break;
          const opcode = buf[0]! & 0x0f;
          const payload = buf.slice(at + 4, at + 4 + length);
          for (let i = 0; i < length; i++) payload[i]! ^= buf[at + (i & 3)]!;
          buf = buf.subarray(at + 4 + length);
          if (opcode === 8) return;
          if (opcode !== 1) continue;
          const frame = textFrame(gobanterBroadcast(decoder.decode(payload), name, room || "lobby"));
          for (const member of members) member.push(frame);
        }
        if (!(await read())) return;
      }
    } catch {
      // Reset by peer.
    } finally {
      members?.delete(writer);
    }
  };
  return acceptAll(listener, serve);
}

/** Index just past the blank line ending an HTTP head in `buf`, or -1. */
function headEndOf(buf: Uint8Array): number {
  for (let i = 3; i < buf.length; i++) {
    if (buf[i] === 10 && buf[i - 1] === 13 && buf[i - 2] === 10 && buf[i - 3] === 13) return i + 1;
  }
  return -1;
}

let ids = 0;

/**
 * GoBanter's work on one incoming frame: the documented `broadcast` action parsed, wrapped with what the
 * server adds, and stringified, once for every recipient. Anything else is relayed as it came.
 */
export function gobanterBroadcast(data: unknown, conn: string, room: string): string {
  if (typeof data !== "string") return String(data);
  try {
    const frame = JSON.parse(data) as { Action?: unknown; Payload?: { Message?: unknown } };
    if (frame.Action !== "broadcast" || typeof frame.Payload?.Message !== "string") return data;
    return JSON.stringify({
      Action: "broadcast",
      Payload: {
        Message: frame.Payload.Message,
        Username: conn,
        Conn: conn,
        Time: new Date().toISOString(),
        Room: room,
        Id: ++ids,
      },
    });
  } catch {
    return data;
  }
}

function hostPort(value: string | undefined, fallback: number): [string, number] {
  if (!value) return ["127.0.0.1", fallback];
  const colon = value.lastIndexOf(":");
  return [value.slice(0, colon) || "127.0.0.1", Number(value.slice(colon + 1))];
}

if (import.meta.main) {
  const args = Deno.args;
  const flag = (name: string) => {
    const i = args.indexOf(name);
    return i === -1 ? undefined : args[i + 1];
  };
  const [hostname, httpPort] = hostPort(flag("--http"), 8081);
  const [, tcpPort] = hostPort(flag("--tcp"), 4001);
  const baseline = startBaseline({ hostname, httpPort, tcpPort, raw: args.includes("--raw") });
  const stop = () => void baseline.shutdown().then(() => Deno.exit(0));
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
  Deno.stdout.writeSync(
    new TextEncoder().encode(
      JSON.stringify({ message: "baseline is up", http: baseline.http.port, tcp: baseline.tcp.port }) + "\n",
    ),
  );
}

/** Serves every connection `listener` accepts; closing it stops accepting and ends the connections still open. */
function acceptAll(listener: Deno.TcpListener, serve: (conn: Deno.TcpConn) => Promise<void>): Half {
  const conns = new Set<Deno.TcpConn>();
  const one = async (conn: Deno.TcpConn) => {
    conns.add(conn);
    try {
      await serve(conn);
    } finally {
      conns.delete(conn);
      closeQuietly(conn);
    }
  };
  const accepting = (async () => {
    try {
      for await (const conn of listener) void one(conn);
    } catch {
      // Closed.
    }
  })();
  return {
    addr: listener.addr,
    async close() {
      listener.close();
      for (const conn of conns) closeQuietly(conn);
      await accepting;
    },
  };
}

/** Closes a connection that may be closed already. */
function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}
