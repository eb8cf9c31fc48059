/** History through the doors: restarts, reconnect recovery, retention gaps, DM privacy, replay on join. */

import assert from "node:assert/strict";
import { eventually, LineClient, roomHistory, serve, WsClient } from "./_helpers.ts";
import { fromBase64 } from "../src/ws/gochat.ts";

async function tempDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "hubbub-history-" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

interface Payload {
  Message: string;
  Id: number;
  Username: string;
}

async function named(addr: Deno.NetAddr, name: string): Promise<WsClient> {
  const ws = await WsClient.open(addr, "/ws");
  ws.send({ Action: "username", Payload: { Username: name } });
  await ws.expectJson({ Action: "userlist" });
  return ws;
}

async function history(ws: WsClient, payload: Record<string, unknown>) {
  ws.send({ Action: "history", Payload: payload });
  const frame = await ws.expectJson({ Action: "history" });
  return frame.Payload as { Messages: Payload[]; Complete: boolean; Room?: string; With?: string };
}

Deno.test("history: messages survive a restart on the same SQLite file, and ids keep increasing", async () => {
  await using dir = await tempDir();
  const store = { kind: "sqlite", path: `${dir.path}/chat.db` } as const;
  {
    await using server = serve({ tcp: null, store });
    await using alice = await named(server.http!, "alice");
    for (const text of ["one", "two", "three"]) {
      alice.send({ Action: "broadcast", Payload: { Message: text } });
      await alice.expectJson({ Action: "broadcast", Payload: { Message: text } });
    }
  }
  await using server = serve({ store });
  await using bob = await named(server.http!, "bob");
  const before = await history(bob, { Room: "lobby" });
  assert.deepEqual(before.Messages.map((m) => [m.Id, m.Message]), [[1, "one"], [2, "two"], [3, "three"]]);
  bob.send({ Action: "broadcast", Payload: { Message: "four" } });
  await bob.expectJson({ Action: "broadcast", Payload: { Message: "four", Id: 4 } });
  await using tcp = await LineClient.login(server.tcp!, "carol");
  await tcp.send("HISTORY SINCE 2");
  assert.match(await tcp.expect(/^HIST /), /^HIST 3 \S+ alice three$/);
  assert.match(await tcp.expect(/^HIST /), /^HIST 4 \S+ bob four$/);
  await tcp.expect("OK");
});

Deno.test("history: a client that misses 50 messages and resumes with its last id gets exactly those 50", async () => {
  await using dir = await tempDir();
  await using server = serve({ tcp: null, store: { kind: "sqlite", path: `${dir.path}/chat.db` } });
  const addr = server.http!;
  await using alice = await named(addr, "alice");
  const reader = await named(addr, "reader");
  for (let i = 0; i < 5; i++) alice.send({ Action: "broadcast", Payload: { Message: `seen ${i}` } });
  const last = await reader.expectJson({ Action: "broadcast", Payload: { Message: "seen 4" } });
  const lastId = (last.Payload as Payload).Id;
  await reader.close();

  for (let i = 0; i < 50; i++) alice.send({ Action: "broadcast", Payload: { Message: `missed ${i}` } });
  await alice.expectJson({ Action: "broadcast", Payload: { Message: "missed 49" } });

  await using back = await named(addr, "reader");
  const gap = await history(back, { Room: "lobby", After: lastId, Limit: 500 });
  assert.equal(gap.Complete, true);
  assert.deepEqual(gap.Messages.map((m) => m.Message), Array.from({ length: 50 }, (_, i) => `missed ${i}`));
  assert.deepEqual(gap.Messages.map((m) => m.Id), Array.from({ length: 50 }, (_, i) => lastId + 1 + i));
});

Deno.test("history: a gap older than retention is reported, never silently skipped", async () => {
  await using server = serve({ historyLimit: 10, store: { kind: "memory" } });
  await using alice = await named(server.http!, "alice");
  for (let i = 1; i <= 30; i++) alice.send({ Action: "broadcast", Payload: { Message: `m${i}` } });
  await alice.expectJson({ Action: "broadcast", Payload: { Message: "m30" } });
  const old = await history(alice, { Room: "lobby", After: 5, Limit: 100 });
  assert.equal(old.Complete, false);
  assert.equal(old.Messages.at(-1)?.Id, 30);
  assert.ok(old.Messages.every((m) => m.Id > 5));
  const recent = await history(alice, { Room: "lobby", After: 25, Limit: 100 });
  assert.equal(recent.Complete, true);
  assert.deepEqual(recent.Messages.map((m) => m.Id), [26, 27, 28, 29, 30]);

  await using tcp = await LineClient.login(server.tcp!, "bob");
  await tcp.send("HISTORY SINCE 5");
  await tcp.expect("INFO history-gap");
  await tcp.expect(/^HIST \d+ /);
});

Deno.test("history: DM history is visible only to the pair, and never through the JSON API", async () => {
  await using server = serve({ tcp: null });
  const addr = server.http!;
  await using alice = await named(addr, "alice");
  await using bob = await named(addr, "bob");
  await using carol = await named(addr, "carol");
  alice.send({ Action: "private", Payload: { To: "bob", Message: "for bob only" } });
  await bob.expectJson({ Action: "private", Payload: { Message: "for bob only" } });
  bob.send({ Action: "private", Payload: { To: "alice", Message: "for alice only" } });
  await alice.expectJson({ Action: "private", Payload: { Message: "for alice only" } });

  const mine = await history(bob, { With: "ALICE" });
  assert.deepEqual(mine.Messages.map((m) => [m.Username, m.Message]), [["alice", "for bob only"], [
    "bob",
    "for alice only",
  ]]);
  const theirs = await history(carol, { With: "alice" });
  assert.deepEqual(theirs.Messages, [], "carol sees only her own (empty) conversation with alice");
  const api = await (await fetch(`http://${addr.hostname}:${addr.port}/api/rooms/lobby/messages`)).text();
  assert.ok(!api.includes("only"), api);
});

Deno.test("history on join: goChat and MaChat clients get the last N messages (each its own N), then live ones, no duplicates", async () => {
  await using server = serve({ historyOnJoin: 2, machatHistoryOnJoin: 3, presenceIntervalMs: 20 });
  await using alice = await LineClient.login(server.tcp!, "alice");
  await alice.send("JOIN den");
  await alice.expect("OK");
  for (let i = 1; i <= 5; i++) await alice.send(`old ${i}`);
  await eventually(
    async () => (await roomHistory(server.hub, "den", { limit: 10 })).messages.length === 5,
    "stored",
  );

  await using ma = await LineClient.connect(server.tcp!);
  await ma.send('{"name":"mara","room":"den"}');
  for (const i of [3, 4, 5]) await ma.expect(`alice:old ${i}`);
  await alice.send("live");
  await ma.expect("alice:live");
  assert.equal(ma.lines.filter((l) => l.startsWith("alice:")).length, 4);

  await using gc = await WsClient.open(server.http!, "/joinRoom?room_code=den&user_name=gus");
  const texts: string[] = [];
  while (texts.length < 2) {
    const f = await gc.expectJson({ DataType: "message", Data: { Type: "USER" } });
    texts.push(fromBase64(String((f.Data as Record<string, unknown>).Contents))!);
  }
  assert.deepEqual(texts, ["old 5", "live"]);
  await alice.send("later");
  const later = await gc.expectJson({ DataType: "message", Data: { Type: "USER" } });
  assert.equal(
    fromBase64(String((later.Data as Record<string, unknown>).Contents)),
    "later",
    "no more replayed",
  );
});

Deno.test("HTTP GET /api/rooms/:room/messages pages backwards with before and limit", async () => {
  await using server = serve({ tcp: null });
  await using alice = await named(server.http!, "alice");
  for (let i = 1; i <= 7; i++) alice.send({ Action: "broadcast", Payload: { Message: `m${i}` } });
  await alice.expectJson({ Action: "broadcast", Payload: { Message: "m7" } });
  const base = `http://${server.http!.hostname}:${server.http!.port}/api/rooms/lobby/messages`;
  const page = await (await fetch(`${base}?limit=3`)).json();
  assert.deepEqual(page.messages.map((m: Payload) => m.Id), [5, 6, 7]);
  const older = await (await fetch(`${base}?limit=3&before=5`)).json();
  assert.deepEqual(older.messages.map((m: Payload) => m.Message), ["m2", "m3", "m4"]);
  const bad = await fetch(`${base}?limit=lots`);
  assert.equal(bad.status, 400);
  assert.equal((await bad.json()).error, "bad-request");
});
