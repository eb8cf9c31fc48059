/**
 * CHATHISTORY's reading over the hub's history API: references by id and by time, across more than one page
 * of the store (the timestamp scan reads back 500 at a time).
 */

import assert from "node:assert/strict";
import { Hub } from "../../src/hub/hub.ts";
import { readHistory } from "../../src/irc/history.ts";
import type { Session } from "../../src/model.ts";
import { MemoryStore } from "../../src/store/memory.ts";
import { hubOptions } from "../_helpers.ts";

const session: Session = {
  id: "c_history",
  codec: { name: "test", echo: new Set(), encode: () => null },
  send: () => {},
  pressure: () => 0,
  queued: () => 0,
  close: () => {},
};

/** A hub whose room `dev` holds messages `m1`..`m<n>`, message `i` stamped at `i` seconds. */
async function roomOf(n: number): Promise<{ hub: Hub; client: ReturnType<Hub["connect"]> }> {
  let clock = 0;
  const hub = new Hub(hubOptions(new MemoryStore({ retention: { limit: 10_000, maxAgeMs: 0 } }), {
    now: () => clock * 1000,
  }));
  const client = hub.connect(session);
  assert.ok(hub.login(client, "ann").ok);
  assert.ok(hub.join(client, "dev").ok);
  for (let i = 1; i <= n; i++) {
    clock = i;
    assert.ok((await hub.say(client, `m${i}`)).ok);
  }
  return { hub, client };
}

const texts = (result: Awaited<ReturnType<typeof readHistory>>) => {
  assert.ok(result.ok);
  return result.value.map((m) => m.text);
};

Deno.test("IRC readHistory: a timestamp just past a page boundary still gets `limit` older messages", async () => {
  const { hub, client } = await roomOf(700);
  // The newest page of 500 is m201..m700: only m201 and m202 are older than m203.
  const before = await readHistory(hub, client, {
    sub: "BEFORE",
    target: "#dev",
    ref: { kind: "time", time: 203_000 },
    limit: 10,
  });
  assert.deepEqual(texts(before), [
    "m193",
    "m194",
    "m195",
    "m196",
    "m197",
    "m198",
    "m199",
    "m200",
    "m201",
    "m202",
  ]);
  const after = await readHistory(hub, client, {
    sub: "AFTER",
    target: "#dev",
    ref: { kind: "time", time: 150_000 },
    limit: 3,
  });
  assert.deepEqual(texts(after), ["m151", "m152", "m153"]);
  const latest = await readHistory(hub, client, {
    sub: "LATEST",
    target: "#dev",
    ref: { kind: "time", time: 697_000 },
    limit: 100,
  });
  assert.deepEqual(texts(latest), ["m698", "m699", "m700"]);
  const byId = await readHistory(hub, client, {
    sub: "BEFORE",
    target: "#dev",
    ref: { kind: "id", id: 3 },
    limit: 5,
  });
  assert.deepEqual(texts(byId), ["m1", "m2"]);
});
