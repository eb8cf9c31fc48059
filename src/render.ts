/**
 * Plain-text renderings shared by the line-oriented dialects: the TCP command and MaChat dialects and
 * MaChat over WebSocket. Doors never import each other, so what two doors say alike lives here.
 * @module
 */

import type { ChatEvent } from "./model.ts";

/** Text from other doors may hold line breaks; in a line dialect they would forge lines. */
export function oneLine(text: string): string {
  return text.replace(/\r\n|[\r\n\u2028\u2029]/g, " ");
}

/** The line summarising a crowd's joins or leaves: `INFO 37 people joined` (one name: `INFO alice joined`). */
export function presenceLine(joined: readonly string[], left: readonly string[]): string {
  const [names, verb] = joined.length > 0 ? [joined, "joined"] : [left, "left"];
  return names.length === 1 ? `INFO ${names[0]} ${verb}` : `INFO ${names.length} people ${verb}`;
}

/** MaChat's line for an event (without terminator), or `null` when MaChat has nothing to say about it. */
export function machatLine(event: ChatEvent): string | null {
  switch (event.kind) {
    case "message":
      return `${event.message.from}:${oneLine(event.message.text)}`;
    case "dm":
      return `[DM] ${event.message.from}: ${oneLine(event.message.text)}`;
    case "join":
      return `INFO ${event.name} joined`;
    case "leave":
      return `INFO ${event.name} left`;
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
