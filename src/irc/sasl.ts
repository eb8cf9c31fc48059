/**
 * Accounts over IRC (`--accounts on|required`): SASL PLAIN (IRCv3 `sasl`, what irssi, WeeChat, HexChat and The
 * Lounge send when given a password) and the older `PASS`, both checked against hubbub's accounts before
 * registration completes. A connection signed in either way registers under its account's name, whatever
 * `NICK` it sent: in hubbub a name is the account.
 *
 * While accounts are off, `sasl` is not offered, `AUTHENTICATE` answers `904` and `PASS` is ignored.
 * @module
 */

import type { Hub } from "../hub/hub.ts";
import type { Result } from "../model.ts";
import type { LineConnection } from "../net/lines/dialect.ts";
import { numeric } from "./replies.ts";

/** SASL numerics (IRCv3 `sasl-3.1`) and `ERR_PASSWDMISMATCH`. */
export const SASL = {
  LOGGEDIN: "900",
  SUCCESS: "903",
  FAIL: "904",
  TOOLONG: "905",
  ABORTED: "906",
  ALREADY: "907",
  MECHS: "908",
  PASSWDMISMATCH: "464",
} as const;

/** An `AUTHENTICATE` payload is sent in chunks of this many base64 characters; a shorter one (or `+`) ends it. */
const CHUNK = 400;
/** Longest decoded payload accepted: a name, a password (at most 128 characters) and two separators. */
const MAX_PAYLOAD = 1024;

/** Whether accounts are on, so that `sasl` is offered and `PASS` counts. */
export function accountsOn(hub: Hub): boolean {
  return hub.accounts.mode !== "off";
}

/** One connection's SASL exchange. */
export class SaslExchange {
  #mechanism: "PLAIN" | null = null;
  #chunks = "";
  /** The account the connection signed in to, once it has. */
  account: string | null = null;

  /**
   * Handles one `AUTHENTICATE` parameter; resolves with the lines to answer. `nick` is the nick so far (`*`
   * before one).
   */
  async step(connection: LineConnection, nick: string | null, param: string): Promise<string[]> {
    if (!accountsOn(connection.hub)) {
      return [numeric(SASL.FAIL, nick, "SASL authentication is not available (accounts are off)")];
    }
    if (this.account !== null) return [numeric(SASL.ALREADY, nick, "You have already authenticated")];
    if (param === "*") {
      this.#reset();
      return [numeric(SASL.ABORTED, nick, "SASL authentication aborted")];
    }
    if (this.#mechanism === null) {
      if (param.toUpperCase() !== "PLAIN") {
        return [
          numeric(SASL.MECHS, nick, "PLAIN", "are available SASL mechanisms"),
          numeric(SASL.FAIL, nick, "SASL authentication failed"),
        ];
      }
      this.#mechanism = "PLAIN";
      return ["AUTHENTICATE +"];
    }
    if (param !== "+") this.#chunks += param;
    if (this.#chunks.length > (MAX_PAYLOAD * 4) / 3 + CHUNK) {
      this.#reset();
      return [numeric(SASL.TOOLONG, nick, "SASL message too long")];
    }
    if (param.length === CHUNK) return []; // More chunks follow.
    const credentials = plain(this.#chunks);
    this.#reset();
    if (credentials === null) return [numeric(SASL.FAIL, nick, "SASL authentication failed")];
    const signed = await signIn(connection, credentials.name, credentials.password);
    if (!signed.ok) return [numeric(SASL.FAIL, nick, `SASL authentication failed: ${signed.detail}`)];
    this.account = signed.value;
    return [
      numeric(
        SASL.LOGGEDIN,
        nick,
        `${signed.value}!${signed.value}@hubbub`,
        signed.value,
        `You are now logged in as ${signed.value}`,
      ),
      numeric(SASL.SUCCESS, nick, "SASL authentication successful"),
    ];
  }

  #reset(): void {
    this.#mechanism = null;
    this.#chunks = "";
  }
}

/** Signs the connection in to the account of `name` with `password` (the attempt limits apply). */
export function signIn(connection: LineConnection, name: string, password: string): Promise<Result<string>> {
  return connection.hub.accounts.authenticate(connection.client, name, password, { ip: connection.remote });
}

/** The name and password of a SASL PLAIN payload (`authzid NUL authcid NUL password`), or `null`. */
export function plain(base64: string): { name: string; password: string } | null {
  let bytes: Uint8Array;
  try {
    bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
  if (bytes.length > MAX_PAYLOAD) return null;
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return null;
  }
  const parts = text.split("\u0000");
  if (parts.length !== 3) return null;
  const [authzid, authcid, password] = parts as [string, string, string];
  // One may act only as oneself: an authorization identity other than the authentication one is refused.
  if (authzid !== "" && authzid !== authcid) return null;
  if (authcid === "" || password === "") return null;
  return { name: authcid, password };
}
