/**
 * Member and room names: what is valid, and when two names are "the same".
 *
 * A valid name is made of letters and digits (each with at most four combining marks), `_`, `-` and `.`,
 * and has no invisible character (Unicode's Default_Ignorable_Code_Point: variation selectors, joiners,
 * Hangul fillers, tags, ...). Two names collide when their keys are equal. The key is a confusables
 * skeleton (Unicode TS #39) that also folds case: NFKD, lower case, then every character through the table
 * generated from Unicode's confusables.txt (`src/name_skeleton.gen.ts`), so `Alice`, `alice`, `Аlice`
 * (Cyrillic `А`), `ａｌｉｃｅ`, `aIice` and `alicé` cannot be connected at once, and reserved names are refused
 * in any of their spellings.
 * @module
 */

import { MARKED, SKELETON } from "./name_skeleton.gen.ts";

/** Longest member name, in code points. */
export const MAX_NAME = 32;
/** Longest room name, in code points. */
export const MAX_ROOM = 64;
/** The room every member starts in when its dialect has no rooms. */
export const DEFAULT_ROOM = "lobby";
/** Most combining marks one letter or digit may carry (Unicode TS #39 §5.4 suggests four). */
export const MAX_MARKS = 4;

const NAME_CHARS = /^[\p{L}\p{M}\p{N}_.-]+$/u;
const ROOM_CHARS = /^#?[\p{L}\p{M}\p{N}_.-]+$/u;
// Letters and marks that show nothing: variation selectors, the grapheme joiner, Hangul fillers, ...
const INVISIBLE = /\p{Default_Ignorable_Code_Point}/u;
// Combining marks belong to letters and digits (a decomposed "José", Devanagari "राम"), never to nothing,
// to `_`, `-`, `.` or a leading `#`. Checked on the NFD form, where a precomposed "é" is `e` and a mark.
const BASED = /^#?(?:[\p{L}\p{N}]\p{M}*|[_.-])+$/u;
const TOO_MANY_MARKS = new RegExp(`\\p{M}{${MAX_MARKS + 1}}|(\\p{M})\\1`, "u");

/** Names nobody may take in any spelling: they would read as the server speaking. */
export const RESERVED: ReadonlySet<string> = new Set([
  "server",
  "system",
  "admin",
  "administrator",
  "root",
  "hubbub",
  "moderator",
  "mod",
  "operator",
  "anonymous",
  "info",
  "nobody",
]);

// The key of each ASCII character, so that the usual all-ASCII name needs no normalisation.
const ASCII_KEYS: readonly string[] = Array.from({ length: 128 }, (_, code) => {
  const folded = String.fromCharCode(code).toLowerCase();
  return SKELETON.get(folded.charCodeAt(0)) ?? folded;
});

/**
 * Folds a name to the key that decides uniqueness: NFKD, lower case, then each character through the
 * confusables table (look-alikes of other scripts become one letter, `m` becomes `rn`, `I`, `l` and `1`
 * become `i`, accents and dots are dropped). Not for display. Runs on every login and DM: an ASCII name
 * costs a table look-up per character, others two normalisations more (see docs/protocol.md).
 */
export function nameKey(name: string): string {
  let key = "";
  for (let i = 0; i < name.length; i++) {
    const code = name.charCodeAt(i);
    if (code >= 128) return wideKey(name);
    key += ASCII_KEYS[code];
  }
  return key;
}

/** {@linkcode nameKey} of a name with characters beyond ASCII. */
function wideKey(name: string): string {
  const folded = name.normalize("NFKD").toLowerCase();
  let key = "";
  let reorder = false;
  for (let i = 0; i < folded.length; i++) {
    const code = folded.codePointAt(i)!;
    const wide = code > 0xffff;
    if (code < 128) key += ASCII_KEYS[code];
    else {
      const mapped = SKELETON.get(code);
      if (mapped === undefined) key += wide ? folded.slice(i, i + 2) : folded[i];
      else {
        key += mapped;
        reorder ||= MARKED.has(code);
      }
    }
    if (wide) i++;
  }
  // A mark that stands for a mark of another combining class may have to move.
  return reorder ? key.normalize("NFD") : key;
}

const RESERVED_KEYS: ReadonlySet<string> = new Set([...RESERVED].map(nameKey));

/**
 * Folds a name for filing stored data (DM histories): case and NFKC only. Unlike {@linkcode nameKey} it does
 * not change when the confusables table does, and look-alike names (taken by different people at different
 * times) do not share a history.
 */
export function storageKey(name: string): string {
  return name.normalize("NFKC").toLowerCase();
}

/** Folds a room name to its key: rooms compare case-insensitively after NFKC. */
export function roomKey(room: string): string {
  return room.normalize("NFKC").toLowerCase();
}

/** Why `text` is not visible letters and digits with their marks, or `null` (names and rooms). */
function unseen(text: string): string | null {
  if (INVISIBLE.test(text)) return "invisible characters are not allowed";
  const decomposed = text.normalize("NFD");
  if (!BASED.test(decomposed)) return "a combining mark must follow a letter or digit";
  if (TOO_MANY_MARKS.test(decomposed)) {
    return `at most ${MAX_MARKS} combining marks on one letter, none repeated`;
  }
  return null;
}

/** Why `name` is not a valid member name, or `null` when it is. */
export function checkName(name: string, max: number = MAX_NAME): string | null {
  const length = [...name].length;
  if (length === 0) return "empty";
  if (length > max) return `longer than ${max} characters`;
  if (!NAME_CHARS.test(name)) return "only letters, digits, '_', '-' and '.' are allowed";
  const why = unseen(name);
  if (why) return why;
  if (RESERVED_KEYS.has(nameKey(name))) return "reserved";
  return null;
}

/** Why `room` is not a valid room name, or `null` when it is. */
export function checkRoom(room: string, max: number = MAX_ROOM): string | null {
  const length = [...room].length;
  if (length === 0 || room === "#") return "empty";
  if (length > max) return `longer than ${max} characters`;
  if (!ROOM_CHARS.test(room)) return "only letters, digits, '_', '-', '.' and a leading '#' are allowed";
  const why = unseen(room);
  if (why) return why;
  if (room.startsWith("@")) return "reserved";
  return null;
}

/** The `n`-th variant of a taken name (`alice` → `alice-2`), kept within {@linkcode MAX_NAME}. */
export function nameVariant(name: string, n: number, max: number = MAX_NAME): string {
  const suffix = `-${n}`;
  const chars = [...name];
  return chars.slice(0, max - suffix.length).join("") + suffix;
}
