/** The page's logic without a browser: timeline ordering and de-duplication, links, backoff, frame handling. */

import assert from "node:assert/strict";
import {
  addMessages,
  checkName,
  checkRoom,
  type Item,
  lastMessageId,
  linkify,
  MAX_ITEMS,
  messageItem,
  noteItem,
  typingText,
} from "../web/timeline.ts";
import { backoffDelay, DEFAULT_BACKOFF } from "../web/socket.ts";
import {
  applyPresence,
  compareNames,
  formatCount,
  MEMBER_PAGE,
  mergeMembers,
  nextMemberPage,
  presenceText,
} from "../web/members.ts";

const T = (s: number) => new Date(Date.UTC(2026, 10, 22, 10, 0, s)).toISOString();
const m = (id: number, text = `m${id}`, from = "alice") => messageItem(id, T(id), from, text);
const ids = (items: readonly Item[]) => items.map((i) => (i.kind === "message" ? i.id : i.text));

Deno.test("page timeline: live messages append; history lands by id; duplicates are dropped", () => {
  const seen = new Set<string>();
  let { items } = addMessages([], seen, [m(1), m(2)], "live");
  items = [...items, noteItem("bob joined")];
  ({ items } = addMessages(items, seen, [m(6)], "live"));
  // A reconnect asked for everything after 2; 6 arrived live before the answer.
  const filled = addMessages(items, seen, [m(3), m(4), m(5), m(6)], "history");
  assert.deepEqual(ids(filled.items), [1, 2, "bob joined", 3, 4, 5, 6]);
  assert.deepEqual(filled.added.map((x) => x.id), [3, 4, 5]);
  // Older history goes on top.
  const older = addMessages(filled.items, seen, [messageItem(0, T(0), "bob", "first")], "history");
  assert.deepEqual(ids(older.items), [0, 1, 2, "bob joined", 3, 4, 5, 6]);
  assert.equal(lastMessageId(older.items), 6);
  // The same message again, live or from history, changes nothing.
  assert.equal(addMessages(older.items, seen, [m(4)], "live").added.length, 0);
});

Deno.test("page timeline: a server whose ids restarted is not mistaken for duplicates", () => {
  const seen = new Set<string>();
  const { items } = addMessages([], seen, [m(1), m(2)], "live");
  const reset = addMessages(items, seen, [messageItem(1, T(30), "bob", "after a reset")], "live");
  assert.equal(reset.added.length, 1);
  assert.equal(lastMessageId(reset.items), 1);
});

Deno.test("page timeline: it keeps at most MAX_ITEMS lines and forgets the dropped ones", () => {
  const seen = new Set<string>();
  const many = Array.from({ length: MAX_ITEMS + 5 }, (_, i) => m(i + 1));
  const result = addMessages([], seen, many, "live");
  assert.equal(result.items.length, MAX_ITEMS);
  assert.equal(result.trimmed, true);
  assert.equal(seen.size, MAX_ITEMS);
});

Deno.test("linkify makes only http(s) links and keeps the rest as text", () => {
  assert.deepEqual(linkify("see https://example.com/a?b=1."), [
    { text: "see " },
    { text: "https://example.com/a?b=1", href: "https://example.com/a?b=1" },
    { text: "." },
  ]);
  assert.deepEqual(linkify("javascript:alert(1) and data:text/html,<b>x</b>"), [
    { text: "javascript:alert(1) and data:text/html,<b>x</b>" },
  ]);
  assert.deepEqual(linkify("<img src=x onerror=alert(1)>"), [{ text: "<img src=x onerror=alert(1)>" }]);
  assert.deepEqual(linkify("(https://en.wikipedia.org/wiki/Chat_(disambiguation))").map((s) => s.href), [
    undefined,
    "https://en.wikipedia.org/wiki/Chat_(disambiguation)",
    undefined,
  ]);
});

Deno.test("page checkName and checkRoom: names and rooms are checked like the server does", () => {
  assert.equal(checkName("alice"), null);
  assert.equal(checkName("Zoë.k-2"), null);
  assert.ok(checkName("two words"));
  assert.ok(checkName(""));
  assert.ok(checkName("x".repeat(33)));
  assert.equal(checkRoom("#dev"), null);
  assert.ok(checkRoom("#"));
  assert.ok(checkRoom("a/b"));
  assert.equal(typingText(["bob"]), "bob is typing…");
  assert.equal(typingText(["bob", "carol"]), "bob and carol are typing…");
  assert.equal(typingText(["a", "b", "c", "d"]), "4 people are typing…");
});

Deno.test("page backoffDelay: grows exponentially with jitter in [d/2, d], capped", () => {
  assert.equal(backoffDelay(0, DEFAULT_BACKOFF, () => 0), 250);
  assert.equal(backoffDelay(0, DEFAULT_BACKOFF, () => 1), 500);
  assert.equal(backoffDelay(3, DEFAULT_BACKOFF, () => 1), 4000);
  assert.equal(backoffDelay(20, DEFAULT_BACKOFF, () => 0), 15_000);
  assert.equal(backoffDelay(1000, DEFAULT_BACKOFF, () => 1), 30_000);
  const spread = new Set(Array.from({ length: 50 }, () => backoffDelay(4)));
  assert.ok(spread.size > 10, "retries must not happen in lockstep");
  for (const d of spread) assert.ok(d >= 4000 && d <= 8000);
});

Deno.test({
  name:
    "page chat frames: history fills by id, reports gaps, counts unread; DMs and typing go to their conversation",
  // Toasts dismiss themselves on a timer; the test does not wait for it.
  sanitizeOps: false,
}, async () => {
  localStorage.clear();
  const chat = await import("../web/chat.ts");
  const lobby = chat.conversation("room", "lobby");
  const dev = chat.conversation("room", "#dev");
  chat.rooms.value = [lobby, dev];
  chat.activeKey.value = lobby.key;
  chat.wanted.value = "alice";
  chat.me.value = "alice";

  const payload = (id: number, text: string, from = "bob", room = "lobby") => ({
    Message: text,
    Username: from,
    Conn: "c_1",
    Time: T(id),
    Room: room,
    Id: id,
  });
  chat.receive("broadcast", payload(1, "hello"));
  chat.receive("broadcast", payload(3, "three"));
  chat.receive("history", {
    Room: "lobby",
    Messages: [payload(1, "hello"), payload(2, "two")],
    Complete: false,
  });
  assert.deepEqual(ids(lobby.items.value), [1, 2, 3, "Some messages are no longer available."]);
  assert.equal(lobby.unread.value, 0, "the room on screen has nothing unread");

  chat.receive("broadcast", payload(1, "in dev", "bob", "#DEV"));
  chat.receive("broadcast", payload(2, "mine", "alice", "#dev"));
  assert.equal(dev.unread.value, 1, "own messages are not unread");
  chat.activate(dev);
  assert.equal(dev.unread.value, 0);

  chat.receive("typing", { Username: "carol", Room: "#dev" });
  assert.deepEqual(dev.typing.value, ["carol"]);
  chat.receive("broadcast", payload(3, "done typing", "carol", "#dev"));
  assert.deepEqual(dev.typing.value, []);

  chat.receive("private", { Message: "psst", Username: "bob", To: "alice", Conn: "c_2", Time: T(5), Id: 1 });
  chat.receive("private", {
    Message: "hi bob",
    Username: "alice",
    To: "bob",
    Conn: "c_3",
    Time: T(6),
    Id: 2,
  });
  assert.equal(chat.dms.value.length, 1);
  const dm = chat.dms.value[0]!;
  assert.equal(dm.name.value, "bob");
  assert.deepEqual(ids(dm.items.value), [1, 2]);
  assert.equal(dm.unread.value, 1);
  assert.ok(!lobby.items.value.some((i) => i.kind === "message" && i.text === "psst"));

  chat.receive("left", { Username: "bob", Conn: "c_1", Room: "lobby", Reason: "disconnected" });
  assert.equal(
    lobby.items.value.at(-1)?.kind === "note" && lobby.items.value.at(-1)?.text,
    "bob disconnected",
  );

  chat.receive("error", { Code: "rate-limited", Message: "Slow down" });
  assert.deepEqual(chat.toasts.value.map((t) => t.text), ["Slow down"]);
  chat.dismissToast(chat.toasts.value[0]!.id);
  chat.receive("error", { Code: "name-taken", Message: "Name 'alice' is taken" });
  assert.equal(chat.me.value, null);
  assert.equal(chat.nameError.value, "Name 'alice' is taken");
  chat.receive("shutdown", { Message: "server shutting down" });
  assert.equal(chat.serverRestarting.value, true);
  localStorage.clear();
});

/** `n` member names in the server's sort order: `m000`, `m001`, … */
const crowd = (n: number, from = 0) =>
  Array.from({ length: n }, (_, i) => `m${String(from + i).padStart(3, "0")}`);

Deno.test("page members: names sort like the server sorts them (UTF-16 code units, case first)", () => {
  const names = ["bob", "Zoë", "alice", "Émile", "_x", "9lives", "Alice2"];
  assert.deepEqual([...names].sort(compareNames), ["9lives", "Alice2", "Zoë", "_x", "alice", "bob", "Émile"]);
  assert.deepEqual([...names].sort(compareNames), [...names].sort());
});

Deno.test("page members: pages merge into one sorted list: scrolling pages in, no duplicates, first page keeps the rest", () => {
  const room = crowd(250);
  // The pushed first page, then two pages asked for as the list scrolls.
  let known = mergeMembers([], { users: room.slice(0, 100), offset: 0, total: 250 });
  assert.deepEqual(known, room.slice(0, 100));
  known = mergeMembers(known, { users: room.slice(100, 200), offset: 100, total: 250 });
  known = mergeMembers(known, { users: room.slice(200), offset: 200, total: 250 });
  assert.deepEqual(known, room);
  // A fresh first page (someone early in the list left) replaces only what it spans.
  const after = room.filter((n) => n !== "m010");
  known = mergeMembers(known, { users: after.slice(0, 100), offset: 0, total: 249 });
  assert.deepEqual(known, after);
  assert.equal(new Set(known).size, known.length);
  // A page asked at a stale offset overlaps what is loaded: still each name once, in order.
  known = mergeMembers(room.slice(0, 100), { users: room.slice(95, 150), offset: 95, total: 250 });
  assert.deepEqual(known, room.slice(0, 150));
  // A page that reaches the end is the truth for everything after its first name.
  known = mergeMembers([...room.slice(0, 120), "zz-gone"], {
    users: room.slice(100, 110),
    offset: 100,
    total: 110,
  });
  assert.deepEqual(known, room.slice(0, 110));
  // Empty pages: an empty room; a room that shrank below the offset asked.
  assert.deepEqual(mergeMembers(room, { users: [], offset: 0, total: 0 }), []);
  assert.deepEqual(mergeMembers(room.slice(0, 60), { users: [], offset: 60, total: 50 }), room.slice(0, 50));
  assert.deepEqual(mergeMembers(room.slice(0, 60), { users: [], offset: 60, total: 60 }), room.slice(0, 60));
});

Deno.test("page members: the next page starts a little before the end of what is loaded", () => {
  assert.equal(nextMemberPage(200, 200), null);
  assert.equal(nextMemberPage(0, 0), null);
  assert.deepEqual(nextMemberPage(1000, 10_000), { offset: 980, limit: MEMBER_PAGE });
  // Small server pages: a quarter of a page, so every page still brings new names.
  assert.deepEqual(nextMemberPage(50, 200, 50), { offset: 38, limit: MEMBER_PAGE });
  assert.deepEqual(nextMemberPage(3, 200, 3), { offset: 3, limit: MEMBER_PAGE });
  assert.deepEqual(nextMemberPage(5, 200, 1000), { offset: 0, limit: MEMBER_PAGE });
  // Pages asked that way, while two early members leave unseen, still cover everyone once.
  const room = crowd(300);
  let known = mergeMembers([], { users: room.slice(0, 50), offset: 0, total: 300 });
  const now = room.filter((n) => n !== "m003" && n !== "m007");
  for (let page = nextMemberPage(known.length, 298, 50); page !== null;) {
    const users = now.slice(page.offset, page.offset + 50);
    known = mergeMembers(known, { users, offset: page.offset, total: 298 });
    known = known.filter((n) => n !== "m003" && n !== "m007"); // the leave notices, arriving after
    page = nextMemberPage(known.length, 298, 50);
  }
  assert.deepEqual(known, now);
});

Deno.test("page members: join and leave notices keep the loaded members right between lists", () => {
  const loaded = crowd(50, 100); // m100…m149 loaded of a bigger room
  // Within what is loaded: inserted in order; past it: left for the page that holds it.
  assert.deepEqual(applyPresence(loaded, ["m120x", "m999"], [], false), [
    ...crowd(21, 100),
    "m120x",
    ...crowd(29, 121),
  ]);
  // Everything loaded: a joiner goes anywhere; one already there is not doubled.
  assert.deepEqual(applyPresence(["b", "d"], ["e", "a", "b"], [], true), ["a", "b", "d", "e"]);
  assert.deepEqual(applyPresence(["a", "b", "c"], [], ["b", "zz"], false), ["a", "c"]);
  assert.deepEqual(applyPresence([], ["a"], [], false), []);
  const same = ["a"];
  assert.equal(applyPresence(same, [], [], true), same, "nothing to apply: the same array");
});

Deno.test("page members: presence summaries read as one line", () => {
  assert.equal(presenceText(["bob"], 1, "joined"), "bob joined");
  assert.equal(presenceText(["bob", "carol"], 2, "left"), "bob and carol left");
  assert.equal(presenceText(["bob", "carol", "dave"], 3, "joined"), "bob, carol and dave joined");
  assert.equal(presenceText(crowd(37), 37, "joined"), "37 people joined");
  // The server may name fewer people than it counts.
  assert.equal(presenceText(["bob"], 2, "left"), "2 people left");
  assert.equal(presenceText(crowd(5), 10_000, "joined"), "10,000 people joined");
  assert.equal(presenceText([], 1, "joined"), "1 person joined");
  assert.equal(formatCount(200), "200");
});

Deno.test({
  name:
    "page chat frames: username confirms the name; summaries are one notice; lists page in with their total",
  sanitizeOps: false,
}, async () => {
  localStorage.clear();
  const chat = await import("../web/chat.ts");
  const big = chat.conversation("room", "#big");
  chat.rooms.value = [big];
  chat.activeKey.value = big.key;
  chat.me.value = null;
  chat.nameError.value = null;

  // The confirmation is the acceptance, with the name as the server spells it.
  chat.receive("username", { Username: "Alice" });
  assert.equal(chat.me.value, "Alice");
  assert.equal(chat.wanted.value, "Alice");
  assert.equal(localStorage.getItem("hubbub.name"), "Alice");

  const room = ["Alice", ...crowd(199)].sort(compareNames);
  chat.receive("userlist", { Room: "#big", Users: room.slice(0, 50), Total: 200, Offset: 0 });
  assert.equal(big.memberTotal.value, 200);
  assert.deepEqual(big.members.value, room.slice(0, 50));
  chat.receive("userlist", { Room: "#big", Users: room.slice(50, 100), Total: 200, Offset: 50 });
  assert.deepEqual(big.members.value, room.slice(0, 100));
  // The next pushed first page keeps the page scrolled to.
  chat.receive("userlist", { Room: "#big", Users: room.slice(0, 50), Total: 200, Offset: 0 });
  assert.deepEqual(big.members.value, room.slice(0, 100));

  // 37 people in one summary: one line, not 37; the ones inside the loaded names appear at once.
  const before = big.items.value.length;
  const newcomers = Array.from({ length: 37 }, (_, i) => `n${String(i).padStart(2, "0")}`);
  chat.receive("connected", { Room: "#big", Users: ["m050a", ...newcomers.slice(1)], Count: 37 });
  assert.equal(big.items.value.length, before + 1);
  assert.equal(big.items.value.at(-1)?.text, "37 people joined");
  assert.ok(big.members.value.includes("m050a"));
  assert.ok(!big.members.value.includes("n01"), "a joiner past the loaded names waits for its page");
  chat.receive("left", { Room: "#big", Users: ["m000", "m001", "Alice"], Count: 3 });
  assert.equal(big.items.value.at(-1)?.text, "m000 and m001 left", "own name is not announced");
  assert.ok(!big.members.value.includes("m000"));
  // Single notices stay single lines.
  chat.receive("connected", { Username: "m010b", Conn: "c_9", Room: "#big" });
  assert.equal(big.items.value.at(-1)?.text, "m010b joined");
  assert.ok(big.members.value.includes("m010b"));
  chat.receive("left", { Username: "m010b", Conn: "c_9", Room: "#big", Reason: "left" });
  assert.equal(big.items.value.at(-1)?.text, "m010b left");
  assert.ok(!big.members.value.includes("m010b"));
  assert.equal(new Set(big.members.value).size, big.members.value.length);

  // An older server: the whole list, no total.
  chat.receive("userlist", { Room: "#big", Users: ["Alice", "bob"] });
  assert.deepEqual(big.members.value, ["Alice", "bob"]);
  assert.equal(big.memberTotal.value, 2);
  localStorage.clear();
});
