/**
 * Issue 10's acceptance: hubbub processes sharing one real `redis-server` behave as one chat server. Every
 * node is a child process (`deno run main.ts --redis ...`), every client speaks a real dialect over a real
 * socket, and one of them is the real `ncat`.
 *
 * Without redis-server the file prints one SKIP line, unless CI=true: CI must run it.
 * @module
 */

import assert from "node:assert/strict";
import { Child, delay, eventually, LineClient, WsClient } from "./_helpers.ts";
import { Ncat } from "./_ncat.ts";
import { RedisServer } from "./_redis.ts";

const HAVE_REDIS = await RedisServer.available();
const SKIP = !HAVE_REDIS && Deno.env.get("CI") !== "true";
if (SKIP) {
  // deno-lint-ignore no-console
  console.log("SKIP tests/cluster_test.ts: redis-server is not installed (apt-get install redis-server)");
}

/** A cluster test: skipped without redis-server, a failure without it under CI=true. */
function clusterTest(name: string, fn: () => Promise<void>): void {
  Deno.test({
    name,
    ignore: SKIP,
    fn: async () => {
      assert.ok(HAVE_REDIS, "redis-server is not installed, and CI=true needs the cluster tests to run");
      await fn();
    },
  });
}

const encoder = new TextEncoder();

// ---------------------------------------------------------------------------------------------------------
// Nodes

/** One hubbub child process of the cluster, up and ready. */
interface Node {
  readonly id: string;
  readonly child: Child;
  readonly tcp: Deno.NetAddr;
  readonly http: Deno.NetAddr;
}

function nodeArgs(redis: RedisServer, id: string, extra: readonly string[]): string[] {
  return [
    "run",
    "-P=server",
    "main.ts",
    "--tcp",
    "127.0.0.1:0",
    "--http",
    "127.0.0.1:0",
    "--log-format",
    "json",
    "--redis",
    redis.url,
    "--node-id",
    id,
    "--rate",
    "0",
    ...extra,
  ];
}

/** Starts a node and waits for `/readyz` (connected, subscribed, the others' members known). */
async function startNode(redis: RedisServer, id: string, extra: readonly string[] = []): Promise<Node> {
  const child = new Child(nodeArgs(redis, id, extra));
  try {
    const [tcp, http] = await Promise.all([child.tcpAddr(), child.httpAddr()]);
    await eventually(async () => (await status(http, "/readyz")) === 200, `node ${id} is ready`, 10_000);
    return { id, child, tcp, http };
  } catch (error) {
    await child[Symbol.asyncDispose]();
    throw error;
  }
}

/** Several nodes; disposing kills whichever are still running. */
class Nodes implements AsyncDisposable {
  readonly list: Node[];

  private constructor(list: Node[]) {
    this.list = list;
  }

  /** Starts the nodes side by side. */
  static async start(redis: RedisServer, ids: readonly string[], extra: readonly string[] = []) {
    const started = await Promise.allSettled(ids.map((id) => startNode(redis, id, extra)));
    const nodes = started.flatMap((s) => s.status === "fulfilled" ? [s.value] : []);
    const failed = started.find((s) => s.status === "rejected");
    if (failed) {
      await Promise.all(nodes.map((n) => n.child[Symbol.asyncDispose]()));
      throw failed.reason;
    }
    return new Nodes(nodes);
  }

  /** Stops every node with SIGTERM (a graceful shutdown) and checks each exits 0. */
  async stop(): Promise<void> {
    await Promise.all(this.list.map(async (node) => {
      node.child.process.kill("SIGTERM");
      const { code } = await node.child.status();
      assert.equal(code, 0, `node ${node.id} exits 0 on SIGTERM`);
    }));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.all(this.list.map((n) => n.child[Symbol.asyncDispose]()));
  }
}

/** The status of a GET, or 0 when nothing answers. */
async function status(addr: Deno.NetAddr, path: string): Promise<number> {
  try {
    const response = await fetch(`http://${addr.hostname}:${addr.port}${path}`);
    await response.body?.cancel();
    return response.status;
  } catch {
    return 0;
  }
}

async function getJson(addr: Deno.NetAddr, path: string): Promise<Record<string, unknown>> {
  const response = await fetch(`http://${addr.hostname}:${addr.port}${path}`);
  assert.equal(response.status, 200, `GET ${path}`);
  return await response.json();
}

/** Member names of a room as one node sees them. */
async function members(node: Node, room = "lobby"): Promise<string[]> {
  return (await getJson(node.http, `/api/rooms/${room}/members`)).members as string[];
}

/** Waits until every node lists exactly these members in the room. */
async function membersEverywhere(nodes: readonly Node[], want: readonly string[], ms = 5000): Promise<void> {
  const sorted = JSON.stringify([...want].sort());
  await eventually(
    async () => (await Promise.all(nodes.map((n) => members(n)))).every((m) => JSON.stringify(m) === sorted),
    `every node lists ${sorted}`,
    ms,
  );
}

interface Stored {
  readonly id: number;
  readonly from: string;
  readonly text: string;
}

/** A room's whole history through `/api/rooms/:room/messages`, paging back with `before`, oldest first. */
async function fullHistory(node: Node, room = "lobby"): Promise<Stored[]> {
  const all: Stored[] = [];
  let before: number | undefined;
  while (true) {
    const query = `limit=500${before === undefined ? "" : `&before=${before}`}`;
    const page = (await getJson(node.http, `/api/rooms/${room}/messages?${query}`)).messages as {
      Id: number;
      Username: string;
      Message: string;
    }[];
    if (page.length === 0) break;
    all.unshift(...page.map((m) => ({ id: m.Id, from: m.Username, text: m.Message })));
    before = page[0]!.Id;
    if (before <= 1) break;
  }
  return all;
}

/** A GET on a fresh connection (`Connection: close`), so each request may land on another worker. */
async function freshGet(port: number, path: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(encoder.encode(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`));
  return await new Response(conn.readable).text();
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

// ---------------------------------------------------------------------------------------------------------
// Clients

/** A documented-shape GoBanter client on `/ws` with a name. */
async function gobanter(node: Node, name: string): Promise<WsClient> {
  const ws = await WsClient.open(node.http, "/ws");
  ws.send({ Action: "username", Payload: { Username: name } });
  await ws.expectJson({ Action: "username", Payload: { Username: name } });
  return ws;
}

/** A MaChat TCP client: the JSON handshake with no newline, then lines. */
async function machat(node: Node, name: string, room = "lobby"): Promise<LineClient> {
  const client = await LineClient.connect(node.tcp);
  await client.send(encoder.encode(JSON.stringify({ name, room })));
  return client;
}

interface Seen {
  readonly id: number;
  readonly from: string;
  readonly text: string;
}

/** The room messages a GoBanter client has received, in order. */
function broadcasts(ws: WsClient): Seen[] {
  return ws.frames.map((f) => JSON.parse(f)).filter((f) => f.Action === "broadcast").map((f) => ({
    id: f.Payload.Id,
    from: f.Payload.Username,
    text: f.Payload.Message,
  }));
}

function errorCodes(ws: WsClient): string[] {
  return ws.frames.map((f) => JSON.parse(f)).filter((f) => f.Action === "error").map((f) => f.Payload.Code);
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

// ---------------------------------------------------------------------------------------------------------
// Acceptance

clusterTest(
  "cluster: three nodes: /ws on A, ncat on B, MaChat on C share a room in one order with gapless ids; names, DMs and WHO span the cluster",
  async () => {
    await using redis = await RedisServer.start();
    await using nodes = await Nodes.start(redis, ["A", "B", "C"]);
    const [a, b, c] = nodes.list as [Node, Node, Node];

    await using web = await gobanter(a, "webby");
    await using cat = Ncat.start(b.tcp);
    await cat.type("LOGIN catty");
    await cat.expect("OK");
    await using mac = await machat(c, "mac");
    await membersEverywhere(nodes.list, ["catty", "mac", "webby"]);

    // Ten lines each, from three nodes at once, interleaved.
    const N = 10;
    const pace = () => delay(Math.floor(Math.random() * 6));
    await Promise.all([
      (async () => {
        for (let i = 1; i <= N; i++, await pace()) {
          web.send({ Action: "broadcast", Payload: { Message: `w${i}` } });
        }
      })(),
      (async () => {
        for (let i = 1; i <= N; i++, await pace()) await cat.type(`c${i}`);
      })(),
      (async () => {
        for (let i = 1; i <= N; i++, await pace()) await mac.send(`m${i}`);
      })(),
    ]);
    const catSeen = () => cat.lines.filter((l) => l.startsWith("MSG "));
    const macSeen = () => mac.lines.filter((l) => /^(webby|catty|mac):/.test(l));
    await eventually(
      () => broadcasts(web).length === 3 * N && macSeen().length === 3 * N && catSeen().length === 2 * N,
      "every client has every message",
    );

    const order = broadcasts(web);
    assert.deepEqual(order.map((m) => m.id), range(1, 3 * N), "ids start at 1 and grow by one");
    assert.deepEqual(macSeen(), order.map((m) => `${m.from}:${m.text}`), "MaChat on C: the same order");
    assert.deepEqual(
      catSeen(),
      order.filter((m) => m.from !== "catty").map((m) => `MSG ${m.from} ${m.text}`),
      "ncat on B: the same order (without its own lines, as the dialect says)",
    );
    const stored = await fullHistory(b);
    assert.deepEqual(stored, order, "history on B: the same messages, ids and order");

    // A name taken on A is refused on B (case-insensitively), in two dialects.
    await using taker = await LineClient.connect(b.tcp);
    await taker.send("LOGIN WEBBY");
    await taker.expect("ERR username-taken");
    await using taker2 = await WsClient.open(b.http, "/ws");
    taker2.send({ Action: "username", Payload: { Username: "Mac" } });
    await taker2.expectJson({ Action: "error", Payload: { Code: "name-taken" } });

    // A DM from A reaches a user on C (and the MaChat user there, as a notice only it sees).
    await using carol = await LineClient.login(c.tcp, "carol");
    await membersEverywhere(nodes.list, ["carol", "catty", "mac", "webby"]);
    web.send({ Action: "private", Payload: { To: "carol", Message: "psst carol" } });
    await carol.expect("DM webby psst carol");
    await web.expectJson({
      Action: "private",
      Payload: { To: "carol", Message: "psst carol", Username: "webby" },
    });
    web.send({ Action: "private", Payload: { To: "MAC", Message: "psst mac" } });
    await mac.expect("[DM] webby: psst mac");
    assert.ok(!cat.lines.some((l) => l.includes("psst")), "DMs reach nobody else");

    // WHO on B lists the members of every node.
    await cat.type("WHO");
    for (const name of ["carol", "catty", "mac", "webby"]) await cat.expect(`USER ${name}`);
    await cat.expect("OK");
  },
);

clusterTest(
  "cluster history: a client on B that missed 50 messages written through A and C gets exactly those from C; history survives restarting every node",
  async () => {
    await using redis = await RedisServer.start();
    {
      await using nodes = await Nodes.start(redis, ["A", "B", "C"]);
      const [a, b, c] = nodes.list as [Node, Node, Node];
      const bob = await gobanter(b, "bob");
      await using wa = await LineClient.login(a.tcp, "wa");
      await using wc = await gobanter(c, "wc");
      await membersEverywhere(nodes.list, ["bob", "wa", "wc"]);
      await wa.send("before bob left");
      const last = await bob.expectJson({ Action: "broadcast", Payload: { Message: "before bob left" } });
      const lastId = (last.Payload as { Id: number }).Id;
      await bob.close();
      await membersEverywhere(nodes.list, ["wa", "wc"]);

      for (let i = 0; i < 50; i++) {
        if (i % 2 === 0) await wa.send(`missed ${i}`);
        else wc.send({ Action: "broadcast", Payload: { Message: `missed ${i}` } });
      }
      const missed = () => broadcasts(wc).filter((m) => m.text.startsWith("missed "));
      await eventually(() => missed().length === 50, "the 50 messages are stored and delivered");

      // Back, on another node, with the last id it saw.
      await using bob2 = await gobanter(c, "bob");
      bob2.send({ Action: "history", Payload: { Room: "lobby", After: lastId, Limit: 100 } });
      const history = await bob2.expectJson({ Action: "history" });
      const got = (history.Payload as { Messages: { Id: number; Username: string; Message: string }[] })
        .Messages
        .map((m) => ({ id: m.Id, from: m.Username, text: m.Message }));
      assert.deepEqual(got, missed(), "exactly the 50 missed messages, in order");
      assert.deepEqual(got.map((m) => m.id), range(lastId + 1, lastId + 50));
      assert.equal((history.Payload as { Complete: boolean }).Complete, true);

      await nodes.stop();
    }

    // Every node restarted: the history is all there, on every node, and ids go on growing.
    await using again = await Nodes.start(redis, ["A", "B", "C"]);
    const [a, b, c] = again.list as [Node, Node, Node];
    const stored = await fullHistory(a);
    assert.equal(stored.length, 51);
    assert.deepEqual(stored.map((m) => m.id), range(1, 51));
    assert.deepEqual(await fullHistory(b), stored);
    await using reader = await LineClient.login(c.tcp, "reader");
    await reader.send("HISTORY SINCE 49");
    for (const m of stored.slice(49)) {
      await reader.expect(new RegExp(`^HIST ${m.id} \\S+Z ${m.from} ${m.text}$`));
    }
    await reader.expect("OK");
    await reader.send("after the restart");
    await eventually(async () => (await fullHistory(b)).at(-1)?.id === 52, "the next message gets id 52");
  },
);

clusterTest(
  "cluster: SIGKILL a node: its members leave every list with notices within the presence TTL; its clients reconnect elsewhere and recover",
  async () => {
    const TTL_MS = 2000;
    await using redis = await RedisServer.start();
    await using nodes = await Nodes.start(redis, ["A", "B", "C"], ["--presence-ttl", "2s"]);
    const [a, b, c] = nodes.list as [Node, Node, Node];

    const ann = await LineClient.login(a.tcp, "ann");
    const wa = await gobanter(a, "wa");
    await using bea = await LineClient.login(b.tcp, "bea");
    await using cid = await gobanter(c, "cid");
    await membersEverywhere(nodes.list, ["ann", "bea", "cid", "wa"]);
    await bea.send("before the crash");
    await ann.expect("MSG bea before the crash");
    await wa.expectJson({ Action: "broadcast", Payload: { Message: "before the crash", Id: 1 } });
    // A line client learns its last id from HISTORY.
    await ann.send("HISTORY 1");
    const lastId = Number((await ann.expect(/^HIST \d+ /)).split(" ")[1]);
    assert.equal(lastId, 1);

    const killedAt = performance.now();
    a.child.process.kill("SIGKILL");
    for (let i = 1; i <= 3; i++) await bea.send(`while A is gone ${i}`);
    const gone = (l: string[]) => l.includes("INFO ann disconnected") && l.includes("INFO wa disconnected");
    await eventually(() => gone(bea.lines), "B's TCP client hears both disconnects", TTL_MS + 5000);
    const noticed = performance.now() - killedAt;
    const left = () =>
      cid.frames.map((f) => JSON.parse(f)).filter((f) => f.Action === "left").map((f) => f.Payload.Username);
    await eventually(
      () => left().includes("ann") && left().includes("wa"),
      "C's /ws client gets left frames",
    );
    // The TTL, plus up to one heartbeat (a third of it) before someone notices, plus a little slack.
    assert.ok(noticed < TTL_MS + TTL_MS / 3 + 1000, `notices after ${Math.round(noticed)} ms`);
    await membersEverywhere([b, c], ["bea", "cid"], 2000);
    await eventually(() => {
      const lists = cid.frames.map((f) => JSON.parse(f)).filter((f) => f.Action === "userlist");
      return JSON.stringify(lists.at(-1)?.Payload.Users) === '["bea","cid"]';
    }, "C's user list drops them");
    await bea.send("WHO");
    await bea.expect("USER bea");
    await bea.expect("USER cid");
    await bea.expect("OK");
    await ann.closedByServer();
    await ann.close();
    await wa.close();

    // Their clients reconnect to B, under the same names, and recover what they missed.
    await using ann2 = await LineClient.login(b.tcp, "ann");
    await ann2.send(`HISTORY SINCE ${lastId}`);
    for (let i = 1; i <= 3; i++) {
      await ann2.expect(new RegExp(`^HIST ${lastId + i} \\S+Z bea while A is gone ${i}$`));
    }
    await ann2.expect("OK");
    await using wa2 = await gobanter(b, "wa");
    wa2.send({ Action: "history", Payload: { Room: "lobby", After: lastId } });
    const history = await wa2.expectJson({ Action: "history" });
    const got = (history.Payload as { Messages: { Id: number; Message: string }[] }).Messages;
    assert.deepEqual(
      got.map((m) => [m.Id, m.Message]),
      [1, 2, 3].map((i) => [lastId + i, `while A is gone ${i}`]),
    );
    await cid.expectJson({ Action: "connected", Payload: { Username: "wa" } });
    await bea.expect("INFO ann joined");
    await membersEverywhere([b, c], ["ann", "bea", "cid", "wa"]);
  },
);

clusterTest(
  "cluster: a node restarted under the same id at once: its old members vanish without waiting for the TTL, and their names are free",
  async () => {
    await using redis = await RedisServer.start();
    await using nodes = await Nodes.start(redis, ["A", "B"]);
    const [a, b] = nodes.list as [Node, Node];
    const ann = await LineClient.login(a.tcp, "ann");
    await using bea = await LineClient.login(b.tcp, "bea");
    await membersEverywhere(nodes.list, ["ann", "bea"]);
    a.child.process.kill("SIGKILL");
    await ann.closedByServer();
    await ann.close();
    // The default presence TTL is 15 s: only the new A's snapshot can make ann vanish this soon.
    const restartedAt = performance.now();
    await using again = await Nodes.start(redis, ["A"]);
    await bea.expect("INFO ann disconnected", 5000);
    assert.ok(performance.now() - restartedAt < 5000);
    await membersEverywhere([b, again.list[0]!], ["bea"]);
    await using _ann2 = await LineClient.login(b.tcp, "ann");
    await membersEverywhere([b, again.list[0]!], ["ann", "bea"]);
  },
);

clusterTest(
  "cluster: Redis stops and restarts during a steady stream: senders get the outage error, never silence; nothing acknowledged is lost or doubled; /readyz follows; sending resumes by itself",
  async () => {
    await using redis = await RedisServer.start();
    // The outage outlasts the presence TTL: live nodes must not reap each other when Redis comes back.
    const OUTAGE_MS = 2500;
    await using nodes = await Nodes.start(redis, ["A", "B"], ["--presence-ttl", "2s"]);
    const [a, b] = nodes.list as [Node, Node];
    await using gw = await gobanter(a, "gw");
    await using ct = await LineClient.login(a.tcp, "ct");
    await using mt = await machat(b, "mt");
    await using watch = await gobanter(b, "watch");
    // One who leaves during the outage, one who arrives during it.
    const leaver = await LineClient.login(a.tcp, "leaver");
    await using late = await LineClient.connect(b.tcp);
    await membersEverywhere(nodes.list, ["ct", "gw", "leaver", "mt", "watch"]);

    // Three senders, one line every few milliseconds each: GoBanter on A, the command dialect on A, MaChat on B.
    const sent = { gw: 0, ct: 0, mt: 0 };
    let stop = false;
    const stream = Promise.all([
      (async () => {
        for (; !stop; await delay(4)) {
          gw.send({ Action: "broadcast", Payload: { Message: `gw ${sent.gw++}` } });
        }
      })(),
      (async () => {
        for (; !stop; await delay(4)) await ct.send(`ct ${sent.ct++}`);
      })(),
      (async () => {
        for (; !stop; await delay(4)) await mt.send(`mt ${sent.mt++}`);
      })(),
    ]);
    const acked = {
      gw: () => broadcasts(gw).filter((m) => m.from === "gw").map((m) => m.text),
      mt: () => mt.lines.filter((l) => l.startsWith("mt:mt ")).map((l) => l.slice(3)),
    };
    const errors = {
      gw: () => errorCodes(gw),
      ct: () => ct.lines.filter((l) => l.startsWith("ERR")),
      mt: () => mt.lines.filter((l) => l.startsWith("ERR")),
    };
    const watched = () => broadcasts(watch);
    const from = (name: string) => watched().filter((m) => m.from === name).length;
    const readiness = () => Promise.all(nodes.list.map((n) => status(n.http, "/readyz")));
    try {
      await eventually(
        () => from("gw") > 20 && from("ct") > 20 && from("mt") > 20,
        "the stream flows",
        10_000,
      );

      await redis.stop();
      const downAt = performance.now();
      await eventually(async () => (await readiness()).every((s) => s === 503), "/readyz 503 on every node");
      await eventually(
        () => errors.gw().length > 0 && errors.ct().length > 0 && errors.mt().length > 0,
        "every sender hears the outage",
      );
      const before = { gw: acked.gw().length, mt: acked.mt().length, ct: from("ct") };
      // Reading history and logging in need Redis too: refused in the dialect, and the connection stays.
      await leaver.send("HISTORY 5");
      await leaver.expect("ERR unavailable");
      await leaver.close();
      await late.send("LOGIN late");
      await late.expect("ERR unavailable");
      await using lateMachat = await machat(a, "latemac");
      await lateMachat.expect("ERR unavailable");
      await lateMachat.closedByServer();
      await delay(Math.max(0, OUTAGE_MS - (performance.now() - downAt)));
      assert.equal(acked.gw().length, before.gw, "nothing is acknowledged while Redis is away");
      assert.equal(acked.mt().length, before.mt);

      await redis.restart();
      await eventually(async () => (await readiness()).every((s) => s === 200), "/readyz 200 again", 15_000);
      // Presence heals: who left meanwhile is gone everywhere; who came meanwhile can log in now.
      await late.send("LOGIN late");
      await late.expect("OK");
      // Healing waits on each node's presence resync after reconnecting: slower on a busy CI machine.
      await membersEverywhere(nodes.list, ["ct", "gw", "late", "mt", "watch"], 15_000);
      await watch.expectJson({ Action: "left", Payload: { Username: "leaver" } });
      const back = { gw: acked.gw().length, mt: acked.mt().length, ct: from("ct") };
      await eventually(
        () =>
          acked.gw().length > back.gw + 10 && acked.mt().length > back.mt + 10 && from("ct") > back.ct + 10,
        "sending works again, on the same connections",
        10_000,
      );
    } finally {
      stop = true;
      await stream;
    }
    // Every line sent is answered, one way or the other.
    await eventually(
      () =>
        acked.gw().length + errors.gw().length === sent.gw &&
        acked.mt().length + errors.mt().length === sent.mt,
      "every GoBanter and MaChat line gets its echo or an error",
    );
    await eventually(
      () => watched().some((m) => m.text === `ct ${sent.ct - 1}`),
      "the last command line lands",
    );

    assert.ok(errors.gw().every((code) => code === "unavailable"), `GoBanter errors: ${errors.gw()}`);
    assert.ok(errors.ct().every((l) => l === "ERR unavailable"), `TCP errors: ${errors.ct()}`);
    assert.ok(errors.mt().every((l) => l === "ERR unavailable"), `MaChat errors: ${errors.mt()}`);
    // Nobody who stayed was reported gone (and back) on any node.
    const leftNames = (ws: WsClient) =>
      ws.frames.map((f) => JSON.parse(f)).filter((f) => f.Action === "left").map((f) => f.Payload.Username);
    assert.deepEqual(leftNames(gw), ["leaver"]);
    assert.deepEqual(leftNames(watch), ["leaver"]);
    assert.deepEqual(ct.lines.filter((l) => / (disconnected|left)$/.test(l)), ["INFO leaver disconnected"]);
    for (const client of [ct, mt, late]) {
      assert.ok(!client.closed, "connections stay open through the outage");
    }
    assert.equal(gw.closeEvent, null);

    const history = await fullHistory(b);
    assert.deepEqual(history.map((m) => m.id), range(1, history.length), "ids without gaps or duplicates");
    const texts = history.map((m) => m.text);
    assert.equal(new Set(texts).size, texts.length, "no message is stored twice");
    const stored = new Set(texts);
    const seen = [...acked.gw(), ...acked.mt(), ...watched().map((m) => m.text)];
    const lost = seen.filter((t) => !stored.has(t));
    assert.deepEqual(lost, [], "every message a client saw acknowledged is in history");
    // Never silence: every line sent is stored or was refused. Refused means not stored, with one exception any
    // database client has: a line in flight at the instant Redis went away can be on disk while its reply was lost
    // with the connection. Such a line was never acknowledged and never delivered live; it is in history once.
    const live = new Set(watched().map((m) => m.text));
    for (const name of ["gw", "ct", "mt"] as const) {
      const numbers = texts.filter((t) => t.startsWith(`${name} `)).map((t) =>
        Number(t.slice(name.length + 1))
      );
      // Stored in the order sent: every line before the outage, then (after a gap refused whole) lines after it.
      assert.ok(
        numbers.every((n, i) => i === 0 || n > numbers[i - 1]!),
        `${name}: stored ${numbers.join(",")}`,
      );
      const cut = numbers.findIndex((n, i) => i > 0 && n !== numbers[i - 1]! + 1);
      assert.ok(cut > 0, `${name}: stored ${numbers.join(",")}`);
      assert.deepEqual(numbers.slice(0, cut), range(0, cut - 1), `${name}: before the outage`);
      // How many lines were in flight depends on how many the node had sent to Redis and not heard back about:
      // a node pipelines a connection's lines, and a busy machine hands it several at once. So no count, but
      // where they are: the last lines stored before the outage, nobody saw them live, none was acknowledged.
      const inFlight = numbers.length + errors[name]().length - sent[name];
      assert.ok(
        inFlight >= 0 && inFlight <= cut,
        `${name}: ${numbers.length} stored + ${errors[name]().length} refused vs ${sent[name]} sent`,
      );
      const flying = numbers.slice(cut - inFlight, cut).map((n) => `${name} ${n}`);
      assert.deepEqual(flying.filter((t) => live.has(t)), [], `${name}: nobody saw a refused line live`);
      if (name !== "ct") {
        const ok = new Set(acked[name]());
        const unacked = texts.filter((t) => t.startsWith(`${name} `) && !ok.has(t));
        assert.deepEqual(unacked, flying, `${name}: stored without an echo are the lines in flight`);
      }
    }
    // Live delivery and history agree on the order.
    const position = new Map(texts.map((t, i) => [t, i]));
    const order = watched().map((m) => position.get(m.text)!);
    assert.ok(order.every((p, i) => i === 0 || p > order[i - 1]!), "the watcher saw history's order");
  },
);

/** `hubbub --workers 2 --redis ...` on fixed free ports (reuse-port shares them), and its workers. */
class Workers implements AsyncDisposable {
  readonly parent: Child;
  readonly tcp: Deno.NetAddr;
  readonly http: Deno.NetAddr;

  constructor(redis: RedisServer) {
    const [tcpPort, httpPort] = [freePort(), freePort()];
    this.tcp = { transport: "tcp", hostname: "127.0.0.1", port: tcpPort };
    this.http = { transport: "tcp", hostname: "127.0.0.1", port: httpPort };
    this.parent = new Child([
      "run",
      "-P=server",
      "main.ts",
      "--workers",
      "2",
      "--redis",
      redis.url,
      "--node-id",
      "X",
      "--tcp",
      `127.0.0.1:${tcpPort}`,
      "--http",
      `127.0.0.1:${httpPort}`,
      "--log-format",
      "json",
      "--rate",
      "0",
    ]);
  }

  /** Records (from the parent's stderr, which carries the workers' too) with this message, by node id. */
  nodes(message: string): string[] {
    return this.parent.records.filter((r) => r.message === message).map(nodeOf);
  }

  /** Pids of every worker the supervisor started. */
  pids(): number[] {
    return this.parent.records.filter((r) => r.message === "worker started").map((r) =>
      (r.properties as { pid: number }).pid
    );
  }

  /**
   * Waits until both workers have joined the cluster (the first `restarted` of them: once more). `/readyz` on
   * the shared port cannot tell: the other worker may answer it.
   */
  async up(restarted = 0): Promise<void> {
    await eventually(
      () => {
        const joined = this.nodes("joined the cluster");
        return ["X-w1", "X-w2"].every((n, i) =>
          joined.filter((u) => u === n).length >= (i < restarted ? 2 : 1)
        );
      },
      "both workers joined the cluster",
      20_000,
    );
  }

  /** Whether no process listens on the TCP port any more. */
  portFree(): boolean {
    try {
      Deno.listen({ hostname: "127.0.0.1", port: this.tcp.port }).close();
      return true;
    } catch {
      return false;
    }
  }

  /** SIGTERM (forwarded to the workers); workers still there after 5 s are killed by pid. */
  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.parent.process.kill("SIGTERM");
    } catch {
      // Already gone.
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const exited = await Promise.race([
      this.parent.status().then(() => true),
      new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), 5000)),
    ]);
    clearTimeout(timer);
    if (!exited || !this.portFree()) {
      for (const pid of this.pids()) {
        try {
          Deno.kill(pid, "SIGKILL");
        } catch {
          // Already gone.
        }
      }
    }
    await this.parent[Symbol.asyncDispose]();
  }
}

function nodeOf(record: Record<string, unknown>): string {
  return String((record.properties as { node?: string }).node);
}

/** Logs in on the shared port until a connection lands on `node` (the login record says where). */
async function loginOn(
  workers: Workers,
  node: string,
  prefix: string,
  opened: LineClient[],
): Promise<LineClient> {
  for (let i = 0; i < 40; i++) {
    const name = `${prefix}${i}`;
    const client = await LineClient.login(workers.tcp, name);
    opened.push(client);
    let login: Record<string, unknown> | undefined;
    await eventually(
      () =>
        (login = workers.parent.records.findLast((r) =>
          String(r.message).startsWith("login") && (r.properties as { name?: string }).name === name
        )) !== undefined,
      `the login record of ${name}`,
    );
    if (nodeOf(login!) === node) return client;
  }
  throw new Error(`No connection landed on ${node}`);
}

clusterTest(
  "--workers 2 --redis: connections land on both workers, which chat in one room; a crashed worker is restarted; SIGTERM drains both and exits 0",
  async () => {
    await using redis = await RedisServer.start();
    await using workers = new Workers(redis);
    await workers.up();

    // New connections are spread by the kernel: /metrics tells which worker answered.
    const answered = new Set<string>();
    for (let i = 0; i < 60 && answered.size < 2; i++) {
      const text = await freshGet(workers.http.port, "/metrics");
      const node = /^hubbub_node_info\{node="([^"]+)"\} 1$/m.exec(text)?.[1];
      if (node) answered.add(node);
    }
    assert.deepEqual([...answered].sort(), ["X-w1", "X-w2"], "connections land on both workers");

    const opened: LineClient[] = [];
    try {
      // Chat clients on both workers share the lobby.
      const one = await loginOn(workers, "X-w1", "one", opened);
      const two = await loginOn(workers, "X-w2", "two", opened);
      await one.send("hello from w1");
      await two.expect(/^MSG one\d+ hello from w1$/);
      await two.send("hello from w2");
      await one.expect(/^MSG two\d+ hello from w2$/);

      // A worker that crashes is started again; the others hear its members go at once (its new snapshot is
      // empty), not after the 15 s presence TTL.
      const [w1] = workers.pids();
      Deno.kill(w1!, "SIGKILL");
      await one.closedByServer();
      await eventually(
        () => workers.nodes("worker exited; restarting").length === 1,
        "the supervisor notices",
      );
      await workers.up(1);
      await two.expect(/^INFO one\d+ disconnected$/, 5000);
      const again = await loginOn(workers, "X-w1", "again", opened);
      await again.send("back on w1");
      await two.expect(/^MSG again\d+ back on w1$/);
    } finally {
      await Promise.all(opened.map((c) => c.close()));
    }

    workers.parent.process.kill("SIGTERM");
    const { code } = await workers.parent.status();
    assert.equal(code, 0, "the supervisor exits 0 once both workers drained");
    assert.deepEqual(workers.nodes("stopped").sort(), ["X-w1", "X-w2"]);
    assert.ok(workers.portFree());
  },
);

clusterTest("--workers: a supervisor killed outright (SIGKILL) leaves no worker behind", async () => {
  await using redis = await RedisServer.start();
  await using workers = new Workers(redis);
  await workers.up();
  workers.parent.process.kill("SIGKILL");
  // Not status(): that also waits for stderr, which orphaned workers would hold open.
  await workers.parent.process.status;
  await eventually(() => workers.portFree(), "the workers stop and free the port", 5000);
});

// Needs no Redis: it runs everywhere.
Deno.test("--workers 2 without --redis exits 2 with one clear line", async () => {
  await using child = new Child(["run", "-P=server", "main.ts", "--workers", "2", "--tcp", "127.0.0.1:0"]);
  const { code } = await child.status();
  assert.equal(code, 2);
  // Deno's own warning about permissions in deno.json is not hubbub's (a compiled hubbub has none).
  const lines = child.stderr.split("\n").filter((l) =>
    l !== "" && !/^Warning Permissions in the config/.test(l)
  );
  assert.equal(lines.length, 1, child.stderr);
  assert.match(lines[0]!, /--workers needs --redis/);
});
