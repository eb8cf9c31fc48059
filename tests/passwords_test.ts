/**
 * Password hashes (`src/hub/passwords.ts`): scrypt with its parameters stored, a salt per hash, verification
 * of older parameters, the rules for new passwords, the bound on hashes at once, and (with hubbub's real
 * parameters) that hashing runs off the event loop.
 */

import assert from "node:assert/strict";
import {
  checkPassword,
  DEFAULT_SCRYPT,
  HashingBusyError,
  MAX_HASHING,
  MAX_WAITING,
  PasswordHasher,
} from "../src/hub/passwords.ts";

/** Cheap parameters: unit tests need many hashes. */
const CHEAP = { ln: 4, r: 1, p: 1 };

Deno.test("passwords: a hash verifies its password and nothing else; each hash has its own salt", async () => {
  const hasher = new PasswordHasher(CHEAP);
  const one = await hasher.hash("correct horse");
  const two = await hasher.hash("correct horse");
  assert.match(one, /^\$scrypt\$ln=4,r=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
  assert.notEqual(one, two, "a fresh salt per hash");
  assert.ok(!one.includes("correct horse"));
  assert.equal(await hasher.verify("correct horse", one), true);
  assert.equal(await hasher.verify("correct horse", two), true);
  assert.equal(await hasher.verify("correct horsE", one), false);
  assert.equal(await hasher.verify("", one), false);
  assert.equal(await hasher.verify("correct horse ", one), false);
});

Deno.test("passwords: the parameters travel with the hash, so raising them locks nobody out", async () => {
  const old = await new PasswordHasher(CHEAP).hash("s3cret-pass");
  const raised = new PasswordHasher({ ln: 6, r: 2, p: 1 });
  assert.equal(await raised.verify("s3cret-pass", old), true, "an older hash still verifies");
  assert.equal(raised.needsRehash(old), true, "and is due for a new one");
  const fresh = await raised.hash("s3cret-pass");
  assert.match(fresh, /^\$scrypt\$ln=6,r=2,p=1\$/);
  assert.equal(raised.needsRehash(fresh), false);
  assert.deepEqual(new PasswordHasher().params, DEFAULT_SCRYPT);
  assert.deepEqual(DEFAULT_SCRYPT, { ln: 14, r: 8, p: 1 });
});

Deno.test("passwords: a malformed or hostile stored hash matches nothing (and costs nothing)", async () => {
  const hasher = new PasswordHasher(CHEAP);
  const good = await hasher.hash("s3cret-pass");
  const [, , params, salt, key] = good.split("$");
  for (
    const bad of [
      "",
      "plain",
      `$argon2$${params}$${salt}$${key}`,
      `$scrypt$ln=30,r=8,p=1$${salt}$${key}`, // 2^30 · 1 KiB: a hand-edited row must not cost gigabytes
      `$scrypt$ln=4,r=64,p=64$${salt}$${key}`,
      `$scrypt$${params}$${salt}$AAAA`,
      `$scrypt$${params}$${salt}`,
    ]
  ) {
    assert.equal(await hasher.verify("s3cret-pass", bad), false, bad);
  }
});

Deno.test("passwords: the same password typed in another normal form is the same password (NFKC)", async () => {
  const hasher = new PasswordHasher(CHEAP);
  const hash = await hasher.hash("caf\u00e9-latte");
  assert.equal(await hasher.verify("cafe\u0301-latte", hash), true, "decomposed é");
  assert.equal(await hasher.verify("\uff43afé-latte", hash), true, "a fullwidth c");
});

Deno.test("passwords: checkPassword wants 8 to 128 characters, no control characters, no space at the ends", () => {
  assert.equal(checkPassword("12345678"), null);
  assert.equal(checkPassword("a passphrase with spaces"), null);
  assert.equal(checkPassword("pässwörd"), null);
  assert.equal(checkPassword("x".repeat(128)), null);
  assert.match(checkPassword("1234567")!, /at least 8/);
  assert.match(checkPassword("x".repeat(129))!, /at most 128/);
  assert.match(checkPassword("tab\there!")!, /control/);
  assert.match(checkPassword(" leading-space")!, /space/);
  assert.match(checkPassword("trailing-space ")!, /space/);
  // Characters, not UTF-16 units: eight emoji are eight characters.
  assert.equal(checkPassword("🔑".repeat(8)), null);
});

Deno.test("passwords: at most MAX_HASHING hashes run at once and MAX_WAITING wait; more are refused as busy", async () => {
  const hasher = new PasswordHasher({ ln: 10, r: 8, p: 1 });
  const stored = await hasher.hash("s3cret-pass");
  let peak = 0;
  const timer = setInterval(() => peak = Math.max(peak, hasher.load.running), 1);
  const all = Array.from(
    { length: MAX_HASHING + MAX_WAITING + 5 },
    () => hasher.verify("s3cret-pass", stored).then(() => "ok", (e) => e),
  );
  const results = await Promise.all(all);
  clearInterval(timer);
  assert.equal(results.filter((r) => r === "ok").length, MAX_HASHING + MAX_WAITING);
  const refused = results.filter((r) => r instanceof HashingBusyError);
  assert.equal(refused.length, 5);
  assert.ok(peak <= MAX_HASHING, `at most ${MAX_HASHING} at once, saw ${peak}`);
  assert.deepEqual(hasher.load, { running: 0, waiting: 0 });
});

Deno.test("passwords: with hubbub's parameters, hashing does not block the event loop", async () => {
  const hasher = new PasswordHasher();
  const stored = await hasher.hash("warm-up password");
  // Timers keep firing while a hash runs: the loop is free. A hash on the loop would stall them for its length.
  let last = performance.now();
  let worst = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
  }, 2);
  const started = performance.now();
  for (let i = 0; i < 3; i++) assert.equal(await hasher.verify("warm-up password", stored), true);
  const each = (performance.now() - started) / 3;
  clearInterval(timer);
  assert.ok(worst < each / 2, `the loop stalled ${worst.toFixed(1)} ms during ${each.toFixed(0)} ms hashes`);
});
