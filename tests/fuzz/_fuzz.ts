/**
 * How hard the fuzz tests push. `FUZZ_RUNS` (default 100) is the number of cases per parser property;
 * properties that go over real sockets run a fifth of that (at least 20). `deno task test` runs the
 * defaults; `deno task fuzz` sets `FUZZ_RUNS=5000`. `FUZZ_SEED` replays a failing run (fast-check prints
 * the seed and path of every failure).
 * @module
 */

import fc from "fast-check";

const runs = Number(Deno.env.get("FUZZ_RUNS") ?? "");
const seed = Number(Deno.env.get("FUZZ_SEED") ?? "");

/** Cases per pure parser property. */
export const PARSER_RUNS: number = Number.isSafeInteger(runs) && runs > 0 ? runs : 100;

/** Cases per property that talks to a real server over sockets. */
export const SOCKET_RUNS: number = Math.max(20, Math.ceil(PARSER_RUNS / 5));

/** fast-check parameters for `runs` cases, with the replay seed when one is given. */
export function params<T>(numRuns: number): fc.Parameters<T> {
  return Number.isSafeInteger(seed) && Deno.env.get("FUZZ_SEED") ? { numRuns, seed } : { numRuns };
}

/** Text with any code point (lone surrogates included), as a hostile client might send. */
export const anyText: fc.Arbitrary<string> = fc.string({ unit: "binary", maxLength: 80 });

/** Text biased towards the characters parsers care about: spaces, line breaks, slashes, braces, quotes. */
export const sharpText: fc.Arbitrary<string> = fc.string({
  unit: fc.oneof(
    {
      weight: 4,
      arbitrary: fc.constantFrom(" ", "\t", "\r", "\n", "/", "{", "}", '"', "\\", ":", "#", "\u00a0"),
    },
    { weight: 4, arbitrary: fc.string({ unit: "grapheme-ascii", minLength: 1, maxLength: 1 }) },
    { weight: 1, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 1 }) },
  ),
  maxLength: 60,
});

/**
 * Mutates a string the way a broken or hostile client would: truncates, duplicates or deletes a slice,
 * inserts bytes that matter to parsers, flips a character.
 */
export function mutated(base: fc.Arbitrary<string>): fc.Arbitrary<string> {
  const edit = fc.tuple(fc.nat(), fc.nat(), fc.constantFrom(0, 1, 2, 3, 4), sharpText);
  return fc.tuple(base, fc.array(edit, { minLength: 1, maxLength: 4 })).map(([text, edits]) => {
    let out = text;
    for (const [a, b, kind, insert] of edits) {
      const i = out.length === 0 ? 0 : a % (out.length + 1);
      const j = out.length === 0 ? 0 : Math.min(out.length, i + (b % 8));
      switch (kind) {
        case 0:
          out = out.slice(0, i); // truncated
          break;
        case 1:
          out = out.slice(0, i) + out.slice(j); // a slice deleted
          break;
        case 2:
          out = out.slice(0, i) + insert + out.slice(i); // bytes inserted
          break;
        case 3:
          out = out.slice(0, j) + out.slice(i, j) + out.slice(j); // a slice duplicated
          break;
        default:
          out = out.slice(0, i) + String.fromCharCode((out.charCodeAt(i) || 0) ^ (1 + (b % 127))) +
            out.slice(i + 1);
      }
    }
    return out;
  });
}

/** Any JSON value, with keys the dialects read mixed in so the interesting paths get reached. */
export const jsonish: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double(),
    sharpText,
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(
      fc.oneof(
        fc.constantFrom(
          "Action",
          "Payload",
          "action",
          "username",
          "message",
          "to",
          "DataType",
          "Data",
          "Contents",
          "SessionID",
          "name",
          "room",
          "Room",
          "Message",
          "Username",
          "To",
          "Limit",
          "Before",
          "After",
          "With",
          "Offset",
          "__proto__",
          "constructor",
        ),
        sharpText,
      ),
      tie("value"),
      { maxKeys: 5 },
    ),
  ),
})).value;
