/// <reference lib="dom" />
/**
 * The page's "sign in / register" form in a real browser (Debian's Chromium driven by puppeteer-core): register
 * a name, stay signed in across a reload (the HttpOnly cookie), sign out, be refused the registered name as a
 * guest, sign in again. Skipped with one SKIP line without Chromium, except under `CI=true`.
 */

import assert from "node:assert/strict";
import type { Page } from "puppeteer-core";
import { LineClient, serve } from "../_helpers.ts";
import { CHROMIUM, CI, fileExists, launchChromium } from "./_browser.ts";

const WAIT = 10_000;

const present = await fileExists(CHROMIUM);
if (!present && !CI) {
  // deno-lint-ignore no-console
  console.log(`SKIP accounts browser test: no Chromium at ${CHROMIUM}`);
}

const NAMED = '.app[data-named="yes"][data-conn="open"] [data-testid="my-name"]';

async function text(page: Page, selector: string): Promise<string> {
  return await page.$eval(selector, (el) => el.textContent ?? "");
}

/** Picks a mode of the form, types the name (and password) and submits. */
async function fill(page: Page, mode: "As a guest" | "Sign in" | "Register", name: string, password = "") {
  await page.waitForSelector("#name-input");
  const labels = await page.$$(".modes .mode");
  for (const label of labels) {
    if ((await label.evaluate((el) => el.textContent)) === mode) await label.click();
  }
  await page.$eval("#name-input", (el) => (el as HTMLInputElement).select());
  await page.type("#name-input", name);
  if (password !== "") await page.type("#password-input", password);
  await page.keyboard.press("Enter");
}

Deno.test({
  name: "browser: register on the page, stay signed in across a reload, sign out, sign in again",
  ignore: !present && !CI,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    if (!present) throw new Error(`CI=true but no Chromium at ${CHROMIUM}: .ci/run must install it`);
    await using server = serve({ accounts: "on" }, { scrypt: { ln: 4, r: 1, p: 1 } });
    const url = `http://127.0.0.1:${server.http!.port}/`;
    const { browser, profile } = await launchChromium();
    try {
      const context = await browser.createBrowserContext();
      const page = await context.newPage();
      page.setDefaultTimeout(WAIT);
      const problems: string[] = [];
      page.on("pageerror", (error) => problems.push(String(error)));
      await page.goto(url, { waitUntil: "load" });
      // The greeting says the server has accounts: the form offers all three ways in.
      await page.waitForSelector(".modes");
      assert.deepEqual(await page.$$eval(".modes .mode", (els) => els.map((el) => el.textContent)), [
        "As a guest",
        "Sign in",
        "Register",
      ]);
      await fill(page, "Register", "alice", "alices-password");
      await page.waitForSelector(NAMED);
      assert.equal(await text(page, '[data-testid="my-name"]'), "alice");
      assert.equal(await text(page, ".whoami-label"), "Signed in as");
      const cookie = (await page.cookies()).find((c) => c.name === "hubbub_session");
      assert.ok(cookie, "the session cookie is set");
      assert.equal(cookie.httpOnly, true);
      assert.equal(cookie.sameSite, "Strict");
      assert.equal(await page.evaluate(() => document.cookie), "", "page scripts cannot read it");

      // A reload asks nothing: the cookie signs the new socket in.
      await page.reload({ waitUntil: "load" });
      await page.waitForSelector(NAMED);
      assert.equal(await text(page, '[data-testid="my-name"]'), "alice");
      assert.equal(await page.$("#password-input"), null);
      await using tcp = await LineClient.connect(server.tcp!);
      await tcp.send("LOGIN alice");
      await tcp.expect(/^ERR /);

      // Signing out ends the session; the name is then refused to this page as a guest.
      const signOut = await page.$$(".whoami .link-button");
      assert.equal(await signOut[0]!.evaluate((el) => el.textContent), "Sign out");
      await signOut[0]!.click();
      await page.waitForSelector("#name-input");
      assert.equal((await page.cookies()).find((c) => c.name === "hubbub_session"), undefined);
      await fill(page, "As a guest", "alice");
      await page.waitForSelector("#name-error");
      assert.match(await text(page, "#name-error"), /registered/);
      // The form now suggests signing in.
      await page.waitForSelector("#password-input");
      await page.type("#password-input", "alices-password");
      await page.keyboard.press("Enter");
      await page.waitForSelector(NAMED);
      assert.equal(await text(page, '[data-testid="my-name"]'), "alice");
      assert.deepEqual(problems, []);
      await context.close();
    } finally {
      await browser.close();
      await Deno.remove(profile, { recursive: true }).catch(() => {});
    }
  },
});
