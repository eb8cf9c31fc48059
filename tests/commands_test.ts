/**
 * The TCP command dialect: parsing lines into commands, carrying them out against a real hub (through a line
 * connection without a socket), and rendering hub events as lines.
 */

import assert from "node:assert/strict";
import type { ChatEvent, ChatMessage, DirectMessage } from "../src/model.ts";
import {
  type Command,
  commandCodec,
  commandDialect,
  DEFAULT_HISTORY,
  HELP_LINES,
  MAX_HISTORY,
  parseCommand,
  USAGE,
} from "../src/tcp/commands.ts";
import { line } from "../src/net/lines/framer.ts";
import { oneLine } from "../src/wire/lines.ts";
import { FakeLineConnection } from "./_helpers.ts";

const decoder = new TextDecoder();

function check(input: string, want: Command): void {
  assert.deepEqual(parseCommand(input), want, `parseCommand(${JSON.stringify(input)})`);
}

/** Every spelling of a command word the protocol allows: any case, with or without a leading `/`. */
function spellings(word: string): string[] {
  const lower = word.toLowerCase();
  const upper = word.toUpperCase();
  const mixed = lower.charAt(0).toUpperCase() + lower.slice(1);
  return [lower, upper, mixed, `/${lower}`, `/${upper}`, `/${mixed}`];
}

Deno.test("parseCommand: every argument-less command word, in any case, with or without '/'", () => {
  const words: [string, Command][] = [
    ["ping", { cmd: "ping" }],
    ["leave", { cmd: "leave" }],
    ["rooms", { cmd: "rooms" }],
    ["help", { cmd: "help" }],
    ["quit", { cmd: "quit" }],
    ["who", { cmd: "who", offset: 0 }],
    ["history", { cmd: "history", count: DEFAULT_HISTORY }],
  ];
  for (const [word, want] of words) {
    for (const spelling of spellings(word)) check(spelling, want);
  }
});

Deno.test("parseCommand: LOGIN takes the rest of the line as the name", () => {
  for (const spelling of spellings("login")) check(`${spelling} alice`, { cmd: "login", name: "alice" });
  check("LOGIN    alice   ", { cmd: "login", name: "alice" });
  check("login\talice", { cmd: "login", name: "alice" });
  // A missing name is left for the door to answer with the expected-LOGIN error.
  check("LOGIN", { cmd: "login", name: "" });
  check("/login   ", { cmd: "login", name: "" });
  // Names with spaces are passed on whole and refused by the name rules, not silently truncated.
  check("LOGIN alice smith", { cmd: "login", name: "alice smith" });
});

Deno.test("parseCommand: plain text lines are messages to the current room", () => {
  check("hello", { cmd: "say", text: "hello" });
  check("hello world", { cmd: "say", text: "hello world" });
  check("  padded  text \r", { cmd: "say", text: "padded  text" });
  check("what's up?", { cmd: "say", text: "what's up?" });
  // Words close to commands are not commands.
  check("joining later", { cmd: "say", text: "joining later" });
  check("pinged you", { cmd: "say", text: "pinged you" });
  check("logins are hard", { cmd: "say", text: "logins are hard" });
  // `say` is a command only with the slash.
  check("say hello", { cmd: "say", text: "say hello" });
  check("SAY", { cmd: "say", text: "SAY" });
});

Deno.test("parseCommand: MSG and /say send text, including text that starts with a command word", () => {
  for (const spelling of spellings("msg")) check(`${spelling} hi there`, { cmd: "say", text: "hi there" });
  check("MSG join the room", { cmd: "say", text: "join the room" });
  check("MSG LOGIN is a command word", { cmd: "say", text: "LOGIN is a command word" });
  check("msg /quit", { cmd: "say", text: "/quit" });
  check("MSG   spaced   inside  ", { cmd: "say", text: "spaced   inside" });
  check("/say who said that?", { cmd: "say", text: "who said that?" });
  check("/SAY hi", { cmd: "say", text: "hi" });
  check("/Say   join  now", { cmd: "say", text: "join  now" });
});

Deno.test("parseCommand: MSG and /say without text are usage errors", () => {
  check("MSG", { cmd: "usage", usage: USAGE.msg });
  check("msg    ", { cmd: "usage", usage: USAGE.msg });
  check("/msg", { cmd: "usage", usage: USAGE.msg });
  check("/say", { cmd: "usage", usage: "/say <text>" });
  check("/say   ", { cmd: "usage", usage: "/say <text>" });
  assert.equal(USAGE.msg, "MSG <text>");
});

Deno.test("parseCommand: DM parses a target and the rest of the line", () => {
  for (const spelling of spellings("dm")) {
    check(`${spelling} bob hello there`, { cmd: "dm", to: "bob", text: "hello there" });
  }
  check("DM   bob    hi", { cmd: "dm", to: "bob", text: "hi" });
  check("dm bob\thi", { cmd: "dm", to: "bob", text: "hi" });
  check("DM bob join me in #dev", { cmd: "dm", to: "bob", text: "join me in #dev" });
  check("DM bob  two  spaces  kept", { cmd: "dm", to: "bob", text: "two  spaces  kept" });
});

Deno.test("parseCommand: DM without a target or without text is a usage error", () => {
  const usage: Command = { cmd: "usage", usage: USAGE.dm };
  check("DM", usage);
  check("dm bob", usage);
  check("/dm   bob   ", usage);
  assert.equal(USAGE.dm, "DM <username> <text>");
});

Deno.test("parseCommand: WHO takes an optional numeric offset", () => {
  check("WHO 10", { cmd: "who", offset: 10 });
  check("/who 0", { cmd: "who", offset: 0 });
  check("who   25", { cmd: "who", offset: 25 });
  for (const bad of ["WHO x", "WHO -1", "WHO 1.5", "WHO 1 2", "WHO 1e3"]) {
    check(bad, { cmd: "usage", usage: USAGE.who });
  }
});

Deno.test("parseCommand: JOIN takes exactly one room word", () => {
  for (const spelling of spellings("join")) check(`${spelling} dev`, { cmd: "join", room: "dev" });
  check("JOIN    #Dev  ", { cmd: "join", room: "#Dev" });
  check("/join\tops", { cmd: "join", room: "ops" });
  const usage: Command = { cmd: "usage", usage: USAGE.join };
  check("JOIN", usage);
  check("JOIN my room", usage);
  check("/join a b c", usage);
  check("join dev\tops", usage);
});

Deno.test("parseCommand: HISTORY n is clamped to the maximum; bad counts are usage errors", () => {
  check("HISTORY 5", { cmd: "history", count: 5 });
  check("/history 1", { cmd: "history", count: 1 });
  check("history   42", { cmd: "history", count: 42 });
  check(`HISTORY ${MAX_HISTORY}`, { cmd: "history", count: MAX_HISTORY });
  check(`HISTORY ${MAX_HISTORY + 1}`, { cmd: "history", count: MAX_HISTORY });
  check("HISTORY 999999999999999", { cmd: "history", count: MAX_HISTORY });
  assert.equal(DEFAULT_HISTORY, 20);
  assert.equal(MAX_HISTORY, 500);
  const usage: Command = { cmd: "usage", usage: USAGE.history };
  for (
    const bad of [
      "HISTORY 0",
      "HISTORY -1",
      "HISTORY abc",
      "HISTORY 1.5",
      "HISTORY 5 6",
      "HISTORY 1e2",
      "HISTORY 9999999999999999",
    ]
  ) {
    check(bad, usage);
  }
});

Deno.test("parseCommand: HISTORY SINCE id, in any case; malformed SINCE is a usage error", () => {
  check("HISTORY SINCE 12", { cmd: "history-since", id: 12 });
  check("history since 0", { cmd: "history-since", id: 0 });
  check("/History Since   7", { cmd: "history-since", id: 7 });
  const usage: Command = { cmd: "usage", usage: USAGE.history };
  for (
    const bad of [
      "HISTORY SINCE",
      "HISTORY SINCE abc",
      "HISTORY SINCE -3",
      "HISTORY SINCE 1 2",
      "HISTORY AFTER 3",
    ]
  ) {
    check(bad, usage);
  }
});

Deno.test("parseCommand: a '/' with an unknown word is unknown; without '/' it is text", () => {
  check("/foo", { cmd: "unknown", word: "/foo" });
  check("/foo bar baz", { cmd: "unknown", word: "/foo" });
  check("/NICK bob", { cmd: "unknown", word: "/NICK" });
  check("/", { cmd: "unknown", word: "/" });
  check("//join dev", { cmd: "unknown", word: "//join" });
  check("/me waves", { cmd: "unknown", word: "/me" });
  check("foo bar", { cmd: "say", text: "foo bar" });
});

Deno.test("parseCommand: empty and whitespace-only lines are empty", () => {
  for (const blank of ["", " ", "   ", "\t", "\r", " \t \r"]) check(blank, { cmd: "empty" });
});

Deno.test("parseCommand: odd input: control characters and Unicode spaces", () => {
  // NUL is not whitespace: it is text, or an unknown word after '/'.
  check("\u0000", { cmd: "say", text: "\u0000" });
  check("/\u0000", { cmd: "unknown", word: "/\u0000" });
  // Unicode line and paragraph separators and NBSP are whitespace to trim and to split on.
  check("JOIN \u2028", { cmd: "usage", usage: USAGE.join });
  check("\u00a0PING\u00a0", { cmd: "ping" });
  check("DM\u00a0bob\u00a0hi", { cmd: "dm", to: "bob", text: "hi" });
  check("😀", { cmd: "say", text: "😀" });
  check("/😀", { cmd: "unknown", word: "/😀" });
});

Deno.test("oneLine replaces every kind of line break with a space", () => {
  assert.equal(oneLine("a\nb"), "a b");
  assert.equal(oneLine("a\r\nb"), "a b", "CRLF is one break, one space");
  assert.equal(oneLine("a\rb"), "a b");
  assert.equal(oneLine("a\u2028b\u2029c"), "a b c");
  assert.equal(oneLine("a\n\nb"), "a  b");
  assert.equal(oneLine("no breaks"), "no breaks");
  assert.equal(oneLine(""), "");
  assert.ok(!/[\r\n]/.test(oneLine("MSG x\nINFO forged\r\nDM y")));
});

Deno.test("oneLine replaces every other control character but TAB, and bidi controls, with U+FFFD", () => {
  assert.equal(oneLine("\x1b[1A\x1b[2K\rMSG admin hi\x07"), "\uFFFD[1A\uFFFD[2K MSG admin hi\uFFFD");
  assert.equal(
    oneLine("nul\0 vt\v ff\f del\x7f c1\u009b\u0085"),
    "nul\uFFFD vt\uFFFD ff\uFFFD del\uFFFD c1\uFFFD\uFFFD",
  );
  assert.equal(oneLine("\u202eevil\u202c \u2066x\u2069"), "\uFFFDevil\uFFFD \uFFFDx\uFFFD");
  assert.equal(oneLine("tab\tstays é 日本 😀"), "tab\tstays é 日本 😀");
});

Deno.test("commandCodec: names and notices never carry a control character; message text only loses its breaks", () => {
  const evil = "\x1b[2J\u009b\u202e\0";
  const lines = [
    render({ kind: "dm", message: { ...direct, from: `eve${evil}` } }),
    render({ kind: "join", room: "lobby", name: `eve${evil}`, conn: "c_2" }),
    render({ kind: "presence", room: "lobby", joined: [], left: [`eve${evil}`] }),
    render({ kind: "notice", code: "x", text: `look${evil}\nhere` }),
    // Message text comes cleaned by the hub (src/hub/text.ts); rendering turns its line breaks into spaces.
    render({ kind: "message", message: { ...message, text: "\uFFFD[2J\tcleaned\r\nby the hub" } }),
  ];
  assert.deepEqual(lines, [
    "DM eve\uFFFD[2J\uFFFD\uFFFD\uFFFD psst\n",
    "INFO eve\uFFFD[2J\uFFFD\uFFFD\uFFFD joined\n",
    "INFO eve\uFFFD[2J\uFFFD\uFFFD\uFFFD left\n",
    "INFO look\uFFFD[2J\uFFFD\uFFFD\uFFFD here\n",
    "MSG alice \uFFFD[2J\tcleaned by the hub\n",
  ]);
});

const message: ChatMessage = { room: "lobby", id: 7, time: 0, from: "alice", text: "hi there", conn: "c_1" };
const direct: DirectMessage = { id: 1, time: 0, from: "alice", to: "bob", text: "psst", conn: "c_1" };

function render(event: ChatEvent): string | null {
  const frame = commandCodec.encode(event);
  if (frame === null) return null;
  assert.ok(frame instanceof Uint8Array, "TCP frames are bytes");
  return decoder.decode(frame);
}

Deno.test("commandCodec renders each event kind as one protocol line", () => {
  assert.equal(render({ kind: "message", message }), "MSG alice hi there\n");
  assert.equal(render({ kind: "dm", message: direct }), "DM alice psst\n");
  assert.equal(render({ kind: "join", room: "lobby", name: "bob", conn: "c_2" }), "INFO bob joined\n");
  assert.equal(
    render({ kind: "leave", room: "lobby", name: "bob", conn: "c_2", reason: "left" }),
    "INFO bob left\n",
  );
  assert.equal(
    render({ kind: "leave", room: "lobby", name: "bob", conn: "c_2", reason: "disconnected" }),
    "INFO bob disconnected\n",
  );
  assert.equal(render({ kind: "notice", code: "history-gap", text: "history-gap" }), "INFO history-gap\n");
  assert.equal(render({ kind: "shutdown" }), "INFO server shutting down\n");
});

Deno.test("commandCodec has nothing to say about user lists and typing", () => {
  assert.equal(
    render({ kind: "users", room: "lobby", users: [{ name: "alice", tag: null }], total: 1, offset: 0 }),
    null,
  );
  assert.equal(render({ kind: "typing", room: "lobby", name: "alice" }), null);
});

Deno.test("commandCodec never lets text forge a line", () => {
  const forged = render({ kind: "message", message: { ...message, text: "hi\nINFO server shutting down" } });
  assert.equal(forged, "MSG alice hi INFO server shutting down\n");
  assert.equal(
    render({ kind: "dm", message: { ...direct, text: "a\r\nDM admin b" } }),
    "DM alice a DM admin b\n",
  );
  assert.equal(render({ kind: "notice", code: "x", text: "one\ntwo" }), "INFO one two\n");
});

Deno.test("commandCodec: name and echo (the sender never hears itself)", () => {
  assert.equal(commandCodec.name, "tcp");
  assert.equal(commandCodec.echo.size, 0);
  for (const kind of ["message", "dm", "join", "leave"] as const) assert.ok(!commandCodec.echo.has(kind));
});

Deno.test("line() adds one LF and encodes UTF-8; HELP lines are INFO lines", () => {
  assert.deepEqual([...line("é")], [0xc3, 0xa9, 0x0a]);
  assert.equal(decoder.decode(line("PONG")), "PONG\n");
  assert.ok(HELP_LINES.length > 0);
  for (const help of HELP_LINES) {
    assert.ok(help.startsWith("INFO "), help);
    assert.ok(!/[\r\n]/.test(help));
  }
  const all = HELP_LINES.join("\n");
  for (
    const word of ["LOGIN", "MSG", "DM", "JOIN", "LEAVE", "WHO", "ROOMS", "HISTORY", "PING", "HELP", "QUIT"]
  ) {
    assert.ok(all.includes(word), `HELP mentions ${word}`);
  }
});

/** Hands `text` to the command dialect as one line and waits for what it started. */
async function say(connection: FakeLineConnection, text: string): Promise<string[]> {
  const before = connection.lines.length;
  await commandDialect.line(connection, text);
  await connection.settled();
  return connection.lines.slice(before);
}

Deno.test("commandDialect: before LOGIN only LOGIN, PING, HELP, QUIT and unknown words are answered", async () => {
  const alice = new FakeLineConnection(commandDialect.codec);
  assert.deepEqual(await say(alice, "hello"), ["ERR expected 'LOGIN <username>'"]);
  assert.deepEqual(await say(alice, "WHO"), ["ERR expected 'LOGIN <username>'"]);
  assert.deepEqual(await say(alice, "JOIN dev"), ["ERR expected 'LOGIN <username>'"]);
  assert.deepEqual(await say(alice, "PING"), ["PONG"]);
  assert.deepEqual(await say(alice, "/nope"), ["ERR unknown-cmd"]);
  assert.deepEqual(await say(alice, "HELP"), [...HELP_LINES]);
  assert.deepEqual(await say(alice, "LOGIN"), ["ERR expected 'LOGIN <username>'"]);
  assert.equal(alice.client.name, null);
  assert.deepEqual(alice.ended, []);
  alice.hub.shutdown();
});

Deno.test("commandDialect: LOGIN claims the name and joins the lobby; a second LOGIN and a taken name are refused", async () => {
  const alice = new FakeLineConnection(commandDialect.codec);
  const bob = new FakeLineConnection(commandDialect.codec, alice.hub);
  assert.deepEqual(await say(alice, "LOGIN alice"), ["OK"]);
  assert.equal(alice.client.name, "alice");
  assert.equal(alice.client.room, "lobby");
  assert.deepEqual(await say(alice, "LOGIN alicia"), ["ERR already-logged-in"]);
  assert.deepEqual(await say(bob, "LOGIN ALICE"), ["ERR username-taken"]);
  assert.deepEqual(await say(bob, "LOGIN bob"), ["OK"]);
  assert.deepEqual(await say(bob, "WHO"), ["USER alice", "USER bob", "OK"]);
  alice.hub.shutdown();
});

Deno.test("commandDialect: messages go through the hub; a refusal comes back as ERR once the hub answers", async () => {
  const alice = new FakeLineConnection(commandDialect.codec);
  const bob = new FakeLineConnection(commandDialect.codec, alice.hub);
  await say(alice, "LOGIN alice");
  await say(bob, "LOGIN bob");
  assert.deepEqual(await say(alice, "hi all"), [], "the sender does not hear its own message");
  assert.ok(bob.lines.includes("MSG alice hi all"), JSON.stringify(bob.lines));
  assert.deepEqual(await say(alice, "DM bob psst"), []);
  assert.ok(bob.lines.includes("DM alice psst"));
  assert.deepEqual(await say(alice, "DM nobody hi"), ["ERR user-not-found"]);
  assert.deepEqual(await say(alice, "MSG"), ["ERR usage: MSG <text>"]);
  alice.hub.shutdown();
});

Deno.test("commandDialect: JOIN and LEAVE move between rooms; ROOMS lists them", async () => {
  const alice = new FakeLineConnection(commandDialect.codec);
  await say(alice, "LOGIN alice");
  assert.deepEqual(await say(alice, "JOIN dev"), ["OK"]);
  assert.equal(alice.client.room, "dev");
  assert.deepEqual(await say(alice, "ROOMS"), ["ROOM dev 1", "OK"]);
  assert.deepEqual(await say(alice, "JOIN bad/room"), ["ERR invalid-room"]);
  assert.deepEqual(await say(alice, "LEAVE"), ["OK"]);
  assert.equal(alice.client.room, "lobby");
  alice.hub.shutdown();
});

Deno.test("commandDialect: HISTORY answers HIST lines and OK; QUIT says bye and ends the connection", async () => {
  const alice = new FakeLineConnection(commandDialect.codec);
  await say(alice, "LOGIN alice");
  await say(alice, "first");
  await say(alice, "second\u0007");
  const hist = await say(alice, "HISTORY 5");
  assert.equal(hist.length, 3, JSON.stringify(hist));
  assert.match(hist[0]!, /^HIST 1 \d{4}-\d\d-\d\dT[\d:.]+Z alice first$/);
  assert.match(hist[1]!, /^HIST 2 \S+ alice second/);
  assert.ok(!hist[1]!.includes("\u0007"), "no control character reaches the terminal");
  assert.equal(hist[2], "OK");
  assert.deepEqual(await say(alice, "HISTORY SINCE 1"), [hist[1], "OK"]);
  assert.deepEqual(await say(alice, "QUIT"), ["INFO bye"]);
  assert.deepEqual(alice.ended, ["quit"]);
  assert.equal(alice.hub.connections, 0, "the hub let the connection go");
  alice.hub.shutdown();
});

Deno.test("commandDialect: refusals and farewells are told in hubbub's ERR and INFO lines", () => {
  const alice = new FakeLineConnection(commandDialect.codec);
  commandDialect.refused(alice, "too-long");
  commandDialect.refused(alice, "invalid-utf8");
  commandDialect.limited(alice);
  commandDialect.farewell(alice, "login-timeout");
  commandDialect.farewell(alice, "idle");
  commandDialect.farewell(alice, "flood");
  assert.deepEqual(alice.lines, [
    "ERR line-too-long",
    "ERR invalid-utf8",
    "ERR rate-limited: slow down",
    "ERR login-timeout",
    "INFO disconnected due to inactivity",
    "ERR flood: too many lines for too long, disconnecting",
  ]);
  assert.equal(commandDialect.preamble, undefined, "command clients start with lines");
  alice.hub.shutdown();
});

Deno.test("IDENTIFY takes a name and the rest of the line as the password; REGISTER takes one word", () => {
  for (const spelling of spellings("identify")) {
    check(`${spelling} alice a pass phrase`, { cmd: "identify", name: "alice", password: "a pass phrase" });
  }
  check("IDENTIFY alice", { cmd: "usage", usage: USAGE.identify });
  check("IDENTIFY", { cmd: "usage", usage: USAGE.identify });
  for (const spelling of spellings("register")) {
    check(`${spelling} s3cret-pass`, { cmd: "register", password: "s3cret-pass" });
  }
  check("REGISTER", { cmd: "usage", usage: USAGE.register });
  // A chat line that starts with the word is not a registration of its other words.
  check("register for the meetup at 5", { cmd: "usage", usage: USAGE.register });
});
