/**
 * Password hashes: scrypt (memory-hard) from `node:crypto`, a random 16-byte salt per hash, and the cost
 * parameters stored with the hash (`$scrypt$ln=14,r=8,p=1$<salt>$<hash>`, base64), so they can be raised
 * later without locking anyone out: a hash made with older parameters still verifies, and
 * {@linkcode needsRehash} says when to store a new one. Comparison is constant-time (`timingSafeEqual`).
 *
 * Deno runs the asynchronous `scrypt` off the event loop (measured: a 16 MiB hash takes ~50–100 ms on a
 * 2-core VM while timers on the loop still fire every few milliseconds; `tests/passwords_test.ts`). Each hash
 * holds `128·N·r` bytes (16 MiB at the defaults) while it runs, so at most {@linkcode MAX_HASHING} run at once
 * and at most {@linkcode MAX_WAITING} wait: a flood of logins costs bounded memory and is refused, not queued.
 *
 * Passwords are normalised (NFKC) before hashing, so the same password typed on two keyboards is one password.
 * @module
 */

import { Buffer } from "node:buffer";
import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";

/** scrypt's cost: `N = 2^ln` (memory and time), `r` (block size) and `p` (parallelism). */
export interface ScryptParams {
  /** log2 of N. */
  readonly ln: number;
  /** Block size. */
  readonly r: number;
  /** Parallelism. */
  readonly p: number;
}

/** hubbub's parameters: N = 2^14, r = 8, p = 1 (16 MiB; the scrypt paper's interactive-login setting). */
export const DEFAULT_SCRYPT: ScryptParams = { ln: 14, r: 8, p: 1 };

/** Hashes computed at once at most; more wait. */
export const MAX_HASHING = 2;
/** Hashes waiting at most; more are refused (`busy`). */
export const MAX_WAITING = 64;

/** Shortest password, in characters. */
export const MIN_PASSWORD = 8;
/** Longest password, in characters. */
export const MAX_PASSWORD = 128;

const KEY_BYTES = 32;
const SALT_BYTES = 16;
const PREFIX = "$scrypt$";

/** Thrown when too many hashes wait already: the caller refuses the attempt as busy. */
export class HashingBusyError extends Error {
  /** Creates the error. */
  constructor() {
    super("Busy: too many passwords are being checked; try again shortly");
    this.name = "HashingBusyError";
  }
}

/**
 * Why a new password cannot be used, or `null`. Passwords are 8–128 characters with no control characters
 * and no space at either end (TCP lines lose those, so every password can be typed in every door).
 */
export function checkPassword(password: string): string | null {
  const length = [...password].length;
  if (length < MIN_PASSWORD) return `a password needs at least ${MIN_PASSWORD} characters`;
  if (length > MAX_PASSWORD) return `a password has at most ${MAX_PASSWORD} characters`;
  if (/\p{Cc}/u.test(password)) return "a password cannot contain control characters";
  if (password.trim() !== password) return "a password cannot start or end with a space";
  return null;
}

/** Computes hashes, a bounded number at a time. */
export class PasswordHasher {
  readonly #params: ScryptParams;
  #running = 0;
  readonly #waiting: (() => void)[] = [];

  /** Creates a hasher that hashes new passwords with `params` (tests pass cheap ones). */
  constructor(params: ScryptParams = DEFAULT_SCRYPT) {
    this.#params = params;
  }

  /** The parameters new hashes get. */
  get params(): ScryptParams {
    return this.#params;
  }

  /** A new hash of `password` with a fresh salt. Rejects with {@linkcode HashingBusyError} when too busy. */
  async hash(password: string): Promise<string> {
    const salt = randomBytes(SALT_BYTES);
    const key = await this.#derive(password, salt, this.#params, KEY_BYTES);
    return encode(this.#params, salt, key);
  }

  /**
   * Whether `password` matches `stored`, in constant time. A malformed stored hash matches nothing. Rejects
   * with {@linkcode HashingBusyError} when too busy.
   */
  async verify(password: string, stored: string): Promise<boolean> {
    const parsed = decode(stored);
    if (parsed === null) return false;
    const key = await this.#derive(password, parsed.salt, parsed.params, parsed.key.length);
    return key.length === parsed.key.length && timingSafeEqual(key, parsed.key);
  }

  /** Whether `stored` was made with other parameters than new hashes get (so a login should store a new one). */
  needsRehash(stored: string): boolean {
    const params = decode(stored)?.params;
    return params === undefined || params.ln !== this.#params.ln || params.r !== this.#params.r ||
      params.p !== this.#params.p;
  }

  /** Hashes compared or computed right now, and waiting. */
  get load(): { readonly running: number; readonly waiting: number } {
    return { running: this.#running, waiting: this.#waiting.length };
  }

  async #derive(password: string, salt: Uint8Array, params: ScryptParams, bytes: number): Promise<Buffer> {
    if (this.#running >= MAX_HASHING) {
      if (this.#waiting.length >= MAX_WAITING) throw new HashingBusyError();
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
    this.#running++;
    try {
      return await derive(password.normalize("NFKC"), salt, params, bytes);
    } finally {
      this.#running--;
      this.#waiting.shift()?.();
    }
  }
}

function derive(password: string, salt: Uint8Array, params: ScryptParams, bytes: number): Promise<Buffer> {
  const N = 2 ** params.ln;
  // Node's default limit (32 MiB) refuses anything above N = 2^14, r = 8; allow what the parameters need.
  const maxmem = 129 * N * params.r * params.p + 1024 * 1024;
  return new Promise((resolve, reject) => {
    scrypt(password, salt, bytes, { N, r: params.r, p: params.p, maxmem }, (error, key) => {
      if (error) reject(error);
      else resolve(key);
    });
  });
}

function encode(params: ScryptParams, salt: Uint8Array, key: Uint8Array): string {
  const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64").replace(/=+$/, "");
  return `${PREFIX}ln=${params.ln},r=${params.r},p=${params.p}$${b64(salt)}$${b64(key)}`;
}

/** The parts of a stored hash, or `null` when it is not one this module wrote. */
function decode(stored: string): { params: ScryptParams; salt: Buffer; key: Buffer } | null {
  const match = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,3}),p=(\d{1,3})\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/.exec(
    stored,
  );
  if (!match) return null;
  const [ln, r, p] = [Number(match[1]), Number(match[2]), Number(match[3])];
  // Stored hashes come from our own store, but a hand-edited row must not make one login cost gigabytes.
  if (ln < 1 || ln > 20 || r < 1 || p < 1 || r * p > 64) return null;
  const key = Buffer.from(match[5]!, "base64");
  if (key.length < 16) return null;
  return { params: { ln, r, p }, salt: Buffer.from(match[4]!, "base64"), key };
}
