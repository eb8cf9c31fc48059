/**
 * Password attempts, counted per address and per name, with lockout and backoff: the first failures are
 * free; past them each further failure locks the address (or the name) out for twice as long as the last
 * lockout, up to a ceiling; failures are forgotten after a quiet while. While locked out, attempts are refused
 * without looking at the password, so guessing on costs nothing but time. A correct password clears the
 * name's count (not the address's: one's own account must not buy more guesses at others). Registrations
 * count per address the same way, so one address cannot fill the store with accounts.
 *
 * IPv6 addresses count by their /64 network, which one host usually has whole. The tables are bounded: past
 * {@linkcode AttemptLimits.maxTracked} entries the quietest are forgotten first. Counts live in each process:
 * in a cluster every node counts on its own.
 * @module
 */

/** How one kind of key (address or name) is limited. */
export interface AttemptRule {
  /** Failures that cost nothing; the next one locks (for registrations: registrations allowed, then locked). */
  readonly free: number;
  /** The first lockout (milliseconds); each further failure doubles it. */
  readonly lockMs: number;
  /** The longest lockout (milliseconds). */
  readonly maxLockMs: number;
  /** Failures are forgotten this long after the last one (milliseconds). */
  readonly forgetMs: number;
}

/** The limits of {@linkcode Attempts}. */
export interface AttemptLimits {
  /** Per client address (IPv6: per /64). */
  readonly perIp: AttemptRule;
  /** Per name (by its key: look-alike spellings count together). */
  readonly perName: AttemptRule;
  /** Registrations per client address (IPv6: per /64); each registration counts as a failure does. */
  readonly registrations: AttemptRule;
  /** Entries kept per table at most; the oldest are forgotten first. */
  readonly maxTracked?: number;
}

/**
 * hubbub's limits: a name takes 5 wrong passwords, and each further one locks it for 1 min, 2, 4, ... up to
 * 1 h; an address takes 20, then the same backoff. Both forget after an hour without a failure. An address
 * registers 5 names, then waits 10 min, 20, 40, ... up to a day; it is forgotten after a day without one.
 */
export const DEFAULT_ATTEMPT_LIMITS: AttemptLimits = {
  perName: { free: 5, lockMs: 60_000, maxLockMs: 3_600_000, forgetMs: 3_600_000 },
  perIp: { free: 20, lockMs: 60_000, maxLockMs: 3_600_000, forgetMs: 3_600_000 },
  registrations: { free: 5, lockMs: 600_000, maxLockMs: 86_400_000, forgetMs: 86_400_000 },
  maxTracked: 100_000,
};

interface Entry {
  failures: number;
  lastAt: number;
  lockedUntil: number;
}

/** The verdict on an attempt about to be made. */
export type AttemptVerdict =
  | { readonly ok: true }
  | { readonly ok: false; readonly by: "ip" | "name"; readonly retryMs: number };

/** Counts failed password attempts and says when to refuse more. */
export class Attempts {
  readonly #limits: AttemptLimits;
  readonly #now: () => number;
  readonly #ips = new Map<string, Entry>();
  readonly #names = new Map<string, Entry>();
  readonly #registrations = new Map<string, Entry>();

  /** Creates empty tables. */
  constructor(limits: AttemptLimits = DEFAULT_ATTEMPT_LIMITS, now: () => number = Date.now) {
    this.#limits = limits;
    this.#now = now;
  }

  /** Whether an attempt from `ip` at the name of key `name` may be made now. */
  check(ip: string, name: string): AttemptVerdict {
    const now = this.#now();
    const byIp = this.#lockedFor(this.#ips, ipKey(ip), this.#limits.perIp, now);
    const byName = this.#lockedFor(this.#names, name, this.#limits.perName, now);
    if (byIp === 0 && byName === 0) return { ok: true };
    return byIp >= byName
      ? { ok: false, by: "ip", retryMs: byIp }
      : { ok: false, by: "name", retryMs: byName };
  }

  /** A wrong password from `ip` for the name of key `name`. */
  failed(ip: string, name: string): void {
    const now = this.#now();
    this.#fail(this.#ips, ipKey(ip), this.#limits.perIp, now);
    this.#fail(this.#names, name, this.#limits.perName, now);
  }

  /** Whether `ip` may register a name now. */
  checkRegistration(ip: string): AttemptVerdict {
    const retryMs = this.#lockedFor(this.#registrations, ipKey(ip), this.#limits.registrations, this.#now());
    return retryMs === 0 ? { ok: true } : { ok: false, by: "ip", retryMs };
  }

  /** `ip` registered a name. */
  registered(ip: string): void {
    // A registration is no failure: the allowance is spent when it is reached, not when it is passed.
    const rule = this.#limits.registrations;
    this.#fail(this.#registrations, ipKey(ip), { ...rule, free: rule.free - 1 }, this.#now());
  }

  /** A right password for the name of key `name`: its count starts over. */
  succeeded(name: string): void {
    this.#names.delete(name);
  }

  /** Entries tracked, for tests and metrics. */
  get size(): { readonly ips: number; readonly names: number } {
    return { ips: this.#ips.size, names: this.#names.size };
  }

  #lockedFor(table: Map<string, Entry>, key: string, rule: AttemptRule, now: number): number {
    const entry = table.get(key);
    if (entry === undefined) return 0;
    if (now - entry.lastAt >= rule.forgetMs) {
      table.delete(key);
      return 0;
    }
    return Math.max(0, entry.lockedUntil - now);
  }

  #fail(table: Map<string, Entry>, key: string, rule: AttemptRule, now: number): void {
    let entry = table.get(key);
    if (entry === undefined || now - entry.lastAt >= rule.forgetMs) {
      entry = { failures: 0, lastAt: now, lockedUntil: 0 };
    }
    // Re-inserted, so the map's order is the order of last failures: the quietest go first when it is full.
    table.delete(key);
    entry.failures++;
    entry.lastAt = now;
    const over = entry.failures - rule.free;
    if (over > 0) {
      entry.lockedUntil = now + Math.min(rule.maxLockMs, rule.lockMs * 2 ** Math.min(over - 1, 30));
    }
    table.set(key, entry);
    const max = this.#limits.maxTracked ?? 100_000;
    for (const old of table.keys()) {
      if (table.size <= max) break;
      table.delete(old);
    }
  }
}

/** The key an address counts under: itself for IPv4, its /64 network for IPv6. */
export function ipKey(ip: string): string {
  if (!ip.includes(":")) return ip;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1]!;
  const [head = "", tail = ""] = ip.toLowerCase().split("%")[0]!.split("::");
  const left = head === "" ? [] : head.split(":");
  const right = tail === "" ? [] : tail.split(":");
  const groups = ip.includes("::")
    ? [...left, ...Array(8 - left.length - right.length).fill("0"), ...right]
    : left;
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, "")).join(":")}::/64`;
}
