/**
 * Pure helpers for big rooms: the loaded part of a room's member list (pages merged as they arrive, kept
 * right by join and leave notices) and the text of summarised presence notices. No DOM, no sockets.
 *
 * The server sends a room's members sorted by name and, above its list limit, only the first names plus
 * the total; the page asks for further pages (`userlist` with `Offset` and `Limit`) as the list scrolls.
 * What the page holds is therefore a sorted prefix of the room, as well as it knows it.
 * @module
 */

/** Compares two names the way the server sorts member lists (by UTF-16 code units, like `<`). */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** One `userlist` frame: a page of the sorted member list. */
export interface MemberPage {
  /** The names, in the server's order. */
  readonly users: readonly string[];
  /** Position of the first of them in the whole list. */
  readonly offset: number;
  /** Members in the room. */
  readonly total: number;
}

/**
 * Merges a page into the loaded names. A page is the truth for the stretch of names it spans: everything
 * loaded between its first and last name is replaced by it; a page at offset 0 spans everything before its
 * last name, and a page that reaches the end of the list spans everything after its first. Names loaded
 * outside that stretch are kept, so a fresh first page does not throw away the pages scrolled to.
 *
 * Because stretches are bounded by names, not positions, pages fetched while people come and go never
 * duplicate a name, whatever offsets they were asked at. `known` and `page.users` must be sorted.
 */
export function mergeMembers(known: readonly string[], page: MemberPage): string[] {
  const { users, offset, total } = page;
  if (users.length === 0) {
    // An empty first page: the room is empty. An empty later page: the room shrank below `offset`; the
    // names loaded cannot be more than the room has.
    if (offset === 0) return [];
    return known.length > total ? known.slice(0, total) : [...known];
  }
  const first = users[0]!;
  const last = users[users.length - 1]!;
  const before = offset === 0 ? [] : known.filter((n) => compareNames(n, first) < 0);
  const after = offset + users.length >= total ? [] : known.filter((n) => compareNames(n, last) > 0);
  return [...before, ...users, ...after];
}

/** Names asked for per page as the member list scrolls (the server may send fewer: its list limit). */
export const MEMBER_PAGE = 200;
/** Pages overlap what is loaded by up to this many names (a quarter of a page at most). */
export const MEMBER_OVERLAP = 20;

/**
 * The next page to ask for when `have` names of `total` are loaded and the server's pages hold `pageSize`
 * names, or `null` when everything is loaded. Pages start a little before the end of what is loaded: when
 * people before it left in the meantime, positions moved down, and a page asked at exactly `have` would skip
 * the names that moved into the gap. The overlap costs a few names per page and {@linkcode mergeMembers}
 * absorbs it.
 */
export function nextMemberPage(
  have: number,
  total: number,
  pageSize: number = MEMBER_PAGE,
): { readonly offset: number; readonly limit: number } | null {
  if (have >= total) return null;
  const overlap = Math.min(MEMBER_OVERLAP, Math.floor(Math.min(pageSize, MEMBER_PAGE) / 4));
  return { offset: Math.max(0, have - overlap), limit: MEMBER_PAGE };
}

/** Where `name` goes in the sorted `names` (the index of the first name not before it). */
function position(names: readonly string[], name: string): number {
  let lo = 0;
  let hi = names.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareNames(names[mid]!, name) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Applies join and leave notices to the loaded names. Leavers are removed. A joiner is inserted in sort
 * order when it falls within what is loaded (before the last loaded name), or anywhere when the whole list
 * is loaded (`complete`); a joiner past the loaded part arrives with the page that holds it.
 */
export function applyPresence(
  known: readonly string[],
  joined: readonly string[],
  left: readonly string[],
  complete: boolean,
): readonly string[] {
  if (joined.length === 0 && left.length === 0) return known;
  const gone = new Set(left);
  const next = gone.size === 0 ? [...known] : known.filter((n) => !gone.has(n));
  const end = known[known.length - 1];
  for (const name of joined) {
    if (gone.has(name)) continue;
    if (!complete && (end === undefined || compareNames(name, end) >= 0)) continue;
    const at = position(next, name);
    if (next[at] !== name) next.splice(at, 0, name);
  }
  return next;
}

const numbers = new Intl.NumberFormat("en-US");

/** A count as the page shows it: `200`, `10,000`. */
export function formatCount(n: number): string {
  return numbers.format(n);
}

/**
 * The one notice line for people joining or leaving: "bob joined", "bob and carol left",
 * "bob, carol and dave joined", "37 people joined". `count` is how many there were (the server may name
 * fewer than it counts); `verb` is the past tense shown.
 */
export function presenceText(names: readonly string[], count: number, verb: string): string {
  const n = Math.max(count, names.length);
  if (n === names.length) {
    if (n === 1) return `${names[0]} ${verb}`;
    if (n === 2) return `${names[0]} and ${names[1]} ${verb}`;
    if (n === 3) return `${names[0]}, ${names[1]} and ${names[2]} ${verb}`;
  }
  return `${formatCount(n)} ${n === 1 ? "person" : "people"} ${verb}`;
}
