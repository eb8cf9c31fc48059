/**
 * Running out of file descriptors: half-open HTTP requests and pre-login TCP connections from an attacker must
 * refuse new connections, never stop the server, and never cost the people already chatting.
 *
 * hubbub runs as a child under `ulimit -n 1024`, as on a small default host. Before the accept loop had a
 * descriptor budget and a reserve, 1 100 partial requests exhausted the descriptors and `Deno.serve`'s accept
 * failed with "Too many open files", which ended the process.
 */

import assert from "node:assert/strict";
import { Child, delay, eventually, LineClient, ROOT, WsClient } from "../_helpers.ts";
import { acceptLoop } from "../../src/net/accept.ts";
import { ConnectionGate } from "../../src/hub/limits.ts";

const encoder = new TextEncoder();

/** Opens `count` connections to `addr` that each send `bytes` and then nothing more. */
async function hold(addr: Deno.NetAddr, count: number, bytes: Uint8Array): Promise<Deno.TcpConn[]> {
  const conns: Deno.TcpConn[] = [];
  for (let i = 0; i < count; i += 100) {
    const batch = await Promise.allSettled(
      Array.from({ length: Math.min(100, count - i) }, async () => {
        const conn = await Deno.connect({ hostname: addr.hostname, port: addr.port });
        if (bytes.length > 0) await conn.write(bytes).catch(() => 0);
        return conn;
      }),
    );
    for (const result of batch) if (result.status === "fulfilled") conns.push(result.value);
  }
  return conns;
}

function closeAll(conns: Deno.TcpConn[]): void {
  for (const conn of conns) {
    try {
      conn.close();
    } catch {
      // Closed by the server already.
    }
  }
}

Deno.test("descriptors: 1 100 half-open HTTP requests and idle TCP connections under ulimit -n 1024 never stop the server; chat goes on; /healthz answers once they go", async () => {
  await using child = new Child([
    "run",
    "-P=server",
    "main.ts",
    "--tcp",
    "127.0.0.1:0",
    "--http",
    "127.0.0.1:0",
    "--log-format",
    "json",
    // Every attacker comes from 127.0.0.1 here; on the internet they come from many addresses.
    "--max-connections-per-ip",
    "0",
    "--rate",
    "0",
  ], { via: ["bash", "-c", 'ulimit -n 1024 && exec "$@"', "bash"], env: { DENO_NO_UPDATE_CHECK: "1" } });
  const tcp = await child.tcpAddr();
  const http = await child.httpAddr();
  const budget = Number(
    (await child.recordWith((r) => String(r.message).startsWith("max-connections lowered")))
      .properties.budget,
  );
  assert.ok(budget > 500 && budget < 1024, `budget ${budget}`);

  // People chatting before the attack.
  await using ncat = await LineClient.login(tcp, "ncat");
  await using page = await WsClient.open(http, "/ws");
  page.send({ Action: "username", Payload: { Username: "page" } });
  await page.expectJson({ Action: "username", Payload: { Username: "page" } });

  // The attack: request heads that never end, then pre-login TCP connections.
  const partial = encoder.encode("GET / HTTP/1.1\r\nHost: hubbub\r\nX-Slow: 1\r\n");
  const attackers = await hold(http, 1100, partial);
  attackers.push(...await hold(tcp, 300, new Uint8Array(0)));
  // Over the budget, new connections are refused in their dialect instead of taking the last descriptors.
  const refused = await fetch(`http://${http.hostname}:${http.port}/healthz`).then(
    (r) => r.status,
    () => "reset",
  );
  assert.ok(refused === 503 || refused === "reset", `a new HTTP connection while full got ${refused}`);

  // The people already here chat on, both ways.
  await ncat.send("still here");
  await page.expectJson({ Action: "broadcast", Payload: { Message: "still here", Username: "ncat" } });
  page.send({ Action: "broadcast", Payload: { Message: "me too" } });
  await ncat.expect("MSG page me too");

  closeAll(attackers);
  // Once the attackers go, new connections are served again.
  await eventually(
    async () => {
      try {
        const response = await fetch(`http://${http.hostname}:${http.port}/healthz`);
        await response.body?.cancel();
        return response.status === 200;
      } catch {
        return false;
      }
    },
    "/healthz answers 200",
    10_000,
  );
  await using late = await LineClient.login(tcp, "late");
  await late.send("after the storm");
  await page.expectJson({ Action: "broadcast", Payload: { Message: "after the storm" } });

  // Refusals were logged in summaries, not a line each.
  const refusalLines = child.records.filter((r) => String(r.message).startsWith("connection"));
  assert.ok(refusalLines.length > 0 && refusalLines.length < 50, `${refusalLines.length} refusal records`);
  // Within its budget hubbub itself never ran out (Deno's own update check may still warn on stderr).
  const exhausted = child.records.filter((r) =>
    /Too many open files|out-of-file-descriptors/.test(JSON.stringify(r))
  );
  assert.deepEqual(exhausted, [], "never ran out of descriptors");
  child.process.kill("SIGTERM");
  assert.equal((await child.status()).code, 0, "exits cleanly after the attack");
});

Deno.test("descriptors: the accept loop survives EMFILE: it refuses with its reserve descriptor, keeps accepting, and serves once descriptors are back", async () => {
  // A child with 64 descriptors runs the accept loop, then opens files until none are left.
  const process = new Deno.Command("bash", {
    args: [
      "-c",
      `ulimit -n 64 && exec "$0" "$@"`,
      Deno.execPath(),
      "run",
      "-A",
      "tests/faults/_accept_child.ts",
    ],
    cwd: ROOT,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines: Record<string, unknown>[] = [];
  const reading = (async () => {
    for await (const chunk of process.stdout.pipeThrough(new TextDecoderStream())) {
      for (const line of chunk.split("\n")) if (line.startsWith("{")) lines.push(JSON.parse(line));
    }
  })();
  const stdin = process.stdin.getWriter();
  try {
    await eventually(() => lines.some((l) => "full" in l), "the child is out of descriptors", 20_000);
    const port = Number(lines.find((l) => "port" in l)!.port);
    // Every connection is answered: a read that hangs (a connection accepted and left to nobody) fails the test.
    const read = async () => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      const buffer = new Uint8Array(100);
      const timer = setTimeout(() => conn.close(), 5000);
      const n = await conn.read(buffer).catch(() => null);
      clearTimeout(timer);
      try {
        conn.close();
      } catch {
        // Closed by the timer.
      }
      return n === null ? "" : new TextDecoder().decode(buffer.subarray(0, n)).trim();
    };
    // Out of descriptors: the connection is turned away with the reserve descriptor, and the loop goes on;
    // a descriptor a finished connection hands back may serve the next one.
    assert.equal(await read(), "server-full");
    for (let i = 0; i < 5; i++) assert.match(await read(), /^(server-full|hello)$/);
    await stdin.write(encoder.encode("free\n"));
    await eventually(() => lines.some((l) => "freed" in l), "descriptors freed");
    await delay(50);
    assert.equal(await read(), "hello", "served normally once descriptors are back");
    await stdin.write(encoder.encode("stop\n"));
    await eventually(() => lines.some((l) => "stopped" in l), "the loop stopped cleanly");
  } finally {
    await stdin.close().catch(() => {});
    try {
      process.kill("SIGKILL");
    } catch {
      // Exited.
    }
    await process.status;
    await reading;
    await process.stderr.cancel();
  }
});

Deno.test("descriptors: acceptLoop releases every ticket and stops when the signal aborts", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const gate = new ConnectionGate({ maxConnections: 2, maxPerIp: 0 });
  const controller = new AbortController();
  const refusals: string[] = [];
  const served: Promise<void>[] = [];
  const { finished: done } = acceptLoop({
    listen: () => listener,
    port: 0,
    gate,
    door: "test",
    signal: controller.signal,
    serve: (conn) => {
      const p = (async () => {
        await conn.read(new Uint8Array(10)).catch(() => null);
        conn.close();
      })();
      served.push(p);
      return p;
    },
    refuse: (conn, reason) => {
      refusals.push(reason);
      conn.close();
      return Promise.resolve();
    },
  });
  const addr = { hostname: "127.0.0.1", port: listener.addr.port };
  const conns = await Promise.all([1, 2, 3].map(() => Deno.connect(addr)));
  await eventually(() => refusals.length === 1, "the third is refused");
  assert.deepEqual(refusals, ["too-many-connections"]);
  assert.equal(gate.total, 2);
  for (const conn of conns) conn.close();
  await eventually(() => gate.total === 0, "tickets released");
  controller.abort();
  await done;
  await assert.rejects(() => Deno.connect(addr), "the listener is closed");
});
