/**
 * The IRC door's pure parts: the message parser and writer (tags, source, parameters, trailing), the byte
 * limits, the numerics, the codec's translations (channels, CTCP ACTION, formatting, splitting) and
 * CHATHISTORY's parameters. Unit tests and fast-check properties.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import {
  byteLength,
  cutBytes,
  escapeTag,
  formatMessage,
  parseMessage,
  parseTags,
  unescapeTag,
  withinLimits,
} from "../../src/irc/message.ts";
import {
  channelOf,
  FrameFitter,
  inboundText,
  ircCodec,
  messageLines,
  roomOf,
  splitText,
} from "../../src/irc/codec.ts";
import { ERR, namesReply, numeric, RPL, welcome } from "../../src/irc/replies.ts";
import { Hub } from "../../src/hub/hub.ts";
import { MemoryStore } from "../../src/store/memory.ts";
import { hubOptions } from "../_helpers.ts";
import { CHATHISTORY_LIMIT, parseRef, parseRequest } from "../../src/irc/history.ts";
import type { ChatMessage, Session } from "../../src/model.ts";
import { anyText, params, PARSER_RUNS } from "../fuzz/_fuzz.ts";

const decoder = new TextDecoder();

Deno.test("IRC parseMessage: tags, source, command, middle and trailing parameters", () => {
  const m = parseMessage(
    "@time=2026-01-01T00:00:00.000Z;msgid=7;+draft/x :alice!a@h PRIVMSG #dev :hi there :)",
  )!;
  assert.equal(m.command, "PRIVMSG");
  assert.equal(m.source, "alice!a@h");
  assert.deepEqual(m.params, ["#dev", "hi there :)"]);
  assert.deepEqual([...m.tags], [["time", "2026-01-01T00:00:00.000Z"], ["msgid", "7"], ["+draft/x", ""]]);
  assert.deepEqual(parseMessage("nick  alice")!.params, ["alice"], "several spaces are one separator");
  assert.equal(parseMessage("privmsg #a :x")!.command, "PRIVMSG", "commands are upper-cased");
  assert.deepEqual(parseMessage("USER a 0 * :Real Name")!.params, ["a", "0", "*", "Real Name"]);
  assert.deepEqual(parseMessage("PRIVMSG #a :")!.params, ["#a", ""], "an empty trailing parameter is kept");
  assert.deepEqual(parseMessage("PING :")!.params, [""]);
  assert.deepEqual(parseMessage("PRIVMSG #a hello")!.params, ["#a", "hello"], "a trailing ':' is optional");
  assert.equal(parseMessage(""), null);
  assert.equal(parseMessage("@a=b"), null, "only tags is no message");
  assert.equal(parseMessage(":src"), null, "only a source is no message");
  assert.equal(parseMessage("   "), null);
});

Deno.test("IRC tags: escapes are undone and done, a lone backslash at the end goes, later duplicates win", () => {
  assert.equal(unescapeTag("a\\:b\\sc\\\\d\\r\\n"), "a;b c\\d\r\n");
  assert.equal(unescapeTag("x\\y"), "xy", "an unknown escape is the character itself");
  assert.equal(unescapeTag("end\\"), "end");
  assert.equal(escapeTag("a;b c\\d\r\n"), "a\\:b\\sc\\\\d\\r\\n");
  assert.deepEqual([...parseTags("a=1;a=2;;b")], [["a", "2"], ["b", ""]]);
});

Deno.test("IRC formatMessage: the last parameter gets ':' when it needs one, tags are escaped", () => {
  assert.equal(formatMessage({ command: "JOIN", params: ["#dev"] }), "JOIN #dev");
  assert.equal(
    formatMessage({ source: "hubbub", command: "001", params: ["a", "Welcome"] }),
    ":hubbub 001 a Welcome",
  );
  assert.equal(formatMessage({ command: "PRIVMSG", params: ["#a", "two words"] }), "PRIVMSG #a :two words");
  assert.equal(formatMessage({ command: "PRIVMSG", params: ["#a", ":)"] }), "PRIVMSG #a ::)");
  assert.equal(formatMessage({ command: "PRIVMSG", params: ["#a", ""] }), "PRIVMSG #a :");
  assert.equal(
    formatMessage({ tags: [["k", "a b;c"], ["f", ""]], command: "TAGMSG", params: ["#a"] }),
    "@k=a\\sb\\:c;f TAGMSG #a",
  );
});

/** A middle parameter: non-empty, no space, not starting with ':', no CR, LF or NUL. */
const middle = fc.string({ unit: "grapheme", minLength: 1, maxLength: 12 })
  .map((s) => s.replace(/[\s\0]/gu, "x").replace(/^:/, "x"))
  .filter((s) => s !== "");
/** A trailing parameter: anything but CR, LF and NUL. */
const trailing = fc.string({ unit: "grapheme", maxLength: 40 }).map((s) => s.replace(/[\r\n\0]/g, " "));
const tagKey = fc.stringMatching(/^\+?[A-Za-z][A-Za-z0-9/.-]{0,10}$/);
const tagValue = fc.string({ unit: "grapheme", maxLength: 12 }).map((s) => s.replace(/\0/g, ""));

Deno.test("IRC parseMessage ∘ formatMessage: any message written is read back the same", () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.tuple(tagKey, tagValue), { selector: ([k]) => k, maxLength: 4 }),
      fc.option(middle, { nil: null }),
      fc.stringMatching(/^([A-Z]{1,10}|\d{3})$/),
      fc.array(middle, { maxLength: 6 }),
      fc.option(trailing, { nil: undefined }),
      (tags, source, command, middles, last) => {
        const params = last === undefined ? middles : [...middles, last];
        const line = formatMessage({ tags, source, command, params });
        assert.ok(!/[\r\n]/.test(line), "one line");
        const parsed = parseMessage(line)!;
        assert.equal(parsed.command, command);
        assert.equal(parsed.source, source);
        assert.deepEqual(parsed.params, params);
        assert.deepEqual([...parsed.tags], tags);
      },
    ),
    params(PARSER_RUNS),
  );
});

Deno.test("IRC parseMessage: any line parses without throwing into a command with no space and parameters", () => {
  fc.assert(
    fc.property(
      fc.oneof(anyText, fc.string({ unit: fc.constantFrom("@", ":", " ", "a", "=", ";", "\\", "#") })),
      (line) => {
        const m = parseMessage(line);
        if (m === null) return;
        assert.ok(m.command !== "" && !m.command.includes(" "));
        for (const p of m.params.slice(0, -1)) assert.ok(p !== "" && !p.includes(" "));
      },
    ),
    params(PARSER_RUNS),
  );
});

Deno.test("IRC limits: 512 bytes with CRLF, 4096 of tags; byteLength agrees with UTF-8", () => {
  assert.ok(withinLimits("PRIVMSG #a :" + "x".repeat(510 - 12)));
  assert.ok(!withinLimits("PRIVMSG #a :" + "x".repeat(511 - 12)));
  assert.ok(withinLimits("@" + "a".repeat(4094) + " PING x"));
  assert.ok(!withinLimits("@" + "a".repeat(4095) + " PING x"));
  fc.assert(
    fc.property(fc.string({ unit: "grapheme", maxLength: 30 }), (text) => {
      assert.equal(byteLength(text), new TextEncoder().encode(text).length);
      const [head, rest] = cutBytes(text, 7);
      assert.equal(head + rest, text);
      assert.ok(byteLength(head) <= 7);
    }),
    params(PARSER_RUNS),
  );
});

Deno.test("IRC numerics: the server's name, the nick or '*', and a trailing text", () => {
  assert.equal(
    numeric(ERR.NICKNAMEINUSE, null, "alice", "Nickname is already in use"),
    ":hubbub 433 * alice :Nickname is already in use",
  );
  assert.equal(
    numeric(RPL.NOTOPIC, "bob", "#dev", "No topic is set"),
    ":hubbub 331 bob #dev :No topic is set",
  );
  assert.equal(
    numeric(ERR.UNKNOWNCOMMAND, "bob", "FOO", "Unknown command"),
    ":hubbub 421 bob FOO :Unknown command",
  );
  // A parameter never carries a line break to the client.
  assert.ok(!numeric(ERR.UNKNOWNERROR, "bob", "a\r\nQUIT").includes("\n"));
  const lines = welcome("bob", {
    version: "1.0",
    started: new Date(0),
    isupport: Array.from({ length: 14 }, (_, i) => `T${i}`),
    motd: ["hi"],
  });
  assert.deepEqual(lines.map((l) => parseMessage(l)!.command), [
    "001",
    "002",
    "003",
    "004",
    "005",
    "005",
    "375",
    "372",
    "376",
  ]);
  for (const line of lines) assert.ok(withinLimits(line));
  assert.equal(parseMessage(lines[4]!)!.params.length, 14, "nick, 12 tokens, the trailing text");
});

Deno.test("IRC channels: room dev is #dev, room #dev is ##dev; anything else is no channel", () => {
  assert.equal(channelOf("dev"), "#dev");
  assert.equal(channelOf("#dev"), "##dev");
  assert.equal(roomOf("#dev"), "dev");
  assert.equal(roomOf("##dev"), "#dev");
  for (const target of ["dev", "&dev", "#", ""]) assert.equal(roomOf(target), null);
  fc.assert(
    fc.property(fc.string({ minLength: 1 }), (room) => assert.equal(roomOf(channelOf(room)), room)),
    params(PARSER_RUNS),
  );
});

Deno.test("IRC inboundText: CTCP ACTION is '* nick text', other CTCP is dropped, formatting is stripped", () => {
  assert.equal(inboundText("alice", "\x01ACTION waves\x01"), "* alice waves");
  assert.equal(inboundText("alice", "\x01ACTION waves"), "* alice waves", "a missing closing \\x01");
  assert.equal(inboundText("alice", "\x01VERSION\x01"), null);
  assert.equal(inboundText("alice", "\x01ACTION\x01"), null);
  assert.equal(
    inboundText("alice", "\x02bold\x02 \x0304,12red\x03 \x1Ditalic\x1D \x0Freset \x04ff0000hex"),
    "bold red italic reset hex",
  );
  assert.equal(inboundText("alice", "plain"), "plain");
});

const message = (text: string, extra: Partial<ChatMessage> = {}): ChatMessage => ({
  room: "dev",
  id: 3,
  time: Date.UTC(2026, 0, 2, 3, 4, 5, 6),
  from: "bob",
  text,
  conn: "c_1",
  ...extra,
});
const PLAIN = { time: false, tags: false, echo: false };
const ALL = { time: true, tags: true, echo: true };

Deno.test("IRC messageLines: one PRIVMSG, tags by capability, an ACTION for '* nick text'", () => {
  assert.deepEqual(messageLines(message("hello"), PLAIN), [":bob!bob@hubbub PRIVMSG #dev :hello"]);
  assert.deepEqual(messageLines(message("hello you"), ALL), [
    "@time=2026-01-02T03:04:05.006Z;msgid=3 :bob!bob@hubbub PRIVMSG #dev :hello you",
  ]);
  assert.deepEqual(messageLines(message("* bob waves"), PLAIN), [
    ":bob!bob@hubbub PRIVMSG #dev :\x01ACTION waves\x01",
  ]);
  assert.deepEqual(messageLines(message("* alice waves"), PLAIN), [
    ":bob!bob@hubbub PRIVMSG #dev :* alice waves",
  ], "only the sender's own");
  assert.deepEqual(
    messageLines({ id: 1, time: 0, from: "bob", to: "alice", text: "psst", conn: "c" }, PLAIN),
    [":bob!bob@hubbub PRIVMSG alice :psst"],
  );
  assert.deepEqual(messageLines(message("a\nb\r\n\nc"), PLAIN).map((l) => parseMessage(l)!.params[1]), [
    "a",
    "b",
    "c",
  ]);
});

Deno.test("IRC messageLines: long text is split into lines within 512 bytes, nothing lost, msgid once", () => {
  fc.assert(
    fc.property(fc.string({ unit: "grapheme", minLength: 1, maxLength: 3000 }), (text) => {
      fc.pre(text.trim() !== "" && !/[\r\n\u2028\u2029]/.test(text));
      const lines = messageLines(message(text), ALL);
      for (const line of lines) {
        assert.ok(withinLimits(line.slice(line.indexOf(" ") + 1)), `${byteLength(line)} bytes`);
      }
      assert.equal(lines.filter((l) => l.includes("msgid=")).length, 1);
      const joined = lines.map((l) => parseMessage(l)!.params[1]!).join("");
      assert.equal(joined.replace(/ /g, ""), text.replace(/ /g, ""));
    }),
    params(PARSER_RUNS),
  );
  assert.deepEqual(splitText("", 10), [" "]);
});

Deno.test("IRC codec: presence summaries are JOIN/PART lines; a member's own JOIN is cut out for it alone", () => {
  const codec = ircCodec(PLAIN);
  const bytes = codec.encode({
    kind: "presence",
    room: "dev",
    joined: ["ann", "bob", "cat"],
    left: [],
  }) as Uint8Array;
  const all = decoder.decode(bytes);
  assert.equal(
    all,
    ":ann!ann@hubbub JOIN #dev\r\n:bob!bob@hubbub JOIN #dev\r\n:cat!cat@hubbub JOIN #dev\r\n",
  );
  const fitter = new FrameFitter();
  const forBob = fitter.fit(bytes, "Bob") as Uint8Array[];
  assert.equal(
    forBob.map((b) => decoder.decode(b)).join(""),
    ":ann!ann@hubbub JOIN #dev\r\n:cat!cat@hubbub JOIN #dev\r\n",
  );
  assert.equal(fitter.fit(bytes, "dan"), bytes);
  const left = codec.encode({ kind: "presence", room: "dev", joined: [], left: ["ann"] }) as Uint8Array;
  assert.equal(decoder.decode(left), ":ann!ann@hubbub PART #dev\r\n");
  assert.equal(fitter.fit(left, "ann"), left, "a leave summary is never cut");
  // A member who quits is told once, not once per room one shares with them.
  const quitA = codec.encode({
    kind: "leave",
    room: "a",
    name: "ann",
    conn: "c",
    reason: "disconnected",
  }) as Uint8Array;
  const quitB = codec.encode({
    kind: "leave",
    room: "b",
    name: "ann",
    conn: "c",
    reason: "disconnected",
  }) as Uint8Array;
  assert.equal(fitter.fit(quitA, "bob"), quitA);
  assert.deepEqual(fitter.fit(quitB, "bob"), []);
  assert.equal(new FrameFitter().fit(quitB, "cat"), quitB, "each connection has its own");
  assert.equal(codec.encode({ kind: "users", room: "dev", users: [], total: 0, offset: 0 }), null);
  assert.equal(codec.encode({ kind: "typing", room: "dev", name: "ann" }), null);
  const quit = codec.encode({
    kind: "leave",
    room: "dev",
    name: "ann",
    conn: "c",
    reason: "disconnected",
  }) as Uint8Array;
  assert.equal(decoder.decode(quit), ":ann!ann@hubbub QUIT :disconnected\r\n");
  assert.equal(ircCodec(PLAIN), codec, "one codec per set of capabilities");
  assert.deepEqual([...ircCodec(ALL).echo].sort(), ["dm", "message"]);
  assert.equal(ircCodec(ALL).name, "irc");
});

Deno.test("IRC CHATHISTORY: references and requests are parsed, the limit is capped, bad ones say why", () => {
  assert.deepEqual(parseRef("*"), { kind: "none" });
  assert.deepEqual(parseRef("msgid=12"), { kind: "id", id: 12 });
  assert.deepEqual(parseRef("timestamp=2026-01-01T00:00:00.000Z"), {
    kind: "time",
    time: Date.UTC(2026, 0, 1),
  });
  assert.equal(parseRef("msgid=abc"), null);
  assert.equal(parseRef("timestamp=never"), null);
  assert.deepEqual(parseRequest(["latest", "#dev", "*", "1000"]), {
    sub: "LATEST",
    target: "#dev",
    ref: { kind: "none" },
    limit: CHATHISTORY_LIMIT,
  });
  assert.match((parseRequest(["BEFORE", "#dev", "*", "10"]) as { fail: string }).fail, /^INVALID_PARAMS/);
  assert.match((parseRequest(["AROUND", "#dev", "*", "10"]) as { fail: string }).fail, /^UNKNOWN_COMMAND/);
  assert.match((parseRequest(["AFTER", "#dev"]) as { fail: string }).fail, /^NEED_MORE_PARAMS/);
  assert.match((parseRequest(["AFTER", "#dev", "msgid=1", "x"]) as { fail: string }).fail, /^INVALID_PARAMS/);
});

Deno.test("IRC text parameters always carry ':', one word too: bots that split at ' :' find them", async () => {
  assert.equal(messageLines(message("hi"), PLAIN)[0], ":bob!bob@hubbub PRIVMSG #dev :hi");
  assert.equal(numeric(RPL.NOTOPIC, "bob", "#dev", "none"), ":hubbub 331 bob #dev :none");
  const hub = new Hub(hubOptions(new MemoryStore()));
  const session: Session = {
    id: "c_names",
    codec: ircCodec(PLAIN),
    send: () => {},
    pressure: () => 0,
    queued: () => 0,
    close: () => {},
  };
  const client = hub.connect(session);
  assert.ok((await hub.claim(client, "u999")).ok);
  assert.ok(hub.join(client, "lobby").ok);
  // A NAMES line with a single name (the last of a long list) is where a bare last parameter went unnoticed.
  assert.deepEqual(namesReply(hub, "u999", "lobby"), [
    ":hubbub 353 u999 = #lobby :u999",
    ":hubbub 366 u999 #lobby :End of /NAMES list.",
  ]);
  hub.shutdown();
});
