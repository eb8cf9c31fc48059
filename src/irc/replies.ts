/**
 * Server replies of the IRC door: the numerics it uses, one function to write any of them, the welcome
 * (`001`–`005`, MOTD) and the replies built from the hub's member lists (`NAMES`, `WHO`), split to IRC's line
 * length, at most a page of `hub.members` (the list limit) each.
 * @module
 */

import type { Hub } from "../hub/hub.ts";
import { oneLine } from "../wire/lines.ts";
import { channelOf, SERVER } from "./codec.ts";
import { byteLength, formatMessage, MAX_LINE_BYTES } from "./message.ts";

/** The numerics the door sends, by their RFC names. */
export const RPL = {
  WELCOME: "001",
  YOURHOST: "002",
  CREATED: "003",
  MYINFO: "004",
  ISUPPORT: "005",
  UMODEIS: "221",
  USERHOST: "302",
  ISON: "303",
  UNAWAY: "305",
  NOWAWAY: "306",
  WHOISUSER: "311",
  WHOISSERVER: "312",
  ENDOFWHO: "315",
  ENDOFWHOIS: "318",
  LISTSTART: "321",
  LIST: "322",
  LISTEND: "323",
  CHANNELMODEIS: "324",
  CREATIONTIME: "329",
  NOTOPIC: "331",
  WHOREPLY: "352",
  NAMREPLY: "353",
  ENDOFNAMES: "366",
  ENDOFBANLIST: "368",
  ENDOFEXCEPTLIST: "349",
  ENDOFINVITELIST: "347",
  MOTD: "372",
  MOTDSTART: "375",
  ENDOFMOTD: "376",
} as const;

/** The error numerics the door sends. */
export const ERR = {
  UNKNOWNERROR: "400",
  NOSUCHNICK: "401",
  NOSUCHCHANNEL: "403",
  CANNOTSENDTOCHAN: "404",
  TOOMANYCHANNELS: "405",
  NOORIGIN: "409",
  INVALIDCAPCMD: "410",
  NORECIPIENT: "411",
  NOTEXTTOSEND: "412",
  INPUTTOOLONG: "417",
  UNKNOWNCOMMAND: "421",
  NONICKNAMEGIVEN: "431",
  ERRONEUSNICKNAME: "432",
  NICKNAMEINUSE: "433",
  NOTONCHANNEL: "442",
  NOTREGISTERED: "451",
  NEEDMOREPARAMS: "461",
  ALREADYREGISTERED: "462",
  CHANOPRIVSNEEDED: "482",
  USERSDONTMATCH: "502",
  SASLFAIL: "904",
} as const;

/** A numeric reply to `nick` (`*` before it has one): `:hubbub 433 * alice :Nickname is already in use`. */
export function numeric(code: string, nick: string | null, ...params: string[]): string {
  return formatMessage({
    source: SERVER,
    command: code,
    params: [nick ?? "*", ...params.map(oneLine)],
    trailing: true,
  });
}

/** A line from the server that is not a numeric (`PONG`, `CAP`, `NOTICE`, `BATCH`). */
export function fromServer(command: string, ...params: string[]): string {
  return formatMessage({ source: SERVER, command, params, trailing: true });
}

/** What the welcome says about this server. */
export interface WelcomeInfo {
  /** hubbub's version. */
  readonly version: string;
  /** When the server started. */
  readonly started: Date;
  /** The `RPL_ISUPPORT` tokens. */
  readonly isupport: readonly string[];
  /** The message of the day, one line each; empty: `422`-less, a one-line default. */
  readonly motd: readonly string[];
}

/** `001`–`005` and the MOTD, for a connection that has just registered as `nick`. */
export function welcome(nick: string, info: WelcomeInfo): string[] {
  const lines = [
    numeric(RPL.WELCOME, nick, `Welcome to hubbub, ${nick}`),
    numeric(RPL.YOURHOST, nick, `Your host is ${SERVER}, running hubbub ${info.version}`),
    numeric(RPL.CREATED, nick, `This server was created ${info.started.toISOString()}`),
    formatMessage({ source: SERVER, command: RPL.MYINFO, params: [nick, SERVER, info.version, "o", "o"] }),
  ];
  // At most 13 tokens per line (RFC 2812's 15 parameters, less the nick and the trailing text).
  for (let i = 0; i < info.isupport.length; i += 12) {
    const tokens = info.isupport.slice(i, i + 12);
    lines.push(formatMessage({
      source: SERVER,
      command: RPL.ISUPPORT,
      params: [nick, ...tokens, "are supported by this server"],
    }));
  }
  lines.push(numeric(RPL.MOTDSTART, nick, `- ${SERVER} message of the day -`));
  for (const text of info.motd) lines.push(numeric(RPL.MOTD, nick, `- ${text}`));
  lines.push(numeric(RPL.ENDOFMOTD, nick, "End of /MOTD command."));
  return lines;
}

/**
 * `353` lines naming a room's members, each within 512 bytes, then `366`. A room bigger than the list limit
 * gets its first `--list-limit` names (in sort order, as every door's lists) and a `NOTICE` with the total:
 * a full list per joiner would cost a crowd of N joiners N² names.
 */
export function namesReply(hub: Hub, nick: string, room: string): string[] {
  const channel = channelOf(room);
  const head = formatMessage({ source: SERVER, command: RPL.NAMREPLY, params: [nick, "=", channel, "x"] });
  // The line without its last parameter (`x`), its `:` and `\r\n`.
  const room_ = MAX_LINE_BYTES - 2 - (byteLength(head) - 1) - 1;
  const lines: string[] = [];
  let batch = "";
  let bytes = 0;
  const flush = () => {
    if (batch === "") return;
    lines.push(
      formatMessage({
        source: SERVER,
        command: RPL.NAMREPLY,
        params: [nick, "=", channel, batch],
        trailing: true,
      }),
    );
    batch = "";
    bytes = 0;
  };
  const page = hub.members(room);
  for (const { name } of page.members) {
    const safe = oneLine(name);
    const size = byteLength(safe);
    if (batch !== "" && bytes + 1 + size > room_) flush();
    batch = batch === "" ? safe : `${batch} ${safe}`;
    bytes += (bytes === 0 ? 0 : 1) + size;
  }
  flush();
  lines.push(numeric(RPL.ENDOFNAMES, nick, channel, "End of /NAMES list."));
  if (page.next !== null) {
    lines.push(
      fromServer(
        "NOTICE",
        nick,
        `${channel} has ${page.total} members; NAMES lists the first ${page.members.length}`,
      ),
    );
  }
  return lines;
}

/** `352` for each member of a room (the first `--list-limit`, as `NAMES`), or the one nick, then `315`. */
export function whoReply(hub: Hub, nick: string, mask: string, room: string | null): string[] {
  const names = room !== null ? hub.members(room).members.map((m) => m.name) : hub.online(mask) ? [mask] : [];
  const channel = room !== null ? channelOf(room) : "*";
  const lines = names.map((name) => {
    const safe = oneLine(name);
    return formatMessage({
      source: SERVER,
      command: RPL.WHOREPLY,
      params: [nick, channel, safe, SERVER, SERVER, safe, "H", `0 ${safe}`],
    });
  });
  lines.push(numeric(RPL.ENDOFWHO, nick, mask, "End of WHO list."));
  return lines;
}
