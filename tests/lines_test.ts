/** Line framing of the TCP door: LineFramer driven directly, and LineStream as a TransformStream. */

import assert from "node:assert/strict";
import { type Line, LineFramer, type LineFramerOptions, LineStream } from "../src/net/lines/framer.ts";
import { concat } from "../src/hub/backpressure.ts";

const encoder = new TextEncoder();

function bytes(value: string | number[] | Uint8Array): Uint8Array {
  if (typeof value === "string") return encoder.encode(value);
  return value instanceof Uint8Array ? value : new Uint8Array(value);
}

/** Feeds chunks to a fresh framer and returns every line, including a flushed last one when `flush`. */
function frame(
  chunks: readonly (string | number[] | Uint8Array)[],
  options: LineFramerOptions & { flush?: boolean } = {},
): Line[] {
  const framer = new LineFramer(options);
  const lines: Line[] = [];
  const sink = { enqueue: (line: Line) => lines.push(line) };
  for (const chunk of chunks) framer.transform(bytes(chunk), sink);
  if (options.flush) framer.flush(sink);
  return lines;
}

/** Every byte of `text` as its own chunk. */
function byteByByte(text: string): number[][] {
  return [...encoder.encode(text)].map((b) => [b]);
}

async function stream(
  chunks: readonly (string | number[])[],
  options: LineFramerOptions = {},
): Promise<Line[]> {
  const readable = ReadableStream.from(chunks.map(bytes)).pipeThrough(new LineStream(options));
  return await Array.fromAsync(readable);
}

Deno.test("LineFramer: LF-terminated lines", () => {
  assert.deepEqual(frame(["alice\nbob\n"]), [{ text: "alice" }, { text: "bob" }]);
});

Deno.test("LineFramer: CRLF-terminated lines lose exactly one CR", () => {
  assert.deepEqual(frame(["LOGIN alice\r\nMSG hi\r\n"]), [{ text: "LOGIN alice" }, { text: "MSG hi" }]);
  assert.deepEqual(frame(["a\r\r\n"]), [{ text: "a\r" }], "only the CR before LF is a terminator");
  assert.deepEqual(frame(["a\rb\n"]), [{ text: "a\rb" }], "a lone CR inside a line is kept");
  assert.deepEqual(frame(["mixed\nends\r\n"]), [{ text: "mixed" }, { text: "ends" }]);
});

Deno.test("LineFramer: a line split across chunks is joined", () => {
  assert.deepEqual(frame(["hel", "lo wo", "rld\nnext", " line\n"]), [{ text: "hello world" }, {
    text: "next line",
  }]);
  // The CR and the LF of one terminator in different chunks.
  assert.deepEqual(frame(["crlf\r", "\nafter\n"]), [{ text: "crlf" }, { text: "after" }]);
  assert.deepEqual(frame(byteByByte("one\r\ntwo\n")), [{ text: "one" }, { text: "two" }]);
});

Deno.test("LineFramer: a multi-byte UTF-8 character split across chunks survives", () => {
  const text = "héllo €uro 😀 日本\n";
  assert.deepEqual(frame(byteByByte(text)), [{ text: "héllo €uro 😀 日本" }]);
  // Split inside the 4-byte emoji specifically: F0 9F | 98 80.
  const emoji = encoder.encode("😀\n");
  assert.deepEqual(frame([emoji.subarray(0, 2), emoji.subarray(2)]), [{ text: "😀" }]);
  // And inside the 3-byte euro sign, with the chunk boundary before the LF too.
  const euro = encoder.encode("€");
  assert.deepEqual(frame([euro.subarray(0, 1), euro.subarray(1, 3), "\n"]), [{ text: "€" }]);
});

Deno.test("LineFramer: empty lines are framed as empty text", () => {
  assert.deepEqual(frame(["\n\n"]), [{ text: "" }, { text: "" }]);
  assert.deepEqual(frame(["\r\n"]), [{ text: "" }]);
  assert.deepEqual(frame(["a\n\nb\n"]), [{ text: "a" }, { text: "" }, { text: "b" }]);
});

Deno.test("LineFramer: a too-long line is reported once and the next line still works", () => {
  const lines = frame(["x".repeat(11) + "\nok\n"], { maxLength: 10 });
  assert.deepEqual(lines, [{ error: "too-long" }, { text: "ok" }]);
});

Deno.test("LineFramer: the limit is in bytes, without the terminator", () => {
  assert.deepEqual(frame(["x".repeat(10) + "\n"], { maxLength: 10 }), [{ text: "x".repeat(10) }]);
  assert.deepEqual(frame(["x".repeat(10) + "\r\n"], { maxLength: 10 }), [{ text: "x".repeat(10) }]);
  assert.deepEqual(frame(["x".repeat(11) + "\r\n"], { maxLength: 10 }), [{ error: "too-long" }]);
  // Ten characters but twenty bytes.
  assert.deepEqual(frame(["é".repeat(10) + "\n"], { maxLength: 10 }), [{ error: "too-long" }]);
  assert.deepEqual(frame(["é".repeat(5) + "\n"], { maxLength: 10 }), [{ text: "é".repeat(5) }]);
  // A line of limit + 1 bytes whose last byte is a CR that is not followed by LF is still too long.
  assert.deepEqual(frame(["x".repeat(10) + "\ry\n"], { maxLength: 10 }), [{ error: "too-long" }]);
});

Deno.test("LineFramer: a too-long line arriving in many chunks is discarded without buffering it", () => {
  const framer = new LineFramer({ maxLength: 16 });
  const lines: Line[] = [];
  const sink = { enqueue: (line: Line) => lines.push(line) };
  for (let i = 0; i < 100; i++) {
    framer.transform(bytes("0123456789"), sink);
    assert.ok(framer.pending <= 17, `pending ${framer.pending} exceeds the limit`);
  }
  assert.deepEqual(lines, [], "nothing is emitted before the terminator");
  framer.transform(bytes("tail\nnext\n"), sink);
  assert.deepEqual(lines, [{ error: "too-long" }, { text: "next" }]);
  assert.equal(framer.pending, 0);
});

Deno.test("LineFramer: the default limit is 8 KiB", () => {
  assert.deepEqual(frame(["x".repeat(8192) + "\n"]), [{ text: "x".repeat(8192) }]);
  assert.deepEqual(frame(["x".repeat(8193) + "\n", "after\n"]), [{ error: "too-long" }, { text: "after" }]);
});

Deno.test("LineFramer: invalid UTF-8 is reported and the next line still decodes", () => {
  const LF = 0x0a;
  const cases: number[][] = [
    [0xff, LF], // never valid
    [0x61, 0xc3, LF], // truncated two-byte sequence
    [0xc0, 0xaf, LF], // overlong encoding of '/'
    [0xed, 0xa0, 0x80, LF], // an encoded UTF-16 surrogate
    [0x80, LF], // a lone continuation byte
  ];
  for (const bad of cases) {
    assert.deepEqual(
      frame([bad, "fine ✓\n"]),
      [{ error: "invalid-utf8" }, { text: "fine ✓" }],
      `bytes ${bad.map((b) => b.toString(16)).join(" ")}`,
    );
  }
});

Deno.test("LineFramer: pending counts the bytes of the line in progress", () => {
  const framer = new LineFramer();
  const sink = { enqueue: () => {} };
  assert.equal(framer.pending, 0);
  framer.transform(bytes("abc"), sink);
  assert.equal(framer.pending, 3);
  framer.transform(bytes("de\nfg"), sink);
  assert.equal(framer.pending, 2);
  framer.transform(bytes("\n"), sink);
  assert.equal(framer.pending, 0);
});

Deno.test("LineFramer: it copies partial lines, so the caller may reuse its read buffer", () => {
  const framer = new LineFramer();
  const lines: Line[] = [];
  const sink = { enqueue: (line: Line) => lines.push(line) };
  const buffer = new Uint8Array(4);
  buffer.set(bytes("abcd"));
  framer.transform(buffer, sink);
  buffer.set(bytes("ef\nX"));
  framer.transform(buffer.subarray(0, 3), sink);
  assert.deepEqual(lines, [{ text: "abcdef" }]);
});

Deno.test("LineFramer: flush emits a final unterminated line, and nothing when there is none", () => {
  assert.deepEqual(frame(["a\nbye"], { flush: true }), [{ text: "a" }, { text: "bye" }]);
  assert.deepEqual(frame(["bye\r"], { flush: true }), [{ text: "bye" }]);
  assert.deepEqual(frame(["a\n"], { flush: true }), [{ text: "a" }]);
  assert.deepEqual(frame([], { flush: true }), []);
  assert.deepEqual(frame(["x".repeat(20)], { flush: true, maxLength: 10 }), [{ error: "too-long" }]);
  assert.deepEqual(frame([[0x61, 0xe2, 0x82]], { flush: true }), [{ error: "invalid-utf8" }]);
});

Deno.test("LineStream frames a piped byte stream and flushes the last line", async () => {
  const lines = await stream(["LOGIN al", "ice\r\nhé", "llo\n\nwor", "ld", "\nbye"]);
  assert.deepEqual(lines, [
    { text: "LOGIN alice" },
    { text: "héllo" },
    { text: "" },
    { text: "world" },
    { text: "bye" },
  ]);
});

Deno.test("LineStream passes its options on and reports errors as lines", async () => {
  const lines = await stream(["short\n", "x".repeat(6), "x\n", [0xfe, 0x0a], "end"], { maxLength: 6 });
  assert.deepEqual(lines, [{ text: "short" }, { error: "too-long" }, { error: "invalid-utf8" }, {
    text: "end",
  }]);
});

Deno.test("LineStream splits a multi-byte character across chunks", async () => {
  assert.deepEqual(await stream(byteByByte("Grüße 👋")), [{ text: "Grüße 👋" }]);
});

Deno.test("concat joins chunks in order", () => {
  const joined = concat([bytes("ab"), bytes(""), bytes("cde")], 5);
  assert.deepEqual([...joined], [...bytes("abcde")]);
  assert.equal(concat([], 0).length, 0);
});
