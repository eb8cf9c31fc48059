/**
 * What the Redis store and the Redis bus share: a thin link over the `redis` client (node-redis, maintained
 * by Redis itself), the key layout, and Lua scripts run by their SHA.
 *
 * node-redis reconnects by itself (with the backoff below) and re-subscribes after a reconnect. Its offline
 * queue is off for commands, so a message hubbub cannot store fails at once with an error instead of waiting
 * in memory. Commands go as plain argument lists, the way the Redis documentation writes them.
 * @module
 */

import { createClient } from "redis";

/** Prefix of every key and channel hubbub uses, so one Redis can serve other things too. */
export const PREFIX = "hubbub:";

/** The channel every node listens to. */
export const CHANNEL = `${PREFIX}events`;

/** Keys of one room's (or DM pair's) log. */
export function logKeys(kind: "room" | "dm", key: string): { seq: string; log: string } {
  return { seq: `${PREFIX}${kind}:${key}:seq`, log: `${PREFIX}${kind}:${key}:log` };
}

/** A Lua script and its SHA-1, computed once. */
export class Script {
  readonly text: string;
  #sha: Promise<string> | null = null;

  /** Wraps the script's source. */
  constructor(text: string) {
    this.text = text;
  }

  /** The SHA-1 Redis knows the script by. */
  sha(): Promise<string> {
    this.#sha ??= crypto.subtle.digest("SHA-1", new TextEncoder().encode(this.text)).then((digest) =>
      [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("")
    );
    return this.#sha;
  }
}

/** Options of {@linkcode RedisLink}. */
export interface RedisLinkOptions {
  /** `redis://host:port/db`. */
  readonly url: string;
  /** Queue commands while disconnected (the subscriber does; command clients fail fast instead). */
  readonly offlineQueue: boolean;
  /** Called with each connection error (the link keeps reconnecting). */
  readonly onError?: (error: Error) => void;
  /** Called each time the connection is (again) ready. */
  readonly onReady?: () => void;
}

/** One Redis connection. */
export class RedisLink {
  readonly #client: ReturnType<typeof createClient>;
  #closed = false;

  /** Creates the client and starts connecting in the background. */
  constructor(options: RedisLinkOptions) {
    this.#client = createClient({
      url: options.url,
      disableOfflineQueue: !options.offlineQueue,
      socket: {
        // Backoff: 100 ms, 200 ms, ... at most 2 s between attempts, forever.
        reconnectStrategy: (retries: number) => Math.min((retries + 1) * 100, 2000),
        connectTimeout: 2000,
      },
    });
    this.#client.on("error", (error: Error) => options.onError?.(error));
    if (options.onReady) this.#client.on("ready", options.onReady);
    this.#client.connect().catch((error: Error) => options.onError?.(error));
  }

  /** Connected and ready for commands. */
  get ready(): boolean {
    return this.#client.isReady;
  }

  /** Sends one command. */
  command(args: readonly (string | number)[]): Promise<unknown> {
    return this.#client.sendCommand(args.map(String));
  }

  /** Runs commands in one MULTI/EXEC; resolves with each reply. */
  async transaction(commands: readonly (readonly (string | number)[])[]): Promise<unknown[]> {
    let tx = this.#client.multi();
    for (const args of commands) tx = tx.addCommand(args.map(String));
    return await tx.exec() as unknown[];
  }

  /** Runs a script by SHA, loading it on first use (`NOSCRIPT`). */
  async script(
    script: Script,
    keys: readonly string[],
    args: readonly (string | number)[],
  ): Promise<unknown> {
    const tail = [String(keys.length), ...keys, ...args.map(String)];
    try {
      return await this.#client.sendCommand(["EVALSHA", await script.sha(), ...tail]);
    } catch (error) {
      if (!String((error as Error).message).startsWith("NOSCRIPT")) throw error;
      return await this.#client.sendCommand(["EVAL", script.text, ...tail]);
    }
  }

  /** Listens to a channel; the client re-subscribes by itself after a reconnect. */
  async subscribe(channel: string, listener: (message: string) => void): Promise<void> {
    await this.#client.subscribe(channel, listener);
  }

  /** Closes the connection without waiting for pending replies. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#client.destroy();
  }
}
