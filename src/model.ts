/**
 * Domain types shared by the hub, the store, the bus and every door.
 *
 * Nothing here does I/O: these are the words the rest of hubbub speaks.
 * @module
 */

/** A room message as the hub stamps it: room-scoped id, server time, sender. */
export interface ChatMessage {
  /** Display name of the room (`lobby`, `#dev`). */
  readonly room: string;
  /** Room-scoped id; only ever grows, also across restarts. */
  readonly id: number;
  /** Server time in milliseconds since the epoch. */
  readonly time: number;
  /** Sender's name. */
  readonly from: string;
  /** The text, exactly as sent. */
  readonly text: string;
  /** Connection id of the sender (`c_7f3a`), shown by the GoBanter dialect. */
  readonly conn: string;
  /** goChat's own session id of the sender, echoed back so goChat clients recognise their messages. */
  readonly tag?: string;
}

/** A direct message between two members. */
export interface DirectMessage {
  /** Id in the pair's own sequence. */
  readonly id: number;
  /** Server time in milliseconds since the epoch. */
  readonly time: number;
  /** Sender's name. */
  readonly from: string;
  /** Target's name. */
  readonly to: string;
  /** The text, exactly as sent. */
  readonly text: string;
  /** Connection id of the sender. */
  readonly conn: string;
}

/** One entry of a user list: a name and the goChat session id it joined with, if any. */
export interface MemberInfo {
  /** Member name. */
  readonly name: string;
  /** goChat `session_id` as given in its query string; `null` for other doors. */
  readonly tag: string | null;
}

/** Why a member left a room: `left` on purpose, `disconnected` when the connection ended. */
export type LeaveReason = "left" | "disconnected";

/** Everything the hub tells sessions. Each door renders these in its own dialect. */
export type ChatEvent =
  | { readonly kind: "message"; readonly message: ChatMessage }
  | { readonly kind: "dm"; readonly message: DirectMessage }
  | { readonly kind: "join"; readonly room: string; readonly name: string; readonly conn: string }
  | {
    readonly kind: "leave";
    readonly room: string;
    readonly name: string;
    readonly conn: string;
    readonly reason: LeaveReason;
  }
  | {
    readonly kind: "users";
    readonly room: string;
    /** The names of this page (all of them unless the room is bigger than the list limit). */
    readonly users: readonly MemberInfo[];
    /** Members in the room. */
    readonly total: number;
    /** Index of the first name of `users` in the sorted list. */
    readonly offset: number;
  }
  | {
    /** Joins (or leaves) past a room's notice rate, summarised once per presence tick; one list is empty. */
    readonly kind: "presence";
    readonly room: string;
    readonly joined: readonly string[];
    readonly left: readonly string[];
  }
  | { readonly kind: "typing"; readonly room: string; readonly name: string }
  | { readonly kind: "notice"; readonly code: string; readonly text: string }
  | { readonly kind: "shutdown" };

/** A frame ready for the wire: text for WebSocket, bytes for TCP. */
export type Frame = string | Uint8Array;

/** Renders hub events in one dialect. The hub calls it once per event per codec, never per recipient. */
export interface Codec {
  /** A short name for logs and metrics (`tcp`, `machat`, `gobanter`, ...). */
  readonly name: string;
  /** Event kinds the originating connection receives back (its own message, its own join, ...). */
  readonly echo: ReadonlySet<ChatEvent["kind"]>;
  /** The frame for this event, or `null` when the dialect has nothing to say about it. */
  encode(event: ChatEvent): Frame | null;
}

/** Where the hub sends events for one connection; every door implements it. */
export interface Session {
  /** Connection id, unique in this process (`c_7f3a`). */
  readonly id: string;
  /** The dialect this session speaks; may change once (GoBanter picks its shape on the first frame). */
  readonly codec: Codec;
  /** Queue a frame; never blocks. A session whose queue passes its bound closes itself. */
  send(frame: Frame): void;
  /** Fraction of the outbound bound in use, 0..1; shedding (typing) starts above 0.5. */
  pressure(): number;
  /** Outbound bytes queued and not yet written, for metrics. */
  queued(): number;
  /** Close the connection, telling the peer why when the dialect allows it. */
  close(reason: CloseReason): void;
}

/** Why a connection is being closed; each door maps it to its own words or close code. */
export type CloseReason =
  | "quit"
  | "idle"
  | "slow-reader"
  | "shutdown"
  | "login-timeout"
  | "protocol"
  | "too-large"
  | "flood";

/**
 * What the hub and its doors count; the metrics module implements it and renders it, so the hub depends on
 * no exporter.
 */
export interface HubCounters {
  /** Room messages accepted and stored. */
  messagesIn: number;
  /** Direct messages accepted and stored. */
  directsIn: number;
  /** Frames handed to sessions (every recipient counts). */
  framesOut: number;
  /** Messages refused because the store failed. */
  storeFailures: number;
  /** Sessions dropped by the slow-reader rule. */
  slowReadersDropped: number;
  /** Messages refused because the node was overloaded (admission control). */
  overloadRefusals: number;
  /** Time from append to durable, per message (seconds). */
  readonly storeLatency: { observe(seconds: number): void };
}

/** The outcome of a hub call that can be refused, with a dialect-neutral code. */
export type Result<T = void> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly code: ErrorCode; readonly detail: string };

/** Refusal codes shared by every door. */
export type ErrorCode =
  | "invalid-username"
  | "username-taken"
  | "already-logged-in"
  | "not-logged-in"
  | "invalid-room"
  | "not-in-room"
  | "user-not-found"
  | "too-many-rooms"
  | "empty-message"
  | "unavailable"
  | "rate-limited"
  // Accounts (`--accounts`): a registered name needs its password; a wrong one, or too many, are refused.
  | "name-registered"
  | "login-required"
  | "bad-credentials"
  | "too-many-attempts"
  | "weak-password"
  | "already-registered"
  | "accounts-off";

/** Builds a successful {@linkcode Result}. */
export function ok<T>(value: T): Result<T> {
  return { ok: true, value };
}

/** Builds a refused {@linkcode Result}. */
export function fail<T = never>(code: ErrorCode, detail: string): Result<T> {
  return { ok: false, code, detail };
}

let connections = 0;
const processTag = crypto.getRandomValues(new Uint8Array(2)).reduce(
  (s, b) => s + b.toString(16).padStart(2, "0"),
  "",
);

/** A connection id unique in this process (`c_3f9a_1`); the random part tells processes apart in logs. */
export function newConnectionId(): string {
  return `c_${processTag}_${(++connections).toString(36)}`;
}
