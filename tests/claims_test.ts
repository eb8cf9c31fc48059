/** Claims of names: resuming with a token, new claims after others, DM stamps, and the bounded memory. */

import assert from "node:assert/strict";
import { Claims } from "../src/hub/claims.ts";

function clock(start = 1_000_000) {
  const c = { t: start, now: () => c.t };
  return c;
}

Deno.test("claims: the same token resumes the claim with its start; no token or another token begins afresh", () => {
  const c = clock();
  const claims = new Claims({ now: c.now });
  assert.equal(claims.since("alice"), null);
  assert.equal(claims.begin("alice", "page:a"), 1_000_000);
  c.t += 5000;
  claims.end("alice");
  assert.equal(claims.since("alice"), null, "nobody holds it");
  c.t += 5000;
  assert.equal(claims.begin("alice", "page:a"), 1_000_000, "the page came back");
  claims.end("alice");
  c.t += 1000;
  assert.equal(claims.begin("alice", null), c.t, "no token never resumes");
  claims.end("alice");
  c.t += 1000;
  assert.equal(claims.begin("alice", "page:a"), c.t, "someone else held it in between: a new claim");
  claims.end("alice");
  assert.equal(
    claims.begin("alice", "page:b"),
    c.t + 1,
    "another token: a new claim, after the last one ended",
  );
  assert.equal(claims.begin("alice", "page:b"), c.t + 1, "a second connection of a held claim shares it");
});

Deno.test("claims: a change of case by the same connection (same) carries the claim on without a token", () => {
  const c = clock();
  const claims = new Claims({ now: c.now });
  claims.begin("carol", null);
  c.t += 100;
  claims.end("carol");
  assert.equal(claims.begin("carol", null, { same: true }), 1_000_000);
});

Deno.test("claims: a new claim starts after the previous one ended and after every DM stamped for it", () => {
  const c = clock();
  const claims = new Claims({ now: c.now });
  claims.begin("bob", null, { since: c.t + 50 }); // bob's node runs 50 ms ahead
  claims.begin("alice", null);
  const stamped = claims.stamp("alice", "bob");
  assert.equal(stamped, c.t + 50, "never before either claim began");
  claims.end("alice");
  const next = claims.begin("alice", null);
  assert.ok(next > stamped, `the next holder of alice starts after the DM (${next} > ${stamped})`);
  // The remote node's own word on when its holder left counts too.
  claims.begin("dave", null);
  claims.end("dave", c.t + 30);
  assert.equal(claims.begin("dave", null), c.t + 31);
  // A claim heard from another node keeps the start that node gave, unless it would overlap the last one.
  claims.begin("erin", null, { since: c.t - 10 });
  assert.equal(claims.since("erin"), c.t - 10);
});

Deno.test("claims: ended claims are kept for the retention time, and at most maxEnded of them", () => {
  const c = clock();
  const claims = new Claims({ now: c.now, retentionMs: 60_000, maxEnded: 3 });
  claims.begin("alice", "page:a");
  claims.end("alice");
  c.t += 60_001;
  assert.equal(claims.begin("alice", "page:a"), c.t, "forgotten after the retention time: a new claim");
  claims.end("alice");
  for (const name of ["b", "c", "d"]) {
    claims.begin(name, `page:${name}`);
    claims.end(name);
  }
  assert.deepEqual(claims.size, { held: 0, ended: 3 });
  c.t += 10;
  assert.equal(claims.begin("alice", "page:a"), c.t, "the oldest ended claim went first");
  assert.equal(claims.begin("d", "page:d"), c.t - 10, "the newest is still there");
  for (let i = 0; i < 100; i++) {
    claims.begin(`x${i}`, null);
    claims.end(`x${i}`);
  }
  assert.deepEqual(
    claims.size,
    { held: 2, ended: 3 },
    "held claims are never dropped; ended ones stay bounded",
  );
});
