/** Message text as the hub keeps it: control characters, bidi controls and lone surrogates become U+FFFD. */

import assert from "node:assert/strict";
import { cleanText, REPLACEMENT } from "../src/hub/text.ts";

const R = REPLACEMENT;

/** Every code point in `[from, to]` as a string. */
function range(from: number, to: number): string[] {
  return Array.from({ length: to - from + 1 }, (_, i) => String.fromCodePoint(from + i));
}

Deno.test("cleanText: text without anything to replace is returned as is (the same string)", () => {
  for (
    const text of [
      "",
      "hello",
      "tab\tnewline\ncr\rcrlf\r\n",
      "é 日本 😀 👩‍👩‍👧 ‎ RLM‏",
      "a\u2028b\u2029c",
      "x".repeat(9000),
    ]
  ) {
    assert.equal(cleanText(text), text);
  }
});

Deno.test("cleanText: NUL and the C0 controls but TAB, LF and CR become U+FFFD", () => {
  const kept = new Set(["\t", "\n", "\r"]);
  for (const ch of range(0x00, 0x1f)) {
    assert.equal(
      cleanText(`a${ch}b`),
      kept.has(ch) ? `a${ch}b` : `a${R}b`,
      `U+${ch.charCodeAt(0).toString(16)}`,
    );
  }
  assert.equal(cleanText("\x1b[1A\x1b[2K\rMSG admin hi\x07"), `${R}[1A${R}[2K\rMSG admin hi${R}`);
  assert.equal(cleanText("\0"), R);
  assert.equal(cleanText("\0\0x\0"), `${R}${R}x${R}`, "every one, not only the first");
});

Deno.test("cleanText: DEL and the C1 controls (U+0080–U+009F) become U+FFFD; U+00A0 on is kept", () => {
  for (const ch of ["\x7f", ...range(0x80, 0x9f)]) assert.equal(cleanText(`a${ch}b`), `a${R}b`);
  assert.equal(cleanText("\u00a0\u00a9\u00ff"), "\u00a0\u00a9\u00ff");
});

Deno.test("cleanText: bidi embeddings, overrides and isolates become U+FFFD; marks and neighbours are kept", () => {
  for (const ch of [...range(0x202a, 0x202e), ...range(0x2066, 0x2069)]) {
    assert.equal(cleanText(`a${ch}b`), `a${R}b`);
  }
  assert.equal(cleanText("\u202etxt.exe"), `${R}txt.exe`);
  // LRM, RLM, ALM and the neighbours of both ranges are not overrides.
  for (const ch of ["\u200e", "\u200f", "\u061c", "\u2029", "\u202f", "\u2065", "\u206a"]) {
    assert.equal(cleanText(`a${ch}b`), `a${ch}b`);
  }
});

Deno.test("cleanText: lone surrogates become U+FFFD; pairs are kept", () => {
  assert.equal(cleanText("a\ud800b"), `a${R}b`);
  assert.equal(cleanText("\udc00"), R);
  assert.equal(cleanText("end\ud83d"), `end${R}`);
  assert.equal(cleanText("\ud83d\ude00"), "😀");
  assert.equal(cleanText("\ude00\ud83d"), `${R}${R}`, "a pair in the wrong order is two lone halves");
  assert.ok(cleanText("\ud800\x1b\u202e😀").isWellFormed());
});

Deno.test("cleanText: the result has the same number of code points, and cleaning twice changes nothing", () => {
  const text = "\x1b[31m\u202e😀\ud800\u0085\0 ok\n";
  const once = cleanText(text);
  assert.equal([...once].length, [...text].length);
  assert.equal(cleanText(once), once);
});
