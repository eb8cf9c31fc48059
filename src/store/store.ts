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
