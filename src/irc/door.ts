/**
 * The IRC door: irssi, WeeChat, HexChat, The Lounge, `ii` and IRC bots in the same rooms as everyone else. A
 * line door (`serveLines`, `src/net/lines/door.ts`: the same accept loop, connection gate, rate limit with
 * fakelag, deadlines and `Outbox` as the TCP door) speaking the IRC dialect of `dialect.ts`.
 * @module
 */

import type { Hub } from "../hub/hub.ts";
import type { ConnectionGate, RateOptions } from "../hub/limits.ts";
import type { TlsKeys } from "../net/tls.ts";
import { type LineDoor, serveLines } from "../net/lines/door.ts";
import { ircDialect } from "./dialect.ts";
import { MAX_LINE_BYTES, MAX_TAG_BYTES } from "./message.ts";

/** Options of {@linkcode serveIrc}. */
export interface IrcOptions {
  /** The hub connections talk to. */
  readonly hub: Hub;
  /** Address to listen on. */
  readonly hostname: string;
  /** Port to listen on; 0 picks a free one. */
  readonly port: number;
  /** Share the port with other processes (SO_REUSEPORT, for `--workers`). */
  readonly reusePort?: boolean;
  /** Serve IRC over TLS with these keys (port 6697 style); plain when absent. */
  readonly tls?: TlsKeys | null;
  /** Outbound bytes a connection may have queued before it is dropped as a slow reader. */
  readonly maxQueueBytes: number;
  /** Close a connection quiet this long (milliseconds); it is sent a `PING` at half of it. */
  readonly idleTimeoutMs: number;
  /** Close a connection that has not registered after this long (milliseconds). */
  readonly loginTimeoutMs: number;
  /** Counts connections across doors and refuses those over the limits. */
  readonly gate: ConnectionGate;
  /** Inbound line rate per connection (lines per second; 0 = unlimited), burst, flood window and clock. */
  readonly rate: RateOptions;
  /** Recent messages sent as a `chathistory` batch on join (to clients that negotiated it). */
  readonly historyOnJoin: number;
  /** Rooms one connection may be in. */
  readonly maxRooms: number;
  /** hubbub's version, for the welcome. */
  readonly version: string;
  /** Aborting it stops accepting; the hub's shutdown closes the connections. */
  readonly signal: AbortSignal;
}

/** Starts the IRC door. */
export function serveIrc(options: IrcOptions): LineDoor {
  const dialect = ircDialect({
    historyOnJoin: options.historyOnJoin,
    maxRooms: options.maxRooms,
    version: options.version,
  });
  return serveLines({
    ...options,
    door: "irc",
    dialects: { fallback: dialect },
    // IRC's own limit, not --max-line: 512 bytes, and 4096 more of tags. The dialect answers 417 past either.
    maxLineBytes: MAX_TAG_BYTES + MAX_LINE_BYTES,
  });
}
