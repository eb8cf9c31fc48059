/** WebSocket door: GoBanter (both shapes), goChat and MaChat dialects with real clients on port 0. */

import assert from "node:assert/strict";
import { eventually, LineClient, serve, WsClient } from "./_helpers.ts";
import { fromBase64, ownSessionIds, toBase64 } from "../src/ws/gochat.ts";

const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

Deno.test("GoBanter /ws documented exchange: connected, username, userlist, broadcast echo, left", async () => {
  await using server = serve({ tcp: null, presenceIntervalMs: 20 });
  const addr = server.http!;
  await using alice = await WsClient.open(addr, "/ws");
  const hello = await alice.expectJson({ Action: "connected" });
  const payload = hello.Payload as Record<string, string>;
  assert.match(payload.Conn!, /^c_/);
  assert.match(payload.Time!, RFC3339);

  alice.send({ Action: "username", Payload: { Username: "alice" } });
  await alice.expectJson({ Action: "userlist", Payload: { Room: "lobby", Users: ["alice"] } });

  await using bob = await WsClient.open(addr, "/ws");
  await bob.expectJson({ Action: "connected" });
  bob.send({ Action: "username", Payload: { Username: "bob" } });
  await bob.expectJson({ Action: "userlist", Payload: { Users: ["alice", "bob"] } });
  await alice.expectJson({ Action: "connected", Payload: { Username: "bob", Room: "lobby" } });
  await alice.expectJson({ Action: "userlist", Payload: { Users: ["alice", "bob"] } });

  bob.send({ Action: "broadcast", Payload: { Message: "hi all" } });
  for (const client of [alice, bob]) {
    const frame = await client.expectJson({
      Action: "broadcast",
      Payload: { Message: "hi all", Username: "bob" },
    });
    const p = frame.Payload as Record<string, unknown>;
    assert.match(String(p.Conn), /^c_/);
    assert.match(String(p.Time), RFC3339);
    assert.equal(p.Room, "lobby");
    assert.equal(p.Id, 1);
  }

  // Unknown actions are ignored and the socket stays open.
  bob.send({ Action: "dance", Payload: {} });
  bob.send({ Action: "broadcast", Payload: { Message: "still here" } });
  await alice.expectJson({ Action: "broadcast", Payload: { Message: "still here", Id: 2 } });

  await bob.close();
  await alice.expectJson({ Action: "left", Payload: { Username: "bob" } });
  await alice.expectJson({ Action: "userlist", Payload: { Users: ["alice"] } });
});

Deno.test("GoBanter /ws documented rooms, DMs, typing, history and errors", async () => {
  await using server = serve({ tcp: null, presenceIntervalMs: 20 });
  const addr = server.http!;
  await using alice = await WsClient.open(addr, "/ws");
  await using bob = await WsClient.open(addr, "/ws");
  alice.send({ Action: "username", Payload: { Username: "alice" } });
  bob.send({ Action: "username", Payload: { Username: "bob" } });
  await alice.expectJson({ Action: "userlist", Payload: { Users: ["alice", "bob"] } });

  alice.send({ Action: "join", Payload: { Room: "#dev" } });
  await alice.expectJson({ Action: "userlist", Payload: { Room: "#dev", Users: ["alice"] } });
  bob.send({ Action: "join", Payload: { Room: "#DEV" } });
  await alice.expectJson({ Action: "connected", Payload: { Username: "bob", Room: "#dev" } });

  bob.send({ Action: "typing", Payload: { Room: "#dev" } });
  await alice.expectJson({ Action: "typing", Payload: { Username: "bob", Room: "#dev" } });

  alice.send({ Action: "broadcast", Payload: { Message: "in dev", Room: "#dev" } });
  await bob.expectJson({ Action: "broadcast", Payload: { Message: "in dev", Room: "#dev", Id: 1 } });
  alice.send({ Action: "private", Payload: { To: "bob", Message: "secret" } });
  await bob.expectJson({ Action: "private", Payload: { Message: "secret", Username: "alice", To: "bob" } });
  await alice.expectJson({ Action: "private", Payload: { Message: "secret", Username: "alice", To: "bob" } });
  alice.send({ Action: "private", Payload: { To: "nobody", Message: "x" } });
  await alice.expectJson({ Action: "error", Payload: { Code: "user-not-found" } });

  alice.send({ Action: "history", Payload: { Room: "#dev", Limit: 10 } });
  const history = await alice.expectJson({ Action: "history" });
  const h = history.Payload as {
    Room: string;
    Messages: { Message: string; Id: number }[];
    Complete: boolean;
  };
  assert.equal(h.Room, "#dev");
  assert.deepEqual(h.Messages.map((m) => [m.Id, m.Message]), [[1, "in dev"]]);
  assert.equal(h.Complete, true);

  bob.send({ Action: "username", Payload: { Username: "ALICE" } });
  await bob.expectJson({ Action: "error", Payload: { Code: "name-taken" } });
  bob.send({ Action: "username", Payload: { Username: "no spaces allowed" } });
  await bob.expectJson({ Action: "error", Payload: { Code: "invalid-name" } });
  bob.send({ Action: "join", Payload: { Room: "bad/room" } });
  await bob.expectJson({ Action: "error", Payload: { Code: "invalid-room" } });

  bob.send({ Action: "leave", Payload: { Room: "#dev" } });
  await alice.expectJson({ Action: "left", Payload: { Username: "bob", Room: "#dev" } });
  alice.send({ Action: "userlist", Payload: { Room: "#dev" } });
  await alice.expectJson({ Action: "userlist", Payload: { Room: "#dev", Users: ["alice"] } });
});

Deno.test("GoBanter /ws legacy shape: list_users, broadcast, private, typing, refusals", async () => {
  await using server = serve({ tcp: null, presenceIntervalMs: 20 });
  const addr = server.http!;
  await using alice = await WsClient.open(addr, "/ws");
  await using bob = await WsClient.open(addr, "/ws");
  alice.send({ action: "username", username: "alice", message: "", to: "" });
  bob.send({ action: "username", username: "bob", message: "", to: "" });
  const list = await alice.expectJson({ action: "list_users", connected_users: ["alice", "bob"] });
  assert.deepEqual(Object.keys(list).sort(), [
    "action",
    "connected_users",
    "from",
    "message",
    "message_type",
    "room",
    "timestamp",
    "to",
    "username",
  ]);
  assert.match(String(list.timestamp), /^\d\d:\d\d$/);

  bob.send({ action: "broadcast", username: "bob", message: "<b>hi</b>", to: "" });
  for (const c of [alice, bob]) {
    const f = await c.expectJson({ action: "broadcast", message: "<b>hi</b>" });
    assert.equal(f.from, "bob");
    assert.equal(f.username, "bob");
    assert.equal(f.message_type, "");
    assert.deepEqual(f.connected_users, []);
  }
  // A named connection cannot speak as someone else.
  bob.send({ action: "broadcast", username: "alice", message: "impersonation", to: "" });
  const forged = await alice.expectJson({ action: "broadcast", message: "impersonation" });
  assert.equal(forged.from, "bob");

  bob.send({ action: "private", username: "bob", message: "psst", to: "alice" });
  await alice.expectJson({
    action: "private",
    message: "psst",
    message_type: "private",
    from: "bob",
    to: "alice",
  });
  await bob.expectJson({ action: "private", message: "psst", from: "bob", to: "alice" });
  bob.send({ action: "private", username: "bob", message: "x", to: "ghost" });
  await bob.expectJson({
    action: "error",
    message: "User 'ghost' not found or offline",
    message_type: "error",
  });

  bob.send({ action: "typing", username: "bob", message: "", to: "" });
  await alice.expectJson({ action: "typing", from: "bob" });

  await using carol = await WsClient.open(addr, "/ws");
  carol.send({ action: "username", username: "Alice", message: "", to: "" });
  await carol.expectJson({ action: "error", message: "Name 'Alice' is taken", message_type: "error" });
  carol.send({ action: "username", username: "two words", message: "", to: "" });
  const invalid = await carol.expectJson({ action: "error", message_type: "error" });
  assert.match(String(invalid.message), /^Name 'two words' is not a valid name: /);
  // Still open and nameless: a later frame's username claims a free name (a page that survived a restart).
  carol.send({ action: "broadcast", username: "carol", message: "I am back", to: "" });
  await alice.expectJson({ action: "broadcast", message: "I am back", from: "carol" });
  await alice.expectJson({ action: "list_users", connected_users: ["alice", "bob", "carol"] });
});

Deno.test("goChat /joinRoom: base64 messages, join/leave notices, user lists, rooms isolated, 400 on bad query", async () => {
  await using server = serve({ tcp: null, presenceIntervalMs: 20 });
  const addr = server.http!;
  const sid = "01".repeat(64);
  const url = (room: string, name: string) =>
    `/joinRoom?room_code=${room}&user_name=${name}&session_id=${sid}`;
  await using ann = await WsClient.open(addr, url("r1", "ann"));
  await using ben = await WsClient.open(addr, url("r1", "ben"));
  await using cat = await WsClient.open(addr, url("r2", "cat"));
  const joined = await ann.expectJson({ DataType: "message", Data: { Type: "JOIN_LEAVE", SenderName: "" } });
  assert.equal(
    fromBase64(String((joined.Data as Record<string, unknown>).Contents)),
    "ann has joined the room!",
  );
  await ann.expectJson({ DataType: "userList", Data: { Users: [["ann", sid], ["ben", sid]] } });

  const mine = toBase64("héllo r1");
  const ownId = btoa("\x55".repeat(16));
  ben.send({
    DataType: "message",
    Data: {
      Type: "USER",
      // The sender's own session id (its query's 0/1 string, as base64): relayed; any other is relayed as null.
      SessionID: ownId,
      SenderName: "spoof",
      DateTime: new Date().toISOString(),
      Contents: mine,
    },
  });
  for (const c of [ann, ben]) {
    const f = await c.expectJson({
      DataType: "message",
      Data: { Type: "USER", SenderName: "ben", Contents: mine },
    });
    assert.equal((f.Data as Record<string, unknown>).SessionID, ownId);
    assert.match(String((f.Data as Record<string, unknown>).DateTime), RFC3339);
  }
  cat.send({ DataType: "message", Data: { Type: "USER", SessionID: "x", Contents: toBase64("only r2") } });
  await cat.expectJson({ Data: { SenderName: "cat", Contents: toBase64("only r2") } });
  await ben.close();
  const left = await ann.expectJson({ Data: { Type: "JOIN_LEAVE" } });
  assert.equal(fromBase64(String((left.Data as Record<string, unknown>).Contents)), "ben has left the room!");
  assert.ok(!ann.frames.some((f) => f.includes(toBase64("only r2"))), "r1 never sees r2");

  for (
    const bad of ["/joinRoom?user_name=x", "/joinRoom?room_code=r1", "/joinRoom?room_code=r1&user_name=a%20b"]
  ) {
    const response = await fetch(`http://${addr.hostname}:${addr.port}${bad}`, {
      headers: { upgrade: "websocket" },
    });
    assert.equal(response.status, 400, bad);
    assert.match(await response.text(), /^Cannot join: /);
  }
  const make = await fetch(`http://${addr.hostname}:${addr.port}/makeRoom?room_code=r9&user_name=zed`);
  assert.equal(make.status, 200);
  await make.body?.cancel();
});

Deno.test("MaChat /mychat (over WebSocket): handshake, multi-line frames, taken names, bad handshake", async () => {
  await using server = serve({ tcp: null });
  const addr = server.http!;
  await using ma = await WsClient.open(addr, "/mychat");
  ma.send('{"name":"mara","room":"dev"}');
  ma.send("first\n");
  await ma.expect("mara:first\n");
  ma.send("two\r\nlines\n");
  await ma.expect("mara:two\n");
  await ma.expect("mara:lines\n");
  ma.send(new TextEncoder().encode("binary frame\n"));
  await ma.expect("mara:binary frame\n");

  await using copy = await WsClient.open(addr, "/mychat");
  copy.send('{"name":"MARA","room":"dev"}\n');
  await copy.expect("INFO your name is MARA-2 (MARA is taken)\n");
  await ma.expect("INFO MARA-2 joined\n");

  await using bad = await WsClient.open(addr, "/mychat");
  bad.send("hello?");
  await bad.expect('ERR bad-handshake: expected {"name":"...","room":"..."}\n');
  const closed = await bad.closedPromise;
  assert.equal(closed.code, 1008);
});

Deno.test("every door: one room, five doors: every message reaches all five in their own dialect", async () => {
  await using server = serve({ presenceIntervalMs: 20 });
  const { http, tcp } = server;
  await using gb = await WsClient.open(http!, "/ws");
  gb.send({ Action: "username", Payload: { Username: "gb" } });
  gb.send({ Action: "join", Payload: { Room: "mix" } });
  await using gc = await WsClient.open(http!, "/joinRoom?room_code=mix&user_name=gc&session_id=1010");
  await using mw = await WsClient.open(http!, "/mychat");
  mw.send('{"name":"mw","room":"mix"}');
  await using tc = await LineClient.login(tcp!, "tc");
  await tc.send("JOIN mix");
  await tc.expect("OK");
  await using mt = await LineClient.connect(tcp!);
  await mt.send('{"name":"mt","room":"mix"}');
  await eventually(() => server.hub.members("mix").members.length === 5, "five members in mix");

  const says: [string, () => unknown][] = [
    ["gb", () => gb.send({ Action: "broadcast", Payload: { Message: "from gb", Room: "mix" } })],
    [
      "gc",
      () =>
        gc.send({
          DataType: "message",
          Data: { Type: "USER", SessionID: "x", Contents: toBase64("from gc") },
        }),
    ],
    ["mw", () => mw.send("from mw\n")],
    ["tc", () => tc.send("from tc")],
    ["mt", () => mt.send("from mt")],
  ];
  for (const [who, say] of says) {
    await say();
    const text = `from ${who}`;
    await gb.expectJson({ Action: "broadcast", Payload: { Message: text, Username: who, Room: "mix" } });
    await gc.expectJson({
      DataType: "message",
      Data: { Type: "USER", SenderName: who, Contents: toBase64(text) },
    });
    await mw.expect(`${who}:${text}\n`);
    await mt.expect(`${who}:${text}`);
    if (who !== "tc") await tc.expect(`MSG ${who} ${text}`);
  }
  assert.ok(!tc.lines.includes("MSG tc from tc"), "the TCP sender does not hear itself");

  // Cross-door DMs, and a line break from a WebSocket cannot forge a TCP line.
  gb.send({ Action: "private", Payload: { To: "tc", Message: "two\nlines" } });
  await tc.expect("DM gb two lines");
  await tc.send("DM mw hello machat");
  await mw.expect("[DM] tc: hello machat\n");
  await tc.send("WHO");
  for (const name of ["gb", "gc", "mt", "mw", "tc"]) await tc.expect(`USER ${name}`);
});

Deno.test("GoBanter /ws bad frames: invalid JSON, wrong shape, binary, oversized (1009), broadcast before username", async () => {
  await using server = serve({ tcp: null, maxFrameBytes: 1024 });
  const addr = server.http!;
  await using watcher = await WsClient.open(addr, "/ws");
  watcher.send({ Action: "username", Payload: { Username: "watcher" } });
  await using ws = await WsClient.open(addr, "/ws");
  ws.send("{not json");
  await ws.expectJson({ Action: "error", Payload: { Code: "bad-json" } });
  ws.send("[1,2,3]");
  await ws.expectJson({ Action: "error", Payload: { Code: "bad-frame" } });
  ws.send({ Action: "broadcast", Payload: "nope" });
  await ws.expectJson({ Action: "error", Payload: { Code: "bad-frame" } });
  ws.send({ Action: "broadcast", Payload: { Message: 42 } });
  await ws.expectJson({ Action: "error", Payload: { Code: "bad-frame" } });
  ws.send({ Action: "broadcast", Payload: { Message: "who am I?" } });
  await ws.expectJson({ Action: "error", Payload: { Code: "name-required" } });
  ws.send(new Uint8Array([1, 2, 3]));
  await ws.expectJson({ Action: "error", Payload: { Code: "bad-frame" } });
  ws.send({ Action: "broadcast", Payload: { Message: "x".repeat(2000) } });
  await ws.expectJson({ Action: "error", Payload: { Code: "too-large" } });
  assert.equal((await ws.closedPromise).code, 1009);

  // The server and the other client are fine.
  watcher.send({ Action: "broadcast", Payload: { Message: "all good" } });
  await watcher.expectJson({ Action: "broadcast", Payload: { Message: "all good" } });
  assert.ok(!watcher.frames.some((f) => f.includes("who am I?")));
});

Deno.test("WebSocket Origin policy: same origin and no origin pass, foreign origins get 403 unless allowed", async () => {
  await using server = serve({ tcp: null, allowOrigins: ["https://friend.example"] });
  const { hostname, port } = server.http!;
  const base = `http://${hostname}:${port}`;
  const headers = (origin?: string) => ({
    upgrade: "websocket",
    connection: "Upgrade",
    "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
    "sec-websocket-version": "13",
    ...(origin ? { origin } : {}),
  });
  const status = async (origin?: string) => {
    const response = await fetch(`${base}/ws`, { headers: headers(origin) });
    await response.body?.cancel();
    return response.status;
  };
  assert.equal(await status("https://evil.example"), 403);
  assert.equal(await status("null"), 403);
  assert.equal(await status(`http://${hostname}:${port}`), 101);
  assert.equal(await status(`HTTP://${hostname.toUpperCase()}:${port}/`), 101);
  assert.equal(await status("https://friend.example/"), 101);
  assert.equal(await status(), 101);
});

Deno.test("HTTP: healthz, JSON API, 404 and 405 in JSON under /api", async () => {
  await using server = serve({ tcp: null, presenceIntervalMs: 20 });
  const base = `http://${server.http!.hostname}:${server.http!.port}`;
  await using ws = await WsClient.open(server.http!, "/ws");
  ws.send({ Action: "username", Payload: { Username: "zoe" } });
  await ws.expectJson({ Action: "userlist" });
  const health = await fetch(`${base}/healthz`);
  assert.equal(health.status, 200);
  assert.equal(await health.text(), "ok\n");
  assert.deepEqual(await (await fetch(`${base}/api/rooms`)).json(), {
    rooms: [{ name: "lobby", members: 1 }],
  });
  assert.deepEqual(await (await fetch(`${base}/api/rooms/lobby/members`)).json(), {
    room: "lobby",
    total: 1,
    offset: 0,
    members: ["zoe"],
  });
  const missing = await fetch(`${base}/api/nope`);
  assert.equal(missing.status, 404);
  assert.equal(missing.headers.get("content-type"), "application/json; charset=utf-8");
  assert.equal((await missing.json()).error, "not-found");
  const wrong = await fetch(`${base}/api/rooms`, { method: "POST" });
  assert.equal(wrong.status, 405);
  assert.equal(wrong.headers.get("allow"), "GET, HEAD");
  assert.equal((await wrong.json()).error, "method-not-allowed");
  const head = await fetch(`${base}/healthz`, { method: "HEAD" });
  assert.equal(head.status, 200);
  assert.equal(await head.text(), "");
  const page = await fetch(`${base}/`);
  assert.match(page.headers.get("content-security-policy") ?? "", /script-src 'self'/);
  await page.body?.cancel();
});

/** A raw TCP client that completes the upgrade, logs in as `name` (GoBanter), and then never reads again. */
async function stalledReader(addr: Deno.NetAddr, name: string): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: addr.hostname, port: addr.port });
  await conn.write(new TextEncoder().encode(
    `GET /ws HTTP/1.1\r\nHost: ${addr.hostname}:${addr.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
  ));
  const body = new TextEncoder().encode(JSON.stringify({ Action: "username", Payload: { Username: name } }));
  const frame = new Uint8Array(2 + 4 + body.length);
  frame[0] = 0x81;
  frame[1] = 0x80 | body.length;
  frame.set(body, 6); // mask key 0
  await conn.write(frame);
  return conn;
}

Deno.test("WebSocket: a reader that never reads is dropped (1008); others keep chatting; RSS bounded", async () => {
  await using server = serve({ tcp: null, maxQueueBytes: 256 * 1024 });
  const addr = server.http!;
  const stalled = await stalledReader(addr, "stalled");
  await using alice = await WsClient.open(addr, "/ws");
  alice.send({ Action: "username", Payload: { Username: "alice" } });
  await using bob = await WsClient.open(addr, "/ws");
  bob.send({ Action: "username", Payload: { Username: "bob" } });
  await eventually(() => server.hub.members("lobby").members.length === 3, "three in the lobby");

  const rssBefore = Deno.memoryUsage().rss;
  const text = "w".repeat(8000);
  let sent = 0;
  while (server.hub.online("stalled") && sent < 5000) {
    alice.send({ Action: "broadcast", Payload: { Message: `${sent} ${text}` } });
    sent++;
    // Full speed for a healthy reader: the next burst goes as soon as bob has the last one.
    if (sent % 10 === 0) await bob.expect((f) => f.includes(`"Message":"${sent - 1} `));
  }
  await eventually(() => !server.hub.online("stalled"), "the stalled reader is dropped");
  await eventually(
    () => bob.frames.some((f) => f.startsWith('{"Action":"left"') && f.includes('"Username":"stalled"')),
    "bob hears that the stalled reader left",
  );
  alice.send({ Action: "broadcast", Payload: { Message: "after" } });
  await bob.expectJson({ Action: "broadcast", Payload: { Message: "after" } });
  // The stalled socket held at most its bound plus the kernel's buffers: nowhere near what was sent.
  const grown = Deno.memoryUsage().rss - rssBefore;
  assert.ok(grown < 200 * 1024 * 1024, `RSS grew by ${grown} bytes`);
  stalled.close();
});

Deno.test("WebSocket overload: while most readers are backed up new messages are refused (rate-limited), then accepted", async () => {
  // A bound high enough that the stalled readers stay while the door backs up behind them.
  await using server = serve({ tcp: null, maxQueueBytes: 256 * 1024 * 1024 });
  const addr = server.http!;
  const stalled = await Promise.all(["s1", "s2", "s3"].map((name) => stalledReader(addr, name)));
  await using alice = await WsClient.open(addr, "/ws");
  alice.send({ Action: "username", Payload: { Username: "alice" } });
  await using bob = await WsClient.open(addr, "/ws");
  bob.send({ Action: "username", Payload: { Username: "bob" } });
  await eventually(() => server.hub.members("lobby").members.length === 5, "five in the lobby");

  // Three of five sessions stop reading: once their frames have waited 250 ms the door counts as overloaded.
  const text = "o".repeat(32_000);
  const refused = (f: string) => f.includes('"Code":"rate-limited"') && f.includes("Server busy");
  let sent = 0;
  while (!alice.frames.some(refused) && sent < 2000) {
    alice.send({ Action: "broadcast", Payload: { Message: `${sent} ${text}` } });
    sent++;
    const last = `"Message":"${sent - 1} `;
    if (sent % 20 === 0) {
      await eventually(
        () => alice.frames.some(refused) || bob.frames.some((f) => f.includes(last)),
        `bob has message ${sent - 1}, or alice a refusal`,
      );
    }
  }
  await eventually(() => alice.frames.some(refused), "alice is told the server is busy");
  assert.ok(server.hub.metrics.overloadRefusals > 0);
  assert.ok(server.hub.load.counts.backedUp >= 3, JSON.stringify(server.hub.load.counts));
  // What was accepted before the refusals still reaches the healthy reader.
  const accepted = server.hub.metrics.messagesIn;
  await eventually(
    () => bob.frames.filter((f) => f.startsWith('{"Action":"broadcast"')).length === accepted,
    `bob has all ${accepted} accepted messages`,
  );

  // The stalled peers go away: their sessions end, and messages are accepted again.
  for (const conn of stalled) conn.close();
  await eventually(() => server.hub.members("lobby").members.length === 2, "the stalled readers are gone");
  assert.equal(server.hub.load.overloaded(), false);
  alice.send({ Action: "broadcast", Payload: { Message: "after" } });
  await bob.expectJson({ Action: "broadcast", Payload: { Message: "after", Username: "alice" } });
});

Deno.test("ownSessionIds: a goChat client's query id as given and, for a 0/1 string, its bytes as base64", () => {
  assert.deepEqual([...ownSessionIds(null)], []);
  assert.deepEqual([...ownSessionIds("0100000101000010")], ["0100000101000010", "QUI="]);
  assert.deepEqual([...ownSessionIds("01".repeat(64))], ["01".repeat(64), btoa("\x55".repeat(16))]);
  // Not whole bytes of bits: only the string itself.
  assert.deepEqual([...ownSessionIds("1010")], ["1010"]);
  assert.deepEqual([...ownSessionIds("abc")], ["abc"]);
});
