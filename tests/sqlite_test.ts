/** The SQLite store on real files: restarts, ids, ranges, retention, DM pairs, failures. */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { SqliteStore } from "../src/store/sqlite.ts";

async function tempDb(): Promise<{ path: string } & AsyncDisposable> {
  const dir = await Deno.makeTempDir({ prefix: "hubbub-sqlite-" });
  return { path: `${dir}/test.db`, [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
}

function open(
  path: string,
  limit = 1000,
  extra: { maxAgeMs?: number; now?: () => number } = {},
): SqliteStore {
  return new SqliteStore({
    path,
    retention: { limit, maxAgeMs: extra.maxAgeMs ?? 0 },
    pruneEveryMs: 0,
    ...(extra.now ? { now: extra.now } : {}),
  });
}

const msg = (room: string, text: string, time = Date.now()) => ({
  room,
  text,
  time,
  from: "alice",
  conn: "c_1",
});

Deno.test("SqliteStore: messages survive a restart and ids keep increasing, per room, case-insensitively", async () => {
  await using db = await tempDb();
  let store = open(db.path);
  const first = await Promise.all([1, 2, 3].map((i) => store.append(msg("Lobby", `m${i}`))));
  assert.deepEqual(first.map((m) => m.id), [1, 2, 3]);
  assert.equal((await store.append(msg("#dev", "other room"))).id, 1);
  await store.close();

  store = open(db.path);
  const again = await store.range("lobby", { limit: 10 });
  assert.deepEqual(again.messages.map((m) => [m.id, m.text, m.room]), [
    [1, "m1", "Lobby"],
    [2, "m2", "Lobby"],
    [
      3,
      "m3",
      "Lobby",
    ],
  ]);
  assert.equal((await store.append(msg("LOBBY", "after restart"))).id, 4);
  await store.close();
});

Deno.test("SqliteStore: ranges: newest by default, after/before bounds, limit", async () => {
  await using db = await tempDb();
  const store = open(db.path);
  for (let i = 1; i <= 10; i++) await store.append(msg("r", `m${i}`));
  const ids = async (options: Parameters<SqliteStore["range"]>[1]) =>
    (await store.range("r", options)).messages.map((m) => m.id);
  assert.deepEqual(await ids({ limit: 3 }), [8, 9, 10]);
  assert.deepEqual(await ids({ limit: 3, after: 2 }), [3, 4, 5]);
  assert.deepEqual(await ids({ limit: 3, before: 5 }), [2, 3, 4]);
  assert.deepEqual(await ids({ limit: 100, after: 3, before: 7 }), [4, 5, 6]);
  assert.deepEqual(await ids({ limit: 5, after: 10 }), []);
  assert.equal((await store.range("r", { limit: 5, after: 10 })).complete, true);
  // An id the room never reached: the asker saw it in a history since lost.
  assert.equal((await store.range("r", { limit: 5, after: 11 })).complete, false);
  assert.deepEqual((await store.range("nobody-here", { limit: 5 })).messages, []);
  await store.close();
});

Deno.test("SqliteStore: pruning keeps the limit, reports gaps, and ids never go back even when everything is pruned", async () => {
  await using db = await tempDb();
  let store = open(db.path, 5);
  for (let i = 1; i <= 12; i++) await store.append(msg("r", `m${i}`));
  await store.prune();
  const kept = await store.range("r", { limit: 100 });
  assert.deepEqual(kept.messages.map((m) => m.id), [8, 9, 10, 11, 12]);
  assert.equal(kept.complete, false, "the newest 100 were asked for; ids 1..7 are gone");
  assert.equal((await store.range("r", { limit: 5 })).complete, true);
  assert.equal((await store.range("r", { limit: 2, before: 9 })).complete, false);
  const gap = await store.range("r", { limit: 100, after: 3 });
  assert.equal(gap.complete, false, "ids 4..7 were pruned");
  assert.deepEqual(gap.messages.map((m) => m.id), [8, 9, 10, 11, 12]);
  assert.equal((await store.range("r", { limit: 100, after: 7 })).complete, true);
  await store.close();

  store = open(db.path, 0);
  await store.prune();
  assert.deepEqual((await store.range("r", { limit: 10 })).messages, []);
  assert.equal((await store.range("r", { limit: 10, after: 11 })).complete, false);
  assert.equal((await store.range("r", { limit: 10, after: 12 })).complete, true);
  await store.close();
  store = open(db.path, 5);
  assert.equal((await store.append(msg("r", "next"))).id, 13);
  await store.close();
});

Deno.test("SqliteStore: age-based pruning removes old messages only", async () => {
  await using db = await tempDb();
  let now = 1_000_000;
  const store = open(db.path, 1000, { maxAgeMs: 60_000, now: () => now });
  await store.append(msg("r", "old", now - 120_000));
  await store.append(msg("r", "new", now - 1_000));
  await store.prune();
  assert.deepEqual((await store.range("r", { limit: 10 })).messages.map((m) => m.text), ["new"]);
  now += 120_000;
  await store.prune();
  assert.deepEqual((await store.range("r", { limit: 10 })).messages, []);
  await store.close();
});

Deno.test("SqliteStore: DM history is per pair, shared by both directions, separate from other pairs", async () => {
  await using db = await tempDb();
  const store = open(db.path);
  const dm = (from: string, to: string, text: string) =>
    store.appendDirect({ from, to, text, time: Date.now(), conn: "c" });
  assert.equal((await dm("alice", "bob", "a→b")).id, 1);
  assert.equal((await dm("Bob", "ALICE", "b→a")).id, 2);
  assert.equal((await dm("alice", "carol", "a→c")).id, 1);
  const ab = await store.rangeDirect("bob", "alice", { limit: 10 });
  assert.deepEqual(ab.messages.map((m) => m.text), ["a→b", "b→a"]);
  const ac = await store.rangeDirect("carol", "alice", { limit: 10 });
  assert.deepEqual(ac.messages.map((m) => m.text), ["a→c"]);
  assert.deepEqual((await store.rangeDirect("bob", "carol", { limit: 10 })).messages, []);
  await store.close();
});

Deno.test("SqliteStore: pruning keeps the limit per DM pair too (pair keys hold a U+0000 that TEXT reads would cut)", async () => {
  await using db = await tempDb();
  const store = open(db.path, 3);
  for (let i = 1; i <= 6; i++) {
    await store.appendDirect({ from: "alice", to: "bob", text: `b${i}`, time: Date.now(), conn: "c" });
    await store.appendDirect({ from: "carol", to: "alice", text: `c${i}`, time: Date.now(), conn: "c" });
  }
  await store.prune();
  const ab = await store.rangeDirect("bob", "alice", { limit: 100 });
  assert.deepEqual(ab.messages.map((m) => m.text), ["b4", "b5", "b6"]);
  assert.equal(ab.complete, false);
  const ac = await store.rangeDirect("alice", "carol", { limit: 100 });
  assert.deepEqual(ac.messages.map((m) => m.id), [4, 5, 6]);
  await store.close();
  const raw = new DatabaseSync(db.path);
  assert.equal((raw.prepare("SELECT COUNT(*) AS n FROM directs").get() as { n: number }).n, 6);
  raw.close();
});

Deno.test("SqliteStore: a burst is committed in one transaction, and resolves only once committed", async () => {
  await using db = await tempDb();
  const store = open(db.path);
  const pending = Array.from({ length: 500 }, (_, i) => store.append(msg("burst", `m${i}`)));
  // Nothing is durable before the batch commits: a second connection sees none of it yet.
  const reader = new DatabaseSync(db.path);
  const count = () => (reader.prepare("SELECT COUNT(*) AS n FROM messages").get() as { n: number }).n;
  assert.equal(count(), 0);
  const stored = await Promise.all(pending);
  assert.equal(count(), 500);
  assert.deepEqual(stored.map((m) => m.id), Array.from({ length: 500 }, (_, i) => i + 1));
  reader.close();
  await store.close();
});

Deno.test("SqliteStore: a failed commit rejects its messages and leaves no gap in ids", async () => {
  await using db = await tempDb();
  const store = open(db.path);
  await store.append(msg("r", "one"));
  // A trigger makes one insert fail the way a full disk would: the whole batch must fail with it.
  const saboteur = new DatabaseSync(db.path);
  saboteur.exec(
    "CREATE TRIGGER poison BEFORE INSERT ON messages WHEN NEW.text = 'poison' BEGIN SELECT RAISE(ABORT, 'disk full'); END",
  );
  saboteur.close();
  const good = store.append(msg("r", "two"));
  const bad = store.append(msg("r", "poison"));
  await assert.rejects(good, /Cannot store messages/);
  await assert.rejects(bad, /Cannot store messages/);
  assert.equal(store.ready(), false, "not ready while commits fail");
  assert.equal((await store.append(msg("r", "three"))).id, 2, "the failed batch's ids are reused");
  assert.equal(store.ready(), true, "ready again once a commit works");
  assert.deepEqual((await store.range("r", { limit: 10 })).messages.map((m) => m.text), ["one", "three"]);
  await store.close();
});

Deno.test("SqliteStore returns text exactly as given, NUL and every other code point included", async () => {
  await using db = await tempDb();
  let store = open(db.path);
  const texts = ["before\0after", "\0", "a\0b\0c\x1b[2J\u009b\u202e 日本 😀", "trailing\0"];
  for (const text of texts) await store.append(msg("r", text));
  const dm = await store.appendDirect({
    from: "alice",
    to: "bob",
    text: "dm\0tail",
    time: Date.now(),
    conn: "c",
  });
  assert.equal(dm.text, "dm\0tail");
  const check = async () => {
    assert.deepEqual((await store.range("r", { limit: 10 })).messages.map((m) => m.text), texts);
    assert.deepEqual(
      (await store.range("r", { limit: 10, after: 1 })).messages.map((m) => m.text),
      texts.slice(1),
    );
    assert.deepEqual((await store.rangeDirect("bob", "alice", { limit: 10 })).messages.map((m) => m.text), [
      "dm\0tail",
    ]);
  };
  await check();
  await store.close();
  store = open(db.path);
  await check();
  await store.close();
});
