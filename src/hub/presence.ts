/**
 * Presence: who is in which room, here and on other nodes; join and leave notices (at once, or summarised
 * when a crowd arrives); and the full member lists, coalesced to at most one per room per interval.
 *
 * A notice costs every member a frame, so a room sends at most `noticeRate` at once per second; past that,
 * and always in rooms bigger than the list limit, joins and leaves are summarised at the next tick. Full
 * lists carry at most `listLimit` names and the total; bigger rooms page.
 * @module
 */

import { setImmediate } from "node:timers";
import { getLogger } from "@logtape/logtape";
import type { ChatEvent, LeaveReason, MemberInfo } from "../model.ts";
import type { Bus, BusEvent } from "../bus/bus.ts";
import type { FrameCache } from "./fanout.ts";
import type { NameRegistry } from "./names.ts";
import type { Client, Room, Rooms } from "./rooms.ts";

const log = getLogger(["hubbub", "hub"]);

/** Presence frames for big rooms go out this many recipients at a time. */
const SPREAD_SLICE = 1000;

/** A page of a room's member list. */
export interface MemberPage {
  /** The room's display name (as asked, when nobody is in it). */
  readonly room: string;
  /** The members of this page, sorted by name. */
  readonly members: readonly MemberInfo[];
  /** Members in the room. */
  readonly total: number;
  /** Index of the first member of this page in the sorted list. */
  readonly offset: number;
  /** Offset of the next page, or `null` when this is the last. */
  readonly next: number | null;
}

/** Options of {@linkcode Presence}. */
export interface PresenceOptions {
  /** Where presence travels between nodes. */
  readonly bus: Bus;
  /** The rooms this node knows. */
  readonly rooms: Rooms;
  /** Names and their holders, for how presence events describe a member. */
  readonly names: NameRegistry;
  /** Hands an event to connections (encoded once per codec). */
  readonly fanout: (
    targets: Iterable<Client>,
    event: ChatEvent,
    origin: string | null,
    cache?: FrameCache,
  ) => void;
  /** Full lists go to a room at most this often (milliseconds). */
  readonly intervalMs: number;
  /** Most names in one full-list frame or page. */
  readonly listLimit: number;
  /** The clock (milliseconds since the epoch). */
  readonly now: () => number;
}

/** Room membership and presence notices for one node. */
export class Presence {
  readonly #options: PresenceOptions;
  #closed = false;

  /** Creates the presence keeper. */
  constructor(options: PresenceOptions) {
    this.#options = options;
  }

  /** A named connection of this node is in `room` (it joined, or got its name while in it). */
  added(room: Room, client: Client): void {
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

  /** A named connection of this node leaves `room` (or loses its name while in it). */
  removed(room: Room, client: Client, reason: LeaveReason): void {
    if (client.key === null) return;
    const entry = room.names.get(client.key);
    if (!entry || --entry.count > 0) return;
    const { bus } = this.#options;
    bus.publish({
      kind: "leave",
      node: bus.node,
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
    if (this.#noticeNow(room)) this.#options.fanout(room.clients, event, client.session.id);
    else room.left.push(entry.name);
    // The leaver hears its own leave only where the dialect echoes it, and only when it is still connected.
    if (reason === "left") this.#options.fanout([client], event, client.session.id);
    this.#listChanged(room);
  }

  /** Presence from another node: its members, and who of them is in which room. */
  remote(event: BusEvent): void {
    const { names, rooms } = this.#options;
    switch (event.kind) {
      case "online":
        return names.remoteOnline(event.member);
      case "offline":
        return names.remoteOffline(event.key, event.node, event.at);
      case "join": {
        const { key, node, name, tag } = event.member;
        if (!names.remoteHas(key, node)) names.remoteOnline(event.member);
        const room = rooms.open(event.room);
        const entry = room.names.get(key);
        if (entry) {
          entry.nodes.add(node);
          return;
        }
        room.names.set(key, { name, tag, count: 0, nodes: new Set([node]) });
        return this.#joinNotice(room, name, event.conn);
      }
      case "leave": {
        const room = rooms.get(event.room);
        if (room) this.#remoteLeave(room, event.key, event.node, event.conn, event.reason);
        return;
      }
      case "node-gone":
        for (const room of [...rooms.values()]) {
          for (const [key, entry] of [...room.names]) {
            if (entry.nodes.has(event.node)) this.#remoteLeave(room, key, event.node, "", "disconnected");
          }
        }
        return names.nodeGone(event.node);
    }
  }

  /** A page of a room's members, sorted by name; `limit` is capped at the list limit. */
  page(roomName: string, page: { readonly offset?: number; readonly limit?: number } = {}): MemberPage {
    const room = this.#options.rooms.get(roomName);
    const offset = page.offset ?? 0;
    const limit = Math.min(page.limit ?? this.#options.listLimit, this.#options.listLimit);
    const all = room ? sortedMembers(room) : [];
    const members = all.slice(offset, offset + limit);
    const next = offset + members.length < all.length ? offset + members.length : null;
    return { room: room?.name ?? roomName, members, total: all.length, offset, next };
  }

  /** The `users` event of a page. */
  usersEvent(page: MemberPage): ChatEvent & { kind: "users" } {
    return { kind: "users", room: page.room, users: page.members, total: page.total, offset: page.offset };
  }

  /** Stops every pending list; nothing more is sent. */
  close(): void {
    this.#closed = true;
    for (const room of this.#options.rooms.values()) clearTimeout(room.listTimer);
  }

  #publishJoin(room: Room, client: Client): void {
    const member = this.#options.names.presenceOf(client);
    this.#options.bus.publish({ kind: "join", member, room: room.name, conn: client.session.id });
  }

  #joinNotice(room: Room, name: string, conn: string): void {
    if (this.#noticeNow(room)) {
      this.#options.fanout(room.clients, { kind: "join", room: room.name, name, conn }, conn);
    } else room.joined.push(name);
    this.#listChanged(room);
  }

  #remoteLeave(room: Room, key: string, node: string, conn: string, reason: LeaveReason): void {
    const entry = room.names.get(key);
    if (!entry || !entry.nodes.delete(node) || entry.nodes.size > 0 || entry.count > 0) return;
    room.names.delete(key);
    const event: ChatEvent = { kind: "leave", room: room.name, name: entry.name, conn, reason };
    if (this.#noticeNow(room)) this.#options.fanout(room.clients, event, null);
    else room.left.push(entry.name);
    this.#listChanged(room);
    this.#options.rooms.dropIfEmpty(room);
  }

  /**
   * Whether a join/leave notice goes out now. Past the room's notice rate (a crowd arriving at once), or in a
   * room bigger than the list limit, notices are summarised once per presence tick instead: each member gets
   * one frame per tick, not one per join.
   */
  #noticeNow(room: Room): boolean {
    return room.joined.length === 0 && room.left.length === 0 &&
      room.clients.size <= this.#options.listLimit &&
      room.notices.take().kind === "ok";
  }

  #listChanged(room: Room): void {
    if (room.listTimer !== undefined || this.#closed) return;
    const { intervalMs, listLimit, now } = this.#options;
    // Coalesce: one list per interval carrying the latest members; a burst of joins in one tick costs one frame.
    // A room over the list limit waits an interval per limit's worth of members: each tick costs every member a
    // frame of up to --list-limit names, so a crowd of 10 000 arriving at once is told every 2.5 s, not 4 times a
    // second (BENCHMARKS.md, join-10000).
    const interval = intervalMs * Math.max(1, Math.ceil(room.clients.size / listLimit));
    const wait = Math.max(0, room.lastListAt + interval - now());
    room.listTimer = setTimeout(() => this.#tick(room), wait);
  }

  #tick(room: Room): void {
    room.listTimer = undefined;
    room.lastListAt = this.#options.now();
    if (!this.#options.rooms.has(room)) return;
    // One summary of the joins and one of the leaves, each a single frame per member.
    if (room.joined.length > 0) {
      this.#spread(room, { kind: "presence", room: room.name, joined: room.joined, left: [] });
    }
    if (room.left.length > 0) {
      this.#spread(room, { kind: "presence", room: room.name, joined: [], left: room.left });
    }
    room.joined = [];
    room.left = [];
    this.#spread(room, this.usersEvent(this.page(room.name)));
  }

  /**
   * Fans a presence frame out to a room in slices, yielding between them, so a room of 10 000 does not hold
   * up message delivery in other rooms. Encoding still happens once per dialect: the frame is the same.
   */
  #spread(room: Room, event: ChatEvent): void {
    const clients = [...room.clients];
    const cache: FrameCache = new Map();
    const slice = (start: number) => {
      this.#options.fanout(clients.slice(start, start + SPREAD_SLICE), event, null, cache);
      // setImmediate yields to I/O without setTimeout(0)'s ~2 ms clamp per slice.
      if (start + SPREAD_SLICE < clients.length && !this.#closed) {
        setImmediate(() => slice(start + SPREAD_SLICE));
      }
    };
    slice(0);
  }
}

function sortedMembers(room: Room): MemberInfo[] {
  return [...room.names.values()]
    .map(({ name, tag }) => ({ name, tag }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
