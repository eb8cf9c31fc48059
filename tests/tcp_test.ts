/** TCP door: both dialects, and a line dialect of a test's own, over real sockets on 127.0.0.1 port 0. */

import assert from "node:assert/strict";
import { Hub } from "../src/hub/hub.ts";
import { ConnectionGate } from "../src/hub/limits.ts";
import { MemoryStore } from "../src/store/memory.ts";
import type { LineDialect } from "../src/net/lines/dialect.ts";
import { line } from "../src/net/lines/framer.ts";
import { serveLines } from "../src/net/lines/door.ts";
import { delay, eventually, hubOptions, LineClient, roomHistory, serve } from "./_helpers.ts";

Deno.test("TCP: two command clients chat, DM, list, switch rooms; a third room stays private", async () => {
  await using server = serve({ http: null });
  const addr = server.tcp!;
  await using alice = await LineClient.login(addr, "alice");
  await using bob = await LineClient.login(addr, "bob");
  await alice.expect("INFO bob joined");

  await alice.send("JOIN dev");
  await alice.expect("OK");
  await bob.expect("INFO alice left");
  await bob.send("/join Dev");
  await bob.expect("OK");
  await alice.expect("INFO bob joined");

  await using carol = await LineClient.login(addr, "carol");
  await carol.send("JOIN ops");
  await carol.expect("OK");

  await alice.send("hello dev");
  await bob.expect("MSG alice hello dev");
  await bob.send("MSG LOGIN is a command word");
  await alice.expect("MSG bob LOGIN is a command word");
  await bob.send("/say who said that?");
  await alice.expect("MSG bob who said that?");

  await alice.send("DM bob psst, private");
  await bob.expect("DM alice psst, private");
  await bob.send("dm ALICE back at you");
  await alice.expect("DM bob back at you");

  await alice.send("WHO");
  assert.equal(await alice.expect(/^USER /), "USER alice");
  assert.equal(await alice.expect(/^USER |^OK$/), "USER bob");
  await alice.expect("OK");

  await carol.send("ROOMS");
  const rooms: string[] = [];
  for (
    let line = await carol.expect(/^ROOM |^OK$/);
    line !== "OK";
    line = await carol.expect(/^ROOM |^OK$/)
  ) {
    rooms.push(line);
  }
  assert.deepEqual(rooms, ["ROOM dev 2", "ROOM ops 1"]);

  await carol.send("PING");
  await carol.expect("PONG");
  // Carol heard nothing of dev's conversation nor the DMs.
  assert.ok(!carol.lines.some((l) => l.startsWith("MSG") || l.startsWith("DM")), carol.lines.join("\n"));
  // The sender never hears its own message.
  assert.ok(!alice.lines.includes("MSG alice hello dev"));
});

Deno.test("TCP LOGIN rules: taken names (any case), bad names, before-login commands, double login", async () => {
  await using server = serve({ http: null });
  await using alice = await LineClient.login(server.tcp!, "alice");
  await using other = await LineClient.connect(server.tcp!);
  await other.send("MSG hello");
  await other.expect("ERR expected 'LOGIN <username>'");
  await other.send("hello");
  await other.expect("ERR expected 'LOGIN <username>'");
  await other.send("LOGIN");
  await other.expect("ERR expected 'LOGIN <username>'");
  await other.send("LOGIN ALICE");
  await other.expect("ERR username-taken");
  await other.send("LOGIN Аlice"); // Cyrillic А
  await other.expect("ERR username-taken");
  await other.send("LOGIN two words");
  await other.expect("ERR invalid-username");
  await other.send("LOGIN bad\u0007bell");
  await other.expect("ERR invalid-username");
  await other.send("LOGIN " + "x".repeat(33));
  await other.expect("ERR invalid-username");
  await other.send("LOGIN admin");
  await other.expect("ERR invalid-username");
  await other.send("/frobnicate");
  await other.expect("ERR unknown-cmd");
  await other.send("LOGIN bob");
  await other.expect("OK");
  await other.send("LOGIN bob2");
  await other.expect("ERR already-logged-in");
  await alice.expect("INFO bob joined");
});

Deno.test("TCP: usage errors, HELP, unknown commands and invalid rooms answer in the dialect", async () => {
  await using server = serve({ http: null });
  await using alice = await LineClient.login(server.tcp!, "alice");
  for (
    const [line, want] of [
      ["MSG", "ERR usage: MSG <text>"],
      ["DM", "ERR usage: DM <username> <text>"],
      ["DM bob", "ERR usage: DM <username> <text>"],
      ["DM nobody hi", "ERR user-not-found"],
      ["JOIN", "ERR usage: JOIN <room>"],
      ["JOIN bad/room", "ERR invalid-room"],
      ["/nope", "ERR unknown-cmd"],
      ["   /PiNg   ", "PONG"],
    ] as const
  ) {
    await alice.send(line);
    assert.equal(await alice.expect(/^(ERR|PONG)/), want, line);
  }
  await alice.send("HELP");
  await alice.expect(/^INFO .*LOGIN/);
});

Deno.test("TCP: leave and disconnect notices; the room disappears when empty", async () => {
  await using server = serve({ http: null });
  const addr = server.tcp!;
  await using alice = await LineClient.login(addr, "alice");
  const bob = await LineClient.login(addr, "bob");
  await alice.send("JOIN dev");
  await alice.expect("OK");
  await bob.send("JOIN dev");
  await bob.expect("OK");
  await alice.expect("INFO bob joined");
  await bob.send("LEAVE");
  await bob.expect("OK");
  await alice.expect("INFO bob left");
  await bob.send("JOIN dev");
  await bob.expect("OK");
  await alice.expect("INFO bob joined");
  await bob.close();
  await alice.expect("INFO bob disconnected");
  assert.deepEqual(server.hub.rooms().map((r) => r.name), ["dev"]);
  await alice.send("QUIT");
  await alice.expect("INFO bye");
  await alice.closedByServer();
  await eventually(() => server.hub.rooms().length === 0, "every room is gone");
});

Deno.test("TCP MaChat: handshake clients share a room with command clients", async () => {
  await using server = serve({ http: null });
  const addr = server.tcp!;
  await using alice = await LineClient.login(addr, "alice");
  await alice.send("JOIN dev");
  await alice.expect("OK");

  await using ma = await LineClient.connect(addr);
  // MaChat's client sends the handshake with no newline, and may send a line in the same write.
  await ma.send(new TextEncoder().encode('  {"name":"mara","room":"dev"}hello from machat\n'));
  await alice.expect("INFO mara joined");
  await alice.expect("MSG mara hello from machat");
  await ma.expect("mara:hello from machat");
  await alice.send("hi mara");
  await ma.expect("alice:hi mara");
  await alice.send("DM mara secret");
  await ma.expect("[DM] alice: secret");

  // Name taken: MaChat cannot show an error, so it gets a free variant and a notice.
  await using ma2 = await LineClient.connect(addr);
  await ma2.send('{"name":"ALICE","room":"dev"}');
  await ma2.expect("INFO your name is ALICE-2 (ALICE is taken)");
  await ma2.send("second line\r\n");
  await alice.expect("MSG ALICE-2 second line");
  await ma.expect("ALICE-2:second line");

  await ma.close();
  await alice.expect("INFO mara disconnected");
  await ma2.expect("INFO mara left");
});

Deno.test("TCP MaChat: bad handshakes are refused and closed", async () => {
  await using server = serve({ http: null });
  for (
    const bad of [
      '{"name":"x"}',
      '{"name":"a b","room":"dev"}',
      '{"name":1,"room":"dev"}',
      "{not json}",
      '{"name":"x","room":"a/b"}',
    ]
  ) {
    await using ma = await LineClient.connect(server.tcp!);
    await ma.send(bad);
    await ma.expect('ERR bad-handshake: expected {"name":"...","room":"..."}');
    await ma.closedByServer();
  }
  await using ok = await LineClient.login(server.tcp!, "still-ok");
  await ok.send("PING");
  await ok.expect("PONG");
});

Deno.test("TCP: bad input: long lines, invalid UTF-8, mid-line disconnects; others unaffected", async () => {
  await using server = serve({ http: null, maxLineBytes: 1024 });
  const addr = server.tcp!;
  await using alice = await LineClient.login(addr, "alice");
  await using bob = await LineClient.login(addr, "bob");

  await bob.send("x".repeat(5000));
  await bob.expect("ERR line-too-long");
  await bob.send("y".repeat(1024));
  await alice.expect("MSG bob " + "y".repeat(1024));

  await bob.send(new Uint8Array([0x68, 0x69, 0xff, 0xfe, 0x0a]));
  await bob.expect("ERR invalid-utf8");
  // A multi-byte character split across two writes is fine.
  const snow = new TextEncoder().encode("snow ☃\n");
  await bob.send(snow.subarray(0, 7));
  await delay(20);
  await bob.send(snow.subarray(7));
  await alice.expect("MSG bob snow ☃");

  const carol = await LineClient.login(addr, "carol");
  await carol.send(new TextEncoder().encode("half a li"));
  await carol.close();
  await alice.expect("INFO carol joined");
  await alice.expect("INFO carol disconnected");
  await bob.send("still here");
  await alice.expect("MSG bob still here");
  // Only a terminated line is a message: the half line died with its connection.
  assert.ok(!alice.lines.some((l) => l.includes("half a li")));
});

Deno.test("TCP: a reader that never reads is dropped by its queue bound; others keep chatting", async () => {
  await using server = serve({ http: null, maxQueueBytes: 64 * 1024 });
  const addr = server.tcp!;
  // The stalled client: connects, logs in, then never reads again.
  const stalled = await Deno.connect({ hostname: addr.hostname, port: addr.port });
  await stalled.write(new TextEncoder().encode("LOGIN stalled\n"));
  await using alice = await LineClient.login(addr, "alice");
  await using bob = await LineClient.login(addr, "bob");
  await eventually(() => server.hub.members("lobby").members.length === 3, "three in the lobby");

  const line = "z".repeat(4000);
  // Enough to fill the kernel's socket buffers and then the 64 KiB queue many times over.
  for (let i = 0; i < 3000 && server.hub.online("stalled"); i++) {
    await alice.send(`${i} ${line}`);
    if (i % 50 === 0) await bob.expect((l) => l.startsWith(`MSG alice ${i} `));
  }
  await eventually(() => !server.hub.online("stalled"), "the stalled reader is dropped");
  // The loop above may already have consumed the notice: look at everything bob received.
  await eventually(() => bob.lines.includes("INFO stalled disconnected"), "bob hears the drop");
  await alice.send("after the drop");
  await bob.expect("MSG alice after the drop");
  stalled.close();
});

Deno.test("TCP: idle connections get the inactivity notice; silent ones hit the login deadline", async () => {
  await using server = serve({ http: null, idleTimeoutMs: 300, loginTimeoutMs: 300 });
  await using idle = await LineClient.login(server.tcp!, "sleepy");
  await idle.expect("INFO disconnected due to inactivity", 3000);
  await idle.closedByServer();
  await using silent = await LineClient.connect(server.tcp!);
  await silent.expect("ERR login-timeout", 3000);
  await silent.closedByServer();
});

Deno.test("TCP HISTORY returns recent messages of the room", async () => {
  await using server = serve({ http: null });
  await using alice = await LineClient.login(server.tcp!, "alice");
  for (let i = 1; i <= 3; i++) await alice.send(`message ${i}`);
  await eventually(
    async () => (await roomHistory(server.hub, "lobby", { limit: 10 })).messages.length === 3,
    "stored",
  );
  await alice.send("HISTORY 2");
  assert.match(
    await alice.expect(/^HIST /),
    /^HIST 2 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z alice message 2$/,
  );
  assert.match(await alice.expect(/^HIST /), /^HIST 3 .* alice message 3$/);
  await alice.expect("OK");
  await alice.send("HISTORY SINCE 1");
  assert.match(await alice.expect(/^HIST /), /^HIST 2 /);
  assert.match(await alice.expect(/^HIST /), /^HIST 3 /);
  await alice.expect("OK");
});

/** A line dialect of the test's own, in its own words: what a new door (IRC) plugs into the listener. */
function shoutDialect(calls: string[]): LineDialect {
  return {
    codec: {
      name: "shout",
      echo: new Set(["message"]),
      encode: (e) => e.kind === "message" ? line(`${e.message.from}> ${e.message.text.toUpperCase()}`) : null,
    },
    open(connection) {
      calls.push("open");
      connection.session.send("WHO ARE YOU?");
    },
    async line(connection, text) {
      const { hub, client, session } = connection;
      if (client.name !== null) {
        return connection.track(hub.say(client, text), (code) => session.send(`NO ${code}`));
      }
      const claimed = await hub.claim(client, text);
      if (!claimed.ok) return session.send(`NO ${claimed.code}`);
      hub.join(client, "yard");
      session.send(`HI ${text}`);
    },
    refused: (connection, why) => connection.session.send(`NO ${why}`),
    limited: (connection) => connection.session.send("SLOW"),
    farewell: (connection, reason) => connection.session.send(`BYE ${reason}`),
    refusal: (reason) => `FULL ${reason}`,
    close: () => calls.push("close"),
    quiet(connection) {
      calls.push("quiet");
      connection.session.send("STILL THERE?");
    },
  };
}

Deno.test("serveLines: a new line dialect plugs in with its own words, line length, rate and deadlines", async () => {
  const hub = new Hub(hubOptions(new MemoryStore(), { presenceIntervalMs: 0 }));
  const calls: string[] = [];
  const controller = new AbortController();
  const door = serveLines({
    hub,
    dialects: { fallback: shoutDialect(calls) },
    door: "shout",
    hostname: "127.0.0.1",
    port: 0,
    maxLineBytes: 16,
    maxQueueBytes: 1 << 20,
    idleTimeoutMs: 1000,
    loginTimeoutMs: 1500,
    signal: controller.signal,
    gate: new ConnectionGate({ maxConnections: 2, maxPerIp: 0 }),
    rate: { rate: 20, burst: 2 },
  });
  try {
    // A port of one dialect has nothing to sniff: the dialect opens at accept and may speak first.
    await using alice = await LineClient.connect(door.addr);
    await alice.expect("WHO ARE YOU?");
    await using silent = await LineClient.connect(door.addr);
    await silent.expect("WHO ARE YOU?");
    await using third = await LineClient.connect(door.addr);
    await third.expect("FULL too-many-connections");
    await third.closedByServer();

    await alice.send("x".repeat(17));
    await alice.expect("NO too-long");
    await alice.send("alice");
    await alice.expect("HI alice");
    // Without a sniffed dialect, `{` is just the start of a line; five at once meet the rate limit, told once.
    await alice.send("{a}\n{b}\n{c}\n{d}\n{e}\n");
    for (const letter of "ABCDE") await alice.expect(`alice> {${letter}}`);
    assert.equal(alice.lines.filter((l) => l === "SLOW").length, 1, JSON.stringify(alice.lines));

    await silent.expect("BYE login-timeout", 3000);
    await silent.closedByServer();
    // Quiet for half the idle timeout: the dialect may ask (IRC's PING), once per quiet spell; then idle.
    await alice.expect("STILL THERE?", 3000);
    await alice.expect("BYE idle", 3000);
    await alice.closedByServer();
    assert.equal(alice.lines.filter((l) => l === "STILL THERE?").length, 1);
    assert.ok(!silent.lines.includes("STILL THERE?"), "a connection still owing its login is not asked");
    await eventually(() => calls.filter((c) => c === "close").length === 2, "the dialect hears both closes");
    assert.equal(calls.filter((c) => c === "open").length, 2, "the refused connection never opened");
  } finally {
    controller.abort();
    hub.shutdown();
    await door.finished;
  }
});
