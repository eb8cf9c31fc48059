/**
 * A store that keeps history, accounts and page sessions in process memory: fast, and gone at exit. For tests
 * and `--store memory`.
 * @module
 */

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

interface Log<T> {
  next: number;
  items: T[];
}

/** Options of {@linkcode MemoryStore}. */
export interface MemoryStoreOptions {
  /** Retention rules; defaults to 1000 messages per room and no age limit. */
  readonly retention?: Retention;
  /** Injected clock, for tests of age-based pruning. */
  readonly now?: () => number;
  /** How often age-based pruning runs (milliseconds); 0 turns the timer off. */
  readonly pruneEveryMs?: number;
}

/** The in-memory {@linkcode Store} and {@linkcode AccountStore}. */
export class MemoryStore implements Store, AccountStore {
  #rooms = new Map<string, Log<ChatMessage>>();
  #accounts = new Map<string, Account>();
  #sessions = new Map<string, PageSession>();
  #pairs = new Map<string, Log<DirectMessage>>();
  #retention: Retention;
  #now: () => number;

  /** Creates an empty store. */
  constructor(options: MemoryStoreOptions = {}) {
    this.#retention = options.retention ?? { limit: 1000, maxAgeMs: 0 };
    this.#now = options.now ?? Date.now;
    const every = options.pruneEveryMs ?? 30_000;
    if (this.#retention.maxAgeMs > 0 && every > 0) this.#timer = setInterval(() => this.prune(), every);
  }

  #timer: ReturnType<typeof setInterval> | undefined;

  /** {@inheritDoc Store.append} */
  append(message: NewMessage): Promise<ChatMessage> {
    const log = logOf(this.#rooms, roomKey(message.room));
    const stored = { ...message, id: log.next++ };
    push(log, stored, this.#retention.limit);
    return Promise.resolve(stored);
  }

  /** {@inheritDoc Store.appendDirect} */
  appendDirect(message: NewDirectMessage): Promise<DirectMessage> {
    const log = logOf(this.#pairs, pairKey(message.from, message.to));
    const stored = { ...message, id: log.next++ };
    push(log, stored, this.#retention.limit);
    return Promise.resolve(stored);
  }

  /** {@inheritDoc Store.range} */
  range(room: string, options: RangeOptions): Promise<Range<ChatMessage>> {
    return Promise.resolve(slice(this.#rooms.get(roomKey(room)), options, this.#retention.limit));
  }

  /** {@inheritDoc Store.rangeDirect} */
  rangeDirect(a: string, b: string, options: RangeOptions): Promise<Range<DirectMessage>> {
    return Promise.resolve(slice(this.#pairs.get(pairKey(a, b)), options, this.#retention.limit));
  }

  /** {@inheritDoc Store.prune} */
  prune(): Promise<void> {
    for (const [id, session] of this.#sessions) if (session.expires <= this.#now()) this.#sessions.delete(id);
    const { maxAgeMs } = this.#retention;
    if (maxAgeMs > 0) {
      const oldest = this.#now() - maxAgeMs;
      for (const logs of [this.#rooms, this.#pairs] as Map<string, Log<{ time: number }>>[]) {
        for (const log of logs.values()) {
          const keep = log.items.findIndex((m) => m.time >= oldest);
          log.items.splice(0, keep === -1 ? log.items.length : keep);
        }
      }
    }
    return Promise.resolve();
  }

  /** {@inheritDoc Store.close} */
  close(): Promise<void> {
    clearInterval(this.#timer);
    return Promise.resolve();
  }

  /** {@inheritDoc AccountStore.account} */
  account(key: string): Promise<Account | null> {
    return Promise.resolve(this.#accounts.get(key) ?? null);
  }

  /** {@inheritDoc AccountStore.addAccount} */
  addAccount(account: Account): Promise<boolean> {
    if (this.#accounts.has(account.key)) return Promise.resolve(false);
    this.#accounts.set(account.key, account);
    return Promise.resolve(true);
  }

  /** {@inheritDoc AccountStore.updateAccount} */
  updateAccount(account: Account): Promise<boolean> {
    if (!this.#accounts.has(account.key)) return Promise.resolve(false);
    this.#accounts.set(account.key, account);
    return Promise.resolve(true);
  }

  /** {@inheritDoc AccountStore.deleteAccount} */
  deleteAccount(key: string): Promise<boolean> {
    for (const [id, session] of this.#sessions) if (session.key === key) this.#sessions.delete(id);
    return Promise.resolve(this.#accounts.delete(key));
  }

  /** {@inheritDoc AccountStore.accounts} */
  accounts(): Promise<Account[]> {
    return Promise.resolve([...this.#accounts.values()]);
  }

  /** {@inheritDoc AccountStore.addSession} */
  addSession(session: PageSession): Promise<void> {
    this.#sessions.set(session.id, session);
    return Promise.resolve();
  }

  /** {@inheritDoc AccountStore.session} */
  session(id: string, now: number): Promise<PageSession | null> {
    const session = this.#sessions.get(id);
    if (session !== undefined && session.expires <= now) this.#sessions.delete(id);
    return Promise.resolve(session !== undefined && session.expires > now ? session : null);
  }

  /** {@inheritDoc AccountStore.deleteSession} */
  deleteSession(id: string): Promise<void> {
    this.#sessions.delete(id);
    return Promise.resolve();
  }
}

function logOf<T>(logs: Map<string, Log<T>>, key: string): Log<T> {
  let log = logs.get(key);
  if (!log) {
    log = { next: 1, items: [] };
    logs.set(key, log);
  }
  return log;
}

function push<T>(log: Log<T>, item: T, limit: number): void {
  log.items.push(item);
  // Trim in chunks so the array is not shifted on every append.
  if (log.items.length > limit + Math.max(16, limit >> 3)) log.items.splice(0, log.items.length - limit);
}

function slice<T extends { id: number }>(
  log: Log<T> | undefined,
  options: RangeOptions,
  keep: number,
): Range<T> {
  if (!log) return { messages: [], complete: isComplete(options, 1, 1) };
  const { after, before, limit } = options;
  // The array is trimmed in chunks; what is over the retention limit is already gone as far as readers know.
  const items = log.items.length > keep ? log.items.slice(log.items.length - keep) : log.items;
  const firstKept = items[0]?.id ?? log.next;
  let lo = 0;
  let hi = items.length;
  if (after !== undefined) lo = lowerBound(items, after + 1);
  if (before !== undefined) hi = lowerBound(items, before);
  if (hi < lo) hi = lo;
  const picked = after !== undefined
    ? items.slice(lo, Math.min(hi, lo + limit))
    : items.slice(Math.max(lo, hi - limit), hi);
  return { messages: picked, complete: isComplete(options, firstKept, log.next) };
}

function lowerBound<T extends { id: number }>(items: readonly T[], id: number): number {
  let lo = 0;
  let hi = items.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (items[mid]!.id < id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
