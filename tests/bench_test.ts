/**
 * The load generator counts right: every delivery exactly once, in order, against hubbub (both doors) and
 * the baseline; the join scenario sees every client get the full list; the frame and histogram helpers.
 * No timing assertions: only counts.
 */

import assert from "node:assert/strict";
import { runGenerator } from "../bench/gen.ts";
import { startBaseline } from "../bench/baseline.ts";
import { frameSize, Histogram, Out, parseFrames } from "../bench/_wire.ts";
import { serve } from "./_helpers.ts";

/** One IP sends fast here: hubbub's abuse limits would (rightly) slow it down. */
const UNLIMITED = { rate: 0, maxConnectionsPerIp: 0, maxConnections: 0 };

Deno.test("bench generator: counts N × S × M deliveries over hubbub's WebSocket and TCP doors", async () => {
  await using server = serve(UNLIMITED);
  for (const proto of ["ws", "tcp"] as const) {
    const port = proto === "ws" ? server.http!.port : server.tcp!.port;
    const result = await runGenerator({
      host: "127.0.0.1",
      port,
      server: "hubbub",
      proto,
      scenario: "count",
      clients: 12,
      senders: 3,
      count: 25,
      window: 4,
    });
    // WebSocket senders hear their own messages; TCP command clients do not.
    const expected = (proto === "ws" ? 12 : 11) * 3 * 25;
    assert.equal(result.expectedDeliveries, expected, proto);
    assert.equal(result.totalDeliveries, expected, proto);
    assert.equal(result.deliveries, expected, proto);
    assert.equal(result.sentTotal, 3 * 25, proto);
    assert.equal(result.misordered, 0, proto);
    assert.equal(result.latency.count, expected, proto);
    assert.deepEqual(result.errors, [], proto);
  }
});

Deno.test("bench generator: counts N × S × M deliveries over hubbub's IRC door (no echo, as TCP)", async () => {
  await using server = serve(UNLIMITED);
  const result = await runGenerator({
    host: "127.0.0.1",
    port: server.irc!.port,
    server: "hubbub",
    proto: "irc",
    scenario: "count",
    clients: 12,
    senders: 3,
    count: 25,
    window: 4,
  });
  const expected = 11 * 3 * 25;
  assert.equal(result.expectedDeliveries, expected);
  assert.equal(result.totalDeliveries, expected);
  assert.equal(result.misordered, 0);
  assert.deepEqual(result.errors, []);
});

Deno.test("bench generator: counts N × S × M deliveries over the baseline", async () => {
  const baseline = startBaseline({ hostname: "127.0.0.1", httpPort: 0, tcpPort: 0 });
  try {
    for (const proto of ["ws", "tcp"] as const) {
      const result = await runGenerator({
        host: "127.0.0.1",
        port: proto === "ws" ? baseline.http.port : baseline.tcp.port,
        server: "baseline",
        proto,
        scenario: "count",
        clients: 10,
        senders: 2,
        count: 30,
        window: 5,
      });
      const expected = (proto === "ws" ? 10 : 9) * 2 * 30;
      assert.equal(result.totalDeliveries, expected, proto);
      assert.equal(result.misordered, 0, proto);
    }
  } finally {
    await baseline.shutdown();
  }
});

Deno.test("bench join scenario: every client ends with the full list, side room messages are counted", async () => {
  await using server = serve({ ...UNLIMITED, presenceIntervalMs: 50 });
  const result = await runGenerator({
    host: "127.0.0.1",
    port: server.http!.port,
    server: "hubbub",
    proto: "ws",
    scenario: "join",
    clients: 40,
    side: { clients: 3, rate: 50 },
    timeoutMs: 10_000,
  });
  assert.equal(result.join?.complete, 40);
  assert.ok(result.join!.listFrames >= 40, "each client received at least one list");
  assert.deepEqual(result.errors, []);
});

Deno.test("bench join scenario over IRC: every client ends knowing every member from NAMES and JOINs", async () => {
  await using server = serve({ ...UNLIMITED, presenceIntervalMs: 50 });
  const result = await runGenerator({
    host: "127.0.0.1",
    port: server.irc!.port,
    server: "hubbub",
    proto: "irc",
    scenario: "join",
    clients: 40,
    side: { clients: 3, rate: 50 },
    timeoutMs: 10_000,
  });
  assert.equal(result.join?.complete, 40);
  assert.ok(result.join!.listFrames >= 40, "each client received at least one 353");
  assert.deepEqual(result.errors, []);
});

Deno.test("bench idle scenario: holds every connection", async () => {
  await using server = serve(UNLIMITED);
  const result = await runGenerator({
    host: "127.0.0.1",
    port: server.tcp!.port,
    server: "hubbub",
    proto: "tcp",
    scenario: "idle",
    clients: 30,
    roomSize: 10,
  });
  assert.equal(result.open, 30);
  assert.deepEqual(result.errors, []);
});

Deno.test("bench client frames: parse back; frame sizes for every length encoding", () => {
  for (const size of [0, 5, 125, 126, 300, 65535, 65536, 70_000]) {
    const out = new Out(16);
    const text = "é".repeat(Math.floor(size / 2)) + "x".repeat(size % 2);
    out.wsText(text);
    const frame = out.take();
    // A client frame is masked (key 0): unmask by dropping the mask bit and key to parse it as a server frame.
    const header = frame[1]! & 0x7f;
    const lengthBytes = header === 126 ? 2 : header === 127 ? 8 : 0;
    const server = new Uint8Array(frame.length - 4);
    server.set(frame.subarray(0, 2 + lengthBytes));
    server[1] = header;
    server.set(frame.subarray(6 + lengthBytes), 2 + lengthBytes);
    assert.equal(frameSize(server, server.length), server.length, `size ${size}`);
    let seen = "";
    const used = parseFrames(server, server.length, (opcode, buf, start, end) => {
      assert.equal(opcode, 1);
      seen = new TextDecoder().decode(buf.subarray(start, end));
    });
    assert.equal(used, server.length);
    assert.equal(seen, text);
    // An incomplete frame is left for the next read.
    assert.equal(parseFrames(server, server.length - 1, () => assert.fail("incomplete frame parsed")), 0);
  }
});

Deno.test("bench histogram: quantiles are within 2 % and merge", () => {
  const a = new Histogram();
  const b = new Histogram();
  for (let v = 1; v <= 1000; v++) (v % 2 ? a : b).record(v * 100);
  a.merge(b.toJSON());
  assert.equal(a.count, 1000);
  assert.equal(a.max, 100_000);
  for (const [q, want] of [[0.5, 50_000], [0.9, 90_000], [0.99, 99_000]] as const) {
    const got = a.quantile(q);
    assert.ok(Math.abs(got - want) / want <= 0.02, `q${q}: ${got} vs ${want}`);
  }
});
