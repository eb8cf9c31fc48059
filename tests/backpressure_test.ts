/** The shared backpressure rules: the slow-reader guard, and the load gauge behind admission control. */

import assert from "node:assert/strict";
import { BACKED_UP_MS, BacklogClock, LoadGauge, SlowReaderGuard } from "../src/hub/backpressure.ts";
import { delay } from "./_helpers.ts";

Deno.test("LoadGauge: overloaded only when more than half of the sessions are backed up", () => {
  const gauge = new LoadGauge();
  const clocks = Array.from({ length: 4 }, () => new BacklogClock(gauge));
  assert.deepEqual(gauge.counts, { sessions: 4, backedUp: 0 });
  assert.equal(gauge.overloaded(), false);

  const now = 10_000;
  const old = now - BACKED_UP_MS - 1;
  clocks[0]!.update(old, now);
  clocks[1]!.update(old, now);
  assert.deepEqual(gauge.counts, { sessions: 4, backedUp: 2 });
  assert.equal(gauge.overloaded(), false, "half is not more than half");
  clocks[2]!.update(old, now);
  assert.equal(gauge.overloaded(), true);

  // A frame that has waited exactly the limit, or a fresh one, is not backed up; updates are idempotent.
  clocks[2]!.update(now - BACKED_UP_MS, now);
  clocks[2]!.update(now - 5, now);
  clocks[0]!.update(old, now);
  assert.deepEqual(gauge.counts, { sessions: 4, backedUp: 2 });
  assert.equal(gauge.overloaded(), false);

  // Closing a backed-up session takes its mark with it; a second close and later updates change nothing.
  clocks[0]!.close();
  clocks[0]!.close();
  clocks[0]!.update(old, now);
  assert.deepEqual(gauge.counts, { sessions: 3, backedUp: 1 });
  clocks[1]!.update(undefined, now);
  assert.deepEqual(gauge.counts, { sessions: 3, backedUp: 0 });
  for (const clock of clocks) clock.close();
  assert.deepEqual(gauge.counts, { sessions: 0, backedUp: 0 });
  assert.equal(gauge.overloaded(), false);
});

Deno.test("SlowReaderGuard: over the bound for the grace period trips once; over 4x trips at once", async () => {
  let queued = 0;
  let trips = 0;
  const guard = new SlowReaderGuard({ max: 100, graceMs: 20, queued: () => queued, trip: () => trips++ });
  queued = 150;
  guard.poke();
  queued = 50;
  await delay(40);
  assert.equal(trips, 0, "back under the bound before the grace period ended");
  queued = 150;
  guard.poke();
  await delay(40);
  assert.equal(trips, 1);
  guard.poke();
  assert.equal(trips, 1, "trips once");

  const hard = new SlowReaderGuard({ max: 100, queued: () => 401, trip: () => trips++ });
  hard.poke();
  assert.equal(trips, 2);
  hard.dispose();
});
