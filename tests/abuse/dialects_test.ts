/**
 * The older dialects against confusion: MaChat clients get no history replay on join unless asked for (their
 * client cannot tell replayed lines from live ones); empty MaChat lines are not messages.
 * @module
 */

import assert from "node:assert/strict";
import { delay, eventually, LineClient, serve, WsClient } from "../_helpers.ts";
import { fresh } from "./_abuse.ts";

type GoChatData = { SessionID: string | null; SenderName: string; Contents: string };

Deno.test("MaChat history on join: none by default (TCP and /mychat); goChat keeps its replay", async () => {
  await using server = serve({ presenceIntervalMs: 20 });
  const room = fresh("mh");
  await using talker = await LineClient.login(server.tcp!, fresh("t"));
  await talker.send(`JOIN ${room}`);
  await talker.expect("OK");
  for (let i = 1; i <= 3; i++) await talker.send(`old ${i}`);
  await eventually(
    async () => (await server.hub.history(room, { limit: 10 })).messages.length === 3,
    "stored",
  );

  const mt = fresh("mt");
  await using tcp = await LineClient.connect(server.tcp!);
  await tcp.send(`{"name":"${mt}","room":"${room}"}`);
  await using ws = await WsClient.open(server.http!, "/mychat");
  ws.send(`{"name":"${fresh("mw")}","room":"${room}"}`);
  await using gc = await WsClient.open(server.http!, `/joinRoom?room_code=${room}&user_name=${fresh("gc")}`);
  await eventually(() => server.hub.users(room).length === 4, "four members");
  await delay(50);
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
    async () => (await server.hub.history(room, { limit: 10 })).messages.length === 3,
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
  await eventually(() => server.hub.users(room).length === 4, "four members");
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
  await eventually(() => server.hub.users(room).length === 3, "three members");

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
  const stored = await server.hub.history(room, { limit: 10 });
  assert.deepEqual(stored.messages.map((m) => m.text), ["after the blanks", "after the blanks"]);
});
