/**
 * The hub's internal words: a connection ({@linkcode Client}), a room and its members, and the table of rooms
 * this node knows. Shared by the hub's modules; doors see only `Client`'s public side.
 * @module
 */

import type { ChatEvent, Session } from "../model.ts";
import { roomKey } from "../names.ts";
import { TokenBucket } from "./limits.ts";

/** A name in a room: how many of this node's connections hold it there, and which other nodes have it there. */
export interface RoomMember {
  /** Display name. */
  name: string;
  /** goChat session id, for goChat user lists. */
  tag: string | null;
  /** Connections of this node in the room. */
  count: number;
  /** Other nodes with connections of this member in the room. */
  readonly nodes: Set<string>;
}

/** A room as this node knows it. */
export interface Room {
  /** Display name (as first joined). */
  readonly name: string;
  /** Folded name. */
  readonly key: string;
  /** This node's connections in the room, named or not. */
  readonly clients: Set<Client>;
  /** Members by name key, from every node. */
  readonly names: Map<string, RoomMember>;
  /** The coalesced full list's timer, while one is due. */
  listTimer: ReturnType<typeof setTimeout> | undefined;
  /** When the last full list went out. */
  lastListAt: number;
  /** Immediate join/leave notices left in this second. */
  readonly notices: TokenBucket;
  /** Names whose join or leave notice waits for the next tick's summary. */
  joined: string[];
  left: string[];
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
  readonly rooms: Map<string, Room> = new Map();
  /** @internal */
  current: Room | null = null;
  /** @internal when this client last had a typing notice relayed, per room key; created on first use. */
  typedAt: Map<string, number> | null = null;
  /** @internal live messages held back per room key while history is being replayed to this client. */
  held: Map<string, ChatEvent[]> | null = null;
  /** @internal the account this connection proved it owns (a password or a page session), by name key. */
  accountKey: string | null = null;
  /** @internal the account's name as registered. */
  accountName: string | null = null;
  /** @internal from when the account's DMs are its own (see `accounts.ts`). */
  accountSince: number | null = null;

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

  /** The account this connection signed in to (its name as registered), or `null` for a guest. */
  get account(): string | null {
    return this.accountName;
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

/** The rooms this node knows: created on first join (here or on another node), dropped when empty. */
export class Rooms {
  readonly #rooms = new Map<string, Room>();
  readonly #noticeRate: number;

  /** Creates an empty table; `noticeRate` is each room's immediate join/leave notices per second. */
  constructor(noticeRate: number) {
    this.#noticeRate = noticeRate;
  }

  /** The room of that name, if this node knows it. */
  get(name: string): Room | undefined {
    return this.#rooms.get(roomKey(name));
  }

  /** The room of that name, created when new. */
  open(name: string): Room {
    const key = roomKey(name);
    let room = this.#rooms.get(key);
    if (!room) {
      room = {
        name,
        key,
        clients: new Set(),
        names: new Map(),
        listTimer: undefined,
        lastListAt: 0,
        notices: new TokenBucket({ rate: this.#noticeRate, burst: this.#noticeRate }),
        joined: [],
        left: [],
      };
      this.#rooms.set(key, room);
    }
    return room;
  }

  /** Whether `room` is still the table's room of its name (it may have emptied and been made anew). */
  has(room: Room): boolean {
    return this.#rooms.get(room.key) === room;
  }

  /** Forgets a room nobody is in any more, here or elsewhere. */
  dropIfEmpty(room: Room): void {
    if (room.clients.size === 0 && room.names.size === 0) {
      clearTimeout(room.listTimer);
      if (this.has(room)) this.#rooms.delete(room.key);
    }
  }

  /** Every room. */
  values(): IterableIterator<Room> {
    return this.#rooms.values();
  }

  /** How many rooms. */
  get size(): number {
    return this.#rooms.size;
  }
}
