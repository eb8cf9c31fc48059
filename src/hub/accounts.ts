/**
 * Accounts that own names (`--accounts on|required`): registration, logging in with a password, page
 * sessions, and the rule every door's name claims go through ({@linkcode AccountService.guard}).
 *
 * - A registered name (any look-alike spelling: accounts are filed under `nameKey`) is reserved while its
 *   owner is offline: only a connection signed in to its account may take it. The older dialects, which cannot
 *   send a password, get their taken-name behaviour for it. With `required`, no guest takes any name.
 * - A connection signs in with a password ({@linkcode AccountService.identify}: TCP `LOGIN`/`IDENTIFY`,
 *   `/ws` `login`; {@linkcode AccountService.authenticate} alone for IRC's `PASS`/SASL) or with a page
 *   session's token (the cookie, {@linkcode AccountService.resume}). Its devices share the name.
 * - A name is registered by the guest holding it ({@linkcode AccountService.register}), or through the page
 *   ({@linkcode AccountService.signUp}). The account's DMs start where the registering claim began, so an
 *   owner reads every DM of its own and none of an earlier guest's under the same name.
 * - Wrong passwords are limited per address and per name (`attempts.ts`); hashing is scrypt (`passwords.ts`).
 *   Passwords and hashes are never logged: records carry names, connections and addresses only.
 * - Page sessions: a random 32-byte token (base64url) for the cookie; the store keeps only its SHA-256, with
 *   the account's stamp (a password reset changes it, ending every older session) and an expiry (30 days).
 * @module
 */

import { createHash, randomBytes } from "node:crypto";
import { getLogger } from "@logtape/logtape";
import type { Result } from "../model.ts";
import { fail, ok } from "../model.ts";
import { checkName, nameKey } from "../names.ts";
import type { Account, AccountStore } from "../store/store.ts";
import { type AttemptLimits, Attempts, type AttemptVerdict } from "./attempts.ts";
import type { NameRegistry } from "./names.ts";
import {
  checkPassword,
  HashingBusyError,
  MAX_PASSWORD,
  PasswordHasher,
  type ScryptParams,
} from "./passwords.ts";
import type { Client } from "./rooms.ts";

const log = getLogger(["hubbub", "accounts"]);

/** Whether names can be registered: `off` (no accounts), `on` (guests and accounts), `required` (no guests). */
export type AccountsMode = "off" | "on" | "required";

/** How long a page session lasts (30 days); signing in again starts a new one. */
export const SESSION_MS = 30 * 24 * 60 * 60 * 1000;

/** Options of {@linkcode AccountService}. */
export interface AccountServiceOptions {
  /** `off`, `on` or `required`. */
  readonly mode: AccountsMode;
  /** Where accounts and sessions live; required unless the mode is `off`. */
  readonly store: AccountStore | null;
  /** Who holds which name. */
  readonly names: NameRegistry;
  /** Takes a connection out of every room (signing out with `required`: guests are in none). */
  readonly leaveAll: (client: Client) => void;
  /** The clock (milliseconds since the epoch). */
  readonly now: () => number;
  /** Attempt limits (tests shorten them); hubbub's defaults otherwise. */
  readonly limits?: AttemptLimits;
  /** scrypt parameters of new hashes (tests make them cheap). */
  readonly scrypt?: ScryptParams;
}

/** Where a password attempt comes from. */
export interface AttemptOptions {
  /** The client's address, for the per-address limit. */
  readonly ip: string;
}

/** A page session just opened: the token for the cookie and when it expires. */
export interface SessionGrant {
  /** The account's name as registered. */
  readonly name: string;
  /** The cookie's value; only its hash is stored. */
  readonly token: string;
  /** When the session ends (milliseconds since the epoch). */
  readonly expires: number;
}

const BAD_CREDENTIALS = "Wrong name or password";

/** Accounts: the hub's side. One per hub. */
export class AccountService {
  readonly #mode: AccountsMode;
  readonly #store: AccountStore | null;
  readonly #names: NameRegistry;
  readonly #leaveAll: (client: Client) => void;
  readonly #now: () => number;
  readonly #attempts: Attempts;
  readonly #hasher: PasswordHasher;

  /** Creates the service; throws when accounts are on and there is no store for them. */
  constructor(options: AccountServiceOptions) {
    if (options.mode !== "off" && options.store === null) {
      throw new TypeError("Cannot turn accounts on: the store keeps no accounts");
    }
    this.#mode = options.mode;
    this.#store = options.store;
    this.#names = options.names;
    this.#leaveAll = options.leaveAll;
    this.#now = options.now;
    this.#attempts = new Attempts(options.limits, options.now);
    this.#hasher = new PasswordHasher(options.scrypt);
  }

  /** `off`, `on` or `required`. */
  get mode(): AccountsMode {
    return this.#mode;
  }

  /** Whether a connection may read and join rooms: always, except a guest when accounts are `required`. */
  admits(client: Client): boolean {
    return this.#mode !== "required" || client.accountKey !== null;
  }

  /**
   * The accounts' rule for taking the name of `key` (see {@linkcode NameGuard}): a signed-in connection takes
   * only its own account's name; a guest no registered name, and none at all when accounts are `required`.
   */
  guard = async (client: Client, key: string, name: string): Promise<Result<void>> => {
    if (this.#mode === "off") return ok(undefined);
    if (client.accountKey !== null) {
      if (client.accountKey === key) return ok(undefined);
      return fail("already-logged-in", `Signed in as ${client.accountName}: sign out to use another name`);
    }
    if (this.#mode === "required") return fail("login-required", LOGIN_REQUIRED);
    const account = await this.#lookup(key);
    if (account === undefined) return fail("unavailable", "Cannot check names right now; try again");
    if (account !== null) {
      return fail("name-registered", `Name '${name}' is registered: log in with its password`);
    }
    return ok(undefined);
  };

  /**
   * Signs a connection in to the account of `name` with its password, and claims the name (or renames the
   * connection to it, a guest name given up). What TCP `LOGIN <name> <password>` and `IDENTIFY`, and `/ws`
   * `login`, do; the IRC door's `PASS`/SASL can use {@linkcode AccountService.authenticate} then claim.
   */
  async identify(
    client: Client,
    name: string,
    password: string,
    options: AttemptOptions & { readonly token?: string | null },
  ): Promise<Result<string>> {
    const before = { key: client.accountKey, name: client.accountName, since: client.accountSince };
    const auth = await this.authenticate(client, name, password, options);
    if (!auth.ok) return auth;
    const claimed = client.name === null
      ? await this.#names.claim(client, name, { token: options.token ?? null })
      : await this.#names.changeName(client, name, {});
    if (!claimed.ok) {
      // Signed in but without the name (its holders share no token with this device): as it was.
      client.accountKey = before.key;
      client.accountName = before.name;
      client.accountSince = before.since;
    }
    return claimed;
  }

  /**
   * Signs a connection in to the account of `name` with its password, claiming nothing: the connection may
   * then take that name (only that one). Resolves with the name as registered. The clean call for a door
   * that authenticates before it names the connection (IRC `PASS`, SASL PLAIN).
   */
  async authenticate(
    client: Client,
    name: string,
    password: string,
    options: AttemptOptions,
  ): Promise<Result<string>> {
    if (client.accountKey !== null && client.accountKey !== nameKey(name)) {
      return fail("already-logged-in", `Signed in as ${client.accountName}: sign out first`);
    }
    const account = await this.#verify(name, password, options.ip);
    if (!account.ok) return account;
    this.#signIn(client, account.value);
    log.info("signed in {name}", { name: account.value.name, conn: client.session.id, ip: options.ip });
    return ok(account.value.name);
  }

  /**
   * Registers the name a guest connection holds, with a password. The connection, and any connection
   * sharing the name with it here (one page's tabs), is signed in to the new account.
   */
  async register(client: Client, password: string, options: AttemptOptions): Promise<Result<string>> {
    if (this.#mode === "off") return fail("accounts-off", ACCOUNTS_OFF);
    const { name, key } = client;
    if (name === null || key === null) return fail("not-logged-in", "Log in under a free name first");
    if (client.accountKey !== null) return fail("already-registered", `Name '${name}' is registered already`);
    const account = await this.#create(name, password, options.ip, () => {
      if (client.key !== key || client.accountKey !== null) return fail("not-logged-in", "The name changed");
      // One page's tabs on two nodes: the other node's could not be signed in with this one.
      if (this.#names.heldElsewhere(key)) {
        return fail("username-taken", `Name '${name}' is in use elsewhere too`);
      }
      return ok(this.#names.since(key) ?? this.#now());
    });
    if (!account.ok) return account;
    this.#adopt(account.value);
    log.info("registered {name}", { name, conn: client.session.id, ip: options.ip });
    return ok(name);
  }

  /** Signs a connection out: it gives up its account's name, and with `required` leaves every room. */
  logout(client: Client): Result<void> {
    if (client.accountKey === null) return ok(undefined);
    log.info("signed out {name}", { name: client.accountName, conn: client.session.id });
    this.#names.drop(client);
    client.accountKey = null;
    client.accountName = null;
    client.accountSince = null;
    if (this.#mode === "required") this.#leaveAll(client);
    return ok(undefined);
  }

  /** Signs a connection in with a page session's token (the cookie the WebSocket upgrade carried). */
  async resume(client: Client, token: string): Promise<Result<string>> {
    const account = await this.#sessionAccount(token);
    if (account === undefined) return fail("unavailable", "Cannot check the session right now");
    if (account === null) return fail("bad-credentials", "The session has ended: sign in again");
    this.#signIn(client, account);
    return ok(account.name);
  }

  /** The page's sign-in: checks the password and opens a session (`POST /api/session`). */
  async signIn(name: string, password: string, options: AttemptOptions): Promise<Result<SessionGrant>> {
    const account = await this.#verify(name, password, options.ip);
    if (!account.ok) return account;
    log.info("page signed in {name}", { name: account.value.name, ip: options.ip });
    return this.#open(account.value);
  }

  /**
   * The page's registration (`POST /api/accounts`): registers a free name, or the name this page holds as a
   * guest (`pageToken`, the page's `Session`), and opens a session.
   */
  async signUp(
    name: string,
    password: string,
    options: AttemptOptions & { readonly pageToken?: string | null },
  ): Promise<Result<SessionGrant>> {
    if (this.#mode === "off") return fail("accounts-off", ACCOUNTS_OFF);
    const why = checkName(name);
    if (why) return fail("invalid-username", `Name '${name}' is not a valid name: ${why}`);
    const key = nameKey(name);
    const page = options.pageToken ? `page:${options.pageToken}` : null;
    // Free, or held here by this very page (its tabs then sign in with it).
    const mayTake = () => {
      const token = this.#names.tokenOf(key);
      if (this.#names.heldElsewhere(key) || (token !== undefined && (page === null || token !== page))) {
        return fail<number>("username-taken", `Name '${name}' is in use`);
      }
      return ok(token === undefined ? this.#now() : this.#names.since(key) ?? this.#now());
    };
    const account = await this.#create(name, password, options.ip, mayTake);
    if (!account.ok) return account;
    this.#adopt(account.value);
    log.info("registered {name}", { name: account.value.name, ip: options.ip });
    return this.#open(account.value);
  }

  /** The account a page session's token signs in to, or `null` (`GET /api/session`). */
  async sessionName(token: string): Promise<Result<string | null>> {
    const account = await this.#sessionAccount(token);
    if (account === undefined) return fail("unavailable", "Cannot check the session right now");
    return ok(account?.name ?? null);
  }

  /** Ends a page session (`DELETE /api/session`): its token signs nothing in any more. */
  async signOut(token: string): Promise<Result<void>> {
    if (this.#store === null || !isToken(token)) return ok(undefined);
    try {
      await this.#store.deleteSession(tokenId(token));
      return ok(undefined);
    } catch (error) {
      log.warn("cannot end a session: {error}", { error: String(error) });
      return fail("unavailable", "Cannot sign out right now; try again");
    }
  }

  /** From when the DMs of a connection's name are its own, when it is signed in to that name's account. */
  dmSince(client: Client): number | null {
    return client.accountKey !== null && client.accountKey === client.key ? client.accountSince : null;
  }

  #signIn(client: Client, account: Account): void {
    client.accountKey = account.key;
    client.accountName = account.name;
    client.accountSince = account.since;
  }

  /** Every connection holding the new account's name here signs in to it and shares it by its token. */
  #adopt(account: Account): void {
    for (const holder of this.#names.clientsOf(account.key)) this.#signIn(holder, account);
    this.#names.retoken(account.key, `account:${account.key}`);
  }

  /**
   * Checks a password against the account of `name`, within the attempt limits. Unknown names count as
   * wrong passwords (whether a name is registered is no secret: claiming it says so).
   */
  async #verify(name: string, password: string, ip: string): Promise<Result<Account>> {
    if (this.#mode === "off") return fail("accounts-off", ACCOUNTS_OFF);
    // No account has an invalid name or a password this long: refused before anything is counted or hashed,
    // so junk never fills the attempt tables or the hashing queue.
    const why = checkName(name);
    if (why) return fail("invalid-username", `Name '${name}' is not a valid name: ${why}`);
    if (password.length > MAX_PASSWORD * 8) return fail("bad-credentials", BAD_CREDENTIALS);
    const key = nameKey(name);
    const verdict = this.#attempts.check(ip, key);
    if (!verdict.ok) return tooMany(verdict);
    const account = await this.#lookup(key);
    if (account === undefined) return fail("unavailable", "Cannot check passwords right now; try again");
    let right = false;
    try {
      right = account !== null && await this.#hasher.verify(password, account.hash);
    } catch (error) {
      if (error instanceof HashingBusyError) return fail("rate-limited", error.message);
      throw error;
    }
    if (!right || account === null) {
      this.#attempts.failed(ip, key);
      // The name as registered, never as typed: people type passwords into name fields.
      log.info("wrong password for {name}", { name: account?.name ?? "(no such account)", ip });
      return fail("bad-credentials", BAD_CREDENTIALS);
    }
    this.#attempts.succeeded(key);
    if (this.#hasher.needsRehash(account.hash)) void this.#rehash(account, password);
    return ok(account);
  }

  /** Hashes and files a new account; `since` says (after the hash, so nothing changed meanwhile) where its DMs start. */
  async #create(
    name: string,
    password: string,
    ip: string,
    since: () => Result<number>,
  ): Promise<Result<Account>> {
    const weak = checkPassword(password);
    if (weak) return fail("weak-password", `Cannot use this password: ${weak}`);
    const key = nameKey(name);
    const verdict = this.#attempts.checkRegistration(ip);
    if (!verdict.ok) return tooMany(verdict);
    const existing = await this.#lookup(key);
    if (existing === undefined) return fail("unavailable", "Cannot register right now; try again");
    if (existing !== null) return fail("already-registered", `Name '${name}' is registered already`);
    const early = since();
    if (!early.ok) return early;
    let hash: string;
    try {
      hash = await this.#hasher.hash(password);
    } catch (error) {
      if (error instanceof HashingBusyError) return fail("rate-limited", error.message);
      throw error;
    }
    const start = since();
    if (!start.ok) return start;
    const now = this.#now();
    const account: Account = { key, name, hash, stamp: randomToken(), since: start.value, created: now };
    try {
      if (!(await this.#store!.addAccount(account))) {
        return fail("already-registered", `Name '${name}' is registered already`);
      }
      this.#attempts.registered(ip);
    } catch (error) {
      log.warn("cannot register {name}: {error}", { name, error: String(error) });
      return fail("unavailable", "Cannot register right now; try again");
    }
    return ok(account);
  }

  async #open(account: Account): Promise<Result<SessionGrant>> {
    const token = randomToken();
    const expires = this.#now() + SESSION_MS;
    try {
      await this.#store!.addSession({ id: tokenId(token), key: account.key, stamp: account.stamp, expires });
    } catch (error) {
      log.warn("cannot open a session: {error}", { error: String(error) });
      return fail("unavailable", "Cannot sign in right now; try again");
    }
    return ok({ name: account.name, token, expires });
  }

  /** The account of a live session; `null` when none; `undefined` when the store cannot answer. */
  async #sessionAccount(token: string): Promise<Account | null | undefined> {
    if (this.#mode === "off" || !isToken(token)) return null;
    try {
      const session = await this.#store!.session(tokenId(token), this.#now());
      if (session === null) return null;
      const account = await this.#store!.account(session.key);
      // A reset (new stamp) or a deleted account ends the sessions opened before it.
      return account !== null && account.stamp === session.stamp ? account : null;
    } catch (error) {
      log.warn("cannot read a session: {error}", { error: String(error) });
      return undefined;
    }
  }

  /** The account filed under `key`; `undefined` when the store cannot answer. */
  async #lookup(key: string): Promise<Account | null | undefined> {
    try {
      return await this.#store!.account(key);
    } catch (error) {
      log.warn("cannot read accounts: {error}", { error: String(error) });
      return undefined;
    }
  }

  /** Stores a hash with today's parameters for an account hashed with older ones, at its next login. */
  async #rehash(account: Account, password: string): Promise<void> {
    try {
      const hash = await this.#hasher.hash(password);
      await this.#store!.updateAccount({ ...account, hash });
    } catch {
      // Next login tries again.
    }
  }
}

const ACCOUNTS_OFF = "Accounts are off on this server";
const LOGIN_REQUIRED = "This server needs an account: log in with a name and its password";

function tooMany(verdict: Extract<AttemptVerdict, { ok: false }>): Result<never> {
  const seconds = Math.ceil(verdict.retryMs / 1000);
  return fail("too-many-attempts", `Too many attempts: try again in ${seconds} s`);
}

/** 32 random bytes, base64url: a session token or an account's stamp. */
export function randomToken(): string {
  return randomBytes(32).toString("base64url");
}

/** Whether `token` looks like one {@linkcode randomToken} made (43 base64url characters). */
function isToken(token: string): boolean {
  return /^[A-Za-z0-9_-]{43}$/.test(token);
}

/** How a session's token is filed: its SHA-256, hex. */
export function tokenId(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}
