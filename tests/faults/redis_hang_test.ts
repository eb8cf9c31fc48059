/**
 * Faults: a hung Redis (SIGSTOP). It keeps its connections open and answers nothing, so nothing fails by
 * itself: the nodes must notice within seconds, refuse at once instead of waiting in memory, and resume by
 * themselves when it answers again (SIGCONT).
 * @module
 */

import assert from "node:assert/strict";
import { delay, eventually, LineClient, WsClient } from "../_helpers.ts";
import { RedisServer } from "../_redis.ts";
import { type Node, redisTest, rss, startNode, status, timed, within } from "./_faults.ts";

const encoder = new TextEncoder();
const MiB = 1024 * 1024;

/** A documented-shape GoBanter client on `/ws` with a name. */
async function gobanter(node: Node, name: string): Promise<WsClient> {
  const ws = await WsClient.open(node.http, "/ws");
  ws.send({ Action: "username", Payload: { Username: name } });
  await ws.expectJson({ Action: "username", Payload: { Username: name } });
  return ws;
}

/** The texts of the room messages a GoBanter client has received from `from`, in order. */
function broadcastsFrom(ws: WsClient, from: string): string[] {
  return ws.frames.map((f) => JSON.parse(f)).filter((f) =>
    f.Action === "broadcast" && f.Payload.Username === from
  ).map((f) => f.Payload.Message);
}

/** How many `unavailable` errors a GoBanter client has received. */
function unavailable(ws: WsClient): number {
  return ws.frames.filter((f) => f.includes('"Code":"unavailable"')).length;
}

/** Member names of the lobby as a node sees them. */
async function members(node: Node): Promise<string[]> {
  const response = await fetch(`http://${node.http.hostname}:${node.http.port}/api/rooms/lobby/members`);
  return (await response.json()).members;
}

/** The lobby's whole history through `/api/rooms/lobby/messages`, oldest first. */
async function fullHistory(node: Node): Promise<{ id: number; text: string }[]> {
  const all: { id: number; text: string }[] = [];
  let before: number | undefined;
  while (before === undefined || before > 1) {
    const query = `limit=500${before === undefined ? "" : `&before=${before}`}`;
    const response = await fetch(
      `http://${node.http.hostname}:${node.http.port}/api/rooms/lobby/messages?${query}`,
    );
    assert.equal(response.status, 200);
    const page = (await response.json()).messages as { Id: number; Message: string }[];
    if (page.length === 0) break;
    all.unshift(...page.map((m) => ({ id: m.Id, text: m.Message })));
    before = page[0]!.Id;
  }
  return all;
}

redisTest(
  "cluster: Redis hung (SIGSTOP): within seconds /readyz is 503 and messages, LOGIN and /api are refused at once; memory stays flat; SIGCONT heals it",
  async () => {
    await using redis = await RedisServer.start();
    const args = ["--presence-ttl", "2s", "--history-limit", "1000000"];
    // A small young generation: garbage is collected within milliseconds, so RSS follows what is kept alive
    // instead of rising for tens of seconds with short-lived garbage before a collection.
    await using a = await startNode({ redis, id: "A", args, v8Flags: "--max-semi-space-size=1" });
    await using b = await startNode({ redis, id: "B", args });
    await using gw = await gobanter(a, "gw");
    await using ct = await LineClient.login(a.tcp, "ct");
    await using mt = await LineClient.connect(a.tcp);
    await mt.send(encoder.encode(JSON.stringify({ name: "mt", room: "lobby" })));
    await using quiet = await LineClient.login(a.tcp, "quiet");
    await using late = await LineClient.connect(a.tcp);
    await using watch = await gobanter(b, "watch");
    const everyone = '["ct","gw","mt","quiet","watch"]';
    await eventually(async () => JSON.stringify(await members(b)) === everyone, "B lists everyone");

    // Clients that keep sending: GoBanter in bursts without waiting for answers, the TCP dialects line by line.
    const sent = { gw: 0, ct: 0, mt: 0 };
    const pad = "x".repeat(200);
    let stop = false;
    const stream = Promise.all([
      (async () => {
        for (; !stop; await delay(10)) {
          for (let i = 0; i < 5; i++) {
            gw.send({ Action: "broadcast", Payload: { Message: `gw ${sent.gw++} ${pad}` } });
          }
        }
      })(),
      (async () => {
        for (; !stop; await delay(5)) await ct.send(`ct ${sent.ct++} ${pad}`);
      })(),
      (async () => {
        for (; !stop; await delay(5)) await mt.send(`mt ${sent.mt++} ${pad}`);
      })(),
    ]);
    const seen = (name: string) => broadcastsFrom(watch, name).length;
    const errors = {
      gw: () => unavailable(gw),
      ct: () => ct.lines.filter((l) => l === "ERR unavailable").length,
      mt: () => mt.lines.filter((l) => l === "ERR unavailable").length,
    };
    const readiness = () => Promise.all([a, b].map((n) => status(n.http, "/readyz", 500)));
    try {
      await eventually(
        () => seen("gw") > 50 && seen("ct") > 20 && seen("mt") > 20,
        "the stream flows",
        10_000,
      );

      redis.pause();
      const frozen = performance.now();
      await eventually(async () => (await readiness()).every((s) => s === 503), "/readyz 503 on both", 5000);
      const noticed = performance.now() - frozen;
      assert.ok(noticed < 3500, `noticed after ${Math.round(noticed)} ms`);
      await eventually(
        () => errors.gw() > 0 && errors.ct() > 0 && errors.mt() > 0,
        "every sender hears unavailable",
        2000,
      );

      // Refused at once, in the dialect, and the connections stay.
      await quiet.send("one more");
      await within(500, "a message", () => quiet.expect("ERR unavailable"));
      await late.send("LOGIN late");
      await within(500, "LOGIN", () => late.expect("ERR unavailable"));
      const api = await timed(() => status(a.http, "/api/rooms/lobby/messages?limit=5"));
      assert.equal(api.value, 503);
      assert.ok(api.ms < 500, `/api answered after ${Math.round(api.ms)} ms`);

      // Ten seconds of clients sending into the hang: memory does not grow with them.
      await delay(1000);
      const before = await rss(a.child.process.pid);
      const refusedBefore = errors.gw();
      await delay(10_000);
      const after = await rss(a.child.process.pid);
      assert.ok(errors.gw() - refusedBefore > 1000, `refusals kept coming: ${errors.gw() - refusedBefore}`);
      assert.ok(
        after - before < 8 * MiB,
        `RSS ${Math.round(before / MiB)} MiB -> ${Math.round(after / MiB)} MiB while Redis hung`,
      );
      assert.deepEqual(await readiness(), [503, 503]);

      redis.resume();
      await eventually(async () => (await readiness()).every((s) => s === 200), "/readyz 200 again", 10_000);
      await late.send("LOGIN late");
      await late.expect("OK");
      const back = { gw: seen("gw"), ct: seen("ct"), mt: seen("mt") };
      await eventually(
        () => seen("gw") > back.gw + 50 && seen("ct") > back.ct + 20 && seen("mt") > back.mt + 20,
        "messages flow again on the same connections",
        10_000,
      );
      await eventually(
        async () => JSON.stringify(await members(b)) === '["ct","gw","late","mt","quiet","watch"]',
        "B lists everyone, the late one too",
      );
    } finally {
      stop = true;
      await stream;
    }
    // Every line sent is answered, one way or the other.
    const echoes = {
      gw: () => broadcastsFrom(gw, "gw").length,
      ct: () => seen("ct"),
      mt: () => mt.lines.filter((l) => l.startsWith("mt:mt ")).length,
    };
    const names = ["gw", "ct", "mt"] as const;
    await eventually(
      () => names.every((name) => echoes[name]() + errors[name]() >= sent[name]),
      "every line is delivered or refused",
    );
    // What was refused was not stored: a message Redis runs after its sender gave up does nothing. Only what
    // Redis had run but not answered at the instant it froze is stored and delivered when it thaws, although
    // its sender was told it was not sent (at most the few lines in flight at that instant).
    const history = await fullHistory(b);
    assert.deepEqual(history.map((m) => m.id), history.map((_, i) => i + 1), "ids without gaps");
    for (const name of names) {
      const stored = history.filter((m) => m.text.startsWith(`${name} `)).length;
      const overlap = stored + errors[name]() - sent[name];
      assert.ok(
        overlap >= 0 && overlap <= (name === "gw" ? 10 : 5),
        `${name}: ${stored} stored + ${errors[name]()} refused of ${sent[name]} sent`,
      );
      assert.equal(echoes[name](), stored, `${name}: what was stored is what was delivered`);
    }
    for (const client of [ct, mt, quiet, late]) assert.ok(!client.closed, "connections stay open");
    assert.equal(gw.closeEvent, null);
  },
);
