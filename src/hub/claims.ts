/**
 * Claims of names: when the current holder of a name began holding it. DM history is keyed by names, and
 * names are reused; a holder reads DMs only from the start of its own claim, so whoever takes `alice` after
 * alice left reads nothing alice said.
 *
 * A claim begins when a name gets its first connection (here or, heard over the bus, on another node) and
 * ends when its last one goes. A claim that ends is remembered for a while: a connection presenting the same
 * session token (a page reconnecting) resumes it, start and all. Anyone else, or no token, begins a new claim,
 * which also replaces the remembered one, so once someone else has held the name the old token resumes
 * nothing. Ended claims are kept for `retentionMs` (default 24 h) and at most `maxEnded` of them (default
 * 10 000, the oldest forgotten first): forgetting one only means its holder starts afresh, never that anyone
 * reads more.
 * @module
 */

import type { DirectMessage } from "../model.ts";
import type { Range, RangeOptions, Store } from "../store/store.ts";

/** Options of {@linkcode Claims}. */
export interface ClaimsOptions {
  /** How long an ended claim can be resumed (milliseconds; default 24 h). */
  readonly retentionMs?: number;
  /** Ended claims remembered at most; the oldest go first (default 10 000). */
  readonly maxEnded?: number;
  /** Injected clock, for tests. */
  readonly now?: () => number;
}

/** Options of {@linkcode Claims.begin}. */
export interface BeginOptions {
  /** The claim's start as another node told it (a remote holder); now by default. */
  readonly since?: number;
  /** Carry on the claim that just ended whatever the token (a connection changing only its name's case). */
  readonly same?: boolean;
}

interface Claim {
  readonly token: string | null;
  readonly since: number;
  /** The latest time stamped on a DM to or from the holder on this node. */
  last: number;
  /** When the last holder went; `null` while held. */
  endedAt: number | null;
}

/** Claim starts by name key. */
export class Claims {
  readonly #held = new Map<string, Claim>();
  /** Ended claims in the order they ended, so the oldest are the first to go. */
  readonly #ended = new Map<string, Claim>();
  readonly #retentionMs: number;
  readonly #maxEnded: number;
  readonly #now: () => number;

  /** Creates an empty table. */
  constructor(options: ClaimsOptions = {}) {
    this.#retentionMs = options.retentionMs ?? 24 * 60 * 60 * 1000;
    this.#maxEnded = options.maxEnded ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  /**
   * A name gets a holder: resumes the held or recently ended claim when `token` matches it (a non-null token
   * only), otherwise begins a new one. Returns the claim's start. A new claim starts after the previous one
   * ended and after every DM stamped for it here, so nothing the previous holder exchanged falls inside it.
   */
  begin(key: string, token: string | null, options: BeginOptions = {}): number {
    this.#expire();
    const old = this.#held.get(key) ?? this.#ended.get(key);
    const resumed = old !== undefined && (options.same === true || (token !== null && old.token === token));
    const since = resumed
      ? old.since
      : Math.max(options.since ?? this.#now(), (old?.endedAt ?? -Infinity) + 1);
    this.#ended.delete(key);
    this.#held.set(key, { token, since, last: Math.max(since, old?.last ?? -Infinity), endedAt: null });
    return since;
  }

  /**
   * The time to stamp on a DM between two holders: now, but never before either claim began (another node's
   * clock may be ahead, or a claim began this very millisecond after the previous holder left), so both
   * always read what they exchanged. Remembered: a later claim of either name starts after it.
   */
  stamp(from: string, to: string): number {
    const a = this.#held.get(from);
    const b = this.#held.get(to);
    const time = Math.max(this.#now(), a?.since ?? -Infinity, b?.since ?? -Infinity);
    if (a) a.last = Math.max(a.last, time);
    if (b) b.last = Math.max(b.last, time);
    return time;
  }

  /** The name's last holder went (`at`: when, as the node it was on tells it). Remembered for resuming. */
  end(key: string, at?: number): void {
    const claim = this.#held.get(key);
    if (!claim) return;
    this.#held.delete(key);
    claim.endedAt = Math.max(this.#now(), at ?? -Infinity, claim.last);
    this.#ended.set(key, claim);
    this.#expire();
  }

  /** When the current holder's claim began, or `null` when nobody holds the name. */
  since(key: string): number | null {
    return this.#held.get(key)?.since ?? null;
  }

  /** How many claims are held and how many ended ones are remembered. */
  get size(): { readonly held: number; readonly ended: number } {
    return { held: this.#held.size, ended: this.#ended.size };
  }

  #expire(): void {
    const oldest = this.#now() - this.#retentionMs;
    for (const [key, claim] of this.#ended) {
      if (this.#ended.size <= this.#maxEnded && claim.endedAt! >= oldest) break;
      this.#ended.delete(key);
    }
  }
}

/** How many DMs a read past the claim's start fetches at a time. */
const SINCE_BATCH = 200;

/**
 * A DM range cut at `since`: messages stamped before it are not the asker's. Newest-first ranges simply drop
 * them (all older ones are older still); oldest-first ranges (`after`) read on past them, so a page is only
 * short when the conversation ends. A range the cut shortened is complete: nothing older is the asker's.
 */
export async function readSince(
  store: Store,
  a: string,
  b: string,
  options: RangeOptions,
  since: number,
): Promise<Range<DirectMessage>> {
  if (options.after === undefined) {
    const range = await store.rangeDirect(a, b, options);
    const messages = range.messages.filter((m) => m.time >= since);
    return messages.length === range.messages.length ? range : { messages, complete: true };
  }
  const messages: DirectMessage[] = [];
  const batch = Math.max(options.limit, SINCE_BATCH);
  let after = options.after;
  let cut = false;
  let complete = true;
  let first = true;
  do {
    const range = await store.rangeDirect(a, b, { ...options, after, limit: batch });
    if (first) complete = range.complete;
    first = false;
    for (const m of range.messages) {
      if (m.time < since) cut = true;
      else if (messages.length < options.limit) messages.push(m);
    }
    const last = range.messages.at(-1);
    if (last === undefined || range.messages.length < batch) break;
    after = last.id;
  } while (messages.length < options.limit);
  return { messages, complete: cut || complete };
}
