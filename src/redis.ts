/**
 * What the Redis store and the Redis bus share: a thin link over the `redis` client (node-redis, maintained
 * by Redis itself), the key layout, and Lua scripts.
 *
 * node-redis reconnects by itself (with the backoff below) and re-subscribes after a reconnect. Its offline
 * queue is off for commands, so a message hubbub cannot store fails at once with an error instead of waiting
 * in memory. Commands go as plain argument lists, the way the Redis documentation writes them. A Lua script goes
 * by its text until Redis has run it on the connection, then by its SHA (`EVALSHA`): never resent after a
 * `NOSCRIPT`, which would let the calls pipelined behind it run first.
 *
 * A Redis that hangs (stopped, swapping, a blocked event loop) keeps its connections open and answers nothing,
 * and node-redis's own timeouts stop counting once a command is written to the socket. So the link keeps its
 * own watch: every command it sends is answered within a timeout or fails, a probe (`TIME`, or `PING` on a
 * subscriber) goes out every quarter of that timeout, and a link with a command unanswered for longer counts as
 * hung: it refuses commands at once, sends only its probe, and is ready again as soon as the probe is answered.
 * How many commands may wait for an answer is bounded too; past it they are refused at once.
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { createClient } from "redis";

const log = getLogger(["hubbub", "redis"]);

/** Prefix of every key and channel hubbub uses, so one Redis can serve other things too. */
export const PREFIX = "hubbub:";

/** The channel every node listens to. */
export const CHANNEL = `${PREFIX}events`;

/** Keys of one room's (or DM pair's) log. */
export function logKeys(kind: "room" | "dm", key: string): { seq: string; log: string } {
  return { seq: `${PREFIX}${kind}:${key}:seq`, log: `${PREFIX}${kind}:${key}:log` };
}

/** A Lua script and its SHA-1 (known a moment after the script is created). */
export class Script {
  readonly text: string;
  #sha: string | undefined;

  /** Wraps the script's source and starts computing its SHA-1. */
  constructor(text: string) {
    this.text = text;
    void crypto.subtle.digest("SHA-1", new TextEncoder().encode(text)).then((digest) => {
      this.#sha = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
    });
  }

  /** The SHA-1 Redis knows the script by, once computed. */
  get sha(): string | undefined {
    return this.#sha;
  }
}

/** Options of {@linkcode RedisLink}. */
export interface RedisLinkOptions {
  /** `redis://host:port/db`. */
  readonly url: string;
  /** What the link is for, in its log records (`store`, `bus`, `subscriber`). */
  readonly name: string;
  /**
   * A subscriber queues its `SUBSCRIBE` while disconnected and probes with `PING`, all a subscribed connection
   * may send; command links fail fast instead and probe with `TIME`, which also tells Redis's clock.
   */
  readonly subscriber?: boolean;
  /** A command unanswered this long fails, and the link counts as hung until Redis answers (default 2 s). */
  readonly timeoutMs?: number;
  /** Commands waiting for an answer at most; past it a command is refused at once (default 10 000). */
  readonly maxInFlight?: number;
  /** Called with each connection error (the link keeps reconnecting). */
  readonly onError?: (error: Error) => void;
  /** Called each time the link is (again) ready: connected and its probe answered, after a reconnect or a hang. */
  readonly onReady?: () => void;
}

/** The default of {@linkcode RedisLinkOptions.timeoutMs}. */
export const REDIS_TIMEOUT_MS = 2000;

/** The default of {@linkcode RedisLinkOptions.maxInFlight}. */
export const REDIS_MAX_IN_FLIGHT = 10_000;

/** A command waiting for its answer. */
interface Waiter {
  /** When it was sent (`performance.now()`). */
  readonly sent: number;
  /** Answered, failed, or given up on. */
  settled: boolean;
  /** Gives up on it: its caller gets the timeout error. */
  readonly expire: () => void;
}

/** One Redis connection. */
export class RedisLink {
  readonly #client: ReturnType<typeof createClient>;
  readonly #name: string;
  readonly #subscriber: boolean;
  readonly #timeoutMs: number;
  readonly #maxInFlight: number;
  readonly #onReady: (() => void) | undefined;
  readonly #timer: ReturnType<typeof setInterval>;
  #closed = false;
  /** The probe since the last (re)connect was answered. */
  #answered = false;
  /** When a command went unanswered past the timeout (`performance.now()`), until a probe is answered. */
  #hungSince: number | null = null;
  #probing = false;
  /** Redis's clock minus ours (milliseconds), from the last `TIME` probe. */
  #offsetMs = 0;
  /** Commands sent and not answered yet, those given up on included: what Redis may still answer. */
  #inFlight = 0;
  /** Commands sent, oldest first, until answered or given up on; `#head` is the first still watched. */
  #waiting: Waiter[] = [];
  #head = 0;
  /** Scripts Redis has run by their text on this connection; a new connection starts empty (Redis restarted). */
  #known = new Set<Script>();

  /** Creates the client and starts connecting in the background. */
  constructor(options: RedisLinkOptions) {
    this.#name = options.name;
    this.#subscriber = options.subscriber ?? false;
    this.#timeoutMs = options.timeoutMs ?? REDIS_TIMEOUT_MS;
    this.#maxInFlight = options.maxInFlight ?? REDIS_MAX_IN_FLIGHT;
    this.#onReady = options.onReady;
    this.#client = createClient({
      url: options.url,
      disableOfflineQueue: !this.#subscriber,
      socket: {
        // Backoff: 100 ms, 200 ms, ... at most 2 s between attempts, forever.
        reconnectStrategy: (retries: number) => Math.min((retries + 1) * 100, 2000),
        connectTimeout: 2000,
      },
    });
    this.#client.on("error", (error: Error) => options.onError?.(error));
    // Connected is not ready: a Redis still loading its data accepts connections and answers LOADING.
    this.#client.on("ready", () => {
      this.#answered = false;
      this.#known = new Set();
      this.#probe();
    });
    this.#client.connect().catch((error: Error) => options.onError?.(error));
    this.#timer = setInterval(() => this.#tick(), Math.max(25, Math.floor(this.#timeoutMs / 4)));
  }

  /** Connected, answering, and not hung. */
  get ready(): boolean {
    return this.#client.isReady && this.#answered && this.#hungSince === null;
  }

  /**
   * The time on Redis's clock (milliseconds) after which a command sent now has been given up on: a script
   * that checks it does nothing when Redis runs it too late, e.g. after a hang.
   */
  deadline(): number {
    return Date.now() + this.#offsetMs + this.#timeoutMs;
  }

  /** Sends one command. */
  command(args: readonly (string | number)[]): Promise<unknown> {
    return this.#send(() => this.#client.sendCommand(args.map(String)));
  }

  /** Runs commands in one MULTI/EXEC; resolves with each reply. */
  transaction(commands: readonly (readonly (string | number)[])[]): Promise<unknown[]> {
    return this.#send(() => {
      let tx = this.#client.multi();
      for (const args of commands) tx = tx.addCommand(args.map(String));
      return tx.exec() as Promise<unknown[]>;
    });
  }

  /**
   * Runs a script: by its text until Redis has run it on this connection, by its SHA after that. Calls go out in
   * call order and Redis runs them in that order: a call is never sent again, so none overtakes another.
   */
  script(
    script: Script,
    keys: readonly string[],
    args: readonly (string | number)[],
  ): Promise<unknown> {
    const tail = [String(keys.length), ...keys, ...args.map(String)];
    const known = this.#known;
    if (!known.has(script) || script.sha === undefined) {
      return this.#send(() => this.#client.sendCommand(["EVAL", script.text, ...tail])).then((reply) => {
        known.add(script);
        return reply;
      });
    }
    // Redis forgot it (SCRIPT FLUSH): this call fails rather than running again behind later ones, and the
    // next calls go by text.
    return this.#send(() => this.#client.sendCommand(["EVALSHA", script.sha!, ...tail])).catch((error) => {
      if (String((error as Error).message).startsWith("NOSCRIPT")) known.delete(script);
      throw error;
    });
  }

  /** Listens to a channel; the client re-subscribes by itself after a reconnect. */
  async subscribe(channel: string, listener: (message: string) => void): Promise<void> {
    await this.#client.subscribe(channel, listener);
  }

  /** Closes the connection without waiting for pending replies. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    this.#client.destroy();
  }

  /** Sends a command if the link is ready and not too far behind; otherwise refuses it at once. */
  #send<T>(send: () => Promise<T>): Promise<T> {
    if (!this.ready) {
      const why = this.#hungSince !== null ? "it does not answer" : "not connected";
      return Promise.reject(new Error(`Cannot reach Redis: ${why}`));
    }
    if (this.#inFlight >= this.#maxInFlight) {
      return Promise.reject(
        new Error(`Cannot send to Redis: ${this.#maxInFlight} commands already wait for an answer`),
      );
    }
    return this.#watch(send);
  }

  /**
   * Sends a command and fails it when it is not answered within the timeout (see `#tick`). It counts against
   * `maxInFlight` unless it is the probe (one at most).
   */
  #watch<T>(send: () => Promise<T>, counted = true): Promise<T> {
    const count = counted ? 1 : 0;
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter = {
        sent: performance.now(),
        settled: false,
        expire: () => {
          waiter.settled = true;
          reject(new Error(`Cannot use Redis: no answer within ${this.#timeoutMs} ms`));
        },
      };
      this.#waiting.push(waiter);
      this.#inFlight += count;
      // What Redis answers after the caller gave up is dropped; until then it still counts as in flight.
      send().then((value) => {
        this.#inFlight -= count;
        if (waiter.settled) return;
        waiter.settled = true;
        resolve(value);
      }, (error) => {
        this.#inFlight -= count;
        if (waiter.settled) return;
        waiter.settled = true;
        reject(error);
      });
    });
  }

  /** Gives up on commands older than the timeout (marking the link hung), then probes. */
  #tick(): void {
    const now = performance.now();
    // Commands were sent in this order: the first one young enough ends the sweep.
    while (this.#head < this.#waiting.length) {
      const waiter = this.#waiting[this.#head]!;
      if (!waiter.settled) {
        if (now - waiter.sent < this.#timeoutMs) break;
        waiter.expire();
        this.#hung(now);
      }
      this.#head++;
    }
    if (this.#head > 1024 && this.#head * 2 > this.#waiting.length) {
      this.#waiting = this.#waiting.slice(this.#head);
      this.#head = 0;
    }
    this.#probe();
  }

  #hung(now: number): void {
    if (this.#hungSince !== null) return;
    this.#hungSince = now;
    log.warn("redis ({link}): no answer within {timeout} ms; refusing commands until it answers", {
      link: this.#name,
      timeout: this.#timeoutMs,
    });
  }

  /** One probe at a time, on a connected link; its answer makes the link ready (again). */
  #probe(): void {
    if (this.#probing || this.#closed || !this.#client.isReady) return;
    this.#probing = true;
    const sentAt = Date.now();
    const reply = this.#client.sendCommand([this.#subscriber ? "PING" : "TIME"]);
    // Watched like any command, so that a probe going unanswered marks the link hung...
    this.#watch(() => reply, false).catch(() => {});
    // ...but its answer counts however late it comes: it comes after everything sent before it.
    reply.then((value) => {
      this.#probing = false;
      this.#answer(value, sentAt);
    }, () => {
      // An error answer (LOADING, BUSY) or a lost connection: not ready until a probe is answered.
      this.#probing = false;
      this.#answered = false;
    });
  }

  /** Marks the link as answering; calls `onReady` when that makes it ready. */
  #answer(reply: unknown, sentAt: number): void {
    if (Array.isArray(reply)) {
      const [seconds, micros] = reply.map(Number) as [number, number];
      this.#offsetMs = seconds * 1000 + Math.floor(micros / 1000) - (sentAt + Date.now()) / 2;
    }
    const wasReady = this.ready;
    this.#answered = true;
    if (this.#hungSince !== null) {
      log.info("redis ({link}) answers again after {ms} ms", {
        link: this.#name,
        ms: Math.round(performance.now() - this.#hungSince),
      });
      this.#hungSince = null;
    }
    if (!wasReady && this.ready) this.#onReady?.();
  }
}
