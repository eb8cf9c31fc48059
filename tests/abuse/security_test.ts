/**
 * Abuse rows: security. The WebSocket Origin allow-list (same origin by default, 403 otherwise), the
 * page's Content-Security-Policy, no HTML rendering of messages, no message bodies in info-level logs, and
 * no DM content through the JSON API.
 */

import assert from "node:assert/strict";
import { configure, type LogRecord, reset } from "@logtape/logtape";
import { eventually, LineClient, roomHistory, serve, WsClient } from "../_helpers.ts";
import { assertHealthy, b64, upgradeStatus } from "./_abuse.ts";

Deno.test("WebSocket Origin allow-list: by default only the same origin and origin-less clients may open a WebSocket; others get 403", async () => {
  await using server = serve({ tcp: null });
  const addr = server.http!;
  const self = `http://${addr.hostname}:${addr.port}`;
  const paths = ["/ws", "/mychat", "/joinRoom?room_code=lobby&user_name=visitor"];
  const foreign = [
    "https://evil.example",
    "null",
    `http://${addr.hostname}:${addr.port + 1}`, // another port is another origin
    `http://${addr.hostname}:${addr.port}.evil.example`,
    `http://${addr.hostname}:${addr.port}@evil.example`,
    "http://localhost.evil.example",
    "file://",
    "not a url",
    "",
  ];
  for (const path of paths) {
    for (const origin of foreign) {
      const { status } = await upgradeStatus(addr, path, origin);
      assert.equal(status, 403, `${path} from '${origin}'`);
    }
    assert.equal(server.hub.connections, 0, "a refused upgrade never reaches the hub");
  }
  // The same origin (parsed: case and a trailing slash do not matter) and no Origin at all are welcome.
  for (const origin of [self, `${self}/`, self.toUpperCase()]) {
    assert.equal((await upgradeStatus(addr, "/ws", origin)).status, 101, origin);
  }
  await using native = await WsClient.open(addr, "/mychat"); // no Origin header at all
  native.send('{"name":"native","room":"lobby"}');
  native.send("hi\n");
  await native.expect("native:hi\n");

  // --allow-origin adds exactly the origins listed.
  {
    await using listed = serve({ tcp: null, allowOrigins: ["https://friend.example"] });
    const a = listed.http!;
    assert.equal((await upgradeStatus(a, "/mychat", "https://friend.example")).status, 101);
    assert.equal((await upgradeStatus(a, "/mychat", "https://FRIEND.example/")).status, 101);
    assert.equal((await upgradeStatus(a, "/mychat", "http://friend.example")).status, 403);
    assert.equal((await upgradeStatus(a, "/mychat", "https://friend.example:8443")).status, 403);
    assert.equal((await upgradeStatus(a, "/mychat", "https://friend.example.evil")).status, 403);
  }
  await assertHealthy(server);
});

Deno.test("HTTP page CSP: scripts and connections only from this origin, no inline script, no framing", async () => {
  await using server = serve({ tcp: null });
  const base = `http://${server.http!.hostname}:${server.http!.port}`;
  const page = await fetch(`${base}/`);
  assert.equal(page.status, 200);
  const csp = page.headers.get("content-security-policy") ?? "";
  const html = await page.text();
  const directives = new Map(
    csp.split(";").map((d) => d.trim().split(/\s+/)).filter((d) => d[0]).map((
      [name, ...values],
    ) => [name!, values]),
  );
  assert.deepEqual(directives.get("default-src"), ["'none'"], csp);
  assert.deepEqual(directives.get("script-src"), ["'self'"], csp);
  assert.ok(directives.get("connect-src")?.includes("'self'"), csp);
  assert.deepEqual(directives.get("frame-ancestors"), ["'none'"], csp);
  assert.ok(!/unsafe-inline|unsafe-eval|\*/.test(directives.get("script-src")!.join(" ")), csp);
  // The page itself carries no inline script (CSP would block it anyway) and no inline event handlers.
  assert.ok(!/<script(?![^>]*\bsrc=)[^>]*>/i.test(html), "inline <script> in the page");
  assert.ok(!/\son[a-z]+\s*=/i.test(html), "inline event handler in the page");
  await assertHealthy(server);
});

Deno.test("every door, no HTML rendering: markup in messages travels as plain text through every door and the API", async () => {
  await using server = serve({ presenceIntervalMs: 20 });
  const { tcp, http } = server;
  const markup = `<img src=x onerror="alert(1)"><script>alert('x')</script> & <b>bold</b>`;
  await using doc = await WsClient.open(http!, "/ws");
  doc.send({ Action: "username", Payload: { Username: "doc" } });
  await using legacy = await WsClient.open(http!, "/ws");
  legacy.send({ action: "username", username: "legacy", message: "", to: "" });
  await using gc = await WsClient.open(http!, "/joinRoom?room_code=lobby&user_name=gc");
  await using tc = await LineClient.login(tcp!, "tc");
  await eventually(() => server.hub.members("lobby").members.length === 4, "four in the lobby");
  await tc.send(markup);
  await doc.expectJson({ Action: "broadcast", Payload: { Message: markup, Username: "tc" } });
  await legacy.expectJson({ action: "broadcast", message: markup, from: "tc", username: "tc" });
  await gc.expectJson({
    DataType: "message",
    Data: { Type: "USER", SenderName: "tc", Contents: b64(markup) },
  });
  const api = await fetch(`http://${http!.hostname}:${http!.port}/api/rooms/lobby/messages`);
  assert.match(api.headers.get("content-type") ?? "", /^application\/json/);
  assert.equal((await api.json()).messages[0].Message, markup);

  // The page renders text as text: no HTML sink anywhere in its source.
  for await (const file of walk(new URL("../../web/", import.meta.url))) {
    const source = await Deno.readTextFile(file);
    assert.ok(
      !/dangerouslySetInnerHTML|\.innerHTML\s*=|\.outerHTML\s*=|insertAdjacentHTML|document\.write/.test(
        source,
      ),
      `an HTML sink in ${file.pathname}`,
    );
  }
  await assertHealthy(server);
});

async function* walk(dir: URL): AsyncGenerator<URL> {
  for await (const entry of Deno.readDir(dir)) {
    const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), dir);
    if (entry.isDirectory) yield* walk(url);
    else if (/\.(ts|tsx|js|html)$/.test(entry.name)) yield url;
  }
}

Deno.test("logs: at info level they never contain message bodies, from any door, DMs and refusals included", async () => {
  const records: LogRecord[] = [];
  await configure({
    reset: true,
    sinks: { capture: (record) => records.push(record) },
    loggers: [
      { category: ["hubbub"], lowestLevel: "info", sinks: ["capture"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["capture"] },
    ],
  });
  try {
    const marker = `SECRET-${crypto.randomUUID()}`;
    {
      await using server = serve({ presenceIntervalMs: 20, maxFrameBytes: 4096, maxLineBytes: 4096 });
      const { tcp, http } = server;
      await using tc = await LineClient.login(tcp!, "tc");
      await using mt = await LineClient.connect(tcp!);
      await mt.send('{"name":"mt","room":"lobby"}');
      await using doc = await WsClient.open(http!, "/ws");
      doc.send({ Action: "username", Payload: { Username: "doc" } });
      await using legacy = await WsClient.open(http!, "/ws");
      legacy.send({ action: "username", username: "legacy", message: "", to: "" });
      await using gc = await WsClient.open(http!, "/joinRoom?room_code=lobby&user_name=gc");
      await using mw = await WsClient.open(http!, "/mychat");
      mw.send('{"name":"mw","room":"lobby"}');
      await eventually(() => server.hub.members("lobby").members.length === 6, "six in the lobby");

      await tc.send(`room ${marker} tc`);
      await tc.send(`DM doc dm ${marker} tc`);
      await tc.send(`/${marker}`); // an unknown command is still a person's text
      await mt.send(`room ${marker} mt`);
      doc.send({ Action: "broadcast", Payload: { Message: `room ${marker} doc` } });
      doc.send({ Action: "private", Payload: { To: "tc", Message: `dm ${marker} doc` } });
      doc.send({ Action: "private", Payload: { To: "nobody-here", Message: `dm ${marker} lost` } });
      doc.send(`{not json ${marker}`);
      doc.send({ Action: marker, Payload: { Message: marker } });
      legacy.send({ action: "broadcast", username: "legacy", message: `room ${marker} legacy`, to: "" });
      legacy.send({ action: "private", username: "legacy", message: `dm ${marker} legacy`, to: "tc" });
      gc.send({ DataType: "message", Data: { Type: "USER", Contents: b64(`room ${marker} gc`) } });
      gc.send(`{"DataType":"${marker}"}`);
      mw.send(`room ${marker} mw\n`);
      doc.send({ Action: "broadcast", Payload: { Message: `${marker} ${"x".repeat(5000)}` } }); // too large: closed
      await using late = await WsClient.open(http!, "/mychat");
      late.send(`not a handshake ${marker}`); // refused
      await eventually(
        async () => (await roomHistory(server.hub, "lobby", { limit: 100 })).messages.length === 6,
        "six stored",
      );
      await tc.expect(`DM doc dm ${marker} doc`);
      await tc.expect(`DM legacy dm ${marker} legacy`);
      await assertHealthy(server);
    }
    const needles = [marker, b64(`room ${marker} gc`)];
    const leaks = records.filter((r) =>
      [String(r.message.join("")), JSON.stringify(r.rawMessage), JSON.stringify(r.properties)].some((s) =>
        needles.some((needle) => s.includes(needle))
      )
    );
    assert.deepEqual(leaks.map((r) => `${r.level} ${r.category.join(".")}: ${r.message.join("")}`), []);
    // The sink did see the traffic: the messages were logged, by id, without their text.
    const msgs = records.filter((r) => r.message.join("") === "msg");
    assert.ok(msgs.length >= 6, `${msgs.length} msg records`);
    assert.ok(
      msgs.every((r) => typeof r.properties.id === "number" && typeof r.properties.room === "string"),
    );
    assert.ok(records.some((r) => r.message.join("") === "dm"));
  } finally {
    await reset();
  }
});

Deno.test("HTTP /api: never leaks DM content, whatever the room path (memory and SQLite stores)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hubbub-abuse-api-" });
  try {
    for (const store of [{ kind: "memory" } as const, { kind: "sqlite", path: `${dir}/chat.db` } as const]) {
      const marker = `PRIVATE-${crypto.randomUUID()}`;
      await using server = serve({ store, presenceIntervalMs: 20 });
      const { tcp, http } = server;
      const base = `http://${http!.hostname}:${http!.port}`;
      await using alice = await LineClient.login(tcp!, "alice");
      await using bob = await WsClient.open(http!, "/ws");
      bob.send({ Action: "username", Payload: { Username: "bob" } });
      await using carol = await WsClient.open(http!, "/ws");
      carol.send({ action: "username", username: "carol", message: "", to: "" });
      await eventually(() => server.hub.members("lobby").members.length === 3, "three in the lobby");
      await alice.send(`DM bob ${marker} a2b`);
      await bob.expectJson({ Action: "private", Payload: { Message: `${marker} a2b` } });
      bob.send({ Action: "private", Payload: { To: "alice", Message: `${marker} b2a` } });
      await alice.expect(`DM bob ${marker} b2a`);
      carol.send({ action: "private", username: "carol", message: `${marker} c2a`, to: "alice" });
      await alice.expect(`DM carol ${marker} c2a`);
      await alice.send("a public line");
      await bob.expectJson({ Action: "broadcast", Payload: { Message: "a public line" } });

      const paths = [
        "/api/rooms",
        "/api/rooms/lobby/messages",
        "/api/rooms/lobby/messages?limit=500",
        "/api/rooms/lobby/members",
        ...[
          "alice",
          "bob",
          "@alice",
          "@bob",
          "alice%00bob",
          "alice%2Cbob",
          "bob%00alice",
          "dm",
          "directs",
          "%40alice",
        ]
          .flatMap((room) => [`/api/rooms/${room}/messages`, `/api/rooms/${room}/members`]),
        "/metrics",
        "/healthz",
        "/readyz",
      ];
      for (const path of paths) {
        const response = await fetch(base + path);
        const body = await response.text();
        assert.ok(!body.includes(marker), `${store.kind}: ${path} leaks a DM (${response.status})`);
      }
      const lobby = await (await fetch(`${base}/api/rooms/lobby/messages`)).json();
      assert.deepEqual(lobby.messages.map((m: { Message: string }) => m.Message), ["a public line"]);

      // Over the WebSocket, DM history is only ever one's own: carol asking for alice's gets her own pair.
      carol.send({ Action: "history", Payload: { With: "bob" } });
      const carolHistory = await carol.expectJson({ Action: "history" });
      assert.ok(!JSON.stringify(carolHistory).includes(marker), "carol reads alice and bob's DMs");
      bob.send({ Action: "history", Payload: { With: "alice" } });
      const bobHistory = await bob.expectJson({ Action: "history", Payload: { With: "alice" } });
      assert.deepEqual(
        (bobHistory.Payload as { Messages: { Message: string }[] }).Messages.map((m) => m.Message),
        [`${marker} a2b`, `${marker} b2a`],
      );
      await assertHealthy(server);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
