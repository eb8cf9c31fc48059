/**
 * MaChat's wire format, whatever carries it (a TCP connection or a WebSocket): the `{"name","room"}`
 * handshake, the line a bad one gets, and the `<name>:<text>` line each event becomes. Shared by
 * `src/tcp/machat.ts` and `src/ws/machat.ts`, since doors never import each other.
 * @module
 */

import type { ChatEvent } from "../model.ts";
import { flatText, oneLine, presenceLine } from "./lines.ts";

/** MaChat's line for an event (without terminator), or `null` when MaChat has nothing to say about it. */
export function machatLine(event: ChatEvent): string | null {
  switch (event.kind) {
    case "message":
      return `${oneLine(event.message.from)}:${flatText(event.message.text)}`;
    case "dm":
      return `[DM] ${oneLine(event.message.from)}: ${flatText(event.message.text)}`;
    case "join":
      return `INFO ${oneLine(event.name)} joined`;
    case "leave":
      return `INFO ${oneLine(event.name)} left`;
    case "presence":
      return presenceLine(event.joined, event.left);
    case "notice":
      return `INFO ${oneLine(event.text)}`;
    case "shutdown":
      return "INFO server shutting down";
    default:
      return null;
  }
}

/** The error line a bad MaChat handshake gets before the connection closes. */
export const BAD_HANDSHAKE = 'ERR bad-handshake: expected {"name":"...","room":"..."}';

/** What a MaChat client asked for in its handshake. */
export interface Handshake {
  /** Wanted member name. */
  readonly name: string;
  /** Room to join. */
  readonly room: string;
}

/** Parses a MaChat handshake object; `null` when it is not one (not JSON, missing or non-string fields). */
export function parseHandshake(text: string): Handshake | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return null;
  const { name, room } = value as Record<string, unknown>;
  if (typeof name !== "string" || typeof room !== "string") return null;
  return { name: name.trim(), room: room.trim() };
}
