/**
 * Accounts and page sessions in every store (`AccountStore` of `src/store/store.ts`): the memory store, a real
 * SQLite file (surviving a restart; an older database migrated by `PRAGMA user_version`; accounts re-keyed when
 * the confusables table changes a key) and a real redis-server.
 */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { RedisServer } from "./_redis.ts";
import { eventually } from "./_helpers.ts";
import { MemoryStore } from "../src/store/memory.ts";
import { RedisStore } from "../src/store/redis.ts";
import { SqliteStore } from "../src/store/sqlite.ts";
import type { Account, AccountStore, Store } from "../src/store/store.ts";
import { nameKey } from "../src/names.ts";

const RETENTION = { limit: 100, maxAgeMs: 0 };

function account(name: string, fields: Partial<Account> = {}): Account {
  return {
    key: nameKey(name),
    name,
    hash: `$scrypt$ln=4,r=1,p=1$c2FsdA$${name}`,
    stamp: `stamp-${name}`,
    since: 1000,
    created: 2000,
    ...fields,
  };
}

/** What every store must do with accounts and sessions. */
async function contract(store: AccountStore): Promise<void> {
  const alice = account("alice");
  assert.equal(await store.account(alice.key), null);
  assert.equal(await store.addAccount(alice), true);
  assert.deepEqual(await store.account(alice.key), alice);
  assert.equal(await store.addAccount(account("ALICE", { hash: "other" })), false, "one account per key");
  assert.deepEqual(await store.account(nameKey("Аlice")), alice, "a look-alike finds the same account");
  const reset = { ...alice, hash: "$scrypt$new", stamp: "stamp-2" };
  assert.equal(await store.updateAccount(reset), true);
  assert.deepEqual(await store.account(alice.key), reset);
  assert.equal(await store.updateAccount(account("nobody")), false, "update never creates");
  assert.equal(await store.account(nameKey("nobody")), null);
  await store.addAccount(account("bob"));
  assert.deepEqual((await store.accounts()).map((a) => a.name).sort(), ["alice", "bob"]);

  const now = Date.now();
  await store.addSession({ id: "s1", key: alice.key, stamp: "stamp-2", expires: now + 60_000 });
  await store.addSession({ id: "s2", key: alice.key, stamp: "stamp-2", expires: now - 1 });
  assert.deepEqual(await store.session("s1", now), {
    id: "s1",
    key: alice.key,
    stamp: "stamp-2",
    expires: now + 60_000,
  });
  assert.equal(await store.session("s2", now), null, "an expired session is no session");
  assert.equal(await store.session("s1", now + 60_000), null, "expired by the clock given");
  assert.equal(await store.session("nope", now), null);
  await store.deleteSession("s1");
  assert.equal(await store.session("s1", now), null);

  await store.addSession({ id: "s3", key: nameKey("bob"), stamp: "stamp-bob", expires: now + 60_000 });
  assert.equal(await store.deleteAccount(nameKey("bob")), true);
  assert.equal(await store.deleteAccount(nameKey("bob")), false);
  assert.equal(await store.account(nameKey("bob")), null);
  // Its sessions end with it: deleted, or (Redis) left to name an account that is gone.
  const left = await store.session("s3", now);
  assert.ok(left === null || (await store.account(left.key)) === null);
}

Deno.test("accounts in the memory store: the store contract", async () => {
  const store = new MemoryStore();
  await contract(store);
  await store.close();
});

Deno.test("accounts in SQLite: the store contract, and everything survives a restart", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hubbub-accounts-" });
  const path = `${dir}/chat.db`;
  try {
    {
      const store = new SqliteStore({ path, retention: RETENTION, pruneEveryMs: 0 });
      await contract(store);
      await store.addSession({
        id: "kept",
        key: nameKey("alice"),
        stamp: "stamp-2",
        expires: Date.now() + 60_000,
      });
      await store.close();
    }
    const store = new SqliteStore({ path, retention: RETENTION, pruneEveryMs: 0 });
    try {
      assert.deepEqual((await store.accounts()).map((a) => [a.name, a.hash, a.stamp]), [[
        "alice",
        "$scrypt$new",
        "stamp-2",
      ]]);
      assert.equal((await store.session("kept", Date.now()))?.key, nameKey("alice"));
      // Pruning reclaims expired session rows.
      await store.addSession({ id: "old", key: nameKey("alice"), stamp: "stamp-2", expires: 1 });
      await store.prune();
      const db = new DatabaseSync(path);
      const ids = db.prepare("SELECT id FROM sessions ORDER BY id").all().map((r) => r.id);
      db.close();
      assert.deepEqual(ids, ["kept"]);
    } finally {
      await store.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("accounts in SQLite: a database of schema version 1 gets the accounts tables on open, its history untouched", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hubbub-accounts-" });
  const path = `${dir}/v1.db`;
  try {
    {
      const store = new SqliteStore({ path, retention: RETENTION, pruneEveryMs: 0 });
      await store.append({ room: "lobby", time: 1, from: "bob", text: "kept", conn: "c" });
      await store.close();
    }
    // As the previous release left it: version 1, no accounts tables.
    const db = new DatabaseSync(path);
    db.exec("DROP TABLE accounts; DROP TABLE sessions; PRAGMA user_version = 1;");
    db.close();
    const store = new SqliteStore({ path, retention: RETENTION, pruneEveryMs: 0 });
    try {
      assert.equal(await store.addAccount(account("alice")), true);
      assert.deepEqual((await store.range("lobby", { limit: 10 })).messages.map((m) => m.text), ["kept"]);
    } finally {
      await store.close();
    }
    const check = new DatabaseSync(path);
    const version = (check.prepare("PRAGMA user_version").get() as { user_version: number }).user_version;
    check.close();
    assert.equal(version, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("accounts in SQLite: an account filed under an old name key moves to today's key on open (with its sessions)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hubbub-accounts-" });
  const path = `${dir}/rekey.db`;
  try {
    new SqliteStore({ path, retention: RETENTION, pruneEveryMs: 0 }).close();
    // As if a newer confusables table folded names differently from the one that filed these.
    const db = new DatabaseSync(path);
    const insert = db.prepare("INSERT INTO accounts VALUES (?, ?, 'h', 's', 1, ?)");
    insert.run("old-key-of-alice", "alice", 10);
    insert.run("old-key-of-Alice", "ALICE", 20); // collides with alice under today's key: the older one wins
    db.prepare("INSERT INTO sessions VALUES ('s', 'old-key-of-alice', 's', ?)").run(Date.now() + 60_000);
    db.close();
    const store = new SqliteStore({ path, retention: RETENTION, pruneEveryMs: 0 });
    try {
      assert.equal((await store.account(nameKey("alice")))?.name, "alice");
      assert.equal((await store.session("s", Date.now()))?.key, nameKey("alice"));
      assert.deepEqual((await store.accounts()).map((a) => a.key).sort(), [
        nameKey("alice"),
        "old-key-of-Alice",
      ]);
    } finally {
      await store.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const HAVE_REDIS = await RedisServer.available();

Deno.test({
  name: "accounts in Redis: the store contract, shared by every node, and kept across a Redis restart",
  ignore: !HAVE_REDIS && Deno.env.get("CI") !== "true",
  fn: async () => {
    await using redis = await RedisServer.start();
    const open = () => new RedisStore({ url: redis.url, retention: RETENTION, pruneEveryMs: 0 });
    const ready = (store: Store) => eventually(() => store.ready?.() ?? true, "the store is ready", 10_000);
    const a = open();
    const b = open();
    try {
      await ready(a);
      await ready(b);
      await contract(a);
      // Another node reads what this one wrote.
      assert.deepEqual((await b.account(nameKey("alice")))?.stamp, "stamp-2");
      await a.addSession({
        id: "kept",
        key: nameKey("alice"),
        stamp: "stamp-2",
        expires: Date.now() + 60_000,
      });
      // The session key expires in Redis when the session does.
      const ttl = Number((await redis.command("PTTL", "hubbub:session:kept")).replace(/^:/, ""));
      assert.ok(ttl > 50_000 && ttl <= 60_000, `PTTL ${ttl}`);
    } finally {
      await a.close();
      await b.close();
    }
    await redis.stop();
    await redis.restart();
    const c = open();
    try {
      await ready(c);
      assert.equal((await c.account(nameKey("alice")))?.hash, "$scrypt$new");
      assert.equal((await c.session("kept", Date.now()))?.key, nameKey("alice"));
    } finally {
      await c.close();
    }
  },
});
