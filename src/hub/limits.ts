/**
 * Abuse limits every door applies the same way: a token bucket per connection for inbound lines and
 * frames, and a gate that counts connections in total and per IP address.
 * @module
 */

/** A limiting episode ends after this long without a limited arrival (milliseconds). */
const EPISODE_GAP_MS = 1000;

/** Options of {@linkcode TokenBucket}. */
export interface RateOptions {
  /** Tokens added per second; 0 means unlimited. */
  readonly rate: number;
  /** Bucket size: how many may arrive at once. */
  readonly burst: number;
  /** Continuous limiting for this long counts as a flood (milliseconds). */
  readonly floodAfterMs?: number;
  /** Injected clock, for tests. */
  readonly now?: () => number;
}

/** What {@linkcode TokenBucket.take} decided. */
export type Verdict =
  /** Within the limit. */
  | { readonly kind: "ok" }
  /** Over the limit: wait this long (fakelag) or refuse; `first` is true once per episode, to tell the client. */
  | { readonly kind: "limited"; readonly waitMs: number; readonly first: boolean }
  /** Limited without a break for longer than the flood window: disconnect. */
  | { readonly kind: "flood" };

/** A token bucket with flood detection, for one connection. */
export class TokenBucket {
  readonly #rate: number;
  readonly #burst: number;
  readonly #floodAfter: number;
  readonly #now: () => number;
  #tokens: number;
  #at: number;
  /** When the current limiting episode began; it lasts while limited arrivals keep coming. */
  #limitedSince: number | null = null;
  #lastLimited = 0;

  /** Creates a full bucket. */
  constructor(options: RateOptions) {
    this.#rate = options.rate;
    this.#burst = Math.max(1, options.burst);
    this.#floodAfter = options.floodAfterMs ?? 10_000;
    this.#now = options.now ?? performance.now.bind(performance);
    this.#tokens = this.#burst;
    this.#at = this.#now();
  }

  /** Takes one token for one inbound line or frame. */
  take(): Verdict {
    if (this.#rate <= 0) return { kind: "ok" };
    const now = this.#now();
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#at) / 1000) * this.#rate);
    this.#at = now;
    // An episode ends after a quiet second: a client refused (or slowed) at least once a second is still at it,
    // even when a refilled token lets the odd line through.
    if (this.#limitedSince !== null && now - this.#lastLimited >= EPISODE_GAP_MS) this.#limitedSince = null;
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return { kind: "ok" };
    }
    const first = this.#limitedSince === null;
    this.#limitedSince ??= now;
    this.#lastLimited = now;
    if (now - this.#limitedSince > this.#floodAfter) return { kind: "flood" };
    // The caller either waits this long and the token is then spent, or refuses the line.
    const waitMs = ((1 - this.#tokens) / this.#rate) * 1000;
    return { kind: "limited", waitMs, first };
  }

  /** Spends the token a `limited` verdict waited for (fakelag: the line is processed after the wait). */
  spendAfterWait(): void {
    this.#tokens -= 1;
  }
}

/** Options of {@linkcode ConnectionGate}. */
export interface GateOptions {
  /** Most open connections in total; 0 means unlimited. */
  readonly maxConnections: number;
  /** Most open connections from one IP address; 0 means unlimited. */
  readonly maxPerIp: number;
}

/** Counts open connections across every door; a door asks before it accepts. */
export class ConnectionGate {
  readonly #options: GateOptions;
  readonly #perIp = new Map<string, number>();
  #total = 0;

  /** Creates an empty gate. */
  constructor(options: GateOptions) {
    this.#options = options;
  }

  /** Open connections counted. */
  get total(): number {
    return this.#total;
  }

  /** Admits a connection from `ip`, or says why not. Every admitted connection must be released once. */
  admit(ip: string): { ok: true; release: () => void } | { ok: false; reason: string } {
    const { maxConnections, maxPerIp } = this.#options;
    if (maxConnections > 0 && this.#total >= maxConnections) {
      return { ok: false, reason: "too-many-connections" };
    }
    const count = this.#perIp.get(ip) ?? 0;
    if (maxPerIp > 0 && count >= maxPerIp) {
      return { ok: false, reason: "too-many-connections-from-your-address" };
    }
    this.#total++;
    this.#perIp.set(ip, count + 1);
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        this.#total--;
        const left = (this.#perIp.get(ip) ?? 1) - 1;
        if (left === 0) this.#perIp.delete(ip);
        else this.#perIp.set(ip, left);
      },
    };
  }
}
