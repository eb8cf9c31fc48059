/// <reference lib="dom" />
/**
 * The page in a real browser (Debian's Chromium driven by puppeteer-core), against an in-process server
 * with a TCP client in the same room: chat both ways, DMs, reload, server restart, hostile text, and
 * screenshots (desktop and phone, light and dark) under `test-output/screenshots/`.
 *
 * A second test fills a room with 200 members (199 over plain WebSockets) and checks the page shows the count and
 * pages names in as its member list scrolls.
 *
 * Chromium is looked up at `HUBBUB_CHROMIUM` or `/usr/bin/chromium`. Without it the test is skipped with
 * one SKIP line, except under `CI=true`, where a missing browser is a failure.
 * Set `HUBBUB_DOCS_SCREENSHOTS=1` to also refresh the committed copies in `docs/screenshots/`.
 */

import assert from "node:assert/strict";
import type { Browser, BrowserContext, Page } from "puppeteer-core";
import { LineClient, ROOT, serve, WsClient } from "../_helpers.ts";
import { MemoryStore } from "../../src/store/memory.ts";
import { CHROMIUM, CI, fileExists, launchChromium } from "./_browser.ts";

const SHOTS = `${ROOT}test-output/screenshots/`;
const DOCS_SHOTS = `${ROOT}docs/screenshots/`;
/** How long a step waits for the page (ms). */
const WAIT = 10_000;

const present = await fileExists(CHROMIUM);
if (!present && !CI) {
  // deno-lint-ignore no-console
  console.log(
    `SKIP browser tests: no Chromium at ${CHROMIUM} (install Debian's chromium or set HUBBUB_CHROMIUM)`,
  );
}

/** One person in a browser: own context (own localStorage), one tab. */
class Person {
  readonly dialogs: string[] = [];
  readonly problems: string[] = [];
  /** Every URL the page requested. */
  readonly requests: string[] = [];

  private constructor(readonly name: string, readonly context: BrowserContext, readonly page: Page) {
    page.setDefaultTimeout(WAIT);
    page.on("dialog", (dialog) => {
      this.dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    page.on("pageerror", (error) => this.problems.push(`page error: ${String(error)}`));
    page.on("request", (request) => void this.requests.push(request.url()));
    page.on("console", (message) => {
      const text = message.text();
      if (/Content.Security.Policy|Refused to/i.test(text)) this.problems.push(`console: ${text}`);
    });
  }

  static async open(browser: Browser, name: string, url: string): Promise<Person> {
    const context = await browser.createBrowserContext();
    const page = await context.newPage();
    await page.setViewport({ width: 1280, height: 800 });
    const person = new Person(name, context, page);
    const response = await page.goto(url, { waitUntil: "load" });
    const csp = response?.headers()["content-security-policy"] ?? "";
    assert.match(csp, /script-src 'self'/);
    return person;
  }

  async login(): Promise<void> {
    await this.page.waitForSelector("#name-input");
    await this.page.type("#name-input", this.name);
    await this.page.keyboard.press("Enter");
    await this.page.waitForSelector('.app[data-named="yes"][data-conn="open"] [data-testid="my-name"]');
    assert.equal(await this.text('[data-testid="my-name"]'), this.name);
  }

  async text(selector: string): Promise<string> {
    return await this.page.$eval(selector, (el) => el.textContent ?? "");
  }

  /** Types a message in the composer and presses Enter, as a person would. */
  async say(text: string): Promise<void> {
    await this.page.focus("#composer-input");
    await this.page.keyboard.type(text);
    await this.page.keyboard.press("Enter");
  }

  /** Texts of the messages on screen, with their senders. */
  messages(): Promise<{ from: string; text: string }[]> {
    return this.page.$$eval(".timeline .msg", (els) =>
      els.map((el) => ({
        from: el.getAttribute("data-from") ?? "",
        text: el.querySelector(".msg-text")?.textContent ?? "",
      })));
  }

  /** Waits until a message with exactly this text (and sender) is on screen. */
  async sees(text: string, from?: string): Promise<void> {
    await this.page.waitForFunction(
      (t: string, f: string | null) =>
        [...document.querySelectorAll(".timeline .msg")].some((el) =>
          el.querySelector(".msg-text")?.textContent === t &&
          (f === null || el.getAttribute("data-from") === f)
        ),
      {},
      text,
      from ?? null,
    );
  }

  /** Names in the member list, in the order shown. */
  memberNames(): Promise<string[]> {
    return this.page.$$eval("#members .member", (els) => els.map((el) => el.getAttribute("data-name") ?? ""));
  }

  async openConversation(name: string): Promise<void> {
    const key = await this.page.$$eval(
      ".conv",
      (els, n) =>
        els.find((el) => el.querySelector(".conv-name")?.textContent === n)?.getAttribute("data-key"),
      name,
    );
    assert.ok(key, `no conversation '${name}' in the sidebar`);
    await this.page.click(`.conv[data-key="${key}"]`);
    await this.page.waitForFunction(
      (n: string) => document.querySelector("#conv-title")?.textContent === n,
      {},
      name,
    );
  }

  async screenshot(
    file: string,
    scheme: "light" | "dark",
    viewport: { width: number; height: number; deviceScaleFactor?: number },
  ) {
    await this.page.setViewport(viewport);
    await this.page.emulateMediaFeatures([{ name: "prefers-color-scheme", value: scheme }]);
    await this.page.evaluate(() =>
      new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 150)))
    );
    await this.page.screenshot({ path: `${SHOTS}${file}` });
    if (Deno.env.get("HUBBUB_DOCS_SCREENSHOTS") === "1") {
      await Deno.mkdir(DOCS_SHOTS, { recursive: true });
      await Deno.copyFile(`${SHOTS}${file}`, `${DOCS_SHOTS}${file}`);
    }
  }
}

Deno.test({
  name:
    "browser: two pages and a TCP client chat, DM, reload, survive a restart, render hostile text as text",
  ignore: !present && !CI,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    if (!present) throw new Error(`CI=true but no Chromium at ${CHROMIUM}: .ci/run must install it`);
    await Deno.mkdir(SHOTS, { recursive: true });
    // One store for both server lives: a restart keeps history and ids, as the SQLite store does.
    const store = new MemoryStore();
    let server = serve({ presenceIntervalMs: 20 }, { store });
    const url = `http://127.0.0.1:${server.http!.port}/`;
    const { browser, profile } = await launchChromium();
    const tcpClients: LineClient[] = [];
    try {
      const alice = await Person.open(browser, "alice", url);
      const bob = await Person.open(browser, "bob", url);
      await alice.login();
      await bob.login();
      // Keyboard first: the message field has focus once the name is accepted.
      await alice.page.waitForFunction(() => document.activeElement?.id === "composer-input");
      const carol = await LineClient.login(server.tcp!, "carol");
      tcpClients.push(carol);
      await alice.page.waitForSelector('.member[data-name="carol"]');

      await t.step("a message typed in a page reaches the other page and the TCP client", async () => {
        await alice.say("Morning! Deploy window is at 10:00 — anyone around?");
        await bob.sees("Morning! Deploy window is at 10:00 — anyone around?", "alice");
        await carol.expect("MSG alice Morning! Deploy window is at 10:00 — anyone around?");
        await alice.sees("Morning! Deploy window is at 10:00 — anyone around?", "alice");
        // Own messages are marked as such.
        assert.equal(await alice.page.$$eval(".msg.own", (els) => els.length), 1);
        assert.equal(await bob.page.$$eval(".msg.own", (els) => els.length), 0);
      });

      await t.step("a TCP message appears in both pages", async () => {
        await carol.send("here — terminal and all. checks are green on staging");
        await alice.sees("here — terminal and all. checks are green on staging", "carol");
        await bob.sees("here — terminal and all. checks are green on staging", "carol");
      });

      await t.step("typing shows in the other page", async () => {
        await bob.page.focus("#composer-input");
        await bob.page.keyboard.type("same here, release notes: https://example.com/notes/1.4");
        await alice.page.waitForFunction(() =>
          document.querySelector('[data-testid="typing"]')?.textContent === "bob is typing…"
        );
        await bob.page.keyboard.press("Enter");
        await alice.sees("same here, release notes: https://example.com/notes/1.4", "bob");
        const link = await alice.page.$eval(".timeline .msg:last-child .msg-text a", (a) => ({
          href: a.getAttribute("href"),
          rel: a.getAttribute("rel") ?? "",
        }));
        assert.equal(link.href, "https://example.com/notes/1.4");
        assert.match(link.rel, /noopener/);
        assert.match(link.rel, /noreferrer/);
      });

      await t.step("rooms: create and join by name, unread counts, leave", async () => {
        for (const person of [alice, bob]) {
          await person.page.focus("#join-input");
          await person.page.keyboard.type("#release");
          await person.page.keyboard.press("Enter");
          await person.page.waitForFunction(() =>
            document.querySelector("#conv-title")?.textContent === "#release"
          );
        }
        await alice.page.waitForSelector('.member[data-name="bob"]');
        await alice.openConversation("lobby");
        await bob.say("1.4 notes are drafted, have a look before 10");
        await alice.page.waitForFunction(() =>
          [...document.querySelectorAll('[data-testid="rooms"] .conv')].some((el) =>
            el.querySelector(".conv-name")?.textContent === "#release" &&
            el.querySelector(".badge")?.textContent?.startsWith("1")
          )
        );
        await bob.page.click('.conv-close[aria-label="Leave #release"]');
        await bob.page.waitForFunction(() => document.querySelector("#conv-title")?.textContent === "lobby");
        await bob.say("notes for 1.4 are up in #release, have a look");
        await alice.sees("notes for 1.4 are up in #release, have a look", "bob");
        await carol.expect("MSG bob notes for 1.4 are up in #release, have a look");
        assert.ok(
          !carol.lines.some((l) => l.includes("notes are drafted")),
          "a #release message reached the lobby",
        );
      });

      await t.step("screenshots: desktop and phone, light and dark", async () => {
        await alice.say("Great, I'll start the rollout. Ping me here if anything looks off.");
        await bob.sees("Great, I'll start the rollout. Ping me here if anything looks off.");
        await alice.screenshot("desktop-light.png", "light", { width: 1280, height: 800 });
        await alice.screenshot("desktop-dark.png", "dark", { width: 1280, height: 800 });
        await bob.screenshot("phone-light.png", "light", { width: 390, height: 844, deviceScaleFactor: 2 });
        await bob.screenshot("phone-dark.png", "dark", { width: 390, height: 844, deviceScaleFactor: 2 });
        for (const person of [alice, bob]) {
          await person.page.setViewport({ width: 1280, height: 800 });
          await person.page.emulateMediaFeatures([{ name: "prefers-color-scheme", value: "light" }]);
        }
      });

      await t.step("a DM reaches only its target", async () => {
        await alice.page.click('.member[data-name="bob"]');
        await alice.page.waitForFunction(() => document.querySelector("#conv-title")?.textContent === "bob");
        // The composer has focus after picking a member: keyboard only from here.
        await alice.page.waitForFunction(() => document.activeElement?.id === "composer-input");
        await alice.page.keyboard.type("psst, bob: lunch after the deploy?");
        await alice.page.keyboard.press("Enter");
        await alice.sees("psst, bob: lunch after the deploy?", "alice");
        // Bob gets an unread DM conversation, and the text only there.
        await bob.page.waitForFunction(() =>
          document.querySelector('[data-testid="dms"] .badge')?.textContent?.startsWith("1")
        );
        assert.ok(
          !(await bob.messages()).some((m) => m.text.includes("psst")),
          "the DM leaked into the room",
        );
        await bob.openConversation("alice");
        await bob.sees("psst, bob: lunch after the deploy?", "alice");
        // A DM to the TCP client arrives in its dialect; bob never sees it.
        await alice.openConversation("lobby");
        await alice.page.waitForSelector('.member[data-name="carol"]');
        await alice.page.click('.member[data-name="carol"]');
        await alice.page.waitForFunction(() =>
          document.querySelector("#conv-title")?.textContent === "carol"
        );
        await alice.say("carol, can you watch the error rate?");
        await carol.expect("DM alice carol, can you watch the error rate?");
        await bob.openConversation("lobby");
        await alice.openConversation("lobby");
        await alice.say("rolling out now");
        await carol.expect("MSG alice rolling out now");
        await bob.sees("rolling out now");
        assert.ok(!carol.lines.some((l) => l.includes("psst")), "the DM to bob reached the TCP client");
        assert.ok(!(await bob.messages()).some((m) => m.text.includes("error rate")), "bob saw carol's DM");
      });

      await t.step("hostile text is shown as text and runs nothing", async () => {
        const hostile = "<img src=x onerror=alert(1)>";
        await alice.say(hostile);
        await bob.sees(hostile, "alice");
        await alice.sees(hostile, "alice");
        await carol.expect(`MSG alice ${hostile}`);
        await carol.send("<script>alert(2)</script> javascript:alert(3)");
        await bob.sees("<script>alert(2)</script> javascript:alert(3)", "carol");
        await new Promise((resolve) => setTimeout(resolve, 300));
        for (const person of [alice, bob]) {
          assert.equal(await person.page.$$eval(".timeline img, .timeline script", (els) => els.length), 0);
          assert.equal(
            await person.page.$$eval(
              ".timeline a",
              (els) => els.filter((a) => !/^https?:/.test(a.getAttribute("href") ?? "")).length,
            ),
            0,
          );
          assert.deepEqual(person.dialogs, [], `${person.name} saw a dialog`);
        }
      });

      await t.step("reload keeps the name (and history fills the room again)", async () => {
        await bob.page.reload({ waitUntil: "load" });
        await bob.page.waitForSelector('.app[data-named="yes"][data-conn="open"]');
        assert.equal(await bob.page.$("#name-input"), null, "the name form came back after a reload");
        assert.equal(await bob.text('[data-testid="my-name"]'), "bob");
        await bob.sees("Morning! Deploy window is at 10:00 — anyone around?", "alice");
        await bob.say("back after a reload");
        await alice.sees("back after a reload", "bob");
        await carol.expect("MSG bob back after a reload");
      });

      await t.step("a server restart shows 'reconnecting', then recovers and fills the gap", async () => {
        const port = server.http!.port;
        await server.shutdown();
        await carol.closedByServer();
        for (const person of [alice, bob]) {
          await person.page.waitForFunction(() =>
            /Reconnecting/.test(document.querySelector('[data-testid="connection"]')?.textContent ?? "") &&
            /Reconnecting/.test(document.querySelector('[data-testid="banner"]')?.textContent ?? "")
          );
        }
        // Written while no page is connected (as another node would): only history can bring it.
        await store.append({
          room: "lobby",
          time: Date.now(),
          from: "dave",
          text: "said while the pages were away",
          conn: "c_elsewhere",
        });
        server = serve({ http: { hostname: "127.0.0.1", port }, presenceIntervalMs: 20 }, { store });
        const dave = await LineClient.login(server.tcp!, "dave");
        tcpClients.push(dave);
        for (const person of [alice, bob]) {
          await person.page.waitForSelector('.app[data-named="yes"][data-conn="open"]', { timeout: 20_000 });
          await person.sees("said while the pages were away", "dave");
          assert.equal(await person.text('[data-testid="my-name"]'), person.name);
          assert.equal(await person.page.$('[data-testid="banner"]'), null);
        }
        await dave.send("dave here, live");
        await alice.sees("dave here, live", "dave");
        await bob.sees("dave here, live", "dave");
        await alice.say("and we're back");
        await bob.sees("and we're back", "alice");
        await dave.expect("MSG alice and we're back");
        // Exactly once: the gap was filled by id, not replayed on top of what was there.
        for (const person of [alice, bob]) {
          const texts = (await person.messages()).map((m) => m.text);
          assert.equal(texts.filter((x) => x === "said while the pages were away").length, 1);
          assert.equal(texts.filter((x) => x === "rolling out now").length, 1);
        }
      });

      for (const person of [alice, bob]) {
        assert.deepEqual(person.problems, [], `${person.name}: CSP or page errors`);
        // The page loads nothing from outside hubbub: no CDN, no web font.
        const outside = person.requests.filter((u) => !u.startsWith(url) && !u.startsWith("data:"));
        assert.deepEqual(outside, [], `${person.name} requested something outside hubbub`);
        assert.ok(person.requests.some((u) => u.includes("/app.") && u.endsWith(".js")));
      }

      await t.step(
        "the Content-Security-Policy is enforced: injected inline script does not run",
        async () => {
          const ran = await alice.page.evaluate(() => {
            const script = document.createElement("script");
            script.textContent = "document.body.dataset.injected = 'yes'";
            document.head.append(script);
            return document.body.dataset.injected ?? "no";
          });
          assert.equal(ran, "no");
        },
      );
    } finally {
      for (const client of tcpClients) await client.close();
      await browser.close();
      await server.shutdown();
      await Deno.remove(profile, { recursive: true }).catch(() => {});
    }
  },
});

/** First names for a crowd: mixed case and two that sort after every ASCII name (`É`, `Ø`). */
const FIRST = [
  "amara",
  "Bruno",
  "chen",
  "Dana",
  "emil",
  "Farah",
  "gus",
  "Hana",
  "ivo",
  "June",
  "kofi",
  "Lena",
  "mio",
  "Nadia",
  "omar",
  "Pia",
  "quinn",
  "Rosa",
  "sven",
  "Tariq",
  "uma",
  "Vera",
  "wes",
  "Xenia",
  "yara",
  "Zoë",
  "Émile",
  "Øyvind",
];

/** Connects people over `/ws` (documented shape), a few at a time, each once its name is confirmed. */
async function crowdJoins(addr: Deno.NetAddr, names: readonly string[], into: WsClient[]): Promise<void> {
  const AT_ONCE = 25;
  for (let i = 0; i < names.length; i += AT_ONCE) {
    await Promise.all(
      names.slice(i, i + AT_ONCE).map(async (name) => {
        const client = await WsClient.open(addr, "/ws");
        into.push(client);
        client.send({ Action: "username", Payload: { Username: name } });
        await client.expectJson({ Action: "username", Payload: { Username: name } });
      }),
    );
  }
}

/** How many people a join notice line stands for ("bob joined", "bob and carol joined", "37 people joined"). */
function joinedCount(line: string): number {
  const summary = /^([\d,]+) (?:people|person) joined$/.exec(line);
  if (summary) return Number(summary[1]!.replaceAll(",", ""));
  const names = /^(.+) joined$/.exec(line);
  if (!names) return 0;
  return names[1]!.split(/, | and /).length;
}

Deno.test({
  name: "browser: a 200-member room shows its count, pages names in as the member list scrolls",
  ignore: !present && !CI,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    if (!present) throw new Error(`CI=true but no Chromium at ${CHROMIUM}: .ci/run must install it`);
    await Deno.mkdir(SHOTS, { recursive: true });
    // A small list limit, so that 200 members are four pages.
    const server = serve({ listLimit: 50, tcp: null });
    const url = `http://127.0.0.1:${server.http!.port}/`;
    const { browser, profile } = await launchChromium();
    const crowd: WsClient[] = [];
    try {
      const others = Array.from(
        { length: 199 },
        (_, i) => `${FIRST[i % FIRST.length]}-${Math.floor(i / FIRST.length)}`,
      );
      const everyone = [...others, "zed"].sort();
      // Half the room is there before the page; the other half arrives while it watches.
      await crowdJoins(server.http!, others.slice(0, 100), crowd);
      // The presence tick after their joins (summary, then the list of 100) is over before the page comes.
      await crowd[0]!.expectJson({ Action: "userlist", Payload: { Total: 100 } });
      const zed = await Person.open(browser, "zed", url);
      const cdp = await zed.page.createCDPSession();
      const sent: string[] = [];
      cdp.on("Network.webSocketFrameSent", (event) => void sent.push(event.response.payloadData));
      await cdp.send("Network.enable");
      await zed.login();
      await crowdJoins(server.http!, others.slice(100), crowd);

      // The count is the room's, not the names loaded.
      await zed.page.waitForFunction(() =>
        document.querySelector('[data-testid="member-count"]')?.textContent === "200"
      );
      assert.equal(await zed.text(".subtitle"), "200 members");
      const first = await zed.memberNames();
      assert.ok(first.length < 200, `${first.length} names before scrolling: the whole list was sent`);
      assert.deepEqual(first.slice(0, 50), everyone.slice(0, 50));
      assert.ok(!first.includes(everyone.at(-1)!), "the last name showed before scrolling");
      assert.ok(await zed.page.$('[data-testid="more-members"]'), "no sign of more members");

      // 99 joins while the page watched: each announced once, mostly in summaries rather than 99 lines.
      await zed.page.waitForFunction(() =>
        [...document.querySelectorAll(".timeline .note > span:first-child")].some((el) =>
          /^\d+ people joined$/.test(el.textContent ?? "")
        )
      );
      const notes = await zed.page.$$eval(
        ".timeline .note > span:first-child",
        (els) => els.map((el) => el.textContent ?? ""),
      );
      const joinLines = notes.filter((n) => n.endsWith(" joined"));
      assert.equal(joinLines.reduce((sum, line) => sum + joinedCount(line), 0), 99, joinLines.join(" | "));
      assert.ok(joinLines.length < 60, `${joinLines.length} join lines for 99 joins`);

      // Scroll the member list as a person would, until it holds everyone.
      const box = (await (await zed.page.$("#members"))!.boundingBox())!;
      await zed.page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
      const deadline = Date.now() + WAIT;
      while ((await zed.memberNames()).length < 200) {
        assert.ok(Date.now() < deadline, `only ${(await zed.memberNames()).length} names after scrolling`);
        await zed.page.mouse.wheel({ deltaY: 4000 });
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const names = await zed.memberNames();
      // The right people, in the server's order, each once.
      assert.deepEqual(names, everyone);
      for (
        const name of ["amara-0", "Øyvind-6", "Émile-0", "Zoë-3", "zed", everyone.at(-1)!, everyone[120]!]
      ) {
        assert.ok(await zed.page.$(`.member[data-name="${name}"]`), `${name} is not in the member list`);
      }
      assert.equal(everyone.at(-1), "Øyvind-6");
      assert.equal(await zed.page.$('[data-testid="more-members"]'), null);
      assert.equal(await zed.text('[data-testid="member-count"]'), "200");
      await zed.page.screenshot({ path: `${SHOTS}big-room.png` });

      // Pages were asked for as the list scrolled, never the whole room at once.
      const pages = sent.map((f) => JSON.parse(f)).filter((f) =>
        f.Action === "userlist" && f.Payload.Offset > 0
      );
      assert.ok(pages.length >= 3 && pages.length <= 10, `${pages.length} page requests`);
      for (const page of pages) assert.ok(page.Payload.Limit <= 200, JSON.stringify(page));
      assert.deepEqual(zed.problems, []);
    } finally {
      for (let i = 0; i < crowd.length; i += 50) {
        await Promise.all(crowd.slice(i, i + 50).map((c) => c.close()));
      }
      await browser.close();
      await server.shutdown();
      await Deno.remove(profile, { recursive: true }).catch(() => {});
    }
  },
});
