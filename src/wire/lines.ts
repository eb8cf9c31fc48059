/**
 * Text rendering for line dialects: making names, notices and message text safe as one line of a terminal,
 * and the line that sums up a crowd's joins or leaves. Shared by the TCP door's dialects and MaChat over
 * WebSocket; doors never import each other, so what two doors say alike lives here.
 * @module
 */

// Line breaks, every other control character but TAB, DEL, C1 and the bidi overrides and isolates.
// deno-lint-ignore no-control-regex -- matching control characters is the point
const UNSAFE = /[\0-\x08\x0A-\x1F\x7F-\x9F\u2028\u2029\u202A-\u202E\u2066-\u2069]/;
const BREAKS = /\r\n|[\r\n\u2028\u2029]/g;
// deno-lint-ignore no-control-regex -- matching control characters is the point
const CONTROLS = /[\0-\x08\x0A-\x1F\x7F-\x9F\u202A-\u202E\u2066-\u2069]/g;

/**
 * Makes text safe as (part of) one line for a terminal: line breaks become spaces, so no one can forge a line;
 * any other control character but TAB, and the bidi overrides and isolates, become U+FFFD. For everything a
 * line carries but message text (names, notices, `HIST` lines): a guard in depth, since names are checked and
 * notices are the server's own. Text with nothing to change costs one regex test.
 */
export function oneLine(text: string): string {
  if (!UNSAFE.test(text)) return text;
  return text.replace(BREAKS, " ").replace(CONTROLS, "\uFFFD");
}

/**
 * Message text as one line: line breaks become spaces, so no one can forge a line. The hub has already replaced
 * every other control character and the bidi controls (`src/hub/text.ts`), so this runs only the narrow
 * line-break scan, which V8 does several times faster on long text than {@linkcode oneLine}'s wide one: it runs
 * for every message, once per line dialect.
 */
export function flatText(text: string): string {
  return text.replace(BREAKS, " ");
}

/** The line summarising a crowd's joins or leaves: `INFO 37 people joined` (one name: `INFO alice joined`). */
export function presenceLine(joined: readonly string[], left: readonly string[]): string {
  const [names, verb] = joined.length > 0 ? [joined, "joined"] : [left, "left"];
  return names.length === 1 ? `INFO ${oneLine(names[0]!)} ${verb}` : `INFO ${names.length} people ${verb}`;
}
