/**
 * The IRC dialect: registration (`CAP`, `NICK`, `USER`, `PASS`), then channels as rooms, `PRIVMSG` and `NOTICE`
 * as room messages and DMs, `CHATHISTORY`, and the small replies clients expect (`MODE`, `WHO`, `WHOIS`, ...).
 * One {@linkcode ircDialect} serves every connection of the IRC door; each connection's state lives in a
 * `WeakMap` keyed by its {@linkcode LineConnection}.
 * @module
 */

import type { Hub } from "../hub/hub.ts";
import type { ErrorCode, Result } from "../model.ts";
import { checkName, roomKey } from "../names.ts";
import type { DoorClose, LineConnection, LineDialect } from "../net/lines/dialect.ts";
import { channelOf, FrameFitter, inboundText, ircCodec, roomOf, SERVER, sourceOf } from "./codec.ts";
import { CHATHISTORY_LIMIT, historyBatch, parseRequest, readHistory } from "./history.ts";
import { formatMessage, frame, type IrcMessage, parseMessage, withinLimits } from "./message.ts";
import { ERR, fromServer, namesReply, numeric, RPL, welcome, whoReply } from "./replies.ts";
import { accountsOn, SASL, SaslExchange, signIn } from "./sasl.ts";

/** Capabilities the door offers (`CAP LS`); `sasl` joins them while accounts are on ({@linkcode offered}). */
export const CAPS: readonly string[] = [
  "away-notify",
  "batch",
  "draft/chathistory",
  "echo-message",
  "message-tags",
  "multi-prefix",
  "server-time",
];

/** Options of {@linkcode ircDialect}. */
export interface IrcDialectOptions {
  /** Recent messages sent as a `chathistory` batch on join, to clients that negotiated `batch` and it. */
  readonly historyOnJoin: number;
  /** Rooms one connection may be in (`CHANLIMIT`). */
  readonly maxRooms: number;
  /** hubbub's version, for the welcome. */
  readonly version: string;
  /** The message of the day, one line each. */
  readonly motd?: readonly string[];
}

/** One connection's IRC state. */
interface IrcState {
  /** The nick asked for, before registration; the registered name after. */
  nick: string | null;
  user: boolean;
  registered: boolean;
  /** `CAP LS` or `CAP REQ` came before registration: it waits for `CAP END`. */
  negotiating: boolean;
  readonly caps: Set<string>;
  /** `PASS`, checked against the account of the nick at registration (accounts on). */
  password: string | null;
  /** The SASL exchange, and the account it signed in to. */
  readonly sasl: SaslExchange;
  /** Fits frames encoded for everyone to this connection. */
  readonly fitter: FrameFitter;
}

/** What a command handler works with. */
interface Ctx {
  readonly connection: LineConnection;
  readonly state: IrcState;
  readonly options: IrcDialectOptions;
  readonly started: Date;
}

type Handler = (ctx: Ctx, message: IrcMessage) => void | Promise<void>;

const states = new WeakMap<LineConnection, IrcState>();
/** For frames sent before a connection's state exists (none in practice): crowds still lose the own JOIN. */
const SHARED_FITTER = new FrameFitter();

/** The IRC dialect. */
export function ircDialect(options: IrcDialectOptions): LineDialect {
  const started = new Date();
  const ctxOf = (connection: LineConnection): Ctx => {
    let state = states.get(connection);
    if (!state) {
      state = {
        nick: null,
        user: false,
        registered: false,
        negotiating: false,
        caps: new Set(),
        password: null,
        sasl: new SaslExchange(),
        fitter: new FrameFitter(),
      };
      states.set(connection, state);
    }
    return { connection, state, options, started };
  };
  return {
    codec: ircCodec({ time: false, tags: false, echo: false }),
    open(connection) {
      ctxOf(connection);
    },
    line: (connection, text) => onLine(ctxOf(connection), text),
    refused(connection, why) {
      const ctx = ctxOf(connection);
      if (why === "too-long") say(ctx, numeric(ERR.INPUTTOOLONG, ctx.state.nick, "Input line was too long"));
      else say(ctx, fromServer("FAIL", "*", "INVALID_UTF8", "Message rejected: IRC lines must be UTF-8"));
    },
    limited(connection) {
      const ctx = ctxOf(connection);
      say(ctx, fromServer("NOTICE", ctx.state.nick ?? "*", "rate-limited: slow down"));
    },
    farewell(connection, reason) {
      const ctx = ctxOf(connection);
      say(ctx, closing(ctx.state.nick, FAREWELLS[reason]));
    },
    awaitingLogin: (connection) => !ctxOf(connection).state.registered,
    refusal: (reason) => closing(null, reason),
    quiet(connection) {
      say(ctxOf(connection), `PING :${SERVER}`);
    },
    // The line door asks only for marked frames (a MarkedFrame: a crowd's JOINs, a QUIT).
    tailor: (connection, bytes) =>
      (states.get(connection)?.fitter ?? SHARED_FITTER).fit(bytes, connection.client.name),
    close(connection) {
      states.delete(connection);
    },
  };
}

const FAREWELLS: Record<DoorClose, string> = {
  flood: "Excess Flood",
  "login-timeout": "Registration timed out",
  idle: "Ping timeout",
};

function closing(nick: string | null, why: string): string {
  return formatMessage({
    command: "ERROR",
    params: [`Closing Link: ${nick ?? "*"} (${why})`],
    trailing: true,
  });
}

/** Sends lines, each ended by `\r\n`, in one frame. */
function say(ctx: Ctx, ...lines: string[]): void {
  if (lines.length > 0) ctx.connection.session.send(frame(lines));
}

/** Commands a connection may send before it has registered. */
const BEFORE_REGISTRATION = new Set(["CAP", "NICK", "USER", "PASS", "PING", "PONG", "QUIT", "AUTHENTICATE"]);

function onLine(ctx: Ctx, text: string): void | Promise<void> {
  if (!withinLimits(text)) {
    return say(ctx, numeric(ERR.INPUTTOOLONG, ctx.state.nick, "Input line was too long"));
  }
  const message = parseMessage(text);
  if (message === null) return;
  const handler = COMMANDS[message.command];
  if (!ctx.state.registered && !BEFORE_REGISTRATION.has(message.command)) {
    // An unknown command is unknown whether or not one has registered.
    if (handler !== undefined) return say(ctx, numeric(ERR.NOTREGISTERED, null, "You have not registered"));
  }
  if (handler === undefined) {
    return say(ctx, numeric(ERR.UNKNOWNCOMMAND, ctx.state.nick, message.command, "Unknown command"));
  }
  return handler(ctx, message);
}

/** A command's parameters, or `461` when there are fewer than `n`. */
function need(ctx: Ctx, message: IrcMessage, n: number): readonly string[] | null {
  if (message.params.length >= n && message.params.slice(0, n).every((p) => p !== "")) return message.params;
  say(ctx, numeric(ERR.NEEDMOREPARAMS, ctx.state.nick, message.command, "Not enough parameters"));
  return null;
}

// ---------------------------------------------------------------------------------------------------------
// Registration

function cap(ctx: Ctx, message: IrcMessage): void | Promise<void> {
  const { state } = ctx;
  const sub = message.params[0]?.toUpperCase();
  const me = state.registered ? state.nick : "*";
  switch (sub) {
    case "LS":
      if (!state.registered) state.negotiating = true;
      return say(ctx, fromServer("CAP", me ?? "*", "LS", offered(ctx.connection.hub).join(" ")));
    case "LIST":
      return say(ctx, fromServer("CAP", me ?? "*", "LIST", [...state.caps].join(" ")));
    case "REQ": {
      if (!state.registered) state.negotiating = true;
      const asked = (message.params[1] ?? "").split(" ").filter((c) => c !== "");
      const caps = offered(ctx.connection.hub);
      const known = asked.every((c) => caps.includes(c.replace(/^-/, "")));
      if (!known || asked.length === 0) return say(ctx, fromServer("CAP", me ?? "*", "NAK", asked.join(" ")));
      for (const c of asked) c.startsWith("-") ? state.caps.delete(c.slice(1)) : state.caps.add(c);
      ctx.connection.useCodec(codecOf(state));
      return say(ctx, fromServer("CAP", me ?? "*", "ACK", asked.join(" ")));
    }
    case "END":
      state.negotiating = false;
      return register(ctx);
    default:
      return say(ctx, numeric(ERR.INVALIDCAPCMD, state.nick, sub ?? "*", "Invalid CAP command"));
  }
}

/** The capabilities offered now: `sasl` only while accounts are on. */
function offered(hub: Hub): readonly string[] {
  return accountsOn(hub) ? [...CAPS, "sasl"] : CAPS;
}

function codecOf(state: IrcState) {
  return ircCodec({
    time: state.caps.has("server-time"),
    tags: state.caps.has("message-tags"),
    echo: state.caps.has("echo-message"),
  });
}

async function nick(ctx: Ctx, message: IrcMessage): Promise<void> {
  const { state, connection } = ctx;
  const wanted = message.params[0] ?? "";
  if (wanted === "") return say(ctx, numeric(ERR.NONICKNAMEGIVEN, state.nick, "No nickname given"));
  if (!state.registered) {
    const why = checkName(wanted, connection.hub.nameLimits.name);
    if (why) return say(ctx, numeric(ERR.ERRONEUSNICKNAME, null, wanted, `Erroneous nickname: ${why}`));
    state.nick = wanted;
    return register(ctx);
  }
  const old = state.nick!;
  if (wanted === old) return;
  const renamed = await connection.hub.changeName(connection.client, wanted);
  if (!renamed.ok) return say(ctx, nickRefusal(state.nick, wanted, renamed));
  state.nick = renamed.value;
  say(ctx, formatMessage({ source: sourceOf(old), command: "NICK", params: [renamed.value] }));
}

function nickRefusal(me: string | null, wanted: string, refused: Result<unknown> & { ok: false }): string {
  if (refused.code === "username-taken") {
    return numeric(ERR.NICKNAMEINUSE, me, wanted, "Nickname is already in use");
  }
  if (refused.code === "name-registered") {
    return numeric(ERR.NICKNAMEINUSE, me, wanted, "Nickname is registered: sign in with SASL PLAIN or PASS");
  }
  if (refused.code === "invalid-username") {
    return numeric(ERR.ERRONEUSNICKNAME, me, wanted, `Erroneous nickname: ${refused.detail}`);
  }
  return numeric(ERR.UNKNOWNERROR, me, "NICK", refused.detail);
}

function user(ctx: Ctx, message: IrcMessage): void | Promise<void> {
  if (ctx.state.registered) {
    return say(ctx, numeric(ERR.ALREADYREGISTERED, ctx.state.nick, "You may not reregister"));
  }
  // Some clients send an empty real name: only the user name must be there, and four parameters.
  if (message.params.length < 4 || message.params[0] === "") {
    return say(ctx, numeric(ERR.NEEDMOREPARAMS, ctx.state.nick, "USER", "Not enough parameters"));
  }
  ctx.state.user = true;
  return register(ctx);
}

function pass(ctx: Ctx, message: IrcMessage): void {
  if (ctx.state.registered) {
    return say(ctx, numeric(ERR.ALREADYREGISTERED, ctx.state.nick, "You may not reregister"));
  }
  if (need(ctx, message, 1) === null) return;
  ctx.state.password = message.params[0]!;
}

/**
 * Registers once `NICK` and `USER` are in and capability negotiation is over: signs in with `PASS` when accounts
 * are on and SASL did not already, claims the nick (the account's name, when signed in), welcomes.
 */
async function register(ctx: Ctx): Promise<void> {
  const { state, connection, options } = ctx;
  if (state.registered || state.negotiating || !state.user || state.nick === null) return;
  let account = state.sasl.account;
  if (account === null && state.password !== null && accountsOn(connection.hub)) {
    const signed = await signIn(connection, state.nick, state.password);
    if (!signed.ok) return refuseLogin(ctx, `Password incorrect: ${signed.detail}`);
    account = signed.value;
  }
  const claimed = await connection.hub.claim(connection.client, account ?? state.nick);
  if (!claimed.ok) {
    if (claimed.code === "login-required") return refuseLogin(ctx, claimed.detail);
    const wanted = state.nick;
    state.nick = null;
    return say(ctx, nickRefusal(null, wanted, claimed));
  }
  state.registered = true;
  state.nick = claimed.value;
  const { hub } = connection;
  say(
    ctx,
    ...welcome(claimed.value, {
      version: options.version,
      started: ctx.started,
      isupport: isupport(hub, options),
      motd: options.motd ?? MOTD,
    }),
  );
}

/** A password refused at registration (or none given where one is required): `464`, then the link closes. */
function refuseLogin(ctx: Ctx, why: string): void {
  say(ctx, numeric(SASL.PASSWDMISMATCH, ctx.state.nick, why), closing(ctx.state.nick, "Bad password"));
  ctx.connection.end("protocol");
}

const MOTD = [
  "Rooms are channels: room dev is #dev (a room named #dev is ##dev); the lobby is #lobby.",
  "People in the browser, in ncat and in older clients are in the same rooms: /join #lobby",
  "/msg <nick> <text> is a direct message to anyone, whatever they use.",
];

/** `RPL_ISUPPORT` tokens: hubbub's limits and how it compares names (see docs/protocol.md). */
function isupport(hub: Hub, options: IrcDialectOptions): string[] {
  return [
    "AWAYLEN=200",
    "CASEMAPPING=ascii",
    `CHANLIMIT=#:${options.maxRooms}`,
    "CHANMODES=,,,",
    `CHANNELLEN=${hub.nameLimits.room + 1}`,
    "CHANTYPES=#",
    `CHATHISTORY=${CHATHISTORY_LIMIT}`,
    "MSGREFTYPES=msgid,timestamp",
    "NETWORK=hubbub",
    `NICKLEN=${hub.nameLimits.name}`,
    "PREFIX=",
    "TARGMAX=JOIN:,PART:,PRIVMSG:4,NOTICE:4,NAMES:,WHOIS:1",
    "UTF8ONLY",
  ];
}

// ---------------------------------------------------------------------------------------------------------
// Rooms

function join(ctx: Ctx, message: IrcMessage): void {
  const params = need(ctx, message, 1);
  if (params === null) return;
  if (params[0] === "0") return partAll(ctx);
  for (const channel of params[0]!.split(",")) if (channel !== "") joinOne(ctx, channel);
}

function joinOne(ctx: Ctx, channel: string): void {
  const { connection, state, options } = ctx;
  const { hub, client } = connection;
  const room = roomOf(channel);
  if (room === null) return say(ctx, numeric(ERR.NOSUCHCHANNEL, state.nick, channel, "No such channel"));
  // Joining a channel one is in says nothing, as IRC servers do.
  if (client.roomNames.some((r) => roomKey(r) === roomKey(room))) return;
  const replay = state.caps.has("batch") && state.caps.has("draft/chathistory") ? options.historyOnJoin : 0;
  // The room's own name (as first joined, `#Dev` may be `dev`): the replay comes once the store answers.
  let joinedName = room;
  const joined = hub.join(client, room, {
    replay,
    replayTo: (messages) => {
      if (messages.length > 0) say(ctx, ...historyBatch(channelOf(joinedName), messages, capsOf(state)));
    },
  });
  if (!joined.ok) {
    const code = joined.code === "too-many-rooms" ? ERR.TOOMANYCHANNELS : ERR.NOSUCHCHANNEL;
    return say(ctx, numeric(code, state.nick, channel, joined.detail));
  }
  joinedName = joined.value;
  say(
    ctx,
    formatMessage({ source: sourceOf(state.nick!), command: "JOIN", params: [channelOf(joinedName)] }),
    ...namesReply(hub, state.nick!, joinedName),
  );
}

function capsOf(state: IrcState) {
  return {
    time: state.caps.has("server-time"),
    tags: state.caps.has("message-tags"),
    echo: state.caps.has("echo-message"),
    batch: state.caps.has("batch"),
  };
}

function partAll(ctx: Ctx): void {
  for (const room of ctx.connection.client.roomNames) partOne(ctx, channelOf(room), null);
}

function part(ctx: Ctx, message: IrcMessage): void {
  const params = need(ctx, message, 1);
  if (params === null) return;
  for (const channel of params[0]!.split(",")) if (channel !== "") partOne(ctx, channel, params[1] ?? null);
}

function partOne(ctx: Ctx, channel: string, reason: string | null): void {
  const { connection, state } = ctx;
  const room = roomOf(channel);
  const left = room === null ? null : connection.hub.leave(connection.client, room);
  if (left === null || !left.ok) {
    return say(ctx, numeric(ERR.NOTONCHANNEL, state.nick, channel, "You're not on that channel"));
  }
  const params = reason === null ? [channelOf(left.value)] : [channelOf(left.value), reason];
  say(
    ctx,
    formatMessage({ source: sourceOf(state.nick!), command: "PART", params, trailing: reason !== null }),
  );
}

function names(ctx: Ctx, message: IrcMessage): void {
  const { connection, state } = ctx;
  const channels = (message.params[0] ?? "").split(",").filter((c) => c !== "");
  if (channels.length === 0) return say(ctx, numeric(RPL.ENDOFNAMES, state.nick, "*", "End of /NAMES list."));
  for (const channel of channels) {
    const room = roomOf(channel);
    if (room === null) say(ctx, numeric(RPL.ENDOFNAMES, state.nick, channel, "End of /NAMES list."));
    else say(ctx, ...namesReply(connection.hub, state.nick!, room));
  }
}

function topic(ctx: Ctx, message: IrcMessage): void {
  const params = need(ctx, message, 1);
  if (params === null) return;
  const channel = params[0]!;
  if (roomOf(channel) === null) {
    return say(ctx, numeric(ERR.NOSUCHCHANNEL, ctx.state.nick, channel, "No such channel"));
  }
  if (params.length > 1) {
    return say(ctx, numeric(ERR.CHANOPRIVSNEEDED, ctx.state.nick, channel, "Rooms have no topic"));
  }
  say(ctx, numeric(RPL.NOTOPIC, ctx.state.nick, channel, "No topic is set"));
}

function list(ctx: Ctx, message: IrcMessage): void {
  const wanted = new Set((message.params[0] ?? "").split(",").filter((c) => c !== "").map((c) => roomKey(c)));
  const me = ctx.state.nick;
  const rows = ctx.connection.hub.rooms()
    .filter((r) => wanted.size === 0 || wanted.has(roomKey(channelOf(r.name))))
    .map((r) => numeric(RPL.LIST, me, channelOf(r.name), String(r.members), ""));
  say(
    ctx,
    numeric(RPL.LISTSTART, me, "Channel", "Users  Name"),
    ...rows,
    numeric(RPL.LISTEND, me, "End of /LIST"),
  );
}

function mode(ctx: Ctx, message: IrcMessage): void {
  const params = need(ctx, message, 1);
  if (params === null) return;
  const [target, modes] = [params[0]!, params[1]];
  const me = ctx.state.nick!;
  if (roomOf(target) === null) {
    if (target.toLowerCase() !== me.toLowerCase()) {
      return say(ctx, numeric(ERR.USERSDONTMATCH, me, "Cannot change mode for other users"));
    }
    return say(ctx, numeric(RPL.UMODEIS, me, "+"));
  }
  if (modes === undefined) {
    const created = String(Math.floor(ctx.started.getTime() / 1000));
    return say(
      ctx,
      numeric(RPL.CHANNELMODEIS, me, target, "+"),
      numeric(RPL.CREATIONTIME, me, target, created),
    );
  }
  // Lists asked for (`MODE #dev b`, as irssi and WeeChat do on join) are empty; setting modes is refused.
  const asked = modes.replace(/^\+/, "");
  if (asked === "b" && params.length === 2) {
    return say(ctx, numeric(RPL.ENDOFBANLIST, me, target, "End of channel ban list"));
  }
  if (asked === "e" && params.length === 2) {
    return say(ctx, numeric(RPL.ENDOFEXCEPTLIST, me, target, "End of channel exception list"));
  }
  if (asked === "I" && params.length === 2) {
    return say(ctx, numeric(RPL.ENDOFINVITELIST, me, target, "End of channel invite list"));
  }
  say(ctx, numeric(ERR.CHANOPRIVSNEEDED, me, target, "Rooms have no modes"));
}

// ---------------------------------------------------------------------------------------------------------
// Messages

/** `PRIVMSG` and `NOTICE`: a channel is a room message, a nick a DM. `NOTICE` is never answered with an error. */
function privmsg(ctx: Ctx, message: IrcMessage): void {
  const { connection, state } = ctx;
  const notice = message.command === "NOTICE";
  const fail = (...line: [string, ...string[]]) =>
    notice ? undefined : say(ctx, numeric(line[0], state.nick, ...line.slice(1)));
  const [targets, raw] = message.params;
  if (targets === undefined || targets === "") {
    return fail(ERR.NORECIPIENT, `No recipient given (${message.command})`);
  }
  if (raw === undefined || raw === "") return fail(ERR.NOTEXTTOSEND, "No text to send");
  const text = inboundText(state.nick!, raw);
  if (text === null) return;
  for (const target of targets.split(",").slice(0, 4)) {
    if (target === "") continue;
    const room = roomOf(target);
    const refused = (code: ErrorCode, detail: string) => fail(...sendRefusal(target, code, detail));
    if (room !== null) connection.track(connection.hub.say(connection.client, text, { room }), refused);
    else connection.track(connection.hub.dm(connection.client, target, text), refused);
  }
}

function sendRefusal(target: string, code: ErrorCode, detail: string): [string, ...string[]] {
  if (code === "user-not-found") return [ERR.NOSUCHNICK, target, "No such nick"];
  if (code === "empty-message") return [ERR.NOTEXTTOSEND, "No text to send"];
  return [ERR.CANNOTSENDTOCHAN, target, `Cannot send to ${target}: ${detail}`];
}

async function chathistory(ctx: Ctx, message: IrcMessage): Promise<void> {
  const { connection, state } = ctx;
  const request = parseRequest(message.params);
  if ("fail" in request) return say(ctx, `:${SERVER} FAIL CHATHISTORY ${request.fail}`);
  const read = await readHistory(connection.hub, connection.client, request);
  if (!read.ok) {
    return say(
      ctx,
      fromServer("FAIL", "CHATHISTORY", "MESSAGE_ERROR", request.sub, request.target, read.detail),
    );
  }
  say(ctx, ...historyBatch(request.target, read.value, capsOf(state)));
}

// ---------------------------------------------------------------------------------------------------------
// Everything else

function who(ctx: Ctx, message: IrcMessage): void {
  const mask = message.params[0] ?? "*";
  say(ctx, ...whoReply(ctx.connection.hub, ctx.state.nick!, mask, roomOf(mask)));
}

function whois(ctx: Ctx, message: IrcMessage): void {
  const params = need(ctx, message, 1);
  if (params === null) return;
  const me = ctx.state.nick!;
  const target = params.at(-1)!;
  const end = numeric(RPL.ENDOFWHOIS, me, target, "End of /WHOIS list.");
  if (!ctx.connection.hub.online(target)) {
    return say(ctx, numeric(ERR.NOSUCHNICK, me, target, "No such nick"), end);
  }
  say(
    ctx,
    formatMessage({
      source: SERVER,
      command: RPL.WHOISUSER,
      params: [me, target, target, SERVER, "*", target],
      trailing: true,
    }),
    numeric(RPL.WHOISSERVER, me, target, SERVER, "hubbub"),
    end,
  );
}

function ping(ctx: Ctx, message: IrcMessage): void {
  const token = message.params[0];
  if (token === undefined) return say(ctx, numeric(ERR.NOORIGIN, ctx.state.nick, "No origin specified"));
  say(ctx, formatMessage({ source: SERVER, command: "PONG", params: [SERVER, token], trailing: true }));
}

function quit(ctx: Ctx, message: IrcMessage): void {
  const why = message.params[0] ? `Quit: ${message.params[0]}` : "Quit";
  say(ctx, closing(ctx.state.nick, why));
  ctx.connection.end("quit");
}

function away(ctx: Ctx, message: IrcMessage): void {
  const me = ctx.state.nick;
  if ((message.params[0] ?? "") === "") {
    return say(ctx, numeric(RPL.UNAWAY, me, "You are no longer marked as being away"));
  }
  say(ctx, numeric(RPL.NOWAWAY, me, "You have been marked as being away"));
}

function ison(ctx: Ctx, message: IrcMessage): void {
  const asked = message.params.flatMap((p) => p.split(" ")).filter((n) => n !== "");
  const online = asked.filter((n) => ctx.connection.hub.online(n));
  say(ctx, numeric(RPL.ISON, ctx.state.nick, online.join(" ")));
}

function userhost(ctx: Ctx, message: IrcMessage): void {
  const asked = message.params.flatMap((p) => p.split(" ")).filter((n) => n !== "").slice(0, 5);
  const found = asked.filter((n) => ctx.connection.hub.online(n)).map((n) => `${n}=+${n}@${SERVER}`);
  say(ctx, numeric(RPL.USERHOST, ctx.state.nick, found.join(" ")));
}

async function authenticate(ctx: Ctx, message: IrcMessage): Promise<void> {
  const { state } = ctx;
  if (state.registered) return say(ctx, numeric(SASL.ALREADY, state.nick, "You have already registered"));
  if (need(ctx, message, 1) === null) return;
  if (!state.caps.has("sasl")) {
    return say(ctx, numeric(SASL.FAIL, state.nick, "Request the sasl capability first"));
  }
  say(ctx, ...await state.sasl.step(ctx.connection, state.nick, message.params[0]!));
}

const COMMANDS: Readonly<Record<string, Handler>> = {
  CAP: cap,
  NICK: nick,
  USER: user,
  PASS: pass,
  AUTHENTICATE: authenticate,
  PING: ping,
  PONG: () => {},
  QUIT: quit,
  JOIN: join,
  PART: part,
  NAMES: names,
  TOPIC: topic,
  LIST: list,
  MODE: mode,
  PRIVMSG: privmsg,
  NOTICE: privmsg,
  TAGMSG: () => {},
  CHATHISTORY: chathistory,
  WHO: who,
  WHOIS: whois,
  AWAY: away,
  ISON: ison,
  USERHOST: userhost,
};
