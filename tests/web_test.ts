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

const T = (s: number) => new Date(Date.UTC(2026, 10, 22, 10, 0, s)).toISOString();
const m = (id: number, text = `m${id}`, from = "alice") => messageItem(id, T(id), from, text);
const ids = (items: readonly Item[]) => items.map((i) => (i.kind === "message" ? i.id : i.text));

Deno.test("live messages append; history lands by id; duplicates are dropped", () => {
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

Deno.test("a server whose ids restarted is not mistaken for duplicates", () => {
  const seen = new Set<string>();
  const { items } = addMessages([], seen, [m(1), m(2)], "live");
  const reset = addMessages(items, seen, [messageItem(1, T(30), "bob", "after a reset")], "live");
  assert.equal(reset.added.length, 1);
  assert.equal(lastMessageId(reset.items), 1);
});

Deno.test("a timeline keeps at most MAX_ITEMS lines and forgets the dropped ones", () => {
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

Deno.test("names and rooms are checked like the server does", () => {
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

Deno.test("backoff grows exponentially with jitter in [d/2, d], capped", () => {
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
  name: "frames: history fills by id, reports gaps, counts unread; DMs and typing go to their conversation",
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
