/**
 * Faults: one Redis connection (`RedisLink`) against a real redis-server that hangs (SIGSTOP): its commands
 * time out, it stops being ready, refuses at once, bounds what waits for an answer, and is ready again by
 * itself when Redis answers.
 * @module
 */

import assert from "node:assert/strict";
import { eventually } from "../_helpers.ts";
import { RedisServer } from "../_redis.ts";
import { RedisLink } from "../../src/redis.ts";
import { redisTest, timed } from "./_faults.ts";

redisTest(
  "RedisLink: a hung Redis fails commands after the timeout, then refuses at once; at most maxInFlight wait; ready again when it answers",
  async () => {
    await using redis = await RedisServer.start();
    let readyCalls = 0;
    const link = new RedisLink({
      url: redis.url,
      name: "test",
      timeoutMs: 400,
      maxInFlight: 5,
      onReady: () => readyCalls++,
    });
    try {
      await eventually(() => link.ready, "the link is ready");
      assert.equal(readyCalls, 1);
      assert.equal(await link.command(["SET", "k", "v"]), "OK");

      redis.pause();
      // Not noticed yet: five commands go out and wait; the sixth and more are refused at once.
      const waiting = Array.from(
        { length: 5 },
        () => timed(() => link.command(["GET", "k"]).catch((e) => e)),
      );
      const refused = await timed(() => link.command(["GET", "k"]).catch((e) => e));
      assert.match(String(refused.value), /5 commands already wait for an answer/);
      assert.ok(refused.ms < 50, `refused after ${refused.ms} ms`);
      for (const { value, ms } of await Promise.all(waiting)) {
        assert.match(String(value), /no answer within 400 ms/);
        assert.ok(ms >= 400 && ms < 1000, `failed after ${Math.round(ms)} ms`);
      }
      assert.equal(link.ready, false);
      const atOnce = await timed(() => link.command(["GET", "k"]).catch((e) => e));
      assert.match(String(atOnce.value), /Cannot reach Redis: it does not answer/);
      assert.ok(atOnce.ms < 50);

      redis.resume();
      await eventually(() => link.ready, "ready again", 2000);
      assert.equal(readyCalls, 2);
      assert.equal(await link.command(["GET", "k"]), "v");
    } finally {
      link.close();
    }
  },
);
