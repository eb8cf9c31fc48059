/**
 * The TCP door: hubbub's TCP port, a line door (`serveLines`, `src/net/lines/door.ts`) speaking the command
 * dialect, and MaChat for a connection whose first byte is `{`.
 * @module
 */

import { type LineDoor, type LineDoorOptions, serveLines } from "../net/lines/door.ts";
import { commandDialect } from "./commands.ts";
import { machatDialect } from "./machat.ts";

/** Options of {@linkcode serveTcp}: those of `serveLines` but the dialects, which it picks. */
export interface TcpOptions extends Omit<LineDoorOptions, "dialects" | "door"> {
  /** Recent messages replayed to a MaChat client when it joins (default 0: MaChat's client shows them as live). */
  readonly machatHistoryOnJoin?: number;
}

/** A running TCP door. */
export type TcpDoor = LineDoor;

/** Starts hubbub's TCP door: the command dialect, and MaChat for a connection whose first byte is `{`. */
export function serveTcp(options: TcpOptions): TcpDoor {
  const machat = machatDialect({ historyOnJoin: options.machatHistoryOnJoin ?? 0 });
  return serveLines({
    ...options,
    door: "tcp",
    dialects: { fallback: commandDialect, sniffed: { "{": machat } },
  });
}
