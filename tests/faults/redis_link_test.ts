/**
 * Faults: one Redis connection (`RedisLink`) against a real redis-server that hangs (SIGSTOP): its commands
 * time out, it stops being ready, refuses at once, bounds what waits for an answer, and is ready again by
 * itself when Redis answers. Its scripts run in the order they are called, also when Redis does not know them.
 * @module
 */

import assert from "node:assert/strict";
import { eventually } from "../_helpers.ts";
import { RedisServer } from "../_redis.ts";
import { RedisLink, Script } from "../../src/redis.ts";
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

/**
 * A TCP proxy in front of Redis that passes commands at once and holds Redis's replies while `holding`, so a
 * test decides when the client hears each one.
 */
class ReplyGate implements AsyncDisposable {
  readonly #listener: Deno.TcpListener;
  readonly #upstream: number;
  readonly #pipes: Promise<void>[] = [];
  readonly #conns: Deno.Conn[] = [];
  #client: Deno.Conn | null = null;
  #held: Uint8Array = new Uint8Array(0);
  /** While set, Redis's replies are held back until {@linkcode release}. */
  holding = false;

  constructor(upstream: number) {
    this.#upstream = upstream;
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.#pipes.push(this.#accept());
  }

  get url(): string {
    return `redis://127.0.0.1:${(this.#listener.addr as Deno.NetAddr).port}/0`;
  }

  async #accept(): Promise<void> {
    for await (const client of this.#listener) {
      const server = await Deno.connect({ hostname: "127.0.0.1", port: this.#upstream });
      this.#client = client;
      this.#conns.push(client, server);
      this.#pipes.push(
        client.readable.pipeTo(server.writable).catch(() => {}),
        (async () => {
          try {
            for await (const chunk of server.readable) {
              if (this.holding) this.#held = concat(this.#held, chunk);
              else await client.write(chunk);
            }
          } catch {
            // Closed.
          }
        })(),
      );
    }
  }

  /** Complete replies held so far. */
  get held(): number {
    return replyEnds(this.#held).length;
  }

  /** Hands the client the first `count` held replies (all of them by default). */
  async release(count = Infinity): Promise<void> {
    const ends = replyEnds(this.#held);
    const end = count >= ends.length ? this.#held.length : ends[count - 1]!;
    const out = this.#held.subarray(0, end);
    this.#held = this.#held.slice(end);
    if (out.length > 0) await this.#client!.write(out);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#listener.close();
    for (const conn of this.#conns) {
      try {
        conn.close();
      } catch {
        // Closed.
      }
    }
    await Promise.allSettled(this.#pipes);
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** Where each complete RESP reply in `bytes` ends (simple replies, bulk strings and arrays of them). */
function replyEnds(bytes: Uint8Array): number[] {
  const text = new TextDecoder().decode(bytes);
  const ends: number[] = [];
  let at = 0;
  const one = (): boolean => {
    const eol = text.indexOf("\r\n", at);
    if (eol === -1) return false;
    const type = text[at];
    const n = Number(text.slice(at + 1, eol));
    at = eol + 2;
    if (type === "$") {
      if (n < 0) return true;
      if (text.length < at + n + 2) return false;
      at += n + 2;
      return true;
    }
    if (type === "*") {
      for (let i = 0; i < n; i++) if (!one()) return false;
    }
    return true;
  };
  while (at < text.length) {
    if (!one()) break;
    ends.push(new TextEncoder().encode(text.slice(0, at)).length);
  }
  return ends;
}

// Regression: RedisLink.script() sent EVALSHA and, on NOSCRIPT (a script Redis does not know: its first use, or
// any use after Redis restarted), sent the same call again as EVAL. Calls pipelined behind a NOSCRIPT could run
// before its retry, so one connection's messages were stored out of the order they were sent (seen in the
// cluster test: gw 0, 3, 4, 1, 2, 5).
redisTest(
  "RedisLink: scripts run in call order, also while Redis does not know the script yet",
  async () => {
    await using redis = await RedisServer.start();
    await using gate = new ReplyGate(redis.port);
    // A long timeout: no probe goes out while the test holds replies back.
    const link = new RedisLink({ url: gate.url, name: "test", timeoutMs: 60_000 });
    const push = new Script("redis.call('RPUSH', KEYS[1], ARGV[1]) return redis.call('LLEN', KEYS[1])");
    try {
      await eventually(() => link.ready, "the link is ready");
      gate.holding = true;
      const calls = [link.script(push, ["order"], ["m0"]), link.script(push, ["order"], ["m1"])];
      await eventually(() => gate.held === 2, "Redis answered the first two calls");
      // The client hears the first answer only, and acts on it; then a third call goes out.
      let first = false;
      calls[0]!.then(() => first = true, () => first = true);
      await gate.release(1);
      await eventually(() => first || gate.held === 2, "the client acted on the first answer");
      const held = gate.held;
      calls.push(link.script(push, ["order"], ["m2"]));
      await eventually(() => gate.held === held + 1, "Redis answered the third call");
      gate.holding = false;
      await gate.release();
      await Promise.all(calls);
      assert.deepEqual(await link.command(["LRANGE", "order", 0, -1]), ["m0", "m1", "m2"]);
      // Redis forgets its scripts (SCRIPT FLUSH): the call that finds out fails, it is not sent again; the
      // next ones go by text.
      assert.equal(await redis.command("SCRIPT", "FLUSH"), "+OK");
      await assert.rejects(link.script(push, ["order"], ["m3"]), /NOSCRIPT/);
      assert.equal(await link.script(push, ["order"], ["m4"]), 4);
    } finally {
      link.close();
    }
  },
);
