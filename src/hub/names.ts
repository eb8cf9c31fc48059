/**
 * Who holds which name, on this node and, as presence tells it, on the others: login, rename, the
 * cluster-wide claim, release, and the claims that decide where a holder's DM history starts.
 *
 * Names compare by key (`nameKey`: case, NFKC and the look-alike skeleton), so `alice`, `Alice` and a
 * Cyrillic `Аlice` are one name. Several connections may hold one name only when they present the same
 * session token; connections signed in to an account share its name by the token `account:<key>`. Whether a
 * free name may be taken at all (a registered one needs its account) is the guard's to say (`accounts.ts`).
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { Result } from "../model.ts";
import { fail, ok } from "../model.ts";
import { checkName, nameKey, nameVariant } from "../names.ts";
import type { Bus, PresenceMember } from "../bus/bus.ts";
import { Claims } from "./claims.ts";
import type { Client } from "./rooms.ts";

const log = getLogger(["hubbub", "hub"]);

/** A login refused because the cluster cannot be asked whether the name is free. */
const NAMES_UNAVAILABLE = fail(
  "unavailable",
  "Cannot check names right now (the cluster store is away); try again",
);

/** Options of {@linkcode NameRegistry.login} and the claims built on it. */
export interface LoginOptions {
  /** A session token: connections presenting the same token may share one name. */
  readonly token?: string | null;
  /** goChat's `session_id`, carried in user lists. */
  readonly tag?: string | null;
  /** Take a free variant (`alice-2`) instead of refusing a taken name. */
  readonly variant?: boolean;
}

/**
 * Whether `client` may take the name of `key` beyond its being free: the accounts' rules (a registered name
 * only by its account, no guest at all with `--accounts required`). Asked before every cluster-wide claim.
 */
export type NameGuard = (client: Client, key: string, name: string) => Promise<Result<void>>;

/** What the registry tells the rooms when a connection gains or loses its name. */
export interface NameHooks {
  /** The connection now holds `client.name` (it may already sit in rooms). */
  named(client: Client): void;
  /** The connection is about to lose its name (a rename): it leaves the rooms' member lists. */
  unnamed(client: Client): void;
}

/** Options of {@linkcode NameRegistry}. */
export interface NameRegistryOptions {
  /** Carries the claim, online and offline events to the cluster. */
  readonly bus: Bus;
  /** Longest name (`--max-name`). */
  readonly maxName: number;
  /** Room bookkeeping to run when names come and go. */
  readonly hooks: NameHooks;
  /** The clock (milliseconds since the epoch). */
  readonly now: () => number;
  /** The accounts' rules; every free name may be taken without one. */
  readonly guard?: NameGuard;
}

interface Member {
  readonly name: string;
  /** Changes once when a guest's name becomes an account's (`retoken`). */
  token: string | null;
  readonly clients: Set<Client>;
}

/** The names in use, local and remote, with their claims. */
export class NameRegistry {
  readonly #members = new Map<string, Member>();
  /** Members on other nodes, by name key, then node. */
  readonly #remote = new Map<string, Map<string, PresenceMember>>();
  /** When each name's current holder claimed it, local or remote: DM history is read from there. */
  readonly #claims: Claims;
  readonly #bus: Bus;
  readonly #maxName: number;
  readonly #hooks: NameHooks;
  readonly #now: () => number;
  readonly #guard: NameGuard;

  /** Creates an empty registry. */
  constructor(options: NameRegistryOptions) {
    this.#guard = options.guard ?? (() => Promise.resolve(ok(undefined)));
    this.#bus = options.bus;
    this.#maxName = options.maxName;
    this.#hooks = options.hooks;
    this.#now = options.now;
    this.#claims = new Claims({ now: options.now });
  }

  /** Claims a name for a connection on this node's view only; refused when invalid or taken (unless `variant`). */
  login(client: Client, wanted: string, options: LoginOptions = {}): Result<string> {
    return this.#login(client, wanted, options, false);
  }

  /** `login`; `same`: the connection had this name's key a moment ago (a change of case), so its claim goes on. */
  #login(client: Client, wanted: string, options: LoginOptions, same: boolean): Result<string> {
    if (client.name !== null) return fail("already-logged-in", `Already logged in as ${client.name}`);
    const why = checkName(wanted, this.#maxName);
    if (why) return fail("invalid-username", `Name '${wanted}' is not a valid name: ${why}`);
    const token = tokenOf(client, options.token);
    let name = wanted;
    for (let n = 2; !this.#canTake(name, token); n++) {
      if (!options.variant || n > 999) return fail("username-taken", `Name '${wanted}' is taken`);
      name = nameVariant(wanted, n, this.#maxName);
    }
    const key = nameKey(name);
    let member = this.#members.get(key);
    if (!member) {
      member = { name, token, clients: new Set() };
      this.#members.set(key, member);
      const since = this.#claims.begin(key, token, { same });
      this.#bus.publish({
        kind: "online",
        member: { node: this.#bus.node, key, name, token, tag: options.tag ?? null, since },
      });
    }
    member.clients.add(client);
    client.name = member.name;
    client.key = key;
    client.tag = options.tag ?? null;
    log.info("login {name}", {
      name: member.name,
      conn: client.session.id,
      codec: client.session.codec.name,
    });
    this.#hooks.named(client);
    return ok(member.name);
  }

  /**
   * Changes a connection's name (GoBanter's page sends `username` whenever its name field changes). Rooms
   * see the old name leave and the new one join. A nameless connection simply logs in.
   */
  rename(client: Client, wanted: string, options: LoginOptions = {}): Result<string> {
    if (client.name === null) return this.login(client, wanted, options);
    if (wanted === client.name) return ok(client.name);
    const why = checkName(wanted, this.#maxName);
    if (why) return fail("invalid-username", `Name '${wanted}' is not a valid name: ${why}`);
    const token = tokenOf(client, options.token ?? this.#members.get(client.key!)?.token);
    // Changing only the case keeps the key: still this member's name, and its claim.
    const same = nameKey(wanted) === client.key;
    if (!same && !this.#canTake(wanted, token)) return fail("username-taken", `Name '${wanted}' is taken`);
    this.#hooks.unnamed(client);
    this.release(client);
    client.name = null;
    return this.#login(client, wanted, { ...options, token }, same);
  }

  /** `rename`, after claiming the new name cluster-wide; a nameless connection claims its first name. */
  async changeName(client: Client, wanted: string, options: LoginOptions = {}): Promise<Result<string>> {
    if (client.name === null) return this.claim(client, wanted, options);
    if (wanted === client.name) return ok(client.name);
    const token = tokenOf(client, options.token ?? this.#members.get(client.key!)?.token);
    if (nameKey(wanted) !== client.key) {
      const why = checkName(wanted, this.#maxName);
      if (why) return fail("invalid-username", `Name '${wanted}' is not a valid name: ${why}`);
      const guarded = await this.#guard(client, nameKey(wanted), wanted);
      if (!guarded.ok) return fail(guarded.code, guarded.detail);
      const claimed = this.#canTake(wanted, token) && (await this.#busClaim(wanted, token));
      if (claimed === null) return NAMES_UNAVAILABLE;
      if (!claimed) return fail("username-taken", `Name '${wanted}' is taken`);
    }
    return this.rename(client, wanted, { ...options, token });
  }

  /**
   * Logs in after claiming the name cluster-wide (the doors use this; `login` alone decides on this node's
   * view only). With `variant`, tries `alice-2`, `alice-3`, ... until a claim succeeds.
   */
  async claim(client: Client, wanted: string, options: LoginOptions = {}): Promise<Result<string>> {
    const token = tokenOf(client, options.token);
    for (let n = 1; n < 1000; n++) {
      const name = n === 1 ? wanted : nameVariant(wanted, n, this.#maxName);
      const local = this.#check(client, name, token);
      if (!local.ok) {
        if (local.code === "username-taken" && options.variant) continue;
        return n === 1 ? local : fail(local.code, local.detail);
      }
      // A registered name is taken too, for a dialect that takes variants (it cannot send a password).
      const guarded = await this.#guard(client, nameKey(name), name);
      if (!guarded.ok) {
        if (guarded.code === "name-registered" && options.variant) continue;
        return fail(guarded.code, guarded.detail);
      }
      const claimed = await this.#busClaim(name, token);
      if (claimed === null) return NAMES_UNAVAILABLE;
      if (!claimed) {
        if (options.variant) continue;
        return fail("username-taken", `Name '${wanted}' is taken`);
      }
      // The claim is ours; the local table may still have changed while we waited, and `login` decides.
      const result = this.login(client, name, { ...options, variant: false });
      if (result.ok || !options.variant) return result;
    }
    return fail("username-taken", `Name '${wanted}' is taken`);
  }

  /** The connection gives its name up and stays connected, in its rooms but nameless (signing out). */
  drop(client: Client): void {
    if (client.name === null) return;
    this.#hooks.unnamed(client);
    this.release(client);
    client.name = null;
  }

  /**
   * A guest's name became an account's: its holders here (one person: they share a token) now share it under
   * `token`, and the cluster hears so (the new token in presence and in the cluster's claim).
   */
  retoken(key: string, token: string): void {
    const member = this.#members.get(key);
    const first = member?.clients.values().next().value;
    if (member === undefined || first === undefined) return;
    member.token = token;
    this.#bus.publish({ kind: "online", member: this.presenceOf(first) });
    void this.#busClaim(member.name, token);
  }

  /** Whether another node has a connection holding the name of `key`. */
  heldElsewhere(key: string): boolean {
    return this.#remote.has(key);
  }

  /** The token the holders of the name of `key` share on this node (`undefined` when nobody here holds it). */
  tokenOf(key: string): string | null | undefined {
    return this.#members.get(key)?.token;
  }

  /** Whether a name is free for a connection holding `token`. */
  isFree(name: string, token: string | null = null): boolean {
    return checkName(name, this.#maxName) === null && this.#canTake(name, token);
  }

  /** The connection gives its name back; the name is free once its last connection (on any node) goes. */
  release(client: Client): void {
    if (client.key === null) return;
    const member = this.#members.get(client.key);
    member?.clients.delete(client);
    if (member && member.clients.size === 0) {
      this.#members.delete(client.key);
      const at = this.#now();
      // Held on another node too (one page token, two nodes): the claim goes on there.
      if (!this.#remote.has(client.key)) this.#claims.end(client.key, at);
      this.#bus.publish({ kind: "offline", node: this.#bus.node, key: client.key, at });
      this.#bus.release(client.key);
    }
    client.key = null;
  }

  /** Whether a member of that name is connected anywhere. */
  online(name: string): boolean {
    const key = nameKey(name);
    return this.#members.has(key) || this.#remote.has(key);
  }

  /** The display name of the member holding `name` (any spelling), anywhere; `undefined` when offline. */
  holder(name: string): string | undefined {
    const key = nameKey(name);
    return this.#members.get(key)?.name ?? this.#remote.get(key)?.values().next().value?.name;
  }

  /** This node's connections holding the name of that key. */
  clientsOf(key: string): Iterable<Client> {
    return this.#members.get(key)?.clients ?? [];
  }

  /** A local member as presence events describe it. */
  presenceOf(client: Client): PresenceMember {
    const key = client.key!;
    const since = this.#claims.since(key);
    return {
      node: this.#bus.node,
      key,
      name: client.name!,
      token: this.#members.get(key)?.token ?? null,
      tag: client.tag,
      ...(since === null ? {} : { since }),
    };
  }

  /** When the current holder's claim of the name of that key began; `null` when nobody holds it. */
  since(key: string): number | null {
    return this.#claims.since(key);
  }

  /** The time to stamp on a DM between two holders: within both their claims (see `claims.ts`). */
  stamp(fromKey: string, toKey: string): number {
    return this.#claims.stamp(fromKey, toKey);
  }

  /** Another node has a member online (its claim is known here too, so its page can resume through us). */
  remoteOnline(member: PresenceMember): void {
    const { key, node, token, since } = member;
    let nodes = this.#remote.get(key);
    if (!nodes) this.#remote.set(key, nodes = new Map());
    nodes.set(node, member);
    if (!this.#members.has(key)) this.#claims.begin(key, token, since === undefined ? {} : { since });
  }

  /** Whether another node is known to have this member online. */
  remoteHas(key: string, node: string): boolean {
    return this.#remote.get(key)?.has(node) ?? false;
  }

  /** Another node's last connection of the name went (`at`: when, by its clock). */
  remoteOffline(key: string, node: string, at?: number): void {
    const nodes = this.#remote.get(key);
    nodes?.delete(node);
    if (nodes?.size === 0) {
      this.#remote.delete(key);
      if (!this.#members.has(key)) this.#claims.end(key, at);
    }
  }

  /** A node is gone: every member it had goes with it. */
  nodeGone(node: string): void {
    for (const key of [...this.#remote.keys()]) this.remoteOffline(key, node);
  }

  /** Distinct names online (local and remote), and how many of them only on other nodes. */
  counts(): { members: number; remote: number } {
    let members = this.#members.size;
    for (const key of this.#remote.keys()) if (!this.#members.has(key)) members++;
    return { members, remote: this.#remote.size };
  }

  #canTake(name: string, token: string | null): boolean {
    const key = nameKey(name);
    const member = this.#members.get(key);
    if (member) return token !== null && member.token === token;
    const remote = this.#remote.get(key);
    return !remote || [...remote.values()].every((m) => token !== null && m.token === token);
  }

  /** Claims a name cluster-wide; `null` when the cluster cannot be asked (Redis is away). */
  async #busClaim(name: string, token: string | null): Promise<boolean | null> {
    try {
      return await this.#bus.claim(nameKey(name), name, token);
    } catch (error) {
      log.warn("cannot claim a name: {error}", { error: String(error) });
      return null;
    }
  }

  #check(client: Client, name: string, token: string | null): Result<string> {
    if (client.name !== null) return fail("already-logged-in", `Already logged in as ${client.name}`);
    const why = checkName(name, this.#maxName);
    if (why) return fail("invalid-username", `Name '${name}' is not a valid name: ${why}`);
    if (!this.#canTake(name, token)) return fail("username-taken", `Name '${name}' is taken`);
    return ok(name);
  }
}

/** The token a connection claims with: its account's when signed in (its devices share the name), else its own. */
function tokenOf(client: Client, given: string | null | undefined): string | null {
  return client.accountKey !== null ? `account:${client.accountKey}` : given || null;
}
