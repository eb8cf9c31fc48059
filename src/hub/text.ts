/**
 * Message text as the hub keeps it. Every door's messages and DMs pass through {@linkcode cleanText} once, in
 * the hub, before they are stored: what is stored is what every door delivers, and history replays exactly
 * what was seen live.
 *
 * Terminals (ncat, telnet, MaChat's client) act on control characters: ESC sequences move the cursor and erase
 * lines, so a message could wipe the line above and print a forged `MSG admin ...` in its place. Bidi
 * overrides and isolates reorder what follows them, so `exe.txt` can be shown for `txt.exe`. Both become
 * U+FFFD, visible where they were. Line breaks stay (WebSocket clients send multi-line text); the line
 * dialects turn them into spaces when they render.
 * @module
 */

/** What replaces a character the hub does not keep. */
export const REPLACEMENT = "\uFFFD";

// C0 controls but TAB, LF and CR; DEL and the C1 controls; the bidi embeddings and overrides (U+202A–202E) and
// isolates (U+2066–2069); and, with the `u` flag, lone surrogates (`\p{Cs}` matches only an unpaired half). A
// lone surrogate from a WebSocket's JSON would be stored as U+FFFD by SQLite and sent as U+FFFD by every
// UTF-8 door, but as itself to JSON doors: replacing it here keeps the one text everywhere.
// deno-lint-ignore no-control-regex -- matching control characters is the point
const UNKEPT = /[\0-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F\u202A-\u202E\u2066-\u2069\p{Cs}]/u;
const UNKEPT_ALL = new RegExp(UNKEPT.source, "gu");

/**
 * Message text with NUL and the other control characters (but TAB, LF and CR), DEL, C1 controls, bidi
 * overrides and isolates, and lone surrogates replaced by U+FFFD. Text that has none is returned as is, after
 * a single regex test.
 */
export function cleanText(text: string): string {
  return UNKEPT.test(text) ? text.replace(UNKEPT_ALL, REPLACEMENT) : text;
}
