/**
 * The hub: rooms, members, presence, fan-out and history. The only place where chat rules live.
 *
 * The hub knows nothing about sockets. Doors call it with a {@linkcode Client} handle and it answers with
 * {@linkcode Result}s; everything else reaches connections as {@linkcode ChatEvent}s through their
 * {@linkcode Session}. Fan-out encodes each event once per codec, never once per recipient.
 * @module
 */

import { setImmediate } from "node:timers";
import { getLogger } from "@logtape/logtape";
import type {
  ChatEvent,
  ChatMessage,
  Codec,
  DirectMessage,
  Frame,
  LeaveReason,
  MemberInfo,
  Result,
  Session,
} from "../model.ts";
import { fail, ok } from "../model.ts";
import { checkName, checkRoom, nameKey, nameVariant, roomKey } from "../names.ts";
import type { Range, RangeOptions, Store } from "../store/store.ts";
import { Metrics } from "../metrics.ts";
import type { Bus, BusEvent, PresenceMember } from "../bus/bus.ts";
import { LocalBus } from "../bus/local.ts";
import { TokenBucket } from "./limits.ts";
import { LoadGauge } from "./backpressure.ts";
import { Claims } from "./claims.ts";
import { cleanText } from "./text.ts";

/** A login refused because the cluster cannot be asked whether the name is free. */
const NAMES_UNAVAILABLE = fail(
  "unavailable",
  "Cannot check names right now (the cluster store is away); try again",
);

/** Presence frames for big rooms go out this many recipients at a time. */
const SPREAD_SLICE = 1000;

const log = getLogger(["hubbub", "hub"]);

/** Tunables of the hub; every field has a default. */
export interface HubOptions {
  /** Where history lives and who numbers messages. */
  readonly store: Store;
  /** How this node hears the rest of the cluster; the in-process bus by default. */
  readonly bus?: Bus;
  /** Full user lists go to a room at most this often (milliseconds). */
  readonly presenceIntervalMs?: number;
  /** A member's typing is relayed at most this often per room (milliseconds). */
  readonly typingIntervalMs?: number;
  /** Where counters go; a private instance when not given. */
  readonly metrics?: Metrics;
  /** Rooms one connection may be in at once (default 50). */
  readonly maxRooms?: number;
  /** Longest member name (default and most: 32). */
  readonly maxName?: number;
  /** Longest room name (default and most: 64). */
  readonly maxRoomName?: number;
  /** Full-list frames carry at most this many names (the first in sort order) and the total (default 1000). */
  readonly listLimit?: number;
  /** Join/leave notices sent at once per room per second; past it they are summarised each tick (default 10). */
  readonly noticeRate?: number;
}

/** Options of {@linkcode Hub.login}. */
export interface LoginOptions {
  /** A session token: connections presenting the same token may share one name. */
  readonly token?: string | null;
  /** goChat's `session_id`, carried in user lists. */
  readonly tag?: string | null;
  /** Take a free variant (`alice-2`) instead of refusing a taken name. */
  readonly variant?: boolean;
}

/** Options of {@linkcode Hub.join}. */
export interface JoinOptions {
  /**
   * How many of the room's recent messages to replay to the joiner (dialects with no history command of their
   * own; each door has its own setting); 0 or absent: none.
   */
  readonly replay?: number;
}

/** Options of {@linkcode Hub.say}. */
export interface SayOptions {
  /** Target room; defaults to the client's current room. */
  readonly room?: string;
  /** goChat session id of the sender, echoed on the message. */
  readonly tag?: string;
}

/** A room as listed by {@linkcode Hub.rooms}. */
export interface RoomInfo {
  /** Display name. */
  readonly name: string;
  /** Distinct member names in it. */
  readonly members: number;
}

interface Room {
  readonly name: string;
  readonly key: string;
  readonly clients: Set<Client>;
  /** Members by name key: how many of this node's connections are in, and which other nodes have them in. */
  readonly names: Map<string, RoomMember>;
  listTimer: ReturnType<typeof setTimeout> | undefined;
  lastListAt: number;
  /** Immediate join/leave notices left in this second. */
  readonly notices: TokenBucket;
  /** Names whose join or leave notice waits for the next tick's summary. */
  joined: string[];
  left: string[];
}

interface RoomMember {
  name: string;
  tag: string | null;
  /** Connections of this node in the room. */
  count: number;
  /** Other nodes with connections of this member in the room. */
  readonly nodes: Set<string>;
}

interface Member {
  readonly name: string;
  readonly token: string | null;
  readonly clients: Set<Client>;
}

/** One connection as the hub sees it. Doors hold it and pass it back on every call. */
export class Client {
  /** The connection's session. */
  readonly session: Session;
  #name: string | null = null;
  /** @internal */
  key: string | null = null;
  /** @internal */
  tag: string | null = null;
  /** @internal */
  readonly rooms = new Map<string, Room>();
  /** @internal */
  current: Room | null = null;
  /** @internal when this client last had a typing notice relayed, per room key; created on first use. */
  typedAt: Map<string, number> | null = null;
  /** @internal live messages held back per room key while history is being replayed to this client. */
  held: Map<string, ChatEvent[]> | null = null;

  /** @internal */
  constructor(session: Session) {
    this.session = session;
  }

  /** The member name, once logged in. */
  get name(): string | null {
    return this.#name;
  }

  /** @internal */
  set name(value: string | null) {
    this.#name = value;
  }

  /** Display name of the current room (the last joined), or `null`. */
  get room(): string | null {
    return this.current?.name ?? null;
  }

  /** Display names of every room this connection is in. */
  get roomNames(): string[] {
    return [...this.rooms.values()].map((r) => r.name);
  }
}

/** The hub. One per process; shared by every door. */
export class Hub {
  #store: Store;
  #rooms = new Map<string, Room>();
  #members = new Map<string, Member>();
  /** Members on other nodes, by name key, then node. */
  #remote = new Map<string, Map<string, PresenceMember>>();
  /** When each name's current holder claimed it, local or remote: DM history is read from there. */
  readonly #claims = new Claims();
  readonly #bus: Bus;
  #clients = new Set<Client>();
  #presenceIntervalMs: number;
  #typingIntervalMs: number;
  readonly #metrics: Metrics;
  /** Sessions report how backed up they are; past half of them, new messages are refused. */
  readonly load: LoadGauge = new LoadGauge();
  readonly #maxRooms: number;
  readonly #maxName: number;
  readonly #maxRoomName: number;
  readonly #listLimit: number;
  readonly #noticeRate: number;
  #closed = false;

  /** Creates a hub over a store. */
  constructor(options: HubOptions) {
    this.#store = options.store;
    this.#presenceIntervalMs = options.presenceIntervalMs ?? 250;
    this.#typingIntervalMs = options.typingIntervalMs ?? 3000;
    this.#metrics = options.metrics ?? new Metrics();
    this.#maxRooms = options.maxRooms ?? 50;
    this.#maxName = options.maxName ?? 32;
    this.#maxRoomName = options.maxRoomName ?? 64;
    this.#listLimit = options.listLimit ?? 1000;
    this.#noticeRate = options.noticeRate ?? 10;
    this.#bus = options.bus ?? new LocalBus();
    this.#bus.subscribe((event) => this.#onBus(event));
  }

  /** This node's id in the cluster (`local` without one). */
  get node(): string {
    return this.#bus.node;
  }

  /** Registers a new connection. */
  connect(session: Session): Client {
    const client = new Client(session);
    this.#clients.add(client);
    return client;
  }

  /** Number of open connections. */
  get connections(): number {
    return this.#clients.size;
  }

  /** The counters this hub bumps. */
  get metrics(): Metrics {
    return this.#metrics;
  }

  /** Gauges for `/metrics`, read now: connections by dialect, rooms, members, queued bytes. */
  gauges(): {
    connections: Map<string, number>;
    rooms: number;
    members: number;
    remoteMembers: number;
    queuedBytes: number;
  } {
    const connections = new Map<string, number>();
    let queuedBytes = 0;
    for (const client of this.#clients) {
      const name = client.session.codec.name;
      connections.set(name, (connections.get(name) ?? 0) + 1);
      queuedBytes += client.session.queued();
    }
    const members = new Set([...this.#members.keys(), ...this.#remote.keys()]).size;
    return { connections, rooms: this.#rooms.size, members, remoteMembers: this.#remote.size, queuedBytes };
  }

  /** Claims a name for a connection; refused when invalid or taken (unless `variant` is set). */
  login(client: Client, wanted: string, options: LoginOptions = {}): Result<string> {
    return this.#login(client, wanted, options, false);
  }

  /** `login`; `same`: the connection had this name's key a moment ago (a change of case), so its claim goes on. */
  #login(client: Client, wanted: string, options: LoginOptions, same: boolean): Result<string> {
    if (client.name !== null) return fail("already-logged-in", `Already logged in as ${client.name}`);
    const why = checkName(wanted, this.#maxName);
    if (why) return fail("invalid-username", `Name '${wanted}' is not a valid name: ${why}`);
    const token = options.token || null;
    let name = wanted;
    for (let n = 2; !this.#canTake(name, token); n++) {
      if (!options.variant || n > 999) return fail("username-taken", `Name '${wanted}' is taken`);
      name = nameVariant(wanted, n, this.#maxName);
    }
    const key = nameKey(name);
    let member = this.#members.get(key);
    if (!member) {
      member = { name, token, clients: new Set() };
      this.#members.set(key, member);
      const since = this.#claims.begin(key, token, { same });
      this.#bus.publish({
        kind: "online",
        member: { node: this.#bus.node, key, name, token, tag: options.tag ?? null, since },
      });
    }
    member.clients.add(client);
    client.name = member.name;
    client.key = key;
    client.tag = options.tag ?? null;
    log.info("login {name}", {
      name: member.name,
      conn: client.session.id,
      codec: client.session.codec.name,
    });
    // A connection may sit in rooms before it has a name (GoBanter's lobby); it now appears in them.
    for (const room of client.rooms.values()) this.#addName(room, client);
    return ok(member.name);
  }

  /**
   * Changes a connection's name (GoBanter's page sends `username` whenever its name field changes). Rooms
   * see the old name leave and the new one join. A nameless connection simply logs in.
   */
  rename(client: Client, wanted: string, options: LoginOptions = {}): Result<string> {
    if (client.name === null) return this.login(client, wanted, options);
    if (wanted === client.name) return ok(client.name);
    const why = checkName(wanted, this.#maxName);
    if (why) return fail("invalid-username", `Name '${wanted}' is not a valid name: ${why}`);
    const token = options.token ?? this.#members.get(client.key!)?.token ?? null;
    // Changing only the case keeps the key: still this member's name.
    if (nameKey(wanted) !== client.key && !this.#canTake(wanted, token)) {
      return fail("username-taken", `Name '${wanted}' is taken`);
    }
    const same = nameKey(wanted) === client.key;
    for (const room of client.rooms.values()) this.#removeName(room, client, "left");
    this.#release(client);
    client.name = null;
    return this.#login(client, wanted, { ...options, token }, same);
  }

  /** `rename`, after claiming the new name cluster-wide; a nameless connection claims its first name. */
  async changeName(client: Client, wanted: string, options: LoginOptions = {}): Promise<Result<string>> {
    if (client.name === null) return this.claim(client, wanted, options);
    if (wanted === client.name) return ok(client.name);
    const token = options.token ?? this.#members.get(client.key!)?.token ?? null;
    if (nameKey(wanted) !== client.key) {
      const why = checkName(wanted, this.#maxName);
      if (why) return fail("invalid-username", `Name '${wanted}' is not a valid name: ${why}`);
      const claimed = this.#canTake(wanted, token) && (await this.#busClaim(wanted, token));
      if (claimed === null) return NAMES_UNAVAILABLE;
      if (!claimed) return fail("username-taken", `Name '${wanted}' is taken`);
    }
    return this.rename(client, wanted, { ...options, token });
  }

  /** Whether a name is free for a connection holding `token`. */
  isFree(name: string, token: string | null = null): boolean {
    return checkName(name, this.#maxName) === null && this.#canTake(name, token);
  }

  #canTake(name: string, token: string | null): boolean {
    const key = nameKey(name);
    const member = this.#members.get(key);
    if (member) return token !== null && member.token === token;
    const remote = this.#remote.get(key);
    return !remote || [...remote.values()].every((m) => token !== null && m.token === token);
  }

  /**
   * Logs in after claiming the name cluster-wide (the doors use this; `login` alone decides on this node's
   * view only). With `variant`, tries `alice-2`, `alice-3`, ... until a claim succeeds.
   */
  async claim(client: Client, wanted: string, options: LoginOptions = {}): Promise<Result<string>> {
    const token = options.token || null;
    for (let n = 1; n < 1000; n++) {
      const name = n === 1 ? wanted : nameVariant(wanted, n, this.#maxName);
      const local = this.#check(client, name, token);
      if (!local.ok) {
        if (local.code === "username-taken" && options.variant) continue;
        return n === 1 ? local : fail(local.code, local.detail);
      }
      const claimed = await this.#busClaim(name, token);
      if (claimed === null) return NAMES_UNAVAILABLE;
      if (!claimed) {
        if (options.variant) continue;
        return fail("username-taken", `Name '${wanted}' is taken`);
      }
      // The claim is ours; the local table may still have changed while we waited, and `login` decides.
      const result = this.login(client, name, { ...options, variant: false });
      if (result.ok || !options.variant) return result;
    }
    return fail("username-taken", `Name '${wanted}' is taken`);
  }

  /** Claims a name cluster-wide; `null` when the cluster cannot be asked (Redis is away). */
  async #busClaim(name: string, token: string | null): Promise<boolean | null> {
    try {
      return await this.#bus.claim(nameKey(name), name, token);
    } catch (error) {
      log.warn("cannot claim a name: {error}", { error: String(error) });
      return null;
    }
  }

  #check(client: Client, name: string, token: string | null): Result<string> {
    if (client.name !== null) return fail("already-logged-in", `Already logged in as ${client.name}`);
    const why = checkName(name, this.#maxName);
    if (why) return fail("invalid-username", `Name '${name}' is not a valid name: ${why}`);
    if (!this.#canTake(name, token)) return fail("username-taken", `Name '${name}' is taken`);
    return ok(name);
  }

  /** Enters a room (created on first join) and makes it current. Joining a room one is in only makes it current. */
  join(client: Client, roomName: string, options: JoinOptions = {}): Result<string> {
    const why = checkRoom(roomName, this.#maxRoomName);
    if (why) return fail("invalid-room", `'${roomName}' is not a valid room: ${why}`);
    const key = roomKey(roomName);
    const existing = client.rooms.get(key);
    if (existing) {
      client.current = existing;
      return ok(existing.name);
    }
    if (client.rooms.size >= this.#maxRooms) {
      return fail("too-many-rooms", `Cannot join more than ${this.#maxRooms} rooms; leave one first`);
    }
    let room = this.#rooms.get(key);
    if (!room) {
      room = this.#newRoom(roomName);
      this.#rooms.set(key, room);
    }
    room.clients.add(client);
    client.rooms.set(key, room);
    client.current = room;
    if (client.key !== null) this.#addName(room, client);
    if (options.replay !== undefined && options.replay > 0) this.#replay(client, room, options.replay);
    return ok(room.name);
  }

  #newRoom(name: string): Room {
    return {
      name,
      key: roomKey(name),
      clients: new Set(),
      names: new Map(),
      listTimer: undefined,
      lastListAt: 0,
      notices: new TokenBucket({ rate: this.#noticeRate, burst: this.#noticeRate }),
      joined: [],
      left: [],
    };
  }

  /**
   * Moves a one-room connection (the TCP command dialect) to another room: it leaves the room it was in,
   * then joins this one. A bad room name is refused and leaves the connection where it was.
   */
  move(client: Client, roomName: string): Result<string> {
    const why = checkRoom(roomName, this.#maxRoomName);
    if (why) return fail("invalid-room", `'${roomName}' is not a valid room: ${why}`);
    const target = client.rooms.get(roomKey(roomName));
    if (target) {
      client.current = target;
      return ok(target.name);
    }
    for (const room of [...client.rooms.values()]) this.#leaveRoom(client, room, "left");
    return this.join(client, roomName);
  }

  /**
   * Sends a joiner the room's recent messages, oldest first. Live messages for that room are held back
   * until the replay is out, then sent without the ones the replay already carried: no gap, no duplicate.
   */
  #replay(client: Client, room: Room, limit: number): void {
    const held: ChatEvent[] = [];
    (client.held ??= new Map()).set(room.key, held);
    const release = (messages: readonly ChatMessage[]) => {
      if (client.held?.get(room.key) !== held) return;
      client.held.delete(room.key);
      if (client.held.size === 0) client.held = null;
      let last = 0;
      for (const message of messages) {
        // Rows stored before the hub cleaned text on input are cleaned on their way out.
        const text = cleanText(message.text);
        this.#fanout([client], {
          kind: "message",
          message: text === message.text ? message : { ...message, text },
        }, null);
        last = message.id;
      }
      for (const event of held) {
        if (event.kind !== "message" || event.message.id > last) this.#fanout([client], event, null);
      }
    };
    this.#store.range(room.name, { limit }).then(
      (range) => release(range.messages),
      (error) => {
        log.error("replay failed: {error}", { error: String(error), room: room.name });
        release([]);
      },
    );
  }

  #addName(room: Room, client: Client): void {
    const key = client.key!;
    const entry = room.names.get(key);
    if (entry) {
      // Already in the room (another connection here, or on another node): no notice, but tell the others
      // when this is the node's first connection of that member in the room.
      if (entry.count++ === 0) this.#publishJoin(room, client);
      return;
    }
    room.names.set(key, { name: client.name!, tag: client.tag, count: 1, nodes: new Set() });
    log.info("join {room}", { room: room.name, name: client.name, conn: client.session.id });
    this.#publishJoin(room, client);
    this.#joinNotice(room, client.name!, client.session.id);
  }

  #publishJoin(room: Room, client: Client): void {
    const member = this.#members.get(client.key!);
    this.#bus.publish({
      kind: "join",
      member: {
        node: this.#bus.node,
        key: client.key!,
        name: client.name!,
        token: member?.token ?? null,
        tag: client.tag,
        ...this.#since(client.key!),
      },
      room: room.name,
      conn: client.session.id,
    });
  }

  #joinNotice(room: Room, name: string, conn: string): void {
    if (this.#noticeNow(room)) {
      this.#fanout(room.clients, { kind: "join", room: room.name, name, conn }, conn);
    } else room.joined.push(name);
    this.#listChanged(room);
  }

  /** Leaves one room (the current one by default). The current room becomes the last joined of those left. */
  leave(client: Client, roomName?: string, reason: LeaveReason = "left"): Result<string> {
    const room = roomName === undefined ? client.current : client.rooms.get(roomKey(roomName));
    if (!room) {
      return fail("not-in-room", roomName === undefined ? "Not in a room" : `Not in room '${roomName}'`);
    }
    this.#leaveRoom(client, room, reason);
    return ok(room.name);
  }

  #leaveRoom(client: Client, room: Room, reason: LeaveReason): void {
    room.clients.delete(client);
    client.rooms.delete(room.key);
    client.typedAt?.delete(room.key);
    client.held?.delete(room.key);
    if (client.current === room) client.current = [...client.rooms.values()].at(-1) ?? null;
    this.#removeName(room, client, reason);
    this.#dropIfEmpty(room);
  }

  #dropIfEmpty(room: Room): void {
    if (room.clients.size === 0 && room.names.size === 0) {
      clearTimeout(room.listTimer);
      this.#rooms.delete(room.key);
    }
  }

  #removeName(room: Room, client: Client, reason: LeaveReason): void {
    if (client.key === null) return;
    const entry = room.names.get(client.key);
    if (!entry || --entry.count > 0) return;
    this.#bus.publish({
      kind: "leave",
      node: this.#bus.node,
      key: client.key,
      room: room.name,
      conn: client.session.id,
      reason,
    });
    if (entry.nodes.size > 0) return;
    room.names.delete(client.key);
    log.info("leave {room}", { room: room.name, name: client.name, conn: client.session.id, reason });
    const event: ChatEvent = {
      kind: "leave",
      room: room.name,
      name: entry.name,
      conn: client.session.id,
      reason,
    };
    if (this.#noticeNow(room)) this.#fanout(room.clients, event, client.session.id);
    else room.left.push(entry.name);
    // The leaver hears its own leave only where the dialect echoes it, and only when it is still connected.
    if (reason === "left") this.#fanout([client], event, client.session.id);
    this.#listChanged(room);
  }

  /**
   * Whether a join/leave notice goes out now. Past the room's notice rate (a crowd arriving at once), or in a
   * room bigger than the list limit, notices are summarised once per presence tick instead: each member gets
   * one frame per tick, not one per join.
   */
  #noticeNow(room: Room): boolean {
    // A notice costs a frame per member: rooms over the list limit get only the summaries.
    return room.joined.length === 0 && room.left.length === 0 && room.clients.size <= this.#listLimit &&
      room.notices.take().kind === "ok";
  }

  #release(client: Client): void {
    if (client.key === null) return;
    const member = this.#members.get(client.key);
    member?.clients.delete(client);
    if (member && member.clients.size === 0) {
      this.#members.delete(client.key);
      const at = Date.now();
      // Held on another node too (one page token, two nodes): the claim goes on there.
      if (!this.#remote.has(client.key)) this.#claims.end(client.key, at);
      this.#bus.publish({ kind: "offline", node: this.#bus.node, key: client.key, at });
      this.#bus.release(client.key);
    }
    client.key = null;
  }

  /** Ends a connection: it leaves every room and releases its name. Safe to call twice. */
  disconnect(client: Client): void {
    if (!this.#clients.delete(client)) return;
    for (const room of [...client.rooms.values()]) this.#leaveRoom(client, room, "disconnected");
    this.#release(client);
    log.info("disconnect", { name: client.name, conn: client.session.id });
  }

  /** Sends a message to a room; resolves once it is stored, then every member has been handed it. */
  async say(client: Client, text: string, options: SayOptions = {}): Promise<Result<ChatMessage>> {
    if (client.name === null) return fail("not-logged-in", "Log in first");
    const room = options.room === undefined ? client.current : client.rooms.get(roomKey(options.room));
    if (!room) {
      return fail(
        "not-in-room",
        options.room === undefined ? "Join a room first" : `Not in room '${options.room}'`,
      );
    }
    if (text.trim() === "") return fail("empty-message", "Empty message");
    if (this.load.overloaded()) return this.#busy();
    // A node that cannot hear the cluster would store a message and never deliver it, not even to its sender.
    if (!this.#bus.ready()) return this.#unavailable();
    let message: ChatMessage;
    const started = performance.now();
    try {
      message = await this.#store.append({
        room: room.name,
        time: Date.now(),
        from: client.name,
        // Cleaned once, here, for every door: what is stored is what each door delivers (src/hub/text.ts).
        text: cleanText(text),
        conn: client.session.id,
        ...(options.tag === undefined ? {} : { tag: options.tag }),
      });
    } catch (error) {
      this.#metrics.storeFailures++;
      log.error("store append failed: {error}", { error: String(error), room: room.name });
      return fail("unavailable", "Cannot store the message right now; it was not sent");
    }
    this.#metrics.storeLatency.observe((performance.now() - started) / 1000);
    this.#metrics.messagesIn++;
    // Never the text at info level: logs are not a place for people's conversations.
    log.info("msg", { room: room.name, id: message.id, name: client.name, conn: client.session.id });
    // Delivery goes through the bus, to every node (this one included) in one order. In a Redis cluster the
    // store's append already published it, in the same atomic step that numbered it.
    if (!this.#bus.storePublishes) this.#bus.publish({ kind: "message", message });
    return ok(message);
  }

  /** Sends a direct message to a connected member. */
  async dm(client: Client, to: string, text: string): Promise<Result<DirectMessage>> {
    if (client.name === null) return fail("not-logged-in", "Log in first");
    const targetName = this.#members.get(nameKey(to))?.name ??
      this.#remote.get(nameKey(to))?.values().next().value?.name;
    if (targetName === undefined) return fail("user-not-found", `User '${to}' not found or offline`);
    if (text.trim() === "") return fail("empty-message", "Empty message");
    if (this.load.overloaded()) return this.#busy();
    if (!this.#bus.ready()) return this.#unavailable();
    let message: DirectMessage;
    const started = performance.now();
    // Stamped inside both parties' claims: both holders always read what they exchanged, later ones never.
    const time = this.#claims.stamp(client.key!, nameKey(targetName));
    try {
      message = await this.#store.appendDirect({
        time,
        from: client.name,
        to: targetName,
        text: cleanText(text),
        conn: client.session.id,
      });
    } catch (error) {
      this.#metrics.storeFailures++;
      log.error("store append failed: {error}", { error: String(error) });
      return fail("unavailable", "Cannot store the message right now; it was not sent");
    }
    this.#metrics.storeLatency.observe((performance.now() - started) / 1000);
    this.#metrics.directsIn++;
    log.info("dm", { name: client.name, conn: client.session.id });
    if (!this.#bus.storePublishes) this.#bus.publish({ kind: "dm", message });
    return ok(message);
  }

  #busy(): Result<never> {
    this.#metrics.overloadRefusals++;
    return fail("rate-limited", "Server busy: the message was not sent; try again shortly");
  }

  #unavailable(): Result<never> {
    this.#metrics.storeFailures++;
    return fail("unavailable", "Cannot store the message right now; it was not sent");
  }

  /** Relays a typing notice to the other members of a room, at most once per interval per member. */
  typing(client: Client, roomName?: string): void {
    if (client.name === null) return;
    const room = roomName === undefined ? client.current : client.rooms.get(roomKey(roomName));
    if (!room) return;
    const now = Date.now();
    if (now - (client.typedAt?.get(room.key) ?? -Infinity) < this.#typingIntervalMs) return;
    (client.typedAt ??= new Map()).set(room.key, now);
    // Typing is the first thing to shed: members whose queue is half full do not get it at all.
    const calm = [...room.clients].filter((c) => c !== client && c.session.pressure() <= 0.5);
    this.#fanout(calm, { kind: "typing", room: room.name, name: client.name }, client.session.id);
  }

  /** Members of a room, sorted by name. */
  users(roomName: string): MemberInfo[] {
    const room = this.#rooms.get(roomKey(roomName));
    return room ? sortedMembers(room) : [];
  }

  /** Whether a member of that name is connected. */
  online(name: string): boolean {
    return this.#members.has(nameKey(name)) || this.#remote.has(nameKey(name));
  }

  /** Sends the current user list of a room to one connection, now (an explicit request is never coalesced). */
  sendUsers(client: Client, roomName: string, page: { offset?: number; limit?: number } = {}): void {
    const room = this.#rooms.get(roomKey(roomName));
    const offset = page.offset ?? 0;
    const limit = Math.min(page.limit ?? this.#listLimit, this.#listLimit);
    const event: ChatEvent = room
      ? this.#usersEvent(room, offset, limit)
      : { kind: "users", room: roomName, users: [], total: 0, offset };
    this.#fanout([client], event, null);
  }

  /** The most names one full-list frame or page carries. */
  get listLimit(): number {
    return this.#listLimit;
  }

  /** Name length limits in force (`--max-name`, `--max-room-name`), for doors that check before connecting. */
  get nameLimits(): { readonly name: number; readonly room: number } {
    return { name: this.#maxName, room: this.#maxRoomName };
  }

  /** Rooms in memory with their member counts, sorted by name. */
  rooms(): RoomInfo[] {
    return [...this.#rooms.values()]
      .map((r) => ({ name: r.name, members: r.names.size }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Reads a room's history (any room, also one nobody is in). */
  history(roomName: string, options: RangeOptions): Promise<Range<ChatMessage>> {
    return this.#store.range(roomName, options);
  }

  /**
   * Reads the DM history between a logged-in member and another name: only one's own pairs, and only from
   * the moment the asker's claim of its name began (see `claims.ts`). The one place any door reads DMs.
   */
  async directHistory(
    client: Client,
    other: string,
    options: RangeOptions,
  ): Promise<Result<Range<DirectMessage>>> {
    if (client.name === null || client.key === null) return fail("not-logged-in", "Log in first");
    const since = this.#claims.since(client.key) ?? Date.now();
    try {
      return ok(await readSince(this.#store, client.name, other, options, since));
    } catch {
      return fail("unavailable", "History is unavailable right now");
    }
  }

  #since(key: string): { since?: number } {
    const since = this.#claims.since(key);
    return since === null ? {} : { since };
  }

  /** Tells one connection something in its own dialect. */
  notify(client: Client, code: string, text: string): void {
    this.#fanout([client], { kind: "notice", code, text }, null);
  }

  /** Tells every connection the server is going away and closes them all. */
  shutdown(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const room of this.#rooms.values()) clearTimeout(room.listTimer);
    const clients = [...this.#clients];
    this.#fanout(clients, { kind: "shutdown" }, null);
    for (const client of clients) client.session.close("shutdown");
  }

  #listChanged(room: Room): void {
    if (room.listTimer !== undefined || this.#closed) return;
    // Coalesce: one list per interval carrying the latest members; a burst of joins in one tick costs one frame.
    // A room over the list limit waits an interval per limit's worth of members: each tick costs every member a
    // frame of up to --list-limit names, so a crowd of 10 000 arriving at once is told every 2.5 s, not 4 times a
    // second (BENCHMARKS.md, join-10000).
    const interval = this.#presenceIntervalMs * Math.max(1, Math.ceil(room.clients.size / this.#listLimit));
    const wait = Math.max(0, room.lastListAt + interval - Date.now());
    room.listTimer = setTimeout(() => {
      room.listTimer = undefined;
      room.lastListAt = Date.now();
      if (this.#rooms.get(room.key) !== room) return;
      // One summary of the joins and one of the leaves, each a single frame per member.
      if (room.joined.length > 0) {
        this.#spread(room, { kind: "presence", room: room.name, joined: room.joined, left: [] });
      }
      if (room.left.length > 0) {
        this.#spread(room, { kind: "presence", room: room.name, joined: [], left: room.left });
      }
      room.joined = [];
      room.left = [];
      this.#spread(room, this.#usersEvent(room, 0, this.#listLimit));
    }, wait);
  }

  #usersEvent(room: Room, offset: number, limit: number): ChatEvent & { kind: "users" } {
    const all = sortedMembers(room);
    return {
      kind: "users",
      room: room.name,
      users: all.slice(offset, offset + limit),
      total: all.length,
      offset,
    };
  }

  /**
   * Fans a presence frame out to a room in slices, yielding between them, so a room of 10 000 does not hold
   * up message delivery in other rooms. Encoding still happens once per dialect: the frame is the same.
   */
  #spread(room: Room, event: ChatEvent): void {
    const clients = [...room.clients];
    const cache = new Map<Codec, Frame | null>();
    const slice = (start: number) => {
      this.#fanout(clients.slice(start, start + SPREAD_SLICE), event, null, cache);
      if (start + SPREAD_SLICE < clients.length && !this.#closed) {
        // setImmediate yields to I/O without setTimeout(0)'s ~2 ms clamp per slice.
        setImmediate(() => slice(start + SPREAD_SLICE));
      }
    };
    slice(0);
  }

  /** Everything that reaches this node, from itself or others, goes through here. */
  #onBus(event: BusEvent): void {
    switch (event.kind) {
      case "message": {
        // The room may have emptied while the store worked; the message is in history all the same.
        const room = this.#rooms.get(roomKey(event.message.room));
        if (room) this.#fanout(room.clients, event, event.message.conn);
        return;
      }
      case "dm": {
        const { from, to, conn } = event.message;
        const targets = new Set([
          ...(this.#members.get(nameKey(to))?.clients ?? []),
          ...(this.#members.get(nameKey(from))?.clients ?? []),
        ]);
        this.#fanout(targets, event, conn);
        return;
      }
      default: {
        // This node's own presence comes back too; its tables already say so.
        const node = event.kind === "online" || event.kind === "join" ? event.member.node : event.node;
        if (node !== this.#bus.node) this.#remotePresence(event);
      }
    }
  }

  /** Presence from another node: its members, and who of them is in which room. */
  #remotePresence(event: BusEvent): void {
    switch (event.kind) {
      case "online": {
        const { key, node, token, since } = event.member;
        let nodes = this.#remote.get(key);
        if (!nodes) this.#remote.set(key, nodes = new Map());
        nodes.set(node, event.member);
        // Known here too, so that its page can resume the claim through this node.
        if (!this.#members.has(key)) this.#claims.begin(key, token, since === undefined ? {} : { since });
        return;
      }
      case "offline":
        this.#forgetRemote(event.key, event.node, event.at);
        return;
      case "join": {
        const { key, node, name, tag } = event.member;
        if (!this.#remote.get(key)?.has(node)) this.#remotePresence({ kind: "online", member: event.member });
        let room = this.#rooms.get(roomKey(event.room));
        if (!room) {
          room = this.#newRoom(event.room);
          this.#rooms.set(room.key, room);
        }
        const entry = room.names.get(key);
        if (entry) {
          entry.nodes.add(node);
          return;
        }
        room.names.set(key, { name, tag, count: 0, nodes: new Set([node]) });
        this.#joinNotice(room, name, event.conn);
        return;
      }
      case "leave": {
        const room = this.#rooms.get(roomKey(event.room));
        if (room) this.#remoteLeave(room, event.key, event.node, event.conn, event.reason);
        return;
      }
      case "node-gone":
        for (const room of [...this.#rooms.values()]) {
          for (const [key, entry] of [...room.names]) {
            if (entry.nodes.has(event.node)) this.#remoteLeave(room, key, event.node, "", "disconnected");
          }
        }
        for (const key of [...this.#remote.keys()]) this.#forgetRemote(key, event.node);
        return;
    }
  }

  #forgetRemote(key: string, node: string, at?: number): void {
    const nodes = this.#remote.get(key);
    nodes?.delete(node);
    if (nodes?.size === 0) {
      this.#remote.delete(key);
      if (!this.#members.has(key)) this.#claims.end(key, at);
    }
  }

  #remoteLeave(room: Room, key: string, node: string, conn: string, reason: LeaveReason): void {
    const entry = room.names.get(key);
    if (!entry || !entry.nodes.delete(node) || entry.nodes.size > 0 || entry.count > 0) return;
    room.names.delete(key);
    const event: ChatEvent = { kind: "leave", room: room.name, name: entry.name, conn, reason };
    if (this.#noticeNow(room)) this.#fanout(room.clients, event, null);
    else room.left.push(entry.name);
    this.#listChanged(room);
    this.#dropIfEmpty(room);
  }

  #fanout(
    targets: Iterable<Client>,
    event: ChatEvent,
    origin: string | null,
    shared?: Map<Codec, Frame | null>,
  ): void {
    // Encode once per codec: a room of 1000 in three dialects costs three encodings.
    let lastCodec: Codec | undefined;
    let lastFrame: Frame | null = null;
    let cache: Map<Codec, Frame | null> | undefined = shared;
    let sent = 0;
    for (const client of targets) {
      const codec = client.session.codec;
      if (origin !== null && client.session.id === origin && !codec.echo.has(event.kind)) continue;
      if (client.held !== null && event.kind === "message") {
        const held = client.held.get(roomKey(event.message.room));
        if (held) {
          held.push(event);
          continue;
        }
      }
      let frame: Frame | null | undefined;
      if (codec === lastCodec) frame = lastFrame;
      else {
        frame = cache?.get(codec);
        if (frame === undefined) {
          frame = codec.encode(event);
          (cache ??= new Map()).set(codec, frame);
        }
        lastCodec = codec;
        lastFrame = frame;
      }
      if (frame !== null) {
        client.session.send(frame);
        sent++;
      }
    }
    this.#metrics.framesOut += sent;
  }
}

/** How many DMs a read past the claim's start fetches at a time. */
const SINCE_BATCH = 200;

/**
 * A DM range cut at `since`: messages stamped before it are not the asker's. Newest-first ranges simply drop
 * them (all older ones are older still); oldest-first ranges (`after`) read on past them, so a page is only
 * short when the conversation ends. A range the cut shortened is complete: nothing older is the asker's.
 */
async function readSince(
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

function sortedMembers(room: Room): MemberInfo[] {
  return [...room.names.values()]
    .map(({ name, tag }) => ({ name, tag }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
