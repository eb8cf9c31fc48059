/// <reference lib="dom" />
/**
 * The IRC door's done-when check: `ii`, `weechat-headless` and `irc-framework` each exchange messages both ways
 * with a real browser page (Debian's Chromium driven by puppeteer-core) and a real `ncat` client, all in one
 * room. Skipped with one SKIP line when Chromium or the IRC clients are missing, except under `CI=true`.
 */

import assert from "node:assert/strict";
import { serve } from "../_helpers.ts";
import { Framework, Ii, Ncat, Weechat } from "./_irc_clients.ts";
import { CHROMIUM, CI, fileExists, launchChromium } from "./_browser.ts";

const WAIT = 10_000;

const ready = await fileExists(CHROMIUM) && await fileExists("/usr/bin/ii") &&
  await fileExists("/usr/bin/weechat-headless") && await fileExists("/usr/bin/ncat");
if (!ready && !CI) {
  // deno-lint-ignore no-console
  console.log("SKIP IRC browser test: needs chromium, ii, weechat-headless (with weechat-plugins) and ncat");
}

Deno.test({
  name:
    "IRC done-when: ii, weechat-headless and irc-framework talk both ways with a browser page and ncat in #lobby",
  ignore: !ready && !CI,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using server = serve({ presenceIntervalMs: 20 });
    const { browser, profile } = await launchChromium();
    try {
      const page = await browser.newPage();
      page.setDefaultTimeout(WAIT);
      await page.goto(`http://127.0.0.1:${server.http!.port}/`, { waitUntil: "load" });
      await page.waitForSelector("#name-input");
      await page.type("#name-input", "paige");
      await page.keyboard.press("Enter");
      await page.waitForSelector('.app[data-named="yes"][data-conn="open"] [data-testid="my-name"]');
      const sees = (text: string, from: string) =>
        page.waitForFunction(
          (t: string, f: string) =>
            [...document.querySelectorAll(".timeline .msg")].some((el) =>
              el.querySelector(".msg-text")?.textContent === t && el.getAttribute("data-from") === f
            ),
          {},
          text,
          from,
        );
      const say = async (text: string) => {
        await page.focus("#composer-input");
        await page.keyboard.type(text);
        await page.keyboard.press("Enter");
      };

      await using ncat = Ncat.start(server.tcp!);
      await ncat.type("LOGIN nate");
      await ncat.expect("OK");
      await using lounge = await Framework.connect(server.irc!, "lou");
      await lounge.join("#lobby");
      await using ii = await Ii.start(server.irc!, "iggy");
      await ii.write("", "/j #lobby");
      await using wee = await Weechat.start(server.irc!, "wee");
      await wee.run("irc.server.hub", "*/join #lobby");
      for (const name of ["lou", "iggy", "wee"]) await ncat.expect(`INFO ${name} joined`);
      await page.waitForFunction(
        () =>
          ["lou", "iggy", "wee", "nate"].every((n) =>
            document.querySelector(`#members .member[data-name="${n}"]`)
          ),
      );

      // The page and ncat speak; every IRC client hears both.
      await say("hello from the page");
      await ncat.type("hello from ncat");
      for (const [from, text] of [["paige", "hello from the page"], ["nate", "hello from ncat"]] as const) {
        await lounge.expect((e) => e.type === "privmsg" && e.nick === from && e.message === text);
        await ii.expect("#lobby", new RegExp(`<${from}> ${text}$`));
        await wee.expect("irc.hub.#lobby", new RegExp(`\\t${from}\\t${text}$`));
      }

      // Every IRC client speaks; the page and ncat hear each.
      lounge.client.say("#lobby", "hello from irc-framework");
      await ii.write("#lobby", "hello from ii");
      await wee.run("irc.hub.#lobby", "*hello from weechat");
      for (
        const [from, text] of [["lou", "hello from irc-framework"], ["iggy", "hello from ii"], [
          "wee",
          "hello from weechat",
        ]]
      ) {
        await sees(text!, from!);
        await ncat.expect(`MSG ${from} ${text}`);
      }
      // And they hear each other.
      await lounge.expect((e) => e.type === "privmsg" && e.nick === "iggy" && e.message === "hello from ii");
      await ii.expect("#lobby", /<wee> hello from weechat$/);
      await wee.expect("irc.hub.#lobby", /\tlou\thello from irc-framework$/);
      const members = await page.$$eval(
        "#members .member",
        (els) => els.map((el) => el.getAttribute("data-name")),
      );
      assert.deepEqual(members.sort(), ["iggy", "lou", "nate", "paige", "wee"]);
    } finally {
      await browser.close();
      await Deno.remove(profile, { recursive: true }).catch(() => {});
    }
  },
});
