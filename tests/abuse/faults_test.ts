/**
 * Abuse rows: faults. Abrupt disconnects mid-frame and mid-line, 1 000 connections opened and dropped in a
 * burst, slowloris, a store that cannot write, SIGKILL during a burst (TCP MaChat clients), and a SIGTERM
 * drain with 1 000 clients connected. Each row ends by proving the server still serves a healthy client.
 */

import assert from "node:assert/strict";
import { Child, delay, eventually, LineClient, roomHistory, serve, WsClient } from "../_helpers.ts";
import {
  assertHealthy,
  b64,
  clientFrame,
  closeQuietly,
  FlakyStore,
  rawUpgrade,
  readUntilClose,
  upgradeRequest,
  writeAll,
} from "./_abuse.ts";

const BAD_HANDSHAKE = 'ERR bad-handshake: expected {"name":"...","room":"..."}';
const encoder = new TextEncoder();

Deno.test("WebSocket abrupt disconnect mid-frame: half a frame then a dropped socket leaks nothing in any dialect", async () => {
  // A small gate: a leaked slot per dropped socket would soon refuse the upgrades below.
  await using server = serve({ maxConnections: 6, presenceIntervalMs: 20 });
  const { tcp, http } = server;
  await using watcher = await LineClient.login(tcp!, "watcher");
  for (let round = 0; round < 8; round++) {
    // /ws: named, then half of a broadcast frame.
    const ws = await rawUpgrade(http!, "/ws");
    await writeAll(
      ws,
      clientFrame(JSON.stringify({ Action: "username", Payload: { Username: `ws${round}` } })),
    );
    await eventually(() => server.hub.online(`ws${round}`), `ws${round} is online`);
    const broadcast = clientFrame(
      JSON.stringify({ Action: "broadcast", Payload: { Message: `lost ws ${round}` } }),
    );
    await writeAll(ws, broadcast.subarray(0, broadcast.length >> 1));
    ws.close();
    // /mychat: after the handshake, half of a message frame.
    const mc = await rawUpgrade(http!, "/mychat");
    await writeAll(mc, clientFrame(`{"name":"mc${round}","room":"lobby"}`));
    await eventually(() => server.hub.online(`mc${round}`), `mc${round} is online`);
    const line = clientFrame(`lost mc ${round}\n`);
    await writeAll(mc, line.subarray(0, line.length - 3));
    mc.close();
    // /mychat: half of the handshake frame itself.
    const hs = await rawUpgrade(http!, "/mychat");
    const handshake = clientFrame(`{"name":"hs${round}","room":"lobby"}`);
    await writeAll(hs, handshake.subarray(0, 9));
    hs.close();
    // /joinRoom: a header announcing a terabyte, a few bytes, then gone.
    const gc = await rawUpgrade(http!, `/joinRoom?room_code=lobby&user_name=gc${round}`);
    await eventually(() => server.hub.online(`gc${round}`), `gc${round} is online`);
    await writeAll(gc, clientFrame("xyz", { length: 2 ** 40 }).subarray(0, 20));
    gc.close();
    // A fragmented message: the first fragment only.
    const frag = await rawUpgrade(http!, "/ws");
    await writeAll(frag, clientFrame('{"Action":"userl', { fin: false }));
    frag.close();
    // An upgrade request whose answer is never read: the socket is gone before the 101 arrives.
    const early = await Deno.connect({ hostname: http!.hostname, port: http!.port });
    await writeAll(early, upgradeRequest(http!, "/ws"));
    early.close();
    await eventually(
      () => server.hub.connections === 1 && server.sockets() === 1,
      `round ${round}: only the watcher is left`,
    );
  }
  assert.deepEqual(server.hub.members("lobby").members.map((u) => u.name), ["watcher"]);
  assert.deepEqual((await roomHistory(server.hub, "lobby", { limit: 100 })).messages, []);
  assert.ok(!watcher.lines.some((l) => l.includes("lost")), "no half-received message was delivered");
  // The gate has every slot back: five more connections than it holds were dropped per round.
  const full = await Promise.all([1, 2, 3, 4, 5].map(() => WsClient.open(http!, "/ws")));
  for (const c of full) await c.close();
  await eventually(() => server.hub.connections === 1, "only the watcher is left");
  await assertHealthy(server);
});

Deno.test("TCP abrupt disconnect mid-line: partial lines, handshakes and characters die with their connection", async () => {
  await using server = serve({ http: null, maxConnections: 5 });
  const addr = server.tcp!;
  await using watcher = await LineClient.login(addr, "watcher");
  for (let round = 0; round < 8; round++) {
    const cmd = await LineClient.login(addr, `cl${round}`);
    await cmd.send(encoder.encode(`lost half a li${round}`));
    await cmd.close();
    const ma = await LineClient.connect(addr);
    await ma.send(encoder.encode(`{"name":"ml${round}","room":"lobby"}lost partial ${round}`));
    await eventually(() => server.hub.online(`ml${round}`), `ml${round} is online`);
    await ma.close();
    const hs = await LineClient.connect(addr);
    await hs.send(encoder.encode(`{"name":"hs${round}","ro`));
    await hs.close();
    const utf = await LineClient.login(addr, `u${round}`);
    await utf.send(new Uint8Array([0x6c, 0x6f, 0x73, 0x74, 0x20, 0xe2, 0x98])); // "lost " + 2 of ☃'s 3 bytes
    await utf.close();
    await eventually(
      () => server.hub.connections === 1 && server.sockets() === 1,
      `round ${round}: only the watcher is left`,
    );
  }
  // Anything still in flight from the dropped connections would arrive before this round trip.
  await using late = await LineClient.login(addr, "late");
  await late.send("marker");
  await watcher.expect("MSG late marker");
  assert.ok(
    !watcher.lines.some((l) => l.includes("lost")),
    watcher.lines.filter((l) => l.includes("lost")).join(),
  );
  assert.deepEqual((await roomHistory(server.hub, "lobby", { limit: 100 })).messages.map((m) => m.text), [
    "marker",
  ]);
  assert.deepEqual(server.hub.members("lobby").members.map((u) => u.name), ["late", "watcher"]);
  await assertHealthy(server);
});

Deno.test("TCP and WebSocket: 1 000 connections opened and dropped in a burst: the room keeps chatting, the hub returns to zero", async () => {
  await using server = serve({ presenceIntervalMs: 50 });
  const { tcp, http } = server;
  const alice = await LineClient.login(tcp!, "alice");
  const bob = await WsClient.open(http!, "/ws");
  bob.send({ Action: "username", Payload: { Username: "bob" } });
  await bob.expectJson({ Action: "username" });

  const open = async (i: number): Promise<Deno.TcpConn> => {
    switch (i % 5) {
      case 0: // a TCP connection that never says anything
        return await Deno.connect({ hostname: tcp!.hostname, port: tcp!.port });
      case 1: { // a command client
        const conn = await Deno.connect({ hostname: tcp!.hostname, port: tcp!.port });
        await writeAll(conn, encoder.encode(`LOGIN b${i}\n`));
        return conn;
      }
      case 2: { // a MaChat client
        const conn = await Deno.connect({ hostname: tcp!.hostname, port: tcp!.port });
        await writeAll(conn, encoder.encode(`{"name":"b${i}","room":"lobby"}`));
        return conn;
      }
      case 3: { // GoBanter
        const conn = await rawUpgrade(http!, "/ws");
        await writeAll(
          conn,
          clientFrame(JSON.stringify({ Action: "username", Payload: { Username: `b${i}` } })),
        );
        return conn;
      }
      default: { // MaChat over WebSocket
        const conn = await rawUpgrade(http!, "/mychat");
        await writeAll(conn, clientFrame(`{"name":"b${i}","room":"lobby"}`));
        return conn;
      }
    }
  };
  const started = performance.now();
  const conns: Deno.TcpConn[] = [];
  for (let batch = 0; batch < 10; batch++) {
    conns.push(...await Promise.all(Array.from({ length: 100 }, (_, j) => open(batch * 100 + j))));
  }
  await eventually(() => server.hub.connections === 1002, "1 002 connections", 15_000);
  await eventually(
    () => server.hub.members("lobby").members.length === 802,
    "800 named members and alice and bob",
    15_000,
  );

  // The room still works at full house.
  await alice.send("hello crowd");
  await bob.expectJson({ Action: "broadcast", Payload: { Message: "hello crowd", Username: "alice" } });

  // Everyone drops at once, without a goodbye.
  for (const conn of conns) closeQuietly(conn);
  await eventually(() => server.hub.connections === 2, "back to alice and bob", 15_000);
  await eventually(
    () => server.hub.members("lobby").members.length === 2,
    "only alice and bob are members",
    5000,
  );
  bob.send({ Action: "broadcast", Payload: { Message: "quiet again" } });
  await alice.expect("MSG bob quiet again");
  assert.ok(performance.now() - started < 30_000);
  await alice.close();
  await bob.close();
  await eventually(() => server.hub.connections === 0, "the hub counts zero connections");
  assert.deepEqual(server.hub.rooms(), []);
  await assertHealthy(server);
});

/** Writes `bytes` one byte every `everyMs` until done, `stop()` says so, or the peer is gone. */
async function trickle(
  conn: Deno.Conn,
  bytes: Uint8Array,
  everyMs: number,
  stop: () => boolean,
): Promise<void> {
  for (const byte of bytes) {
    if (stop()) return;
    try {
      await conn.write(new Uint8Array([byte]));
    } catch {
      return;
    }
    await delay(everyMs);
  }
}

Deno.test("every door, slowloris: partial lines and handshakes trickled byte by byte are closed by the login and idle deadlines", async () => {
  await using server = serve({ loginTimeoutMs: 400, idleTimeoutMs: 700 });
  const { tcp, http } = server;
  // A real person, typing now and then: never closed.
  await using keeper = await LineClient.login(tcp!, "keeper");
  let keeping = true;
  const keeping$ = (async () => {
    while (keeping) {
      await keeper.send("PING");
      await keeper.expect("PONG");
      await delay(150);
    }
  })();
  const long = (text: string) => encoder.encode(text.repeat(20)); // far more bytes than the deadlines allow

  const started = performance.now();
  // Before login: a partial line, then silence.
  await using stall = await LineClient.connect(tcp!);
  await stall.send(encoder.encode("LOGIN sta"));
  // Before login: a byte every 50 ms, never a newline.
  await using drip = await LineClient.connect(tcp!);
  const drip$ = trickle(drip.conn, long("LOGIN dripping "), 50, () => drip.closed);
  // Logged in: a partial line trickled (a partial line is not activity).
  await using idler = await LineClient.login(tcp!, "idler");
  const idler$ = trickle(idler.conn, long("never ending "), 50, () => idler.closed);
  // MaChat: the handshake trickled, and after a handshake a partial line trickled.
  await using mslow = await LineClient.connect(tcp!);
  const mslow$ = trickle(
    mslow.conn,
    encoder.encode('{"name":"mslow","room":"lobby","pad":"' + "p".repeat(100)),
    50,
    () => mslow.closed,
  );
  await using mline = await LineClient.connect(tcp!);
  await mline.send('{"name":"mline","room":"lobby"}');
  const mline$ = trickle(mline.conn, long("half "), 50, () => mline.closed);
  // MaChat over WebSocket: the handshake frame trickled.
  const wsSlow = await rawUpgrade(http!, "/mychat");
  let wsClosed = false;
  const wsSlow$ = trickle(
    wsSlow,
    clientFrame('{"name":"wslow","room":"lobby","pad":"' + "p".repeat(100) + '"}'),
    50,
    () => wsClosed,
  );
  // HTTP: a request head that never ends.
  const httpSlow = await Deno.connect({ hostname: http!.hostname, port: http!.port });
  let httpDone = false;
  const httpSlow$ = trickle(
    httpSlow,
    encoder.encode("GET / HTTP/1.1\r\nHost: x\r\nX-Pad: " + "p".repeat(60)),
    50,
    () => httpDone,
  );

  await stall.expect("ERR login-timeout", 3000);
  await stall.closedByServer(1000);
  await drip.expect("ERR login-timeout", 3000);
  await drip.closedByServer(1000);
  await idler.expect("INFO disconnected due to inactivity", 3000);
  await idler.closedByServer(1000);
  await mslow.expect(BAD_HANDSHAKE, 3000);
  await mslow.closedByServer(1000);
  await mline.expect("INFO disconnected due to inactivity", 3000);
  await mline.closedByServer(1000);
  const wsCode = await readUntilClose(wsSlow, 3000);
  wsClosed = true;
  assert.equal(wsCode, 1008);
  const elapsed = performance.now() - started;
  assert.ok(elapsed < 2500, `slowloris connections lived ${elapsed} ms`);
  await Promise.all([drip$, idler$, mslow$, mline$, wsSlow$]);

  // Meanwhile the server served everyone else, the half-open HTTP request included.
  assert.ok(!keeper.closed);
  await assertHealthy(server);
  keeping = false;
  await keeping$;
  httpDone = true;
  closeQuietly(httpSlow);
  closeQuietly(wsSlow);
  await httpSlow$;
  assert.ok(!server.hub.online("idler") && !server.hub.online("mline") && !server.hub.online("mslow"));
});

Deno.test("every door, store write failure (disk full): every dialect is told it was not sent, nothing is delivered, then it recovers", async () => {
  const store = new FlakyStore();
  await using server = serve({ presenceIntervalMs: 20 }, { store });
  const { tcp, http } = server;
  await using obs = await LineClient.login(tcp!, "obs");
  await using tc = await LineClient.login(tcp!, "tc");
  await using mt = await LineClient.connect(tcp!);
  await mt.send('{"name":"mt","room":"lobby"}');
  await using gd = await WsClient.open(http!, "/ws");
  gd.send({ Action: "username", Payload: { Username: "gd" } });
  await using gl = await WsClient.open(http!, "/ws");
  gl.send({ action: "username", username: "gl", message: "", to: "" });
  await using gc = await WsClient.open(http!, "/joinRoom?room_code=lobby&user_name=gc");
  await using mw = await WsClient.open(http!, "/mychat");
  mw.send('{"name":"mw","room":"lobby"}');
  await eventually(() => server.hub.members("lobby").members.length === 7, "seven in the lobby");
  const refusal = "Cannot store the message right now; it was not sent";

  store.failWrites = true;
  await tc.send("lost from tc");
  await tc.expect("ERR unavailable");
  await tc.send("DM obs lost dm from tc");
  await tc.expect("ERR unavailable");
  await mt.send("lost from mt");
  await mt.expect("ERR unavailable");
  gd.send({ Action: "broadcast", Payload: { Message: "lost from gd" } });
  await gd.expectJson({ Action: "error", Payload: { Code: "unavailable", Message: refusal } });
  gd.send({ Action: "private", Payload: { To: "obs", Message: "lost dm from gd" } });
  await gd.expectJson({ Action: "error", Payload: { Code: "unavailable" } });
  gl.send({ action: "broadcast", username: "gl", message: "lost from gl", to: "" });
  await gl.expectJson({ action: "error", message: refusal, message_type: "error" });
  gc.send({ DataType: "message", Data: { Type: "USER", Contents: b64("lost from gc") } });
  await gc.expectJson({ DataType: "message", Data: { Type: "SYS", Contents: b64(`error: ${refusal}`) } });
  mw.send("lost from mw\n");
  await mw.expect("ERR unavailable\n");
  assert.equal(store.refused, 8);
  assert.equal(server.hub.metrics.storeFailures, 8);
  assert.deepEqual((await store.inner.range("lobby", { limit: 100 })).messages, []);

  // The disk has room again: every dialect's message round-trips and is stored.
  store.failWrites = false;
  await tc.send("back from tc");
  await obs.expect("MSG tc back from tc");
  await mt.send("back from mt");
  await mt.expect("mt:back from mt");
  gd.send({ Action: "broadcast", Payload: { Message: "back from gd" } });
  await gd.expectJson({ Action: "broadcast", Payload: { Message: "back from gd" } });
  gl.send({ action: "broadcast", username: "gl", message: "back from gl", to: "" });
  await gl.expectJson({ action: "broadcast", message: "back from gl" });
  gc.send({ DataType: "message", Data: { Type: "USER", Contents: b64("back from gc") } });
  await gc.expectJson({
    DataType: "message",
    Data: { Type: "USER", SenderName: "gc", Contents: b64("back from gc") },
  });
  mw.send("back from mw\n");
  await mw.expect("mw:back from mw\n");
  await tc.send("DM obs back dm");
  await obs.expect("DM tc back dm");
  for (const who of ["tc", "mt", "gd", "gl", "gc", "mw"]) {
    await eventually(() => obs.lines.includes(`MSG ${who} back from ${who}`), `obs hears ${who}`);
  }
  // Each client has now had mw's message, sent after the refusals: anything a refusal had sent is in.
  await tc.expect("MSG mw back from mw");
  await mt.expect("mw:back from mw");
  await gd.expectJson({ Action: "broadcast", Payload: { Message: "back from mw" } });
  await gl.expectJson({ action: "broadcast", message: "back from mw" });
  await gc.expectJson({ DataType: "message", Data: { Type: "USER", Contents: b64("back from mw") } });
  // Never silence, never a false acknowledgement: nothing was echoed or delivered.
  const everything = [
    ...obs.lines,
    ...tc.lines,
    ...mt.lines,
    ...gd.frames,
    ...gl.frames,
    ...gc.frames.map((f) => {
      const c = JSON.parse(f).Data?.Contents;
      return typeof c === "string"
        ? new TextDecoder().decode(Uint8Array.from(atob(c), (ch) => ch.charCodeAt(0)))
        : f;
    }),
    ...mw.frames,
  ];
  assert.deepEqual(everything.filter((l) => l.includes("lost")), []);
  const stored = (await roomHistory(server.hub, "lobby", { limit: 100 })).messages.map((m) =>
    `${m.from}:${m.text}`
  );
  assert.deepEqual(stored, ["tc", "mt", "gd", "gl", "gc", "mw"].map((w) => `${w}:back from ${w}`));
  await assertHealthy(server);
});

// A store that cannot read must not cost the connection: HISTORY answers in the dialect and the client stays.
Deno.test({
  name: "TCP HISTORY, store read failure: answers ERR unavailable and the connection stays",
  fn: async () => {
    const store = new FlakyStore();
    await using server = serve({ http: null }, { store });
    await using tc = await LineClient.login(server.tcp!, "tc");
    await tc.send("kept");
    await eventually(
      async () => (await store.inner.range("lobby", { limit: 5 })).messages.length === 1,
      "stored",
    );
    store.failReads = true;
    await tc.send("HISTORY 5");
    assert.equal(await tc.expect(/^(ERR .*|HIST .*|OK)$/), "ERR unavailable");
    await tc.send("PING");
    await tc.expect("PONG");
    store.failReads = false;
    await assertHealthy(server);
  },
});

Deno.test("WebSocket doors, store read failure: GoBanter history says unavailable; a MaChat join without replay still joins", async () => {
  const store = new FlakyStore();
  // MaChat replays nothing by default: ask for a replay, so the join meets the failing read.
  await using server = serve({ machatHistoryOnJoin: 20 }, { store });
  await using gd = await WsClient.open(server.http!, "/ws");
  gd.send({ Action: "username", Payload: { Username: "gd" } });
  gd.send({ Action: "broadcast", Payload: { Message: "before" } });
  await gd.expectJson({ Action: "broadcast", Payload: { Message: "before" } });
  store.failReads = true;
  gd.send({ Action: "history", Payload: { Room: "lobby" } });
  await gd.expectJson({ Action: "error", Payload: { Code: "unavailable" } });
  await using ma = await LineClient.connect(server.tcp!);
  await ma.send('{"name":"ma","room":"lobby"}');
  await ma.send("joined anyway");
  await ma.expect("ma:joined anyway");
  await gd.expectJson({ Action: "broadcast", Payload: { Message: "joined anyway" } });
  store.failReads = false;
  await assertHealthy(server);
});

/** Arguments for a child hubbub on loopback ports chosen by the system. */
function childArgs(extra: string[]): string[] {
  return ["run", "-P=server", "main.ts", "--tcp", "127.0.0.1:0", "--log-format", "json", ...extra];
}

Deno.test("TCP MaChat: SIGKILL during a burst of clients: every acknowledged (echoed) line is in history after restart", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hubbub-abuse-kill-" });
  // A history limit above anything the burst can write: retention must not be what removes a line.
  const args = childArgs([
    "--http",
    "off",
    "--store",
    `sqlite:${dir}/chat.db`,
    "--rate",
    "0",
    "--history-limit",
    "1000000",
  ]);
  try {
    // As tests/crash_test.ts for WebSocket: acknowledged = a `name:text` line seen by any MaChat client.
    const acknowledged = new Set<string>();
    {
      await using child = new Child(args);
      const addr = await child.tcpAddr();
      const clients = await Promise.all([1, 2, 3].map(async (k) => {
        const c = await LineClient.connect(addr);
        await c.send(`{"name":"k${k}","room":"crash"}`);
        return c;
      }));
      let streaming = true;
      const streams = clients.map(async (c, k) => {
        for (let n = 0; streaming; n++) {
          try {
            await c.send(encoder.encode(`k${k + 1} line ${n}\n`));
          } catch {
            return; // killed
          }
          if (n % 5 === 4) await delay(1);
        }
      });
      await eventually(
        () => {
          for (const c of clients) {
            for (const l of c.lines) if (/^k\d:k\d line \d+$/.test(l)) acknowledged.add(l);
          }
          return acknowledged.size >= 300;
        },
        "300 acknowledged lines",
        20_000,
      );
      child.process.kill("SIGKILL");
      const status = await child.status();
      streaming = false;
      await Promise.all(streams);
      assert.equal(status.signal, "SIGKILL");
      for (const c of clients) {
        await c.closedByServer();
        for (const l of c.lines) if (/^k\d:k\d line \d+$/.test(l)) acknowledged.add(l);
        await c.close();
      }
    }
    assert.ok(acknowledged.size >= 300);

    await using child = new Child(args);
    const addr = await child.tcpAddr();
    await using checker = await LineClient.login(addr, "checker");
    await checker.send("JOIN crash");
    await checker.expect("OK");
    await checker.send("HISTORY SINCE 0");
    const stored = new Set<string>();
    const ids: number[] = [];
    for (
      let l = await checker.expect(/^(HIST .*|OK)$/);
      l !== "OK";
      l = await checker.expect(/^(HIST .*|OK)$/)
    ) {
      const [, id, , from, text] = /^HIST (\d+) (\S+) (\S+) (.*)$/.exec(l)!;
      ids.push(Number(id));
      stored.add(`${from}:${text}`);
    }
    const lost = [...acknowledged].filter((a) => !stored.has(a));
    assert.deepEqual(lost, [], `${lost.length} of ${acknowledged.size} acknowledged lines lost`);
    assert.deepEqual(ids, [...ids].sort((a, b) => a - b), "ids only grow");
    // The restarted server serves: a MaChat client round-trips in the same room, with a new, larger id.
    await using after = await LineClient.connect(addr);
    await after.send('{"name":"after","room":"crash"}');
    await after.send("after the crash");
    await after.expect("after:after the crash");
    await checker.expect("MSG after after the crash");
    child.process.kill("SIGTERM");
    assert.equal((await child.status()).code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("main.ts: SIGTERM with 1 000 clients connected: every one is told or closed, the process exits 0 promptly", async () => {
  // Only the per-IP limit is raised (every client here comes from 127.0.0.1); everything else is default.
  await using child = new Child(childArgs(["--http", "127.0.0.1:0", "--max-connections-per-ip", "0"]));
  const tcp = await child.tcpAddr();
  const http = await child.httpAddr();
  const commands: LineClient[] = [];
  const machats: LineClient[] = [];
  const sockets: WsClient[] = [];
  for (let batch = 0; batch < 10; batch++) {
    await Promise.all(Array.from({ length: 100 }, async (_, j) => {
      const i = batch * 100 + j;
      if (i % 10 < 6) commands.push(await LineClient.login(tcp, `d${i}`));
      else if (i % 10 < 8) {
        const c = await LineClient.connect(tcp);
        await c.send(`{"name":"d${i}","room":"lobby"}`);
        machats.push(c);
      } else {
        const ws = await WsClient.open(http, "/ws");
        ws.send({ Action: "username", Payload: { Username: `d${i}` } });
        sockets.push(ws);
      }
    }));
  }
  const members = async () =>
    (await (await fetch(`http://${http.hostname}:${http.port}/api/rooms/lobby/members?limit=1`)).json())
      .total;
  await eventually(async () => await members() === 1000, "1 000 members", 20_000);
  // The server serves at full house.
  await commands[0]!.send("full house");
  await commands[1]!.expect(/^MSG d\d+ full house$/);
  await sockets[0]!.expectJson({ Action: "broadcast", Payload: { Message: "full house" } });

  const started = performance.now();
  child.process.kill("SIGTERM");
  const status = await child.status();
  const took = performance.now() - started;
  assert.equal(status.code, 0);
  assert.ok(took < 5000, `exit took ${took} ms`);
  await Promise.all([
    ...[...commands, ...machats].map((c) => c.closedByServer(5000)),
    ...sockets.map((s) => Promise.race([s.closedPromise, delay(5000)])),
  ]);
  assert.ok(sockets.every((s) => s.closeEvent !== null), "every WebSocket is closed");
  // Told in its dialect, or at least closed: count who heard the notice.
  const told = commands.filter((c) => c.lines.includes("INFO server shutting down")).length +
    machats.filter((c) => c.lines.includes("INFO server shutting down")).length +
    sockets.filter((s) => s.frames.some((f) => f.startsWith('{"Action":"shutdown"'))).length;
  assert.equal(told, 1000, `${told} of 1 000 heard "server shutting down"`);
  assert.ok(sockets.every((s) => s.closeEvent?.code === 1001), "WebSockets closed with 1001 (going away)");
  assert.ok(child.records.some((r) => r.message === "stopped"));
  for (const c of [...commands, ...machats]) await c.close();
});
