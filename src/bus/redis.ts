/**
 * The cluster bus over Redis: pub/sub for events, a hash per node for its presence, a sorted set of node
 * heartbeats, and a hash of claimed names.
 *
 * Every node publishes its members' presence (online, join, leave, offline) and keeps it in its own hash, so a
 * node that starts reads everyone's members from those hashes. Each node refreshes its heartbeat every third
 * of `--presence-ttl`; any node that sees a heartbeat older than the TTL reaps that node in one Lua script
 * (its presence hash, its names) and publishes `node-gone`, so its members vanish everywhere with the usual
 * disconnect notices. Redis pub/sub delivers in publish order, so every node sees one order of messages.
 *
 * Pub/sub forgets what it could not deliver, so presence heals by snapshots: whenever a node (re)connects it
 * rewrites its presence hash, re-claims its members' names and publishes a `sync` snapshot of its members, in
 * one Lua script; every other node compares the snapshot with what it had heard and turns the difference into
 * the usual join and leave events. The reconnecting node reads every other node's hash the same way. So a
 * member who left while Redis was away is gone everywhere once Redis is back, and one who arrived is listed.
 * A node counts as ready only once its latest snapshot went out: a snapshot that fails (Redis still loading
 * its data, or gone again) is retried on every heartbeat until one succeeds.
 *
 * A Redis that comes back empty (restarted without its data, or flushed) is noticed by its epoch: a random
 * value the first node stores in `hubbub:epoch`, which every heartbeat reads back. A different one means
 * everything was lost: the node says so once (WARN) and sends its snapshot again, so names and presence are
 * back at once; room ids start again at 1.
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
const EPOCH = `${PREFIX}epoch`;
const presenceKey = (node: string) => `${PREFIX}presence:${node}`;
/**
 * The field a node's snapshot writes into its presence hash. A hash without it (Redis lost its data, and the
 * node has not told its members again yet) says nothing about the node's members: its snapshot will come.
 */
const SYNCED = "synced";

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

// KEYS: nodes, epoch. ARGV: node, now (ms), a fresh epoch. Beats, and returns the data's epoch (set by the first
// node to beat since Redis was empty).
const BEAT = new Script(`
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('SET', KEYS[2], ARGV[3], 'NX')
return redis.call('GET', KEYS[2])
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

// KEYS: names, nodes, presence hash of this node, channel. ARGV: node, cutoff, the sync event (published as
// is), this node's names as JSON [{k, t, n}] (key, token or '', display name), then the hash's field/value pairs.
// Rewrites the presence hash (marked told: see SYNCED), claims this node's names again (a node reaped while
// alive lost them) and gives back names this node holds for members it no longer has (a node restarted under
// the same id). Returns the keys another live node took meanwhile.
const SYNC = new Script(`
local node, cutoff = ARGV[1], tonumber(ARGV[2])
redis.call('DEL', KEYS[3])
redis.call('HSET', KEYS[3], '${SYNCED}', '1')
for i = 5, #ARGV, 2 do redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1]) end
local mine, lost = {}, {}
for _, c in ipairs(cjson.decode(ARGV[4])) do
  mine[c.k] = true
  local take = true
  local current = redis.call('HGET', KEYS[1], c.k)
  if current then
    local owner = cjson.decode(current)
    if owner.node ~= node then
      if c.t ~= '' and owner.token == c.t then
        take = false
      else
        local beat = redis.call('ZSCORE', KEYS[2], owner.node)
        if beat and tonumber(beat) >= cutoff then
          take = false
          table.insert(lost, c.k)
        end
      end
    end
  end
  if take then redis.call('HSET', KEYS[1], c.k, cjson.encode({node = node, token = c.t, name = c.n})) end
end
local names = redis.call('HGETALL', KEYS[1])
for i = 1, #names, 2 do
  if not mine[names[i]] and cjson.decode(names[i + 1]).node == node then redis.call('HDEL', KEYS[1], names[i]) end
end
redis.call('PUBLISH', KEYS[4], ARGV[3])
return lost
`);

/** A member of a node with the rooms it is in (by room key: display name). */
interface Presence {
  readonly member: PresenceMember;
  readonly rooms: Map<string, string>;
}

/** A node's whole presence, as its `sync` event carries it. */
interface SyncEvent {
  readonly kind: "sync";
  readonly node: string;
  readonly members: readonly (PresenceMember & { readonly rooms: readonly string[] })[];
}

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
  /** A Redis command unanswered this long fails, and the bus is not ready until Redis answers again. */
  readonly timeoutMs?: number;
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
  readonly #pub: RedisLink;
  readonly #sub: RedisLink;
  readonly #ttl: number;
  readonly #counters: { busPublished: number; busReceived: number } | undefined;
  #handler: ((event: BusEvent) => void) | null = null;
  #timer: ReturnType<typeof setInterval> | undefined;
  #subscribed = false;
  /** Bumped whenever the cluster must hear this node's snapshot again (a link came back, Redis was emptied). */
  #wanted = 1;
  /** The value of `#wanted` the last successful snapshot answered; ready only when they agree. */
  #synced = 0;
  #joined = false;
  #closed = false;
  #syncing = false;
  #syncAgain = false;
  /** No reaping before this time: after an outage, live nodes get one TTL to beat again. */
  #reapAfter = 0;
  /** Nodes missing from the heartbeats are not taken for gone before this time (after Redis was emptied). */
  #missingAfter = 0;
  /** The epoch of Redis's data as this node last saw it; `null` before the first beat. */
  #epoch: string | null = null;
  /** What this node has told the cluster, to tell it again after Redis comes back. */
  readonly #mine = new Map<string, Presence>();
  /** What this node has heard of the others (and handed to the hub), by node, then name key. */
  readonly #known = new Map<string, Map<string, Presence>>();

  /** Connects both clients and starts the heartbeat. */
  constructor(options: RedisBusOptions) {
    this.node = options.node;
    this.#ttl = options.presenceTtlMs;
    this.#counters = options.counters;
    const onError = (error: Error) => log.warn("redis: {error}", { error: error.message, node: this.node });
    // Each time a link is (again) up, after a reconnect or a hang: beat, and exchange snapshots with the
    // cluster (see #sync); until that succeeds the node is not ready.
    const onReady = () => {
      this.#wanted++;
      this.#requestSync();
    };
    const timeout = options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs };
    this.#pub = new RedisLink({
      url: options.url,
      name: "bus",
      ...timeout,
      onError,
      onReady: () => {
        // Beat first: whatever this node says next (a name claimed, a member online) comes from a live node.
        this.#pub.script(BEAT, [NODES, EPOCH], this.#beatArgs()).then(
          (epoch) => this.#checkEpoch(epoch),
          () => {},
        );
        onReady();
      },
    });
    // The subscriber queues its SUBSCRIBE until connected and re-subscribes after every reconnect, before
    // it reports ready again.
    this.#sub = new RedisLink({
      url: options.url,
      name: "subscriber",
      subscriber: true,
      ...timeout,
      onError,
      onReady,
    });
    this.#sub.subscribe(CHANNEL, (text) => this.#receive(text)).then(() => {
      this.#subscribed = true;
      this.#requestSync();
    }, onError);
    this.#timer = setInterval(() => void this.#beat(), Math.max(100, Math.floor(this.#ttl / 3)));
  }

  /** {@inheritDoc Bus.subscribe} */
  subscribe(handler: (event: BusEvent) => void): void {
    this.#handler = handler;
  }

  /** Connected, subscribed, answering, and this node's latest snapshot exchanged with the cluster. */
  ready(): boolean {
    return this.#synced === this.#wanted && this.#subscribed && this.#pub.ready && this.#sub.ready;
  }

  /** Publishes presence (and keeps it in this node's hash); messages are published by the store. */
  publish(event: BusEvent): void {
    this.#remember(this.#mine, event);
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
    // Our own presence needs no answer; what Redis did not hear goes out again in the next snapshot (#sync).
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

  #beatArgs(): string[] {
    return [this.node, String(Date.now()), crypto.randomUUID()];
  }

  /** Notices a Redis that lost its data since the last beat (its epoch changed) and heals presence. */
  #checkEpoch(reply: unknown): void {
    const epoch = String(reply);
    if (this.#epoch === null || this.#epoch === epoch) {
      this.#epoch = epoch;
      return;
    }
    this.#epoch = epoch;
    log.warn(
      "Redis came back empty (restarted without its data, or flushed): history is gone and room ids start again at 1; names and presence are written again",
      { node: this.node },
    );
    // Other nodes write their heartbeats again within a beat: until then, missing from them is not gone.
    this.#missingAfter = Date.now() + this.#ttl;
    this.#wanted++;
    this.#requestSync();
  }

  /** Forgets nodes that are no longer among the heartbeats (reaped while this node could not hear it). */
  #forgetMissing(everyone: ReadonlySet<string>): void {
    if (Date.now() < this.#missingAfter) return;
    for (const node of [...this.#known.keys()]) {
      if (!everyone.has(node)) this.#deliver({ kind: "node-gone", node });
    }
  }

  #receive(text: string): void {
    if (this.#counters) this.#counters.busReceived++;
    let parsed: BusEvent | Published | SyncEvent;
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
    if (parsed.kind === "sync") {
      if (parsed.node !== this.node) this.#reconcile(parsed.node, fromSync(parsed));
      return;
    }
    if (parsed.kind === "node-gone" && parsed.node === this.node) {
      // We were reaped while Redis could not hear us: tell the cluster again who is here.
      if (!this.#closed) {
        this.#wanted++;
        this.#requestSync();
      }
      return;
    }
    this.#deliver(parsed);
  }

  /** Hands an event to the hub, keeping track of what the hub has heard about other nodes. */
  #deliver(event: BusEvent): void {
    if (event.kind === "node-gone") this.#known.delete(event.node);
    else if (event.kind !== "message" && event.kind !== "dm") {
      const node = event.kind === "online" || event.kind === "join" ? event.member.node : event.node;
      if (node !== this.node) {
        let known = this.#known.get(node);
        if (!known) this.#known.set(node, known = new Map());
        this.#remember(known, event);
      }
    }
    this.#handler?.(event);
  }

  #remember(table: Map<string, Presence>, event: BusEvent): void {
    switch (event.kind) {
      case "online": {
        // Again for a member it has: its token changed (a guest's name became an account's), its rooms did not.
        const rooms = table.get(event.member.key)?.rooms ?? new Map();
        table.set(event.member.key, { member: event.member, rooms });
        break;
      }
      case "offline":
        table.delete(event.key);
        break;
      case "join": {
        let entry = table.get(event.member.key);
        if (!entry) table.set(event.member.key, entry = { member: event.member, rooms: new Map() });
        entry.rooms.set(roomKey(event.room), event.room);
        break;
      }
      case "leave":
        table.get(event.key)?.rooms.delete(roomKey(event.room));
        break;
    }
  }

  /**
   * Makes what the hub knows of `node` match a snapshot of it: members and rooms it no longer has leave (with
   * the usual notices), those it has and the hub missed join.
   */
  #reconcile(node: string, snapshot: Map<string, Presence>): void {
    const known = this.#known.get(node) ?? new Map<string, Presence>();
    for (const [key, entry] of [...known]) {
      const now = snapshot.get(key);
      for (const [rk, room] of [...entry.rooms]) {
        if (!now?.rooms.has(rk)) {
          this.#deliver({ kind: "leave", node, key, room, conn: "", reason: now ? "left" : "disconnected" });
        }
      }
      if (!now) this.#deliver({ kind: "offline", node, key });
    }
    for (const [key, entry] of snapshot) {
      if (!this.#known.get(node)?.has(key)) this.#deliver({ kind: "online", member: entry.member });
      for (const [rk, room] of entry.rooms) {
        if (!this.#known.get(node)?.get(key)?.rooms.has(rk)) {
          this.#deliver({ kind: "join", member: entry.member, room, conn: "" });
        }
      }
    }
  }

  async #beat(): Promise<void> {
    if (this.#closed || !this.#pub.ready) return;
    // A snapshot that failed (Redis still loading, or gone again mid-way) is tried again: ready() waits for it.
    if (this.#synced !== this.#wanted) this.#requestSync();
    try {
      this.#checkEpoch(await this.#pub.script(BEAT, [NODES, EPOCH], this.#beatArgs()));
      if (Date.now() < this.#reapAfter) return;
      if (this.#known.size > 0) {
        this.#forgetMissing(new Set(await this.#pub.command(["ZRANGE", NODES, 0, -1]) as string[]));
      }
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

  /** Runs {@linkcode #sync} when both links are up; one at a time, again if asked meanwhile. */
  #requestSync(): void {
    if (this.#closed) return;
    if (this.#syncing) {
      this.#syncAgain = true;
      return;
    }
    this.#syncing = true;
    void (async () => {
      do {
        this.#syncAgain = false;
        if (this.#subscribed && this.#pub.ready && this.#sub.ready && !this.#closed) await this.#sync();
      } while (this.#syncAgain && !this.#closed);
      this.#syncing = false;
    })();
  }

  /**
   * On (re)connect: beat; publish this node's snapshot (and rewrite its hash and names); read every other live
   * node's hash and reconcile with what we had heard; forget nodes that were reaped while we could not hear.
   */
  async #sync(): Promise<void> {
    const wanted = this.#wanted;
    try {
      this.#reapAfter = Date.now() + this.#ttl;
      this.#checkEpoch(await this.#pub.script(BEAT, [NODES, EPOCH], this.#beatArgs()));
      const members = [...this.#mine.values()];
      const event: SyncEvent = {
        kind: "sync",
        node: this.node,
        members: members.map(({ member, rooms }) => ({ ...member, rooms: [...rooms.values()] })),
      };
      const claims = members.map(({ member }) => ({ k: member.key, t: member.token ?? "", n: member.name }));
      const fields = members.flatMap(({ member, rooms }) => [
        `m:${member.key}`,
        JSON.stringify(member),
        ...[...rooms].flatMap(([rk, room]) => [`r:${rk}:${member.key}`, JSON.stringify({ room, ...member })]),
      ]);
      const lost = await this.#pub.script(SYNC, [NAMES, NODES, presenceKey(this.node), CHANNEL], [
        this.node,
        this.#cutoff(),
        JSON.stringify(event),
        JSON.stringify(claims),
        ...fields,
      ]) as string[];
      if (this.#counters) this.#counters.busPublished++;
      if (lost.length > 0) log.warn("names taken elsewhere while this node was away", { keys: lost });

      this.#forgetMissing(new Set(await this.#pub.command(["ZRANGE", NODES, 0, -1]) as string[]));
      const live = await this.#pub.command(["ZRANGEBYSCORE", NODES, this.#cutoff(), "+inf"]) as string[];
      for (const node of live) {
        if (node === this.node) continue;
        const flat = await this.#pub.command(["HGETALL", presenceKey(node)]) as string[];
        if (flat.some((field, i) => i % 2 === 0 && field === SYNCED)) this.#reconcile(node, fromHash(flat));
      }
      if (!this.#joined) log.info("joined the cluster", { node: this.node, nodes: live.length });
      this.#joined = true;
      // A link that came back (or an epoch that changed) meanwhile wants another snapshot: not ready yet.
      this.#synced = wanted;
    } catch (error) {
      log.warn("bus: cannot sync with the cluster: {error}", { error: String(error) });
    }
  }
}

/** A snapshot from a `sync` event. */
function fromSync(event: SyncEvent): Map<string, Presence> {
  const snapshot = new Map<string, Presence>();
  for (const { rooms, ...member } of event.members) {
    snapshot.set(member.key, { member, rooms: new Map(rooms.map((room) => [roomKey(room), room])) });
  }
  return snapshot;
}

/** A snapshot from a node's presence hash (HGETALL, flat). */
function fromHash(flat: readonly string[]): Map<string, Presence> {
  const snapshot = new Map<string, Presence>();
  const rooms: { room: string; member: PresenceMember }[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const [field, value] = [flat[i]!, flat[i + 1]!];
    if (field.startsWith("m:")) {
      const member = JSON.parse(value) as PresenceMember;
      snapshot.set(member.key, { member, rooms: new Map() });
    } else if (field.startsWith("r:")) {
      const { room, ...member } = JSON.parse(value) as PresenceMember & { room: string };
      rooms.push({ room, member });
    }
  }
  for (const { room, member } of rooms) {
    let entry = snapshot.get(member.key);
    if (!entry) snapshot.set(member.key, entry = { member, rooms: new Map() });
    entry.rooms.set(roomKey(room), room);
  }
  return snapshot;
}
