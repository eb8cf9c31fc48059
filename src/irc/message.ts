/**
 * IRC messages (RFC 1459 / 2812 as modern clients speak them, with IRCv3 message tags): parsing one line
 * into tags, source, command and parameters, and writing one back.
 *
 * `@tag=value;other :source COMMAND middle params :trailing parameter`. Parsing is lenient where clients
 * are (several spaces between parameters, a missing trailing `:`), pure, and never throws, so property tests
 * can hammer it; writing puts a `:` before the last parameter whenever it needs one.
 * @module
 */

/** One IRC message. */
export interface IrcMessage {
  /** Message tags (IRCv3), unescaped; a tag without a value is `""`. */
  readonly tags: ReadonlyMap<string, string>;
  /** The source (prefix) without its `:`, or `null`. */
  readonly source: string | null;
  /** The command, upper-cased (`PRIVMSG`), or a three-digit numeric. */
  readonly command: string;
  /** The parameters; the trailing one (after ` :`) is the last, spaces and all. */
  readonly params: readonly string[];
}

/** Longest line without its tags, in bytes, `\r\n` included (RFC 1459). */
export const MAX_LINE_BYTES = 512;
/** Longest tag section a client may send, in bytes, its `@` and the space after it included (IRCv3). */
export const MAX_TAG_BYTES = 4096;

const NO_TAGS: ReadonlyMap<string, string> = new Map();

/**
 * Parses one line (its `\r\n` already removed). Returns `null` for a line with no command (empty, only tags,
 * only a source). Tags are unescaped; the command is upper-cased.
 */
export function parseMessage(line: string): IrcMessage | null {
  let at = 0;
  let tags = NO_TAGS;
  if (line.startsWith("@")) {
    const end = line.indexOf(" ");
    if (end === -1) return null;
    tags = parseTags(line.slice(1, end));
    at = skipSpaces(line, end);
  }
  let source: string | null = null;
  if (line[at] === ":") {
    const end = line.indexOf(" ", at);
    if (end === -1) return null;
    source = line.slice(at + 1, end);
    at = skipSpaces(line, end);
  }
  const params: string[] = [];
  let command = "";
  while (at < line.length) {
    if (command !== "" && line[at] === ":") {
      params.push(line.slice(at + 1));
      break;
    }
    let end = line.indexOf(" ", at);
    if (end === -1) end = line.length;
    const word = line.slice(at, end);
    if (command === "") command = word.toUpperCase();
    else params.push(word);
    at = skipSpaces(line, end);
  }
  return command === "" ? null : { tags, source, command, params };
}

function skipSpaces(line: string, at: number): number {
  while (line[at] === " ") at++;
  return at;
}

const UNESCAPE: Record<string, string> = { ":": ";", s: " ", "\\": "\\", r: "\r", n: "\n" };

/** Parses a tag section (without its `@`): `a=1;b;c=x\sy`. Later duplicates win, as IRCv3 says. */
export function parseTags(text: string): Map<string, string> {
  const tags = new Map<string, string>();
  for (const item of text.split(";")) {
    if (item === "") continue;
    const eq = item.indexOf("=");
    const key = eq === -1 ? item : item.slice(0, eq);
    if (key === "") continue;
    tags.set(key, eq === -1 ? "" : unescapeTag(item.slice(eq + 1)));
  }
  return tags;
}

/** Unescapes a tag value: `\:` `\s` `\\` `\r` `\n`; another escaped character is itself; a lone `\` at the end goes. */
export function unescapeTag(value: string): string {
  if (!value.includes("\\")) return value;
  let out = "";
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c !== "\\") out += c;
    else if (i + 1 < value.length) out += UNESCAPE[value[++i]!] ?? value[i];
  }
  return out;
}

/** Escapes a tag value for the wire. */
export function escapeTag(value: string): string {
  return value.replace(
    /[; \\\r\n]/g,
    (c) =>
      c === ";"
        ? "\\:"
        : c === " "
        ? "\\s"
        : c === "\\"
        ? "\\\\"
        : c === "\r"
        ? "\\r"
        : c === "\n"
        ? "\\n"
        : c,
  );
}

/** The tag section of a line (`@a=1;b `), or `""` for none. */
export function tagSection(tags: Iterable<readonly [string, string]>): string {
  let out = "";
  for (const [key, value] of tags) {
    out += (out === "" ? "@" : ";") + (value === "" ? key : `${key}=${escapeTag(value)}`);
  }
  return out === "" ? "" : out + " ";
}

/**
 * Writes a message as one line (without `\r\n`). The last parameter gets a `:` when it is empty, holds a space
 * or starts with `:`, or always when `trailing` says it is text (a message, a reason, a list of names): bots
 * that split lines at ` :` find it there even when it is one word. The other parameters must be none of those
 * (callers pass names, channels and numbers).
 */
export function formatMessage(message: {
  readonly tags?: Iterable<readonly [string, string]>;
  readonly source?: string | null;
  readonly command: string;
  readonly params?: readonly string[];
  readonly trailing?: boolean;
}): string {
  let out = message.tags ? tagSection(message.tags) : "";
  if (message.source) out += `:${message.source} `;
  out += message.command;
  const params = message.params ?? [];
  for (let i = 0; i < params.length; i++) {
    const param = params[i]!;
    const last = i === params.length - 1;
    const colon = last && (message.trailing || param === "" || param.includes(" ") || param.startsWith(":"));
    out += colon ? ` :${param}` : ` ${param}`;
  }
  return out;
}

const encoder = new TextEncoder();

/** UTF-8 length of `text` in bytes. */
export function byteLength(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) continue;
    // Two bytes up to U+07FF, three for the rest of the BMP; a surrogate pair is four bytes for its two units.
    bytes += code < 0x800 || (code >= 0xd800 && code <= 0xdfff) ? 1 : 2;
  }
  return bytes;
}

/**
 * Whether a line a client sent is within IRC's limits: at most {@linkcode MAX_TAG_BYTES} of tags and
 * {@linkcode MAX_LINE_BYTES} of the rest, `\r\n` counted.
 */
export function withinLimits(line: string): boolean {
  let rest = line;
  if (line.startsWith("@")) {
    const space = line.indexOf(" ");
    const tags = space === -1 ? line : line.slice(0, space + 1);
    if (byteLength(tags) > MAX_TAG_BYTES) return false;
    rest = space === -1 ? "" : line.slice(space + 1);
  }
  return byteLength(rest) + 2 <= MAX_LINE_BYTES;
}

/** `text` cut to at most `max` bytes of UTF-8 without splitting a character: [head, rest]. */
export function cutBytes(text: string, max: number): [string, string] {
  if (byteLength(text) <= max) return [text, ""];
  let bytes = 0;
  let i = 0;
  while (i < text.length) {
    const code = text.codePointAt(i)!;
    const size = code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
    if (bytes + size > max) break;
    bytes += size;
    i += code > 0xffff ? 2 : 1;
  }
  return [text.slice(0, i), text.slice(i)];
}

/** Encodes lines as one frame, each ended by `\r\n`. */
export function frame(lines: readonly string[]): Uint8Array {
  return encoder.encode(lines.map((l) => l + "\r\n").join(""));
}
