/**
 * The operator's account commands, run on the store the config names (the SQLite file, or Redis with
 * `--redis`), also while servers use it:
 *
 * - `hubbub accounts list`: one line per account, `<name>\t<registered at, UTC>`, sorted by name.
 * - `hubbub accounts delete NAME`: removes the account of NAME (any spelling of it); its page sessions end,
 *   and the name is free again once nobody holds it.
 * - `hubbub accounts reset NAME`: sets a new password. From a pipe, the first line of stdin is the password
 *   (`echo 'new secret' | hubbub accounts reset alice`); from a terminal or with nothing piped, a random one is
 *   generated and printed. The account's page sessions end; its DMs stay its own.
 *
 * Exit codes: 0 done, 1 no such account or the store cannot be used, 2 a bad password given.
 * Connections signed in before a delete or reset stay connected until they leave.
 * @module
 */

import { randomBytes } from "node:crypto";
import { nameKey } from "./names.ts";
import { randomToken } from "./hub/accounts.ts";
import { checkPassword, PasswordHasher, type ScryptParams } from "./hub/passwords.ts";
import type { AccountStore } from "./store/store.ts";

/** Options of {@linkcode runAccounts}. */
export interface AccountsCommandOptions {
  /** The store, opened by the caller (its `close` is the caller's too). */
  readonly store: AccountStore & { ready?(): boolean };
  /** What to do. */
  readonly action: "list" | "delete" | "reset";
  /** The account's name (delete, reset). */
  readonly name?: string;
  /** Writes one line of output (stdout). */
  readonly out: (line: string) => void;
  /** Writes one line of error (stderr). */
  readonly err: (line: string) => void;
  /** The password piped in (the first line of stdin), or `null` when none was. */
  readonly readPassword: () => Promise<string | null>;
  /** How long to wait for the store to be ready (Redis connects in the background); default 5 s. */
  readonly readyTimeoutMs?: number;
  /** scrypt parameters for the new hash (tests make them cheap). */
  readonly scrypt?: ScryptParams;
}

/** Runs one account command; resolves with the exit code. */
export async function runAccounts(options: AccountsCommandOptions): Promise<number> {
  const { store, out, err } = options;
  if (!(await ready(store, options.readyTimeoutMs ?? 5000))) {
    err("error: cannot reach the store (is Redis up?)");
    return 1;
  }
  try {
    if (options.action === "list") {
      const accounts = (await store.accounts()).sort((a, b) => a.name.localeCompare(b.name));
      for (const a of accounts) out(`${a.name}\t${new Date(a.created).toISOString()}`);
      return 0;
    }
    const name = options.name ?? "";
    const account = await store.account(nameKey(name));
    if (account === null) {
      err(`error: no account named '${name}'`);
      return 1;
    }
    if (options.action === "delete") {
      await store.deleteAccount(account.key);
      out(`deleted the account ${account.name}`);
      return 0;
    }
    const given = await options.readPassword();
    const password = given ?? randomBytes(15).toString("base64url");
    const weak = checkPassword(password);
    if (weak) {
      err(`error: cannot use this password: ${weak}`);
      return 2;
    }
    const hash = await new PasswordHasher(options.scrypt).hash(password);
    await store.updateAccount({ ...account, hash, stamp: randomToken() });
    out(
      given === null ? `new password of ${account.name}: ${password}` : `password of ${account.name} reset`,
    );
    return 0;
  } catch (error) {
    err(`error: ${(error as Error).message}`);
    return 1;
  }
}

async function ready(store: { ready?(): boolean }, timeoutMs: number): Promise<boolean> {
  const end = performance.now() + timeoutMs;
  while (!(store.ready?.() ?? true)) {
    if (performance.now() > end) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}
