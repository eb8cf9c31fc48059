/**
 * History in Redis Streams, for a cluster (`--redis`).
 *
 * One Lua script numbers a message (`INCR`), appends it to the room's stream (`XADD` with the number as the
 * entry id, trimmed to the retention limit) and publishes it to every node (`PUBLISH`), as one atomic step:
 * ids have no gaps or duplicates, the stream's order is the delivery order, and a message is acknowledged
 * only once Redis has stored it. Delivery to members happens when the bus hears the publication, on every
 * node alike. Each append carries its deadline on Redis's clock: one that Redis runs after its sender was told
 * it failed (Redis hung meanwhile) stores and publishes nothing.
 *
 * Accounts are one hash (`hubbub:accounts`, a field per name key, the account as JSON) shared by the cluster;
 * page sessions are keys of their own (`hubbub:session:<id>`) that Redis expires when the session does.
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { ChatMessage, DirectMessage } from "../model.ts";
import { roomKey } from "../names.ts";
import { CHANNEL, logKeys, PREFIX, RedisLink, Script } from "../redis.ts";
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
import type { Histogram } from "../metrics.ts";

const log = getLogger(["hubbub", "store"]);

// KEYS: seq, log, channel. ARGV: message JSON (no id), retention limit, event kind, deadline (ms, Redis's
// clock). Past the deadline the sender has been told the message was not sent (Redis hung meanwhile): 0, and
// nothing is stored or published.
const APPEND = new Script(`
local now = redis.call('TIME')
if tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) > tonumber(ARGV[4]) then return 0 end
local id = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[2], id .. '-1', 'm', ARGV[1])
redis.call('PUBLISH', KEYS[3], '{"kind":"' .. ARGV[3] .. '","id":' .. id .. ',"m":' .. ARGV[1] .. '}')
return id
`);

/** Options of {@linkcode RedisStore}. */
export interface RedisStoreOptions {
  /** `redis://host:port/db`. */
  readonly url: string;
  /** Retention rules (the same flags as SQLite). */
  readonly retention: Retention;
  /** How often age-based pruning runs (milliseconds); 0 turns it off. */
  readonly pruneEveryMs?: number;
  /** Where Redis round-trip times go (for `/metrics`). */
  readonly latency?: Histogram;
  /** A command unanswered this long fails, and the store is not ready until Redis answers again. */
  readonly timeoutMs?: number;
}

type Entry = [id: string, fields: string[]];

/** The hash of every account, by name key. */
const ACCOUNTS = `${PREFIX}accounts`;

/** The key of one page session. */
function sessionKey(id: string): string {
  return `${PREFIX}session:${id}`;
}

// KEYS: accounts. ARGV: name key, account JSON. Replaces an account only if there is one.
const UPDATE_ACCOUNT = new Script(`
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
`);

/** The Redis {@linkcode Store} and {@linkcode AccountStore}. Its appends publish too: the bus must not again. */
export class RedisStore implements Store, AccountStore {
  readonly #redis: RedisLink;
  readonly #retention: Retention;
  readonly #latency: Histogram | undefined;
  #pruneTimer: ReturnType<typeof setInterval> | undefined;

  /** Connects (in the background; `ready()` says when). */
  constructor(options: RedisStoreOptions) {
    this.#redis = new RedisLink({
      url: options.url,
      name: "store",
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      onError: (error) => log.warn("redis: {error}", { error: error.message }),
    });
    this.#retention = options.retention;
    this.#latency = options.latency;
    const every = options.pruneEveryMs ?? 30_000;
    if (options.retention.maxAgeMs > 0 && every > 0) {
      this.#pruneTimer = setInterval(() => void this.prune().catch(() => {}), every);
    }
  }

  /** Whether Redis is connected and answering. */
  ready(): boolean {
    return this.#redis.ready;
  }

  /** {@inheritDoc Store.append} */
  async append(message: NewMessage): Promise<ChatMessage> {
    const id = await this.#append("room", roomKey(message.room), "message", message);
    return { ...message, id };
  }

  /** {@inheritDoc Store.appendDirect} */
  async appendDirect(message: NewDirectMessage): Promise<DirectMessage> {
    const id = await this.#append("dm", pairKey(message.from, message.to), "dm", message);
    return { ...message, id };
  }

  async #append(kind: "room" | "dm", key: string, event: string, message: object): Promise<number> {
    const keys = logKeys(kind, key);
    const started = performance.now();
    const id = Number(
      await this.#redis.script(APPEND, [keys.seq, keys.log, CHANNEL], [
        JSON.stringify(message),
        this.#retention.limit,
        event,
        this.#redis.deadline(),
      ]),
    );
    this.#latency?.observe((performance.now() - started) / 1000);
    if (id === 0) throw new Error("Cannot store the message: Redis ran it after its sender gave up");
    return id;
  }

  /** {@inheritDoc Store.range} */
  async range(room: string, options: RangeOptions): Promise<Range<ChatMessage>> {
    const { entries, complete } = await this.#slice("room", roomKey(room), options);
    return { messages: entries.map(([id, m]) => ({ ...(m as Omit<ChatMessage, "id">), id })), complete };
  }

  /** {@inheritDoc Store.rangeDirect} */
  async rangeDirect(a: string, b: string, options: RangeOptions): Promise<Range<DirectMessage>> {
    const { entries, complete } = await this.#slice("dm", pairKey(a, b), options);
    return { messages: entries.map(([id, m]) => ({ ...(m as Omit<DirectMessage, "id">), id })), complete };
  }

  async #slice(
    kind: "room" | "dm",
    key: string,
    options: RangeOptions,
  ): Promise<{ entries: [number, object][]; complete: boolean }> {
    const keys = logKeys(kind, key);
    const upper = options.before === undefined
      ? "+"
      : options.before <= 1
      ? "0-0"
      : `${options.before - 1}-1`;
    const read = options.after !== undefined
      ? ["XRANGE", keys.log, `${options.after + 1}-0`, upper, "COUNT", options.limit]
      : ["XREVRANGE", keys.log, upper, "-", "COUNT", options.limit];
    const started = performance.now();
    const results = await this.#redis.transaction([read, ["XRANGE", keys.log, "-", "+", "COUNT", 1], [
      "GET",
      keys.seq,
    ]]);
    this.#latency?.observe((performance.now() - started) / 1000);
    let rows = (results[0] as Entry[]) ?? [];
    if (options.after === undefined) rows = rows.reverse();
    const first = (results[1] as Entry[])[0];
    const next = Number(results[2] ?? 0) + 1;
    const firstKept = first ? Number(first[0].split("-")[0]) : next;
    const entries = rows.map((
      [id, fields],
    ): [number, object] => [Number(id.split("-")[0]), JSON.parse(fields[1]!)]);
    return { entries, complete: isComplete(options, firstKept, next) };
  }

  /** Trims every stream to the age limit (the count limit is kept by each append). */
  async prune(): Promise<void> {
    const { maxAgeMs } = this.#retention;
    if (maxAgeMs <= 0) return;
    const oldest = Date.now() - maxAgeMs;
    let cursor = "0";
    do {
      const [next, keys] = await this.#redis.command([
        "SCAN",
        cursor,
        "MATCH",
        `${PREFIX}*:log`,
        "COUNT",
        200,
      ]) as [
        string,
        string[],
      ];
      cursor = next;
      for (const key of keys) {
        const head = await this.#redis.command(["XRANGE", key, "-", "+", "COUNT", 500]) as Entry[];
        const expired = head.filter(([, fields]) =>
          (JSON.parse(fields[1]!) as { time: number }).time < oldest
        );
        const last = expired.at(-1);
        if (last) {
          await this.#redis.command(["XTRIM", key, "MINID", `${Number(last[0].split("-")[0]) + 1}-0`]);
        }
      }
    } while (cursor !== "0");
  }

  /** {@inheritDoc AccountStore.account} */
  async account(key: string): Promise<Account | null> {
    const json = await this.#redis.command(["HGET", ACCOUNTS, key]) as string | null;
    return json === null ? null : JSON.parse(json) as Account;
  }

  /** {@inheritDoc AccountStore.addAccount} */
  async addAccount(account: Account): Promise<boolean> {
    return Number(await this.#redis.command(["HSETNX", ACCOUNTS, account.key, JSON.stringify(account)])) ===
      1;
  }

  /** {@inheritDoc AccountStore.updateAccount} */
  async updateAccount(account: Account): Promise<boolean> {
    const updated = await this.#redis.script(UPDATE_ACCOUNT, [ACCOUNTS], [
      account.key,
      JSON.stringify(account),
    ]);
    return Number(updated) === 1;
  }

  /** {@inheritDoc AccountStore.deleteAccount} */
  async deleteAccount(key: string): Promise<boolean> {
    // Its sessions name a stamp no account has any more: they authenticate nothing, and expire by themselves.
    return Number(await this.#redis.command(["HDEL", ACCOUNTS, key])) === 1;
  }

  /** {@inheritDoc AccountStore.accounts} */
  async accounts(): Promise<Account[]> {
    const flat = await this.#redis.command(["HGETALL", ACCOUNTS]) as string[] | Record<string, string>;
    const values = Array.isArray(flat) ? flat.filter((_, i) => i % 2 === 1) : Object.values(flat);
    return values.map((json) => JSON.parse(json) as Account);
  }

  /** {@inheritDoc AccountStore.addSession} */
  async addSession(session: PageSession): Promise<void> {
    await this.#redis.command([
      "SET",
      sessionKey(session.id),
      JSON.stringify(session),
      "PXAT",
      session.expires,
    ]);
  }

  /** {@inheritDoc AccountStore.session} */
  async session(id: string, now: number): Promise<PageSession | null> {
    const json = await this.#redis.command(["GET", sessionKey(id)]) as string | null;
    const session = json === null ? null : JSON.parse(json) as PageSession;
    // Redis expires the key on its own clock; ours decides too.
    return session !== null && session.expires > now ? session : null;
  }

  /** {@inheritDoc AccountStore.deleteSession} */
  async deleteSession(id: string): Promise<void> {
    await this.#redis.command(["DEL", sessionKey(id)]);
  }

  /** {@inheritDoc Store.close} */
  close(): Promise<void> {
    clearInterval(this.#pruneTimer);
    this.#redis.close();
    return Promise.resolve();
  }
}
