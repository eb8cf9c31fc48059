/**
 * Abuse rows: every size and count limit (line, frame, name, room name, rooms per member, connections in
 * total and per IP, login deadline, queued bytes). Each row ends by proving the server still serves a
 * healthy client, and where messages were acknowledged, that none was lost.
 */

import assert from "node:assert/strict";
import { ConnectionGate } from "../../src/hub/limits.ts";
import { delay, eventually, LineClient, roomHistory, serve, WsClient } from "../_helpers.ts";
import {
  assertHealthy,
  b64,
  clientFrame,
  closeQuietly,
  rawUpgrade,
  readUntilClose,
  upgradeStatus,
  writeAll,
} from "./_abuse.ts";

const BAD_HANDSHAKE = 'ERR bad-handshake: expected {"name":"...","room":"..."}';
const encoder = new TextEncoder();

Deno.test("max line (--max-line): longer lines get ERR line-too-long in both TCP dialects, the connection stays", async () => {
  await using server = serve({ http: null, maxLineBytes: 64 });
  const addr = server.tcp!;
  await using alice = await LineClient.login(addr, "alice");
  await using bob = await LineClient.login(addr, "bob");
  await alice.expect("INFO bob joined");

  const accepted: string[] = [];
  const ok = async (line: string, text = line) => {
    await bob.send(line);
    accepted.push(`MSG bob ${text}`);
  };
  await ok("y".repeat(64));
  await bob.send("x".repeat(65));
  await bob.expect("ERR line-too-long");
  await ok("é".repeat(32)); // 64 bytes of UTF-8
  await bob.send("é".repeat(32) + "e"); // 65 bytes
  await bob.expect("ERR line-too-long");
  await ok("z".repeat(64) + "\r", "z".repeat(64)); // the \r of \r\n is not part of the line
  await bob.send("q".repeat(200_000)); // far over: discarded as it streams, one error
  await bob.expect("ERR line-too-long");
  await ok("after the long ones");
  for (const want of accepted) await alice.expect(want);
  assert.equal(bob.unread().filter((l) => l === "ERR line-too-long").length, 0, "one error per long line");
  assert.ok(!alice.lines.some((l) => l.includes("xxxxx") || l.includes("qqqqq")));

  // MaChat dialect: the same limit, said in its words, and the connection stays.
  await using ma = await LineClient.connect(addr);
  await ma.send('{"name":"mara","room":"lobby"}');
  await alice.expect("INFO mara joined");
  await ma.send("m".repeat(65));
  await ma.expect("ERR line-too-long");
  await ma.send("short one");
  await ma.expect("mara:short one");
  await alice.expect("MSG mara short one");

  // A MaChat handshake that never closes its object is refused once it passes 4 KiB.
  await using huge = await LineClient.connect(addr);
  await huge.send(encoder.encode('{"name":"' + "a".repeat(5000)));
  await huge.expect(BAD_HANDSHAKE);
  await huge.closedByServer();

  await assertHealthy(server);
});

Deno.test("max frame (--max-frame): every WebSocket dialect says too-large in its words, then closes 1009", async () => {
  const max = 256;
  await using server = serve({ tcp: null, maxFrameBytes: max });
  const addr = server.http!;
  await using watcher = await WsClient.open(addr, "/ws");
  watcher.send({ Action: "username", Payload: { Username: "watcher" } });
  await watcher.expectJson({ Action: "username" });

  // Documented GoBanter: a frame of exactly the limit passes; one byte more does not.
  await using doc = await WsClient.open(addr, "/ws");
  doc.send({ Action: "username", Payload: { Username: "doc" } });
  const head = '{"Action":"broadcast","Payload":{"Message":"';
  const tail = '"}}';
  const frameOf = (size: number) => head + "d".repeat(size - head.length - tail.length) + tail;
  const docText = "d".repeat(max - head.length - tail.length);
  assert.equal(frameOf(max).length, max);
  doc.send(frameOf(max));
  await watcher.expectJson({ Action: "broadcast", Payload: { Username: "doc", Message: docText } });
  doc.send(frameOf(max + 1));
  await doc.expectJson({ Action: "error", Payload: { Code: "too-large" } });
  assert.equal((await doc.closedPromise).code, 1009);

  // Legacy GoBanter: its error frame.
  await using legacy = await WsClient.open(addr, "/ws");
  legacy.send({ action: "username", username: "legacy", message: "", to: "" });
  legacy.send({ action: "broadcast", username: "legacy", message: "L".repeat(max), to: "" });
  await legacy.expectJson({ action: "error", message: "Frame too large", message_type: "error" });
  assert.equal((await legacy.closedPromise).code, 1009);

  // goChat: a SYS message.
  await using gc = await WsClient.open(addr, "/joinRoom?room_code=lobby&user_name=gc");
  gc.send({ DataType: "message", Data: { Type: "USER", Contents: b64("g".repeat(max)) } });
  await gc.expectJson({
    DataType: "message",
    Data: { Type: "SYS", Contents: b64("error: frame too large") },
  });
  assert.equal((await gc.closedPromise).code, 1009);

  // MaChat over WebSocket: a line, for text and binary frames; multi-byte text is measured in bytes.
  await using mw = await WsClient.open(addr, "/mychat");
  mw.send('{"name":"mw","room":"lobby"}');
  mw.send("€".repeat(80) + "\n"); // 241 bytes
  await mw.expect(`mw:${"€".repeat(80)}\n`);
  mw.send("€".repeat(90) + "\n"); // 271 bytes in 91 UTF-16 units
  await mw.expect("ERR frame-too-large\n");
  assert.equal((await mw.closedPromise).code, 1009);
  await using mb = await WsClient.open(addr, "/mychat");
  mb.send('{"name":"mb","room":"lobby"}');
  mb.send(new Uint8Array(max + 1).fill(0x62));
  await mb.expect("ERR frame-too-large\n");
  assert.equal((await mb.closedPromise).code, 1009);

  // Nothing of the refused frames reached anyone or the store; the accepted one did.
  const stored = (await roomHistory(server.hub, "lobby", { limit: 100 })).messages.map((m) => m.text);
  assert.deepEqual(stored, [docText, "€".repeat(80)]);
  assert.ok(!watcher.frames.some((f) => /L{100}|g{100}|b{100}/.test(f)));
  await eventually(() => server.hub.connections === 1, "only the watcher is left");
  await assertHealthy(server);
});

Deno.test("max name (--max-name): longer names are refused in every dialect; the default is 32", async () => {
  await using server = serve({ maxName: 8 });
  const { tcp, http } = server;
  await using t = await LineClient.connect(tcp!);
  await t.send("LOGIN abcdefghi");
  await t.expect("ERR invalid-username");
  await t.send("LOGIN e\u0301e\u0301e\u0301e\u0301e\u0301"); // 10 code points (5 letters with accents)
  await t.expect("ERR invalid-username");
  await t.send("LOGIN abcdefgh");
  await t.expect("OK");

  await using doc = await WsClient.open(http!, "/ws");
  doc.send({ Action: "username", Payload: { Username: "docdocdoc" } });
  await doc.expectJson({ Action: "error", Payload: { Code: "invalid-name" } });
  doc.send({ Action: "username", Payload: { Username: "docdoc" } });
  await doc.expectJson({ Action: "username", Payload: { Username: "docdoc" } });
  await using legacy = await WsClient.open(http!, "/ws");
  legacy.send({ action: "username", username: "legacylegacy", message: "", to: "" });
  const refusal = await legacy.expectJson({ action: "error", message_type: "error" });
  assert.match(String(refusal.message), /^Name 'legacylegacy' is not a valid name: longer than 8/);

  await using ma = await LineClient.connect(tcp!);
  await ma.send('{"name":"machatmachat","room":"lobby"}');
  await ma.expect(BAD_HANDSHAKE);
  await ma.closedByServer();
  await using mw = await WsClient.open(http!, "/mychat");
  mw.send('{"name":"machatmachat","room":"lobby"}');
  await mw.expect(`${BAD_HANDSHAKE}\n`);
  assert.equal((await mw.closedPromise).code, 1008);
  assert.ok(!server.hub.online("machatmachat") && !server.hub.online("legacylegacy"));

  {
    await using defaults = serve({ http: null });
    await using d = await LineClient.connect(defaults.tcp!);
    await d.send(`LOGIN ${"x".repeat(33)}`);
    await d.expect("ERR invalid-username");
    await d.send(`LOGIN ${"x".repeat(32)}`);
    await d.expect("OK");
  }
  await assertHealthy(server);
});

// Regression: src/ws/gochat.ts parseQuery checks user_name and room_code against the protocol maxima (32, 64),
// not --max-name / --max-room-name, so /joinRoom upgrades (101) a name or room over the configured limit
// instead of answering HTTP 400; the hub then refuses the name (SYS + close 1008) or, for the room, ignores
// the failed join (src/ws/gochat.ts open() drops hub.join's result): the client sits connected in no room.
Deno.test({
  name: "max name and room name apply to goChat's query too: HTTP 400, never an upgrade",
  fn: async () => {
    await using server = serve({ tcp: null, maxName: 8, maxRoomName: 10 });
    const addr = server.http!;
    assert.equal((await upgradeStatus(addr, "/joinRoom?room_code=lobby&user_name=gochatgochat")).status, 400);
    assert.equal((await upgradeStatus(addr, "/joinRoom?room_code=roomroomroom&user_name=gc")).status, 400);
    const make = await fetch(
      `http://${addr.hostname}:${addr.port}/makeRoom?room_code=roomroomroom&user_name=gc`,
    );
    await make.body?.cancel();
    assert.equal(make.status, 400);
    await assertHealthy(server);
  },
});

// Regression: src/names.ts nameVariant truncates a free variant to MAX_NAME (32), not to the hub's --max-name, and
// src/hub/hub.ts Hub.claim/login use it as is. With --max-name 8, a MaChat (or goChat) client asking for the
// taken 8-character name "abcdefgh" should get a variant such as "abcdef-2" and the notice; instead the
// variant "abcdefgh-2" (10 characters) fails the length check and the client gets
// `ERR bad-handshake: ...` and is closed (Hub.login without the claim step hands out the 10-character name).
Deno.test({
  name: "max name: a free variant (alice-2) stays within --max-name",
  fn: async () => {
    await using server = serve({ maxName: 8 });
    await using _owner = await LineClient.login(server.tcp!, "abcdefgh");
    await using ma = await LineClient.connect(server.tcp!);
    await ma.send('{"name":"abcdefgh","room":"lobby"}');
    const notice = await ma.expect(/^INFO your name is /);
    const given = /^INFO your name is (\S+) /.exec(notice)![1]!;
    assert.ok([...given].length <= 8, `variant '${given}' is longer than --max-name 8`);
    await assertHealthy(server);
  },
});

Deno.test("max room name (--max-room-name): longer rooms are refused in every dialect", async () => {
  await using server = serve({ maxRoomName: 10 });
  const { tcp, http } = server;
  await using t = await LineClient.login(tcp!, "tee");
  await t.send("JOIN abcdefghijk");
  await t.expect("ERR invalid-room");
  await t.send("JOIN #bcdefghij");
  await t.expect("OK");
  await t.send("JOIN abcdefghij");
  await t.expect("OK");
  assert.equal(server.hub.members("abcdefghij").members.length, 1);

  await using doc = await WsClient.open(http!, "/ws");
  doc.send({ Action: "username", Payload: { Username: "doc" } });
  doc.send({ Action: "join", Payload: { Room: "abcdefghijk" } });
  await doc.expectJson({ Action: "error", Payload: { Code: "invalid-room" } });
  doc.send({ Action: "join", Payload: { Room: "abcdefghij" } });
  await doc.expectJson({ Action: "userlist", Payload: { Room: "abcdefghij" } });

  await using ma = await LineClient.connect(tcp!);
  await ma.send('{"name":"mara","room":"abcdefghijk"}');
  await ma.expect(BAD_HANDSHAKE);
  await ma.closedByServer();
  await using mw = await WsClient.open(http!, "/mychat");
  mw.send('{"name":"mw","room":"abcdefghijk"}');
  await mw.expect(`${BAD_HANDSHAKE}\n`);
  assert.equal((await mw.closedPromise).code, 1008);
  assert.deepEqual(server.hub.rooms().map((r) => r.name).sort(), ["abcdefghij", "lobby"]);
  await assertHealthy(server);
});

Deno.test("max rooms per member (--max-rooms): one join too many is refused with too-many-rooms", async () => {
  await using server = serve({ maxRooms: 3, presenceIntervalMs: 20 });
  const addr = server.http!;
  await using ws = await WsClient.open(addr, "/ws");
  ws.send({ Action: "username", Payload: { Username: "roamer" } });
  await ws.expectJson({ Action: "username" });
  // lobby counts: a /ws connection starts there.
  for (const room of ["r1", "r2"]) {
    ws.send({ Action: "join", Payload: { Room: room } });
    await ws.expectJson({ Action: "userlist", Payload: { Room: room } });
  }
  ws.send({ Action: "join", Payload: { Room: "R1" } }); // already in it: not a new room
  await ws.expectJson({ Action: "userlist", Payload: { Room: "r1" } });
  ws.send({ Action: "join", Payload: { Room: "r3" } });
  await ws.expectJson({ Action: "error", Payload: { Code: "too-many-rooms" } });
  assert.deepEqual(server.hub.members("r3").members, []);
  ws.send({ Action: "leave", Payload: { Room: "r1" } });
  ws.send({ Action: "join", Payload: { Room: "r3" } });
  await ws.expectJson({ Action: "userlist", Payload: { Room: "r3", Users: ["roamer"] } });
  ws.send({ Action: "broadcast", Payload: { Room: "r2", Message: "still in r2" } });
  await ws.expectJson({ Action: "broadcast", Payload: { Room: "r2", Message: "still in r2" } });

  // Command clients are in one room at a time: JOIN switches, so they never reach the limit.
  await using t = await LineClient.login(server.tcp!, "walker");
  for (const room of ["a", "b", "c", "d", "e"]) {
    await t.send(`JOIN ${room}`);
    await t.expect("OK");
  }
  assert.equal(server.hub.members("e").members.length, 1);
  await assertHealthy(server);
});

Deno.test("max connections (--max-connections): TCP gets ERR too-many-connections, WebSocket 503; freed slots reopen", async () => {
  await using server = serve({ maxConnections: 4 });
  const { tcp, http } = server;
  const t1 = await LineClient.login(tcp!, "t1");
  await using t2 = await LineClient.login(tcp!, "t2");
  await using w1 = await WsClient.open(http!, "/ws");
  w1.send({ Action: "username", Payload: { Username: "w1" } });
  await w1.expectJson({ Action: "username" });
  await using w2 = await WsClient.open(http!, "/mychat");
  w2.send('{"name":"w2","room":"lobby"}');
  await eventually(() => server.hub.members("lobby").members.length === 4, "four members");

  // Many refusals in a row do not leak slots.
  for (let i = 0; i < 20; i++) {
    await using over = await LineClient.connect(tcp!);
    await over.expect("ERR too-many-connections");
    await over.closedByServer();
    const refused = await upgradeStatus(http!, i % 2 ? "/ws" : "/mychat");
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get("retry-after"), "5");
  }
  // Those inside keep chatting.
  await t2.send("still fine");
  await t1.expect("MSG t2 still fine");
  await w2.expect("t2:still fine\n");

  await t1.close();
  await eventually(async () => {
    await using again = await LineClient.connect(tcp!);
    await again.send("PING");
    return (await again.expect(/^(PONG|ERR .*)$/)) === "PONG";
  }, "a freed slot is admitted again");
  await w2.close();
  await w1.close();
  await t2.close();
  await eventually(() => server.hub.connections === 0, "everyone gone");
  await assertHealthy(server);
});

Deno.test("max connections per IP (--max-connections-per-ip): counted across doors, refused in each door's words", async () => {
  await using server = serve({ maxConnectionsPerIp: 3 });
  const { tcp, http } = server;
  await using t1 = await LineClient.login(tcp!, "t1");
  const t2 = await LineClient.login(tcp!, "t2");
  await using w1 = await WsClient.open(http!, "/ws");
  w1.send({ Action: "username", Payload: { Username: "w1" } });
  await w1.expectJson({ Action: "username" });
  await using over = await LineClient.connect(tcp!);
  await over.expect("ERR too-many-connections-from-your-address");
  await over.closedByServer();
  const refused = await upgradeStatus(http!, "/joinRoom?room_code=lobby&user_name=gc");
  assert.equal(refused.status, 503);
  assert.ok(!server.hub.online("gc"));
  await t2.close();
  await eventually(async () => {
    const c = await LineClient.connect(tcp!);
    await c.send("PING");
    const answer = await c.expect(/^(PONG|ERR .*)$/);
    await c.close();
    return answer === "PONG";
  }, "the address has a free slot again");
  await t1.send("PING");
  await t1.expect("PONG");

  // Other addresses have their own count (the gate itself: tests connect only from 127.0.0.1).
  const gate = new ConnectionGate({ maxConnections: 0, maxPerIp: 2 });
  const a = [gate.admit("192.0.2.1"), gate.admit("192.0.2.1")];
  assert.deepEqual(gate.admit("192.0.2.1"), { ok: false, reason: "too-many-connections-from-your-address" });
  assert.ok(gate.admit("192.0.2.2").ok);
  for (const ticket of a) {
    assert.ok(ticket.ok);
    ticket.release();
    ticket.release(); // a second release is not counted
  }
  assert.ok(gate.admit("192.0.2.1").ok);
  assert.equal(gate.total, 2);

  await w1.close();
  await t1.close();
  await eventually(() => server.hub.connections === 0, "everyone gone");
  await assertHealthy(server);
});

Deno.test("login deadline (--login-timeout): TCP, MaChat TCP and MaChat WebSocket that never log in are closed", async () => {
  await using server = serve({ loginTimeoutMs: 300 });
  const { tcp, http } = server;
  // A client that logs in in time is not affected by the deadline afterwards.
  await using early = await LineClient.login(tcp!, "early");
  await using early2 = await WsClient.open(http!, "/mychat");
  early2.send('{"name":"early2","room":"lobby"}');

  const started = performance.now();
  await using silent = await LineClient.connect(tcp!);
  // Failed logins are activity, but not a login: the deadline still applies.
  await using retrier = await LineClient.connect(tcp!);
  const retrying = (async () => {
    while (!retrier.closed) {
      await retrier.send("LOGIN admin").catch(() => {});
      await delay(50);
    }
  })();
  await using half = await LineClient.connect(tcp!);
  await half.send(encoder.encode('{"name":"half"'));
  await using ws = await WsClient.open(http!, "/mychat");

  await silent.expect("ERR login-timeout", 3000);
  await silent.closedByServer();
  await retrier.expect("ERR login-timeout", 3000);
  await retrier.closedByServer();
  await retrying;
  await half.expect(BAD_HANDSHAKE, 3000);
  await half.closedByServer();
  const closed = await ws.closedPromise;
  assert.equal(closed.code, 1008);
  assert.ok(performance.now() - started < 3000);
  assert.ok(retrier.lines.filter((l) => l === "ERR invalid-username").length >= 2);

  // The sweeps that closed the late ones ran past the early ones' deadlines too (those connected first): still
  // served.
  await early.send("PING");
  await early.expect("PONG");
  early2.send("still here\n");
  await early2.expect("early2:still here\n");
  await early.expect("MSG early2 still here");
  await assertHealthy(server);
});

Deno.test("max queued bytes (--max-queue): TCP and WebSocket readers that never read are dropped; nothing acknowledged is lost", async () => {
  // Healthy readers get bursts well under the bound (10 lines of 4 KB against 64 KiB), as in real use.
  await using server = serve({ maxQueueBytes: 64 * 1024 });
  const { tcp, http } = server;
  // Two stalled readers: they log in, then never read again.
  const stalledTcp = await Deno.connect({ hostname: tcp!.hostname, port: tcp!.port });
  await writeAll(stalledTcp, encoder.encode("LOGIN stalled-tcp\n"));
  const stalledWs = await rawUpgrade(http!, "/ws");
  await writeAll(
    stalledWs,
    clientFrame(JSON.stringify({ Action: "username", Payload: { Username: "stalled-ws" } })),
  );
  // The sender (MaChat: its echo is its acknowledgement) and two healthy readers.
  await using alice = await LineClient.connect(tcp!);
  await alice.send('{"name":"alice","room":"lobby"}');
  await using bob = await LineClient.login(tcp!, "bob");
  await using carol = await WsClient.open(http!, "/ws");
  carol.send({ action: "username", username: "carol", message: "", to: "" });
  await eventually(() => server.hub.members("lobby").members.length === 5, "five in the lobby");

  const text = "z".repeat(4000);
  let sent = 0;
  while ((server.hub.online("stalled-tcp") || server.hub.online("stalled-ws")) && sent < 5000) {
    await alice.send(`${sent} ${text}`);
    sent++;
    if (sent % 10 === 0) {
      await alice.expect((l) => l.startsWith(`alice:${sent - 1} `));
      await bob.expect((l) => l.startsWith(`MSG alice ${sent - 1} `));
      await carol.expect((f) => f.includes(`"message":"${sent - 1} `));
    }
  }
  await eventually(
    () => !server.hub.online("stalled-tcp") && !server.hub.online("stalled-ws"),
    "both stalled readers are dropped",
  );
  assert.equal(server.hub.metrics.slowReadersDropped, 2, "only the two stalled readers are dropped");
  await eventually(() => bob.lines.includes("INFO stalled-tcp disconnected"), "bob hears the TCP drop");
  await eventually(() => bob.lines.includes("INFO stalled-ws disconnected"), "bob hears the WS drop");
  // The stalled WebSocket got (after everything it had not read) a close frame with 1008.
  assert.equal(await readUntilClose(stalledWs), 1008);
  closeQuietly(stalledWs);
  closeQuietly(stalledTcp);

  await alice.send("after the drop");
  await alice.expect("alice:after the drop");
  await bob.expect("MSG alice after the drop");
  await carol.expectJson({ action: "broadcast", message: "after the drop" });
  // Every message alice saw acknowledged reached both healthy readers, in order.
  const acked = alice.lines.filter((l) => l.startsWith("alice:")).map((l) => l.slice("alice:".length));
  assert.equal(acked.length, sent + 1);
  assert.deepEqual(bob.lines.filter((l) => l.startsWith("MSG alice ")).map((l) => l.slice(10)), acked);
  const carolGot = carol.frames.map((f) => JSON.parse(f)).filter((f) => f.action === "broadcast").map((f) =>
    f.message
  );
  assert.deepEqual(carolGot, acked);
  await assertHealthy(server);
});
