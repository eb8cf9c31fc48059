/** MemoryStore: numbering, ranges, retention, DM pairs and age-based pruning with an injected clock. */

import assert from "node:assert/strict";
import type { ChatMessage, DirectMessage } from "../src/model.ts";
import { MemoryStore, type MemoryStoreOptions } from "../src/store/memory.ts";
import { type NewMessage, pairKey } from "../src/store/store.ts";

function msg(room: string, text: string, time = 0): NewMessage {
  return { room, time, from: "alice", text, conn: "c_1" };
}

/** A store that is closed (and its timers stopped) when the test ends. */
async function withStore(
  options: MemoryStoreOptions,
  fn: (store: MemoryStore) => Promise<void>,
): Promise<void> {
  const store = new MemoryStore(options);
  try {
    await fn(store);
  } finally {
    await store.close();
  }
}

async function fill(store: MemoryStore, room: string, count: number, time = 0): Promise<ChatMessage[]> {
  const out: ChatMessage[] = [];
  for (let i = 1; i <= count; i++) out.push(await store.append(msg(room, `m${i}`, time)));
  return out;
}

function ids(messages: readonly { id: number }[]): number[] {
  return messages.map((m) => m.id);
}

Deno.test("MemoryStore: append numbers messages from 1, per room, and keeps every field", async () => {
  await withStore({}, async (store) => {
    const first = await store.append({
      room: "lobby",
      time: 1234,
      from: "alice",
      text: "hi",
      conn: "c_9",
      tag: "t",
    });
    assert.deepEqual(first, {
      room: "lobby",
      id: 1,
      time: 1234,
      from: "alice",
      text: "hi",
      conn: "c_9",
      tag: "t",
    });
    assert.equal((await store.append(msg("lobby", "two"))).id, 2);
    assert.equal((await store.append(msg("#dev", "other room"))).id, 1, "each room has its own sequence");
    assert.equal((await store.append(msg("lobby", "three"))).id, 3);
    assert.equal((await store.append(msg("#dev", "again"))).id, 2);
  });
});

Deno.test("MemoryStore: room names are case-insensitive: one sequence and one history", async () => {
  await withStore({}, async (store) => {
    assert.equal((await store.append(msg("Lobby", "a"))).id, 1);
    assert.equal((await store.append(msg("LOBBY", "b"))).id, 2);
    assert.equal((await store.append(msg("lobby", "c"))).id, 3);
    const range = await store.range("lObBy", { limit: 10 });
    assert.deepEqual(range.messages.map((m) => m.text), ["a", "b", "c"]);
    assert.equal(range.complete, true);
    assert.deepEqual((await store.range("#lobby", { limit: 10 })).messages, [], "'#lobby' is another room");
  });
});

Deno.test("MemoryStore: ids keep growing however many messages there are", async () => {
  await withStore({ retention: { limit: 10, maxAgeMs: 0 } }, async (store) => {
    const stored = await fill(store, "lobby", 200);
    assert.deepEqual(ids(stored), Array.from({ length: 200 }, (_, i) => i + 1));
  });
});

Deno.test("MemoryStore: range: an unknown room is empty and complete; after an id it never reached, it has a gap", async () => {
  await withStore({}, async (store) => {
    assert.deepEqual(await store.range("nowhere", { limit: 10 }), { messages: [], complete: true });
    assert.deepEqual(await store.range("nowhere", { limit: 10, after: 0 }), { messages: [], complete: true });
    // Whoever saw id 5 saw it in a history this store no longer has (restarted empty).
    assert.deepEqual(await store.range("nowhere", { limit: 10, after: 5 }), {
      messages: [],
      complete: false,
    });
  });
});

Deno.test("MemoryStore: range: 'after' beyond the room's last id is a gap (the history was reset), up to it is whole", async () => {
  await withStore({}, async (store) => {
    await fill(store, "lobby", 3);
    assert.deepEqual(await store.range("lobby", { limit: 10, after: 3 }), { messages: [], complete: true });
    assert.deepEqual(await store.range("lobby", { limit: 10, after: 4 }), { messages: [], complete: false });
    assert.equal((await store.range("lobby", { limit: 10, after: 2 })).complete, true);
    await store.appendDirect({ time: 0, from: "alice", to: "bob", text: "hi", conn: "c_1" });
    assert.equal((await store.rangeDirect("bob", "alice", { limit: 10, after: 1 })).complete, true);
    assert.equal((await store.rangeDirect("bob", "alice", { limit: 10, after: 7 })).complete, false);
  });
});

Deno.test("MemoryStore: range: limit gives the newest, oldest first", async () => {
  await withStore({}, async (store) => {
    await fill(store, "lobby", 10);
    const range = await store.range("lobby", { limit: 3 });
    assert.deepEqual(ids(range.messages), [8, 9, 10]);
    assert.deepEqual(range.messages.map((m) => m.text), ["m8", "m9", "m10"]);
    assert.equal(range.complete, true);
    assert.deepEqual(ids((await store.range("lobby", { limit: 100 })).messages), [
      1,
      2,
      3,
      4,
      5,
      6,
      7,
      8,
      9,
      10,
    ]);
    assert.deepEqual((await store.range("lobby", { limit: 0 })).messages, []);
  });
});

Deno.test("MemoryStore: range: after gives the oldest after that id, before the newest before it (exclusive bounds)", async () => {
  await withStore({}, async (store) => {
    await fill(store, "lobby", 10);
    assert.deepEqual(ids((await store.range("lobby", { limit: 3, after: 2 })).messages), [3, 4, 5]);
    assert.deepEqual(ids((await store.range("lobby", { limit: 3, before: 5 })).messages), [2, 3, 4]);
    assert.deepEqual(ids((await store.range("lobby", { limit: 10, after: 3, before: 7 })).messages), [
      4,
      5,
      6,
    ]);
    assert.deepEqual(ids((await store.range("lobby", { limit: 2, after: 3, before: 7 })).messages), [4, 5]);
    assert.deepEqual(ids((await store.range("lobby", { limit: 10, after: 8 })).messages), [9, 10]);
    assert.deepEqual(ids((await store.range("lobby", { limit: 10, before: 3 })).messages), [1, 2]);
    // Empty ranges.
    assert.deepEqual((await store.range("lobby", { limit: 10, after: 10 })).messages, []);
    assert.deepEqual((await store.range("lobby", { limit: 10, after: 99 })).messages, []);
    assert.deepEqual((await store.range("lobby", { limit: 10, before: 1 })).messages, []);
    assert.deepEqual((await store.range("lobby", { limit: 10, after: 6, before: 4 })).messages, []);
    assert.deepEqual((await store.range("lobby", { limit: 10, after: 5, before: 6 })).messages, []);
    // Nothing was lost to retention here.
    assert.equal((await store.range("lobby", { limit: 3, after: 0 })).complete, true);
    assert.equal((await store.range("lobby", { limit: 3, before: 5 })).complete, true);
  });
});

Deno.test("MemoryStore: range: complete is false when 'after' is older than the retained messages", async () => {
  await withStore({ retention: { limit: 5, maxAgeMs: 0 } }, async (store) => {
    await fill(store, "lobby", 100);
    const all = await store.range("lobby", { limit: 1000 });
    const oldest = all.messages[0]!.id;
    assert.ok(oldest > 1, "retention removed the first messages");
    assert.equal(all.messages.at(-1)!.id, 100);

    const fromStart = await store.range("lobby", { limit: 10, after: 0 });
    assert.equal(fromStart.complete, false);
    assert.ok(fromStart.messages.length > 0 && fromStart.messages.length <= 10);
    assert.ok(fromStart.messages[0]!.id > 1);

    const latest = await store.range("lobby", { limit: 10, after: 99 });
    assert.deepEqual(ids(latest.messages), [100]);
    assert.equal(latest.complete, true);
    assert.equal((await store.range("lobby", { limit: 10, after: 100 })).complete, true);

    // The invariant a HISTORY SINCE client relies on: complete means no gap after `after`.
    for (let after = 0; after <= 100; after++) {
      const range = await store.range("lobby", { limit: 1000, after });
      const got = ids(range.messages);
      assert.deepEqual(got, [...got].sort((a, b) => a - b), "oldest first");
      if (range.complete) {
        assert.ok(
          got.length === 0 || got[0] === after + 1,
          `after ${after}: complete but starts at ${got[0]}`,
        );
        assert.equal(got.length, 100 - after, `after ${after}: complete but not every message`);
      } else {
        assert.ok(got[0]! > after + 1, `after ${after}: incomplete yet no gap`);
      }
    }
  });
});

Deno.test("MemoryStore: retention keeps the newest messages of each room", async () => {
  await withStore({ retention: { limit: 5, maxAgeMs: 0 } }, async (store) => {
    await fill(store, "a", 100);
    await fill(store, "b", 3);
    const a = await store.range("a", { limit: 5 });
    assert.deepEqual(ids(a.messages), [96, 97, 98, 99, 100]);
    const b = await store.range("b", { limit: 100 });
    assert.deepEqual(ids(b.messages), [1, 2, 3], "a quiet room keeps its few messages");
  });
});

Deno.test("MemoryStore: retention limit: range never returns more than the limit, and 0 keeps none", async () => {
  await withStore({ retention: { limit: 5, maxAgeMs: 0 } }, async (store) => {
    await fill(store, "lobby", 10);
    const range = await store.range("lobby", { limit: 100 });
    assert.deepEqual(ids(range.messages), [6, 7, 8, 9, 10]);
    assert.equal((await store.range("lobby", { limit: 100, after: 0 })).complete, false);
    assert.equal((await store.range("lobby", { limit: 100, after: 5 })).complete, true);
    await store.prune();
    assert.deepEqual(ids((await store.range("lobby", { limit: 100 })).messages), [6, 7, 8, 9, 10]);
    // DM pairs follow the same limit.
    for (let i = 0; i < 8; i++) {
      await store.appendDirect({ time: 0, from: "a", to: "b", text: `${i}`, conn: "c" });
    }
    assert.deepEqual(ids((await store.rangeDirect("b", "a", { limit: 100 })).messages), [4, 5, 6, 7, 8]);
  });
  await withStore({ retention: { limit: 0, maxAgeMs: 0 } }, async (store) => {
    await fill(store, "lobby", 3);
    assert.deepEqual((await store.range("lobby", { limit: 100 })).messages, []);
    assert.equal((await store.append(msg("lobby", "still numbered"))).id, 4);
  });
});

// Regression: `complete` is false whenever retention removed ids a range asked for, with or without `after`.
Deno.test({
  name: "MemoryStore: range: complete is false when 'before' reaches into messages retention removed",

  async fn() {
    await withStore({ retention: { limit: 5, maxAgeMs: 0 } }, async (store) => {
      await fill(store, "lobby", 100);
      const oldest = (await store.range("lobby", { limit: 1000 })).messages[0]!.id;
      assert.ok(oldest > 10);
      const paged = await store.range("lobby", { limit: 5, before: 10 });
      assert.deepEqual(paged.messages, []);
      assert.equal(paged.complete, false, "ids 5..9 were asked for and retention removed them");
      // Likewise the newest 50 when only 5 are kept: retention cut what was asked for.
      const newest = await store.range("lobby", { limit: 50 });
      assert.equal(newest.messages.length, 5);
      assert.equal(newest.complete, false);
    });
  },
});

Deno.test("MemoryStore: DM history: a→b and b→a share one pair history and sequence", async () => {
  await withStore({}, async (store) => {
    const dm = (from: string, to: string, text: string) =>
      store.appendDirect({ time: 0, from, to, text, conn: "c_1" });
    const one = await dm("alice", "bob", "hi bob");
    const two = await dm("bob", "alice", "hi alice");
    const three = await dm("Alice", "BOB", "case does not matter");
    assert.deepEqual([one.id, two.id, three.id], [1, 2, 3]);
    assert.deepEqual(one, { id: 1, time: 0, from: "alice", to: "bob", text: "hi bob", conn: "c_1" });

    const ab = await store.rangeDirect("alice", "bob", { limit: 10 });
    const ba = await store.rangeDirect("bob", "alice", { limit: 10 });
    assert.deepEqual(ab, ba);
    assert.deepEqual(ab.messages.map((m: DirectMessage) => m.text), [
      "hi bob",
      "hi alice",
      "case does not matter",
    ]);
    assert.equal(ab.complete, true);
    assert.deepEqual(ids((await store.rangeDirect("BOB", "Alice", { limit: 1, after: 1 })).messages), [2]);
  });
});

Deno.test("MemoryStore: DM history is separate per pair and separate from rooms", async () => {
  await withStore({}, async (store) => {
    await store.appendDirect({ time: 0, from: "alice", to: "bob", text: "to bob", conn: "c_1" });
    const carol = await store.appendDirect({
      time: 0,
      from: "alice",
      to: "carol",
      text: "to carol",
      conn: "c_1",
    });
    assert.equal(carol.id, 1, "a new pair starts its own sequence");
    assert.deepEqual(
      (await store.rangeDirect("carol", "alice", { limit: 10 })).messages.map((m) => m.text),
      ["to carol"],
    );
    assert.deepEqual((await store.rangeDirect("bob", "carol", { limit: 10 })).messages, []);
    // A room called like a member is not a DM history.
    assert.deepEqual((await store.range("bob", { limit: 10 })).messages, []);
    assert.equal((await store.append(msg("alice", "room named alice"))).id, 1);
  });
});

Deno.test("pairKey is symmetric, case- and NFKC-insensitive and unambiguous", () => {
  assert.equal(pairKey("alice", "bob"), pairKey("bob", "alice"));
  assert.equal(pairKey("Alice", "BOB"), pairKey("bob", "alice"));
  assert.equal(pairKey("\uff41lice", "bob"), pairKey("alice", "bob"), "NFKC folds fullwidth letters");
  // Look-alikes are one name only while online: `Аlice` (Cyrillic А) taking the name later is someone else,
  // and the stored key must not move when the confusables table does (src/names.ts storageKey).
  assert.notEqual(
    pairKey("\u0410lice", "bob"),
    pairKey("alice", "bob"),
    "look-alikes keep their own history",
  );
  assert.notEqual(pairKey("alice", "bob"), pairKey("alice", "carol"));
  assert.notEqual(pairKey("a", "bc"), pairKey("ab", "c"));
});

Deno.test("MemoryStore: prune removes messages older than maxAgeMs by the injected clock", async () => {
  let now = 0;
  await withStore({ retention: { limit: 1000, maxAgeMs: 1000 }, now: () => now }, async (store) => {
    await store.append(msg("lobby", "old", 0));
    await store.append(msg("lobby", "older than a second", 500));
    await store.append(msg("lobby", "recent", 1700));
    await store.append(msg("lobby", "newest", 2000));
    await store.append(msg("#dev", "dev old", 100));
    await store.appendDirect({ time: 100, from: "alice", to: "bob", text: "dm old", conn: "c_1" });
    await store.appendDirect({ time: 2500, from: "bob", to: "alice", text: "dm new", conn: "c_2" });

    now = 1500;
    await store.prune();
    assert.deepEqual(
      (await store.range("lobby", { limit: 10 })).messages.map((m) => m.text),
      ["older than a second", "recent", "newest"],
      "at 1500 only messages before 500 are too old",
    );

    now = 2600;
    await store.prune();
    const lobby = await store.range("lobby", { limit: 10 });
    assert.deepEqual(lobby.messages.map((m) => m.text), ["recent", "newest"]);
    assert.deepEqual(ids(lobby.messages), [3, 4]);
    assert.equal((await store.range("lobby", { limit: 10, after: 0 })).complete, false);
    assert.equal((await store.range("lobby", { limit: 10, after: 2 })).complete, true);
    assert.deepEqual((await store.range("#dev", { limit: 10 })).messages, [], "every room is pruned");
    assert.deepEqual(
      (await store.rangeDirect("alice", "bob", { limit: 10 })).messages.map((m) => m.text),
      ["dm new"],
      "DM pairs are pruned too",
    );

    // Pruning never resets numbering.
    assert.equal((await store.append(msg("lobby", "next", 2600))).id, 5);
    assert.equal((await store.append(msg("#dev", "dev next", 2600))).id, 2);
  });
});

Deno.test("MemoryStore: prune of a whole room keeps its numbering and reports the gap", async () => {
  let now = 0;
  await withStore({ retention: { limit: 1000, maxAgeMs: 10 }, now: () => now }, async (store) => {
    await fill(store, "lobby", 3, 0);
    now = 1000;
    await store.prune();
    assert.deepEqual((await store.range("lobby", { limit: 10 })).messages, []);
    assert.equal((await store.range("lobby", { limit: 10, after: 0 })).complete, false);
    assert.equal((await store.range("lobby", { limit: 10, after: 3 })).complete, true);
    assert.equal((await store.append(msg("lobby", "fresh", 1000))).id, 4);
  });
});

Deno.test("MemoryStore: maxAgeMs 0 keeps messages regardless of age", async () => {
  let now = 0;
  await withStore({ retention: { limit: 1000, maxAgeMs: 0 }, now: () => now }, async (store) => {
    await fill(store, "lobby", 3, 0);
    now = 10 * 365 * 24 * 3_600_000;
    await store.prune();
    assert.deepEqual(ids((await store.range("lobby", { limit: 10 })).messages), [1, 2, 3]);
  });
});
