/**
 * Builds `src/name_skeleton.gen.ts`, the table behind `nameKey` (src/names.ts): for every character that can
 * appear in a name after NFKD and lower-casing, what it stands for when names are compared.
 *
 * The source is Unicode's confusables.txt (UTS #39), as shipped by the npm package `unhomoglyph` (its
 * `data.json` is every line of that file, source → prototype: the newest complete copy on the npm
 * registry). Names are lower-cased before the table, so it is built in lower case, and keys are both
 * case-insensitive and confusable-insensitive:
 * - characters that confusables.txt maps to one another share one representative (an ASCII letter or digit
 *   when the class has one), and so do their lower cases when the pair has a capital (`Ꭺ` → `A` makes `ꭺ`
 *   the key of `a`). `I` → `l` makes `i` and `l` one, and `0` → `O` makes `0` and `o` one: `aIice`,
 *   `a1ice` and `alice` collide. A pair that would make two other ASCII letters or digits one (Greek `Η` is
 *   `H` but `η` is `n`: taking both would make `h` and `n` one) is left out (see {@linkcode build});
 * - a character that confusables.txt maps to several (`m` → `rn`) becomes the keys of those;
 * - the Latin small capitals (`ʀ`, `ᴀ`, ...), which confusables.txt keeps apart, join their letter;
 * - `ß` is `ss` (full case folding; the confusables.txt entry `β` → `ß` is left out, or every `b` would
 *   become `ss`), and U+0345 (the iota subscript) is `ι`, its case folding;
 * - the diacritics all scripts share are dropped: stacking combining marks (a canonical combining class
 *   other than 0) of the Inherited script, such as accents, dots, tildes, cedillas, strokes and Arabic
 *   vowel points, but not the kana voicing marks. So `é`, `ẹ` and `e` are one letter; Indic vowel signs,
 *   viramas, Thai and Tibetan vowels and Hebrew points stay.
 * Only characters whose key differs from themselves are listed; characters that NFKD removes never reach
 * the table (fullwidth and mathematical letters are folded before it).
 *
 * The run checks what `nameKey` relies on: over every code point, the key of a key is itself and the key
 * does not change with `toUpperCase`/`toLowerCase`. `--check` fails when the committed module differs.
 *
 * ```sh
 * deno task build:names            # regenerate
 * deno task build:names --check    # exit 1 when the committed table is stale (part of `deno task ok`)
 * deno task build:names --verbose  # also list the confusables.txt pairs left out
 * ```
 * @module
 */

import confusables from "unhomoglyph/data.json" with { type: "json" };

/** The generated module, relative to the project root. */
export const GENERATED = "src/name_skeleton.gen.ts";
/** Where the data comes from, for the generated file's header. */
const SOURCE = "Unicode 13.0.0 confusables.txt (UTS #39), as data.json of the npm package unhomoglyph@1.0.6";
const UNICODE_VERSION = "13.0.0";

/** Latin small capitals and the letter each reads as; confusables.txt maps only some of them. */
const SMALL_CAPITALS: Record<string, string> = {
  "\u1d00": "a", // ᴀ
  "\u0299": "b", // ʙ
  "\u1d04": "c", // ᴄ
  "\u1d05": "d", // ᴅ
  "\u1d07": "e", // ᴇ
  "\ua730": "f", // ꜰ
  "\u0262": "g", // ɢ
  "\u029c": "h", // ʜ
  "\u026a": "i", // ɪ
  "\u1d0a": "j", // ᴊ
  "\u1d0b": "k", // ᴋ
  "\u029f": "l", // ʟ
  "\u1d0d": "m", // ᴍ
  "\u0274": "n", // ɴ
  "\u1d0f": "o", // ᴏ
  "\u1d18": "p", // ᴘ
  "\ua7af": "q", // ꞯ
  "\u0280": "r", // ʀ
  "\ua731": "s", // ꜱ
  "\u1d1b": "t", // ᴛ
  "\u1d1c": "u", // ᴜ
  "\u1d20": "v", // ᴠ
  "\u1d21": "w", // ᴡ
  "\u028f": "y", // ʏ
  "\u1d22": "z", // ᴢ
};

/** Multi-character keys that case folding asks for and confusables.txt does not give. */
const FOLDINGS: Record<string, string> = {
  "\u00df": "ss", // ß (ẞ lower-cases to it)
  "\u0345": "\u03b9", // COMBINING GREEK YPOGEGRAMMENI → ι
};

/** confusables.txt lines left out, with the reason in FOLDINGS. */
const LEFT_OUT = new Set(["\u03b2"]); // β → ß

const NAME_CHAR = /^[\p{L}\p{M}\p{N}_.-]$/u;
const MARK = /^\p{M}$/u;
const INHERITED = /^\p{Script=Inherited}$/u;

function codePoints(): string[] {
  const all: string[] = [];
  for (let cp = 0; cp <= 0x10ffff; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    all.push(String.fromCodePoint(cp));
  }
  return all;
}

function single(text: string): boolean {
  return text.length > 0 && [...text].length === 1;
}

/** Whether NFD swaps the marks `a` and `b`: their combining classes are non-zero and out of order. */
function reorders(a: string, b: string): boolean {
  return `x${a}${b}`.normalize("NFD") !== `x${a}${b}`;
}

/** Whether the mark `c` (NFD-stable) has a canonical combining class other than 0. */
function stacks(c: string): boolean {
  // U+0334 has class 1, U+0301 class 230: a mark of any non-zero class reorders against one of them.
  return reorders(c, "\u0334") || reorders("\u0334", c) || reorders(c, "\u0301") || reorders("\u0301", c);
}

/** Whether the stacking mark `c` has the combining class of `other` (NFD keeps them in either order). */
function sameClass(c: string, other: string): boolean {
  return !reorders(c, other) && !reorders(other, c);
}

/**
 * Whether `c` is a diacritic that does not make a name different: a stacking mark (combining class not 0) of
 * the Inherited script, the diacritics all scripts share (accents, dots, tildes, cedillas, Arabic vowel
 * points), but not the kana voicing marks (class 8: `か` and `が` are different syllables) and not U+0345,
 * which case folding turns into `ι`. Script-specific marks (Thai and Tibetan vowels, Hebrew points, nukta,
 * viramas) stay.
 */
function diacritic(c: string): boolean {
  return INHERITED.test(c) && stacks(c) && !sameClass(c, "\u3099") && !(c in FOLDINGS);
}

/** Character classes that keep apart what confusables.txt keeps apart: see {@linkcode build}. */
class Classes {
  readonly #parent = new Map<string, string>();
  /** Per root: the ASCII letters and digits in the class, sorted. */
  readonly #ascii = new Map<string, string>();
  /** Per root: the string the class stands for, when a member is confusable with several characters. */
  readonly #expansion = new Map<string, string>();

  #add(x: string): void {
    if (this.#parent.has(x)) return;
    this.#parent.set(x, x);
    this.#ascii.set(x, /^[a-z0-9]$/.test(x) ? x : "");
  }

  find(x: string): string {
    this.#add(x);
    let root = x;
    while (this.#parent.get(root) !== root) root = this.#parent.get(root)!;
    for (let node = x; node !== root;) {
      const next = this.#parent.get(node)!;
      this.#parent.set(node, root);
      node = next;
    }
    return root;
  }

  /** Gives `x` (and its class) the meaning of the string `to`. */
  expand(x: string, to: string): void {
    const root = this.find(x);
    if (!this.#expansion.has(root)) this.#expansion.set(root, to);
  }

  expansion(x: string): string | undefined {
    return this.#expansion.get(this.find(x));
  }

  /**
   * Joins the classes of `a` and `b` unless that would make two different ASCII letters or digits one, or
   * give one class two meanings; a direct link between two ASCII characters (`0` and `o`) is taken.
   */
  join(a: string, b: string): boolean {
    const [ra, rb] = [this.find(a), this.find(b)];
    if (ra === rb) return true;
    const [sa, sb] = [this.#ascii.get(ra)!, this.#ascii.get(rb)!];
    const [ea, eb] = [this.#expansion.get(ra), this.#expansion.get(rb)];
    const direct = /^[a-z0-9]$/.test(a) && /^[a-z0-9]$/.test(b);
    if (sa && sb && sa !== sb && !direct) return false;
    if (ea !== undefined && eb !== undefined && ea !== eb) return false;
    if ((ea !== undefined && sb && !ea.includes(sb)) || (eb !== undefined && sa && !eb.includes(sa))) {
      return false;
    }
    this.#parent.set(ra, rb);
    this.#ascii.set(rb, [...new Set([...sa, ...sb])].sort().join(""));
    if (eb === undefined && ea !== undefined) this.#expansion.set(rb, ea);
    return true;
  }

  /** Every member of every class, by root. */
  members(): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const node of this.#parent.keys()) {
      const root = this.find(node);
      if (!out.has(root)) out.set(root, []);
      out.get(root)!.push(node);
    }
    return out;
  }
}

/**
 * The table: character → key, for the characters whose key is not themselves.
 *
 * Names are lower-cased before the table, so the classes live in lower case: confusables.txt's lower-case
 * pairs (`а` → `a`) are taken as they are, and a pair with a capital (`Ꭺ` → `A`, `Η` → `H`) as the pair of
 * the lower cases (`ꭺ`, `a`). Lower cases of look-alike capitals do not always look alike (Greek `Η` is `H`
 * but `η` is `n`), and taking every pair would chain unrelated letters into one (`h`, `η`, `n`); so a pair
 * that would make two different ASCII letters or digits one is left out, unless it links two ASCII characters
 * directly (`0` and `O`, `1` and `l`, and `I` and `l`, which makes `i` and `l` one). Pairs are taken in order
 * of trust: lower-case pairs, small capitals, then pairs with capitals.
 */
export function build(): Map<string, string> {
  const all = codePoints();
  const stable = (c: string) => c.normalize("NFKD") === c;
  const lower = (c: string) => {
    const l = c.toLowerCase();
    return single(l) && stable(l) ? l : c;
  };
  const classes = new Classes();
  const lowerPairs: [string, string][] = [];
  const capitalPairs: [string, string][] = [];

  const entries = Object.entries(confusables as Record<string, string>)
    .filter(([from]) => !LEFT_OUT.has(from) && single(from) && stable(from))
    .sort(([a], [b]) => a.codePointAt(0)! - b.codePointAt(0)!);
  const sources = new Set(entries.map(([from]) => from));
  for (const [from, to] of entries) {
    const target = to.normalize("NFKD");
    const lowerCase = lower(from) === from;
    if (!single(target)) {
      // `m` → `rn`; a capital's expansion counts only when its lower case has no entry of its own.
      if (lowerCase) classes.expand(from, target.toLowerCase());
      else if (!sources.has(lower(from))) classes.expand(lower(from), target.toLowerCase());
      continue;
    }
    if (lowerCase && lower(target) === target) lowerPairs.push([from, target]);
    else capitalPairs.push([lower(from), lower(target)]);
  }
  for (const [c, folded] of Object.entries(FOLDINGS)) {
    if (single(folded)) lowerPairs.push([c, folded]);
    else classes.expand(c, folded);
  }
  // Case-insensitivity where lower-casing the upper case does not give the lower case back (`ς`, `ı`).
  const casePairs: [string, string][] = [];
  for (const c of all) {
    if (!stable(c)) continue;
    const upper = c.toUpperCase();
    if (single(upper) && stable(upper) && lower(upper) !== lower(c)) casePairs.push([lower(c), lower(upper)]);
  }

  const refused: string[] = [];
  for (
    const [a, b] of [...lowerPairs, ...Object.entries(SMALL_CAPITALS), ...capitalPairs, ...casePairs]
  ) {
    if (a !== b && !classes.join(a, b)) refused.push(`${show(a)} ~ ${show(b)}`);
  }

  // What NFKD and lower-casing can leave of a name: the table's domain.
  const domain = new Set<string>(["\u03c2"]); // final sigma, which toLowerCase makes in context
  for (const c of all) {
    if (!NAME_CHAR.test(c)) continue;
    for (const d of c.normalize("NFKD").toLowerCase()) domain.add(d);
  }

  const dropped = (c: string) => MARK.test(c) && stable(c) && diacritic(c);

  // One representative per class: an ASCII letter, else a digit, else a lower-case character.
  const rank = (c: string) => /^[a-z]$/.test(c) ? 0 : /^[0-9]$/.test(c) ? 1 : c.toLowerCase() === c ? 2 : 3;
  const representative = new Map<string, string>();
  for (const [root, nodes] of classes.members()) {
    const usable = nodes.filter((c) => stable(c) && !dropped(c));
    usable.sort((a, b) => rank(a) - rank(b) || a.codePointAt(0)! - b.codePointAt(0)!);
    if (usable[0] !== undefined) representative.set(root, usable[0]);
  }

  const memo = new Map<string, string>();
  const keyOf = (c: string, depth = 0): string => {
    const known = memo.get(c);
    if (known !== undefined) return known;
    if (depth > 20) throw new Error(`Expansion loop at ${show(c)}`);
    let key: string;
    if (dropped(c)) key = "";
    else {
      const expansion = classes.expansion(c);
      if (expansion !== undefined) {
        key = [...expansion.normalize("NFKD").toLowerCase()].map((d) => keyOf(d, depth + 1)).join("");
      } else key = representative.get(classes.find(c)) ?? c;
    }
    memo.set(c, key);
    return key;
  };

  const table = new Map<string, string>();
  for (const c of [...domain].sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!)) {
    const key = keyOf(c);
    if (key !== c) table.set(c, key);
  }
  if (Deno.args.includes("--verbose")) {
    say(`left out ${refused.length} pairs:\n  ${refused.join("\n  ")}`);
  }
  return table;
}

function say(line: string): void {
  Deno.stderr.writeSync(new TextEncoder().encode(line + "\n"));
}

/** `nameKey` as src/names.ts computes it (without its shortcuts), over a given table. */
function keyWith(table: ReadonlyMap<string, string>, name: string): string {
  let key = "";
  let reorder = false;
  for (const ch of name.normalize("NFKD").toLowerCase()) {
    const mapped = table.get(ch);
    key += mapped ?? ch;
    if (mapped !== undefined && /\p{M}/u.test(mapped)) reorder = true;
  }
  return reorder ? key.normalize("NFD") : key;
}

/** Checks the properties `nameKey` promises, over every code point; returns the failures. */
export function verify(table: ReadonlyMap<string, string>): string[] {
  const failures: string[] = [];
  for (const c of codePoints()) {
    const key = keyWith(table, c);
    if (keyWith(table, key) !== key) failures.push(`key of ${show(c)} is not stable: ${show(key)}`);
    for (const other of [c.toUpperCase(), c.toLowerCase()]) {
      if (keyWith(table, other) !== key) failures.push(`${show(c)} and ${show(other)} differ`);
    }
    if (NAME_CHAR.test(c) && !MARK.test(c) && key === "") failures.push(`letter ${show(c)} has an empty key`);
  }
  for (const [c, key] of table) {
    if (/[\t\n]/.test(c + key)) failures.push(`${show(c)} needs a separator the module uses`);
  }
  return failures;
}

function show(text: string): string {
  return `${JSON.stringify(text)} (${[...text].map((c) => `U+${hex(c.codePointAt(0)!)}`).join(" ")})`;
}

function hex(cp: number): string {
  return cp.toString(16).toUpperCase().padStart(4, "0");
}

/** A JavaScript string literal with everything outside printable ASCII escaped. */
function literal(text: string): string {
  let out = '"';
  for (const c of text) {
    const cp = c.codePointAt(0)!;
    if (c === '"' || c === "\\") out += `\\${c}`;
    else if (c === "\t") out += "\\t";
    else if (c === "\n") out += "\\n";
    else if (cp >= 0x20 && cp < 0x7f) out += c;
    else if (cp <= 0xffff) out += `\\u${cp.toString(16).padStart(4, "0")}`;
    else out += `\\u{${cp.toString(16)}}`;
  }
  return out + '"';
}

/** String literals of at most 100 characters holding `entries` in order. */
function chunks(entries: readonly string[]): string[] {
  const out: string[] = [];
  let line = "";
  for (const entry of entries) {
    if (line && literal(line + entry).length > 100) {
      out.push(literal(line));
      line = "";
    }
    line += entry;
  }
  if (line) out.push(literal(line));
  return out;
}

/** The source of the generated module. */
export function render(table: ReadonlyMap<string, string>): string {
  const lines = chunks([...table].map(([c, key]) => `${c}\t${key}\n`));
  const marked = chunks([...table].filter(([, key]) => /\p{M}/u.test(key)).map(([c]) => c));
  return `/**
 * GENERATED by scripts/build_name_skeleton.ts: do not edit. What each character stands for when names are
 * compared (\`nameKey\` in src/names.ts): the characters whose key is not themselves, after NFKD and
 * lower-casing, and their keys ("" for a dropped mark).
 *
 * Source: ${SOURCE}.
 * Closed under case mapping, with Latin small capitals joined to their letters, \`ß\` as \`ss\` and the
 * diacritics all scripts share dropped (see the script for the rules and what is left out).
 * @module
 */

/** The Unicode version of the confusables data. */
export const CONFUSABLES_UNICODE_VERSION = "${UNICODE_VERSION}";

/** Number of entries in {@linkcode SKELETON}. */
export const SKELETON_SIZE = ${table.size};

/** Code point (of a character after NFKD and lower-casing) → its key, where the key is not the character. */
export const SKELETON: ReadonlyMap<number, string> = parse([
${lines.map((l) => `  ${l},`).join("\n")}
]);

/** Characters whose key has a combining mark: after one of them, a key may need canonical reordering. */
export const MARKED: ReadonlySet<number> = codes([
${marked.map((l) => `  ${l},`).join("\n")}
]);

function codes(chunks: readonly string[]): ReadonlySet<number> {
  return new Set(Array.from(chunks.join(""), (c) => c.codePointAt(0)!));
}

/** Reads entries of a character, a tab, its key and a line feed. */
function parse(chunks: readonly string[]): ReadonlyMap<number, string> {
  const data = chunks.join("");
  const table = new Map<number, string>();
  for (let at = 0; at < data.length;) {
    const tab = data.indexOf("\\t", at);
    const end = data.indexOf("\\n", tab);
    table.set(data.codePointAt(at)!, data.slice(tab + 1, end));
    at = end + 1;
  }
  return table;
}
`;
}

if (import.meta.main) {
  const check = Deno.args.includes("--check");
  const table = build();
  const failures = verify(table);
  if (failures.length > 0) {
    throw new Error(
      `The table breaks nameKey's promises:\n${
        failures.slice(0, 40).join("\n")
      }\n(${failures.length} in all)`,
    );
  }
  const source = render(table);
  const path = new URL(`../${GENERATED}`, import.meta.url);
  if (check) {
    const committed = await Deno.readTextFile(path).catch(() => "");
    if (committed !== source) {
      Deno.stderr.writeSync(
        new TextEncoder().encode(`${GENERATED} is stale: run scripts/build_name_skeleton.ts\n`),
      );
      Deno.exit(1);
    }
  } else {
    await Deno.writeTextFile(path, source);
    Deno.stderr.writeSync(new TextEncoder().encode(`wrote ${GENERATED}: ${table.size} entries\n`));
  }
}
