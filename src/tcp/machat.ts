/**
 * The MaChat TCP dialect: a JSON handshake `{"name":"...","room":"..."}` with no newline required, then
 * plain text lines; every room member, the sender included, receives `<name>:<text>`.
 * @module
 */

import type { ChatEvent, Codec, Frame } from "../model.ts";
import { line, oneLine } from "./commands.ts";

/** What a MaChat client asked for in its handshake. */
export interface Handshake {
  /** Wanted member name. */
  readonly name: string;
  /** Room to join. */
  readonly room: string;
}

/** The error line a bad handshake gets before the connection closes. */
export const BAD_HANDSHAKE = 'ERR bad-handshake: expected {"name":"...","room":"..."}';

/** Longest handshake accepted, in bytes. */
export const MAX_HANDSHAKE = 4096;

/**
 * Finds where the JSON object at the start of `bytes` ends: the index after its closing brace, `-1` when
 * more bytes are needed. Tracks strings and escapes so a `}` inside a name does not end the object.
 */
export function handshakeEnd(bytes: Uint8Array): number {
  let depth = 0;
  let inString = false;
  let escaped = false;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (inString) {
      if (escaped) escaped = false;
      else if (b === 0x5c) escaped = true;
      else if (b === 0x22) inString = false;
    } else if (b === 0x22) inString = true;
    else if (b === 0x7b) depth++;
    else if (b === 0x7d && --depth === 0) return i + 1;
  }
  return -1;
}

/** Parses a handshake object; `null` when it is not one (not JSON, missing or non-string fields). */
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

/** Renders hub events as MaChat lines; the sender hears its own messages. */
export const machatCodec: Codec = {
  name: "machat",
  echo: new Set(["message"]),
  encode(event: ChatEvent): Frame | null {
    return machatText(event, line);
  },
};

/**
 * MaChat's rendering of an event, shared with the MaChat WebSocket dialect: `wrap` turns the text into a frame.
 */
export function machatText<F>(event: ChatEvent, wrap: (text: string) => F): F | null {
  switch (event.kind) {
    case "message":
      return wrap(`${event.message.from}:${oneLine(event.message.text)}`);
    case "dm":
      return wrap(`[DM] ${event.message.from}: ${oneLine(event.message.text)}`);
    case "join":
      return wrap(`INFO ${event.name} joined`);
    case "leave":
      return wrap(`INFO ${event.name} left`);
    case "notice":
      return wrap(`INFO ${oneLine(event.text)}`);
    case "shutdown":
      return wrap("INFO server shutting down");
    default:
      return null;
  }
}
