/**
 * The HTTP door against hostile and sloppy clients: request heads that never finish, idle keep-alive
 * connections, many connections from one address, bad requests, WebSocket frames that break RFC 6455, foreign
 * origins with the wrong scheme, and the typing rhythm of GoBanter's own page. Every row ends by checking the
 * server still serves everyone else.
 */

import assert from "node:assert/strict";
import { Child, delay, eventually, roomHistory, serve, WsClient } from "../_helpers.ts";
import { assertHealthy, clientFrame, closeQuietly, rawUpgrade, readUntilClose, writeAll } from "./_abuse.ts";

const encoder = new TextEncoder();

/** Reads what the server sends until it closes, or `ms` pass ("open" then). */
async function readToClose(conn: Deno.TcpConn, ms: number): Promise<{ text: string; closed: boolean }> {
  const decoder = new TextDecoder();
  let text = "";
  const buffer = new Uint8Array(4096);
  const timer = setTimeout(() => {
    try {
      conn.close();
    } catch {
      // Closed.
    }
  }, ms);
  const started = performance.now();
  try {
    while (true) {
      const n = await conn.read(buffer);
      if (n === null) break;
      text += decoder.decode(buffer.subarray(0, n), { stream: true });
    }
  } catch {
    // Closed by our timer, or reset.
  }
  clearTimeout(timer);
  return { text, closed: performance.now() - started < ms - 5 };
}

/** Reads until `pattern` has matched `count` times in what the server sent; resolves with all of it. */
async function readMatches(conn: Deno.TcpConn, pattern: RegExp, count: number): Promise<string> {
  const decoder = new TextDecoder();
  const buffer = new Uint8Array(4096);
  let text = "";
  while ((text.match(pattern)?.length ?? 0) < count) {
    const n = await conn.read(buffer);
    assert.notEqual(n, null, `closed after ${text}`);
    text += decoder.decode(buffer.subarray(0, n!), { stream: true });
  }
  return text;
}

async function connect(addr: Deno.NetAddr): Promise<Deno.TcpConn> {
  return await Deno.connect({ hostname: addr.hostname, port: addr.port });
}

Deno.test("HTTP header timeout: a request head that never ends gets 408 and is closed; so is a silent connection", async () => {
  await using server = serve({ headerTimeoutMs: 300, keepAliveMs: 5000 });
  const http = server.http!;
  const slow = await connect(http);
  await writeAll(slow, encoder.encode("GET / HTTP/1.1\r\nHost: x\r\n"));
  // Dribbling more header lines does not buy time: the deadline runs from the first byte.
  for (let i = 0; i < 3; i++) {
    await delay(60);
    await writeAll(slow, encoder.encode(`X-Slow-${i}: 1\r\n`)).catch(() => {});
  }
  const answer = await readToClose(slow, 3000);
  assert.ok(answer.closed, "closed by the server");
  assert.match(answer.text, /^HTTP\/1\.1 408 /);
  const silent = await connect(http);
  assert.ok((await readToClose(silent, 3000)).closed, "a connection that never sends a byte is closed too");
  await eventually(() => server.sockets() === 0, "both sockets are released");
  await assertHealthy(server);
});

Deno.test("HTTP keep-alive: requests share a connection; an idle one is closed after --keep-alive", async () => {
  await using server = serve({ headerTimeoutMs: 2000, keepAliveMs: 300 });
  const conn = await connect(server.http!);
  const request = encoder.encode("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  // Two requests pipelined in one write, a third after the answers: one connection serves all three.
  await writeAll(conn, new Uint8Array([...request, ...request]));
  const first = await readMatches(conn, /HTTP\/1\.1 200 OK/g, 2);
  await writeAll(conn, request);
  const started = performance.now();
  const answer = await readToClose(conn, 3000);
  assert.equal((first + answer.text).match(/HTTP\/1\.1 200 OK/g)?.length, 3, first + answer.text);
  assert.ok(answer.closed, "closed once idle");
  assert.ok(performance.now() - started >= 250, "not before the keep-alive time");
  // HTTP/1.0 and `Connection: close` are answered and closed at once.
  const once = await connect(server.http!);
  await writeAll(once, encoder.encode("GET /healthz HTTP/1.0\r\n\r\n"));
  const one = await readToClose(once, 1000);
  assert.ok(one.closed && /connection: close/i.test(one.text));
  await assertHealthy(server);
});

Deno.test("HTTP connections count per IP and in the total, before any request; upgrades share the count", async () => {
  await using server = serve({ maxConnectionsPerIp: 3, headerTimeoutMs: 5000 });
  const http = server.http!;
  const idle = await Promise.all([1, 2, 3].map(() => connect(http)));
  await eventually(() => server.sockets() === 3, "three idle HTTP connections are counted");
  const fourth = await connect(http);
  const refused = await readToClose(fourth, 2000);
  assert.match(refused.text, /^HTTP\/1\.1 503 [^]*too-many-connections-from-your-address/);
  const response = await fetch(`http://${http.hostname}:${http.port}/healthz`);
  assert.equal(response.status, 503);
  assert.equal(response.headers.get("retry-after"), "5");
  await response.body?.cancel();
  idle[0]!.close();
  await eventually(() => server.sockets() === 2, "a slot is free again");
  // A WebSocket is one connection, counted once.
  await using ws = await WsClient.open(http, "/ws");
  assert.equal(server.sockets(), 3);
  for (const conn of idle.slice(1)) conn.close();
  await ws.close();
  await eventually(() => server.sockets() === 0, "all released");
});

Deno.test("HTTP bad requests: malformed lines, folded headers, two lengths, huge heads and bodies get 4xx and a close", async () => {
  await using server = serve({});
  const http = server.http!;
  const cases: [string, RegExp][] = [
    ["BLAH\r\n\r\n", /^HTTP\/1\.1 400 /],
    ["GET / HTTP/2.0\r\nHost: x\r\n\r\n", /^HTTP\/1\.1 505 /],
    ["GET / HTTP/1.1\r\n\r\n", /^HTTP\/1\.1 400 [^]*Host/],
    ["GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  folded\r\n\r\n", /^HTTP\/1\.1 400 /],
    [
      "POST /api/rooms HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
      /^HTTP\/1\.1 400 /,
    ],
    [
      "POST /api/rooms HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      /^HTTP\/1\.1 411 /,
    ],
    ["POST /api/rooms HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n", /^HTTP\/1\.1 413 /],
    [`GET /${"a".repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`, /^HTTP\/1\.1 431 /],
    ["GET / HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n", /^HTTP\/1\.1 400 /],
    ["GET http://[::1/ HTTP/1.1\r\nHost: x\r\n\r\n", /^HTTP\/1\.1 400 /],
  ];
  for (const [request, want] of cases) {
    const conn = await connect(http);
    await writeAll(conn, encoder.encode(request)).catch(() => {});
    const answer = await readToClose(conn, 3000);
    assert.match(answer.text, want, JSON.stringify(request.slice(0, 60)));
    assert.ok(answer.closed, `closed after ${JSON.stringify(request.slice(0, 40))}`);
  }
  await assertHealthy(server);
});

Deno.test("HTTP: every response carries X-Content-Type-Options: nosniff, errors and refusals included", async () => {
  await using server = serve({ maxConnectionsPerIp: 20 });
  const base = `http://${server.http!.hostname}:${server.http!.port}`;
  for (
    const [path, method] of [
      ["/", "GET"],
      ["/healthz", "GET"],
      ["/readyz", "HEAD"],
      ["/metrics", "GET"],
      ["/api/rooms", "GET"],
      ["/api/nothing", "GET"],
      ["/nothing", "GET"],
      ["/healthz", "POST"],
      ["/ws", "GET"],
      ["/joinRoom", "GET"],
    ]
  ) {
    const response = await fetch(base + path, { method: method! });
    await response.body?.cancel();
    assert.equal(
      response.headers.get("x-content-type-options"),
      "nosniff",
      `${method} ${path} ${response.status}`,
    );
  }
});

Deno.test("WebSocket Origin: the same origin means the same scheme too", async () => {
  await using server = serve({ tcp: null });
  const { hostname, port } = server.http!;
  const status = async (origin: string) => {
    const response = await fetch(`http://${hostname}:${port}/ws`, {
      headers: {
        upgrade: "websocket",
        connection: "Upgrade",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
        "sec-websocket-version": "13",
        origin,
      },
    });
    await response.body?.cancel();
    return response.status;
  };
  assert.equal(await status(`http://${hostname}:${port}`), 101);
  assert.equal(
    await status(`https://${hostname}:${port}`),
    403,
    "an https page may not use a plain-http socket",
  );
  assert.equal(await status(`http://${hostname}:${port + 1}`), 403);
});

Deno.test("WebSocket frames that break RFC 6455 close with 1002 and are never processed: unmasked, reserved bits, bad opcodes, long pings", async () => {
  await using server = serve({ presenceIntervalMs: 20 });
  const http = server.http!;
  await using watcher = await WsClient.open(http, "/ws");
  watcher.send({ Action: "username", Payload: { Username: "watcher" } });
  await watcher.expectJson({ Action: "username" });
  const unmasked = (text: string) => {
    const payload = encoder.encode(text);
    return new Uint8Array([0x81, payload.length, ...payload]);
  };
  const named = JSON.stringify({ Action: "username", Payload: { Username: "rude" } });
  const say = JSON.stringify({ Action: "broadcast", Payload: { Message: "should never arrive" } });
  const bad: [string, Uint8Array][] = [
    ["unmasked", unmasked(say)],
    [
      "reserved bit",
      (() => {
        const f = clientFrame(say);
        f[0] = f[0]! | 0x40;
        return f;
      })(),
    ],
    ["opcode 3", clientFrame(say, { opcode: 3 })],
    ["ping of 126 bytes", clientFrame("p".repeat(126), { opcode: 9 })],
    ["fragmented ping", clientFrame("p", { opcode: 9, fin: false })],
    ["continuation first", clientFrame(say, { opcode: 0 })],
  ];
  for (const [what, frame] of bad) {
    const conn = await rawUpgrade(http, "/ws");
    await writeAll(conn, clientFrame(named));
    await eventually(() => server.hub.online("rude"), `${what}: rude is online`);
    await writeAll(conn, frame);
    assert.equal(await readUntilClose(conn), 1002, what);
    await eventually(() => !server.hub.online("rude"), `${what}: rude is gone`);
    // Gone, as a browser goes after the close frame: the server need not wait for ours.
    closeQuietly(conn);
  }
  // Invalid UTF-8 in a text frame is 1007.
  const conn = await rawUpgrade(http, "/ws");
  await writeAll(conn, clientFrame(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])));
  assert.equal(await readUntilClose(conn), 1007);
  closeQuietly(conn);
  // The watcher's own message is stored and delivered after anything the rude frames could have sent.
  watcher.send({ Action: "broadcast", Payload: { Message: "barrier" } });
  await watcher.expectJson({ Action: "broadcast", Payload: { Message: "barrier" } });
  assert.ok(!watcher.frames.some((f) => f.includes("should never arrive")));
  const stored = (await roomHistory(server.hub, "lobby", { limit: 50 })).messages;
  assert.deepEqual(stored.map((m) => m.text), ["barrier"]);
  await assertHealthy(server);
});

Deno.test("WebSocket ping and close: pings are answered with the same payload; a client close is echoed", async () => {
  await using server = serve({});
  const conn = await rawUpgrade(server.http!, "/ws");
  await writeAll(conn, clientFrame("are you there", { opcode: 9 }));
  const buffer = new Uint8Array(256);
  let got = new Uint8Array(0);
  // The greeting comes first; read until a pong (0x8a) shows up.
  while (got.indexOf(0x8a) === -1) {
    const n = await conn.read(buffer);
    assert.notEqual(n, null);
    got = new Uint8Array([...got, ...buffer.subarray(0, n!)]);
  }
  const at = got.indexOf(0x8a);
  assert.equal(new TextDecoder().decode(got.subarray(at + 2, at + 2 + got[at + 1]!)), "are you there");
  await writeAll(conn, clientFrame(new Uint8Array([0x0f, 0xa0]), { opcode: 8 }));
  assert.equal(await readUntilClose(conn), 4000);
});

Deno.test("GoBanter /ws typing rhythm: 100 keystrokes at 30/s then a send: no error frame, the message is delivered", async () => {
  // The default limits: 10 messages/s, burst 30.
  await using server = serve({ rate: 10, burst: 30, presenceIntervalMs: 20 });
  const http = server.http!;
  await using reader = await WsClient.open(http, "/ws");
  reader.send({ Action: "username", Payload: { Username: "reader" } });
  await reader.expectJson({ Action: "username" });
  // GoBanter's own page: the legacy shape, a typing frame per keystroke.
  await using page = await WsClient.open(http, "/ws");
  page.send({ action: "username", username: "typist", message: "", to: "" });
  await eventually(() => server.hub.online("typist"), "typist is online");
  for (let key = 0; key < 100; key++) {
    page.send({ action: "typing", username: "typist", message: "", to: "" });
    await delay(33);
  }
  page.send({ action: "broadcast", username: "typist", message: "typed at last", to: "" });
  await reader.expectJson({ Action: "broadcast", Payload: { Message: "typed at last", Username: "typist" } });
  await page.expectJson({ action: "broadcast", message: "typed at last" });
  assert.ok(
    !page.frames.some((f) => f.includes('"error"')),
    `error frames: ${page.frames.filter((f) => f.includes('"error"'))}`,
  );
  // The typing notices were relayed, throttled (at most one per 3 s).
  const typing = reader.frames.filter((f) => f.includes('"typing"')).length;
  assert.ok(typing >= 1 && typing <= 3, `${typing} typing notices`);
  await assertHealthy(server);
});

Deno.test("acceptLoop refusal log: a storm of refused connections writes one line per reason, then one summary a second", async () => {
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
    "--max-connections-per-ip",
    "2",
  ]);
  const tcp = await child.tcpAddr();
  const http = await child.httpAddr();
  // The two connections this address may hold (the limit counts every door together).
  const held = await Promise.all([tcp, tcp].map((addr) => connect(addr)));
  for (let i = 0; i < 60; i++) {
    const conn = await connect(i % 2 === 0 ? tcp : http);
    await readToClose(conn, 2000);
  }
  const refusals = () => child.records.filter((r) => /^connections? refused/.test(String(r.message)));
  const counted = () =>
    refusals().reduce((n, r) => n + Number((r.properties as { count?: number }).count ?? 1), 0);
  // The summaries come once a second: the last one counts the last refusals.
  await eventually(() => counted() >= 60, "the summaries count every refusal");
  assert.ok(
    refusals().length >= 1 && refusals().length <= 6,
    `${refusals().length} refusal records for 60 refusals`,
  );
  assert.equal(counted(), 60, "the summaries add up to every refusal");
  for (const conn of held) conn.close();
});
