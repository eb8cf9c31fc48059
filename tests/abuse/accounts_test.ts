/**
 * Abuse rows: accounts (issue 17). Guessing passwords (lockout and backoff per name and per address, short
 * windows), registering in bulk, taking a registered name (or a look-alike of it) in every door while its
 * owner is offline, guests where `--accounts required` has none, reading someone else's DMs by any door or
 * API route, signing a browser in from another site, and looking for passwords or hashes in the logs.
 */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { Child, eventually, LineClient, serve, WsClient } from "../_helpers.ts";
import { RedisServer } from "../_redis.ts";
import { assertHealthy, b64 } from "./_abuse.ts";
import type { AttemptLimits } from "../../src/hub/attempts.ts";
import type { Config } from "../../src/cli.ts";
import type { ServerOptions } from "../../src/server.ts";
import { fromBase64 } from "../../src/ws/gochat.ts";

const CHEAP = { ln: 4, r: 1, p: 1 };

/** Short windows: a name locks after 3 failures for 300 ms, doubling; an address after 6; 3 registrations. */
const SHORT: AttemptLimits = {
  perName: { free: 3, lockMs: 300, maxLockMs: 1200, forgetMs: 30_000 },
  perIp: { free: 6, lockMs: 300, maxLockMs: 1200, forgetMs: 30_000 },
  registrations: { free: 3, lockMs: 60_000, maxLockMs: 60_000, forgetMs: 60_000 },
};

function serveAccounts(overrides: Partial<Config> = {}, options: ServerOptions = {}) {
  return serve({ accounts: "on", ...overrides }, { scrypt: CHEAP, ...options });
}

function base(addr: Deno.NetAddr): string {
  return `http://${addr.hostname}:${addr.port}`;
}

async function register(addr: Deno.NetAddr, name: string, password: string): Promise<void> {
  await using c = await LineClient.login(addr, name);
  await c.send(`REGISTER ${password}`);
  await c.expect("OK");
}

function signIn(addr: Deno.NetAddr, username: string, password: string, headers: HeadersInit = {}) {
  return fetch(`${base(addr)}/api/session`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ username, password }),
  });
}

Deno.test("accounts lockout: wrong passwords lock a name out (the right one waits too), then the address; the lock ends on time", async () => {
  await using server = serveAccounts({}, { attemptLimits: SHORT });
  const tcp = server.tcp!;
  await register(tcp, "alice", "alices-password");
  await using x = await LineClient.connect(tcp);
  for (let i = 0; i < 4; i++) {
    await x.send(`LOGIN alice guess-number-${i}`);
    assert.equal(await x.expect(/^ERR /), "ERR bad-credentials: Wrong name or password");
  }
  // Locked: even the right password is refused unread, by every door (they share the count).
  await x.send("LOGIN alice alices-password");
  assert.match(await x.expect(/^ERR /), /^ERR too-many-attempts: Too many attempts: try again in 1 s$/);
  const page = await signIn(server.http!, "alice", "alices-password");
  assert.equal(page.status, 429);
  assert.equal((await page.json()).error, "too-many-attempts");
  await new Promise((resolve) => setTimeout(resolve, 350));
  await x.send("LOGIN alice alices-password");
  await x.expect("OK");

  // The address (every test client is 127.0.0.1): its 4 failures above and 2 more at other names are free;
  // the 7th locks it, and then every name is locked for it, even one never tried.
  await using y = await LineClient.connect(tcp);
  for (let i = 0; i < 3; i++) {
    await y.send(`LOGIN nobody${i} guess-${i}-xxxxxxxx`);
    assert.match(await y.expect(/^ERR /), /^ERR bad-credentials/, `failure ${5 + i} of the address`);
  }
  await y.send("LOGIN never-tried some-password");
  assert.match(await y.expect(/^ERR /), /^ERR too-many-attempts: /);
  await assertHealthy(server);
});

Deno.test("accounts lockout: junk names and huge passwords are refused before anything is counted or hashed", async () => {
  await using server = serveAccounts({}, { attemptLimits: SHORT });
  await register(server.tcp!, "alice", "alices-password");
  await using x = await LineClient.connect(server.tcp!);
  for (let i = 0; i < 10; i++) {
    // 8 KiB names would fill the attempt tables with 8 KiB keys; they are no names at all.
    await x.send(`LOGIN ${"n".repeat(4000 + i)} some-password`);
    assert.equal(await x.expect(/^ERR /), "ERR invalid-username");
    await x.send(`LOGIN alice ${"p".repeat(2000)}`);
    assert.equal(await x.expect(/^ERR /), "ERR bad-credentials: Wrong name or password");
  }
  // 20 refusals, more than the address's 6 and the name's 3: none counted, so alice is not locked out.
  await x.send("LOGIN alice alices-password");
  await x.expect("OK");
});

Deno.test("accounts lockout: registrations per address are limited too", async () => {
  await using server = serveAccounts({}, { attemptLimits: SHORT });
  for (let i = 0; i < 3; i++) await register(server.tcp!, `bulk${i}`, "bulk-password");
  await using c = await LineClient.login(server.tcp!, "bulk3");
  await c.send("REGISTER bulk-password");
  assert.match(await c.expect(/^ERR /), /^ERR too-many-attempts: Too many attempts: try again in 60 s$/);
  const made = await fetch(`${base(server.http!)}/api/accounts`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username: "bulk4", password: "bulk-password" }),
  });
  assert.equal(made.status, 429);
  await made.body?.cancel();
});

Deno.test("accounts: registered names are reserved while their owner is offline, in every spelling and every door", async () => {
  await using server = serveAccounts({ historyOnJoin: 0 });
  const tcp = server.tcp!;
  const http = server.http!;
  await register(tcp, "alice", "alices-password");
  await eventually(() => !server.hub.online("alice"), "alice is offline");
  const spellings = ["alice", "ALICE", "\u0410lice", "aIice", "alic\u00e9", "ａｌｉｃｅ"];
  await using guest = await LineClient.connect(tcp);
  for (const name of spellings) {
    await guest.send(`LOGIN ${name}`);
    assert.match(await guest.expect(/^ERR /), /^ERR name-registered: /, name);
  }
  await using ws = await WsClient.open(http, "/ws");
  for (const name of spellings) {
    ws.send({ Action: "username", Payload: { Username: name, Session: "mallory" } });
    await ws.expectJson({ Action: "error", Payload: { Code: "name-registered" } });
  }
  // GoBanter's own page, goChat and MaChat cannot send a password: their taken-name behaviour.
  await using legacy = await WsClient.open(http, "/ws");
  legacy.send({ action: "broadcast", username: "Alice", message: "it's me" });
  await legacy.expectJson({ action: "error", message: "Name 'Alice' is registered", message_type: "error" });
  await using gc = await WsClient.open(http, "/joinRoom?room_code=lobby&user_name=alice");
  const notice = await gc.expectJson({ DataType: "message", Data: { Type: "SYS" } });
  assert.equal(
    fromBase64(String((notice.Data as Record<string, unknown>).Contents)),
    "your name is alice-2 (alice is taken)",
  );
  await using ma = await LineClient.connect(tcp);
  await ma.send('{"name":"\u0410lice","room":"lobby"}');
  // alice-2 is goChat's now (the variants of one name share keys too).
  await ma.expect("INFO your name is \u0410lice-3 (\u0410lice is taken)");
  await using mychat = await WsClient.open(http, "/mychat");
  mychat.send('{"name":"ALICE","room":"lobby"}');
  await mychat.expect("INFO your name is ALICE-4 (ALICE is taken)\n");
  assert.equal(server.hub.online("alice"), false, "nobody took alice");
  // The owner still can, from any door.
  await using owner = await LineClient.connect(tcp);
  await owner.send("LOGIN alice alices-password");
  await owner.expect("OK");
  await gc.expectJson({
    DataType: "message",
    Data: { Type: "JOIN_LEAVE", Contents: b64("alice has joined the room!") },
  });
});

Deno.test("accounts (--accounts required): refuses guests in every door; signed-in members chat as usual", async () => {
  await using server = serveAccounts({ accounts: "required" });
  const tcp = server.tcp!;
  const http = server.http!;
  const made = await fetch(`${base(http)}/api/accounts`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username: "mia", password: "mias-password" }),
  });
  assert.equal(made.status, 201);
  const cookie = made.headers.get("set-cookie")!.split(";", 1)[0]!;
  await using mia = await LineClient.connect(tcp);
  await mia.send("LOGIN mia mias-password");
  await mia.expect("OK");

  await using guest = await LineClient.connect(tcp);
  await guest.send("LOGIN nia");
  assert.equal(
    await guest.expect(/^ERR /),
    "ERR login-required: this server has no guests; log in with LOGIN <username> <password>",
  );
  await guest.send("REGISTER nias-password");
  await guest.expect("ERR expected 'LOGIN <username>'");
  await using ma = await LineClient.connect(tcp);
  await ma.send('{"name":"ola","room":"lobby"}');
  await ma.expect("ERR login-required");
  await ma.closedByServer();
  await using mychat = await WsClient.open(http, "/mychat");
  mychat.send('{"name":"ola","room":"lobby"}');
  await mychat.expect("ERR login-required\n");
  await mychat.closedPromise;
  await using gc = await WsClient.open(http, "/joinRoom?room_code=lobby&user_name=pia");
  const refusal = await gc.expectJson({ DataType: "message", Data: { Type: "SYS" } });
  assert.match(fromBase64(String((refusal.Data as Record<string, unknown>).Contents))!, /needs an account/);
  await gc.closedPromise;

  // A guest page sits in no room: it hears nothing, reads no history or member list.
  await using page = await WsClient.open(http, "/ws");
  await page.expectJson({ Action: "connected", Payload: { Accounts: "required" } });
  page.send({ Action: "username", Payload: { Username: "quinn" } });
  await page.expectJson({ Action: "error", Payload: { Code: "login-required" } });
  for (const action of ["history", "userlist", "join"]) {
    page.send({ Action: action, Payload: { Room: "lobby" } });
    await page.expectJson({ Action: "error", Payload: { Code: "login-required" } });
  }
  // Signing in over /ws puts the connection in the lobby.
  page.send({ Action: "login", Payload: { Username: "mia", Password: "mias-password" } });
  await page.expectJson({ Action: "login", Payload: { Username: "mia" } });
  page.send({ Action: "userlist", Payload: { Room: "lobby" } });
  await page.expectJson({ Action: "userlist", Payload: { Room: "lobby", Users: ["mia"] } });
  page.send({ Action: "logout" });
  await page.expectJson({ Action: "logout" });
  page.send({ Action: "userlist", Payload: { Room: "lobby" } });
  await page.expectJson({ Action: "error", Payload: { Code: "login-required" } });
  await using legacy = await WsClient.open(http, "/ws");
  legacy.send({ action: "broadcast", username: "rue", message: "hi" });
  await legacy.expectJson({ action: "error", message_type: "error" });
  await mia.send("members only");
  for (const path of ["/api/rooms", "/api/rooms/lobby/messages", "/api/rooms/lobby/members"]) {
    const anonymous = await fetch(base(http) + path);
    assert.equal(anonymous.status, 401, path);
    assert.ok(!(await anonymous.text()).includes("members only"));
    const member = await fetch(base(http) + path, { headers: { cookie } });
    assert.equal(member.status, 200, path);
    await member.body?.cancel();
  }
  // The signed-in page is in the lobby and chats.
  await using signed = await WsClient.open(http, "/ws", { cookie });
  await signed.expectJson({ Action: "connected", Payload: { Accounts: "required", Account: "mia" } });
  signed.send({ Action: "username", Payload: { Username: "mia" } });
  await signed.expectJson({ Action: "username" });
  signed.send({ Action: "broadcast", Payload: { Message: "from the page" } });
  await mia.expect("MSG mia from the page");
  assert.ok(
    !page.frames.some((f) => f.includes("members only") || f.includes("from the page")),
    "the guest heard nothing",
  );
});

Deno.test("accounts DM privacy: no third connection reads alice↔bob by any door or route; a guest cannot even take alice after she left", async () => {
  await using server = serveAccounts({ historyOnJoin: 50, machatHistoryOnJoin: 50 });
  const tcp = server.tcp!;
  const http = server.http!;
  const marker = `dm-${crypto.randomUUID()}`;
  await register(tcp, "alice", "alices-password");
  await register(tcp, "bob", "bobs-password");
  await register(tcp, "dave", "daves-password");
  const history = async (ws: WsClient, other: string) => {
    ws.send({ Action: "history", Payload: { With: other, Limit: 500 } });
    return (await ws.expectJson({ Action: "history", Payload: { With: other } })).Payload as {
      Messages: { Message: string }[];
    };
  };
  {
    await using alice = await LineClient.connect(tcp);
    await alice.send("LOGIN alice alices-password");
    await alice.expect("OK");
    await using bob = await WsClient.open(http, "/ws");
    bob.send({ Action: "login", Payload: { Username: "bob", Password: "bobs-password" } });
    await bob.expectJson({ Action: "login" });
    await alice.send(`DM bob ${marker} a2b`);
    await bob.expectJson({ Action: "private", Payload: { Message: `${marker} a2b` } });
    bob.send({ Action: "private", Payload: { To: "alice", Message: `${marker} b2a` } });
    await alice.expect(`DM bob ${marker} b2a`);

    // While both are online: a guest and a signed-in third party read only their own pairs.
    await using carol = await WsClient.open(http, "/ws");
    carol.send({ Action: "username", Payload: { Username: "carol" } });
    await carol.expectJson({ Action: "username" });
    await using dave = await WsClient.open(http, "/ws");
    dave.send({ Action: "login", Payload: { Username: "dave", Password: "daves-password" } });
    await dave.expectJson({ Action: "login" });
    for (const third of [carol, dave]) {
      for (const other of ["alice", "bob", "ALICE", "alice\u0000bob"]) {
        assert.deepEqual((await history(third, other)).Messages, [], `a third party reads ${other}`);
      }
    }
  }
  await eventually(() => !server.hub.online("alice") && !server.hub.online("bob"), "both left");
  // After alice left, nobody takes alice (in any spelling) to read her DMs.
  await using thief = await WsClient.open(http, "/ws");
  for (const name of ["alice", "Alice", "\u0410lice"]) {
    thief.send({ Action: "username", Payload: { Username: name, Session: "thief" } });
    await thief.expectJson({ Action: "error", Payload: { Code: "name-registered" } });
  }
  thief.send({ Action: "history", Payload: { With: "bob", Limit: 500 } });
  await thief.expectJson({ Action: "error", Payload: { Code: "name-required" } });
  // No API route, TCP command or replay on join carries a DM.
  for (
    const path of [
      "/api/dm/alice/bob",
      "/api/users/alice/messages",
      "/api/rooms/lobby/messages",
      "/api/session",
    ]
  ) {
    const response = await fetch(base(http) + path);
    assert.ok(!(await response.text()).includes(marker), path);
  }
  await using tcpGuest = await LineClient.login(tcp, "eve");
  await tcpGuest.send("HISTORY 500");
  await tcpGuest.expect("OK");
  await using gc = await WsClient.open(http, "/joinRoom?room_code=lobby&user_name=gus");
  await using ma = await LineClient.connect(tcp);
  await ma.send('{"name":"mara","room":"lobby"}');
  await ma.send("after the replay");
  await ma.expect("mara:after the replay");
  assert.ok(![...tcpGuest.lines, ...ma.lines].some((l) => l.includes(marker)), "a line carries a DM");
  assert.ok(!gc.frames.some((f) => f.includes(b64(marker).slice(0, 12))), "goChat replay carries a DM");
  // alice herself, from a new device, reads the whole conversation.
  await using back = await WsClient.open(http, "/ws");
  back.send({ Action: "login", Payload: { Username: "alice", Password: "alices-password" } });
  await back.expectJson({ Action: "login" });
  assert.deepEqual((await history(back, "bob")).Messages.map((m) => m.Message), [
    `${marker} a2b`,
    `${marker} b2a`,
  ]);
});

Deno.test("accounts DM privacy, for a name nobody registered: the claims rule, as without accounts", async () => {
  await using server = serveAccounts();
  const http = server.http!;
  const named = async (name: string) => {
    const ws = await WsClient.open(http, "/ws");
    ws.send({ Action: "username", Payload: { Username: name } });
    await ws.expectJson({ Action: "username" });
    return ws;
  };
  await using bob = await named("bob");
  {
    await using eve = await named("eve");
    eve.send({ Action: "private", Payload: { To: "bob", Message: "eve's secret" } });
    await bob.expectJson({ Action: "private", Payload: { Message: "eve's secret" } });
  }
  await eventually(() => !server.hub.online("eve"), "eve left");
  await using next = await named("Eve");
  next.send({ Action: "history", Payload: { With: "bob", Limit: 500 } });
  const got = await next.expectJson({ Action: "history" });
  assert.deepEqual((got.Payload as { Messages: unknown[] }).Messages, []);
});

Deno.test("page sign-in routes: refuse other sites and non-JSON bodies: a browser cannot be signed in or out from elsewhere", async () => {
  await using server = serveAccounts();
  const http = server.http!;
  await register(server.tcp!, "sam", "sams-password");
  const foreign = await signIn(http, "sam", "sams-password", { origin: "http://evil.example" });
  assert.equal(foreign.status, 403);
  assert.equal(foreign.headers.get("set-cookie"), null);
  await foreign.body?.cancel();
  const form = await fetch(`${base(http)}/api/session`, {
    method: "POST",
    headers: { "content-type": "text/plain" },
    body: JSON.stringify({ username: "sam", password: "sams-password" }),
  });
  assert.equal(form.status, 415);
  await form.body?.cancel();
  const ok = await signIn(http, "sam", "sams-password", { origin: base(http) });
  assert.equal(ok.status, 200);
  const cookie = ok.headers.get("set-cookie")!.split(";", 1)[0]!;
  const out = await fetch(`${base(http)}/api/session`, {
    method: "DELETE",
    headers: { cookie, origin: "http://evil.example" },
  });
  assert.equal(out.status, 403);
  await out.body?.cancel();
  const still = await fetch(`${base(http)}/api/session`, { headers: { cookie } });
  assert.equal((await still.json()).username, "sam", "still signed in");
  // A cookie that is no token of ours signs nothing in.
  for (const bad of ["x", "../../etc", "a".repeat(43), "é".repeat(43)]) {
    const forged = await fetch(`${base(http)}/api/session`, { headers: { cookie: `hubbub_session=${bad}` } });
    assert.equal((await forged.json()).username, null);
  }
});

Deno.test("accounts logs: passwords and hashes never reach the logs, at the most verbose level", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hubbub-logs-" });
  const path = `${dir}/chat.db`;
  const password = `pw-${crypto.randomUUID()}`;
  const wrong = `wrong-${crypto.randomUUID()}`;
  try {
    await using child = new Child([
      "run",
      "-P=server",
      "main.ts",
      "--tcp",
      "127.0.0.1:0",
      "--http",
      "127.0.0.1:0",
      "--log-format",
      "json",
      "--log-level",
      "trace",
      "--accounts",
      "on",
      "--store",
      `sqlite:${path}`,
    ]);
    const tcp = await child.tcpAddr();
    const http = await child.httpAddr();
    {
      await using c = await LineClient.login(tcp, "tom");
      await c.send(`REGISTER ${password}`);
      await c.expect("OK");
    }
    await using d = await LineClient.connect(tcp);
    await d.send(`LOGIN tom ${wrong}`);
    await d.expect(/^ERR bad-credentials/);
    await d.send(`IDENTIFY tom ${wrong}`);
    await d.expect(/^ERR bad-credentials/);
    await d.send(`LOGIN tom ${password}`);
    await d.expect("OK");
    await using ws = await WsClient.open(http, "/ws");
    ws.send({ Action: "login", Payload: { Username: "tom", Password: wrong } });
    await ws.expectJson({ Action: "error" });
    ws.send({ Action: "register", Payload: { Password: password } });
    await ws.expectJson({ Action: "error" });
    (await signIn(http, "tom", password)).body?.cancel();
    (await signIn(http, "tom", wrong)).body?.cancel();
    await child.recordWith((r) => String(r.message).includes("wrong password"));
    child.process.kill("SIGTERM");
    await child.status();
    const db = new DatabaseSync(path);
    const { hash } = db.prepare("SELECT hash FROM accounts").get() as { hash: string };
    db.close();
    const [, , , salt, key] = hash.split("$");
    assert.ok(child.records.length > 10, "the server logged");
    for (const secret of [password, wrong, hash, salt!, key!]) {
      assert.ok(!child.stderr.includes(secret), `the logs contain ${secret.slice(0, 12)}…`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const HAVE_REDIS = await RedisServer.available();

Deno.test({
  name:
    "accounts in a cluster: registered through one node, the name is reserved on every node; the page's cookie works on any",
  ignore: !HAVE_REDIS && Deno.env.get("CI") !== "true",
  fn: async () => {
    await using redis = await RedisServer.start();
    await using a = serveAccounts({ redis: redis.url, nodeId: "a" });
    await using b = serveAccounts({ redis: redis.url, nodeId: "b" });
    const ready = async ({ http }: typeof a) => {
      const response = await fetch(`${base(http!)}/readyz`);
      await response.body?.cancel();
      return response.status === 200;
    };
    await eventually(async () => (await ready(a)) && (await ready(b)), "both nodes are ready", 10_000);
    await register(a.tcp!, "uma", "umas-password");
    await eventually(() => !a.hub.online("uma") && !b.hub.online("uma"), "uma left on both nodes");
    await using guest = await LineClient.connect(b.tcp!);
    await guest.send("LOGIN Uma");
    await guest.expect(/^ERR name-registered: /);
    const session = await signIn(a.http!, "uma", "umas-password");
    const cookie = session.headers.get("set-cookie")!.split(";", 1)[0]!;
    await using page = await WsClient.open(b.http!, "/ws", { cookie });
    await page.expectJson({ Action: "connected", Payload: { Account: "uma" } });
    page.send({ Action: "username", Payload: { Username: "uma" } });
    await page.expectJson({ Action: "username" });
    // Her second device, on the other node, shares the name.
    await using phone = await LineClient.connect(a.tcp!);
    await phone.send("LOGIN uma umas-password");
    await phone.expect("OK");
  },
});

Deno.test({
  name:
    "accounts in a cluster: a name registered by a guest page stays the account's after the node re-claims its names (Redis emptied of presence)",
  ignore: !HAVE_REDIS && Deno.env.get("CI") !== "true",
  fn: async () => {
    await using redis = await RedisServer.start();
    await using a = serveAccounts({ redis: redis.url, nodeId: "a", presenceTtlMs: 1500 });
    await using b = serveAccounts({ redis: redis.url, nodeId: "b", presenceTtlMs: 1500 });
    const ready = async ({ http }: typeof a) => {
      const response = await fetch(`${base(http!)}/readyz`);
      await response.body?.cancel();
      return response.status === 200;
    };
    await eventually(async () => (await ready(a)) && (await ready(b)), "both nodes are ready", 10_000);
    // A guest page on node a registers the name it holds.
    await using page = await WsClient.open(a.http!, "/ws");
    page.send({ Action: "username", Payload: { Username: "vera", Session: "vera-page" } });
    await page.expectJson({ Action: "username" });
    page.send({ Action: "register", Payload: { Password: "veras-password" } });
    await page.expectJson({ Action: "register" });
    await eventually(() => b.hub.online("vera"), "node b sees vera");
    // Redis loses the cluster's presence and names (not the accounts): node a notices and claims its names again.
    await redis.command("DEL", "hubbub:epoch", "hubbub:names");
    await eventually(
      async () => (await redis.command("HEXISTS", "hubbub:names", "vera")) === ":1",
      "a re-claimed",
      10_000,
    );
    // Her phone signs in through node b: it shares the name with the page, as the account's.
    await using phone = await LineClient.connect(b.tcp!);
    await phone.send("LOGIN vera veras-password");
    assert.equal(await phone.expect(/^(OK|ERR)/), "OK");
  },
});
