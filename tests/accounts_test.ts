/**
 * Accounts that own names (`src/hub/accounts.ts`) through every door that carries a password: TCP `REGISTER`,
 * `LOGIN <name> <password>` and `IDENTIFY`; `/ws` `register`, `login` and `logout`; the page's sign-in over
 * HTTP and its cookie on the WebSocket upgrade; the hub call the IRC door will use; and an account's DMs,
 * read by its owner from any device. Real servers on port 0; cheap scrypt parameters except where the cost
 * is the point.
 */

import assert from "node:assert/strict";
import { eventually, hubOptions, LineClient, serve, WsClient } from "./_helpers.ts";
import { Hub } from "../src/hub/hub.ts";
import { MemoryStore } from "../src/store/memory.ts";
import type { Config } from "../src/cli.ts";
import type { ServerOptions } from "../src/server.ts";
import type { Session } from "../src/model.ts";
import { SESSION_COOKIE } from "../src/wire/cookie.ts";

/** Cheap hashes: these tests register and log in many times. */
export const CHEAP = { ln: 4, r: 1, p: 1 };

/** A server with accounts on (or as given), cheap hashes and memory history. */
function serveAccounts(overrides: Partial<Config> = {}, options: ServerOptions = {}) {
  return serve({ accounts: "on", ...overrides }, { scrypt: CHEAP, ...options });
}

/** A TCP client logged in as `name` with `password`. */
async function tcpLogin(addr: Deno.NetAddr, name: string, password: string): Promise<LineClient> {
  const client = await LineClient.connect(addr);
  await client.send(`LOGIN ${name} ${password}`);
  await client.expect("OK");
  return client;
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

/** `POST` JSON to the page's sign-in routes. */
function post(addr: Deno.NetAddr, path: string, body: unknown, headers: HeadersInit = {}): Promise<Response> {
  return fetch(base(addr) + path, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
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

Deno.test("TCP REGISTER: a guest registers its name; then LOGIN needs the password, and its devices share the name", async () => {
  await using server = serveAccounts();
  const addr = server.tcp!;
  {
    await using alice = await tcpRegister(addr, "alice", "correct-horse");
    await alice.send("REGISTER correct-horse");
    assert.match(await alice.expect(/^ERR /), /^ERR already-registered: /);
  }
  await eventually(() => !server.hub.online("alice"), "alice left");
  await using guest = await LineClient.connect(addr);
  await guest.send("LOGIN alice");
  assert.equal(
    await guest.expect(/^ERR /),
    "ERR name-registered: 'alice' is registered; log in with LOGIN alice <password>",
  );
  await guest.send("LOGIN alice wrong-password");
  assert.equal(await guest.expect(/^ERR /), "ERR bad-credentials: Wrong name or password");
  await guest.send("LOGIN alice correct-horse");
  await guest.expect("OK");
  // A second device signed in to the account shares the name; both hear a DM to it.
  await using phone = await tcpLogin(addr, "Alice", "correct-horse");
  await using bob = await LineClient.login(addr, "bob");
  await bob.send("DM alice hi both");
  await guest.expect("DM bob hi both");
  await phone.expect("DM bob hi both");
});

Deno.test("TCP IDENTIFY: a guest under another name takes its registered name (and keeps its room); REGISTER needs a name and accounts", async () => {
  await using server = serveAccounts();
  const addr = server.tcp!;
  (await tcpRegister(addr, "carol", "carols-password")).close();
  await eventually(() => !server.hub.online("carol"), "carol left");
  await using c = await LineClient.login(addr, "carol_");
  await c.send("JOIN dev");
  await c.expect("OK");
  await c.send("IDENTIFY carol not-her-password");
  assert.equal(await c.expect(/^ERR /), "ERR bad-credentials: Wrong name or password");
  await c.send("IDENTIFY carol carols-password");
  await c.expect("OK");
  await using d = await LineClient.login(addr, "dave");
  await d.send("JOIN dev");
  await d.expect("OK");
  await d.send("WHO");
  assert.deepEqual([await d.expect(/^USER /), await d.expect(/^USER /)], ["USER carol", "USER dave"]);
  await d.send("REGISTER short");
  assert.match(
    await d.expect(/^ERR /),
    /^ERR weak-password: Cannot use this password: a password needs at least 8/,
  );
  await d.send("REGISTER two words");
  assert.equal(await d.expect(/^ERR /), "ERR usage: REGISTER <password>");
  await using nameless = await LineClient.connect(addr);
  await nameless.send("REGISTER whatever-pass");
  await nameless.expect("ERR expected 'LOGIN <username>'");
  // IDENTIFY before any login is LOGIN with a password.
  await nameless.send("IDENTIFY carol carols-password");
  await nameless.expect("OK");
});

Deno.test("TCP without accounts: REGISTER and IDENTIFY say so, LOGIN with a space is an invalid name as ever, HELP is unchanged", async () => {
  await using server = serve();
  await using c = await LineClient.login(server.tcp!, "erin");
  await c.send("REGISTER erins-password");
  assert.equal(await c.expect(/^ERR /), "ERR accounts-off: Accounts are off on this server");
  await using d = await LineClient.connect(server.tcp!);
  await d.send("LOGIN two words");
  await d.expect("ERR invalid-username");
  await d.send("IDENTIFY erin erins-password");
  assert.equal(await d.expect(/^ERR /), "ERR accounts-off: Accounts are off on this server");
  await d.send("HELP");
  await d.expect(/^INFO {3}PING/);
  await d.send("PING");
  await d.expect("PONG");
  assert.ok(!d.lines.some((l) => l.includes("REGISTER")), "HELP shows account commands only with accounts");
  await using on = serveAccounts();
  await using e = await LineClient.connect(on.tcp!);
  await e.send("HELP");
  await e.expect(/^INFO {3}REGISTER <password>/);
});

/** A documented-shape `/ws` client that took `name` (as a guest) or signed in. */
async function wsNamed(addr: Deno.NetAddr, name: string, headers?: HeadersInit): Promise<WsClient> {
  const ws = await WsClient.open(addr, "/ws", headers);
  ws.send({ Action: "username", Payload: { Username: name } });
  await ws.expectJson({ Action: "username", Payload: { Username: name } });
  return ws;
}

Deno.test("/ws register, login and logout: the documented actions with a password", async () => {
  await using server = serveAccounts();
  const addr = server.http!;
  {
    await using ws = await wsNamed(addr, "frank");
    ws.send({ Action: "register", Payload: { Password: "franks-password" } });
    await ws.expectJson({ Action: "register", Payload: { Username: "frank" } });
  }
  await eventually(() => !server.hub.online("frank"), "frank left");
  await using other = await WsClient.open(addr, "/ws");
  await other.expectJson({ Action: "connected", Payload: { Accounts: "on" } });
  other.send({ Action: "username", Payload: { Username: "Frank" } });
  await other.expectJson({ Action: "error", Payload: { Code: "name-registered" } });
  other.send({ Action: "login", Payload: { Username: "frank", Password: "nope-nope" } });
  await other.expectJson({
    Action: "error",
    Payload: { Code: "bad-credentials", Message: "Wrong name or password" },
  });
  other.send({ Action: "login", Payload: { Username: "frank", Password: "franks-password" } });
  await other.expectJson({ Action: "login", Payload: { Username: "frank" } });
  assert.equal(server.hub.online("frank"), true);
  // Signed in, the connection holds its account's name only.
  other.send({ Action: "username", Payload: { Username: "someone-else" } });
  await other.expectJson({ Action: "error", Payload: { Code: "already-logged-in" } });
  other.send({ Action: "logout", Payload: {} });
  await other.expectJson({ Action: "logout" });
  await eventually(() => !server.hub.online("frank"), "frank is free again");
  other.send({ Action: "username", Payload: { Username: "frank" } });
  await other.expectJson({ Action: "error", Payload: { Code: "name-registered" } });
  other.send({ Action: "register", Payload: {} });
  await other.expectJson({ Action: "error", Payload: { Code: "bad-frame" } });
});

/** A session the hub can talk to without a socket. */
function fakeSession(id: string): Session & { frames: unknown[] } {
  const frames: unknown[] = [];
  return {
    id,
    frames,
    codec: { name: "fake", echo: new Set(), encode: (event) => JSON.stringify(event) },
    send: (frame) => frames.push(frame),
    pressure: () => 0,
    queued: () => 0,
    close: () => {},
  };
}

Deno.test("hub.accounts.authenticate: the IRC door's call signs a connection in without a name, then it may claim only that name", async () => {
  const store = new MemoryStore();
  const hub = new Hub(hubOptions(store, { accounts: { mode: "on", store, scrypt: CHEAP } }));
  const owner = hub.connect(fakeSession("c_1"));
  assert.deepEqual(await hub.claim(owner, "jo"), { ok: true, value: "jo" });
  assert.deepEqual(await hub.accounts.register(owner, "jos-password", { ip: "192.0.2.1" }), {
    ok: true,
    value: "jo",
  });
  hub.disconnect(owner);
  const irc = hub.connect(fakeSession("c_2"));
  const wrong = await hub.accounts.authenticate(irc, "jo", "wrong-password", { ip: "192.0.2.2" });
  assert.deepEqual(wrong, { ok: false, code: "bad-credentials", detail: "Wrong name or password" });
  assert.equal(irc.account, null);
  assert.deepEqual(await hub.accounts.authenticate(irc, "JO", "jos-password", { ip: "192.0.2.2" }), {
    ok: true,
    value: "jo",
  });
  assert.equal(irc.account, "jo");
  assert.equal(irc.name, null, "authenticated, not named");
  assert.equal((await hub.claim(irc, "kim")).ok, false, "only the account's name");
  assert.deepEqual(await hub.claim(irc, "jo"), { ok: true, value: "jo" });
  await store.close();
});

Deno.test("DMs of an account: its owner reads them all once signed in, from any device, and none of an earlier guest's under the name", async () => {
  await using server = serveAccounts();
  const addr = server.http!;
  await using bob = await wsNamed(addr, "bob");
  const dm = async (from: WsClient, to: string, text: string) => {
    from.send({ Action: "private", Payload: { To: to, Message: text } });
    await from.expectJson({ Action: "private", Payload: { Message: text } });
  };
  const history = async (ws: WsClient, other: string) => {
    ws.send({ Action: "history", Payload: { With: other, Limit: 100 } });
    const frame = await ws.expectJson({ Action: "history", Payload: { With: other } });
    return (frame.Payload as { Messages: { Message: string }[] }).Messages.map((m) => m.Message);
  };
  {
    // An earlier guest under the name, before anyone registered it.
    await using earlier = await wsNamed(addr, "lea");
    await dm(earlier, "bob", "the earlier guest's");
  }
  await eventually(() => !server.hub.online("lea"), "the earlier guest left");
  {
    await using lea = await wsNamed(addr, "lea");
    await dm(lea, "bob", "lea as a guest, before registering");
    lea.send({ Action: "register", Payload: { Password: "leas-password" } });
    await lea.expectJson({ Action: "register" });
    await dm(bob, "lea", "to lea, registered");
  }
  await eventually(() => !server.hub.online("lea"), "lea left");
  // Another device, days later: the password (or the page's cookie) is all it needs.
  const signIn = await post(addr, "/api/session", { username: "lea", password: "leas-password" });
  await using laptop = await WsClient.open(addr, "/ws", { cookie: cookieOf(signIn) });
  laptop.send({ Action: "username", Payload: { Username: "lea" } });
  await laptop.expectJson({ Action: "username" });
  assert.deepEqual(await history(laptop, "bob"), [
    "lea as a guest, before registering",
    "to lea, registered",
  ]);
  await using phone = await tcpLogin(server.tcp!, "lea", "leas-password");
  await dm(bob, "lea", "while both are on");
  await phone.expect("DM bob while both are on");
  assert.deepEqual(await history(laptop, "bob"), [
    "lea as a guest, before registering",
    "to lea, registered",
    "while both are on",
  ]);
});

Deno.test("hashing off the loop: a chat goes on while logins hash with hubbub's real scrypt parameters", async () => {
  await using server = serve({ accounts: "on" });
  const addr = server.tcp!;
  (await tcpRegister(addr, "max", "maxs-password")).close();
  await using a = await LineClient.login(addr, "talker");
  await using b = await LineClient.login(addr, "listener");
  // Logins hash on and on while a and b chat; each line's round trip is timed.
  let logging = true;
  let logins = 0;
  const loginLoop = (async () => {
    while (logging) {
      await using _c = await tcpLogin(addr, "max", "maxs-password");
      logins++;
    }
  })();
  const trips: number[] = [];
  for (let i = 0; i < 40; i++) {
    const started = performance.now();
    await a.send(`line ${i}`);
    await b.expect(`MSG talker line ${i}`);
    trips.push(performance.now() - started);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  logging = false;
  await loginLoop;
  trips.sort((x, y) => x - y);
  const worst = trips.at(-1)!;
  const median = trips[trips.length >> 1]!;
  assert.ok(logins >= 2, "logins hashed while the chat went on");
  // One hash is ~50-100 ms on a 2-core VM: a hash on the loop would put every round trip near that.
  assert.ok(
    median < 40,
    `${logins} logins meanwhile; round trip median ${median.toFixed(1)} ms, worst ${worst.toFixed(1)} ms`,
  );
});
