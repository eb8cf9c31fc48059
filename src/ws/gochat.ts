/**
 * `/joinRoom`: the goChat dialect. Every frame is `{"DataType":...,"Data":...}`; message text travels as
 * base64 in `Contents`; join/leave and notices are messages of their own `Type`; every 30 s a `SYS`
 * "System ping" keeps goChat's client content.
 * @module
 */

import type { ChatEvent, Session } from "../model.ts";
import { checkName, checkRoom } from "../names.ts";
import type { Dialect, WsConnection } from "./upgrade.ts";
import { settle } from "./upgrade.ts";
import { wsCodec } from "./session.ts";

/** How often goChat clients get their `System ping`. */
export const PING_MS = 30_000;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** Base64 of the UTF-8 bytes of `text`. */
export function toBase64(text: string): string {
  const bytes = encoder.encode(text);
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/** Text from base64 of UTF-8; `null` when either layer is invalid. */
export function fromBase64(data: string): string | null {
  try {
    const binary = atob(data);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return decoder.decode(bytes);
  } catch {
    return null;
  }
}

type MessageType = "USER" | "JOIN_LEAVE" | "SYS";

function message(
  type: MessageType,
  contents: string,
  sender = "",
  sessionId: string | null = null,
  time = Date.now(),
): string {
  return JSON.stringify({
    DataType: "message",
    Data: {
      Type: type,
      SessionID: sessionId,
      SenderName: sender,
      DateTime: new Date(time).toISOString(),
      Contents: toBase64(contents),
    },
  });
}

/** A `SYS` message frame, for notices and errors. */
export function sysFrame(text: string): string {
  return message("SYS", text);
}

/** Renders hub events as goChat frames. */
export const gochatCodec = wsCodec({
  name: "gochat",
  echo: new Set(["message", "join"]),
  render(event: ChatEvent): string | null {
    switch (event.kind) {
      case "message": {
        const m = event.message;
        return message("USER", m.text, m.from, m.tag ?? null, m.time);
      }
      case "dm":
        return sysFrame(`[DM] ${event.message.from}: ${event.message.text}`);
      case "join":
        return message("JOIN_LEAVE", `${event.name} has joined the room!`);
      case "leave":
        return message("JOIN_LEAVE", `${event.name} has left the room!`);
      case "users": {
        const Users = event.users.map((u) => [u.name, u.tag ?? ""]);
        // goChat knows only the list; past the list limit it also gets the total.
        const Data = event.total > event.users.length ? { Users, Total: event.total } : { Users };
        return JSON.stringify({ DataType: "userList", Data });
      }
      case "presence": {
        const [names, verb] = event.joined.length > 0 ? [event.joined, "joined"] : [event.left, "left"];
        const who = names.length === 1 ? names[0] : `${names.length} people`;
        return message("JOIN_LEAVE", `${who} ${names.length === 1 ? "has" : "have"} ${verb} the room!`);
      }
      case "notice":
        return sysFrame(event.text);
      case "shutdown":
        return sysFrame("server shutting down");
      default:
        return null;
    }
  },
});

/** What `/joinRoom` needs from its query string. */
export interface GoChatQuery {
  /** Room to join. */
  readonly room: string;
  /** Wanted name. */
  readonly name: string;
  /** goChat's session id (a 128-character 0/1 string), if given. */
  readonly sessionId: string | null;
}

/** Reads and checks the query; a string is the one-line reason for HTTP 400. */
export function parseQuery(
  url: URL,
  limits: { name: number; room: number } = { name: 32, room: 64 },
): GoChatQuery | string {
  const room = url.searchParams.get("room_code")?.trim() ?? "";
  const name = url.searchParams.get("user_name")?.trim() ?? "";
  if (room === "") return "missing room_code";
  if (name === "") return "missing user_name";
  const roomWhy = checkRoom(room, limits.room);
  if (roomWhy) return `invalid room_code: ${roomWhy}`;
  const nameWhy = checkName(name, limits.name);
  if (nameWhy) return `invalid user_name: ${nameWhy}`;
  const sessionId = url.searchParams.get("session_id")?.trim() || null;
  return { room, name, sessionId };
}

/** Sends goChat's `System ping` to every goChat connection of one server, encoded once per tick. */
export class GoChatPinger {
  readonly #sessions = new Set<Session>();
  #timer: ReturnType<typeof setInterval> | undefined;
  readonly #every: number;

  /** Creates a stopped pinger. */
  constructor(everyMs: number = PING_MS) {
    this.#every = everyMs;
  }

  /** Starts pinging a session (and the timer, with the first one). */
  add(session: Session): void {
    this.#sessions.add(session);
    this.#timer ??= setInterval(() => {
      const frame = sysFrame("System ping");
      for (const s of this.#sessions) s.send(frame);
    }, this.#every);
  }

  /** Stops pinging a session (and the timer, with the last one). */
  delete(session: Session): void {
    this.#sessions.delete(session);
    if (this.#sessions.size === 0) this.stop();
  }

  /** Stops the timer. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

/**
 * The `SessionID` values that are a goChat client's own: its query's `session_id` as given and, when that is a
 * string of `0`/`1` (goChat's client sends 128 of them), the base64 of those bits, most significant first, as
 * goChat's client puts it in every message. Empty when the query had none.
 */
export function ownSessionIds(sessionId: string | null): ReadonlySet<string> {
  if (sessionId === null) return new Set();
  if (!/^(?:[01]{8})+$/.test(sessionId)) return new Set([sessionId]);
  let binary = "";
  for (let i = 0; i < sessionId.length; i += 8) {
    binary += String.fromCharCode(parseInt(sessionId.slice(i, i + 8), 2));
  }
  return new Set([sessionId, btoa(binary)]);
}

/** Options of {@linkcode gochat}. */
export interface GoChatOptions {
  /** Recent messages replayed to the client when it joins (default 20). */
  readonly historyOnJoin?: number;
}

/** The goChat dialect for one connection, from its checked query. */
export function gochat(
  query: GoChatQuery,
  pinger: GoChatPinger,
  options: GoChatOptions = {},
): Dialect {
  // Every member's session id is in every user list: a SessionID that is not the sender's own is relayed as
  // null, or anyone could have their messages highlighted as someone else's own in that person's client.
  const own = ownSessionIds(query.sessionId);
  return {
    codec: gochatCodec,
    close({ session }) {
      pinger.delete(session);
    },
    async open({ hub, client }) {
      pinger.add(client.session);
      // goChat cannot show an error: a taken name becomes a free variant, with a notice.
      const login = await hub.claim(client, query.name, {
        variant: true,
        // No token: goChat's user lists show every session id to everyone, so it cannot prove anything. A second
        // goChat connection asking for a taken name gets a free variant, like everyone else.
        token: null,
        tag: query.sessionId,
      });
      if (!login.ok) {
        client.session.send(sysFrame(login.detail));
        client.session.close("protocol");
        return;
      }
      const joined = hub.join(client, query.room, { replay: options.historyOnJoin ?? 20 });
      if (!joined.ok) {
        client.session.send(sysFrame(`error: ${joined.detail}`));
        client.session.close("protocol");
        return;
      }
      if (login.value !== query.name) {
        hub.notify(client, "renamed", `your name is ${login.value} (${query.name} is taken)`);
      }
    },
    text(connection, data) {
      if (!connection.admit()) return;
      const refuse = (why: string) => connection.session.send(sysFrame(`error: ${why}`));
      let frame: unknown;
      try {
        frame = JSON.parse(data);
      } catch {
        return refuse("frame is not JSON");
      }
      const f = frame as { DataType?: unknown; Data?: Record<string, unknown> } | null;
      if (
        !f || typeof f !== "object" || f.DataType !== "message" || typeof f.Data !== "object" ||
        f.Data === null
      ) {
        return refuse('expected {"DataType":"message","Data":{...}}');
      }
      const contents = typeof f.Data.Contents === "string" ? fromBase64(f.Data.Contents) : null;
      if (contents === null) return refuse("Contents must be base64 of UTF-8 text");
      const claimed = f.Data.SessionID;
      const tag = typeof claimed === "string" && own.has(claimed) ? claimed : undefined;
      send(connection, contents, tag, refuse);
    },
    binary(connection) {
      if (!connection.admit()) return;
      connection.session.send(sysFrame("error: binary frames are not supported"));
    },
    tooLarge(connection) {
      connection.session.send(sysFrame("error: frame too large"));
    },
    limited(connection) {
      connection.session.send(sysFrame("error: slow down, too many messages; this one was not sent"));
    },
  };
}

function send(
  connection: WsConnection,
  text: string,
  tag: string | undefined,
  refuse: (why: string) => void,
): void {
  const { hub, client } = connection;
  settle(hub.say(client, text, tag === undefined ? {} : { tag }), (_code, detail) => refuse(detail));
}
