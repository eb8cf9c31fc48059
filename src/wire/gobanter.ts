/**
 * The GoBanter payloads that more than one side speaks: the `/ws` dialect sends them, the JSON API answers
 * with them, and the page reads them. The page imports these types only, so browser and server agree by the
 * type checker; neither door imports the other for them.
 * @module
 */

import type { ChatMessage, DirectMessage } from "../model.ts";

/** Payload of a documented `broadcast` frame (also each entry of a `history` frame and of the JSON API). */
export interface BroadcastPayload {
  /** The text. */
  readonly Message: string;
  /** Sender. */
  readonly Username: string;
  /** Sender's connection id. */
  readonly Conn: string;
  /** Server time, RFC 3339. */
  readonly Time: string;
  /** Room. */
  readonly Room: string;
  /** Room-scoped id. */
  readonly Id: number;
}

/** Payload of a documented `private` frame (also each entry of a DM `history` frame). */
export interface PrivatePayload {
  /** The text. */
  readonly Message: string;
  /** Sender. */
  readonly Username: string;
  /** Recipient. */
  readonly To: string;
  /** Sender's connection id. */
  readonly Conn: string;
  /** Server time, RFC 3339. */
  readonly Time: string;
  /** Id in the pair's own sequence. */
  readonly Id: number;
}

/** Most history entries one `history` request (or one JSON API page) returns. */
export const MAX_HISTORY = 500;

/** The documented payload of a stored room message. */
export function broadcastPayload(m: ChatMessage): BroadcastPayload {
  return {
    Message: m.text,
    Username: m.from,
    Conn: m.conn,
    Time: new Date(m.time).toISOString(),
    Room: m.room,
    Id: m.id,
  };
}

/** The documented payload of a direct message. */
export function privatePayload(m: DirectMessage): PrivatePayload {
  return {
    Message: m.text,
    Username: m.from,
    To: m.to,
    Conn: m.conn,
    Time: new Date(m.time).toISOString(),
    Id: m.id,
  };
}
