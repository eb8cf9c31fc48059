/**
 * Password attempts (`src/hub/attempts.ts`) on an injected clock: free failures, lockout with doubling
 * backoff up to a ceiling, forgetting, a right password clearing the name only, IPv6 /64s, registrations,
 * and the bounded tables.
 */

import assert from "node:assert/strict";
import { type AttemptLimits, Attempts, DEFAULT_ATTEMPT_LIMITS, ipKey } from "../src/hub/attempts.ts";

const LIMITS: AttemptLimits = {
  perName: { free: 3, lockMs: 1000, maxLockMs: 5000, forgetMs: 60_000 },
  perIp: { free: 5, lockMs: 1000, maxLockMs: 8000, forgetMs: 60_000 },
  registrations: { free: 2, lockMs: 10_000, maxLockMs: 40_000, forgetMs: 100_000 },
};

function clock(): { now: () => number; advance: (ms: number) => void } {
  let t = 1_000_000;
  return { now: () => t, advance: (ms) => t += ms };
}

Deno.test("attempts: a name allows its free failures, then locks out for twice as long each further failure, up to the ceiling", () => {
  const { now, advance } = clock();
  const attempts = new Attempts(LIMITS, now);
  for (let i = 0; i < 3; i++) {
    assert.deepEqual(attempts.check(`10.0.0.${i}`, "alice"), { ok: true });
    attempts.failed(`10.0.0.${i}`, "alice");
  }
  // The 3 free failures came from 3 addresses: the name is what is locked, for 0 ms until the 4th failure.
  assert.deepEqual(attempts.check("10.0.0.9", "alice"), { ok: true });
  const locks: number[] = [];
  for (let i = 0; i < 5; i++) {
    attempts.failed("10.0.0.9", "alice");
    const verdict = attempts.check("10.0.0.10", "alice");
    assert.equal(verdict.ok, false);
    if (!verdict.ok) {
      assert.equal(verdict.by, "name");
      locks.push(verdict.retryMs);
    }
  }
  assert.deepEqual(locks, [1000, 2000, 4000, 5000, 5000], "doubling, up to maxLockMs");
  // Another name is not locked; the lock ends on time.
  assert.deepEqual(attempts.check("10.0.0.10", "bob"), { ok: true });
  advance(4999);
  assert.equal(attempts.check("10.0.0.10", "alice").ok, false);
  advance(1);
  assert.deepEqual(attempts.check("10.0.0.10", "alice"), { ok: true });
});

Deno.test("attempts: an address is limited across names, and counts IPv6 by its /64", () => {
  const { now } = clock();
  const attempts = new Attempts(LIMITS, now);
  for (let i = 0; i < 6; i++) attempts.failed("2001:db8:1:2::10", `name${i}`);
  const verdict = attempts.check("2001:db8:1:2:ffff::1", "fresh");
  assert.deepEqual(verdict, { ok: false, by: "ip", retryMs: 1000 });
  assert.deepEqual(attempts.check("2001:db8:1:3::10", "fresh"), { ok: true }, "another /64");
  assert.deepEqual(attempts.check("192.0.2.1", "fresh"), { ok: true });
  assert.equal(ipKey("2001:db8:1:2::10"), "2001:db8:1:2::/64");
  assert.equal(ipKey("2001:0db8:0001:0002:0:0:0:1"), "2001:db8:1:2::/64");
  assert.equal(ipKey("::1"), "0:0:0:0::/64");
  assert.equal(ipKey("fe80::1%eth0"), "fe80:0:0:0::/64");
  assert.equal(ipKey("::ffff:192.0.2.1"), "192.0.2.1");
  assert.equal(ipKey("192.0.2.1"), "192.0.2.1");
});

Deno.test("attempts: a right password clears the name's count, never the address's; quiet time forgets both", () => {
  const { now, advance } = clock();
  const attempts = new Attempts(LIMITS, now);
  for (let i = 0; i < 5; i++) attempts.failed("192.0.2.1", "alice");
  assert.equal(attempts.check("192.0.2.2", "alice").ok, false);
  attempts.succeeded("alice");
  assert.deepEqual(
    attempts.check("192.0.2.2", "alice"),
    { ok: true },
    "alice logged in: her name is free to try",
  );
  // The address made 5 failures: its 6th locks it, whatever it logs in to meanwhile.
  attempts.failed("192.0.2.1", "mallory");
  attempts.succeeded("mallory");
  assert.equal(attempts.check("192.0.2.1", "carol").ok, false);
  advance(60_000);
  assert.deepEqual(attempts.check("192.0.2.1", "carol"), { ok: true }, "forgotten after forgetMs");
  assert.deepEqual(attempts.size, { ips: 0, names: 0 });
});

Deno.test("attempts: registrations per address have their own allowance and backoff", () => {
  const { now, advance } = clock();
  const attempts = new Attempts(LIMITS, now);
  attempts.registered("192.0.2.1");
  assert.deepEqual(attempts.checkRegistration("192.0.2.1"), { ok: true });
  attempts.registered("192.0.2.1");
  // Two allowed (free: 2): the third waits.
  assert.deepEqual(attempts.checkRegistration("192.0.2.1"), { ok: false, by: "ip", retryMs: 10_000 });
  assert.deepEqual(attempts.checkRegistration("192.0.2.2"), { ok: true });
  // Registering is not guessing: logins from that address are not limited by it.
  assert.deepEqual(attempts.check("192.0.2.1", "alice"), { ok: true });
  advance(10_000);
  assert.deepEqual(attempts.checkRegistration("192.0.2.1"), { ok: true });
});

Deno.test("attempts: the tables are bounded; the quietest entries go first", () => {
  const { now, advance } = clock();
  const attempts = new Attempts({ ...LIMITS, maxTracked: 100 }, now);
  for (let i = 0; i < 1000; i++) {
    attempts.failed(`10.0.${i >> 8}.${i & 255}`, `n${i}`);
    advance(1);
  }
  assert.deepEqual(attempts.size, { ips: 100, names: 100 });
  for (let i = 0; i < 6; i++) attempts.failed("10.0.3.231", "n999");
  assert.equal(attempts.check("10.0.3.231", "x").ok, false, "the newest are kept");
});

Deno.test("attempts: hubbub's limits are the documented ones", () => {
  assert.deepEqual(DEFAULT_ATTEMPT_LIMITS.perName, {
    free: 5,
    lockMs: 60_000,
    maxLockMs: 3_600_000,
    forgetMs: 3_600_000,
  });
  assert.deepEqual(DEFAULT_ATTEMPT_LIMITS.perIp, {
    free: 20,
    lockMs: 60_000,
    maxLockMs: 3_600_000,
    forgetMs: 3_600_000,
  });
  assert.deepEqual(DEFAULT_ATTEMPT_LIMITS.registrations, {
    free: 5,
    lockMs: 600_000,
    maxLockMs: 86_400_000,
    forgetMs: 86_400_000,
  });
});
