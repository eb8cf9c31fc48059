/**
 * IRC's words for hub events, and the translations between IRC and hubbub: rooms as channels (`dev` is
 * `#dev`, a room `#dev` is `##dev`), members as `nick!nick@hubbub`, CTCP ACTION as the text `* nick waves`,
 * IRC formatting codes stripped on the way in, long or multi-line text split into lines IRC allows.
 *
 * A codec is picked per connection by the capabilities it negotiated ({@linkcode ircCodec}: `server-time`,
 * `message-tags`, `echo-message`); there are at most eight, each encoding an event once for all of its
 * connections.
 * @module
 */

import type { ChatEvent, ChatMessage, Codec, DirectMessage, Frame } from "../model.ts";
import { nameKey } from "../names.ts";
import { oneLine } from "../wire/lines.ts";
import { byteLength, cutBytes, formatMessage, frame, MAX_LINE_BYTES } from "./message.ts";

/** The server's name in IRC lines (`:hubbub 001 alice ...`); a reserved name, so no member can take it. */
export const SERVER = "hubbub";

/** The channel of a room: `dev` is `#dev`, and a room whose name starts with `#` gets one more (`##dev`). */
export function channelOf(room: string): string {
  return `#${room}`;
}

/** The room of a channel (its first `#` dropped), or `null` when it is not a channel (`alice`, `&x`, `#`). */
export function roomOf(target: string): string | null {
  return target.length > 1 && target.startsWith("#") ? target.slice(1) : null;
}

/** A member as an IRC source: `alice!alice@hubbub`. */
export function sourceOf(name: string): string {
  const safe = oneLine(name);
  return `${safe}!${safe}@${SERVER}`;
}

/** What an IRC connection negotiated that changes how events are written. */
export interface IrcCaps {
  /** `server-time`: lines carry `@time=`. */
  readonly time: boolean;
  /** `message-tags`: messages carry `msgid`. */
  readonly tags: boolean;
  /** `echo-message`: the sender gets its own messages back. */
  readonly echo: boolean;
}

const codecs = new Map<string, Codec>();

/** The codec for a set of capabilities; one per combination, shared by every connection that has it. */
export function ircCodec(caps: IrcCaps): Codec {
  const id = `${+caps.time}${+caps.tags}${+caps.echo}`;
  let codec = codecs.get(id);
  if (!codec) {
    const echo = new Set<ChatEvent["kind"]>(caps.echo ? ["message", "dm"] : []);
    codec = { name: "irc", echo, encode: (event) => encode(event, caps) };
    codecs.set(id, codec);
  }
  return codec;
}

/**
 * A frame a connection's {@linkcode FrameFitter} changes: a crowd's `JOIN` lines (each name key's byte range)
 * or a `QUIT` (the name key). Every other frame is a plain `Uint8Array` and goes to every connection as it is:
 * the line door tells them apart by their constructor, one compare per delivery (`LineSession.send`).
 */
export class MarkedFrame extends Uint8Array {
  /** The byte range of each name key's `JOIN` line, or a `QUIT`'s name key; `null` for a part of a frame. */
  mark: ReadonlyMap<string, readonly [number, number]> | string | null = null;
}

function marked(
  bytes: Uint8Array,
  mark: ReadonlyMap<string, readonly [number, number]> | string,
): MarkedFrame {
  const frame = new MarkedFrame(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.length);
  frame.mark = mark;
  return frame;
}

/** A member's `QUIT` again within this long (the same disconnect, told once per shared room) is not sent. */
const QUIT_REPEAT_MS = 1000;

/**
 * Fits frames encoded once for everyone to one IRC connection: a crowd's summary of joins without the
 * member's own `JOIN` (it had one when it joined, and IRC clients take another as joining again), and a
 * member's `QUIT` once, not once for each room the hub tells it left.
 */
export class FrameFitter {
  #lastQuit: string | null = null;
  #lastQuitAt = 0;

  /** The frame for this connection, whose member name is `name`. */
  fit(frame: Uint8Array, name: string | null): Uint8Array | readonly Uint8Array[] {
    const mark = frame instanceof MarkedFrame ? frame.mark : null;
    if (mark === null) return frame;
    if (typeof mark === "string") {
      const now = performance.now();
      if (mark === this.#lastQuit && now - this.#lastQuitAt < QUIT_REPEAT_MS) return [];
      this.#lastQuit = mark;
      this.#lastQuitAt = now;
      return frame;
    }
    const own = name === null ? undefined : mark.get(nameKey(name));
    return own ? [frame.subarray(0, own[0]), frame.subarray(own[1])] : frame;
  }
}

function encode(event: ChatEvent, caps: IrcCaps): Frame | null {
  const tags = caps.time ? [["time", new Date().toISOString()] as const] : [];
  switch (event.kind) {
    case "message":
      return frame(messageLines(event.message, caps));
    case "dm":
      return frame(messageLines(event.message, caps));
    case "join":
      return frame([
        formatMessage({
          tags,
          source: sourceOf(event.name),
          command: "JOIN",
          params: [channelOf(event.room)],
        }),
      ]);
    case "leave": {
      if (event.reason === "left") {
        const params = [channelOf(event.room)];
        return frame([formatMessage({ tags, source: sourceOf(event.name), command: "PART", params })]);
      }
      const bytes = frame([
        formatMessage({
          tags,
          source: sourceOf(event.name),
          command: "QUIT",
          params: ["disconnected"],
          trailing: true,
        }),
      ]);
      return marked(bytes, nameKey(event.name));
    }
    case "presence":
      return crowd(event, tags);
    case "notice":
      return frame([
        formatMessage({
          tags,
          source: SERVER,
          command: "NOTICE",
          params: ["*", oneLine(event.text)],
          trailing: true,
        }),
      ]);
    case "shutdown":
      return frame([
        formatMessage({ command: "ERROR", params: ["Closing Link: server shutting down"], trailing: true }),
      ]);
    default:
      // Full member lists are for dialects without JOIN and PART; typing is not relayed to IRC.
      return null;
  }
}

/** A crowd's joins or leaves: one `JOIN` or `PART` line each, in one frame, remembering where each name's is. */
function crowd(
  event: Extract<ChatEvent, { kind: "presence" }>,
  tags: readonly (readonly [string, string])[],
): Uint8Array {
  const [names, command] = event.joined.length > 0 ? [event.joined, "JOIN"] : [event.left, "PART"];
  const channel = channelOf(event.room);
  const ranges = new Map<string, readonly [number, number]>();
  const lines: string[] = [];
  let at = 0;
  for (const name of names) {
    const text = formatMessage({ tags, source: sourceOf(name), command, params: [channel] }) + "\r\n";
    const size = byteLength(text);
    if (command === "JOIN") ranges.set(nameKey(name), [at, at + size]);
    lines.push(text);
    at += size;
  }
  const bytes = new TextEncoder().encode(lines.join(""));
  return ranges.size > 0 ? marked(bytes, ranges) : bytes;
}

/** Extra tags of a message line: `batch` for history. */
export interface LineTags {
  /** The batch a history line belongs to. */
  readonly batch?: string;
}

/**
 * A room message or DM as `PRIVMSG` lines: `* nick waves` from any door is a CTCP ACTION, line breaks and
 * IRC's 512-byte limit split the text into several lines (the first carries the `msgid`).
 */
export function messageLines(
  message: ChatMessage | DirectMessage,
  caps: IrcCaps,
  extra: LineTags = {},
): string[] {
  const target = "room" in message ? channelOf(message.room) : oneLine(message.to);
  const source = sourceOf(message.from);
  const tags: (readonly [string, string])[] = [];
  if (extra.batch !== undefined) tags.push(["batch", extra.batch]);
  if (caps.time) tags.push(["time", new Date(message.time).toISOString()]);
  const head = `:${source} PRIVMSG ${target} :`;
  // Room for text in a line of at most 512 bytes, CTCP's two \x01 and `ACTION ` included.
  const room = MAX_LINE_BYTES - 2 - byteLength(head);
  const lines: string[] = [];
  const action = actionOf(message.from, message.text);
  for (const part of splitText(action ?? message.text, room - (action === null ? 0 : 9))) {
    const lineTags = caps.tags && lines.length === 0
      ? [...tags, ["msgid", String(message.id)] as const]
      : tags;
    const text = action === null ? part : `\x01ACTION ${part}\x01`;
    lines.push(
      formatMessage({ tags: lineTags, source, command: "PRIVMSG", params: [target, text], trailing: true }),
    );
  }
  return lines;
}

/** The rest of `* from rest` (how hubbub says a CTCP ACTION to other doors), or `null`. */
function actionOf(from: string, text: string): string | null {
  const prefix = `* ${from} `;
  return text.startsWith(prefix) && text.length > prefix.length ? text.slice(prefix.length) : null;
}

/** Text as pieces that fit one line each: split at line breaks, then at `max` bytes (at a space when it can). */
export function splitText(text: string, max: number): string[] {
  const pieces: string[] = [];
  for (const line of text.split(/\r\n|[\r\n\u2028\u2029]/)) {
    let rest = line;
    while (byteLength(rest) > max) {
      let [head, tail] = cutBytes(rest, max);
      const space = head.lastIndexOf(" ");
      if (space > head.length / 2) [head, tail] = [head.slice(0, space), head.slice(space + 1) + tail];
      pieces.push(head);
      rest = tail;
    }
    if (rest.trim() !== "") pieces.push(rest);
  }
  return pieces.length > 0 ? pieces : [" "];
}

// IRC's formatting codes: bold, colour (with up to two numbers), hex colour, reset, monospace, reverse,
// italics, strikethrough, underline.
const FORMATTING =
  // deno-lint-ignore no-control-regex -- matching IRC's control codes is the point
  /\x03(?:\d{1,2}(?:,\d{1,2})?)?|\x04(?:[0-9a-fA-F]{6}(?:,[0-9a-fA-F]{6})?)?|[\x02\x0F\x11\x16\x1D\x1E\x1F]/g;

/**
 * The text an IRC client's `PRIVMSG` says to the hub: formatting codes stripped (other doors would show them
 * as U+FFFD), a CTCP ACTION as `* nick waves`. Other CTCP requests (`VERSION`, `PING`, ...) are for IRC
 * clients only: `null`, not delivered.
 */
export function inboundText(nick: string, text: string): string | null {
  if (text.startsWith("\x01")) {
    const body = text.endsWith("\x01") && text.length > 1 ? text.slice(1, -1) : text.slice(1);
    const space = body.indexOf(" ");
    const command = (space === -1 ? body : body.slice(0, space)).toUpperCase();
    if (command !== "ACTION") return null;
    const rest = space === -1 ? "" : body.slice(space + 1).replace(FORMATTING, "");
    return rest.trim() === "" ? null : `* ${nick} ${rest}`;
  }
  return text.replace(FORMATTING, "");
}
