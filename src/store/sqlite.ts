/**
 * The default store: SQLite through `node:sqlite`, in WAL mode with prepared statements.
 *
 * Appends are batched: every message appended in one turn of the event loop goes into one transaction,
 * so a burst costs one commit (and one fsync with `sync: "full"`), not one per message. A message's
 * promise resolves only after its transaction committed; that is what the hub acknowledges.
 * Ids come from a `counters` table written in the same transaction, so they only grow across restarts,
 * even when retention has pruned every message of a room. Pruning runs in small slices on a timer,
 * never on the append path. Opening a database written by an older release first brings it up to date
 * (`PRAGMA user_version`: 1 folded DM pair keys like names, 2 added accounts and page sessions), in one
 * transaction. Accounts and sessions live in the same file (`sqlite_accounts.ts`).
 *
 * A store whose commits fail (a full disk, a file made read-only) is not ready: `/readyz` answers 503 so a
 * balancer sends people elsewhere. While it fails, a tiny write is tried every second, so it becomes ready
 * again by itself once the disk has room, even when nobody sends anything meanwhile.
 * @module
 */

import { DatabaseSync, type StatementSync } from "node:sqlite";
import { clearImmediate, setImmediate } from "node:timers";
import { getLogger } from "@logtape/logtape";
import type { ChatMessage, DirectMessage } from "../model.ts";
import { roomKey } from "../names.ts";
import { isComplete, pairKey } from "./store.ts";
import type {
  Account,
  AccountStore,
  NewDirectMessage,
  NewMessage,
  PageSession,
  Range,
  RangeOptions,
  Retention,
  Store,
} from "./store.ts";
import { ACCOUNT_TABLES, SqliteAccounts } from "./sqlite_accounts.ts";

const log = getLogger(["hubbub", "store"]);

/** How hard a commit works to survive failures. */
export type SyncMode = "full" | "normal";

/** Options of {@linkcode SqliteStore}. */
export interface SqliteStoreOptions {
  /** Database file; created when missing. */
  readonly path: string;
  /** Retention rules. */
  readonly retention: Retention;
  /**
   * `full`: every batch is fsynced before it is acknowledged (survives power loss).
   * `normal`: committed to the WAL but fsynced only at checkpoints (survives a crash of hubbub, not of the OS).
   */
  readonly sync?: SyncMode;
  /** How often pruning runs (milliseconds); 0 turns the timer off (call `prune()` yourself). */
  readonly pruneEveryMs?: number;
  /** Injected clock, for tests of age-based pruning. */
  readonly now?: () => number;
}

interface Pending<T> {
  /** Room key or DM pair key. */
  readonly key: string;
  readonly row: T;
  readonly resolve: (row: T) => void;
  readonly reject: (error: Error) => void;
}

interface MessageRow {
  room_name: string;
  id: number;
  time: number;
  sender: string;
  text: Uint8Array;
  conn: string;
  tag: string | null;
}

interface DirectRow {
  id: number;
  time: number;
  sender: string;
  recipient: string;
  text: Uint8Array;
  conn: string;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS messages (
  room TEXT NOT NULL, id INTEGER NOT NULL, room_name TEXT NOT NULL, time INTEGER NOT NULL,
  sender TEXT NOT NULL, text TEXT NOT NULL, conn TEXT NOT NULL, tag TEXT,
  PRIMARY KEY (room, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS messages_time ON messages (time);
CREATE TABLE IF NOT EXISTS directs (
  pair TEXT NOT NULL, id INTEGER NOT NULL, time INTEGER NOT NULL, sender TEXT NOT NULL,
  recipient TEXT NOT NULL, text TEXT NOT NULL, conn TEXT NOT NULL,
  PRIMARY KEY (pair, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS directs_time ON directs (time);
CREATE TABLE IF NOT EXISTS counters (log TEXT PRIMARY KEY, last INTEGER NOT NULL) WITHOUT ROWID;
`;

/**
 * `PRAGMA user_version` of a database whose DM pair keys all equal today's {@linkcode pairKey} of their names.
 * Opening a database below it folds its pair keys first (see {@linkcode foldPairs}); bump it when `storageKey`
 * changes, and every database folds again on its next open.
 */
const FOLDED_PAIRS = 1;
/** `PRAGMA user_version` of a database with the `accounts` and `sessions` tables (`sqlite_accounts.ts`). */
const ACCOUNTS = 2;
/** The schema version this build writes. */
const SCHEMA_VERSION = ACCOUNTS;

// Text is read back as the bytes SQLite stored: node:sqlite builds a TEXT value's string up to its first NUL
// only, although the whole text is stored (a message "a\0b" came back as "a"). The hub never stores a NUL
// (src/hub/text.ts); the store still returns exactly what it was given.
const TEXT_AS_BYTES = "CAST(text AS BLOB) AS text";
const utf8 = new TextDecoder();

/** Rows deleted per pruning slice: small enough that one slice never stalls the event loop noticeably. */
const PRUNE_SLICE = 2000;

/** How often a failing store tries a write to learn whether commits work again (milliseconds). */
const PROBE_EVERY_MS = 1000;

/** The SQLite {@linkcode Store} and {@linkcode AccountStore}. */
export class SqliteStore implements Store, AccountStore {
  readonly #db: DatabaseSync;
  readonly #accounts: SqliteAccounts;
  readonly #path: string;
  /** Set while commits fail; the timer tries a write until one works. */
  #probeTimer: ReturnType<typeof setInterval> | undefined;
  readonly #retention: Retention;
  readonly #now: () => number;
  readonly #counters = new Map<string, number>();
  #rooms: Pending<ChatMessage>[] = [];
  #directs: Pending<DirectMessage>[] = [];
  #flushTimer: ReturnType<typeof setImmediate> | undefined;
  #pruneTimer: ReturnType<typeof setInterval> | undefined;
  #closed = false;
  readonly #sql: Record<
    | "insertMessage"
    | "insertDirect"
    | "setCounter"
    | "getCounter"
    | "after"
    | "before"
    | "directAfter"
    | "directBefore"
    | "first"
    | "firstDirect"
    | "overLimit"
    | "overLimitDirect"
    | "trim"
    | "trimDirect"
    | "expire"
    | "expireDirect",
    StatementSync
  >;

  /** Opens (or creates) the database. Throws, naming the file, when it cannot be opened or written. */
  constructor(options: SqliteStoreOptions) {
    this.#retention = options.retention;
    this.#now = options.now ?? Date.now;
    this.#path = options.path;
    let db: DatabaseSync | undefined;
    try {
      db = new DatabaseSync(options.path);
      db.exec(
        `PRAGMA journal_mode = WAL; PRAGMA synchronous = ${options.sync === "normal" ? "NORMAL" : "FULL"};`,
      );
      db.exec("PRAGMA busy_timeout = 5000;");
      db.exec(SCHEMA);
      migrate(db);
      this.#accounts = new SqliteAccounts(db);
    } catch (error) {
      try {
        db?.close();
      } catch {
        // Not open.
      }
      throw new Error(`Cannot open the store sqlite:${options.path}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    this.#db = db;
    const columns = `room_name, id, time, sender, ${TEXT_AS_BYTES}, conn, tag`;
    const directColumns = `id, time, sender, recipient, ${TEXT_AS_BYTES}, conn`;
    this.#sql = {
      insertMessage: db.prepare(
        "INSERT INTO messages (room, id, room_name, time, sender, text, conn, tag) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      ),
      insertDirect: db.prepare(
        "INSERT INTO directs (pair, id, time, sender, recipient, text, conn) VALUES (?, ?, ?, ?, ?, ?, ?)",
      ),
      setCounter: db.prepare(
        "INSERT INTO counters (log, last) VALUES (?, ?) ON CONFLICT (log) DO UPDATE SET last = excluded.last",
      ),
      getCounter: db.prepare("SELECT last FROM counters WHERE log = ?"),
      after: db.prepare(
        `SELECT ${columns} FROM messages WHERE room = ? AND id > ? AND id < ? ORDER BY id LIMIT ?`,
      ),
      before: db.prepare(
        `SELECT ${columns} FROM messages WHERE room = ? AND id < ? ORDER BY id DESC LIMIT ?`,
      ),
      directAfter: db.prepare(
        `SELECT ${directColumns} FROM directs WHERE pair = ? AND id > ? AND id < ? ORDER BY id LIMIT ?`,
      ),
      directBefore: db.prepare(
        `SELECT ${directColumns} FROM directs WHERE pair = ? AND id < ? ORDER BY id DESC LIMIT ?`,
      ),
      first: db.prepare("SELECT MIN(id) AS id FROM messages WHERE room = ?"),
      firstDirect: db.prepare("SELECT MIN(id) AS id FROM directs WHERE pair = ?"),
      overLimit: db.prepare("SELECT log, last FROM counters WHERE log LIKE 'r:%'"),
      // Pair keys hold a U+0000: read back as text, node:sqlite would cut them there (see `keyText`).
      overLimitDirect: db.prepare("SELECT CAST(log AS BLOB) AS log, last FROM counters WHERE log LIKE 'd:%'"),
      trim: db.prepare(
        "DELETE FROM messages WHERE room = ? AND id IN (SELECT id FROM messages WHERE room = ? AND id <= ? LIMIT ?)",
      ),
      trimDirect: db.prepare(
        "DELETE FROM directs WHERE pair = ? AND id IN (SELECT id FROM directs WHERE pair = ? AND id <= ? LIMIT ?)",
      ),
      expire: db.prepare(
        "DELETE FROM messages WHERE (room, id) IN (SELECT room, id FROM messages WHERE time < ? LIMIT ?)",
      ),
      expireDirect: db.prepare(
        "DELETE FROM directs WHERE (pair, id) IN (SELECT pair, id FROM directs WHERE time < ? LIMIT ?)",
      ),
    };
    const every = options.pruneEveryMs ?? 30_000;
    if (every > 0) this.#pruneTimer = setInterval(() => this.#pruneSlice(), every);
  }

  /** Whether commits work: false from a failed commit until one succeeds (an append's or the probe's). */
  ready(): boolean {
    return !this.#closed && this.#probeTimer === undefined;
  }

  /** {@inheritDoc Store.append} */
  append(message: NewMessage): Promise<ChatMessage> {
    if (this.#closed) return Promise.reject(new Error("Cannot append: store is closed"));
    const key = roomKey(message.room);
    const id = this.#next(`r:${key}`);
    return new Promise((resolve, reject) => {
      this.#rooms.push({ key, row: { ...message, id }, resolve, reject });
      this.#schedule();
    });
  }

  /** {@inheritDoc Store.appendDirect} */
  appendDirect(message: NewDirectMessage): Promise<DirectMessage> {
    if (this.#closed) return Promise.reject(new Error("Cannot append: store is closed"));
    const key = pairKey(message.from, message.to);
    const id = this.#next(`d:${key}`);
    return new Promise((resolve, reject) => {
      this.#directs.push({ key, row: { ...message, id }, resolve, reject });
      this.#schedule();
    });
  }

  /** {@inheritDoc Store.range} */
  range(room: string, options: RangeOptions): Promise<Range<ChatMessage>> {
    try {
      const key = roomKey(room);
      const rows = this.#slice<MessageRow>(this.#sql.after, this.#sql.before, key, options);
      const messages = rows.map((r): ChatMessage => ({
        room: r.room_name,
        id: r.id,
        time: r.time,
        from: r.sender,
        text: utf8.decode(r.text),
        conn: r.conn,
        ...(r.tag === null ? {} : { tag: r.tag }),
      }));
      return Promise.resolve({
        messages,
        complete: this.#complete(this.#sql.first, `r:${key}`, key, options),
      });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** {@inheritDoc Store.rangeDirect} */
  rangeDirect(a: string, b: string, options: RangeOptions): Promise<Range<DirectMessage>> {
    try {
      const key = pairKey(a, b);
      const rows = this.#slice<DirectRow>(this.#sql.directAfter, this.#sql.directBefore, key, options);
      const messages = rows.map((r): DirectMessage => ({
        id: r.id,
        time: r.time,
        from: r.sender,
        to: r.recipient,
        text: utf8.decode(r.text),
        conn: r.conn,
      }));
      return Promise.resolve({
        messages,
        complete: this.#complete(this.#sql.firstDirect, `d:${key}`, key, options),
      });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** {@inheritDoc AccountStore.account} */
  account(key: string): Promise<Account | null> {
    return this.#accounts.account(key);
  }

  /** {@inheritDoc AccountStore.addAccount} */
  addAccount(account: Account): Promise<boolean> {
    return this.#accounts.addAccount(account);
  }

  /** {@inheritDoc AccountStore.updateAccount} */
  updateAccount(account: Account): Promise<boolean> {
    return this.#accounts.updateAccount(account);
  }

  /** {@inheritDoc AccountStore.deleteAccount} */
  deleteAccount(key: string): Promise<boolean> {
    return this.#accounts.deleteAccount(key);
  }

  /** {@inheritDoc AccountStore.accounts} */
  accounts(): Promise<Account[]> {
    return this.#accounts.accounts();
  }

  /** {@inheritDoc AccountStore.addSession} */
  addSession(session: PageSession): Promise<void> {
    return this.#accounts.addSession(session);
  }

  /** {@inheritDoc AccountStore.session} */
  session(id: string, now: number): Promise<PageSession | null> {
    return this.#accounts.session(id, now);
  }

  /** {@inheritDoc AccountStore.deleteSession} */
  deleteSession(id: string): Promise<void> {
    return this.#accounts.deleteSession(id);
  }

  /** {@inheritDoc Store.prune} */
  prune(): Promise<void> {
    // Slices until nothing is left to prune; the timer calls one slice at a time instead.
    while (this.#pruneSlice()) { /* next slice */ }
    return Promise.resolve();
  }

  /** {@inheritDoc Store.close} */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#flush();
    this.#closed = true;
    clearImmediate(this.#flushTimer);
    clearInterval(this.#pruneTimer);
    clearInterval(this.#probeTimer);
    this.#db.close();
    return Promise.resolve();
  }

  #next(log: string): number {
    let last = this.#counters.get(log);
    if (last === undefined) {
      const row = this.#sql.getCounter.get(log) as { last: number } | undefined;
      last = row?.last ?? 0;
    }
    this.#counters.set(log, last + 1);
    return last + 1;
  }

  #schedule(): void {
    // One transaction per turn of the event loop: everything appended until then commits together.
    // setImmediate, not setTimeout(0): Deno clamps the latter to about 2 ms a hop, a floor under every append.
    this.#flushTimer ??= setImmediate(() => this.#flush());
  }

  #flush(): void {
    clearImmediate(this.#flushTimer);
    this.#flushTimer = undefined;
    const rooms = this.#rooms;
    const directs = this.#directs;
    if (rooms.length === 0 && directs.length === 0) return;
    this.#rooms = [];
    this.#directs = [];
    const { insertMessage, insertDirect, setCounter } = this.#sql;
    const lasts = new Map<string, number>();
    for (const { key, row } of rooms) lasts.set(`r:${key}`, row.id);
    for (const { key, row } of directs) lasts.set(`d:${key}`, row.id);
    try {
      this.#db.exec("BEGIN");
      for (const { key, row: m } of rooms) {
        insertMessage.run(key, m.id, m.room, m.time, m.from, m.text, m.conn, m.tag ?? null);
      }
      for (const { key, row: m } of directs) {
        insertDirect.run(key, m.id, m.time, m.from, m.to, m.text, m.conn);
      }
      for (const [log, last] of lasts) setCounter.run(log, last);
      this.#db.exec("COMMIT");
    } catch (error) {
      try {
        this.#db.exec("ROLLBACK");
      } catch {
        // The failure happened where no transaction was open.
      }
      // Forget the failed batch's ids: the counters reload from the last commit, so ids keep no gaps.
      for (const log of lasts.keys()) this.#counters.delete(log);
      log.error("store commit failed on {path}: {error}", {
        path: this.#path,
        error: String(error),
        messages: rooms.length + directs.length,
      });
      this.#failing();
      const failure = new Error(`Cannot store messages: ${(error as Error).message}`, { cause: error });
      for (const p of rooms) p.reject(failure);
      for (const p of directs) p.reject(failure);
      return;
    }
    this.#working();
    for (const { row, resolve } of rooms) resolve(row);
    for (const { row, resolve } of directs) resolve(row);
  }

  /** Commits fail: not ready, and a write is tried every second until one works. */
  #failing(): void {
    if (this.#probeTimer !== undefined || this.#closed) return;
    this.#probeTimer = setInterval(() => this.#probe(), PROBE_EVERY_MS);
  }

  /** A commit worked: ready again. */
  #working(): void {
    if (this.#probeTimer === undefined) return;
    clearInterval(this.#probeTimer);
    this.#probeTimer = undefined;
    log.info("store commits work again on {path}", { path: this.#path });
  }

  /** Writes and removes a row in one transaction: it commits only if the file takes writes again. */
  #probe(): void {
    try {
      this.#db.exec("BEGIN");
      this.#sql.setCounter.run("probe", this.#now());
      this.#db.exec("DELETE FROM counters WHERE log = 'probe'");
      this.#db.exec("COMMIT");
    } catch (error) {
      try {
        this.#db.exec("ROLLBACK");
      } catch {
        // The failure happened where no transaction was open.
      }
      log.debug("store commits still fail on {path}: {error}", { path: this.#path, error: String(error) });
      return;
    }
    this.#working();
  }

  #slice<T>(after: StatementSync, before: StatementSync, key: string, options: RangeOptions): T[] {
    const upper = options.before ?? Number.MAX_SAFE_INTEGER;
    if (options.after !== undefined) return after.all(key, options.after, upper, options.limit) as T[];
    return (before.all(key, upper, options.limit) as T[]).reverse();
  }

  #complete(first: StatementSync, log: string, key: string, options: RangeOptions): boolean {
    // Ids handed out but not yet committed count as written: a range never waits for them.
    const last = this.#counters.get(log) ??
      (this.#sql.getCounter.get(log) as { last: number } | undefined)?.last;
    const next = (last ?? 0) + 1;
    const oldest = (first.get(key) as { id: number | null }).id;
    return isComplete(options, oldest ?? next, next);
  }

  /** Deletes at most one slice of expired rows; `true` when there may be more. */
  #pruneSlice(): boolean {
    if (this.#closed) return false;
    const { limit, maxAgeMs } = this.#retention;
    let deleted = 0;
    try {
      for (
        const [counters, trim, prefix] of [
          [this.#sql.overLimit, this.#sql.trim, "r:"],
          [this.#sql.overLimitDirect, this.#sql.trimDirect, "d:"],
        ] as const
      ) {
        for (const { log: name, last } of counters.all() as { log: string | Uint8Array; last: number }[]) {
          const key = keyText(name).slice(prefix.length);
          // Ids have no gaps, so keeping ids above `last - limit` keeps exactly `limit` messages.
          const result = trim.run(key, key, last - limit, PRUNE_SLICE - deleted);
          deleted += Number(result.changes);
          if (deleted >= PRUNE_SLICE) return true;
        }
      }
      if (maxAgeMs > 0) {
        const oldest = this.#now() - maxAgeMs;
        deleted += Number(this.#sql.expire.run(oldest, PRUNE_SLICE - deleted).changes);
        if (deleted < PRUNE_SLICE) {
          deleted += Number(this.#sql.expireDirect.run(oldest, PRUNE_SLICE - deleted).changes);
        }
      }
      // Expired page sessions refuse themselves when read; this only reclaims their rows.
      if (deleted < PRUNE_SLICE && this.#accounts.pruneSlice(this.#now())) return true;
    } catch (error) {
      log.error("prune failed: {error}", { error: String(error) });
      return false;
    }
    return deleted >= PRUNE_SLICE;
  }
}

/** Brings an older database up to {@linkcode SCHEMA_VERSION}, in one transaction; a no-op when it is there. */
function migrate(db: DatabaseSync): void {
  const version = () => (db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version;
  if (version() >= SCHEMA_VERSION) return;
  // IMMEDIATE: the write lock before reading, so two processes opening one file cannot both migrate it.
  db.exec("BEGIN IMMEDIATE");
  try {
    if (version() < FOLDED_PAIRS) {
      const moved = foldPairs(db);
      db.exec(`PRAGMA user_version = ${FOLDED_PAIRS}`);
      if (moved > 0) log.info("folded {moved} DM pair keys", { moved });
    }
    if (version() < ACCOUNTS) {
      db.exec(ACCOUNT_TABLES);
      db.exec(`PRAGMA user_version = ${ACCOUNTS}`);
    }
    db.exec("COMMIT");
  } catch (error) {
    db.exec("ROLLBACK");
    throw new Error(`Cannot migrate the database: ${(error as Error).message}`, { cause: error });
  }
}

interface DirectRecord extends DirectRow {
  pair: Uint8Array;
}

/**
 * A key column read as a BLOB, back to its string. DM pair keys contain U+0000, and node:sqlite returns TEXT
 * only up to the first one (binding a string with U+0000 stores and compares it whole): every query that reads
 * a key back for later use must `CAST(... AS BLOB)`.
 */
function keyText(value: string | Uint8Array): string {
  return typeof value === "string" ? value : utf8.decode(value);
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/**
 * Re-keys DMs stored under a pair key other than today's `pairKey(sender, recipient)`: keys built from names
 * as typed (`Zed` and `zed` apart), or with a fold that has changed since. The names on each row decide where
 * it belongs. A pair found under one old key keeps its ids. Several keys folding into one pair (`Zed` and `zed`
 * both wrote to bob) are merged and renumbered in time order, ending at the sum of their counters: ids stay
 * unique and without gaps, and new ones continue above every id either log handed out. A counter with no rows
 * left is copied to its folded key (the larger value wins) and kept, since without rows it cannot be told
 * apart from an already folded key that would fold differently a second time. Returns the pairs re-keyed.
 */
function foldPairs(db: DatabaseSync): number {
  return new PairFolder(db).fold();
}

/** The statements and steps of {@linkcode foldPairs}. */
class PairFolder {
  readonly #db: DatabaseSync;
  readonly #counter;
  readonly #setCounter;
  readonly #moveRow;
  readonly #selectRows;
  readonly #deleteRows;
  readonly #insert;
  readonly #maxId;
  readonly #leftIn;
  /** Old keys whose rows have all moved. */
  readonly #emptied = new Set<string>();

  constructor(db: DatabaseSync) {
    this.#db = db;
    this.#counter = db.prepare("SELECT last FROM counters WHERE log = ?");
    this.#setCounter = db.prepare(
      "INSERT INTO counters (log, last) VALUES (?, ?) ON CONFLICT (log) DO UPDATE SET last = excluded.last",
    );
    this.#moveRow = db.prepare("UPDATE directs SET pair = ? WHERE pair = ? AND sender = ? AND recipient = ?");
    this.#selectRows = db.prepare(
      "SELECT CAST(pair AS BLOB) AS pair, id, time, sender, recipient, text, conn FROM directs WHERE pair = ? AND sender = ? AND recipient = ?",
    );
    this.#deleteRows = db.prepare("DELETE FROM directs WHERE pair = ? AND sender = ? AND recipient = ?");
    this.#insert = db.prepare(
      "INSERT INTO directs (pair, id, time, sender, recipient, text, conn) VALUES (?, ?, ?, ?, ?, ?, ?)",
    );
    this.#maxId = db.prepare("SELECT MAX(id) AS id FROM directs WHERE pair = ?");
    this.#leftIn = db.prepare("SELECT 1 FROM directs WHERE pair = ? LIMIT 1");
  }

  /** Folds every pair; returns how many old keys were re-keyed. */
  fold(): number {
    let moved = 0;
    for (const [folded, sources] of this.#targets()) {
      const old = [...sources.keys()].filter((key) => key !== folded);
      if (old.length === 0) continue;
      moved += old.length;
      if (old.length === 1 && !sources.has(folded) && this.#leftIn.get(folded) === undefined) {
        this.#move(folded, old[0]!, sources.get(old[0]!)!);
      } else this.#merge(folded, sources);
    }
    this.#counters();
    return moved;
  }

  #last(key: string): number | undefined {
    return (this.#counter.get(`d:${key}`) as { last: number } | undefined)?.last;
  }

  /** Folded key → the stored keys holding its rows, with the name pairs found under each. */
  #targets(): Map<string, Map<string, [string, string][]>> {
    const targets = new Map<string, Map<string, [string, string][]>>();
    const combos = this.#db.prepare(
      "SELECT DISTINCT CAST(pair AS BLOB) AS pair, sender, recipient FROM directs",
    )
      .all() as { pair: Uint8Array; sender: string; recipient: string }[];
    for (const { pair: bytes, sender, recipient } of combos) {
      const pair = keyText(bytes);
      const folded = pairKey(sender, recipient);
      let sources = targets.get(folded);
      if (!sources) targets.set(folded, sources = new Map());
      let names = sources.get(pair);
      if (!names) sources.set(pair, names = []);
      names.push([sender, recipient]);
    }
    return targets;
  }

  /** One old key: the same log under its folded key, ids unchanged. */
  #move(folded: string, from: string, names: readonly [string, string][]): void {
    const last = this.#last(from) ?? (this.#maxId.get(from) as { id: number }).id;
    for (const [sender, recipient] of names) this.#moveRow.run(folded, from, sender, recipient);
    this.#setCounter.run(`d:${folded}`, Math.max(last, this.#last(folded) ?? 0));
    this.#emptied.add(from);
  }

  /** Several logs become one: renumbered in time order (ties: the old order), below the sum of their counters. */
  #merge(folded: string, sources: Map<string, [string, string][]>): void {
    const rows: DirectRecord[] = [];
    let total = 0;
    for (const [key, names] of sources) {
      if (key === folded) continue;
      for (const [sender, recipient] of names) {
        rows.push(...this.#selectRows.all(key, sender, recipient) as unknown as DirectRecord[]);
        this.#deleteRows.run(key, sender, recipient);
      }
      total += this.#last(key) ?? (this.#maxId.get(key) as { id: number }).id;
      this.#emptied.add(key);
    }
    rows.push(
      ...this.#db.prepare(
        "SELECT CAST(pair AS BLOB) AS pair, id, time, sender, recipient, text, conn FROM directs WHERE pair = ?",
      ).all(folded) as unknown as DirectRecord[],
    );
    total += this.#last(folded) ?? (this.#maxId.get(folded) as { id: number | null }).id ?? 0;
    this.#db.prepare("DELETE FROM directs WHERE pair = ?").run(folded);
    // Ties in time keep each old log's order; which old log goes first does not matter, only that it is fixed.
    rows.sort((a, b) => a.time - b.time || compareBytes(a.pair, b.pair) || a.id - b.id);
    let id = total - rows.length;
    for (const r of rows) this.#insert.run(folded, ++id, r.time, r.sender, r.recipient, r.text, r.conn);
    this.#setCounter.run(`d:${folded}`, total);
  }

  /** A counter goes with its rows once none are left under the old key; a counter without rows is copied. */
  #counters(): void {
    const dropCounter = this.#db.prepare("DELETE FROM counters WHERE log = ?");
    for (const from of this.#emptied) if (this.#leftIn.get(from) === undefined) dropCounter.run(`d:${from}`);
    const counters = this.#db.prepare(
      "SELECT CAST(log AS BLOB) AS log, last FROM counters WHERE substr(log, 1, 2) = 'd:'",
    ).all() as { log: Uint8Array; last: number }[];
    for (const { log: name, last } of counters) {
      const key = keyText(name).slice(2);
      const halves = key.split("\u0000");
      if (halves.length !== 2 || this.#emptied.has(key) || this.#leftIn.get(key) !== undefined) continue;
      const folded = pairKey(halves[0]!, halves[1]!);
      if (folded !== key && (this.#last(folded) ?? 0) < last) this.#setCounter.run(`d:${folded}`, last);
    }
  }
}
