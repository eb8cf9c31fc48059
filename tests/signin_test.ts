/**
 * The page's sign-in over HTTP (`src/http/signin.ts`): `POST /api/session` and `POST /api/accounts` set the
 * session cookie, the WebSocket upgrade carrying it is signed in (on every reload), `DELETE /api/session`
 * revokes it; and without accounts the routes say so. Real servers on port 0, cheap scrypt parameters.
 */

import assert from "node:assert/strict";
import { eventually, LineClient, serve, WsClient } from "./_helpers.ts";
import { SESSION_COOKIE } from "../src/wire/cookie.ts";
import type { Config } from "../src/cli.ts";

const CHEAP = { ln: 4, r: 1, p: 1 };

function serveAccounts(overrides: Partial<Config> = {}) {
  return serve({ accounts: "on", ...overrides }, { scrypt: CHEAP });
}

/** A TCP guest that registered its name. */
async function tcpRegister(addr: Deno.NetAddr, name: string, password: string): Promise<LineClient> {
  const client = await LineClient.login(addr, name);
  await client.send(`REGISTER ${password}`);
  await client.expect("OK");
  return client;
}

function base(addr: Deno.NetAddr): string {
  return `http://${addr.hostname}:${addr.port}`;
}

function post(addr: Deno.NetAddr, path: string, body: unknown): Promise<Response> {
  return fetch(base(addr) + path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

/** The `name=value` of a response's session cookie. */
function cookieOf(response: Response): string {
  const header = response.headers.get("set-cookie") ?? "";
  const pair = header.split(";", 1)[0]!;
  assert.ok(pair.startsWith(`${SESSION_COOKIE}=`), `a session cookie, got ${header}`);
  return pair;
}

Deno.test("page sign-in: POST /api/session sets an HttpOnly SameSite=Strict cookie; the WebSocket upgrade carrying it is signed in, on every reconnect, until DELETE /api/session revokes it", async () => {
  await using server = serveAccounts();
  const addr = server.http!;
  (await tcpRegister(server.tcp!, "gina", "ginas-password")).close();
  await eventually(() => !server.hub.online("gina"), "gina left");

  const wrong = await post(addr, "/api/session", { username: "gina", password: "not-it-at-all" });
  assert.equal(wrong.status, 401);
  assert.deepEqual(await wrong.json(), { error: "bad-credentials", message: "Wrong name or password" });
  assert.equal(wrong.headers.get("set-cookie"), null);

  const signIn = await post(addr, "/api/session", { username: "GINA", password: "ginas-password" });
  assert.equal(signIn.status, 200);
  assert.deepEqual(await signIn.json(), { username: "gina" });
  const header = signIn.headers.get("set-cookie")!;
  assert.match(header, /; Path=\/; HttpOnly; SameSite=Strict; Max-Age=2592000$/);
  assert.ok(!/Secure/.test(header), "no Secure flag over plain HTTP (the browser would drop the cookie)");
  const cookie = cookieOf(signIn);
  assert.deepEqual(await (await fetch(`${base(addr)}/api/session`, { headers: { cookie } })).json(), {
    accounts: "on",
    username: "gina",
  });

  // A reload: a new socket with the cookie is signed in and takes the name with no password.
  for (let reload = 0; reload < 2; reload++) {
    await using page = await WsClient.open(addr, "/ws", { cookie });
    await page.expectJson({ Action: "connected", Payload: { Accounts: "on", Account: "gina" } });
    page.send({ Action: "username", Payload: { Username: "gina", Session: "tab" } });
    await page.expectJson({ Action: "username", Payload: { Username: "gina" } });
    await page.close();
    await eventually(() => !server.hub.online("gina"), "the page left");
  }

  const signOut = await fetch(`${base(addr)}/api/session`, { method: "DELETE", headers: { cookie } });
  assert.equal(signOut.status, 204);
  assert.match(signOut.headers.get("set-cookie")!, new RegExp(`^${SESSION_COOKIE}=; .*Max-Age=0`));
  // The revoked token no longer signs anything in, even sent again.
  await using after = await WsClient.open(addr, "/ws", { cookie });
  const greeting = await after.expectJson({ Action: "connected" });
  assert.equal((greeting.Payload as Record<string, unknown>).Account, undefined);
  after.send({ Action: "username", Payload: { Username: "gina" } });
  await after.expectJson({ Action: "error", Payload: { Code: "name-registered" } });
  assert.deepEqual(await (await fetch(`${base(addr)}/api/session`, { headers: { cookie } })).json(), {
    accounts: "on",
    username: null,
  });
});

Deno.test("page registration: POST /api/accounts registers the name this page holds as a guest, and its open tab is signed in with it", async () => {
  await using server = serveAccounts();
  const addr = server.http!;
  await using tab = await WsClient.open(addr, "/ws");
  tab.send({ Action: "username", Payload: { Username: "hana", Session: "page-token-1" } });
  await tab.expectJson({ Action: "username" });
  // Another page (another token) cannot register the name hana holds.
  const theft = await post(addr, "/api/accounts", {
    username: "hana",
    password: "mine-now-123",
    session: "other",
  });
  assert.equal(theft.status, 409);
  assert.equal((await theft.json()).error, "username-taken");
  const weak = await post(addr, "/api/accounts", {
    username: "hana",
    password: "short",
    session: "page-token-1",
  });
  assert.equal(weak.status, 400);
  assert.equal((await weak.json()).error, "weak-password");

  const made = await post(addr, "/api/accounts", {
    username: "hana",
    password: "hanas-password",
    session: "page-token-1",
  });
  assert.equal(made.status, 201);
  assert.deepEqual(await made.json(), { username: "hana" });
  const cookie = cookieOf(made);
  const again = await post(addr, "/api/accounts", { username: "Hana", password: "hanas-password" });
  assert.equal(again.status, 409);
  assert.equal((await again.json()).error, "already-registered");
  // The open tab holds the name as the account's now: a reloaded page with the cookie shares it with the tab.
  await using reloaded = await WsClient.open(addr, "/ws", { cookie });
  reloaded.send({ Action: "username", Payload: { Username: "hana", Session: "page-token-1" } });
  await reloaded.expectJson({ Action: "username", Payload: { Username: "hana" } });
  await tab.close();
  await reloaded.close();
  await eventually(() => !server.hub.online("hana"), "hana left");
  // A free name registers straight away.
  const fresh = await post(addr, "/api/accounts", { username: "ivo", password: "ivos-password" });
  assert.equal(fresh.status, 201);
  await using guest = await WsClient.open(addr, "/ws");
  guest.send({ Action: "username", Payload: { Username: "ivo" } });
  await guest.expectJson({ Action: "error", Payload: { Code: "name-registered" } });
});

Deno.test("page sign-in without accounts: 404 accounts-off; GET /api/session says off", async () => {
  await using server = serve();
  const addr = server.http!;
  const response = await post(addr, "/api/session", { username: "x", password: "whatever-pass" });
  assert.equal(response.status, 404);
  assert.equal((await response.json()).error, "accounts-off");
  assert.deepEqual(await (await fetch(`${base(addr)}/api/session`)).json(), {
    accounts: "off",
    username: null,
  });
  await using ws = await WsClient.open(addr, "/ws");
  const greeting = await ws.expectJson({ Action: "connected" });
  assert.deepEqual(
    Object.keys(greeting.Payload as object).sort(),
    ["Conn", "Time"],
    "the greeting as it was",
  );
});

Deno.test("page sign-in: accounts and page sessions in SQLite survive a restart of the server", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hubbub-signin-" });
  const store = { kind: "sqlite" as const, path: `${dir}/chat.db` };
  try {
    let cookie: string;
    {
      await using first = serveAccounts({ store });
      (await tcpRegister(first.tcp!, "nora", "noras-password")).close();
      cookie = cookieOf(
        await post(first.http!, "/api/session", { username: "nora", password: "noras-password" }),
      );
    }
    await using second = serveAccounts({ store });
    await using page = await WsClient.open(second.http!, "/ws", { cookie });
    await page.expectJson({ Action: "connected", Payload: { Account: "nora" } });
    await using guest = await LineClient.connect(second.tcp!);
    await guest.send("LOGIN nora");
    assert.match(await guest.expect(/^ERR /), /^ERR name-registered: /);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
