/**
 * Faults: Redis restarted while nodes keep running. A Redis that reloads its data answers `LOADING` for a
 * while after it accepts connections; nodes that reconnect then must not count themselves back in the cluster
 * before they could tell it who they have (issue 16's flaky "Redis stops and restarts").
 * @module
 */

import assert from "node:assert/strict";
import { eventually, LineClient } from "../_helpers.ts";
import { RedisServer } from "../_redis.ts";
import { type Node, redisTest, startNode, status } from "./_faults.ts";

/** Member names of the lobby as a node sees them. */
async function members(node: Node): Promise<string[]> {
  const response = await fetch(`http://${node.http.hostname}:${node.http.port}/api/rooms/lobby/members`);
  return (await response.json()).members;
}

redisTest(
  "RedisBus: presence heals when nodes reconnect while Redis is still loading its data (LOADING)",
  async () => {
    await using redis = await RedisServer.start();
    const ttl = ["--presence-ttl", "2s"];
    await using a = await startNode({ redis, id: "A", args: ttl });
    await using b = await startNode({ redis, id: "B", args: ttl });
    await using ann = await LineClient.login(a.tcp, "ann");
    const leaver = await LineClient.login(a.tcp, "leaver");
    await using bob = await LineClient.login(b.tcp, "bob");
    await eventually(
      async () => JSON.stringify(await members(b)) === '["ann","bob","leaver"]',
      "B lists everyone",
    );

    // A million commands in the append-only file keep Redis loading (answering LOADING) for about a second
    // after it listens again: the nodes' reconnects land in that window.
    assert.equal(
      await redis.command("EVAL", "for i = 1, 1000000 do redis.call('INCR', 'filler') end", 0),
      "",
    );
    await redis.stop();
    // Leaves while Redis is away: only the resync after Redis is back can tell B.
    await leaver.close();
    await eventually(async () => !(await members(a)).includes("leaver"), "A has let the leaver go");
    await redis.restart();

    await eventually(
      async () => (await Promise.all([a, b].map((n) => status(n.http, "/readyz")))).every((s) => s === 200),
      "/readyz 200 on both",
      10_000,
    );
    // Ready means the node has told the cluster who it has and heard who the others have.
    await eventually(
      async () => JSON.stringify(await members(b)) === '["ann","bob"]',
      "B no longer lists the member who left while Redis was away",
      3000,
    );
    await bob.expect("INFO leaver disconnected");
    await ann.send("back");
    await bob.expect("MSG ann back");
  },
);
