/**
 * The TCP command dialect (SocketChat-Go, extended): parsing one line into a command, carrying commands out
 * against the hub ({@linkcode commandDialect}), and rendering hub events as lines.
 *
 * Parsing is a pure function so the fuzz tests can hammer it; {@linkcode commandDialect} is what the TCP
 * door's listener hands each line of a connection that did not open with MaChat's `{`.
 * @module
 */

import type { ChatEvent, Codec, ErrorCode, Frame } from "../model.ts";
import { DEFAULT_ROOM } from "../names.ts";
import { flatText, oneLine, presenceLine } from "../wire/lines.ts";
import type { LineConnection, LineDialect } from "../net/lines/dialect.ts";
import { line } from "../net/lines/framer.ts";
import { hubbubTellings } from "./dialect.ts";

/**
 * A parsed line of the command dialect. `LOGIN`'s argument is the rest of the line: a name, or with accounts
 * on a name and a password (the dialect splits it; without accounts a space makes it an invalid name).
 */
export type Command =
  | { readonly cmd: "login"; readonly name: string }
  | { readonly cmd: "identify"; readonly name: string; readonly password: string }
  | { readonly cmd: "register"; readonly password: string }
  | { readonly cmd: "say"; readonly text: string }
  | { readonly cmd: "dm"; readonly to: string; readonly text: string }
  | { readonly cmd: "who"; readonly offset: number }
  | { readonly cmd: "ping" }
  | { readonly cmd: "join"; readonly room: string }
  | { readonly cmd: "leave" }
  | { readonly cmd: "rooms" }
  | { readonly cmd: "history"; readonly count: number }
  | { readonly cmd: "history-since"; readonly id: number }
  | { readonly cmd: "help" }
  | { readonly cmd: "quit" }
  | { readonly cmd: "empty" }
  | { readonly cmd: "unknown"; readonly word: string }
  | { readonly cmd: "usage"; readonly usage: string };

/** Most `HISTORY` lines one command returns. */
export const MAX_HISTORY = 500;
/** `HISTORY` without a count. */
export const DEFAULT_HISTORY = 20;

/**
 * The command dialect's words, in lower case (matched in any case, with or without a leading `/`). A line that
 * starts with another word is said to the room; with a `/`, it is an unknown command.
 */
export const COMMAND_WORDS: ReadonlySet<string> = new Set([
  "login",
  "msg",
  "dm",
  "who",
  "ping",
  "join",
  "leave",
  "rooms",
  "history",
  "help",
  "quit",
  "identify",
  "register",
]);
const SPACE = /\s+/u;

/** Usage lines, also the body of `HELP`. */
export const USAGE = {
  login: "LOGIN <username>",
  identify: "IDENTIFY <username> <password>",
  register: "REGISTER <password>",
  msg: "MSG <text>",
  dm: "DM <username> <text>",
  who: "WHO [offset]",
  join: "JOIN <room>",
  history: "HISTORY [n] | HISTORY SINCE <id>",
} as const;

/** Parses one line (any terminator already removed). Never throws. */
export function parseCommand(raw: string): Command {
  const line = raw.trim();
  if (line === "") return { cmd: "empty" };
  const space = line.search(SPACE);
  const first = space === -1 ? line : line.slice(0, space);
  const rest = space === -1 ? "" : line.slice(space).trimStart();
  const slash = first.startsWith("/");
  const word = (slash ? first.slice(1) : first).toLowerCase();
  if (slash && word === "say") {
    return rest === "" ? { cmd: "usage", usage: "/say <text>" } : { cmd: "say", text: rest };
  }
  if (!COMMAND_WORDS.has(word)) return slash ? { cmd: "unknown", word: first } : { cmd: "say", text: line };
  switch (word) {
    case "login":
      return { cmd: "login", name: rest };
    case "identify": {
      const gap = rest.search(SPACE);
      if (gap === -1) return { cmd: "usage", usage: USAGE.identify };
      return { cmd: "identify", name: rest.slice(0, gap), password: rest.slice(gap).trimStart() };
    }
    case "register":
      // One word: a chat line that happens to start with "register" must not register its words.
      return rest === "" || SPACE.test(rest)
        ? { cmd: "usage", usage: USAGE.register }
        : { cmd: "register", password: rest };
    case "msg":
      return rest === "" ? { cmd: "usage", usage: USAGE.msg } : { cmd: "say", text: rest };
    case "dm": {
      const gap = rest.search(SPACE);
      if (gap === -1) return { cmd: "usage", usage: USAGE.dm };
      return { cmd: "dm", to: rest.slice(0, gap), text: rest.slice(gap).trimStart() };
    }
    case "who": {
      if (rest === "") return { cmd: "who", offset: 0 };
      const offset = count(rest);
      return offset === null ? { cmd: "usage", usage: USAGE.who } : { cmd: "who", offset };
    }
    case "join":
      return rest === "" || SPACE.test(rest)
        ? { cmd: "usage", usage: USAGE.join }
        : { cmd: "join", room: rest };
    case "history": {
      if (rest === "") return { cmd: "history", count: DEFAULT_HISTORY };
      const [a, b, ...more] = rest.split(SPACE);
      if (a!.toLowerCase() === "since" && b !== undefined && more.length === 0) {
        const id = count(b);
        if (id !== null) return { cmd: "history-since", id };
      }
      const n = b === undefined ? count(a!) : null;
      if (n === null || n === 0) return { cmd: "usage", usage: USAGE.history };
      return { cmd: "history", count: Math.min(n, MAX_HISTORY) };
    }
    case "ping":
      return { cmd: "ping" };
    case "leave":
      return { cmd: "leave" };
    case "rooms":
      return { cmd: "rooms" };
    case "help":
      return { cmd: "help" };
    default:
      return { cmd: "quit" };
  }
}

function count(text: string): number | null {
  if (!/^\d{1,15}$/.test(text)) return null;
  return Number(text);
}

/** The lines `HELP` answers with. */
export const HELP_LINES: readonly string[] = [
  "INFO commands (case-insensitive, a leading / is fine):",
  `INFO   ${USAGE.login}       claim a name`,
  "INFO   <text> or MSG <text> send to your room",
  `INFO   ${USAGE.dm}  direct message`,
  `INFO   ${USAGE.join} / LEAVE   switch rooms (LEAVE goes back to lobby)`,
  `INFO   ${USAGE.who} / ROOMS    who is here / which rooms exist`,
  `INFO   ${USAGE.history}`,
  "INFO   PING / HELP / QUIT",
];

/** More `HELP` lines when the server has accounts (`--accounts on|required`). */
export const ACCOUNT_HELP_LINES: readonly string[] = [
  "INFO accounts (a registered name needs its password):",
  `INFO   LOGIN <username> <password>     log in to a registered name`,
  `INFO   ${USAGE.identify}  the same, also after logging in as a guest`,
  `INFO   ${USAGE.register}             register the name you hold (a password without spaces)`,
];

/** Renders hub events in the command dialect. The sender never hears its own message or presence. */
export const commandCodec: Codec = {
  name: "tcp",
  echo: new Set(),
  encode(event: ChatEvent): Frame | null {
    switch (event.kind) {
      case "message":
        return line(`MSG ${oneLine(event.message.from)} ${flatText(event.message.text)}`);
      case "dm":
        return line(`DM ${oneLine(event.message.from)} ${flatText(event.message.text)}`);
      case "join":
        return line(`INFO ${oneLine(event.name)} joined`);
      case "leave":
        return line(`INFO ${oneLine(event.name)} ${event.reason}`);
      case "presence":
        return line(presenceLine(event.joined, event.left));
      case "notice":
        return line(`INFO ${oneLine(event.text)}`);
      case "shutdown":
        return line("INFO server shutting down");
      default:
        return null;
    }
  },
};

/** The command dialect; one object serves every connection. */
export const commandDialect: LineDialect = {
  codec: commandCodec,
  open() {
    // No greeting: a command client speaks first (HELP lists the commands).
  },
  line: (connection, text) => run(connection, parseCommand(text)),
  ...hubbubTellings,
};

/** What a connection may ask before it has a name. */
const BEFORE_LOGIN: ReadonlySet<Command["cmd"]> = new Set([
  "login",
  "identify",
  "ping",
  "help",
  "quit",
  "unknown",
]);

function reply(connection: LineConnection, ...lines: string[]): void {
  // Replies carry names and stored text (HIST): none of it may reach a terminal raw.
  for (const text of lines) connection.session.send(oneLine(text));
}

function run(connection: LineConnection, command: Command): void | Promise<void> {
  if (command.cmd === "empty") return;
  const { hub, client } = connection;
  if (client.name === null && !BEFORE_LOGIN.has(command.cmd)) {
    return reply(connection, "ERR expected 'LOGIN <username>'");
  }
  const refused = (code: string) => reply(connection, `ERR ${code}`);
  switch (command.cmd) {
    case "login":
      return login(connection, command.name);
    case "identify":
      return identify(connection, command.name, command.password);
    case "register":
      return register(connection, command.password);
    case "say":
      return connection.track(hub.say(client, command.text), refused);
    case "dm":
      return connection.track(hub.dm(client, command.to, command.text), refused);
    case "who":
      return who(connection, command.offset);
    case "ping":
      return reply(connection, "PONG");
    case "join":
      return switchRoom(connection, command.room);
    case "leave":
      return switchRoom(connection, DEFAULT_ROOM);
    case "rooms":
      return reply(connection, ...hub.rooms().map((r) => `ROOM ${r.name} ${r.members}`), "OK");
    case "history":
    case "history-since":
      return history(connection, command);
    case "help":
      return reply(connection, ...HELP_LINES, ...(hub.accounts.mode === "off" ? [] : ACCOUNT_HELP_LINES));
    case "quit":
      reply(connection, "INFO bye");
      return connection.end("quit");
    case "unknown":
      return reply(connection, "ERR unknown-cmd");
    case "usage":
      return reply(connection, `ERR usage: ${command.usage}`);
  }
}

async function login(connection: LineConnection, argument: string): Promise<void> {
  const { hub, client } = connection;
  if (client.name !== null) return reply(connection, "ERR already-logged-in");
  if (argument === "") return reply(connection, "ERR expected 'LOGIN <username>'");
  // With accounts, `LOGIN <name> <password>`; without, the whole argument is the name (and a space in it
  // makes it an invalid one, as it always did).
  const gap = hub.accounts.mode === "off" ? -1 : argument.search(SPACE);
  const name = gap === -1 ? argument : argument.slice(0, gap);
  const result = gap === -1
    ? await hub.claim(client, name)
    : await hub.accounts.identify(client, name, argument.slice(gap).trimStart(), { ip: connection.remote });
  if (!result.ok) return reply(connection, refusal(result.code, result.detail, name));
  reply(connection, "OK");
  if (gap !== -1) warnCleartext(connection);
  hub.join(client, DEFAULT_ROOM);
}

/** `IDENTIFY <name> <password>`: `LOGIN` with a password, also for a guest taking its registered name. */
async function identify(connection: LineConnection, name: string, password: string): Promise<void> {
  const { hub, client } = connection;
  const guest = client.name === null;
  const result = await hub.accounts.identify(client, name, password, { ip: connection.remote });
  if (!result.ok) return reply(connection, refusal(result.code, result.detail, name));
  reply(connection, "OK");
  warnCleartext(connection);
  if (guest) hub.join(client, DEFAULT_ROOM);
}

/** `REGISTER <password>`: the name this connection holds becomes an account's. */
async function register(connection: LineConnection, password: string): Promise<void> {
  const { hub, client } = connection;
  const result = await hub.accounts.register(client, password, { ip: connection.remote });
  if (!result.ok) return reply(connection, refusal(result.code, result.detail, client.name ?? ""));
  reply(connection, "OK");
  warnCleartext(connection);
}

/**
 * How a refusal reads: `ERR <code>`, as ever, for the codes this dialect always had; the accounts' codes say
 * what to do next, since a person at a terminal reads them.
 */
function refusal(code: ErrorCode, detail: string, name: string): string {
  switch (code) {
    case "name-registered":
      return `ERR name-registered: '${name}' is registered; log in with LOGIN ${name} <password>`;
    case "login-required":
      return "ERR login-required: this server has no guests; log in with LOGIN <username> <password>";
    case "bad-credentials":
    case "too-many-attempts":
    case "weak-password":
    case "already-registered":
    case "accounts-off":
      return `ERR ${code}: ${detail}`;
    default:
      return `ERR ${code}`;
  }
}

/** A password crossed the network unencrypted: say so, unless it never left this machine. */
function warnCleartext(connection: LineConnection): void {
  if (connection.secure || isLoopback(connection.remote)) return;
  reply(
    connection,
    "INFO warning: this connection is not encrypted; your password crossed the network in clear",
  );
}

function isLoopback(ip: string): boolean {
  return ip === "::1" || ip.startsWith("127.") || ip.startsWith("::ffff:127.");
}

function who(connection: LineConnection, offset: number): void {
  const page = connection.hub.members(connection.client.room ?? DEFAULT_ROOM, { offset });
  const more = page.next === null ? [] : [`INFO ${page.total} members; more with WHO ${page.next}`];
  reply(connection, ...page.members.map((u) => `USER ${u.name}`), ...more, "OK");
}

/** Command clients are in one room at a time: joining one leaves the other. */
function switchRoom(connection: LineConnection, room: string): void {
  const moved = connection.hub.move(connection.client, room);
  reply(connection, moved.ok ? "OK" : `ERR ${moved.code}`);
}

async function history(
  connection: LineConnection,
  command: Extract<Command, { cmd: "history" | "history-since" }>,
): Promise<void> {
  const room = connection.client.room ?? DEFAULT_ROOM;
  const result = await connection.hub.history(
    room,
    command.cmd === "history" ? { limit: command.count } : { after: command.id, limit: 100_000 },
  );
  // The store is away (Redis down): say so; the connection stays.
  if (!result.ok) return reply(connection, `ERR ${result.code}`);
  const range = result.value;
  if (!range.complete) reply(connection, "INFO history-gap");
  reply(
    connection,
    ...range.messages.map((m) => `HIST ${m.id} ${new Date(m.time).toISOString()} ${m.from} ${m.text}`),
    "OK",
  );
}
