/**
 * History for IRC clients: `CHATHISTORY LATEST/BEFORE/AFTER` (IRCv3 `draft/chathistory`) over the hub's one
 * history API, for rooms (`hub.history`) and one's own DMs (`hub.directHistory`), and the `chathistory`
 * batch that carries it (also the replay on join).
 *
 * Message references are `msgid=<id>` (the room's or the DM pair's own id, as `msgid` tags carry it) or
 * `timestamp=<ISO 8601>`. The store is indexed by id, not time: a timestamp is found by reading back from the
 * newest message, at most {@linkcode TIME_SCAN} messages.
 * @module
 */

import type { Client, Hub } from "../hub/hub.ts";
import type { ChatMessage, DirectMessage, Result } from "../model.ts";
import type { Range, RangeOptions } from "../store/store.ts";
import { type IrcCaps, messageLines, roomOf, SERVER } from "./codec.ts";
import { formatMessage } from "./message.ts";

/** Most messages one `CHATHISTORY` answers (`CHATHISTORY=` in `RPL_ISUPPORT`). */
export const CHATHISTORY_LIMIT = 100;
/** Most messages read back to find a `timestamp=` reference. */
export const TIME_SCAN = 5000;

type Message = ChatMessage | DirectMessage;
type Reader = (options: RangeOptions) => Promise<Result<Range<Message>>>;

/** A message reference: none (`*`), an id, or a time. */
export type MessageRef = { readonly kind: "none" } | { readonly kind: "id"; readonly id: number } | {
  readonly kind: "time";
  readonly time: number;
};

/** Parses `*`, `msgid=12` or `timestamp=2026-01-01T00:00:00.000Z`; `null` when it is none of them. */
export function parseRef(text: string): MessageRef | null {
  if (text === "*") return { kind: "none" };
  const [key, value] = [text.slice(0, text.indexOf("=")), text.slice(text.indexOf("=") + 1)];
  if (key === "msgid" && /^\d{1,15}$/.test(value)) return { kind: "id", id: Number(value) };
  if (key === "timestamp") {
    const time = Date.parse(value);
    if (Number.isFinite(time)) return { kind: "time", time };
  }
  return null;
}

/** One `CHATHISTORY` request, parsed. */
export interface HistoryRequest {
  readonly sub: "LATEST" | "BEFORE" | "AFTER";
  readonly target: string;
  readonly ref: MessageRef;
  readonly limit: number;
}

/** Parses `CHATHISTORY`'s parameters; a string says what is wrong (`FAIL CHATHISTORY ...`). */
export function parseRequest(params: readonly string[]): HistoryRequest | { readonly fail: string } {
  const [sub, target, refText, limitText] = params;
  const upper = sub?.toUpperCase();
  if (upper !== "LATEST" && upper !== "BEFORE" && upper !== "AFTER") {
    return { fail: `UNKNOWN_COMMAND ${sub ?? "*"} :Supported: LATEST, BEFORE, AFTER` };
  }
  if (target === undefined || refText === undefined || limitText === undefined) {
    return { fail: `NEED_MORE_PARAMS ${upper} :Usage: CHATHISTORY ${upper} <target> <reference> <limit>` };
  }
  const ref = parseRef(refText);
  if (ref === null || (ref.kind === "none" && upper !== "LATEST")) {
    return { fail: `INVALID_PARAMS ${upper} :Not a message reference: ${refText}` };
  }
  if (!/^\d{1,9}$/.test(limitText)) return { fail: `INVALID_PARAMS ${upper} :Not a limit: ${limitText}` };
  return { sub: upper, target, ref, limit: Math.min(Math.max(1, Number(limitText)), CHATHISTORY_LIMIT) };
}

/** The messages a request asks for, oldest first. */
export async function readHistory(
  hub: Hub,
  client: Client,
  request: HistoryRequest,
): Promise<Result<readonly Message[]>> {
  const room = roomOf(request.target);
  const read: Reader = room !== null
    ? (o) => hub.history(room, o)
    : (o) => hub.directHistory(client, request.target, o);
  const { sub, ref, limit } = request;
  if (ref.kind === "time") return await byTime(read, sub, ref.time, limit);
  const options: RangeOptions = ref.kind === "none" || sub === "LATEST"
    ? { limit }
    : sub === "BEFORE"
    ? { before: ref.id, limit }
    : { after: ref.id, limit };
  const result = await read(options);
  if (!result.ok) return result;
  const messages = result.value.messages;
  // LATEST after an id: the newest `limit`, of those after it.
  return {
    ok: true,
    value: ref.kind === "id" && sub === "LATEST" ? messages.filter((m) => m.id > ref.id) : messages,
  };
}

/** A request by time: reads back from the newest until past `time` (at most {@linkcode TIME_SCAN}), then picks. */
async function byTime(
  read: Reader,
  sub: HistoryRequest["sub"],
  time: number,
  limit: number,
): Promise<Result<readonly Message[]>> {
  const seen: Message[] = [];
  let before: number | undefined;
  while (seen.length < TIME_SCAN) {
    const result = await read(before === undefined ? { limit: 500 } : { before, limit: 500 });
    if (!result.ok) return result;
    const page = result.value.messages;
    if (page.length === 0) break;
    seen.unshift(...page);
    // BEFORE needs `limit` messages older than `time`; the others, every message after it.
    if (sub === "BEFORE" ? countBefore(seen, time) >= limit : page[0]!.time <= time) break;
    before = page[0]!.id;
  }
  const after = seen.filter((m) => m.time > time);
  const value = sub === "BEFORE"
    ? seen.filter((m) => m.time < time).slice(-limit)
    : sub === "AFTER"
    ? after.slice(0, limit)
    : after.slice(-limit);
  return { ok: true, value };
}

function countBefore(messages: readonly Message[], time: number): number {
  let n = 0;
  for (const m of messages) if (m.time < time) n++;
  return n;
}

let batches = 0;

/** History as a `chathistory` batch (plain lines for a client without `batch`). */
export function historyBatch(
  target: string,
  messages: readonly Message[],
  caps: IrcCaps & { readonly batch: boolean },
): string[] {
  if (!caps.batch) return messages.flatMap((m) => messageLines(m, caps));
  const id = `h${(++batches).toString(36)}`;
  return [
    formatMessage({ source: SERVER, command: "BATCH", params: [`+${id}`, "chathistory", target] }),
    ...messages.flatMap((m) => messageLines(m, caps, { batch: id })),
    formatMessage({ source: SERVER, command: "BATCH", params: [`-${id}`] }),
  ];
}
