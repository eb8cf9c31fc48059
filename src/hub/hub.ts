/**
 * The hub: rooms, messages, history and fan-out, the only place where chat rules live. Names live in
 * `names.ts`, presence (member lists, join and leave notices, other nodes' members) in `presence.ts`.
 *
 * The hub knows nothing about sockets. Doors call it with a {@linkcode Client} handle and it answers with
 * {@linkcode Result}s; everything else reaches connections as {@linkcode ChatEvent}s through their
 * {@linkcode Session}. Every message goes out through the bus, to every node this one included, so all
 * members see one order; fan-out encodes each event once per codec, never once per recipient.
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type {
  ChatEvent,
  ChatMessage,
  DirectMessage,
  HubCounters,
  LeaveReason,
  Result,
  Session,
} from "../model.ts";
import { fail, ok } from "../model.ts";
import { checkRoom, nameKey, roomKey } from "../names.ts";
import type { NewDirectMessage, NewMessage, Range, RangeOptions, Store } from "../store/store.ts";
import type { Bus, BusEvent } from "../bus/bus.ts";
import { LoadGauge } from "./backpressure.ts";
import { fanout, type FrameCache } from "./fanout.ts";
import { type LoginOptions, NameRegistry } from "./names.ts";
import { readSince } from "./claims.ts";
import { type MemberPage, Presence } from "./presence.ts";
import { Client, type Room, Rooms } from "./rooms.ts";
import { cleanText } from "./text.ts";
import { AccountService, type AccountsMode } from "./accounts.ts";
import type { AttemptLimits } from "./attempts.ts";
import type { ScryptParams } from "./passwords.ts";
import type { AccountStore } from "../store/store.ts";

export { Client } from "./rooms.ts";
export type { LoginOptions } from "./names.ts";
export type { MemberPage } from "./presence.ts";
export type { AccountService, AccountsMode, SessionGrant } from "./accounts.ts";

const log = getLogger(["hubbub", "hub"]);

/** A member's typing is relayed at most this often per room (milliseconds). */
const TYPING_INTERVAL_MS = 3000;
/** Join/leave notices sent at once per room per second; past it they are summarised each tick. */
const NOTICE_RATE = 10;

/** What the hub needs: where history lives, how it hears the cluster, and the limits in force. */
export interface HubOptions {
  /** Where history lives and who numbers messages. */
  readonly store: Store;
  /** How this node hears the rest of the cluster (every delivery goes through it). */
  readonly bus: Bus;
  /** Where counters go; private ones when not given. */
  readonly metrics?: HubCounters;
  /** Full user lists go to a room at most this often (milliseconds). */
  readonly presenceIntervalMs: number;
  /** Rooms one connection may be in at once. */
  readonly maxRooms: number;
  /** Longest member name. */
  readonly maxName: number;
  /** Longest room name. */
  readonly maxRoomName: number;
  /** Full-list frames and pages carry at most this many names (the first in sort order) and the total. */
  readonly listLimit: number;
  /** The clock (milliseconds since the epoch); tests inject one. */
  readonly now?: () => number;
  /** A member's typing is relayed at most this often per room (milliseconds; tests shorten it). */
  readonly typingIntervalMs?: number;
  /** Join/leave notices per room per second before they are summarised (tests change it). */
  readonly noticeRate?: number;
  /** Accounts that own names (`--accounts`); off when not given. */
  readonly accounts?: HubAccountsOptions;
}

/** The accounts part of {@linkcode HubOptions}. */
export interface HubAccountsOptions {
  /** `off`, `on` or `required`. */
  readonly mode: AccountsMode;
  /** Where accounts and page sessions live (the store, which keeps them too). */
  readonly store: AccountStore | null;
  /** Password attempt limits (tests shorten them). */
  readonly limits?: AttemptLimits;
  /** scrypt parameters of new hashes (tests make them cheap). */
  readonly scrypt?: ScryptParams;
}

/** Options of {@linkcode Hub.join}. */
export interface JoinOptions {
  /**
   * How many of the room's recent messages to replay to the joiner (dialects with no history command of their
   * own; each door has its own setting); 0 or absent: none.
   */
  readonly replay?: number;
  /**
   * Takes the replayed messages (oldest first, text cleaned) instead of their being sent one by one as live
   * messages: a dialect that marks history as such (IRC's `chathistory` batch). Live messages held back
   * meanwhile still follow it, without gap or duplicate.
   */
  readonly replayTo?: (messages: readonly ChatMessage[]) => void;
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

/** The hub. One per process; shared by every door. */
export class Hub {
  readonly #store: Store;
  readonly #bus: Bus;
  readonly #rooms: Rooms;
  readonly #names: NameRegistry;
  readonly #presence: Presence;
  readonly #clients = new Set<Client>();
  readonly #metrics: HubCounters;
  readonly #now: () => number;
  readonly #typingIntervalMs: number;
  readonly #maxRooms: number;
  readonly #maxName: number;
  readonly #maxRoomName: number;
  readonly #listLimit: number;
  /** Sessions report how backed up they are; past half of them, new messages are refused. */
  readonly load: LoadGauge = new LoadGauge();
  /** Accounts that own names: registration, passwords, page sessions (`accounts.ts`). */
  readonly accounts: AccountService;
  #closed = false;

  /** Creates a hub over a store and a bus. */
  constructor(options: HubOptions) {
    this.#store = options.store;
    this.#bus = options.bus;
    this.#metrics = options.metrics ?? counters();
    this.#now = options.now ?? Date.now;
    this.#typingIntervalMs = options.typingIntervalMs ?? TYPING_INTERVAL_MS;
    this.#maxRooms = options.maxRooms;
    this.#maxName = options.maxName;
    this.#maxRoomName = options.maxRoomName;
    this.#listLimit = options.listLimit;
    this.#rooms = new Rooms(options.noticeRate ?? NOTICE_RATE);
    this.#names = new NameRegistry({
      bus: this.#bus,
      maxName: options.maxName,
      now: this.#now,
      guard: (client, key, name) => this.accounts.guard(client, key, name),
      hooks: {
        // A connection may sit in rooms before it has a name (GoBanter's lobby); it now appears in them.
        named: (client) => {
          for (const room of client.rooms.values()) this.#presence.added(room, client);
        },
        unnamed: (client) => {
          for (const room of client.rooms.values()) this.#presence.removed(room, client, "left");
        },
      },
    });
    this.#presence = new Presence({
      bus: this.#bus,
      rooms: this.#rooms,
      names: this.#names,
      fanout: (targets, event, origin, cache) => this.#fanout(targets, event, origin, cache),
      intervalMs: options.presenceIntervalMs,
      listLimit: options.listLimit,
      now: this.#now,
    });
    this.accounts = new AccountService({
      mode: options.accounts?.mode ?? "off",
      store: options.accounts?.store ?? null,
      names: this.#names,
      leaveAll: (client) => {
        for (const room of [...client.rooms.values()]) this.#leaveRoom(client, room, "left");
      },
      now: this.#now,
      ...(options.accounts?.limits ? { limits: options.accounts.limits } : {}),
      ...(options.accounts?.scrypt ? { scrypt: options.accounts.scrypt } : {}),
    });
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

  /** The counters this hub (and its doors) bump. */
  get metrics(): HubCounters {
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
    const { members, remote } = this.#names.counts();
    return { connections, rooms: this.#rooms.size, members, remoteMembers: remote, queuedBytes };
  }

  /** Claims a name for a connection on this node's view only; refused when invalid or taken (unless `variant`). */
  login(client: Client, wanted: string, options: LoginOptions = {}): Result<string> {
    return this.#names.login(client, wanted, options);
  }

  /**
   * Changes a connection's name (GoBanter's page sends `username` whenever its name field changes). Rooms
   * see the old name leave and the new one join. A nameless connection simply logs in.
   */
  rename(client: Client, wanted: string, options: LoginOptions = {}): Result<string> {
    return this.#names.rename(client, wanted, options);
  }

  /** `rename`, after claiming the new name cluster-wide; a nameless connection claims its first name. */
  changeName(client: Client, wanted: string, options: LoginOptions = {}): Promise<Result<string>> {
    return this.#names.changeName(client, wanted, options);
  }

  /**
   * Logs in after claiming the name cluster-wide (the doors use this; `login` alone decides on this node's
   * view only). With `variant`, tries `alice-2`, `alice-3`, ... until a claim succeeds.
   */
  claim(client: Client, wanted: string, options: LoginOptions = {}): Promise<Result<string>> {
    return this.#names.claim(client, wanted, options);
  }

  /** Whether a name is free for a connection holding `token`. */
  isFree(name: string, token: string | null = null): boolean {
    return this.#names.isFree(name, token);
  }

  /** Whether a member of that name is connected anywhere. */
  online(name: string): boolean {
    return this.#names.online(name);
  }

  /** Enters a room (created on first join) and makes it current. Joining a room one is in only makes it current. */
  join(client: Client, roomName: string, options: JoinOptions = {}): Result<string> {
    const why = checkRoom(roomName, this.#maxRoomName);
    if (why) return fail("invalid-room", `'${roomName}' is not a valid room: ${why}`);
    if (!this.accounts.admits(client)) {
      return fail("login-required", "Sign in first: this server has no guests");
    }
    const existing = client.rooms.get(roomKey(roomName));
    if (existing) {
      client.current = existing;
      return ok(existing.name);
    }
    if (client.rooms.size >= this.#maxRooms) {
      return fail("too-many-rooms", `Cannot join more than ${this.#maxRooms} rooms; leave one first`);
    }
    const room = this.#rooms.open(roomName);
    room.clients.add(client);
    client.rooms.set(room.key, room);
    client.current = room;
    if (client.key !== null) this.#presence.added(room, client);
    if (options.replay !== undefined && options.replay > 0) {
      this.#replay(client, room, options.replay, options.replayTo);
    }
    return ok(room.name);
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

  /** Leaves one room (the current one by default). The current room becomes the last joined of those left. */
  leave(client: Client, roomName?: string, reason: LeaveReason = "left"): Result<string> {
    const room = roomName === undefined ? client.current : client.rooms.get(roomKey(roomName));
    if (!room) {
      return fail("not-in-room", roomName === undefined ? "Not in a room" : `Not in room '${roomName}'`);
    }
    this.#leaveRoom(client, room, reason);
    return ok(room.name);
  }

  /** Ends a connection: it leaves every room and releases its name. Safe to call twice. */
  disconnect(client: Client): void {
    if (!this.#clients.delete(client)) return;
    for (const room of [...client.rooms.values()]) this.#leaveRoom(client, room, "disconnected");
    this.#names.release(client);
    log.info("disconnect", { name: client.name, conn: client.session.id });
  }

  /** Sends a message to a room; resolves once it is stored, then every member has been handed it. */
  say(client: Client, text: string, options: SayOptions = {}): Promise<Result<ChatMessage>> {
    if (client.name === null) return refused("not-logged-in", "Log in first");
    const room = options.room === undefined ? client.current : client.rooms.get(roomKey(options.room));
    if (!room) {
      return refused(
        "not-in-room",
        options.room === undefined ? "Join a room first" : `Not in room '${options.room}'`,
      );
    }
    const refusal = this.#refusal(text);
    if (refusal) return Promise.resolve(refusal);
    return this.#send("room", {
      room: room.name,
      time: this.#now(),
      from: client.name,
      text,
      conn: client.session.id,
      ...(options.tag === undefined ? {} : { tag: options.tag }),
    });
  }

  /** Sends a direct message to a member connected anywhere. */
  dm(client: Client, to: string, text: string): Promise<Result<DirectMessage>> {
    if (client.name === null) return refused("not-logged-in", "Log in first");
    const target = this.#names.holder(to);
    if (target === undefined) return refused("user-not-found", `User '${to}' not found or offline`);
    const refusal = this.#refusal(text);
    if (refusal) return Promise.resolve(refusal);
    return this.#send("direct", {
      // Stamped inside both parties' claims: both holders always read what they exchanged, later ones never.
      time: this.#names.stamp(client.key!, nameKey(target)),
      from: client.name,
      to: target,
      text,
      conn: client.session.id,
    });
  }

  /** Why a message cannot be taken now, before anything is stamped or stored; `null` when it can. */
  #refusal(text: string): Result<never> | null {
    if (text.trim() === "") return fail("empty-message", "Empty message");
    if (this.load.overloaded()) {
      this.#metrics.overloadRefusals++;
      return fail("rate-limited", "Server busy: the message was not sent; try again shortly");
    }
    // A node that cannot hear the cluster would store a message and never deliver it, not even to its sender.
    if (!this.#bus.ready()) {
      this.#metrics.storeFailures++;
      return fail("unavailable", "Cannot store the message right now; it was not sent");
    }
    return null;
  }

  /**
   * The one path of every message: cleaned, stored (acknowledged only once durable), counted, then published
   * on the bus, which hands it to every node, this one included, in one order.
   */
  #send(kind: "room", message: NewMessage): Promise<Result<ChatMessage>>;
  #send(kind: "direct", message: NewDirectMessage): Promise<Result<DirectMessage>>;
  async #send(
    kind: "room" | "direct",
    message: NewMessage | NewDirectMessage,
  ): Promise<Result<ChatMessage | DirectMessage>> {
    // Cleaned once, here, for every door: what is stored is what each door delivers (src/hub/text.ts).
    const clean = { ...message, text: cleanText(message.text) };
    const started = performance.now();
    let stored: ChatMessage | DirectMessage;
    try {
      stored = kind === "room"
        ? await this.#store.append(clean as NewMessage)
        : await this.#store.appendDirect(clean as NewDirectMessage);
    } catch (error) {
      this.#metrics.storeFailures++;
      log.error("store append failed: {error}", { error: String(error), kind });
      return fail("unavailable", "Cannot store the message right now; it was not sent");
    }
    this.#metrics.storeLatency.observe((performance.now() - started) / 1000);
    // Never the text: logs are not a place for people's conversations.
    if (kind === "room") {
      const m = stored as ChatMessage;
      this.#metrics.messagesIn++;
      log.info("msg", { room: m.room, id: m.id, name: m.from, conn: m.conn });
      this.#bus.publish({ kind: "message", message: m });
    } else {
      const m = stored as DirectMessage;
      this.#metrics.directsIn++;
      log.info("dm", { name: m.from, conn: m.conn });
      this.#bus.publish({ kind: "dm", message: m });
    }
    return ok(stored);
  }

  /** Relays a typing notice to the other members of a room, at most once per interval per member. */
  typing(client: Client, roomName?: string): void {
    if (client.name === null) return;
    const room = roomName === undefined ? client.current : client.rooms.get(roomKey(roomName));
    if (!room) return;
    const now = this.#now();
    if (now - (client.typedAt?.get(room.key) ?? -Infinity) < this.#typingIntervalMs) return;
    (client.typedAt ??= new Map()).set(room.key, now);
    // Typing is the first thing to shed: members whose queue is half full do not get it at all.
    const calm = [...room.clients].filter((c) => c !== client && c.session.pressure() <= 0.5);
    this.#fanout(calm, { kind: "typing", room: room.name, name: client.name }, client.session.id);
  }

  /**
   * A page of a room's members, sorted by name (any room; empty when nobody is in it). `limit` is capped at
   * the list limit; `next` is the offset of the following page. The page's lists, TCP `WHO` and the JSON API
   * all page through here.
   */
  members(roomName: string, page: { readonly offset?: number; readonly limit?: number } = {}): MemberPage {
    return this.#presence.page(roomName, page);
  }

  /** Sends a page of a room's member list to one connection, now (an explicit request is never coalesced). */
  sendUsers(
    client: Client,
    roomName: string,
    page: { readonly offset?: number; readonly limit?: number } = {},
  ): void {
    this.#fanout([client], this.#presence.usersEvent(this.#presence.page(roomName, page)), null);
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

  /** Reads a room's history (any room, also one nobody is in); `unavailable` when the store cannot answer. */
  async history(roomName: string, options: RangeOptions): Promise<Result<Range<ChatMessage>>> {
    try {
      return ok(await this.#store.range(roomName, options));
    } catch {
      return fail("unavailable", "History is unavailable right now");
    }
  }

  /**
   * Reads the DM history between a logged-in member and another name: only one's own pairs, and only from
   * the moment the asker's claim of its name began (see `claims.ts`), or, signed in to its name's account,
   * from the moment the account's DMs began (`accounts.ts`). The one place any door reads DMs.
   */
  async directHistory(
    client: Client,
    other: string,
    options: RangeOptions,
  ): Promise<Result<Range<DirectMessage>>> {
    if (client.name === null || client.key === null) return fail("not-logged-in", "Log in first");
    const since = this.accounts.dmSince(client) ?? this.#names.since(client.key) ?? this.#now();
    try {
      return ok(await readSince(this.#store, client.name, other, options, since));
    } catch {
      return fail("unavailable", "History is unavailable right now");
    }
  }

  /** Tells one connection something in its own dialect. */
  notify(client: Client, code: string, text: string): void {
    this.#fanout([client], { kind: "notice", code, text }, null);
  }

  /** Tells every connection the server is going away and closes them all. */
  shutdown(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#presence.close();
    const clients = [...this.#clients];
    this.#fanout(clients, { kind: "shutdown" }, null);
    for (const client of clients) client.session.close("shutdown");
  }

  #leaveRoom(client: Client, room: Room, reason: LeaveReason): void {
    room.clients.delete(client);
    client.rooms.delete(room.key);
    client.typedAt?.delete(room.key);
    client.held?.delete(room.key);
    if (client.current === room) client.current = [...client.rooms.values()].at(-1) ?? null;
    this.#presence.removed(room, client, reason);
    this.#rooms.dropIfEmpty(room);
  }

  /**
   * Sends a joiner the room's recent messages, oldest first. Live messages for that room are held back
   * until the replay is out, then sent without the ones the replay already carried: no gap, no duplicate.
   */
  #replay(
    client: Client,
    room: Room,
    limit: number,
    replayTo?: (messages: readonly ChatMessage[]) => void,
  ): void {
    const held: ChatEvent[] = [];
    (client.held ??= new Map()).set(room.key, held);
    const release = (messages: readonly ChatMessage[]) => {
      if (client.held?.get(room.key) !== held) return;
      client.held.delete(room.key);
      if (client.held.size === 0) client.held = null;
      // Rows stored before the hub cleaned text on input are cleaned on their way out.
      const cleaned = messages.map((m) => {
        const text = cleanText(m.text);
        return text === m.text ? m : { ...m, text };
      });
      if (replayTo) replayTo(cleaned);
      else for (const message of cleaned) this.#fanout([client], { kind: "message", message }, null);
      const last = cleaned.at(-1)?.id ?? 0;
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

  /** Everything that reaches this node, from itself or others, goes through here. */
  #onBus(event: BusEvent): void {
    switch (event.kind) {
      case "message": {
        // The room may have emptied while the store worked; the message is in history all the same.
        const room = this.#rooms.get(event.message.room);
        if (room) this.#fanout(room.clients, event, event.message.conn);
        return;
      }
      case "dm": {
        const { from, to, conn } = event.message;
        const targets = new Set([
          ...this.#names.clientsOf(nameKey(to)),
          ...this.#names.clientsOf(nameKey(from)),
        ]);
        this.#fanout(targets, event, conn);
        return;
      }
      default: {
        // This node's own presence comes back too; its tables already say so.
        const node = event.kind === "online" || event.kind === "join" ? event.member.node : event.node;
        if (node !== this.#bus.node) this.#presence.remote(event);
      }
    }
  }

  #fanout(targets: Iterable<Client>, event: ChatEvent, origin: string | null, cache?: FrameCache): void {
    this.#metrics.framesOut += fanout(targets, event, origin, cache);
  }
}

/** A refusal, as a promise (for the async calls that can be refused before they wait on anything). */
function refused<T>(code: Parameters<typeof fail>[0], detail: string): Promise<Result<T>> {
  return Promise.resolve(fail(code, detail));
}

/** Counters nobody reads, for a hub built without metrics (tests). */
function counters(): HubCounters {
  return {
    messagesIn: 0,
    directsIn: 0,
    framesOut: 0,
    storeFailures: 0,
    slowReadersDropped: 0,
    overloadRefusals: 0,
    storeLatency: { observe: () => {} },
  };
}
