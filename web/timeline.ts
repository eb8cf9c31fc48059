/**
 * Pure helpers of the page: the timeline of a conversation (ordering and de-duplication of messages that
 * arrive live and from history), name rules, and safe link detection. No DOM, no sockets: unit-testable.
 * @module
 */

/** A chat message in a conversation (room message or DM). */
export interface MessageItem {
  readonly kind: "message";
  /** Stable key for rendering and de-duplication. */
  readonly key: string;
  /** Room-scoped (or pair-scoped) id from the server. */
  readonly id: number;
  /** Server time, RFC 3339. */
  readonly time: string;
  /** Sender. */
  readonly from: string;
  /** The text, exactly as sent. */
  readonly text: string;
}

/** A line the page adds itself: joins, leaves, gaps. */
export interface NoteItem {
  readonly kind: "note";
  readonly key: string;
  /** Local time, RFC 3339. */
  readonly time: string;
  readonly text: string;
  readonly tone: "info" | "warn";
}

/** One line of a conversation. */
export type Item = MessageItem | NoteItem;

/** Most lines kept per conversation; older ones are dropped (and can be loaded again from history). */
export const MAX_ITEMS = 1000;

/** The de-duplication key of a message: its id and time (a server whose store was reset reuses ids). */
export function messageKey(id: number, time: string): string {
  return `m:${id}@${time}`;
}

/** Builds a message item. */
export function messageItem(id: number, time: string, from: string, text: string): MessageItem {
  return { kind: "message", key: messageKey(id, time), id, time, from, text };
}

let notes = 0;

/** Builds a note item stamped with the local time. */
export function noteItem(text: string, tone: NoteItem["tone"] = "info", now: Date = new Date()): NoteItem {
  return { kind: "note", key: `n:${++notes}`, time: now.toISOString(), text, tone };
}

/** Where new messages go: `live` ones are appended in arrival order, `history` ones are placed by id. */
export type Placement = "live" | "history";

/** The result of {@linkcode addMessages}. */
export interface Added {
  /** The new timeline (the input array is not modified). */
  readonly items: readonly Item[];
  /** The messages that were new (not seen before). */
  readonly added: readonly MessageItem[];
  /** Whether old lines were dropped to stay within {@linkcode MAX_ITEMS}. */
  readonly trimmed: boolean;
}

/**
 * Adds messages to a timeline, skipping those already seen (by id and time).
 *
 * Live messages are appended: their arrival order is the server's order. History is placed by id, just
 * before the earliest later message, so a gap filled after a reconnect lands where it belongs even when live
 * messages arrived before the history answer.
 */
export function addMessages(
  items: readonly Item[],
  seen: Set<string>,
  incoming: readonly MessageItem[],
  placement: Placement,
): Added {
  const fresh = incoming.filter((m) => {
    if (seen.has(m.key)) return false;
    seen.add(m.key);
    return true;
  });
  if (fresh.length === 0) return { items, added: fresh, trimmed: false };
  const next = [...items];
  for (const message of fresh) {
    if (placement === "live") {
      next.push(message);
      continue;
    }
    let at = next.length;
    for (let i = next.length - 1; i >= 0; i--) {
      const item = next[i]!;
      if (item.kind !== "message") continue;
      if (item.id < message.id) break;
      at = i;
    }
    next.splice(at, 0, message);
  }
  const trimmed = next.length > MAX_ITEMS;
  if (trimmed) {
    for (const dropped of next.splice(0, next.length - MAX_ITEMS)) seen.delete(dropped.key);
  }
  return { items: next, added: fresh, trimmed };
}

/** The id to ask history `After` on a reconnect: the last message of the timeline, or `null`. */
export function lastMessageId(items: readonly Item[]): number | null {
  for (let i = items.length - 1; i >= 0; i--) {
    const item = items[i]!;
    if (item.kind === "message") return item.id;
  }
  return null;
}

/** The id of the first message of the timeline (for loading older history), or `null`. */
export function firstMessageId(items: readonly Item[]): number | null {
  for (const item of items) if (item.kind === "message") return item.id;
  return null;
}

/** Folds a member name the way the server compares names (case and compatibility forms). */
export function nameKey(name: string): string {
  return name.normalize("NFKC").toLowerCase();
}

/** Whether two member names are the same member. */
export function sameName(a: string | null | undefined, b: string | null | undefined): boolean {
  return typeof a === "string" && typeof b === "string" && nameKey(a) === nameKey(b);
}

/** Folds a room name the way the server compares rooms. */
export function roomKey(room: string): string {
  return room.normalize("NFKC").toLowerCase();
}

const NAME_CHARS = /^[\p{L}\p{N}_.-]+$/u;
const ROOM_CHARS = /^#?[\p{L}\p{N}_.-]+$/u;

/** Why `name` cannot be a member name, or `null` (the server has the last word: it also reserves names). */
export function checkName(name: string): string | null {
  const length = [...name].length;
  if (length === 0) return "Enter a name.";
  if (length > 32) return "At most 32 characters.";
  if (!NAME_CHARS.test(name)) return "Only letters, digits, '_', '-' and '.' (no spaces).";
  return null;
}

/** Why `room` cannot be a room name, or `null`. */
export function checkRoom(room: string): string | null {
  const length = [...room].length;
  if (length === 0 || room === "#") return "Enter a room name.";
  if (length > 64) return "At most 64 characters.";
  if (!ROOM_CHARS.test(room)) return "Only letters, digits, '_', '-', '.' and a leading '#'.";
  return null;
}

/** A piece of message text: plain text, or a link that is safe to make clickable. */
export type Segment = { readonly text: string; readonly href?: undefined } | {
  readonly text: string;
  readonly href: string;
};

const URL_LIKE = /\bhttps?:\/\/[^\s<>"'`]+/gi;

/** "see (https://x.y/z)." — trailing punctuation is not part of a link, unless it closes a parenthesis in it. */
function trimUrl(url: string): string {
  let end = url.length;
  while (end > 0) {
    const ch = url[end - 1]!;
    if (ch === ")") {
      const body = url.slice(0, end);
      if (body.split("(").length >= body.split(")").length) break;
    } else if (!".,;:!?]}".includes(ch)) {
      break;
    }
    end--;
  }
  return url.slice(0, end);
}

/**
 * Splits text into plain and link segments. Only `http:` and `https:` URLs become links; everything is
 * rendered as text by the caller (never as HTML).
 */
export function linkify(text: string): Segment[] {
  const out: Segment[] = [];
  let last = 0;
  for (const match of text.matchAll(URL_LIKE)) {
    const raw = trimUrl(match[0]);
    const start = match.index;
    let href: string | null = null;
    try {
      const url = new URL(raw);
      if (url.protocol === "http:" || url.protocol === "https:") href = url.href;
    } catch {
      href = null;
    }
    if (href === null) continue;
    if (start > last) out.push({ text: text.slice(last, start) });
    out.push({ text: raw, href });
    last = start + raw.length;
  }
  if (last < text.length) out.push({ text: text.slice(last) });
  return out;
}

/** A small stable number for a name, to pick its colour class. */
export function hue(name: string, buckets = 8): number {
  let h = 0;
  for (const ch of nameKey(name)) h = (h * 31 + ch.codePointAt(0)!) >>> 0;
  return h % buckets;
}

/** The first letter of a name, for its avatar. */
export function initial(name: string): string {
  return ([...name][0] ?? "?").toUpperCase();
}

/** "bob is typing…", "bob and carol are typing…", "4 people are typing…". */
export function typingText(names: readonly string[]): string {
  if (names.length === 0) return "";
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  if (names.length === 3) return `${names[0]}, ${names[1]} and ${names[2]} are typing…`;
  return `${names.length} people are typing…`;
}
