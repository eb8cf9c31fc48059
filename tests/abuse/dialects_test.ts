/**
 * The older dialects against confusion: a goChat client cannot pass its messages off as another member's by
 * copying that member's session id from the user list; MaChat clients get no history replay on join unless
 * asked for (their client cannot tell replayed lines from live ones); empty MaChat lines are not messages.
 * @module
 */

import assert from "node:assert/strict";
import { eventually, LineClient, roomHistory, serve, WsClient } from "../_helpers.ts";
import { b64, fresh } from "./_abuse.ts";

/** A goChat session id as goChat's client makes it: 16 bytes, as 128 `0`/`1` characters and as base64. */
function goChatSession(): { bits: string; base64: string } {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return {
    bits: [...bytes].map((b) => b.toString(2).padStart(8, "0")).join(""),
    base64: btoa(String.fromCharCode(...bytes)),
  };
}

type GoChatData = { SessionID: string | null; SenderName: string; Contents: string };

Deno.test("goChat SessionID: relayed only when it is the sender's own; a copied one arrives as null", async () => {
  await using server = serve({ tcp: null, presenceIntervalMs: 20 });
  const room = fresh("gc");
  const [alice, mallory, anon] = [goChatSession(), goChatSession(), fresh("an")];
  const join = (name: string, session?: string) =>
    WsClient.open(
      server.http!,
      `/joinRoom?room_code=${room}&user_name=${name}` +
        (session === undefined ? "" : `&session_id=${session}`),
    );
  await using a = await join("alice", alice.bits);
  await using m = await join("mallory", mallory.bits);
  await using n = await join(anon);
  // Everyone can read everyone's session id: that is why it proves nothing.
  await m.expectJson({
    DataType: "userList",
    Data: { Users: [["alice", alice.bits], [anon, ""], ["mallory", mallory.bits]] },
  });

  const say = (client: WsClient, text: string, sessionId: unknown) =>
    client.send({ DataType: "message", Data: { Type: "USER", SessionID: sessionId, Contents: b64(text) } });
  const relayed = async (text: string): Promise<GoChatData> => {
    const got = await a.expectJson({ DataType: "message", Data: { Type: "USER", Contents: b64(text) } });
    return got.Data as GoChatData;
  };

  say(m, "copied base64", alice.base64);
  assert.equal((await relayed("copied base64")).SessionID, null, "alice's client would show it as hers");
  say(m, "copied bits", alice.bits);
  assert.equal((await relayed("copied bits")).SessionID, null);
  say(m, "made up", "QUJD");
  assert.equal((await relayed("made up")).SessionID, null);
  say(m, "not a string", 42);
  assert.equal((await relayed("not a string")).SessionID, null);
  say(n, "no session in my query", alice.base64);
  assert.equal((await relayed("no session in my query")).SessionID, null);

  say(a, "really alice", alice.base64);
  const mine = await relayed("really alice");
  assert.equal(mine.SessionID, alice.base64, "goChat's client highlights its own messages by this id");
  assert.equal(mine.SenderName, "alice");
  say(m, "really mallory", mallory.base64);
  const own = await relayed("really mallory");
  assert.equal(own.SessionID, mallory.base64);
  assert.equal(own.SenderName, "mallory");
  // The sender's own id as it appears in its query string is its own too.
  say(a, "alice in bits", alice.bits);
  assert.equal((await relayed("alice in bits")).SessionID, alice.bits);
});

Deno.test("MaChat history on join: none by default (TCP and /mychat); goChat keeps its replay", async () => {
  await using server = serve({ presenceIntervalMs: 20 });
  const room = fresh("mh");
  await using talker = await LineClient.login(server.tcp!, fresh("t"));
  await talker.send(`JOIN ${room}`);
  await talker.expect("OK");
  for (let i = 1; i <= 3; i++) await talker.send(`old ${i}`);
  await eventually(
    async () => (await roomHistory(server.hub, room, { limit: 10 })).messages.length === 3,
    "stored",
  );

  const mt = fresh("mt");
  await using tcp = await LineClient.connect(server.tcp!);
  await tcp.send(`{"name":"${mt}","room":"${room}"}`);
  await using ws = await WsClient.open(server.http!, "/mychat");
  ws.send(`{"name":"${fresh("mw")}","room":"${room}"}`);
  await using gc = await WsClient.open(server.http!, `/joinRoom?room_code=${room}&user_name=${fresh("gc")}`);
  await eventually(() => server.hub.members(room).members.length === 4, "four members");
  // goChat's replay is in before the live line is sent. A MaChat replay would have been queued at join, like
  // goChat's, ahead of the live line: the live line arriving shows none came.
  await eventually(
    () => gc.frames.filter((f) => f.includes('"Type":"USER"')).length === 3,
    "goChat's replay arrived",
  );
  await talker.send("live");
  await tcp.expect(/:live$/);
  await ws.expect((f) => f.endsWith(":live\n"));
  assert.deepEqual(tcp.lines.filter((l) => l.includes(":old")), [], "no replay over TCP");
  assert.deepEqual(ws.frames.filter((f) => f.includes(":old")), [], "no replay over /mychat");
  const texts: string[] = [];
  while (texts.length < 4) {
    const f = await gc.expectJson({ DataType: "message", Data: { Type: "USER" } });
    texts.push(atob(String((f.Data as GoChatData).Contents)));
  }
  assert.deepEqual(texts, ["old 1", "old 2", "old 3", "live"], "goChat still gets --history-on-join");
});

Deno.test("MaChat history on join: --machat-history-on-join N replays the last N, then live, no duplicates", async () => {
  await using server = serve({ presenceIntervalMs: 20, machatHistoryOnJoin: 2, historyOnJoin: 0 });
  const room = fresh("mh");
  const t = fresh("t");
  await using talker = await LineClient.login(server.tcp!, t);
  await talker.send(`JOIN ${room}`);
  await talker.expect("OK");
  for (let i = 1; i <= 3; i++) await talker.send(`old ${i}`);
  await eventually(
    async () => (await roomHistory(server.hub, room, { limit: 10 })).messages.length === 3,
    "stored",
  );

  await using tcp = await LineClient.connect(server.tcp!);
  await tcp.send(`{"name":"${fresh("mt")}","room":"${room}"}`);
  await using ws = await WsClient.open(server.http!, "/mychat");
  ws.send(`{"name":"${fresh("mw")}","room":"${room}"}`);
  await using gc = await WsClient.open(server.http!, `/joinRoom?room_code=${room}&user_name=${fresh("gc")}`);
  await tcp.expect(`${t}:old 2`);
  await tcp.expect(`${t}:old 3`);
  await ws.expect(`${t}:old 2\n`);
  await ws.expect(`${t}:old 3\n`);
  await eventually(() => server.hub.members(room).members.length === 4, "four members");
  await talker.send("live");
  await tcp.expect(`${t}:live`);
  await ws.expect(`${t}:live\n`);
  assert.deepEqual(tcp.lines.filter((l) => l.startsWith(`${t}:`)), [`${t}:old 2`, `${t}:old 3`, `${t}:live`]);
  assert.deepEqual(ws.frames.filter((f) => f.startsWith(`${t}:`)), [
    `${t}:old 2\n`,
    `${t}:old 3\n`,
    `${t}:live\n`,
  ]);
  const f = await gc.expectJson({ DataType: "message", Data: { Type: "USER" } });
  assert.equal(
    atob(String((f.Data as GoChatData).Contents)),
    "live",
    "goChat's replay is its own setting (0 here)",
  );
});

Deno.test("MaChat empty lines: an empty or blank line is not a message (TCP and /mychat), and gets no error", async () => {
  await using server = serve({ presenceIntervalMs: 20 });
  const room = fresh("me");
  const [mt, mw] = [fresh("mt"), fresh("mw")];
  await using watcher = await LineClient.login(server.tcp!, fresh("w"));
  await watcher.send(`JOIN ${room}`);
  await watcher.expect("OK");
  await using tcp = await LineClient.connect(server.tcp!);
  await tcp.send(`{"name":"${mt}","room":"${room}"}`);
  await using ws = await WsClient.open(server.http!, "/mychat");
  ws.send(`{"name":"${mw}","room":"${room}"}`);
  await eventually(() => server.hub.members(room).members.length === 3, "three members");

  await tcp.send(new TextEncoder().encode("\n   \n\t\r\n\r\n"));
  await tcp.send("after the blanks");
  await watcher.expect(`MSG ${mt} after the blanks`);
  for (const frame of ["\n", "  \n", "\r\n", "\n\n \n"]) ws.send(frame);
  ws.send("after the blanks\n");
  await watcher.expect(`MSG ${mw} after the blanks`);
  await tcp.expect(`${mt}:after the blanks`);
  await ws.expect(`${mw}:after the blanks\n`);
  assert.deepEqual(watcher.unread(), []);
  assert.deepEqual(tcp.lines.filter((l) => l.startsWith("ERR") || l.endsWith(":")), []);
  assert.deepEqual(ws.frames.filter((f) => f.startsWith("ERR") || f.endsWith(":\n")), []);
  const stored = await roomHistory(server.hub, room, { limit: 10 });
  assert.deepEqual(stored.messages.map((m) => m.text), ["after the blanks", "after the blanks"]);
});
