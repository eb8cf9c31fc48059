/**
 * The MaChat TCP dialect: finding the end of the handshake, parsing it, rendering events, and the dialect
 * itself driven through a line connection without a socket.
 */

import assert from "node:assert/strict";
import type { ChatEvent, ChatMessage, DirectMessage } from "../src/model.ts";
import { handshakeEnd, machatCodec, machatDialect, MAX_HANDSHAKE } from "../src/tcp/machat.ts";
import { BAD_HANDSHAKE, parseHandshake } from "../src/wire/machat.ts";
import { FakeLineConnection } from "./_helpers.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function end(text: string): number {
  return handshakeEnd(encoder.encode(text));
}

Deno.test("handshakeEnd finds the index just after the closing brace", () => {
  const hello = '{"name":"alice","room":"dev"}';
  assert.equal(end(hello), hello.length);
  // Bytes after the object are the first message line; they are not part of the handshake.
  assert.equal(end(hello + "hello everyone\n"), hello.length);
  assert.equal(end(hello + "{}"), hello.length, "a second object is not swallowed");
  assert.equal(end("{}"), 2);
});

Deno.test("handshakeEnd skips leading blanks and counts bytes, not characters", () => {
  assert.equal(end(' \r\n\t{"name":"a","room":"b"}x'), 4 + '{"name":"a","room":"b"}'.length);
  const withAccents = '{"name":"Zoë","room":"café"}';
  assert.equal(end(withAccents + "tail"), encoder.encode(withAccents).length);
  assert.notEqual(encoder.encode(withAccents).length, withAccents.length);
});

Deno.test("handshakeEnd ignores braces inside strings", () => {
  const tricky = '{"name":"}{","room":"{{}}"}';
  assert.equal(end(tricky + "msg"), tricky.length);
  const closeOnly = '{"name":"}","room":"r"}';
  assert.equal(end(closeOnly), closeOnly.length);
});

Deno.test("handshakeEnd follows escapes inside strings", () => {
  // The name is `a"}`: the escaped quote does not end the string, so the `}` after it is text.
  const escapedQuote = String.raw`{"name":"a\"}","room":"r"}`;
  assert.equal(end(escapedQuote + "rest"), escapedQuote.length);
  assert.deepEqual(parseHandshake(escapedQuote), { name: 'a"}', room: "r" });
  // The name is `a\`: an escaped backslash, then the string really ends.
  const escapedBackslash = String.raw`{"name":"a\\","room":"r"}`;
  assert.equal(end(escapedBackslash + "rest"), escapedBackslash.length);
  assert.deepEqual(parseHandshake(escapedBackslash), { name: "a\\", room: "r" });
  // A unicode escape of a brace stays text.
  const unicode = String.raw`{"name":"\u007d","room":"r"}`;
  assert.equal(end(unicode), unicode.length);
});

Deno.test("handshakeEnd handles nested objects", () => {
  const nested = '{"name":"a","room":"b","meta":{"x":{"y":1}},"z":[{}]}';
  assert.equal(end(nested + "\nnext"), nested.length);
});

Deno.test("handshakeEnd returns -1 while the object is incomplete", () => {
  for (
    const partial of [
      "",
      "   ",
      "{",
      '{"name":"alice"',
      '{"name":"alice","room":"dev"',
      '{"name":"}',
      '{"name":"a\\"}',
      '{"meta":{"x":1}',
    ]
  ) {
    assert.equal(end(partial), -1, JSON.stringify(partial));
  }
});

Deno.test("handshakeEnd completes when the rest arrives (prefix of a whole object)", () => {
  const whole = encoder.encode('{"name":"b}ob","room":"#dev"}hi\n');
  const stop = handshakeEnd(whole);
  assert.equal(decoder.decode(whole.subarray(0, stop)), '{"name":"b}ob","room":"#dev"}');
  for (let cut = 0; cut < stop; cut++) {
    assert.equal(handshakeEnd(whole.subarray(0, cut)), -1, `cut at ${cut}`);
  }
  assert.ok(MAX_HANDSHAKE >= 1024, "a handshake has room for long names in any script");
});

Deno.test("parseHandshake reads name and room, trimming them", () => {
  assert.deepEqual(parseHandshake('{"name":"alice","room":"dev"}'), { name: "alice", room: "dev" });
  assert.deepEqual(parseHandshake('  {"room":"#dev", "name":" bob "}  '), { name: "bob", room: "#dev" });
  assert.deepEqual(parseHandshake('{"name":"a","room":"b","extra":[1,2],"n":null}'), {
    name: "a",
    room: "b",
  });
  // Empty strings are strings: validity is the hub's decision, not the parser's.
  assert.deepEqual(parseHandshake('{"name":"","room":""}'), { name: "", room: "" });
});

Deno.test("parseHandshake refuses missing fields", () => {
  for (const text of ['{"name":"alice"}', '{"room":"dev"}', "{}", '{"Name":"alice","Room":"dev"}']) {
    assert.equal(parseHandshake(text), null, text);
  }
});

Deno.test("parseHandshake refuses non-string fields", () => {
  for (
    const text of [
      '{"name":1,"room":"dev"}',
      '{"name":"alice","room":2}',
      '{"name":null,"room":"dev"}',
      '{"name":["alice"],"room":"dev"}',
      '{"name":{"first":"alice"},"room":"dev"}',
      '{"name":true,"room":"dev"}',
    ]
  ) {
    assert.equal(parseHandshake(text), null, text);
  }
});

Deno.test("parseHandshake refuses arrays and other JSON values", () => {
  for (
    const text of ['["alice","dev"]', '[{"name":"alice","room":"dev"}]', "null", '"alice"', "42", "true"]
  ) {
    assert.equal(parseHandshake(text), null, text);
  }
});

Deno.test("parseHandshake refuses text that is not JSON", () => {
  for (
    const text of ["", "hello", "{name:'alice',room:'dev'}", '{"name":"alice","room":"dev"', '{"name":"a"}x']
  ) {
    assert.equal(parseHandshake(text), null, JSON.stringify(text));
  }
});

Deno.test("BAD_HANDSHAKE is the protocol's error line", () => {
  assert.equal(BAD_HANDSHAKE, 'ERR bad-handshake: expected {"name":"...","room":"..."}');
});

const message: ChatMessage = { room: "dev", id: 3, time: 0, from: "alice", text: "hi", conn: "c_1" };
const direct: DirectMessage = { id: 1, time: 0, from: "bob", to: "alice", text: "psst", conn: "c_2" };

function render(event: ChatEvent): string | null {
  const frame = machatCodec.encode(event);
  if (frame === null) return null;
  assert.ok(frame instanceof Uint8Array);
  return decoder.decode(frame);
}

Deno.test("machatCodec renders messages as name:text with no space", () => {
  assert.equal(render({ kind: "message", message }), "alice:hi\n");
  assert.equal(render({ kind: "message", message: { ...message, text: " spaced " } }), "alice: spaced \n");
  assert.equal(
    render({ kind: "message", message: { ...message, text: "two\nlines\r\nhere" } }),
    "alice:two lines here\n",
  );
});

Deno.test("machatCodec renders DMs and notices as the protocol's raw lines", () => {
  assert.equal(render({ kind: "dm", message: direct }), "[DM] bob: psst\n");
  assert.equal(render({ kind: "dm", message: { ...direct, text: "a\nb" } }), "[DM] bob: a b\n");
  assert.equal(render({ kind: "join", room: "dev", name: "bob", conn: "c_2" }), "INFO bob joined\n");
  assert.equal(
    render({ kind: "leave", room: "dev", name: "bob", conn: "c_2", reason: "left" }),
    "INFO bob left\n",
  );
  assert.equal(
    render({ kind: "leave", room: "dev", name: "bob", conn: "c_2", reason: "disconnected" }),
    "INFO bob left\n",
  );
  assert.equal(
    render({ kind: "notice", code: "name-variant", text: "your name is alice-2 (alice is taken)" }),
    "INFO your name is alice-2 (alice is taken)\n",
  );
  assert.equal(render({ kind: "notice", code: "x", text: "a\nb" }), "INFO a b\n");
  assert.equal(render({ kind: "shutdown" }), "INFO server shutting down\n");
});

Deno.test("machatCodec: names and notices never carry a control character to the terminal", () => {
  const evil = "\x1b]0;x\x07\u0085\u2066\x7f";
  assert.equal(
    render({ kind: "dm", message: { ...direct, from: `b${evil}` } }),
    "[DM] b\uFFFD]0;x\uFFFD\uFFFD\uFFFD\uFFFD: psst\n",
  );
  assert.equal(
    render({ kind: "join", room: "dev", name: `b${evil}`, conn: "c_2" }),
    "INFO b\uFFFD]0;x\uFFFD\uFFFD\uFFFD\uFFFD joined\n",
  );
  assert.equal(
    render({ kind: "notice", code: "x", text: evil }),
    "INFO \uFFFD]0;x\uFFFD\uFFFD\uFFFD\uFFFD\n",
  );
});

Deno.test("machatCodec ignores user lists and typing", () => {
  assert.equal(
    render({ kind: "users", room: "dev", users: [{ name: "alice", tag: null }], total: 1, offset: 0 }),
    null,
  );
  assert.equal(render({ kind: "typing", room: "dev", name: "alice" }), null);
});

Deno.test("machatCodec echoes the sender's own messages and nothing else", () => {
  assert.equal(machatCodec.name, "machat");
  assert.ok(machatCodec.echo.has("message"));
  for (const kind of ["dm", "join", "leave", "typing", "users"] as const) {
    assert.ok(!machatCodec.echo.has(kind));
  }
});

Deno.test("machatDialect: a handshake in pieces is collected; the bytes after it come back to be framed as lines", async () => {
  const dialect = machatDialect();
  const mara = new FakeLineConnection(dialect.codec);
  const reader = dialect.preamble!(mara);
  assert.equal(await reader.read(encoder.encode('{"name":"ma')), null);
  assert.equal(await reader.read(encoder.encode('ra","room":"d')), null);
  assert.equal(mara.client.name, null, "nothing is claimed before the object ends");
  const rest = await reader.read(encoder.encode('ev"}hello\n'));
  assert.equal(decoder.decode(rest!), "hello\n");
  assert.equal(mara.client.name, "mara");
  assert.equal(mara.client.room, "dev");
  assert.deepEqual(mara.ended, []);
  mara.hub.shutdown();
});

Deno.test("machatDialect: a handshake too long, not UTF-8 or not a handshake is refused with BAD_HANDSHAKE", async () => {
  const dialect = machatDialect();
  const long = new FakeLineConnection(dialect.codec);
  const tooLong = encoder.encode(`{"name":"${"a".repeat(MAX_HANDSHAKE)}`);
  assert.equal(await dialect.preamble!(long).read(tooLong), null);
  const notUtf8 = new FakeLineConnection(dialect.codec, long.hub);
  assert.equal(await dialect.preamble!(notUtf8).read(new Uint8Array([0x7b, 0xff, 0x7d])), null);
  const notHandshake = new FakeLineConnection(dialect.codec, long.hub);
  assert.equal(await dialect.preamble!(notHandshake).read(encoder.encode('{"name":1,"room":"dev"}')), null);
  for (const refused of [long, notUtf8, notHandshake]) {
    assert.deepEqual(refused.lines, [BAD_HANDSHAKE]);
    assert.deepEqual(refused.ended, ["protocol"]);
    assert.equal(refused.client.name, null);
  }
  long.hub.shutdown();
});

Deno.test("machatDialect: a taken name gets a variant and a notice; lines are said to the room, echoed to the sender", async () => {
  const dialect = machatDialect({ historyOnJoin: 1 });
  const first = new FakeLineConnection(dialect.codec);
  await dialect.preamble!(first).read(encoder.encode('{"name":"mara","room":"dev"}'));
  await dialect.line(first, "hello");
  await first.settled();
  const second = new FakeLineConnection(dialect.codec, first.hub);
  await dialect.preamble!(second).read(encoder.encode('{"name":"mara","room":"dev"}'));
  assert.equal(second.client.name, "mara-2");
  assert.ok(
    second.lines.includes("mara:hello"),
    `the replay of one message: ${JSON.stringify(second.lines)}`,
  );
  assert.ok(second.lines.includes("INFO your name is mara-2 (mara is taken)"));
  await dialect.line(second, "hi");
  await second.settled();
  assert.ok(first.lines.includes("mara-2:hi"));
  assert.ok(second.lines.includes("mara-2:hi"), "MaChat echoes the sender's own message");
  first.hub.shutdown();
});

Deno.test("machatDialect: a handshake that never came is told as a bad one; other refusals as hubbub's", () => {
  const dialect = machatDialect();
  const mara = new FakeLineConnection(dialect.codec);
  dialect.farewell(mara, "login-timeout");
  dialect.farewell(mara, "idle");
  dialect.refused(mara, "too-long");
  dialect.limited(mara);
  assert.deepEqual(mara.lines, [
    BAD_HANDSHAKE,
    "INFO disconnected due to inactivity",
    "ERR line-too-long",
    "ERR rate-limited: slow down",
  ]);
  mara.hub.shutdown();
});
