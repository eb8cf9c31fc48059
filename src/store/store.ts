/**
 * The history store interface: where the hub appends messages and reads them back.
 *
 * A store assigns ids: a room's ids only grow, also across restarts, so the store that remembers the
 * messages is the one that numbers them. `append` resolves only once the message is as durable as the
 * store promises (see the README), and the hub acknowledges nothing before that.
 * @module
 */

import type { ChatMessage, DirectMessage } from "../model.ts";
import { storageKey } from "../names.ts";

/** A room message before the store has numbered it. */
export type NewMessage = Omit<ChatMessage, "id">;

/** A direct message before the store has numbered it. */
export type NewDirectMessage = Omit<DirectMessage, "id">;

/** Which slice of a room's history to read. Ids are exclusive bounds. */
export interface RangeOptions {
  /** Only messages with a larger id. */
  readonly after?: number;
  /** Only messages with a smaller id. */
  readonly before?: number;
  /** At most this many; the newest of the range unless `after` is given, then the oldest. */
  readonly limit: number;
}

/** A slice of history, oldest first. */
export interface Range<T> {
  /** The messages, oldest first. */
  readonly messages: readonly T[];
  /** `false` when retention already removed messages the range asked for. */
  readonly complete: boolean;
}

/**
 * Whether retention left a range whole. Ids of a log have no gaps, so with `firstKept` (the oldest id still
 * stored) and `next` (the id the next message will get) the ids a range asked for are known. An `after` the
 * log never reached is not whole either: the asker saw that id in a history since lost (a Redis that came
 * back empty, a memory store restarted), and what it missed is gone.
 */
export function isComplete(options: RangeOptions, firstKept: number, next: number): boolean {
  if (options.after !== undefined) return options.after < next && options.after + 1 >= firstKept;
  // Without `after`, a range asks for the `limit` ids just below `before` (or below `next`).
  const top = Math.min(options.before ?? next, next);
  return Math.max(1, top - options.limit) >= firstKept;
}

/**
 * The key of a DM pair in every store: both names folded with {@linkcode storageKey} (case and NFKC, not
 * look-alikes, so a newer confusables table never moves a history) and sorted, so `a→b` and `b→a`, `Zed` and
 * `zed`, share one history. Names never contain U+0000, so the key is unambiguous.
 */
export function pairKey(a: string, b: string): string {
  const [x, y] = [storageKey(a), storageKey(b)].sort();
  return `${x}\u0000${y}`;
}

/** How long history is kept. Both limits apply when both are set. */
export interface Retention {
  /** Messages kept per room (and per DM pair); 0 keeps none. */
  readonly limit: number;
  /** Messages older than this many milliseconds are pruned; 0 keeps them regardless of age. */
  readonly maxAgeMs: number;
}

/** Where history lives. Implementations: `memory` (tests), `sqlite` (the default). */
export interface Store {
  /** Numbers and stores a room message; resolves once it is durable. Rejects when it cannot be stored. */
  append(message: NewMessage): Promise<ChatMessage>;
  /** Numbers and stores a DM in the pair's own history. */
  appendDirect(message: NewDirectMessage): Promise<DirectMessage>;
  /** Reads a slice of a room's history. */
  range(room: string, options: RangeOptions): Promise<Range<ChatMessage>>;
  /** Reads a slice of the DM history between two members. */
  rangeDirect(a: string, b: string, options: RangeOptions): Promise<Range<DirectMessage>>;
  /** Applies the retention rules now. */
  prune(): Promise<void>;
  /** Whether the store can take messages now (for `/readyz`); stores that are always ready may omit it. */
  ready?(): boolean;
  /** Flushes and releases the store. */
  close(): Promise<void>;
}

/**
 * A registered name: who may hold it and from when its DMs are the account's. Filed under the name's key
 * (`nameKey`), so a look-alike spelling finds the same account.
 */
export interface Account {
  /** The name's key (`nameKey`): what look-alikes share. */
  readonly key: string;
  /** The name as registered, for display. */
  readonly name: string;
  /** The password hash with its parameters (`$scrypt$ln=14,r=8,p=1$<salt>$<hash>`, see `src/hub/passwords.ts`). */
  readonly hash: string;
  /** Random; changed by a password reset, which ends every page session opened before it. */
  readonly stamp: string;
  /** DMs of the name stamped from this time on belong to the account (the registering claim's start). */
  readonly since: number;
  /** When the account was registered (milliseconds since the epoch). */
  readonly created: number;
}

/** A page's sign-in (the cookie's token), as stored: only the token's hash is kept. */
export interface PageSession {
  /** SHA-256 of the token, hex: a stolen table holds no usable token. */
  readonly id: string;
  /** The account's key. */
  readonly key: string;
  /** The account's stamp when the session was opened; a reset changes the account's and ends the session. */
  readonly stamp: string;
  /** When the session ends (milliseconds since the epoch). */
  readonly expires: number;
}

/**
 * Where accounts and page sessions live: the same store as history (a SQLite table, a Redis hash in a
 * cluster, or memory). The hub sees only this interface.
 */
export interface AccountStore {
  /** The account filed under `key`, or `null`. */
  account(key: string): Promise<Account | null>;
  /** Files a new account; `false` (and nothing changes) when one is already filed under its key. */
  addAccount(account: Account): Promise<boolean>;
  /** Replaces an existing account (a new hash and stamp); `false` when there is none under its key. */
  updateAccount(account: Account): Promise<boolean>;
  /** Removes an account; `false` when there was none. Its sessions end with it. */
  deleteAccount(key: string): Promise<boolean>;
  /** Every account, in no particular order. */
  accounts(): Promise<Account[]>;
  /** Keeps a page session until it expires. */
  addSession(session: PageSession): Promise<void>;
  /** The session of that id, or `null` when there is none or it has expired. */
  session(id: string, now: number): Promise<PageSession | null>;
  /** Ends a session (signing out). */
  deleteSession(id: string): Promise<void>;
}

/** Whether a store also keeps accounts (every store of hubbub does; a test's stand-in may not). */
export function hasAccounts(store: object): store is AccountStore {
  return "account" in store && "addAccount" in store && "session" in store;
}
