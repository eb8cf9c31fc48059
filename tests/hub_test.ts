/** The hub with fake sessions and a memory store: names, rooms, fan-out, presence, typing, failure, shutdown. */

import { hubOptions, roomHistory } from "./_helpers.ts";
import assert from "node:assert/strict";
import { type Client, Hub, type HubOptions } from "../src/hub/hub.ts";
import type {
  ChatEvent,
  ChatMessage,
  CloseReason,
  Codec,
  DirectMessage,
  Frame,
  Result,
  Session,
} from "../src/model.ts";
import { MemoryStore } from "../src/store/memory.ts";
import { BacklogClock } from "../src/hub/backpressure.ts";
import type { Range, Store } from "../src/store/store.ts";

type Kind = ChatEvent["kind"];
type EventOf<K extends Kind> = Extract<ChatEvent, { kind: K }>;

const ALL_KINDS: Kind[] = ["message", "dm", "join", "leave", "users", "typing", "notice", "shutdown"];

/** A codec that renders events as JSON and remembers every event it was asked to encode. */
class TestCodec implements Codec {
  readonly name: string;
  readonly echo: ReadonlySet<Kind>;
  readonly calls: ChatEvent[] = [];

  constructor(name: string, echo: readonly Kind[] = []) {
    this.name = name;
    this.echo = new Set(echo);
  }

  encode(event: ChatEvent): Frame | null {
    this.calls.push(event);
    return JSON.stringify(event);
  }

  encoded(kind: Kind): number {
    return this.calls.filter((e) => e.kind === kind).length;
  }
}

let sessions = 0;

/** A session that records what it is sent and how it was closed. */
class FakeSession implements Session {
  readonly id = `c_test_${++sessions}`;
  readonly codec: Codec;
  readonly frames: Frame[] = [];
  readonly closed: CloseReason[] = [];
  load = 0;

  constructor(codec: Codec) {
    this.codec = codec;
  }

  send(frame: Frame): void {
    this.frames.push(frame);
  }

  pressure(): number {
    return this.load;
  }

  queued(): number {
    return 0;
  }

  close(reason: CloseReason): void {
    this.closed.push(reason);
  }

  events(): ChatEvent[] {
    return this.frames.map((frame) => JSON.parse(frame as string) as ChatEvent);
  }

  of<K extends Kind>(kind: K): EventOf<K>[] {
    return this.events().filter((e): e is EventOf<K> => e.kind === kind);
  }

  clear(): void {
    this.frames.length = 0;
  }
}

interface Conn {
  readonly client: Client;
  readonly session: FakeSession;
}

/** A hub over a memory store, with fast presence; shut down (timers cleared) when the test ends. */
class Fixture implements AsyncDisposable {
  readonly store: Store;
  readonly hub: Hub;
  readonly plain = new TestCodec("plain");
  readonly echoing = new TestCodec("echo", ALL_KINDS);

  constructor(options: Partial<HubOptions> = {}) {
    this.store = options.store ?? new MemoryStore();
    this.hub = new Hub(hubOptions(this.store, { presenceIntervalMs: 20, ...options }));
  }

  /** Connects a session; logs it in and joins rooms when asked. */
  open(name?: string, options: { codec?: Codec; rooms?: string[]; token?: string } = {}): Conn {
    const session = new FakeSession(options.codec ?? this.plain);
    const client = this.hub.connect(session);
    if (name !== undefined) {
      const result = this.hub.login(
        client,
        name,
        options.token === undefined ? {} : { token: options.token },
      );
      assert.ok(result.ok, `login ${name}: ${JSON.stringify(result)}`);
    }
    for (const room of options.rooms ?? []) assert.ok(this.hub.join(client, room).ok, `join ${room}`);
    return { client, session };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.hub.shutdown();
    await this.store.close();
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls until `check` holds (coalesced lists arrive on a timer); fails after a few seconds. */
async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (check()) return;
    await delay(5);
  }
  throw new Error(`Timed out waiting until ${what}`);
}

function names(event: EventOf<"users">): string[] {
  return event.users.map((u) => u.name);
}

/** A store that cannot store anything. */
class BrokenStore implements Store {
  append(): Promise<ChatMessage> {
    return Promise.reject(new Error("disk full"));
  }
  appendDirect(): Promise<DirectMessage> {
    return Promise.reject(new Error("disk full"));
  }
  range(): Promise<Range<ChatMessage>> {
    return Promise.resolve({ messages: [], complete: true });
  }
  rangeDirect(): Promise<Range<DirectMessage>> {
    return Promise.resolve({ messages: [], complete: true });
  }
  prune(): Promise<void> {
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

// ---------------------------------------------------------------------------------------------- login

Deno.test("hub.login(): a valid free name is granted as given", async () => {
  await using f = new Fixture();
  const { client } = f.open();
  assert.equal(client.name, null);
  assert.deepEqual(f.hub.login(client, "Alice"), { ok: true, value: "Alice" });
  assert.equal(client.name, "Alice");
  assert.ok(f.hub.online("alice"));
  assert.equal(f.hub.connections, 1);
});

Deno.test("hub.login(): invalid names are refused and the connection stays nameless", async () => {
  await using f = new Fixture();
  const { client } = f.open();
  for (const bad of ["", "has space", "x".repeat(33), "admin", "a;b"]) {
    const result = f.hub.login(client, bad);
    assert.equal(result.ok, false);
    assert.equal(!result.ok && result.code, "invalid-username", bad);
    assert.equal(client.name, null);
  }
  assert.ok(f.hub.login(client, "alice").ok, "a failed login can be retried");
});

Deno.test("hub.login(): a taken name is refused, compared case-insensitively and across look-alikes", async () => {
  await using f = new Fixture();
  f.open("alice");
  for (const same of ["alice", "ALICE", "Alice", "\u0410lice", "ａｌｉｃｅ"]) {
    const { client } = f.open();
    const result = f.hub.login(client, same);
    assert.ok(!result.ok && result.code === "username-taken", `${same}: ${JSON.stringify(result)}`);
    assert.equal(client.name, null);
  }
  assert.equal(f.hub.isFree("Alice"), false);
  assert.equal(f.hub.isFree("alicia"), true);
  assert.equal(f.hub.isFree("admin"), false, "reserved names are never free");
});

Deno.test("hub.login(): twice on one connection is refused", async () => {
  await using f = new Fixture();
  const { client } = f.open("alice");
  const again = f.hub.login(client, "bob");
  assert.ok(!again.ok && again.code === "already-logged-in");
  assert.equal(client.name, "alice");
  assert.ok(!f.hub.online("bob"));
});

Deno.test("hub.login(): a name is freed when its connection disconnects", async () => {
  await using f = new Fixture();
  const alice = f.open("alice");
  f.hub.disconnect(alice.client);
  f.hub.disconnect(alice.client); // safe twice
  assert.ok(!f.hub.online("alice"));
  assert.equal(f.hub.connections, 0);
  const { client } = f.open();
  assert.deepEqual(f.hub.login(client, "ALICE"), { ok: true, value: "ALICE" });
});

Deno.test("hub.login(): connections with the same token share a name; others are refused", async () => {
  await using f = new Fixture();
  const one = f.open("alice", { token: "tok-1" });
  const two = f.open();
  assert.deepEqual(f.hub.login(two.client, "ALICE", { token: "tok-1" }), { ok: true, value: "alice" });
  assert.equal(two.client.name, "alice", "the shared name keeps its first spelling");

  for (const options of [{}, { token: "tok-2" }, { token: null }, { token: "" }]) {
    const other = f.open();
    const result = f.hub.login(other.client, "alice", options);
    assert.ok(!result.ok && result.code === "username-taken", JSON.stringify(options));
  }

  // The name stays taken while any of its connections is open.
  f.hub.disconnect(one.client);
  assert.ok(f.hub.online("alice"));
  assert.equal(f.hub.isFree("alice"), false);
  assert.equal(f.hub.isFree("alice", "tok-1"), true);
  f.hub.disconnect(two.client);
  assert.ok(!f.hub.online("alice"));
  assert.equal(f.hub.isFree("alice"), true);
});

Deno.test("hub.login(): without a token a name is never shared", async () => {
  await using f = new Fixture();
  f.open("alice");
  const { client } = f.open();
  const result = f.hub.login(client, "alice");
  assert.ok(!result.ok && result.code === "username-taken");
});

Deno.test("hub.login(): variant mode gives alice-2, then alice-3, within 32 characters", async () => {
  await using f = new Fixture();
  f.open("alice");
  const second = f.open();
  assert.deepEqual(f.hub.login(second.client, "alice", { variant: true }), { ok: true, value: "alice-2" });
  const third = f.open();
  assert.deepEqual(f.hub.login(third.client, "ALICE", { variant: true }), { ok: true, value: "ALICE-3" });
  assert.ok(f.hub.online("alice-2") && f.hub.online("alice-3"));

  const long = "x".repeat(32);
  f.open(long);
  const fourth = f.open();
  const variant = f.hub.login(fourth.client, long, { variant: true });
  assert.deepEqual(variant, { ok: true, value: "x".repeat(30) + "-2" });

  // A free name needs no variant; an invalid one gets none.
  const fifth = f.open();
  assert.deepEqual(f.hub.login(fifth.client, "bob", { variant: true }), { ok: true, value: "bob" });
  const sixth = f.open();
  const bad = f.hub.login(sixth.client, "bad name", { variant: true });
  assert.ok(!bad.ok && bad.code === "invalid-username");
});

// ------------------------------------------------------------------------------------ join and leave

Deno.test("hub.join(): others hear it; the joiner only where its dialect echoes joins; other rooms hear nothing", async () => {
  await using f = new Fixture();
  const joinEcho = new TestCodec("join-echo", ["join", "leave"]);
  const alice = f.open("alice", { rooms: ["lobby"] });
  const carol = f.open("carol", { rooms: ["#dev"] });
  const bob = f.open("bob", { codec: joinEcho });
  assert.deepEqual(
    f.hub.join(bob.client, "LOBBY"),
    { ok: true, value: "lobby" },
    "the room keeps its first spelling",
  );

  const expected = { kind: "join", room: "lobby", name: "bob", conn: bob.session.id };
  assert.deepEqual(alice.session.of("join"), [expected]);
  assert.deepEqual(bob.session.of("join"), [expected], "bob's dialect echoes joins");
  assert.deepEqual(carol.session.of("join"), []);

  // The plain joiner did not hear its own join.
  assert.deepEqual(alice.session.of("join").filter((e) => e.name === "alice"), []);
});

Deno.test("hub.join(): replays as many recent messages as the door asks for, none by default", async () => {
  await using f = new Fixture();
  const alice = f.open("alice", { rooms: ["den"] });
  for (let i = 1; i <= 4; i++) assert.ok((await f.hub.say(alice.client, `m${i}`)).ok);
  const texts = (c: Conn) => c.session.of("message").map((e) => e.message.text);
  const plain = f.open("plain");
  assert.ok(f.hub.join(plain.client, "den").ok);
  const zero = f.open("zero");
  assert.ok(f.hub.join(zero.client, "den", { replay: 0 }).ok);
  const two = f.open("two");
  assert.ok(f.hub.join(two.client, "den", { replay: 2 }).ok);
  await until(() => texts(two).length === 2, "the replay");
  assert.deepEqual(texts(two), ["m3", "m4"]);
  assert.ok((await f.hub.say(alice.client, "live")).ok);
  assert.deepEqual(texts(two), ["m3", "m4", "live"]);
  assert.deepEqual(texts(plain), ["live"]);
  assert.deepEqual(texts(zero), ["live"]);
});

Deno.test("hub.join(): a replayed row stored before text was cleaned on input is cleaned on its way out", async () => {
  await using f = new Fixture();
  await f.store.append({ room: "den", time: 0, from: "old", text: "\x1b[2Jlegacy\u202e", conn: "c_0" });
  const late = f.open("late");
  assert.ok(f.hub.join(late.client, "den", { replay: 5 }).ok);
  await until(() => late.session.of("message").length === 1, "the replay");
  assert.equal(late.session.of("message")[0]!.message.text, "\uFFFD[2Jlegacy\uFFFD");
});

Deno.test("hub.join(): an invalid room is refused; joining a room one is in only makes it current", async () => {
  await using f = new Fixture();
  const alice = f.open("alice", { rooms: ["lobby"] });
  const bob = f.open("bob", { rooms: ["lobby", "#dev"] });
  for (const bad of ["", "my room", "#", "r".repeat(65)]) {
    const result = f.hub.join(alice.client, bad);
    assert.ok(!result.ok && result.code === "invalid-room", bad);
  }
  assert.equal(alice.client.room, "lobby");
  assert.equal(bob.client.room, "#dev", "the last joined room is current");
  assert.deepEqual(bob.client.roomNames.sort(), ["#dev", "lobby"]);
  alice.session.clear();
  assert.deepEqual(f.hub.join(bob.client, "Lobby"), { ok: true, value: "lobby" });
  assert.equal(bob.client.room, "lobby");
  assert.deepEqual(alice.session.of("join"), [], "no second join for a member already there");
});

Deno.test("hub.leave(): others hear 'left'; the leaver only with echo; then it is out of the room", async () => {
  await using f = new Fixture();
  const echo = new TestCodec("leave-echo", ["leave"]);
  const alice = f.open("alice", { rooms: ["lobby"] });
  const bob = f.open("bob", { codec: echo, rooms: ["lobby"] });
  alice.session.clear();
  bob.session.clear();

  assert.deepEqual(f.hub.leave(alice.client), { ok: true, value: "lobby" });
  assert.deepEqual(bob.session.of("leave"), [
    { kind: "leave", room: "lobby", name: "alice", conn: alice.session.id, reason: "left" },
  ]);
  assert.deepEqual(alice.session.of("leave"), [], "plain dialects do not echo leaves");
  assert.equal(alice.client.room, null);

  assert.deepEqual(f.hub.leave(bob.client, "LOBBY"), { ok: true, value: "lobby" });
  assert.deepEqual(bob.session.of("leave").map((e) => e.name), ["alice", "bob"], "bob hears his own leave");
  assert.deepEqual(alice.session.of("leave"), [], "alice is no longer in the room");

  const again = f.hub.leave(bob.client);
  assert.ok(!again.ok && again.code === "not-in-room");
  const elsewhere = f.hub.leave(alice.client, "#nowhere");
  assert.ok(!elsewhere.ok && elsewhere.code === "not-in-room");
});

Deno.test("hub.leave(): the current room becomes the last joined of those left", async () => {
  await using f = new Fixture();
  const alice = f.open("alice", { rooms: ["lobby", "#dev", "#ops"] });
  f.hub.leave(alice.client, "#ops");
  assert.equal(alice.client.room, "#dev");
  f.hub.leave(alice.client);
  assert.equal(alice.client.room, "lobby");
});

Deno.test("hub.disconnect(): every room hears 'disconnected'; the leaver hears nothing even with echo", async () => {
  await using f = new Fixture();
  const dave = f.open("dave", { codec: f.echoing, rooms: ["lobby", "#ops"] });
  const erin = f.open("erin", { rooms: ["#ops"] });
  const fred = f.open("fred", { rooms: ["lobby"] });
  dave.session.clear();
  f.hub.disconnect(dave.client);
  const expected = (room: string) => ({
    kind: "leave",
    room,
    name: "dave",
    conn: dave.session.id,
    reason: "disconnected",
  });
  assert.deepEqual(erin.session.of("leave"), [expected("#ops")]);
  assert.deepEqual(fred.session.of("leave"), [expected("lobby")]);
  assert.deepEqual(dave.session.frames, []);
  assert.deepEqual(f.hub.members("lobby").members.map((u) => u.name), ["fred"]);
});

Deno.test("hub: a member with two connections in one room joins once and leaves once", async () => {
  await using f = new Fixture();
  const bob = f.open("bob", { rooms: ["lobby"] });
  const one = f.open("alice", { token: "t", rooms: ["lobby"] });
  const two = f.open("alice", { token: "t", rooms: ["lobby"] });
  assert.deepEqual(bob.session.of("join").map((e) => e.name), ["alice"]);
  assert.deepEqual(f.hub.members("lobby").members.map((u) => u.name), ["alice", "bob"]);
  assert.deepEqual(f.hub.rooms(), [{ name: "lobby", members: 2 }]);

  f.hub.leave(one.client);
  assert.deepEqual(bob.session.of("leave"), [], "alice is still here through her other connection");
  assert.deepEqual(f.hub.members("lobby").members.map((u) => u.name), ["alice", "bob"]);
  f.hub.disconnect(two.client);
  assert.deepEqual(bob.session.of("leave").map((e) => [e.name, e.reason]), [["alice", "disconnected"]]);
});

Deno.test("hub: a nameless connection in a room receives messages and appears when it logs in", async () => {
  await using f = new Fixture();
  const alice = f.open("alice", { rooms: ["lobby"] });
  const guest = f.open(undefined, { rooms: ["lobby"] });
  assert.deepEqual(alice.session.of("join"), [], "nameless connections are not announced");
  assert.deepEqual(f.hub.members("lobby").members.map((u) => u.name), ["alice"]);

  await f.hub.say(alice.client, "welcome");
  assert.deepEqual(guest.session.of("message").map((e) => e.message.text), ["welcome"]);
  const refused = await f.hub.say(guest.client, "hi");
  assert.ok(!refused.ok && refused.code === "not-logged-in");

  f.hub.login(guest.client, "nina");
  assert.deepEqual(alice.session.of("join").map((e) => e.name), ["nina"]);
  assert.deepEqual(f.hub.members("lobby").members.map((u) => u.name), ["alice", "nina"]);
});

Deno.test("hub: rooms are created on first join and removed from memory when empty; history stays", async () => {
  await using f = new Fixture();
  const alice = f.open("alice", { rooms: ["#Dev"] });
  const bob = f.open("bob", { rooms: ["#dev", "lobby"] });
  assert.deepEqual(f.hub.rooms(), [{ name: "#Dev", members: 2 }, { name: "lobby", members: 1 }]);
  assert.deepEqual(f.hub.members("#DEV").members.map((u) => u.name), ["alice", "bob"]);
  assert.ok((await f.hub.say(alice.client, "remember me", { room: "#dev" })).ok);

  f.hub.leave(alice.client, "#dev");
  assert.deepEqual(f.hub.rooms(), [{ name: "#Dev", members: 1 }, { name: "lobby", members: 1 }]);
  f.hub.disconnect(bob.client);
  assert.deepEqual(f.hub.rooms(), []);
  assert.deepEqual(f.hub.members("#dev").members, []);

  const history = await roomHistory(f.hub, "#dev", { limit: 10 });
  assert.deepEqual(history.messages.map((m) => m.text), ["remember me"]);

  // A new first joiner names the new room; numbering continues from the store.
  f.hub.join(alice.client, "#DEV");
  assert.deepEqual(f.hub.rooms(), [{ name: "#DEV", members: 1 }]);
  const next = await f.hub.say(alice.client, "back");
  assert.ok(next.ok && next.value.id === 2);
});

// ------------------------------------------------------------------------------------------------ say

Deno.test("hub.say(): stored with growing ids and handed to every room member, the sender only with echo", async () => {
  await using f = new Fixture();
  const msgEcho = new TestCodec("msg-echo", ["message"]);
  const alice = f.open("alice", { rooms: ["lobby"] });
  const bob = f.open("bob", { rooms: ["lobby"] });
  const carol = f.open("carol", { codec: msgEcho, rooms: ["lobby"] });
  const dave = f.open("dave", { rooms: ["#dev"] });

  const before = Date.now();
  const first = await f.hub.say(alice.client, "one");
  assert.ok(first.ok);
  assert.equal(first.value.id, 1);
  assert.equal(first.value.room, "lobby");
  assert.equal(first.value.from, "alice");
  assert.equal(first.value.text, "one");
  assert.equal(first.value.conn, alice.session.id);
  assert.ok(first.value.time >= before && first.value.time <= Date.now());

  const second = await f.hub.say(carol.client, "two");
  assert.ok(second.ok && second.value.id === 2);

  const texts = (c: Conn) =>
    c.session.of("message").map((e) => `${e.message.id}:${e.message.from}:${e.message.text}`);
  assert.deepEqual(texts(alice), ["2:carol:two"], "alice does not hear herself");
  assert.deepEqual(texts(bob), ["1:alice:one", "2:carol:two"]);
  assert.deepEqual(texts(carol), ["1:alice:one", "2:carol:two"], "carol's dialect echoes her message");
  assert.deepEqual(texts(dave), [], "another room hears nothing");
  assert.deepEqual(
    bob.session.of("message")[0]!.message,
    first.value,
    "the event carries the stored message",
  );

  const stored = await f.store.range("lobby", { limit: 10 });
  assert.deepEqual(stored.messages.map((m) => m.text), ["one", "two"]);
});

Deno.test("hub.say(): concurrent messages get distinct growing ids, delivered in id order", async () => {
  await using f = new Fixture();
  const alice = f.open("alice", { rooms: ["lobby"] });
  const bob = f.open("bob", { rooms: ["lobby"] });
  const results = await Promise.all(
    Array.from({ length: 20 }, (_, i) => f.hub.say(i % 2 ? alice.client : bob.client, `m${i}`)),
  );
  const ids = results.map((r) => (r.ok ? r.value.id : -1));
  assert.deepEqual([...ids].sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i + 1));
  const seen = bob.session.of("message").map((e) => e.message.id);
  assert.deepEqual(seen, [...seen].sort((a, b) => a - b));
  assert.equal(seen.length, 10, "bob hears alice's ten");
});

Deno.test("hub.say(): to a named room the client is in, with a tag; ids are per room", async () => {
  await using f = new Fixture();
  const alice = f.open("alice", { rooms: ["lobby", "#dev"] });
  const bob = f.open("bob", { rooms: ["#dev"] });
  await f.hub.say(alice.client, "in lobby", { room: "lobby" });
  const dev = await f.hub.say(alice.client, "in dev", { room: "#DEV", tag: "AAEC" });
  assert.ok(dev.ok);
  assert.equal(dev.value.id, 1, "#dev has its own sequence");
  assert.equal(dev.value.room, "#dev");
  assert.equal(dev.value.tag, "AAEC");
  assert.deepEqual(bob.session.of("message").map((e) => e.message.text), ["in dev"]);
  assert.equal(bob.session.of("message")[0]!.message.tag, "AAEC");
});

Deno.test("hub.say(): refused when not logged in, not in the room, or empty; nothing is stored", async () => {
  await using f = new Fixture();
  const nameless = f.open();
  const roomless = f.open("alice");
  const bob = f.open("bob", { rooms: ["lobby"] });
  const code = async (p: Promise<Result<unknown>>) => {
    const r = await p;
    return r.ok ? "ok" : r.code;
  };
  assert.equal(await code(f.hub.say(nameless.client, "hi")), "not-logged-in");
  assert.equal(await code(f.hub.say(roomless.client, "hi")), "not-in-room");
  assert.equal(await code(f.hub.say(bob.client, "hi", { room: "#elsewhere" })), "not-in-room");
  assert.equal(await code(f.hub.say(bob.client, "")), "empty-message");
  assert.equal(await code(f.hub.say(bob.client, "  \t ")), "empty-message");
  assert.deepEqual((await f.store.range("lobby", { limit: 10 })).messages, []);
  assert.deepEqual(bob.session.of("message"), []);
});

Deno.test("hub.say() and hub.dm(): text is cleaned once, before it is stored; what is stored is what is delivered", async () => {
  await using f = new Fixture();
  const alice = f.open("alice", { rooms: ["lobby"] });
  const bob = f.open("bob", { rooms: ["lobby"] });
  const said = await f.hub.say(alice.client, "\x1b[2Jhi\0\u009b\u202e\nnext\r\nline\tTAB");
  assert.ok(said.ok);
  const clean = "\uFFFD[2Jhi\uFFFD\uFFFD\uFFFD\nnext\r\nline\tTAB";
  assert.equal(said.value.text, clean, "line breaks and TAB stay; the line dialects render breaks as spaces");
  assert.deepEqual(bob.session.of("message").map((e) => e.message.text), [clean]);
  assert.deepEqual((await f.store.range("lobby", { limit: 10 })).messages.map((m) => m.text), [clean]);
  const dm = await f.hub.dm(alice.client, "bob", "\x07ding\u2066");
  assert.ok(dm.ok && dm.value.text === "\uFFFDding\uFFFD");
  assert.deepEqual(bob.session.of("dm").map((e) => e.message.text), ["\uFFFDding\uFFFD"]);
  // Whitespace-only text (VT and FF are whitespace) is still empty, not a message of replacement characters.
  const blank = await f.hub.say(alice.client, "\v\f ");
  assert.ok(!blank.ok && blank.code === "empty-message");
});

// ------------------------------------------------------------------------------------------------- dm

Deno.test("hub.dm(): reaches the target (any spelling of its name), not the sender without echo, nobody else", async () => {
  await using f = new Fixture();
  const alice = f.open("alice");
  const bob = f.open("Bob");
  const carol = f.open("carol");
  const result = await f.hub.dm(alice.client, "BOB", "psst");
  assert.ok(result.ok);
  assert.equal(result.value.to, "Bob", "the target's own spelling");
  assert.equal(result.value.from, "alice");
  assert.equal(result.value.id, 1);
  assert.deepEqual(bob.session.of("dm").map((e) => e.message), [result.value]);
  assert.deepEqual(alice.session.of("dm"), []);
  assert.deepEqual(carol.session.of("dm"), []);
  const stored = await f.store.rangeDirect("bob", "alice", { limit: 10 });
  assert.deepEqual(stored.messages, [result.value]);
});

Deno.test("hub.dm(): the sender's connection hears it back only where its dialect echoes DMs", async () => {
  await using f = new Fixture();
  const dmEcho = new TestCodec("dm-echo", ["dm"]);
  const alice = f.open("alice", { codec: dmEcho });
  const bob = f.open("bob");
  await f.hub.dm(alice.client, "bob", "hello");
  assert.deepEqual(alice.session.of("dm").map((e) => e.message.text), ["hello"]);
  assert.deepEqual(bob.session.of("dm").map((e) => e.message.text), ["hello"]);
  await f.hub.dm(bob.client, "alice", "hi back");
  assert.deepEqual(bob.session.of("dm").map((e) => e.message.text), ["hello"], "bob's dialect has no echo");
  assert.deepEqual(alice.session.of("dm").map((e) => [e.message.id, e.message.text]), [[1, "hello"], [
    2,
    "hi back",
  ]]);
});

Deno.test("hub.dm(): the sender's other connections see the conversation", async () => {
  await using f = new Fixture();
  const phone = f.open("alice", { token: "t" });
  const laptop = f.open("alice", { token: "t" });
  const bob = f.open("bob");
  await f.hub.dm(phone.client, "bob", "from my phone");
  assert.deepEqual(bob.session.of("dm").length, 1);
  assert.deepEqual(laptop.session.of("dm").map((e) => e.message.text), ["from my phone"]);
  assert.deepEqual(phone.session.of("dm"), []);
});

Deno.test("hub.dm(): unknown target, nameless sender and empty text are refused", async () => {
  await using f = new Fixture();
  const alice = f.open("alice");
  f.open("bob");
  const nameless = f.open();
  const unknown = await f.hub.dm(alice.client, "nobody", "hi");
  assert.ok(!unknown.ok && unknown.code === "user-not-found");
  const anon = await f.hub.dm(nameless.client, "bob", "hi");
  assert.ok(!anon.ok && anon.code === "not-logged-in");
  const empty = await f.hub.dm(alice.client, "bob", "   ");
  assert.ok(!empty.ok && empty.code === "empty-message");
  assert.deepEqual((await f.store.rangeDirect("alice", "bob", { limit: 10 })).messages, []);
});

/** The texts of a member's DM history with `other`. */
async function dmTexts(f: Fixture, conn: Conn, other: string, range: Partial<Range<never>> & object = {}) {
  const result = await f.hub.directHistory(conn.client, other, { limit: 1000, ...range });
  assert.ok(result.ok, JSON.stringify(result));
  return result.value.messages.map((m) => m.text);
}

Deno.test("hub.directHistory() starts at the asker's claim: a new holder, even in the same millisecond, reads nothing older and all its own", async () => {
  await using f = new Fixture();
  const bob = f.open("bob");
  const old = f.open("alice");
  assert.ok((await f.hub.dm(old.client, "bob", "old 1")).ok);
  assert.ok((await f.hub.dm(bob.client, "alice", "old 2")).ok);
  assert.deepEqual(await dmTexts(f, old, "bob"), ["old 1", "old 2"]);
  // Leaving and taking the name in one go: usually within one millisecond of the last DM.
  f.hub.disconnect(old.client);
  const guest = f.open("ALICE");
  assert.deepEqual(await dmTexts(f, guest, "bob"), []);
  assert.ok((await f.hub.dm(guest.client, "bob", "new 1")).ok);
  assert.ok((await f.hub.dm(bob.client, "alice", "new 2")).ok);
  assert.deepEqual(await dmTexts(f, guest, "Bob"), ["new 1", "new 2"]);
  assert.deepEqual(await dmTexts(f, bob, "alice"), ["old 1", "old 2", "new 1", "new 2"], "bob held on");
  const nameless = f.open();
  const refused = await f.hub.directHistory(nameless.client, "bob", { limit: 10 });
  assert.ok(!refused.ok && refused.code === "not-logged-in");
});

Deno.test("hub.directHistory() pages past what came before the claim: After reads on, newest-first ranges are complete at the cut", async () => {
  await using f = new Fixture({ store: new MemoryStore({ retention: { limit: 1000, maxAgeMs: 0 } }) });
  const bob = f.open("bob");
  const old = f.open("alice");
  for (let i = 1; i <= 250; i++) {
    await f.hub.dm(i % 2 ? old.client : bob.client, i % 2 ? "bob" : "alice", `old ${i}`);
  }
  f.hub.disconnect(old.client);
  const guest = f.open("alice");
  for (let i = 1; i <= 3; i++) await f.hub.dm(bob.client, "alice", `new ${i}`);
  const read = async (range: { after?: number; before?: number; limit: number }) => {
    const result = await f.hub.directHistory(guest.client, "bob", range);
    assert.ok(result.ok);
    return [result.value.messages.map((m) => m.text), result.value.complete];
  };
  assert.deepEqual(await read({ after: 0, limit: 2 }), [["new 1", "new 2"], true]);
  assert.deepEqual(await read({ after: 10, limit: 500 }), [["new 1", "new 2", "new 3"], true]);
  assert.deepEqual(await read({ after: 251, limit: 500 }), [["new 2", "new 3"], true]);
  assert.deepEqual(await read({ limit: 2 }), [["new 2", "new 3"], true]);
  assert.deepEqual(await read({ limit: 50 }), [["new 1", "new 2", "new 3"], true]);
  assert.deepEqual(await read({ before: 252, limit: 50 }), [["new 1"], true]);
  assert.equal((await dmTexts(f, bob, "alice")).length, 253);
});

Deno.test("hub: a page token resumes the claim after a drop, a change of case keeps it, another holder ends it for good", async () => {
  await using f = new Fixture();
  const bob = f.open("bob");
  const page = f.open("alice", { token: "page:a" });
  await f.hub.dm(bob.client, "alice", "one");
  f.hub.disconnect(page.client);
  const back = f.open("Alice", { token: "page:a" });
  assert.deepEqual(await dmTexts(f, back, "bob"), ["one"]);
  // Renaming to another spelling of the same name, also without a token, is the same claim.
  const plain = f.open("carol");
  await f.hub.dm(bob.client, "carol", "two");
  assert.ok(f.hub.rename(plain.client, "CAROL").ok);
  assert.deepEqual(await dmTexts(f, plain, "bob"), ["two"]);
  // A new name is a new claim, and so is coming back to the old one without a token.
  assert.ok(f.hub.rename(plain.client, "dave").ok);
  assert.ok(f.hub.rename(plain.client, "carol").ok);
  assert.deepEqual(await dmTexts(f, plain, "bob"), []);
  // Someone else held alice in between: the page's token no longer resumes anything.
  f.hub.disconnect(back.client);
  const other = f.open("alice");
  await f.hub.dm(bob.client, "alice", "for the other holder");
  f.hub.disconnect(other.client);
  const again = f.open("alice", { token: "page:a" });
  assert.deepEqual(await dmTexts(f, again, "bob"), []);
});

// --------------------------------------------------------------------------------------------- typing

Deno.test("hub.typing(): relayed to the other members of the room, never back to the typer", async () => {
  await using f = new Fixture({ typingIntervalMs: 60_000 });
  const alice = f.open("alice", { codec: f.echoing, rooms: ["lobby"] });
  const bob = f.open("bob", { rooms: ["lobby"] });
  const carol = f.open("carol", { rooms: ["#dev"] });
  f.hub.typing(alice.client);
  assert.deepEqual(bob.session.of("typing"), [{ kind: "typing", room: "lobby", name: "alice" }]);
  assert.deepEqual(alice.session.of("typing"), [], "even a dialect that echoes typing does not get its own");
  assert.deepEqual(carol.session.of("typing"), []);
});

Deno.test("hub.typing(): at most once per interval per member and room", async () => {
  await using f = new Fixture({ typingIntervalMs: 60_000 });
  const alice = f.open("alice", { rooms: ["lobby", "#dev"] });
  const bob = f.open("bob", { rooms: ["lobby", "#dev"] });
  const carol = f.open("carol", { rooms: ["lobby"] });
  for (let i = 0; i < 10; i++) f.hub.typing(alice.client, "lobby");
  f.hub.typing(carol.client);
  f.hub.typing(alice.client, "#dev");
  f.hub.typing(alice.client, "#dev");
  assert.deepEqual(
    bob.session.of("typing").map((e) => `${e.room}:${e.name}`),
    ["lobby:alice", "lobby:carol", "#dev:alice"],
  );
});

Deno.test("hub.typing(): relayed again once the interval has passed", async () => {
  await using f = new Fixture({ typingIntervalMs: 1 });
  const alice = f.open("alice", { rooms: ["lobby"] });
  const bob = f.open("bob", { rooms: ["lobby"] });
  f.hub.typing(alice.client);
  await delay(10);
  f.hub.typing(alice.client);
  assert.equal(bob.session.of("typing").length, 2);
});

Deno.test("hub.typing(): skipped for sessions whose queue is more than half full", async () => {
  await using f = new Fixture({ typingIntervalMs: 60_000 });
  const alice = f.open("alice", { rooms: ["lobby"] });
  const busy = f.open("busy", { rooms: ["lobby"] });
  const half = f.open("half", { rooms: ["lobby"] });
  const calm = f.open("calm", { rooms: ["lobby"] });
  busy.session.load = 0.51;
  half.session.load = 0.5;
  calm.session.load = 0;
  f.hub.typing(alice.client);
  assert.equal(busy.session.of("typing").length, 0);
  assert.equal(half.session.of("typing").length, 1);
  assert.equal(calm.session.of("typing").length, 1);
  // Chat itself is never shed.
  await f.hub.say(alice.client, "still here");
  assert.equal(busy.session.of("message").length, 1);
});

Deno.test("hub.typing(): ignored from nameless connections and outside rooms", async () => {
  await using f = new Fixture();
  const bob = f.open("bob", { rooms: ["lobby"] });
  const guest = f.open(undefined, { rooms: ["lobby"] });
  const roomless = f.open("carol");
  f.hub.typing(guest.client);
  f.hub.typing(roomless.client);
  f.hub.typing(roomless.client, "lobby");
  assert.deepEqual(bob.session.of("typing"), []);
});

// ------------------------------------------------------------------------------------- presence lists

Deno.test("hub: user lists are coalesced: a burst of joins costs each member one frame with the final list", async () => {
  await using f = new Fixture({ presenceIntervalMs: 20 });
  const conns = Array.from(
    { length: 30 },
    (_, i) => f.open(`user${String(i).padStart(2, "0")}`, { rooms: ["lobby"] }),
  );
  const everyone = conns.map((c) => c.client.name!).sort();
  assert.deepEqual(conns[0]!.session.of("users"), [], "lists are not sent synchronously");

  await until(() => conns.every((c) => c.session.of("users").length > 0), "every member has a list");
  for (const conn of conns) {
    const lists = conn.session.of("users");
    assert.equal(lists.length, 1, `${conn.client.name} got ${lists.length} lists`);
    assert.equal(lists[0]!.room, "lobby");
    assert.deepEqual(names(lists[0]!), everyone);
  }
  // Join notices are immediate up to the room's notice rate, then summarised once per tick: the first member
  // heard each of the 29 others exactly once, in at most one summary frame.
  const summaries = conns[0]!.session.of("presence");
  assert.ok(summaries.length <= 1, `${summaries.length} summaries`);
  const heard = [...conns[0]!.session.of("join").map((e) => e.name), ...summaries.flatMap((e) => e.joined)];
  assert.deepEqual(heard.sort(), everyone.slice(1));
  assert.ok(conns[0]!.session.of("join").length <= 10, "no more than the notice rate at once");

  // A second burst, right after the first list: one more list each, carrying the latest members.
  const late = Array.from({ length: 10 }, (_, i) => f.open(`late${i}`, { rooms: ["lobby"] }));
  f.hub.leave(conns[29]!.client);
  const final = [...everyone.slice(0, 29), ...late.map((c) => c.client.name!)].sort();
  await until(() => conns[0]!.session.of("users").length > 1, "a second list");
  for (const conn of conns.slice(0, 29)) {
    const lists = conn.session.of("users");
    assert.equal(lists.length, 2);
    assert.deepEqual(names(lists[1]!), final);
  }
  for (const conn of late) {
    const lists = conn.session.of("users");
    assert.equal(lists.length, 1, "late joiners get only the list after they joined");
    assert.deepEqual(names(lists[0]!), final);
  }
  assert.equal(conns[29]!.session.of("users").length, 1, "the member who left gets no more lists");
});

Deno.test("hub: a room over the list limit gets join summaries only, never one notice per join", async () => {
  await using f = new Fixture({ presenceIntervalMs: 20, listLimit: 4 });
  const conns = Array.from({ length: 10 }, (_, i) => f.open(`m${i}`, { rooms: ["lobby"] }));
  await until(() => conns.every((c) => c.session.of("users").at(-1)?.total === 10), "everyone has the total");
  const before = conns[0]!.session.events().length;
  const late = f.open("late", { rooms: ["lobby"] });
  assert.equal(conns[0]!.session.events().length, before, "no notice at once: the room is over the limit");
  await until(() => conns[0]!.session.of("users").at(-1)?.total === 11, "the next list");
  const after = conns[0]!.session.events().slice(before);
  assert.deepEqual(after.filter((e) => e.kind === "join"), []);
  assert.deepEqual(
    after.filter((e) => e.kind === "presence").flatMap((e) => e.kind === "presence" ? e.joined : []),
    [
      "late",
    ],
  );
  assert.deepEqual(names(late.session.of("users").at(-1)!), ["late", "m0", "m1", "m2"]);
});

Deno.test("hub: user lists carry goChat tags and are sorted by name", async () => {
  await using f = new Fixture();
  const zed = f.open();
  f.hub.login(zed.client, "zed", { tag: "0101" });
  f.hub.join(zed.client, "lobby");
  f.open("amy", { rooms: ["lobby"] });
  await until(() => zed.session.of("users").length > 0, "a list");
  assert.deepEqual(zed.session.of("users")[0]!.users, [{ name: "amy", tag: null }, {
    name: "zed",
    tag: "0101",
  }]);
  assert.deepEqual(f.hub.members("LOBBY").members, [{ name: "amy", tag: null }, {
    name: "zed",
    tag: "0101",
  }]);
});

Deno.test("hub.sendUsers() answers an explicit request at once, to that connection only", async () => {
  await using f = new Fixture();
  const alice = f.open("alice", { rooms: ["lobby"] });
  const bob = f.open("bob", { rooms: ["lobby"] });
  await until(
    () => alice.session.of("users").length > 0 && bob.session.of("users").length > 0,
    "first lists",
  );
  alice.session.clear();
  bob.session.clear();
  f.hub.sendUsers(alice.client, "LOBBY");
  assert.deepEqual(alice.session.of("users"), [{
    kind: "users",
    room: "lobby",
    users: [{ name: "alice", tag: null }, { name: "bob", tag: null }],
    total: 2,
    offset: 0,
  }]);
  assert.deepEqual(bob.session.frames, []);
  f.hub.sendUsers(alice.client, "#empty");
  assert.deepEqual(alice.session.of("users")[1], {
    kind: "users",
    room: "#empty",
    users: [],
    total: 0,
    offset: 0,
  });
});

Deno.test("hub.notify() tells one connection a notice", async () => {
  await using f = new Fixture();
  const alice = f.open("alice", { rooms: ["lobby"] });
  const bob = f.open("bob", { rooms: ["lobby"] });
  bob.session.clear();
  f.hub.notify(alice.client, "name-variant", "your name is alice-2 (alice is taken)");
  assert.deepEqual(alice.session.of("notice"), [
    { kind: "notice", code: "name-variant", text: "your name is alice-2 (alice is taken)" },
  ]);
  assert.deepEqual(bob.session.of("notice"), []);
});

// ----------------------------------------------------------------------------------------- encode-once

Deno.test("hub: encode once: each event is encoded once per codec, whatever the number of recipients", async () => {
  await using f = new Fixture();
  const a = new TestCodec("a");
  const b = new TestCodec("b", ["message"]);
  // Interleave the codecs so that consecutive recipients never share one.
  const conns = Array.from(
    { length: 40 },
    (_, i) => f.open(`u${i}`, { codec: i % 2 ? b : a, rooms: ["lobby"] }),
  );
  await until(() => conns.every((c) => c.session.of("users").length > 0), "the coalesced lists");

  for (const codec of [a, b]) {
    assert.equal(new Set(codec.calls).size, codec.calls.length, `${codec.name} encoded an event twice`);
    assert.equal(codec.encoded("users"), 1, `${codec.name}: one list encoding for 20 recipients`);
  }

  a.calls.length = 0;
  b.calls.length = 0;
  const sent = await f.hub.say(conns[0]!.client, "hello all");
  assert.ok(sent.ok);
  assert.equal(a.encoded("message"), 1);
  assert.equal(b.encoded("message"), 1);
  assert.equal(a.calls.length + b.calls.length, 2);
  const received = conns.filter((c) => c.session.of("message").length === 1).length;
  assert.equal(received, 39, "everyone but the sender (whose codec has no echo) got it");
  // Every recipient of one codec got the very same frame.
  const frames = new Set(conns.slice(1).filter((_, i) => i % 2 === 0).map((c) => c.session.frames.at(-1)));
  assert.equal(frames.size, 1);

  a.calls.length = 0;
  b.calls.length = 0;
  f.hub.shutdown();
  assert.equal(a.encoded("shutdown"), 1);
  assert.equal(b.encoded("shutdown"), 1);
});

Deno.test("hub: encode once: a codec with nothing to say is asked once, and nothing is sent", async () => {
  await using f = new Fixture();
  let asked = 0;
  const silent: Codec = {
    name: "silent",
    echo: new Set(),
    encode(event) {
      if (event.kind === "message") asked++;
      return null;
    },
  };
  const sender = f.open("sender", { rooms: ["lobby"] });
  const quiet = Array.from({ length: 10 }, (_, i) => f.open(`q${i}`, { codec: silent, rooms: ["lobby"] }));
  await f.hub.say(sender.client, "anyone?");
  assert.equal(asked, 1);
  for (const conn of quiet) assert.deepEqual(conn.session.frames, []);
});

// --------------------------------------------------------------------------------------- store failure

Deno.test("hub: a store that cannot append: say and dm answer 'unavailable' and nothing is delivered", async () => {
  await using f = new Fixture({ store: new BrokenStore() });
  const alice = f.open("alice", { codec: f.echoing, rooms: ["lobby"] });
  const bob = f.open("bob", { codec: f.echoing, rooms: ["lobby"] });
  const said = await f.hub.say(alice.client, "lost?");
  assert.equal(said.ok, false);
  assert.equal(!said.ok && said.code, "unavailable");
  const dm = await f.hub.dm(alice.client, "bob", "lost too?");
  assert.equal(!dm.ok && dm.code, "unavailable");
  for (const conn of [alice, bob]) {
    assert.deepEqual(conn.session.of("message"), []);
    assert.deepEqual(conn.session.of("dm"), []);
  }
  // The hub keeps working for everything that needs no store.
  f.hub.typing(alice.client);
  assert.equal(bob.session.of("typing").length, 1);
});

Deno.test("hub: admission control: while most sessions are backed up, say and dm are refused and counted", async () => {
  await using f = new Fixture();
  const alice = f.open("alice", { codec: f.echoing, rooms: ["lobby"] });
  const bob = f.open("bob", { codec: f.echoing, rooms: ["lobby"] });
  // The doors' sessions report to the gauge; two of three backed up is overload.
  const clocks = [0, 1, 2].map(() => new BacklogClock(f.hub.load));
  const now = performance.now();
  clocks[0]!.update(now - 1000, now);
  clocks[1]!.update(now - 1000, now);
  const said = await f.hub.say(alice.client, "not now");
  assert.deepEqual(said, {
    ok: false,
    code: "rate-limited",
    detail: "Server busy: the message was not sent; try again shortly",
  });
  const dm = await f.hub.dm(alice.client, "bob", "nor this");
  assert.equal(!dm.ok && dm.code, "rate-limited");
  assert.equal(f.hub.metrics.overloadRefusals, 2);
  assert.deepEqual(bob.session.of("message"), []);
  assert.deepEqual(bob.session.of("dm"), []);

  clocks[1]!.update(undefined);
  assert.ok((await f.hub.say(alice.client, "now")).ok);
  assert.equal(bob.session.of("message").length, 1);
  for (const clock of clocks) clock.close();
});

// -------------------------------------------------------------------------------------------- shutdown

Deno.test("hub.shutdown() tells every connection and closes it, once", async () => {
  const f = new Fixture();
  const inRoom = f.open("alice", { rooms: ["lobby"] });
  const nameless = f.open();
  const echo = f.open("bob", { codec: f.echoing, rooms: ["#dev"] });
  f.hub.shutdown();
  for (const conn of [inRoom, nameless, echo]) {
    assert.deepEqual(conn.session.of("shutdown"), [{ kind: "shutdown" }]);
    assert.deepEqual(conn.session.closed, ["shutdown"]);
    assert.deepEqual(conn.session.events().at(-1), { kind: "shutdown" }, "shutdown is the last frame");
  }
  f.hub.shutdown();
  assert.equal(inRoom.session.of("shutdown").length, 1, "a second shutdown is a no-op");
  assert.deepEqual(inRoom.session.closed, ["shutdown"]);
  await f.store.close();
});

Deno.test("hub.shutdown() cancels pending user lists", async () => {
  const f = new Fixture({ presenceIntervalMs: 20 });
  const conns = Array.from({ length: 5 }, (_, i) => f.open(`u${i}`, { rooms: ["lobby"] }));
  f.hub.shutdown();
  // Were a list timer left behind, the test sanitizer would fail this test; and no list may follow shutdown.
  await delay(40);
  for (const conn of conns) {
    assert.deepEqual(conn.session.of("users"), []);
    assert.deepEqual(conn.session.events().at(-1), { kind: "shutdown" });
  }
  // Members leaving after shutdown start no new timers either.
  for (const conn of conns) f.hub.disconnect(conn.client);
  assert.equal(f.hub.connections, 0);
  await f.store.close();
});
