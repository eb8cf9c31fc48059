/**
 * Member and room names: what is valid, and when two names are "the same".
 *
 * Two names collide when their keys are equal. The key folds case, applies Unicode NFKC and maps the
 * look-alike letters people use to impersonate (Cyrillic `А` for Latin `A`), so `Alice`, `alice` and `Аlice`
 * cannot be connected at once.
 * @module
 */

/** Longest member name, in code points. */
export const MAX_NAME = 32;
/** Longest room name, in code points. */
export const MAX_ROOM = 64;
/** The room every member starts in when its dialect has no rooms. */
export const DEFAULT_ROOM = "lobby";

// Combining marks belong to letters: a decomposed "José" or Devanagari "राम" are names like any other.
const NAME_CHARS = /^[\p{L}\p{M}\p{N}_.-]+$/u;
const ROOM_CHARS = /^#?[\p{L}\p{M}\p{N}_.-]+$/u;

/** Names nobody may take: they would read as the server speaking. */
const RESERVED = new Set([
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

// Letters from other scripts that render like Latin ones. Not the whole Unicode confusables table: the
// Cyrillic and Greek capitals and small letters that are indistinguishable in common fonts.
const CONFUSABLES: Record<string, string> = {
  "а": "a",
  "в": "b",
  "с": "c",
  "е": "e",
  "ё": "e",
  "һ": "h",
  "і": "i",
  "ї": "i",
  "ј": "j",
  "к": "k",
  "м": "m",
  "н": "h",
  "о": "o",
  "р": "p",
  "ѕ": "s",
  "т": "t",
  "у": "y",
  "х": "x",
  "ԁ": "d",
  "ԛ": "q",
  "ԝ": "w",
  "α": "a",
  "β": "b",
  "ε": "e",
  "η": "n",
  "ι": "i",
  "κ": "k",
  "ν": "v",
  "ο": "o",
  "ρ": "p",
  "τ": "t",
  "υ": "u",
  "χ": "x",
  "γ": "y",
  "ζ": "z",
};

/** Folds a name to the key that decides uniqueness (case, NFKC, look-alike letters). */
export function nameKey(name: string): string {
  const folded = name.normalize("NFKC").toLowerCase();
  let key = "";
  for (const ch of folded) key += CONFUSABLES[ch] ?? ch;
  return key;
}

/** Folds a room name to its key: rooms compare case-insensitively after NFKC. */
export function roomKey(room: string): string {
  return room.normalize("NFKC").toLowerCase();
}

/** Why `name` is not a valid member name, or `null` when it is. */
export function checkName(name: string, max: number = MAX_NAME): string | null {
  const length = [...name].length;
  if (length === 0) return "empty";
  if (length > max) return `longer than ${max} characters`;
  if (!NAME_CHARS.test(name)) return "only letters, digits, '_', '-' and '.' are allowed";
  if (RESERVED.has(nameKey(name))) return "reserved";
  return null;
}

/** Why `room` is not a valid room name, or `null` when it is. */
export function checkRoom(room: string, max: number = MAX_ROOM): string | null {
  const length = [...room].length;
  if (length === 0 || room === "#") return "empty";
  if (length > max) return `longer than ${max} characters`;
  if (!ROOM_CHARS.test(room)) return "only letters, digits, '_', '-', '.' and a leading '#' are allowed";
  if (room.startsWith("@")) return "reserved";
  return null;
}

/** The `n`-th variant of a taken name (`alice` → `alice-2`), kept within {@linkcode MAX_NAME}. */
export function nameVariant(name: string, n: number, max: number = MAX_NAME): string {
  const suffix = `-${n}`;
  const chars = [...name];
  return chars.slice(0, max - suffix.length).join("") + suffix;
}
