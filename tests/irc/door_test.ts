/**
 * The IRC door over real sockets, spoken to line by line as a bot or a person with ncat would, against an
 * in-process server with TCP command and `/ws` clients in the same rooms: registration, nick rules, bad input,
 * rooms, messages and DMs both ways, CTCP ACTION, history, echo, the heartbeat, refusals, metrics.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { delay, eventually, LineClient, roomHistory, serve, WsClient } from "../_helpers.ts";
import { anyText, params, sharpText, SOCKET_RUNS } from "../fuzz/_fuzz.ts";

const named = async (addr: Deno.NetAddr, name: string, room?: string): Promise<WsClient> => {
  const ws = await WsClient.open(addr, "/ws");
  ws.send({ Action: "username", Payload: { Username: name } });
  await ws.expectJson({ Action: "userlist" });
  if (room !== undefined) {
    ws.send({ Action: "join", Payload: { Room: room } });
    await ws.expectJson({ Action: "userlist", Payload: { Room: room } });
  }
  return ws;
};

Deno.test("IRC registration: CAP LS/REQ/END, PASS ignored, NICK and USER, then 001-005 and the MOTD", async () => {
  await using server = serve();
  await using irc = await LineClient.connect(server.irc!, { crlf: true });
  await irc.send("CAP LS 302");
  const ls = await irc.expect(/^:hubbub CAP \* LS :/);
  for (const cap of ["server-time", "message-tags", "echo-message", "batch", "draft/chathistory"]) {
    assert.ok(ls.split(" ").includes(cap) || ls.endsWith(`:${cap}`) || ls.includes(` ${cap} `), cap);
  }
  await irc.send("CAP REQ :server-time sasl");
  await irc.expect(":hubbub CAP * NAK :server-time sasl");
  await irc.send("PASS secret\r\nNICK alice\r\nUSER alice 0 * :Alice Liddell");
  await delay(100);
  assert.ok(!irc.unread().some((l) => / 001 /.test(l)), "registration waits for CAP END");
  await irc.send("CAP REQ :server-time\r\nCAP END");
  await irc.expect(":hubbub CAP * ACK :server-time");
  await irc.expect(":hubbub 001 alice :Welcome to hubbub, alice");
  for (const code of ["002", "003", "004"]) await irc.expect(new RegExp(`^:hubbub ${code} alice `));
  const isupport = (await irc.expect(/^:hubbub 005 alice /)).split(" ");
  for (
    const token of [
      "CASEMAPPING=ascii",
      "CHANTYPES=#",
      "NICKLEN=32",
      "CHANNELLEN=65",
      "PREFIX=",
      "CHATHISTORY=100",
    ]
  ) {
    assert.ok(isupport.includes(token), token);
  }
  await irc.expect(/^:hubbub 375 alice /);
  await irc.expect(/^:hubbub 372 alice :- Rooms are channels/);
  await irc.expect(/^:hubbub 376 alice /);
  await irc.send("CAP LIST");
  await irc.expect(":hubbub CAP alice LIST :server-time");
  await irc.send("USER again 0 * :x");
  await irc.expect(":hubbub 462 alice :You may not reregister");
});

Deno.test("IRC nicks: taken in another door is 433, not a hubbub name is 432, then another nick registers", async () => {
  await using server = serve();
  await using tcp = await LineClient.login(server.tcp!, "bob");
  await using ws = await named(server.http!, "carol");
  await using irc = await LineClient.connect(server.irc!, { crlf: true });
  await irc.send("NICK BOB\r\nUSER x 0 * :x");
  await irc.expect(":hubbub 433 * BOB :Nickname is already in use");
  await irc.send("NICK cаrol");
  await irc.expect(/^:hubbub 433 \* cаrol :/, 5000);
  await irc.send("NICK a[b]");
  await irc.expect(/^:hubbub 432 \* a\[b\] :Erroneous nickname: only letters/);
  await irc.send("NICK admin");
  await irc.expect(/^:hubbub 432 \* admin :Erroneous nickname: reserved/);
  await irc.send("NICK " + "x".repeat(33));
  await irc.expect(/^:hubbub 432 \* x+ :Erroneous nickname: longer than 32/);
  await irc.send("NICK dave");
  await irc.expect(/^:hubbub 001 dave /);
  // Now taken for everyone else, in every door.
  await tcp.send("DM dave hi");
  await irc.expect(":bob!bob@hubbub PRIVMSG dave :hi");
  await using other = await LineClient.connect(server.tcp!);
  await other.send("LOGIN Dave");
  await other.expect("ERR username-taken");
  // A change of nick after registration: the client is told, the TCP door sees the new name.
  await irc.send("NICK erin");
  await irc.expect(":dave!dave@hubbub NICK erin");
  await tcp.send("DM erin still you?");
  await irc.expect(":bob!bob@hubbub PRIVMSG erin :still you?");
  await irc.send("NICK bob");
  await irc.expect(":hubbub 433 erin bob :Nickname is already in use");
  await ws.close();
});

Deno.test("IRC bad input: 417 past 512 bytes (or 4096 of tags), 421, 451 before registration; nothing half-delivered", async () => {
  await using server = serve();
  await using tcp = await LineClient.login(server.tcp!, "bob");
  await using irc = await LineClient.connect(server.irc!, { crlf: true });
  await irc.send("JOIN #lobby");
  await irc.expect(":hubbub 451 * :You have not registered");
  await irc.send("FROB x");
  await irc.expect(":hubbub 421 * FROB :Unknown command");
  await irc.send("NICK alice\r\nUSER alice 0 * :Alice");
  await irc.expect(/^:hubbub 376 alice /);
  await irc.send("JOIN #lobby");
  await irc.expect(/^:hubbub 366 alice #lobby /);
  const head = "PRIVMSG #lobby :";
  await irc.send(head + "x".repeat(510 - head.length + 1));
  await irc.expect(":hubbub 417 alice :Input line was too long");
  await irc.send(head + "y".repeat(20_000));
  await irc.expect(":hubbub 417 alice :Input line was too long");
  await irc.send("@" + "t".repeat(4096) + " " + head + "z");
  await irc.expect(":hubbub 417 alice :Input line was too long");
  await irc.send(new Uint8Array([...new TextEncoder().encode(head), 0xff, 0xfe, 0x0d, 0x0a]));
  await irc.expect(/^:hubbub FAIL \* INVALID_UTF8 /);
  await irc.send("FROB");
  await irc.expect(":hubbub 421 alice FROB :Unknown command");
  await irc.send("PRIVMSG\r\nPRIVMSG #lobby\r\nJOIN\r\nPRIVMSG #nowhere :x\r\nPRIVMSG nobody :x");
  await irc.expect(":hubbub 411 alice :No recipient given (PRIVMSG)");
  await irc.expect(":hubbub 412 alice :No text to send");
  await irc.expect(":hubbub 461 alice JOIN :Not enough parameters");
  await irc.expect(/^:hubbub 404 alice #nowhere :Cannot send to #nowhere: Not in room/);
  await irc.expect(":hubbub 401 alice nobody :No such nick");
  // The connection stays, and only the good line is delivered: nothing of the refused ones.
  await irc.send(head + "fine");
  await tcp.expect("MSG alice fine");
  assert.deepEqual(tcp.unread().filter((l) => l.startsWith("MSG")), []);
  assert.ok(!irc.closed);
});

Deno.test("IRC rooms: #lobby with a TCP client and a /ws client, messages and ACTION both ways, JOIN/PART/QUIT", async () => {
  await using server = serve({ presenceIntervalMs: 20 });
  await using ws = await named(server.http!, "wendy");
  await using irc = await LineClient.irc(server.irc!, "ivan");
  await irc.send("JOIN #lobby");
  await irc.expect(":ivan!ivan@hubbub JOIN #lobby");
  const names = await irc.expect(/^:hubbub 353 ivan = #lobby :/);
  assert.deepEqual(names.split(":").at(-1)!.split(" ").sort(), ["ivan", "wendy"]);
  await irc.expect(":hubbub 366 ivan #lobby :End of /NAMES list.");
  await using tcp = await LineClient.login(server.tcp!, "tom");
  await irc.expect(":tom!tom@hubbub JOIN #lobby");

  await irc.send("PRIVMSG #lobby :hello from \x02irc\x02");
  await tcp.expect("MSG ivan hello from irc");
  await ws.expectJson({ Action: "broadcast", Payload: { Message: "hello from irc", Username: "ivan" } });
  await tcp.send("hello from tcp");
  await irc.expect(":tom!tom@hubbub PRIVMSG #lobby :hello from tcp");
  ws.send({ Action: "broadcast", Payload: { Message: "two\nlines" } });
  await irc.expect(":wendy!wendy@hubbub PRIVMSG #lobby :two");
  await irc.expect(":wendy!wendy@hubbub PRIVMSG #lobby :lines");

  await irc.send("PRIVMSG #lobby :\x01ACTION waves\x01");
  await tcp.expect("MSG ivan * ivan waves");
  await ws.expectJson({ Action: "broadcast", Payload: { Message: "* ivan waves" } });
  await tcp.send("* tom nods");
  await irc.expect(":tom!tom@hubbub PRIVMSG #lobby :\x01ACTION nods\x01");

  await tcp.send("JOIN dev");
  await irc.expect(":tom!tom@hubbub PART #lobby");
  ws.send({ Action: "join", Payload: { Room: "#dev" } });
  await irc.send("JOIN ##dev");
  await irc.expect(":ivan!ivan@hubbub JOIN ##dev");
  await irc.expect(/^:hubbub 353 ivan = ##dev :/);
  ws.send({ Action: "broadcast", Payload: { Message: "in hash dev", Room: "#dev" } });
  await irc.expect(":wendy!wendy@hubbub PRIVMSG ##dev :in hash dev");
  await ws.close();
  await irc.expect(":wendy!wendy@hubbub QUIT :disconnected");
  await irc.send("PART ##dev :bye now");
  await irc.expect(":ivan!ivan@hubbub PART ##dev :bye now");
  await irc.send("PART ##dev");
  await irc.expect(":hubbub 442 ivan ##dev :You're not on that channel");
});

Deno.test("IRC DMs: PRIVMSG to a nick both ways with TCP and /ws; NOTICE is delivered and never answered", async () => {
  await using server = serve();
  await using tcp = await LineClient.login(server.tcp!, "tom");
  await using ws = await named(server.http!, "wendy");
  await using irc = await LineClient.irc(server.irc!, "ivan");
  await irc.send("PRIVMSG tom :psst tom");
  await tcp.expect("DM ivan psst tom");
  await tcp.send("DM ivan psst back");
  await irc.expect(":tom!tom@hubbub PRIVMSG ivan :psst back");
  await irc.send("NOTICE wendy :a notice");
  await ws.expectJson({ Action: "private", Payload: { Message: "a notice", Username: "ivan", To: "wendy" } });
  ws.send({ Action: "private", Payload: { To: "ivan", Message: "hi ivan" } });
  await irc.expect(":wendy!wendy@hubbub PRIVMSG ivan :hi ivan");
  await irc.send("NOTICE nobody :lost\r\nPING :after");
  await irc.expect(":hubbub PONG hubbub :after");
  assert.ok(!irc.lines.some((l) => / 401 /.test(l)), "no error for a NOTICE");
});

Deno.test("IRC history: CHATHISTORY LATEST/BEFORE/AFTER by msgid and timestamp, DMs, the batch on join", async () => {
  await using server = serve({ historyOnJoin: 2 });
  await using tcp = await LineClient.login(server.tcp!, "tom");
  for (let i = 1; i <= 5; i++) await tcp.send(`m${i}`);
  await tcp.send("DM tom self");
  await eventually(
    async () => (await roomHistory(server.hub, "lobby", { limit: 10 })).messages.length === 5,
    "5 stored",
  );
  const caps = ["batch", "draft/chathistory", "server-time", "message-tags"];
  await using irc = await LineClient.irc(server.irc!, "ivan", caps);
  await irc.send("JOIN #lobby");
  await irc.expect(/^:hubbub 366 /);
  const open = await irc.expect(/^:hubbub BATCH \+\S+ chathistory #lobby$/);
  const id = open.split(" ")[2]!.slice(1);
  assert.match(
    await irc.expect(/PRIVMSG/),
    new RegExp(`^@batch=${id};time=\\S+;msgid=4 :tom!tom@hubbub PRIVMSG #lobby :m4$`),
  );
  assert.match(await irc.expect(/PRIVMSG/), /msgid=5 .* :m5$/);
  await irc.expect(`:hubbub BATCH -${id}`);
  // Live messages after the replay, once.
  await tcp.send("m6");
  assert.match(await irc.expect(/PRIVMSG/), /msgid=6 .* :m6$/);

  const texts = async (request: string) => {
    await irc.send(`CHATHISTORY ${request}`);
    await irc.expect(/^:hubbub BATCH \+/);
    const lines: string[] = [];
    for (
      let line = await irc.expect(() => true);
      !line.startsWith(":hubbub BATCH -");
      line = await irc.expect(() => true)
    ) {
      lines.push(line.split(" ").at(-1)!.replace(/^:/, ""));
    }
    return lines;
  };
  assert.deepEqual(await texts("LATEST #lobby * 3"), ["m4", "m5", "m6"]);
  assert.deepEqual(await texts("BEFORE #lobby msgid=3 10"), ["m1", "m2"]);
  assert.deepEqual(await texts("AFTER #lobby msgid=4 1"), ["m5"]);
  assert.deepEqual(await texts("LATEST #lobby msgid=5 10"), ["m6"]);
  // Messages may share a millisecond: what a time reference picks is worked out from the stored times.
  const stored = (await roomHistory(server.hub, "lobby", { limit: 10 })).messages;
  const t = stored[2]!.time;
  const at = (time: number) => new Date(time).toISOString();
  assert.deepEqual(
    await texts(`AFTER #lobby timestamp=${at(t)} 2`),
    stored.filter((m) => m.time > t).slice(0, 2).map((m) => m.text),
  );
  assert.deepEqual(
    await texts(`BEFORE #lobby timestamp=${at(t + 1)} 2`),
    stored.filter((m) => m.time < t + 1).slice(-2).map((m) => m.text),
  );
  assert.deepEqual(
    await texts(`LATEST #lobby timestamp=${at(t - 1)} 2`),
    stored.filter((m) => m.time > t - 1).slice(-2).map((m) => m.text),
  );
  await irc.send("CHATHISTORY AROUND #lobby * 1");
  await irc.expect(/^:hubbub FAIL CHATHISTORY UNKNOWN_COMMAND AROUND /);
  // DMs: only one's own, and only since one's claim began.
  await tcp.send("DM ivan for ivan");
  await irc.expect(/PRIVMSG ivan :for ivan$/);
  assert.deepEqual(await texts("LATEST tom * 10"), ["ivan"]);

  // A client without the capabilities gets no replay on join.
  await using plain = await LineClient.irc(server.irc!, "paul");
  await plain.send("JOIN #lobby\r\nPING :done");
  await plain.expect(":hubbub PONG hubbub :done");
  assert.ok(!plain.lines.some((l) => /^(@\S+ )?:\S+ (PRIVMSG|BATCH) /.test(l)), plain.lines.join("\n"));
});

Deno.test("IRC echo-message: the sender gets its own message and DM back, with its tags", async () => {
  await using server = serve();
  await using tcp = await LineClient.login(server.tcp!, "tom");
  await using irc = await LineClient.irc(server.irc!, "ivan", ["echo-message", "server-time"]);
  await irc.send("JOIN #lobby\r\nPRIVMSG #lobby :echoed\r\nPRIVMSG tom :dm echoed");
  await irc.expect(/^@time=\S+ :ivan!ivan@hubbub PRIVMSG #lobby :echoed$/);
  await irc.expect(/^@time=\S+ :ivan!ivan@hubbub PRIVMSG tom :dm echoed$/);
  await tcp.expect("DM ivan dm echoed");
});

Deno.test("IRC queries: NAMES, WHO, WHOIS, LIST, TOPIC, MODE, AWAY, ISON, USERHOST answer as clients expect", async () => {
  await using server = serve();
  await using tcp = await LineClient.login(server.tcp!, "tom");
  await using irc = await LineClient.irc(server.irc!, "ivan");
  await irc.send("JOIN #lobby");
  await irc.expect(/^:hubbub 366 /);
  await irc.send("NAMES #lobby");
  assert.match(await irc.expect(/ 353 /), /^:hubbub 353 ivan = #lobby :(ivan tom|tom ivan)$/);
  await irc.send("WHO #lobby");
  await irc.expect(":hubbub 352 ivan #lobby ivan hubbub hubbub ivan H :0 ivan");
  await irc.expect(":hubbub 352 ivan #lobby tom hubbub hubbub tom H :0 tom");
  await irc.expect(":hubbub 315 ivan #lobby :End of WHO list.");
  await irc.send("WHOIS tom");
  await irc.expect(":hubbub 311 ivan tom tom hubbub * :tom");
  await irc.expect(":hubbub 318 ivan tom :End of /WHOIS list.");
  await irc.send("WHOIS nobody");
  await irc.expect(":hubbub 401 ivan nobody :No such nick");
  await irc.send("LIST");
  await irc.expect(":hubbub 322 ivan #lobby 2 :");
  await irc.expect(":hubbub 323 ivan :End of /LIST");
  await irc.send("TOPIC #lobby\r\nTOPIC #lobby :new topic");
  await irc.expect(":hubbub 331 ivan #lobby :No topic is set");
  await irc.expect(/^:hubbub 482 ivan #lobby :/);
  await irc.send("MODE #lobby\r\nMODE #lobby b\r\nMODE #lobby +o tom\r\nMODE ivan +i\r\nMODE tom");
  await irc.expect(":hubbub 324 ivan #lobby :+");
  await irc.expect(/^:hubbub 329 ivan #lobby :\d+$/);
  await irc.expect(":hubbub 368 ivan #lobby :End of channel ban list");
  await irc.expect(/^:hubbub 482 ivan #lobby :/);
  await irc.expect(":hubbub 221 ivan :+");
  await irc.expect(/^:hubbub 502 ivan :/);
  await irc.send("AWAY :lunch\r\nAWAY\r\nISON tom nobody ivan\r\nUSERHOST tom");
  await irc.expect(/^:hubbub 306 ivan :/);
  await irc.expect(/^:hubbub 305 ivan :/);
  await irc.expect(":hubbub 303 ivan :tom ivan");
  await irc.expect(":hubbub 302 ivan :tom=+tom@hubbub");
  await irc.send("QUIT :gone");
  await irc.expect("ERROR :Closing Link: ivan (Quit: gone)");
  await irc.closedByServer();
  await tcp.expect("INFO ivan disconnected");
});

Deno.test("IRC crowd: joins past the notice rate come as JOIN lines, and never one's own JOIN twice", async () => {
  await using server = serve({ presenceIntervalMs: 50 });
  const clients = await Promise.all(
    Array.from({ length: 25 }, (_, i) => LineClient.irc(server.irc!, `n${i}`)),
  );
  try {
    for (const c of clients) await c.send("JOIN #crowd");
    const first = clients[0]!;
    await eventually(
      () =>
        clients.slice(1).every((c) =>
          first.lines.includes(`:${nickOf(clients, c)}!${nickOf(clients, c)}@hubbub JOIN #crowd`)
        ),
      "n0 sees every JOIN",
    );
    await delay(300);
    clients.forEach((c, i) => {
      const own = c.lines.filter((l) => l === `:n${i}!n${i}@hubbub JOIN #crowd`);
      assert.equal(own.length, 1, `n${i} saw its own JOIN ${own.length} times`);
    });
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
});

function nickOf(clients: readonly LineClient[], client: LineClient): string {
  return `n${clients.indexOf(client)}`;
}

Deno.test("IRC heartbeat: a quiet client is sent PING; answering keeps it, silence closes it with ERROR", async () => {
  await using server = serve({ idleTimeoutMs: 600 });
  await using alive = await LineClient.irc(server.irc!, "alive");
  await using silent = await LineClient.irc(server.irc!, "silent");
  await alive.expect("PING :hubbub", 2000);
  await alive.send("PONG :hubbub");
  await silent.expect("PING :hubbub", 2000);
  await silent.expect("ERROR :Closing Link: silent (Ping timeout)", 2000);
  await silent.closedByServer();
  await alive.expect("PING :hubbub", 2000);
  assert.ok(!alive.closed);
});

Deno.test("IRC limits: over the connection limits the client gets ERROR; registration has a deadline", async () => {
  await using server = serve({ maxConnections: 1, loginTimeoutMs: 300 });
  await using first = await LineClient.connect(server.irc!, { crlf: true });
  await using second = await LineClient.connect(server.irc!, { crlf: true });
  await second.expect("ERROR :Closing Link: * (too-many-connections)");
  await first.expect("ERROR :Closing Link: * (Registration timed out)", 2000);
  await first.closedByServer();
});

Deno.test("IRC metrics: connections are counted under the dialect irc", async () => {
  await using server = serve();
  await using _irc = await LineClient.irc(server.irc!, "ivan");
  const text = await (await fetch(`http://${server.http!.hostname}:${server.http!.port}/metrics`)).text();
  assert.match(text, /hubbub_connections\{dialect="irc"\} 1/);
});

Deno.test("IRC rate limit: over --rate lines wait (fakelag) with one NOTICE, and all of them arrive in order", async () => {
  await using server = serve({ rate: 20, burst: 3 });
  await using tcp = await LineClient.login(server.tcp!, "tom");
  await using irc = await LineClient.irc(server.irc!, "ivan");
  await irc.send("JOIN #lobby");
  await irc.expect(/^:hubbub 366 /);
  const started = performance.now();
  await irc.send(Array.from({ length: 10 }, (_, i) => `PRIVMSG #lobby :line ${i}`).join("\r\n"));
  await irc.expect(":hubbub NOTICE ivan :rate-limited: slow down");
  for (let i = 0; i < 10; i++) await tcp.expect(`MSG ivan line ${i}`);
  // The JOIN, then 10 lines with a burst of 3 (less the JOIN's token) at 20 a second: over 300 ms.
  assert.ok(performance.now() - started > 300, "the lines were slowed down");
  assert.equal(irc.lines.filter((l) => l.includes("rate-limited")).length, 1, "told once per episode");
});

Deno.test("IRC shutdown: every IRC client is told with ERROR before the close", async () => {
  const server = serve();
  const irc = await LineClient.irc(server.irc!, "ivan");
  try {
    await server.shutdown();
    await irc.expect("ERROR :Closing Link: server shutting down");
    await irc.closedByServer();
  } finally {
    await irc.close();
  }
});

Deno.test("IRC door: random lines never crash it; the connection answers a PING after each batch", async () => {
  await using server = serve();
  await using irc = await LineClient.irc(server.irc!, "fuzz");
  let n = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(
        fc.oneof(
          anyText,
          sharpText,
          fc.constantFrom("JOIN #a,#b,0", "PRIVMSG :x", "CAP REQ", "MODE", "CHATHISTORY LATEST"),
        ),
        {
          maxLength: 5,
        },
      ),
      async (lines) => {
        const clean = lines.map((l) => l.replace(/[\r\n]/g, " ").replace(/^\s*QUIT\b/i, "X"));
        await irc.send([...clean, `PING :p${++n}`].join("\r\n"));
        await irc.expect(`:hubbub PONG hubbub :p${n}`);
      },
    ),
    params(SOCKET_RUNS),
  );
  assert.ok(!irc.closed);
});

Deno.test("IRC NAMES: split into lines within 512 bytes; past --list-limit the first names and a NOTICE", async () => {
  await using server = serve({ listLimit: 40 });
  const long = (i: number) => `member_${String(i).padStart(3, "0")}_${"x".repeat(20)}`;
  const members = await Promise.all(
    Array.from({ length: 45 }, (_, i) => LineClient.login(server.tcp!, long(i))),
  );
  try {
    await using irc = await LineClient.irc(server.irc!, "ivan");
    await irc.send("JOIN #lobby");
    await irc.expect(/^:hubbub 366 ivan #lobby /);
    const lines = irc.lines.filter((l) => l.startsWith(":hubbub 353 "));
    assert.ok(lines.length > 1, "split");
    for (const line of lines) assert.ok(new TextEncoder().encode(line).length + 2 <= 512, line);
    const names = lines.flatMap((l) => l.slice(l.indexOf(" :") + 2).split(" "));
    assert.equal(names.length, 40);
    assert.deepEqual(names, [...names].sort(), "the first in sort order");
    await irc.expect(":hubbub NOTICE ivan :#lobby has 46 members; NAMES lists the first 40");
  } finally {
    await Promise.all(members.map((m) => m.close()));
  }
});

Deno.test("IRC QUIT: a member who disconnects from two shared rooms is told once", async () => {
  await using server = serve();
  const ws = await named(server.http!, "wendy", "dev");
  await using irc = await LineClient.irc(server.irc!, "ivan");
  await irc.send("JOIN #lobby,#dev");
  await irc.expect(/^:hubbub 366 ivan #dev /);
  await ws.close();
  await irc.expect(":wendy!wendy@hubbub QUIT :disconnected");
  await irc.send("PING :after");
  await irc.expect(":hubbub PONG hubbub :after");
  assert.equal(irc.lines.filter((l) => l.includes(" QUIT ")).length, 1, irc.lines.slice(-5).join("\n"));
});
