/**
 * Abuse rows: DM privacy (issue 15). DM history belongs to a claim of a name, not to the name: a guest who
 * takes `alice` after alice left (in any case or look-alike spelling) reads nothing of what alice said; a
 * page that comes back with the same `Session` token resumes its own claim; DM history is keyed by the folded
 * names in every store (old SQLite keys are migrated on open); no door but `/ws` `history With` reads DMs,
 * and the JSON API has no DM route at all.
 */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { eventually, LineClient, serve, WsClient } from "../_helpers.ts";
import { RedisServer } from "../_redis.ts";
import { b64 } from "./_abuse.ts";
import { fromBase64 } from "../../src/ws/gochat.ts";
import { MemoryStore } from "../../src/store/memory.ts";
import { SqliteStore } from "../../src/store/sqlite.ts";
import type { Store } from "../../src/store/store.ts";

interface Private {
  Id: number;
  Username: string;
  To: string;
  Message: string;
}

interface History {
  Messages: Private[];
  Complete: boolean;
  With?: string;
}

/** A documented-shape `/ws` connection holding `name` (with a page token when `session` is given). */
async function named(addr: Deno.NetAddr, name: string, session?: string): Promise<WsClient> {
  const ws = await WsClient.open(addr, "/ws");
  ws.send({
    Action: "username",
    Payload: { Username: name, ...(session === undefined ? {} : { Session: session }) },
  });
  await ws.expectJson({ Action: "username" });
  return ws;
}

async function history(ws: WsClient, payload: Record<string, unknown>): Promise<History> {
  ws.send({ Action: "history", Payload: payload });
  const frame = await ws.expectJson({ Action: "history" });
  return frame.Payload as History;
}

/** Sends a DM and waits until both ends have it (so it is stored). */
async function dm(from: WsClient, to: WsClient, toName: string, text: string): Promise<void> {
  from.send({ Action: "private", Payload: { To: toName, Message: text } });
  await to.expectJson({ Action: "private", Payload: { Message: text } });
  await from.expectJson({ Action: "private", Payload: { Message: text } });
}

/** Every way of asking for the whole DM history with `With`. */
const RANGES: Record<string, unknown>[] = [{}, { Limit: 500 }, { After: 0, Limit: 500 }, {
  Before: 1_000_000,
  Limit: 500,
}];

async function assertNothing(ws: WsClient, withName: string, what: string): Promise<void> {
  for (const range of RANGES) {
    const got = await history(ws, { With: withName, ...range });
    assert.deepEqual(got.Messages, [], `${what} (${JSON.stringify(range)}): ${JSON.stringify(got.Messages)}`);
  }
}

Deno.test("GoBanter /ws history With: a guest taking a name after its holder left reads none of the old DMs (same name, other case, look-alike)", async () => {
  await using server = serve({ tcp: null });
  const addr = server.http!;
  {
    await using alice = await named(addr, "alice", "alice-page");
    await using bob = await named(addr, "bob", "bob-page");
    await dm(alice, bob, "bob", "alice's secret");
    await dm(bob, alice, "alice", "bob's secret");
    // The parties themselves read it all (the same request a guest makes below).
    assert.equal((await history(alice, { With: "bob" })).Messages.length, 2);
  }
  await eventually(() => !server.hub.online("alice") && !server.hub.online("bob"), "both have left");

  const guests: [name: string, session: string | undefined, withName: string][] = [
    ["alice", undefined, "bob"],
    ["Alice", undefined, "BOB"],
    ["\u0410lice", undefined, "bob"], // Cyrillic А: the same name key
    ["alice", "mallory-page", "bob"], // a token of its own is not alice's token
    ["bob", undefined, "alice"], // the other side of the pair
  ];
  for (const [name, session, withName] of guests) {
    {
      await using guest = await named(addr, name, session);
      await assertNothing(guest, withName, `${name} (token ${session}) reads the old DMs with ${withName}`);
    }
    await eventually(() => !server.hub.online(name), `${name} has left`);
  }
});

Deno.test("GoBanter /ws history With: a page that reconnects with the same Session token still reads the DMs of its own claim", async () => {
  await using server = serve({ tcp: null });
  const addr = server.http!;
  await using bob = await named(addr, "bob", "bob-page");
  {
    await using alice = await named(addr, "alice", "alice-page");
    await dm(alice, bob, "bob", "before the drop 1");
    await dm(bob, alice, "alice", "before the drop 2");
  }
  await eventually(() => !server.hub.online("alice"), "alice has dropped");

  // The page comes back (also spelled another way: the same name key) with the token it stored.
  await using back = await named(addr, "Alice", "alice-page");
  await dm(bob, back, "alice", "after the drop");
  const texts = (await history(back, { With: "bob" })).Messages.map((m) => m.Message);
  assert.deepEqual(texts, ["before the drop 1", "before the drop 2", "after the drop"]);
  // A second tab of the same page, while the first is connected, shares the claim.
  await using tab = await named(addr, "alice", "alice-page");
  assert.deepEqual((await history(tab, { With: "bob" })).Messages.map((m) => m.Message), texts);
  // bob held his name all along and reads the whole conversation too.
  assert.deepEqual((await history(bob, { With: "alice" })).Messages.map((m) => m.Message), texts);
  await back.close();
  await tab.close();
  await eventually(() => !server.hub.online("alice"), "alice has left again");
  // Once someone else has held the name, the token no longer resumes anything: that would show the page
  // what the other holder said in between.
  {
    await using guest = await named(addr, "alice");
    await dm(guest, bob, "bob", "the guest's own");
  }
  await eventually(() => !server.hub.online("alice"), "the guest has left");
  await using later = await named(addr, "alice", "alice-page");
  await assertNothing(later, "bob", "the page reads what was said before its new claim");
});

Deno.test("GoBanter /ws history With: the two parties, while connected, read their whole conversation in every range", async () => {
  await using server = serve({ tcp: null, historyLimit: 1000 });
  const addr = server.http!;
  await using alice = await named(addr, "alice");
  await using bob = await named(addr, "bob");
  const sent: string[] = [];
  for (let i = 1; i <= 30; i++) {
    const [from, to, toName] = i % 2 ? [alice, bob, "bob"] as const : [bob, alice, "alice"] as const;
    await dm(from, to, toName, `m${i}`);
    sent.push(`m${i}`);
  }
  for (const [ws, other] of [[alice, "bob"], [bob, "ALICE"]] as const) {
    const all = await history(ws, { With: other, Limit: 500 });
    assert.deepEqual(all.Messages.map((m) => m.Message), sent);
    assert.deepEqual(all.Messages.map((m) => m.Id), sent.map((_, i) => i + 1));
    assert.equal(all.Complete, true);
    const newest = await history(ws, { With: other, Limit: 10 });
    assert.deepEqual(newest.Messages.map((m) => m.Message), sent.slice(20));
    const older = await history(ws, { With: other, Limit: 10, Before: 21 });
    assert.deepEqual(older.Messages.map((m) => m.Message), sent.slice(10, 20));
    const forward = await history(ws, { With: other, Limit: 5, After: 3 });
    assert.deepEqual(forward.Messages.map((m) => m.Id), [4, 5, 6, 7, 8]);
  }
});

Deno.test("GoBanter /ws history With: Zed and zed (one holder, one page token) share one DM history", async () => {
  await using server = serve({ tcp: null });
  const addr = server.http!;
  await using bob = await named(addr, "bob");
  {
    await using zed = await named(addr, "Zed", "zed-page");
    await dm(zed, bob, "bob", "from Zed");
    await dm(bob, zed, "ZED", "to Zed");
  }
  await eventually(() => !server.hub.online("zed"), "Zed has left");
  await using lower = await named(addr, "zed", "zed-page");
  await dm(lower, bob, "Bob", "from zed");
  const mine = await history(lower, { With: "BOB" });
  assert.deepEqual(mine.Messages.map((m) => [m.Id, m.Message]), [[1, "from Zed"], [2, "to Zed"], [
    3,
    "from zed",
  ]]);
  const his = await history(bob, { With: "zEd" });
  assert.deepEqual(his.Messages.map((m) => m.Id), [1, 2, 3]);
});

Deno.test("MemoryStore and SqliteStore: DMs between Zed and zed share one pair history; a look-alike has its own", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hubbub-dm-" });
  try {
    const stores: Store[] = [
      new MemoryStore(),
      new SqliteStore({ path: `${dir}/chat.db`, retention: { limit: 100, maxAgeMs: 0 }, pruneEveryMs: 0 }),
    ];
    for (const store of stores) {
      const base = { time: 1, text: "", conn: "c" };
      await store.appendDirect({ ...base, from: "Zed", to: "bob", text: "one" });
      await store.appendDirect({ ...base, from: "BOB", to: "zed", text: "two" });
      await store.appendDirect({ ...base, from: "z\u0435d", to: "Bob", text: "three" }); // Cyrillic е
      for (const [a, b] of [["zed", "bob"], ["bob", "ZED"], ["Zed", "BOB"]]) {
        const range = await store.rangeDirect(a!, b!, { limit: 10 });
        assert.deepEqual(range.messages.map((m) => [m.id, m.text]), [[1, "one"], [2, "two"]]);
      }
      // Stored histories are keyed by case and NFKC only, so a newer confusables table never moves one; the
      // look-alike cannot coexist with zed (names compare by skeleton), and claims keep each holder to its own.
      const lookAlike = await store.rangeDirect("z\u0435d", "bob", { limit: 10 });
      assert.deepEqual(lookAlike.messages.map((m) => [m.id, m.text]), [[1, "three"]]);
      await store.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("HTTP /api: no route reads DMs (404 for every guessable DM path), and room history never holds DMs", async () => {
  await using server = serve({ historyOnJoin: 50, machatHistoryOnJoin: 50, presenceIntervalMs: 20 });
  const addr = server.http!;
  const marker = `dm-${crypto.randomUUID()}`;
  await using alice = await named(addr, "alice");
  await using bob = await named(addr, "bob");
  await using tcp = await LineClient.login(server.tcp!, "carol");
  alice.send({ Action: "broadcast", Payload: { Message: "room hello" } });
  await bob.expectJson({ Action: "broadcast", Payload: { Message: "room hello" } });
  await dm(alice, bob, "bob", `${marker} a2b`);
  await tcp.send(`DM alice ${marker} c2a`);
  await alice.expectJson({ Action: "private", Payload: { Message: `${marker} c2a` } });

  const base = `http://${addr.hostname}:${addr.port}`;
  const paths = [
    "/api/dm",
    "/api/dms",
    "/api/dm/alice/bob",
    "/api/dms/alice/bob",
    "/api/direct/alice/bob",
    "/api/directs",
    "/api/private/alice",
    "/api/messages?with=bob",
    "/api/history?with=bob",
    "/api/users/alice/messages",
    "/api/users/alice/dms",
    "/api/members/alice/messages",
    "/api/conversations/alice",
    "/api/rooms/lobby/messages/alice",
    "/api/rooms/lobby/dms",
  ];
  for (const path of paths) {
    const response = await fetch(base + path);
    const body = await response.text();
    assert.equal(response.status, 404, `${path}: ${response.status} ${body}`);
    assert.ok(!body.includes(marker), `${path} leaks a DM`);
  }
  // A pair key or an `@name` as a room name is no way in either.
  for (const room of ["@alice", "alice%00bob", "bob%00alice", "alice", "bob"]) {
    const response = await fetch(`${base}/api/rooms/${room}/messages`);
    const body = await response.text();
    assert.ok(!body.includes(marker), `/api/rooms/${room}/messages leaks a DM (${response.status})`);
  }
  // Room history through every door: the room message, never a DM.
  const api = await (await fetch(`${base}/api/rooms/lobby/messages`)).json() as { messages: unknown[] };
  assert.equal(api.messages.length, 1);
  const ws = await history(bob, { Room: "lobby", Limit: 500 });
  assert.deepEqual(ws.Messages.map((m) => m.Message), ["room hello"]);
  await tcp.send("HISTORY 500");
  assert.match(await tcp.expect(/^HIST /), / alice room hello$/);
  await tcp.expect("OK");
  // goChat and MaChat replay on join: room messages only.
  await using gc = await WsClient.open(addr, "/joinRoom?room_code=lobby&user_name=gus");
  const replayed = await gc.expectJson({ DataType: "message", Data: { Type: "USER" } });
  assert.equal(fromBase64(String((replayed.Data as Record<string, unknown>).Contents)), "room hello");
  await using ma = await LineClient.connect(server.tcp!);
  await ma.send('{"name":"mara","room":"lobby"}');
  await ma.expect("alice:room hello");
  alice.send({ Action: "broadcast", Payload: { Message: "after replay" } });
  await ma.expect("alice:after replay");
  await gc.expectJson({ DataType: "message", Data: { Type: "USER", Contents: b64("after replay") } });
  assert.ok(!ma.lines.join("\n").includes(marker), "MaChat replay carries a DM");
  assert.ok(!gc.frames.join("\n").includes(b64(marker).slice(0, 12)), "goChat replay carries a DM");
});

Deno.test("SqliteStore: a database written with case-sensitive DM pair keys is migrated on open, once, keeping ids unique", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hubbub-dm-" });
  const path = `${dir}/old.db`;
  try {
    // The schema as every earlier release wrote it, with pair keys made from the names as typed.
    const old = new DatabaseSync(path);
    old.exec(`
      CREATE TABLE messages (
        room TEXT NOT NULL, id INTEGER NOT NULL, room_name TEXT NOT NULL, time INTEGER NOT NULL,
        sender TEXT NOT NULL, text TEXT NOT NULL, conn TEXT NOT NULL, tag TEXT,
        PRIMARY KEY (room, id)
      ) WITHOUT ROWID;
      CREATE TABLE directs (
        pair TEXT NOT NULL, id INTEGER NOT NULL, time INTEGER NOT NULL, sender TEXT NOT NULL,
        recipient TEXT NOT NULL, text TEXT NOT NULL, conn TEXT NOT NULL,
        PRIMARY KEY (pair, id)
      ) WITHOUT ROWID;
      CREATE TABLE counters (log TEXT PRIMARY KEY, last INTEGER NOT NULL) WITHOUT ROWID;
    `);
    const direct = old.prepare(
      "INSERT INTO directs (pair, id, time, sender, recipient, text, conn) VALUES (?, ?, ?, ?, ?, ?, 'c')",
    );
    const counter = old.prepare("INSERT INTO counters (log, last) VALUES (?, ?)");
    // Zed and zed talked to bob under two keys that fold into one: both logs numbered from 1.
    direct.run("Zed\u0000bob", 1, 1000, "Zed", "bob", "Zed 1");
    direct.run("Zed\u0000bob", 2, 3000, "bob", "Zed", "Zed 2");
    counter.run("d:Zed\u0000bob", 2);
    direct.run("bob\u0000zed", 1, 2000, "zed", "bob", "zed 1");
    direct.run("bob\u0000zed", 2, 4000, "bob", "zed", "zed 2");
    counter.run("d:bob\u0000zed", 2);
    // A key that only needs folding (retention already pruned its ids 1 to 4): the ids stay.
    direct.run("Alice\u0000Carol", 5, 5000, "Alice", "Carol", "a 5");
    direct.run("Alice\u0000Carol", 6, 6000, "Carol", "Alice", "a 6");
    counter.run("d:Alice\u0000Carol", 6);
    // A pair whose messages were all pruned still owns its numbers.
    counter.run("d:Dave\u0000Eve", 9);
    // Room history is not touched.
    old.prepare("INSERT INTO messages VALUES ('lobby', 1, 'Lobby', 1, 'Zed', 'room', 'c', NULL)").run();
    counter.run("r:lobby", 1);
    old.close();

    const expectMerged = async (store: SqliteStore) => {
      const zed = await store.rangeDirect("zed", "BOB", { limit: 100 });
      assert.deepEqual(zed.messages.map((m) => [m.id, m.text]), [[1, "Zed 1"], [2, "zed 1"], [3, "Zed 2"], [
        4,
        "zed 2",
      ]]);
      assert.equal(zed.complete, true);
      const alice = await store.rangeDirect("carol", "alice", { limit: 100 });
      assert.deepEqual(alice.messages.map((m) => [m.id, m.text, m.from]), [[5, "a 5", "Alice"], [
        6,
        "a 6",
        "Carol",
      ]]);
      assert.equal(alice.complete, false, "ids 1 to 4 were pruned before the migration");
      assert.deepEqual((await store.range("lobby", { limit: 10 })).messages.map((m) => m.text), ["room"]);
    };
    {
      const store = new SqliteStore({ path, retention: { limit: 100, maxAgeMs: 0 }, pruneEveryMs: 0 });
      await expectMerged(store);
      // Numbering goes on from the folded counters.
      assert.equal(
        (await store.appendDirect({ time: 7000, from: "ZED", to: "bob", text: "new", conn: "c" })).id,
        5,
      );
      assert.equal(
        (await store.appendDirect({ time: 7000, from: "eve", to: "dave", text: "new", conn: "c" })).id,
        10,
      );
      await store.close();
    }
    // Keys are read as BLOBs: node:sqlite cuts TEXT at the U+0000 inside every pair key.
    const raw = () => {
      const db = new DatabaseSync(path);
      const text = (bytes: unknown) => new TextDecoder().decode(bytes as Uint8Array);
      try {
        return {
          pairs: db.prepare("SELECT DISTINCT CAST(pair AS BLOB) AS pair FROM directs").all()
            .map((r) => text(r.pair)).sort(),
          counters: db.prepare("SELECT CAST(log AS BLOB) AS log, last FROM counters").all()
            .map((r) => [text(r.log), r.last]).sort((a, b) => a[0]! < b[0]! ? -1 : 1),
        };
      } finally {
        db.close();
      }
    };
    const migrated = raw();
    assert.deepEqual(migrated.pairs, ["alice\u0000carol", "bob\u0000zed", "dave\u0000eve"]);
    assert.deepEqual(migrated.counters, [
      // Kept as it was: without rows, an old key cannot be told apart from one folded the way names were then.
      ["d:Dave\u0000Eve", 9],
      ["d:alice\u0000carol", 6],
      ["d:bob\u0000zed", 5],
      ["d:dave\u0000eve", 10],
      ["r:lobby", 1],
    ]);
    // Opening again (also with the schema version forced back) changes nothing.
    for (const reset of [false, true]) {
      if (reset) {
        const db = new DatabaseSync(path);
        db.exec("PRAGMA user_version = 0");
        db.close();
      }
      const store = new SqliteStore({ path, retention: { limit: 100, maxAgeMs: 0 }, pruneEveryMs: 0 });
      const zed = await store.rangeDirect("Zed", "bob", { limit: 100 });
      assert.deepEqual(zed.messages.map((m) => m.text), ["Zed 1", "zed 1", "Zed 2", "zed 2", "new"]);
      await store.close();
      assert.deepEqual(raw(), migrated);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const HAVE_REDIS = await RedisServer.available();

Deno.test({
  name:
    "GoBanter /ws history With in a cluster: a guest on another node reads no old DMs; the page resumes on any node",
  ignore: !HAVE_REDIS && Deno.env.get("CI") !== "true",
  fn: async () => {
    await using redis = await RedisServer.start();
    await using a = serve({ tcp: null, redis: redis.url, nodeId: "a" });
    await using b = serve({ tcp: null, redis: redis.url, nodeId: "b" });
    const ready = async ({ http }: typeof a) => {
      const response = await fetch(`http://${http!.hostname}:${http!.port}/readyz`);
      await response.body?.cancel();
      return response.status === 200;
    };
    // Connected, subscribed and knowing the other's members, as a load balancer would wait for.
    await eventually(async () => (await ready(a)) && (await ready(b)), "both nodes are ready", 10_000);
    await using bob = await named(b.http!, "bob", "bob-page");
    {
      await using alice = await named(a.http!, "alice", "alice-page");
      await eventually(
        () => b.hub.online("alice") && a.hub.online("bob"),
        "each node sees the other's member",
      );
      await dm(alice, bob, "bob", "secret from a");
      await dm(bob, alice, "alice", "secret from b");
    }
    const gone = () => eventually(() => !a.hub.online("alice") && !b.hub.online("alice"), "alice is gone");
    await gone();
    // alice's page comes back through the other node with its token: its claim goes on.
    {
      await using back = await named(b.http!, "alice", "alice-page");
      assert.deepEqual((await history(back, { With: "bob" })).Messages.map((m) => m.Message), [
        "secret from a",
        "secret from b",
      ]);
    }
    await gone();
    // A guest on either node, in any spelling, reads none of it.
    for (const node of [a, b]) {
      {
        await using guest = await named(node.http!, "ALICE");
        await assertNothing(guest, "bob", `a guest on node ${node.hub.node} reads alice's DMs`);
      }
      await gone();
    }
  },
});
