/**
 * The baseline: the bare minimum Deno broadcast server, the runtime's ceiling for every scenario.
 *
 * WebSocket (`/ws` on the HTTP port): a Set of open sockets, and every text frame received is re-sent to
 * every socket, the sender included (hubbub's native dialect echoes too). `/ws?room=NAME` picks another Set,
 * for the second room of the join scenario. TCP: a Set of connections; each complete line is re-sent to
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

/** Starts the baseline on two addresses (port 0 picks free ports). */
export function startBaseline(
  options: { hostname: string; httpPort: number; tcpPort: number },
): Baseline {
  const rooms = new Map<string, Set<WebSocket>>();
  const controller = new AbortController();
  const server = Deno.serve({
    hostname: options.hostname,
    port: options.httpPort,
    signal: controller.signal,
    onListen: () => {},
  }, (request) => {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") return new Response("baseline\n");
    const room = new URL(request.url).searchParams.get("room") ?? "";
    let sockets = rooms.get(room);
    if (!sockets) rooms.set(room, sockets = new Set());
    const members = sockets;
    const { socket, response } = Deno.upgradeWebSocket(request);
    socket.onopen = () => members.add(socket);
    socket.onmessage = (event) => {
      for (const s of members) s.send(event.data);
    };
    socket.onclose = () => members.delete(socket);
    socket.onerror = () => {};
    return response;
  });

  const listener = Deno.listen({ hostname: options.hostname, port: options.tcpPort });
  const writers = new Set<WritableStreamDefaultWriter<Uint8Array>>();
  const conns = new Set<Deno.TcpConn>();
  const serveConn = async (conn: Deno.TcpConn) => {
    conns.add(conn);
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
    conns.delete(conn);
    try {
      conn.close();
    } catch {
      // Already closed.
    }
  };
  const accepting = (async () => {
    try {
      for await (const conn of listener) void serveConn(conn);
    } catch {
      // Closed.
    }
  })();

  return {
    http: server.addr,
    tcp: listener.addr as Deno.NetAddr,
    async shutdown() {
      controller.abort();
      listener.close();
      for (const conn of conns) {
        try {
          conn.close();
        } catch {
          // Already closed.
        }
      }
      for (const sockets of rooms.values()) for (const s of sockets) s.close();
      await Promise.allSettled([server.finished, accepting]);
    },
  };
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
  const baseline = startBaseline({ hostname, httpPort, tcpPort });
  const stop = () => void baseline.shutdown().then(() => Deno.exit(0));
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
  Deno.stdout.writeSync(
    new TextEncoder().encode(
      JSON.stringify({ message: "baseline is up", http: baseline.http.port, tcp: baseline.tcp.port }) + "\n",
    ),
  );
}
