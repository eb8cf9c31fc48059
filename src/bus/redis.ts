/**
 * The cluster bus over Redis: pub/sub for events, a hash per node for its presence, a sorted set of node
 * heartbeats, and a hash of claimed names.
 *
 * Every node publishes its members' presence (online, join, leave, offline) and keeps it in its own hash, so a
 * node that starts reads everyone's members from those hashes. Each node refreshes its heartbeat every third
 * of `--presence-ttl`; any node that sees a heartbeat older than the TTL reaps that node in one Lua script
 * (its presence hash, its names) and publishes `node-gone`, so its members vanish everywhere with the usual
 * disconnect notices. Redis pub/sub delivers in publish order, so every node sees one order of messages.
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { Bus, BusEvent, PresenceMember } from "./bus.ts";
import { CHANNEL, PREFIX, RedisLink, Script } from "../redis.ts";
import type { ChatMessage, DirectMessage } from "../model.ts";
import { roomKey } from "../names.ts";

const log = getLogger(["hubbub", "bus"]);

const NODES = `${PREFIX}nodes`;
const NAMES = `${PREFIX}names`;
const presenceKey = (node: string) => `${PREFIX}presence:${node}`;

// KEYS: names, nodes. ARGV: key, node, token, name, cutoff (ms: heartbeats older than this are dead).
// Free, held by this node, held with the same token, or held by a dead node: ours (shared tokens keep their
// first owner). Held by a live node with another token: refused.
const CLAIM = new Script(`
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current then
  local owner = cjson.decode(current)
  local shared = ARGV[3] ~= '' and owner.token == ARGV[3]
  if owner.node ~= ARGV[2] then
    if shared then return 1 end
    local beat = redis.call('ZSCORE', KEYS[2], owner.node)
    if beat and tonumber(beat) >= tonumber(ARGV[5]) then return 0 end
  end
end
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode({node = ARGV[2], token = ARGV[3], name = ARGV[4]}))
return 1
`);

// KEYS: names. ARGV: key, node. Gives a name back only if this node holds it.
const RELEASE = new Script(`
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current and cjson.decode(current).node == ARGV[2] then redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0
`);

// KEYS: nodes, names, presence hash of the node, channel. ARGV: node, cutoff (or '+inf' to reap regardless).
// Returns 1 when this call reaped the node (so exactly one caller announces it).
const REAP = new Script(`
local beat = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not beat then return 0 end
if ARGV[2] ~= '+inf' and tonumber(beat) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[3])
local names = redis.call('HGETALL', KEYS[2])
for i = 1, #names, 2 do
  if cjson.decode(names[i + 1]).node == ARGV[1] then redis.call('HDEL', KEYS[2], names[i]) end
end
redis.call('PUBLISH', KEYS[4], '{"kind":"node-gone","node":"' .. ARGV[1] .. '"}')
return 1
`);

/** Options of {@linkcode RedisBus}. */
export interface RedisBusOptions {
  /** `redis://host:port/db`. */
  readonly url: string;
  /** This node's id; unique in the cluster. */
  readonly node: string;
  /** A node whose heartbeat is older than this is gone (milliseconds). */
  readonly presenceTtlMs: number;
  /** Counts bus traffic (for `/metrics`). */
  readonly counters?: { busPublished: number; busReceived: number };
}

/** Wire form of a store-published message: the store's Lua script writes it. */
interface Published {
  readonly kind: "message" | "dm";
  readonly id: number;
  readonly m: Omit<ChatMessage, "id"> | Omit<DirectMessage, "id">;
}

/** The Redis {@linkcode Bus}. */
export class RedisBus implements Bus {
  readonly node: string;
  /** The Redis store publishes room messages and DMs itself, in the same script that stores them. */
  readonly storePublishes = true;
  readonly #pub: RedisLink;
  readonly #sub: RedisLink;
  readonly #ttl: number;
  readonly #counters: { busPublished: number; busReceived: number } | undefined;
  #handler: ((event: BusEvent) => void) | null = null;
  #timer: ReturnType<typeof setInterval> | undefined;
  #synced = false;
  #closed = false;
  /** What this node has told the cluster, to tell it again after Redis comes back. */
  readonly #mine = new Map<
    string,
    { member: PresenceMember; rooms: Map<string, { room: string; conn: string }> }
  >();

  /** Connects both clients and starts the heartbeat. */
  constructor(options: RedisBusOptions) {
    this.node = options.node;
    this.#ttl = options.presenceTtlMs;
    this.#counters = options.counters;
    const onError = (error: Error) => log.warn("redis: {error}", { error: error.message, node: this.node });
    // After an outage: beat again, and tell the cluster again who is here (others may have reaped us).
    this.#pub = new RedisLink({
      url: options.url,
      offlineQueue: false,
      onError,
      onReady: () => void this.#announce(),
    });
    // The subscriber queues its SUBSCRIBE until connected and re-subscribes after every reconnect.
    this.#sub = new RedisLink({ url: options.url, offlineQueue: true, onError });
    void this.#sub.subscribe(CHANNEL, (text) => this.#receive(text)).catch(onError);
    this.#timer = setInterval(() => void this.#beat(), Math.max(100, Math.floor(this.#ttl / 3)));
  }

  /** {@inheritDoc Bus.subscribe} */
  subscribe(handler: (event: BusEvent) => void): void {
    this.#handler = handler;
  }

  /** Connected, subscribed, and the other nodes' members are known. */
  ready(): boolean {
    return this.#synced && this.#pub.ready && this.#sub.ready;
  }

  /** Publishes presence (and keeps it in this node's hash); messages are published by the store. */
  publish(event: BusEvent): void {
    this.#remember(event);
    const hash = presenceKey(this.node);
    const commands: (string | number)[][] = [];
    switch (event.kind) {
      case "online":
        commands.push(["HSET", hash, `m:${event.member.key}`, JSON.stringify(event.member)]);
        break;
      case "offline":
        commands.push(["HDEL", hash, `m:${event.key}`]);
        break;
      case "join":
        commands.push([
          "HSET",
          hash,
          `r:${roomKey(event.room)}:${event.member.key}`,
          JSON.stringify({ room: event.room, ...event.member }),
        ]);
        break;
      case "leave":
        commands.push(["HDEL", hash, `r:${roomKey(event.room)}:${event.key}`]);
        break;
    }
    commands.push(["PUBLISH", CHANNEL, JSON.stringify(event)]);
    if (this.#counters) this.#counters.busPublished++;
    // Our own presence needs no answer; when Redis is away it is told again on reconnect (#announce).
    this.#pub.transaction(commands).catch(() => {});
  }

  /** {@inheritDoc Bus.claim} */
  async claim(key: string, name: string, token: string | null): Promise<boolean> {
    const claimed = await this.#pub.script(CLAIM, [NAMES, NODES], [
      key,
      this.node,
      token ?? "",
      name,
      this.#cutoff(),
    ]);
    return Number(claimed) === 1;
  }

  /** {@inheritDoc Bus.release} */
  release(key: string): void {
    this.#pub.script(RELEASE, [NAMES], [key, this.node]).catch(() => {});
  }

  /** Reaps this node at once, so its members vanish everywhere now rather than after the TTL. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    try {
      await this.#reap(this.node, "+inf");
    } catch {
      // Redis is away: the others reap us when our heartbeat is old enough.
    }
    this.#pub.close();
    this.#sub.close();
  }

  #cutoff(): number {
    return Date.now() - this.#ttl;
  }

  #receive(text: string): void {
    if (this.#counters) this.#counters.busReceived++;
    let parsed: BusEvent | Published;
    try {
      parsed = JSON.parse(text);
    } catch {
      log.warn("bus: unreadable event");
      return;
    }
    if ("m" in parsed) {
      const message = { ...parsed.m, id: parsed.id };
      this.#handler?.(
        parsed.kind === "message"
          ? { kind: "message", message: message as ChatMessage }
          : { kind: "dm", message: message as DirectMessage },
      );
      return;
    }
    if (parsed.kind === "node-gone" && parsed.node === this.node && !this.#closed) {
      // We were reaped while Redis could not hear us: tell the cluster again who is here.
      void this.#announce();
      return;
    }
    this.#handler?.(parsed);
  }

  #remember(event: BusEvent): void {
    switch (event.kind) {
      case "online":
        this.#mine.set(event.member.key, { member: event.member, rooms: new Map() });
        break;
      case "offline":
        this.#mine.delete(event.key);
        break;
      case "join":
        this.#mine.get(event.member.key)?.rooms.set(roomKey(event.room), {
          room: event.room,
          conn: event.conn,
        });
        break;
      case "leave":
        this.#mine.get(event.key)?.rooms.delete(roomKey(event.room));
        break;
    }
  }

  async #beat(): Promise<void> {
    if (this.#closed || !this.#pub.ready) return;
    try {
      await this.#pub.command(["ZADD", NODES, Date.now(), this.node]);
      const dead = await this.#pub.command([
        "ZRANGEBYSCORE",
        NODES,
        "-inf",
        `(${this.#cutoff()}`,
      ]) as string[];
      for (const node of dead) if (node !== this.node) await this.#reap(node, String(this.#cutoff()));
    } catch {
      // Redis is away; the next beat tries again.
    }
  }

  async #reap(node: string, cutoff: string): Promise<void> {
    const reaped = await this.#pub.script(REAP, [NODES, NAMES, presenceKey(node), CHANNEL], [node, cutoff]);
    if (Number(reaped) === 1) log.info("node gone", { node, by: this.node });
  }

  /** On (re)connect: beat, read the other nodes' members, and publish this node's own again. */
  async #announce(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.#pub.command(["ZADD", NODES, Date.now(), this.node]);
      const nodes = await this.#pub.command(["ZRANGEBYSCORE", NODES, this.#cutoff(), "+inf"]) as string[];
      for (const node of nodes) {
        if (node === this.node) continue;
        const flat = await this.#pub.command(["HGETALL", presenceKey(node)]) as string[];
        for (let i = 0; i + 1 < flat.length; i += 2) {
          const [field, value] = [flat[i]!, flat[i + 1]!];
          const record = JSON.parse(value);
          if (field.startsWith("m:")) this.#handler?.({ kind: "online", member: record });
          else {
            const { room, ...member } = record;
            this.#handler?.({ kind: "join", member, room, conn: "" });
          }
        }
      }
      for (const { member, rooms } of this.#mine.values()) {
        this.publish({ kind: "online", member });
        for (const { room, conn } of rooms.values()) this.publish({ kind: "join", member, room, conn });
      }
      this.#synced = true;
    } catch (error) {
      log.warn("bus: cannot sync with the cluster: {error}", { error: String(error) });
    }
  }
}
