/**
 * The MaChat TCP dialect: a JSON handshake `{"name":"...","room":"..."}` with no newline required, then
 * plain text lines; every room member, the sender included, receives `<name>:<text>`.
 * @module
 */

import type { ChatEvent, Codec, Frame } from "../model.ts";
import { machatLine } from "../wire/machat.ts";
import { line } from "./commands.ts";

export { BAD_HANDSHAKE, parseHandshake } from "../wire/machat.ts";

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

/** Renders hub events as MaChat lines; the sender hears its own messages. */
export const machatCodec: Codec = {
  name: "machat",
  echo: new Set(["message"]),
  encode(event: ChatEvent): Frame | null {
    const text = machatLine(event);
    return text === null ? null : line(text);
  },
};
