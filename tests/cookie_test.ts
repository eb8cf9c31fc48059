/** The page's session cookie (`src/wire/cookie.ts`): how it is set, cleared and read back. */

import assert from "node:assert/strict";
import {
  clearedSessionCookie,
  readSessionCookie,
  SESSION_COOKIE,
  sessionCookie,
} from "../src/wire/cookie.ts";

Deno.test("cookie: HttpOnly and SameSite=Strict always, Secure over TLS only", () => {
  assert.equal(
    sessionCookie("tok", { secure: false, maxAgeSeconds: 60 }),
    "hubbub_session=tok; Path=/; HttpOnly; SameSite=Strict; Max-Age=60",
  );
  assert.equal(
    sessionCookie("tok", { secure: true, maxAgeSeconds: 60 }),
    "hubbub_session=tok; Path=/; HttpOnly; SameSite=Strict; Max-Age=60; Secure",
  );
  assert.equal(
    clearedSessionCookie(true),
    "hubbub_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0; Secure",
  );
});

Deno.test("cookie: readSessionCookie finds hubbub's cookie among others, and nothing else", () => {
  const read = (cookie?: string) => readSessionCookie(new Headers(cookie === undefined ? {} : { cookie }));
  assert.equal(read(), null);
  assert.equal(read(`${SESSION_COOKIE}=abc`), "abc");
  assert.equal(read(`theme=dark; ${SESSION_COOKIE}=abc; lang=en`), "abc");
  assert.equal(read(`x${SESSION_COOKIE}=abc`), null);
  assert.equal(read(`${SESSION_COOKIE}=`), null);
  assert.equal(read(`${SESSION_COOKIE}=; ${SESSION_COOKIE}=second`), "second");
  assert.equal(read("garbage"), null);
});
