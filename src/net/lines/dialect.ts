/**
 * The shape of a line dialect: what a line door (`serveLines` in `door.ts`) asks of the dialect a connection
 * speaks, and what it offers in return. The line doors' twin of the WebSocket door's `Dialect`
 * (`src/ws/upgrade.ts`).
 *
 * The door owns everything that is the same for every line dialect (accepting, reading, sniffing, framing,
 * the rate limit, the deadlines, the outbound queue); a dialect only turns lines into hub calls and says
 * things in its own words. The TCP door (`src/tcp/`: commands, MaChat) and the IRC door (`src/irc/`) are
 * each a set of {@linkcode LineDialect}s handed to `serveLines`.
 * @module
 */

import type { Client, Hub } from "../../hub/hub.ts";
import type { CloseReason, Codec, ErrorCode, Result, Session } from "../../model.ts";
import type { LineError } from "./framer.ts";

/** One open line connection as a dialect sees it. */
export interface LineConnection {
  /** The hub. */
  readonly hub: Hub;
  /** The hub's handle for this connection. */
  readonly client: Client;
  /** The outbound side: `send(text)` queues one line (its `\n` added); bytes go as they are. */
  readonly session: Session;
  /** The peer's address (password attempts are limited per address). */
  readonly remote: string;
  /** Whether the connection is encrypted (TLS): passwords sent over a plain one are warned about. */
  readonly secure: boolean;
  /** Ends the connection: the hub lets the member go at once, and what is queued is still written. */
  end(reason: CloseReason): void;
  /** Renders hub events with `codec` from now on (IRC picks one by the capabilities a client negotiated). */
  useCodec(codec: Codec): void;
  /**
   * Lets a hub call run while later lines are read, reporting a refusal through `onFail`. Reading pauses
   * while too many are in flight, and the connection's end waits for them.
   */
  track<T>(pending: Promise<Result<T>>, onFail: (code: ErrorCode, detail: string) => void): void;
}

/** Why the door itself ends a connection, after the dialect's {@linkcode LineDialect.farewell}. */
export type DoorClose = "flood" | "login-timeout" | "idle";

/**
 * Reads the bytes one connection sends before its first line, which need no line terminator (MaChat's JSON
 * handshake): they are not framed as lines, so the reader bounds them itself.
 */
export interface Preamble {
  /**
   * Takes the next bytes. Resolves with the bytes after the preamble once it is complete and accepted (they are
   * framed as lines), or `null`: more are needed, or the preamble was refused and the connection ended.
   */
  read(chunk: Uint8Array): Promise<Uint8Array | null>;
}

/** A line dialect: how it starts, what it does with lines, and how it says what the door decided. */
export interface LineDialect {
  /** The codec a connection speaking this dialect renders hub events with. */
  readonly codec: Codec;
  /** A reader for what a connection sends before its first line (a handshake); most dialects have none. */
  preamble?(connection: LineConnection): Preamble;
  /** Called once the connection is known to speak this dialect, before any preamble or line. */
  open(connection: LineConnection): void;
  /**
   * A line that is not blank, within the length limit and admitted by the rate limit (it counts as activity
   * for the idle deadline). A returned promise holds back this connection's later lines until it settles.
   */
  line(connection: LineConnection, text: string): void | Promise<void>;
  /** A line the framer discarded (too long, or not UTF-8): say so; the connection stays. */
  refused(connection: LineConnection, why: LineError): void;
  /** The rate limit started holding this connection's lines back (once per episode): say so. */
  limited(connection: LineConnection): void;
  /** The last line before the door ends the connection for `reason`. */
  farewell(connection: LineConnection, reason: DoorClose): void;
  /**
   * Whether the connection still owes its login (or handshake): such connections meet the login deadline,
   * the others the idle one. Default: it has no name yet.
   */
  awaitingLogin?(connection: LineConnection): boolean;
  /**
   * The line a connection refused at accept (over the connection limits) gets before it is closed; only the
   * door's fallback dialect is asked, since nothing has been sniffed yet. Default: `ERR <reason>`.
   */
  refusal?(reason: string): string;
  /** Called once the connection has ended and the hub has let it go. */
  close?(connection: LineConnection): void;
  /**
   * The connection has been quiet (no line) for half of the idle timeout: a dialect with a heartbeat of its own
   * asks the client to answer now (IRC's `PING`), so one that is quiet but alive is not closed as idle. Called
   * once per quiet spell.
   */
  quiet?(connection: LineConnection): void;
  /**
   * Fits a frame encoded once for every recipient to this connection before it is queued (IRC leaves a
   * member's own `JOIN` out of a crowd's summary). Asked only for frames of a subclass of `Uint8Array`, the
   * mark of a codec that wants them fitted: every other frame goes as it is, at the cost of one compare.
   */
  tailor?(connection: LineConnection, frame: Uint8Array): Uint8Array | readonly Uint8Array[];
}

/** The dialects one port speaks: a connection's first non-blank byte picks one, or it gets the fallback. */
export interface LineDialects {
  /** What a connection speaks unless its first non-blank byte picks another. */
  readonly fallback: LineDialect;
  /** Dialects picked by a connection's first non-blank byte, keyed by that (ASCII) character: `{` for MaChat. */
  readonly sniffed?: Readonly<Record<string, LineDialect>>;
}
