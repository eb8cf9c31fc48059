/// <reference lib="dom" />
/**
 * The page over `https://` in Debian's Chromium, its WebSocket over `wss://`, chatting with `ncat --ssl`-style
 * TLS client on the TCP door. Chromium trusts the test server's key through `--ignore-certificate-errors-spki-list`
 * (its flag for a known key), so nothing else about certificates is relaxed.
 *
 * Skipped with one SKIP line when there is no Chromium, except under `CI=true`.
 */

import assert from "node:assert/strict";
import { LineClient, serve } from "../_helpers.ts";
import { testPki } from "../_tls.ts";
import { CHROMIUM, CI, fileExists, launchChromium } from "./_browser.ts";

const present = await fileExists(CHROMIUM);
if (!present && !CI) {
  // deno-lint-ignore no-console
  console.log(
    `SKIP TLS browser test: no Chromium at ${CHROMIUM} (install Debian's chromium or set HUBBUB_CHROMIUM)`,
  );
}

Deno.test({
  name: "TLS browser: the page over https and its WebSocket over wss chat with a TLS client on the TCP door",
  ignore: !present && !CI,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    if (!present) throw new Error(`CI=true but no Chromium at ${CHROMIUM}: .ci/run must install it`);
    await using pki = await testPki();
    await using server = serve({ tlsCert: pki.certPath, tlsKey: pki.keyPath, presenceIntervalMs: 20 });
    const http = server.http!;
    const { browser, profile } = await launchChromium([`--ignore-certificate-errors-spki-list=${pki.spki}`]);
    try {
      const page = await browser.newPage();
      page.setDefaultTimeout(10_000);
      const response = await page.goto(`https://127.0.0.1:${http.port}/`, { waitUntil: "load" });
      assert.equal(response?.status(), 200);
      assert.equal(response?.securityDetails()?.subjectName(), "localhost");
      await page.waitForSelector("#name-input");
      await page.type("#name-input", "browser");
      await page.keyboard.press("Enter");
      await page.waitForSelector('.app[data-named="yes"][data-conn="open"] [data-testid="my-name"]');
      assert.equal(await page.evaluate(() => location.protocol), "https:");

      await using ncat = await LineClient.connectTls(server.tcp!, pki.ca);
      await ncat.send("LOGIN terminal");
      await ncat.expect("OK");
      await page.focus("#composer-input");
      await page.keyboard.type("hello from https");
      await page.keyboard.press("Enter");
      await ncat.expect("MSG browser hello from https");
      await ncat.send("hello from tls");
      await page.waitForFunction(
        () =>
          [...document.querySelectorAll(".timeline .msg")].some((el) =>
            el.querySelector(".msg-text")?.textContent === "hello from tls" &&
            el.getAttribute("data-from") === "terminal"
          ),
      );
    } finally {
      await browser.close();
      await Deno.remove(profile, { recursive: true }).catch(() => {});
    }
  },
});
