/**
 * The bus: how a hub hears what happens on other hubbub processes of the same cluster.
 *
 * Every room message and DM reaches the hubs through the bus, the sending node's own hub included, so all
 * members everywhere see one order. Presence (who is online, who is in which room) travels as events too,
 * and each node keeps a view of the others' members from them. The in-process bus (`local.ts`) is the
 * default; `redis.ts` joins processes through Redis pub/sub.
 * @module
 */

import type { ChatMessage, DirectMessage, LeaveReason } from "../model.ts";

/** A member as presence events describe it. */
export interface PresenceMember {
  /** Node the member's connection is on. */
  readonly node: string;
  /** Name key (folded). */
  readonly key: string;
  /** Display name. */
  readonly name: string;
  /** Session token, when the member shares its name across connections. */
  readonly token: string | null;
  /** goChat session id, shown in goChat user lists. */
  readonly tag: string | null;
  /** When the holder's claim of the name began (its node's clock): DM history starts there. */
  readonly since?: number;
}

/** What travels on the bus. */
export type BusEvent =
  | { readonly kind: "message"; readonly message: ChatMessage }
  | { readonly kind: "dm"; readonly message: DirectMessage }
  | { readonly kind: "online"; readonly member: PresenceMember }
  /** `at`: when the node's last connection of the name went (its clock); a later claim starts after it. */
  | { readonly kind: "offline"; readonly node: string; readonly key: string; readonly at?: number }
  | { readonly kind: "join"; readonly member: PresenceMember; readonly room: string; readonly conn: string }
  | {
    readonly kind: "leave";
    readonly node: string;
    readonly key: string;
    readonly room: string;
    readonly conn: string;
    readonly reason: LeaveReason;
  }
  /** A node stopped or died: every member it had is gone. */
  | { readonly kind: "node-gone"; readonly node: string };

/** A member of another node and the rooms it is in, from a snapshot. */
export interface RemoteMember extends PresenceMember {
  /** Display names of its rooms. */
  readonly rooms: readonly string[];
}

/** The hub's link to the rest of the cluster. */
export interface Bus {
  /** This node's id (shown in logs and metrics). */
  readonly node: string;
  /** Sends an event to every node, this one included. */
  publish(event: BusEvent): void;
  /** Registers the hub's handler; events from this node's own presence are delivered too. */
  subscribe(handler: (event: BusEvent) => void): void;
  /**
   * Claims a name cluster-wide for a connection holding `token`: resolves `true` when the name was free or is
   * held with the same token. The local bus always says yes: the hub's own table decides.
   */
  claim(key: string, name: string, token: string | null): Promise<boolean>;
  /** Gives a name back when this node's last connection holding it has gone. */
  release(key: string): void;
  /** Whether the bus can carry events now (for `/readyz`). */
  ready(): boolean;
  /** Stops listening and lets go of the cluster (this node's members vanish everywhere). */
  close(): Promise<void>;
}
