/** Names and rooms: validity, uniqueness keys (case, NFKC, look-alikes) and free variants. */

import assert from "node:assert/strict";
import {
  checkName,
  checkRoom,
  DEFAULT_ROOM,
  MAX_NAME,
  MAX_ROOM,
  nameKey,
  nameVariant,
  roomKey,
} from "../src/names.ts";

/** U+1D49C MATHEMATICAL SCRIPT CAPITAL A: one code point, a letter, two UTF-16 units. */
const ASTRAL_LETTER = "\u{1D49C}";
/** U+0410 CYRILLIC CAPITAL LETTER A, drawn like a Latin `A`. */
const CYRILLIC_A = "\u0410";

Deno.test("limits and default room match the protocol", () => {
  assert.equal(MAX_NAME, 32);
  assert.equal(MAX_ROOM, 64);
  assert.equal(DEFAULT_ROOM, "lobby");
  assert.equal(checkRoom(DEFAULT_ROOM), null);
});

Deno.test("checkName accepts letters, digits, '_', '-' and '.' in any script", () => {
  for (
    const name of [
      "a",
      "alice",
      "Bob_1",
      "jean-luc",
      "d.o.t",
      "_under_",
      "42",
      "Zoë",
      "Алиса",
      "日本語",
      "مرحبا",
      "٣٤٥",
      "x".repeat(32),
    ]
  ) {
    assert.equal(checkName(name), null, `expected ${JSON.stringify(name)} to be valid`);
  }
});

Deno.test("checkName refuses empty and over-long names, counting code points", () => {
  assert.equal(checkName(""), "empty");
  assert.match(checkName("x".repeat(33))!, /longer than 32/);
  // 32 astral letters are 64 UTF-16 units but 32 characters: allowed; 33 are not.
  assert.equal(checkName(ASTRAL_LETTER.repeat(32)), null);
  assert.match(checkName(ASTRAL_LETTER.repeat(33))!, /longer than 32/);
  assert.equal(checkName("é".repeat(32)), null);
  assert.notEqual(checkName("é".repeat(33)), null);
});

Deno.test("checkName refuses spaces, control characters and punctuation", () => {
  for (
    const name of [
      "has space",
      " alice",
      "alice ",
      "tab\there",
      "new\nline",
      "cr\rhere",
      "nul\u0000",
      "bell\u0007",
      "del\u007f",
      "nbsp\u00a0x",
      "zero\u200bwidth",
      "a@b",
      "a:b",
      "semi;colon",
      "slash/x",
      "#room",
      "emoji😀",
      "quote'",
      'dq"',
      "<b>",
    ]
  ) {
    const why = checkName(name);
    assert.notEqual(why, null, `expected ${JSON.stringify(name)} to be refused`);
    assert.match(why!, /only letters, digits/);
  }
});

Deno.test("checkName refuses reserved names in any case, width or script", () => {
  for (
    const name of [
      "admin",
      "ADMIN",
      "Admin",
      "server",
      "Server",
      "system",
      "SYSTEM",
      "root",
      "hubbub",
      "administrator",
      "moderator",
      "anonymous",
      "info",
      // Fullwidth letters fold to `admin` under NFKC.
      "ａｄｍｉｎ",
      // Cyrillic `а` (U+0430) looks like Latin `a`.
      "\u0430dmin",
      // Cyrillic `ѕ`, `е`, `р` in `server`.
      "\u0455\u0435rv\u0435r",
    ]
  ) {
    assert.equal(checkName(name), "reserved", `expected ${JSON.stringify(name)} to be reserved`);
  }
  // Close to a reserved word is fine.
  assert.equal(checkName("admin2"), null);
  assert.equal(checkName("servers"), null);
  assert.equal(checkName("sys"), null);
});

Deno.test("nameKey folds case and NFKC", () => {
  assert.equal(nameKey("Alice"), "alice");
  assert.equal(nameKey("ALICE"), nameKey("alice"));
  assert.equal(nameKey("ａｌｉｃｅ"), "alice");
  // The `ﬁ` ligature is `fi` under NFKC.
  assert.equal(nameKey("\ufb01sh"), "fish");
  // Precomposed and decomposed é are one name.
  assert.equal(nameKey("Zo\u00eb"), nameKey("Zoe\u0308"));
  assert.equal(nameKey("ZOË"), nameKey("zoë"));
});

Deno.test("the look-alike guard: 'Alice', 'alice' and 'Аlice' (Cyrillic А) share one key", () => {
  const cyrillic = `${CYRILLIC_A}lice`;
  assert.notEqual(cyrillic, "Alice", "the test string really uses another script");
  assert.equal(checkName(cyrillic), null, "a Cyrillic letter is still a letter");
  assert.equal(nameKey("Alice"), nameKey("alice"));
  assert.equal(nameKey(cyrillic), nameKey("alice"));
  // Small Cyrillic а, о, е, р, с and Greek ο fold the same way.
  assert.equal(nameKey("\u0430lic\u0435"), "alice");
  assert.equal(nameKey("b\u043eb"), "bob");
  assert.equal(nameKey("b\u03bfb"), "bob");
  assert.equal(nameKey("\u0440\u0435t\u0435r"), "peter");
  assert.equal(nameKey("\u0441arol"), "carol");
  // Greek capital Beta lower-cases to β, which reads as b.
  assert.equal(nameKey("\u0392ob"), "bob");
});

Deno.test("nameKey keeps different names apart", () => {
  assert.notEqual(nameKey("alice"), nameKey("alicia"));
  assert.notEqual(nameKey("alice"), nameKey("alice-2"));
  assert.notEqual(nameKey("bob"), nameKey("bob_"));
  assert.notEqual(nameKey("Алиса"), nameKey("alice"));
});

Deno.test("checkRoom accepts the name alphabet with an optional leading '#'", () => {
  for (
    const room of [
      "lobby",
      "#dev",
      "dev",
      "#Dev-Ops_2.0",
      "a",
      "#a",
      "日本",
      "r".repeat(64),
      "#" + "r".repeat(63),
    ]
  ) {
    assert.equal(checkRoom(room), null, `expected ${JSON.stringify(room)} to be a valid room`);
  }
});

Deno.test("checkRoom refuses empty, over-long and badly formed room names", () => {
  assert.equal(checkRoom(""), "empty");
  assert.equal(checkRoom("#"), "empty");
  assert.match(checkRoom("r".repeat(65))!, /longer than 64/);
  assert.match(checkRoom("#" + "r".repeat(64))!, /longer than 64/);
  assert.equal(checkRoom(ASTRAL_LETTER.repeat(64)), null, "64 code points, 128 UTF-16 units");
  assert.notEqual(checkRoom(ASTRAL_LETTER.repeat(65)), null);
  for (const room of ["##dev", "dev#", "de#v", "my room", "@dev", "dev\n", "tab\troom", "a/b", "a:b"]) {
    assert.notEqual(checkRoom(room), null, `expected ${JSON.stringify(room)} to be refused`);
  }
});

Deno.test("roomKey compares rooms case-insensitively after NFKC and keeps '#' significant", () => {
  assert.equal(roomKey("#Dev"), roomKey("#dev"));
  assert.equal(roomKey("LOBBY"), "lobby");
  assert.equal(roomKey("ｄｅｖ"), "dev");
  assert.notEqual(roomKey("#dev"), roomKey("dev"));
  assert.notEqual(roomKey("dev"), roomKey("devs"));
});

Deno.test("nameVariant appends -n and stays within 32 code points", () => {
  assert.equal(nameVariant("alice", 2), "alice-2");
  assert.equal(nameVariant("alice", 10), "alice-10");
  assert.equal(nameVariant("Alice", 3), "Alice-3");

  const long = "x".repeat(32);
  assert.equal(nameVariant(long, 2), "x".repeat(30) + "-2");
  assert.equal(nameVariant(long, 999), "x".repeat(28) + "-999");
  assert.equal(nameVariant("x".repeat(31), 2), "x".repeat(30) + "-2");

  // Truncation counts code points, never splitting a surrogate pair.
  const astral = nameVariant(ASTRAL_LETTER.repeat(32), 2);
  assert.equal([...astral].length, 32);
  assert.equal(astral, ASTRAL_LETTER.repeat(30) + "-2");

  for (const name of ["a", "alice", long, ASTRAL_LETTER.repeat(32), "日本語".repeat(10)]) {
    for (const n of [2, 9, 10, 99, 999]) {
      const variant = nameVariant(name, n);
      assert.ok([...variant].length <= MAX_NAME, `${variant} is too long`);
      assert.ok(variant.endsWith(`-${n}`));
      assert.equal(checkName(variant), null, `${variant} should be a valid name`);
      assert.notEqual(nameKey(variant), nameKey(name));
    }
  }
});
