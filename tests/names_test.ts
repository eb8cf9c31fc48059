/** Names and rooms: validity, uniqueness keys (case, NFKC, look-alikes) and free variants. */

import assert from "node:assert/strict";
import fc from "fast-check";
import { Hub } from "../src/hub/hub.ts";
import type { ChatEvent, Codec, Session } from "../src/model.ts";
import {
  checkName,
  checkRoom,
  DEFAULT_ROOM,
  MAX_NAME,
  MAX_ROOM,
  nameKey,
  nameVariant,
  RESERVED,
  roomKey,
} from "../src/names.ts";
import { SKELETON } from "../src/name_skeleton.gen.ts";
import { build, GENERATED, render } from "../scripts/build_name_skeleton.ts";
import { MemoryStore } from "../src/store/memory.ts";
import { params, PARSER_RUNS } from "./fuzz/_fuzz.ts";
import { hubOptions } from "./_helpers.ts";

/** U+1D49C MATHEMATICAL SCRIPT CAPITAL A: one code point, a letter, two UTF-16 units. */
const ASTRAL_LETTER = "\u{1D49C}";
/** U+0410 CYRILLIC CAPITAL LETTER A, drawn like a Latin `A`. */
const CYRILLIC_A = "\u0410";

Deno.test("names: limits and default room match the protocol", () => {
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

// The key is a skeleton, not text to show (`alice` → `aiice`, `admin` → `adrnin`): compare keys of names.
Deno.test("nameKey folds case and NFKC", () => {
  assert.equal(nameKey("Alice"), nameKey("alice"));
  assert.equal(nameKey("ALICE"), nameKey("alice"));
  assert.equal(nameKey("ａｌｉｃｅ"), nameKey("alice"));
  // The `ﬁ` ligature is `fi` under NFKC.
  assert.equal(nameKey("\ufb01sh"), nameKey("fish"));
  // Precomposed and decomposed é are one name.
  assert.equal(nameKey("Zo\u00eb"), nameKey("Zoe\u0308"));
  assert.equal(nameKey("ZOË"), nameKey("zoë"));
});

Deno.test("nameKey, the look-alike guard: 'Alice', 'alice' and 'Аlice' (Cyrillic А) share one key", () => {
  const cyrillic = `${CYRILLIC_A}lice`;
  assert.notEqual(cyrillic, "Alice", "the test string really uses another script");
  assert.equal(checkName(cyrillic), null, "a Cyrillic letter is still a letter");
  assert.equal(nameKey("Alice"), nameKey("alice"));
  assert.equal(nameKey(cyrillic), nameKey("alice"));
  // Small Cyrillic а, о, е, р, с and Greek ο fold the same way.
  assert.equal(nameKey("\u0430lic\u0435"), nameKey("alice"));
  assert.equal(nameKey("b\u043eb"), nameKey("bob"));
  assert.equal(nameKey("b\u03bfb"), nameKey("bob"));
  assert.equal(nameKey("\u0440\u0435t\u0435r"), nameKey("peter"));
  assert.equal(nameKey("\u0441arol"), nameKey("carol"));
  // Greek capital Beta lower-cases to β, which reads as b.
  assert.equal(nameKey("\u0392ob"), nameKey("bob"));
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

// ------------------------------------------------------------------------------ look-alikes and invisibles

/** Characters that may stand alone in a name: a letter or digit with its marks. */
const BASE = /^[\p{L}\p{N}]\p{M}*$/u;

/** The characters the generated table gives the key of `char`, with their upper cases: its look-alikes. */
function lookalikes(char: string): string[] {
  const key = nameKey(char);
  const found = new Set([char, char.toUpperCase()]);
  for (const [code, target] of SKELETON) {
    if (target !== key) continue;
    const source = String.fromCodePoint(code);
    found.add(source);
    found.add(source.toUpperCase());
  }
  return [...found].filter((c) => BASE.test(c) && !/\p{Default_Ignorable_Code_Point}/u.test(c));
}

/** Default-ignorable code points and variation selectors an attacker slips into a name. */
const INVISIBLES = [
  "\u00ad",
  "\u034f",
  "\u115f",
  "\u1160",
  "\u17b4",
  "\u17b5",
  "\u180b",
  "\u180e",
  "\u180f",
  "\u200b",
  "\u200c",
  "\u200d",
  "\u200e",
  "\u2060",
  "\u2064",
  "\u206f",
  "\u3164",
  "\ufe00",
  "\ufe0f",
  "\ufeff",
  "\uffa0",
  "\u{e0001}",
  "\u{e0041}",
  "\u{e0100}",
  "\u{e01ef}",
];

/** Accents and dots that stack on a letter: they do not make a name different. */
const DIACRITICS = ["\u0300", "\u0301", "\u0308", "\u0323", "\u0327", "\u0331", "\u0335", "\u0338"];

Deno.test("names: the committed table is what scripts/build_name_skeleton.ts generates", async () => {
  const committed = await Deno.readTextFile(new URL(`../${GENERATED}`, import.meta.url));
  assert.ok(render(build()) === committed, `${GENERATED} is stale: run deno task build:names`);
});

Deno.test("names: the generated table covers the look-alikes of the attack report", () => {
  for (
    const [copy, letter] of [["\u13aa", "a"], ["\ua4ee", "a"], ["\u15c5", "a"], ["\u0251", "a"], [
      "\u0280",
      "r",
    ], ["\u026a", "i"]]
  ) {
    assert.ok(lookalikes(letter!).includes(copy!), `${copy} reads as ${letter}`);
  }
  assert.ok(
    lookalikes("a").length >= 12,
    "Latin, Greek, Cyrillic, Cherokee, Lisu, ... capitals and small letters",
  );
});

Deno.test("names (property): every reserved name is refused with look-alike letters and invisibles in it", () => {
  const pools = new Map<string, string[]>();
  for (const name of RESERVED) for (const c of name) if (!pools.has(c)) pools.set(c, lookalikes(c));
  const spelling = fc.constantFrom(...RESERVED).chain((name) =>
    fc.tuple(
      fc.constant(name),
      fc.tuple(...[...name].map((c) => fc.constantFrom(...pools.get(c)!))),
      fc.array(fc.tuple(fc.nat(), fc.constantFrom(...INVISIBLES)), { maxLength: 3 }),
      fc.array(fc.tuple(fc.nat(), fc.constantFrom(...DIACRITICS)), { maxLength: 2 }),
    )
  );
  fc.assert(
    fc.property(spelling, ([name, letters, invisibles, marks]) => {
      const chars = [...letters];
      for (const [at, mark] of marks) chars[at % chars.length] += mark;
      const visible = chars.join("");
      // Refused as reserved, unless a mark landed twice on one letter (refused for that first).
      const why = checkName(visible);
      assert.ok(
        why === "reserved" || /combining marks/.test(why ?? ""),
        `${JSON.stringify(visible)} spells ${name}`,
      );
      for (const [at, invisible] of invisibles) chars.splice(at % (chars.length + 1), 0, invisible);
      const spelled = chars.join("");
      assert.notEqual(checkName(spelled), null, `${JSON.stringify(spelled)} spells ${name}`);
    }),
    params(PARSER_RUNS * 5),
  );
});

/** A session that ignores what it is sent. */
class QuietSession implements Session {
  static #next = 0;
  readonly id = `c_names_${++QuietSession.#next}`;
  readonly codec: Codec = {
    name: "quiet",
    echo: new Set(),
    encode: (event: ChatEvent) => JSON.stringify(event.kind),
  };
  send(): void {}
  pressure(): number {
    return 0;
  }
  queued(): number {
    return 0;
  }
  close(): void {}
}

Deno.test("names (property): two valid names with one key never coexist in a hub; names with different keys do", async () => {
  const store = new MemoryStore();
  const hub = new Hub(hubOptions(store, { presenceIntervalMs: 20 }));
  try {
    // A small alphabet of look-alikes, so that random names often share a key and often do not.
    const alphabet = [...new Set(["a", "o", "l", "e", "m", "r", "n"].flatMap(lookalikes))];
    const letter = fc.tuple(fc.constantFrom(...alphabet), fc.option(fc.constantFrom(...DIACRITICS)))
      .map(([c, mark]) => c + (mark ?? ""));
    const name = fc.array(letter, { minLength: 1, maxLength: 4 }).map((cs) => cs.join(""));
    let collisions = 0;
    fc.assert(
      fc.property(name, name, (first, second) => {
        fc.pre(checkName(first) === null && checkName(second) === null);
        const a = hub.connect(new QuietSession());
        const b = hub.connect(new QuietSession());
        try {
          assert.ok(hub.login(a, first).ok, first);
          const result = hub.login(b, second);
          if (nameKey(first) === nameKey(second)) {
            collisions++;
            assert.ok(!result.ok && result.code === "username-taken", `${first} / ${second}`);
          } else assert.ok(result.ok, `${first} / ${second}: ${JSON.stringify(result)}`);
        } finally {
          hub.disconnect(a);
          hub.disconnect(b);
        }
      }),
      params(PARSER_RUNS * 5),
    );
    assert.ok(collisions > 0, "some pairs shared a key");
  } finally {
    hub.shutdown();
    await store.close();
  }
});

Deno.test("names (property): nameKey is idempotent and case-insensitive", () => {
  const text = fc.oneof(
    fc.string({ unit: "binary", maxLength: 40 }),
    fc.string({ unit: "grapheme", maxLength: 20 }),
    fc.array(
      fc.constantFrom(...lookalikes("a"), ...lookalikes("i"), ...DIACRITICS, "\u00df", "\u03c2", "\u1fb3"),
      {
        maxLength: 12,
      },
    ).map((cs) => cs.join("")),
  );
  fc.assert(
    fc.property(text, (s) => {
      const key = nameKey(s);
      assert.equal(nameKey(key), key, `key of ${JSON.stringify(s)}`);
      assert.equal(nameKey(s.toUpperCase()), key, `upper case of ${JSON.stringify(s)}`);
      assert.equal(nameKey(s.toLowerCase()), key, `lower case of ${JSON.stringify(s)}`);
    }),
    params(PARSER_RUNS * 10),
  );
});
