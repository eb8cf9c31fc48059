/**
 * `/ws`: the GoBanter dialect, hubbub's native one, in its two shapes.
 *
 * The documented shape is `{"Action":...,"Payload":{...}}`; GoBanter's deployed page speaks flat lower-case
 * frames. The shape of a client's first frame decides the shape of every frame it receives; until then it
 * receives only the greeting. See PROTOCOL.md for every action.
 * @module
 */

import type { ChatEvent } from "../model.ts";
import { DEFAULT_ROOM } from "../names.ts";
import type { Dialect, WsConnection } from "./upgrade.ts";
import { settle } from "./upgrade.ts";
import { wsCodec } from "./session.ts";
import { broadcastPayload, MAX_HISTORY, privatePayload } from "../wire/gobanter.ts";

/** A documented-shape frame. */
export interface DocumentedFrame {
  /** What happened or what is asked. */
  readonly Action: string;
  /** Its fields. */
  readonly Payload: Record<string, unknown>;
}

function documented(Action: string, Payload: Record<string, unknown>): string {
  return JSON.stringify({ Action, Payload });
}

/** Before the first client frame: nothing but the greeting reaches the client. */
export const pendingCodec = wsCodec({
  name: "gobanter",
  echo: new Set(),
  render: () => null,
});

/** The documented `{"Action","Payload"}` shape. */
export const documentedCodec = wsCodec({
  name: "gobanter",
  echo: new Set(["message", "dm", "join", "leave"]),
  render(event: ChatEvent): string | null {
    switch (event.kind) {
      case "message":
        return documented("broadcast", { ...broadcastPayload(event.message) });
      case "dm":
        return documented("private", { ...privatePayload(event.message) });
      case "join":
        return documented("connected", { Username: event.name, Conn: event.conn, Room: event.room });
      case "leave":
        return documented("left", {
          Username: event.name,
          Conn: event.conn,
          Room: event.room,
          Reason: event.reason,
        });
      case "users":
        return documented("userlist", {
          Room: event.room,
          Users: event.users.map((u) => u.name),
          Total: event.total,
          Offset: event.offset,
        });
      case "presence":
        return presenceFrames(event.room, event.joined, event.left);
      case "typing":
        return documented("typing", { Username: event.name, Room: event.room });
      case "notice":
        return documented("notice", { Code: event.code, Message: event.text });
      case "shutdown":
        return documented("shutdown", { Message: "server shutting down" });
    }
  },
});

/** Names a summary frame carries; `Count` says how many there were. A crowd costs each member O(1) bytes. */
export const SUMMARY_NAMES = 100;

/**
 * A summary of joins (or of leaves): one `connected` (or `left`) frame with the first names in `Users` and
 * the number in `Count`. `Username` reads as a name too ("37 people"), for clients that show only it.
 */
function presenceFrames(Room: string, joined: readonly string[], left: readonly string[]): string {
  const [action, names] = joined.length > 0 ? ["connected", joined] : ["left", left];
  return documented(action, {
    Room,
    Username: `${names.length} people`,
    Users: names.slice(0, SUMMARY_NAMES),
    Count: names.length,
  });
}

/** The server's local `HH:MM`, as GoBanter's page shows it. */
function clock(time: number): string {
  const d = new Date(time);
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}

interface LegacyFields {
  readonly message?: string;
  readonly message_type?: "" | "private" | "error";
  readonly connected_users?: readonly string[];
  readonly from?: string;
  readonly to?: string;
  readonly time?: number;
  readonly username?: string;
  readonly room?: string;
}

/** A legacy frame: always every key GoBanter's page reads, with empty values where they do not apply. */
function legacy(action: string, f: LegacyFields): string {
  return JSON.stringify({
    action,
    message: f.message ?? "",
    message_type: f.message_type ?? "",
    connected_users: f.connected_users ?? [],
    from: f.from ?? "",
    to: f.to ?? "",
    timestamp: clock(f.time ?? Date.now()),
    username: f.username ?? f.from ?? "",
    room: f.room ?? "",
  });
}

/** A legacy `error` frame, the one frame GoBanter's page shows for a refusal. */
export function legacyError(message: string): string {
  return legacy("error", { message, message_type: "error" });
}

/** GoBanter's flat lower-case shape. Presence reaches it only as `list_users`. */
export const legacyCodec = wsCodec({
  name: "gobanter-legacy",
  echo: new Set(["message", "dm"]),
  render(event: ChatEvent): string | null {
    switch (event.kind) {
      case "message": {
        const m = event.message;
        return legacy("broadcast", { message: m.text, from: m.from, time: m.time, room: m.room });
      }
      case "dm": {
        const m = event.message;
        return legacy("private", {
          message: m.text,
          message_type: "private",
          from: m.from,
          to: m.to,
          time: m.time,
        });
      }
      case "users":
        return legacy("list_users", { connected_users: event.users.map((u) => u.name), room: event.room });
      case "typing":
        return legacy("typing", { from: event.name, room: event.room });
      case "notice":
        return legacy("broadcast", { message: event.text, from: "server" });
      case "shutdown":
        return legacyError("server shutting down");
      default:
        return null;
    }
  },
});

/**
 * Documented error codes for the `error` action: the hub's, renamed where GoBanter has its own word. The
 * accounts' codes (`name-registered`, `login-required`, `bad-credentials`, `too-many-attempts`,
 * `weak-password`, `already-registered`, `accounts-off`) pass as they are.
 */
const CODES: Record<string, string> = {
  "username-taken": "name-taken",
  "invalid-username": "invalid-name",
  "not-logged-in": "name-required",
};

function sendError(connection: WsConnection, code: string, message: string): void {
  const { session } = connection;
  const documentedCode = CODES[code] ?? code;
  session.send(
    session.codec === legacyCodec
      ? legacyError(message)
      : documented("error", { Code: documentedCode, Message: message }),
  );
}

function str(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

function id(value: unknown): number | undefined {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}

/** The `/ws` dialect. */
export const gobanter: Dialect = {
  codec: pendingCodec,

  open(connection) {
    if (connection.pageSession === null || connection.hub.accounts.mode === "off") return greet(connection);
    // The page's cookie signs the connection in before anything else: its frames wait for this.
    return connection.hub.accounts.resume(connection.client, connection.pageSession).then(() =>
      greet(connection)
    );
  },

  text(connection, data) {
    let frame: unknown;
    try {
      frame = JSON.parse(data);
    } catch {
      if (!connection.admit()) return;
      return sendError(connection, "bad-json", "Cannot parse frame: not JSON");
    }
    const fields = frame as Record<string, unknown> | null;
    const action = typeof fields?.Action === "string" ? fields.Action : fields?.action;
    // GoBanter's page sends typing on every keystroke: typing has its own, larger budget and is shed silently,
    // so fast typing never costs the message that follows it.
    if (!(action === "typing" ? connection.admitTyping() : connection.admit())) return;
    if (typeof frame !== "object" || frame === null || Array.isArray(frame)) {
      return sendError(
        connection,
        "bad-frame",
        "Cannot read frame: expected an object with Action or action",
      );
    }
    const object = frame as Record<string, unknown>;
    const { session, hub, client } = connection;
    if (typeof object.Action === "string") {
      if (session.codec === pendingCodec) session.codec = documentedCodec;
      const payload = object.Payload ?? {};
      if (typeof payload !== "object" || payload === null || Array.isArray(payload)) {
        return sendError(connection, "bad-frame", "Cannot read frame: Payload must be an object");
      }
      return documentedAction(connection, object.Action, payload as Record<string, unknown>);
    }
    if (typeof object.action === "string") {
      if (session.codec === pendingCodec) {
        session.codec = legacyCodec;
        // The legacy page expects the room's list once it is talking.
        if (client.room !== null) hub.sendUsers(client, client.room);
      }
      return legacyAction(connection, object.action, object);
    }
    sendError(connection, "bad-frame", "Cannot read frame: expected an object with Action or action");
  },

  binary(connection) {
    if (!connection.admit()) return;
    sendError(connection, "bad-frame", "Binary frames are not supported: send JSON text frames");
  },

  tooLarge(connection) {
    sendError(connection, "too-large", "Frame too large");
  },

  limited(connection) {
    sendError(connection, "rate-limited", "Slow down: too many messages; this one was not sent");
  },
};

/**
 * The greeting; with accounts it also says the server's mode (`Accounts`) and the account the cookie signed the
 * connection in to (`Account`), so the page knows whether to ask for a password. A guest with `--accounts
 * required` is in no room until it signs in.
 */
function greet(connection: WsConnection): void {
  const { hub, client, session } = connection;
  hub.join(client, DEFAULT_ROOM);
  const mode = hub.accounts.mode;
  session.send(documented("connected", {
    Conn: session.id,
    Time: new Date().toISOString(),
    ...(mode === "off"
      ? {}
      : { Accounts: mode, ...(client.account === null ? {} : { Account: client.account }) }),
  }));
}

/** `history`: a room's (`Room`) or one's own DM conversation's (`With`), by id range. */
function documentedHistory(
  connection: WsConnection,
  p: Record<string, unknown>,
  room: string | undefined,
  fail: (code: string, message: string) => void,
): void {
  const { hub, client } = connection;
  const limit = Math.min(id(p.Limit) ?? 50, MAX_HISTORY);
  const after = id(p.After);
  const before = id(p.Before);
  const range = {
    limit,
    ...(after === undefined ? {} : { after }),
    ...(before === undefined ? {} : { before }),
  };
  const withName = str(p.With);
  if (withName !== undefined) {
    // DM history: only ever the asker's own conversation with `With`.
    hub.directHistory(client, withName, range).then((result) => {
      if (!result.ok) return fail(result.code, result.detail);
      connection.session.send(documented("history", {
        With: withName,
        Messages: result.value.messages.map(privatePayload),
        Complete: result.value.complete,
      }));
    });
    return;
  }
  if (!hub.accounts.admits(client)) return fail("login-required", "Sign in first: this server has no guests");
  const target = room ?? client.room ?? DEFAULT_ROOM;
  hub.history(target, range).then((result) => {
    if (!result.ok) return fail(result.code, result.detail);
    connection.session.send(documented("history", {
      Room: target,
      Messages: result.value.messages.map(broadcastPayload),
      Complete: result.value.complete,
    }));
  });
}

function documentedAction(
  connection: WsConnection,
  action: string,
  p: Record<string, unknown>,
): void | Promise<void> {
  const { hub, client } = connection;
  const fail = (code: string, message: string) => sendError(connection, code, message);
  const room = str(p.Room);
  if (p.Room !== undefined && room === undefined) return fail("bad-frame", "Payload.Room must be a string");
  switch (action) {
    case "username": {
      const name = str(p.Username);
      if (name === undefined) return fail("bad-frame", "Payload.Username must be a string");
      // The claim may ask the cluster: later frames of this connection wait for it (see upgrade.ts).
      const session = str(p.Session);
      // Page tokens are namespaced: no other dialect's identifier (goChat's public session ids) can match one.
      return hub.changeName(client, name.trim(), { token: session ? `page:${session}` : null }).then(
        (result) => {
          if (!result.ok) return fail(result.code, result.detail);
          // A small confirmation; the room's list follows with the next presence tick (never one list per join).
          connection.session.send(documented("username", { Username: result.value }));
        },
      );
    }
    case "broadcast": {
      const text = str(p.Message);
      if (text === undefined) return fail("bad-frame", "Payload.Message must be a string");
      return settle(hub.say(client, text, room === undefined ? {} : { room }), fail);
    }
    case "private": {
      const to = str(p.To);
      const text = str(p.Message);
      if (to === undefined || text === undefined) {
        return fail("bad-frame", "Payload.To and Payload.Message must be strings");
      }
      return settle(hub.dm(client, to, text), fail);
    }
    case "join": {
      if (room === undefined) return fail("bad-frame", "Payload.Room is required");
      const result = hub.join(client, room);
      if (!result.ok) return fail(result.code, result.detail);
      return hub.sendUsers(client, result.value);
    }
    case "leave": {
      const result = hub.leave(client, room);
      if (!result.ok) return fail(result.code, result.detail);
      return;
    }
    case "userlist": {
      if (!hub.accounts.admits(client)) {
        return fail("login-required", "Sign in first: this server has no guests");
      }
      const offset = id(p.Offset);
      const limit = id(p.Limit);
      return hub.sendUsers(client, room ?? client.room ?? DEFAULT_ROOM, {
        ...(offset === undefined ? {} : { offset }),
        ...(limit === undefined ? {} : { limit }),
      });
    }
    case "history":
      return documentedHistory(connection, p, room, fail);
    case "typing":
      return hub.typing(client, room);
    case "register":
    case "login":
    case "logout":
      return accountAction(connection, action, p, fail);
    case "left":
      for (const name of client.roomNames) hub.leave(client, name);
      return;
    default:
      // Unknown actions are ignored, as GoBanter does: newer clients may speak to older servers.
      return;
  }
}

/**
 * `register` (`Password`: the name this connection holds becomes an account's), `login` (`Username`,
 * `Password`, optional `Session`: signs in and takes the name) and `logout` (gives the account's name up).
 * Each is answered by a frame of its own action (`Username` for the first two) or an `error`.
 */
function accountAction(
  connection: WsConnection,
  action: "register" | "login" | "logout",
  p: Record<string, unknown>,
  fail: (code: string, message: string) => void,
): void | Promise<void> {
  const { hub, client, session } = connection;
  const answer = (Username?: string) =>
    session.send(documented(action, Username === undefined ? {} : { Username }));
  if (action === "logout") {
    hub.accounts.logout(client);
    return answer();
  }
  const password = str(p.Password);
  const name = str(p.Username)?.trim();
  if (password === undefined || (action === "login" && name === undefined)) {
    return fail(
      "bad-frame",
      `Payload.Password${action === "login" ? " and Payload.Username" : ""} must be strings`,
    );
  }
  const pending = action === "register"
    ? hub.accounts.register(client, password, { ip: connection.remote })
    : hub.accounts.identify(client, name!, password, {
      ip: connection.remote,
      token: str(p.Session) ? `page:${str(p.Session)}` : null,
    });
  return pending.then((result) => {
    if (!result.ok) return fail(result.code, result.detail);
    // With `required` a guest was in no room: signed in now, it starts in the lobby like everyone.
    if (hub.accounts.mode === "required" && client.roomNames.length === 0) hub.join(client, DEFAULT_ROOM);
    answer(result.value);
  });
}

async function legacyAction(
  connection: WsConnection,
  action: string,
  f: Record<string, unknown>,
): Promise<void> {
  const { hub, client } = connection;
  const fail = (_code: string, message: string) => connection.session.send(legacyError(message));
  const username = str(f.username)?.trim();
  // A page that reconnected after a restart never re-sends `username`; its frames' field claims the name.
  const claim = async (): Promise<boolean> => {
    if (client.name !== null) return true;
    if (username === undefined || username === "") {
      fail("not-logged-in", "Choose a name first");
      return false;
    }
    const result = await hub.claim(client, username);
    if (!result.ok) {
      fail(result.code, nameRefusal(username, result.code, result.detail));
      return false;
    }
    return true;
  };
  switch (action) {
    case "username": {
      if (username === undefined) return fail("bad-frame", "A username frame needs a username");
      const result = await hub.changeName(client, username);
      if (!result.ok) return fail(result.code, nameRefusal(username, result.code, result.detail));
      return;
    }
    case "broadcast": {
      const text = str(f.message);
      if (text === undefined) return fail("bad-frame", "A broadcast frame needs a message");
      if (!(await claim())) return;
      return settle(hub.say(client, text), fail);
    }
    case "private": {
      const to = str(f.to);
      const text = str(f.message);
      if (to === undefined || text === undefined) {
        return fail("bad-frame", "A private frame needs to and message");
      }
      if (!(await claim())) return;
      return settle(hub.dm(client, to, text), fail);
    }
    case "typing":
      if (client.name !== null) hub.typing(client);
      return;
    case "list_users":
      if (!hub.accounts.admits(client)) return fail("login-required", "This server has no guests");
      return hub.sendUsers(client, client.room ?? DEFAULT_ROOM);
    case "left":
      for (const name of client.roomNames) hub.leave(client, name);
      return;
    default:
      return;
  }
}

function nameRefusal(name: string, code: string, detail: string): string {
  if (code === "username-taken") return `Name '${name}' is taken`;
  // GoBanter's own page cannot send a password: a registered name is as good as taken for it.
  if (code === "name-registered") return `Name '${name}' is registered`;
  return detail;
}
