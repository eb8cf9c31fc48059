/**
 * Accounts and page sessions in the SQLite file, next to history: two tables that schema version 2 adds
 * (`PRAGMA user_version`, see `sqlite.ts`). Every write is its own transaction, committed before the promise
 * resolves, like a history batch. Session ids are hashes of the tokens, never the tokens.
 * @module
 */

import type { DatabaseSync, StatementSync } from "node:sqlite";
import { getLogger } from "@logtape/logtape";
import { nameKey } from "../names.ts";
import type { Account, AccountStore, PageSession } from "./store.ts";

const log = getLogger(["hubbub", "store"]);

/** The tables schema version 2 adds. */
export const ACCOUNT_TABLES = `
CREATE TABLE IF NOT EXISTS accounts (
  key TEXT PRIMARY KEY, name TEXT NOT NULL, hash TEXT NOT NULL, stamp TEXT NOT NULL,
  since INTEGER NOT NULL, created INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sessions (
  id TEXT PRIMARY KEY, key TEXT NOT NULL, stamp TEXT NOT NULL, expires INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sessions_key ON sessions (key);
CREATE INDEX IF NOT EXISTS sessions_expires ON sessions (expires);
`;

/** Expired sessions deleted per pruning slice. */
const PRUNE_SLICE = 2000;

/** The SQLite {@linkcode AccountStore}, on a database `SqliteStore` opened and migrated. */
export class SqliteAccounts implements AccountStore {
  readonly #db: DatabaseSync;
  readonly #sql: Record<
    | "get"
    | "insert"
    | "update"
    | "delete"
    | "deleteSessions"
    | "all"
    | "addSession"
    | "session"
    | "deleteSession"
    | "expire",
    StatementSync
  >;

  /** Prepares the statements and files accounts under today's name keys. */
  constructor(db: DatabaseSync) {
    this.#db = db;
    const columns = "key, name, hash, stamp, since, created";
    this.#sql = {
      get: db.prepare(`SELECT ${columns} FROM accounts WHERE key = ?`),
      insert: db.prepare(
        `INSERT INTO accounts (${columns}) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING`,
      ),
      update: db.prepare("UPDATE accounts SET name = ?, hash = ?, stamp = ?, since = ? WHERE key = ?"),
      delete: db.prepare("DELETE FROM accounts WHERE key = ?"),
      deleteSessions: db.prepare("DELETE FROM sessions WHERE key = ?"),
      all: db.prepare(`SELECT ${columns} FROM accounts`),
      addSession: db.prepare("INSERT OR REPLACE INTO sessions (id, key, stamp, expires) VALUES (?, ?, ?, ?)"),
      session: db.prepare("SELECT id, key, stamp, expires FROM sessions WHERE id = ? AND expires > ?"),
      deleteSession: db.prepare("DELETE FROM sessions WHERE id = ?"),
      expire: db.prepare(
        "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE expires <= ? LIMIT ?)",
      ),
    };
    this.#rekey();
  }

  /** {@inheritDoc AccountStore.account} */
  account(key: string): Promise<Account | null> {
    return attempt(() => {
      const row = this.#sql.get.get(key) as Account | undefined;
      return row === undefined ? null : { ...row };
    });
  }

  /** {@inheritDoc AccountStore.addAccount} */
  addAccount(a: Account): Promise<boolean> {
    return attempt(() =>
      this.#sql.insert.run(a.key, a.name, a.hash, a.stamp, a.since, a.created).changes > 0
    );
  }

  /** {@inheritDoc AccountStore.updateAccount} */
  updateAccount(a: Account): Promise<boolean> {
    return attempt(() => this.#sql.update.run(a.name, a.hash, a.stamp, a.since, a.key).changes > 0);
  }

  /** {@inheritDoc AccountStore.deleteAccount} */
  deleteAccount(key: string): Promise<boolean> {
    return attempt(() => {
      this.#db.exec("BEGIN");
      try {
        this.#sql.deleteSessions.run(key);
        const deleted = this.#sql.delete.run(key).changes > 0;
        this.#db.exec("COMMIT");
        return deleted;
      } catch (error) {
        this.#db.exec("ROLLBACK");
        throw error;
      }
    });
  }

  /** {@inheritDoc AccountStore.accounts} */
  accounts(): Promise<Account[]> {
    return attempt(() => (this.#sql.all.all() as unknown as Account[]).map((row) => ({ ...row })));
  }

  /** {@inheritDoc AccountStore.addSession} */
  addSession(s: PageSession): Promise<void> {
    return attempt(() => void this.#sql.addSession.run(s.id, s.key, s.stamp, s.expires));
  }

  /** {@inheritDoc AccountStore.session} */
  session(id: string, now: number): Promise<PageSession | null> {
    return attempt(() => {
      const row = this.#sql.session.get(id, now) as PageSession | undefined;
      return row === undefined ? null : { ...row };
    });
  }

  /** {@inheritDoc AccountStore.deleteSession} */
  deleteSession(id: string): Promise<void> {
    return attempt(() => void this.#sql.deleteSession.run(id));
  }

  /** Deletes at most one slice of expired sessions; `true` when there may be more. */
  pruneSlice(now: number): boolean {
    return Number(this.#sql.expire.run(now, PRUNE_SLICE).changes) >= PRUNE_SLICE;
  }

  /**
   * Files each account under its name's key as this build computes it: a regenerated confusables table
   * (`deno task build:names`) may change keys, and an account left under an old key would leave its name
   * unprotected. Two names that now collide keep the older account under the key; the other stays where it
   * was (a warning says which), and `hubbub accounts list` shows both.
   */
  #rekey(): void {
    const moves = (this.#sql.all.all() as unknown as Account[])
      .filter((a) => nameKey(a.name) !== a.key)
      .sort((a, b) => a.created - b.created);
    if (moves.length === 0) return;
    const move = this.#db.prepare("UPDATE OR IGNORE accounts SET key = ? WHERE key = ?");
    const moveSessions = this.#db.prepare("UPDATE sessions SET key = ? WHERE key = ?");
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      for (const a of moves) {
        const to = nameKey(a.name);
        if (move.run(to, a.key).changes > 0) moveSessions.run(to, a.key);
        else log.warn("account {name} collides with another under the new name key", { name: a.name });
      }
      this.#db.exec("COMMIT");
    } catch (error) {
      this.#db.exec("ROLLBACK");
      throw error;
    }
  }
}

/** Runs a statement, as a promise: a failing write (a full disk) rejects instead of throwing. */
function attempt<T>(run: () => T): Promise<T> {
  try {
    return Promise.resolve(run());
  } catch (error) {
    return Promise.reject(
      new Error(`Cannot use the accounts table: ${(error as Error).message}`, { cause: error }),
    );
  }
}
