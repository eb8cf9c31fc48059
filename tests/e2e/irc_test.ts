/**
 * The IRC door with real IRC clients: the npm `irc-framework` (The Lounge's library), Debian's `ii` and
 * `weechat-headless`, and a bare `ncat` session typed as the README shows, each against an in-process server
 * with clients of the other doors in the same room (TCP command clients, `/ws` clients).
 *
 * `ii` and `weechat-headless` (with `weechat-plugins` for its FIFO) come from Debian (`.ci/run` installs them).
 * Without them a test is skipped with one SKIP line, except under `CI=true`, where a missing client fails.
 */

import assert from "node:assert/strict";
import { Child, LineClient, serve, WsClient } from "../_helpers.ts";
import { Framework, Ii, Ncat, Weechat } from "./_irc_clients.ts";

const CI = Deno.env.get("CI") === "true";

async function installed(command: string): Promise<boolean> {
  try {
    const { success } = await new Deno.Command("sh", {
      args: ["-c", `command -v ${command}`],
      stdout: "null",
    })
      .output();
    return success;
  } catch {
    return false;
  }
}

const fifoPlugin = await Deno.stat("/usr/lib/x86_64-linux-gnu/weechat/plugins/fifo.so").then(
  () => true,
  () => false,
);
const have = {
  ii: await installed("ii"),
  weechat: (await installed("weechat-headless")) && fifoPlugin,
  ncat: await installed("ncat"),
};
for (const [name, present] of Object.entries(have)) {
  if (!present && !CI) {
    // deno-lint-ignore no-console
    console.log(
      `SKIP IRC tests with ${name}: not installed (apt-get install ii weechat-headless weechat-plugins ncat)`,
    );
  }
}

/** A `/ws` client with a name, in `lobby`. */
async function page(addr: Deno.NetAddr, name: string): Promise<WsClient> {
  const ws = await WsClient.open(addr, "/ws");
  ws.send({ Action: "username", Payload: { Username: name } });
  await ws.expectJson({ Action: "userlist" });
  return ws;
}

Deno.test({
  name: "irc-framework: joins #lobby, talks both ways with TCP and /ws, ACTION, a DM both ways, CHATHISTORY",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using server = serve({ presenceIntervalMs: 20 });
    await using tcp = await LineClient.login(server.tcp!, "tom");
    await using ws = await page(server.http!, "wendy");
    await tcp.send("before you came");
    await using lounge = await Framework.connect(server.irc!, "lou");
    const list = await lounge.join("#lobby");
    const nicks = (list as unknown as { users: { nick: string }[] }).users.map((u) => u.nick).sort();
    assert.deepEqual(nicks, ["lou", "tom", "wendy"]);

    lounge.client.say("#lobby", "hello from the lounge");
    await tcp.expect("MSG lou hello from the lounge");
    await ws.expectJson({
      Action: "broadcast",
      Payload: { Message: "hello from the lounge", Username: "lou" },
    });
    await tcp.send("hi lou, from ncat");
    await lounge.expect((e) => e.type === "privmsg" && e.nick === "tom" && e.message === "hi lou, from ncat");
    ws.send({ Action: "broadcast", Payload: { Message: "hi lou, from the page" } });
    await lounge.expect((e) => e.type === "privmsg" && e.nick === "wendy" && e.target === "#lobby");

    lounge.client.action("#lobby", "waves");
    await tcp.expect("MSG lou * lou waves");
    await tcp.send("* tom waves back");
    await lounge.expect((e) => e.type === "action" && e.nick === "tom" && e.message === "waves back");

    lounge.client.say("wendy", "psst wendy");
    await ws.expectJson({
      Action: "private",
      Payload: { Message: "psst wendy", Username: "lou", To: "wendy" },
    });
    await tcp.send("DM lou psst lou");
    await lounge.expect((e) =>
      e.type === "privmsg" && e.nick === "tom" && e.target === "lou" && e.message === "psst lou"
    );

    lounge.client.raw("CHATHISTORY LATEST #lobby * 10");
    const history: FrameworkHistory[] = [];
    for (let i = 0; i < 5; i++) {
      const e = await lounge.expect((e) => e.batch?.type === "chathistory");
      history.push({ nick: e.nick!, text: e.message! });
    }
    assert.deepEqual(
      history,
      [
        { nick: "tom", text: "before you came" },
        { nick: "lou", text: "hello from the lounge" },
        { nick: "tom", text: "hi lou, from ncat" },
        { nick: "wendy", text: "hi lou, from the page" },
        { nick: "lou", text: "waves" },
      ].slice(0, 5),
    );
  },
});

Deno.test({
  name: "irc-framework with accounts: SASL PLAIN signs it in to its account; its DMs are its own",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // A short login deadline: the client refused below waits for it to close.
    const options = { accounts: "on" as const, presenceIntervalMs: 20, loginTimeoutMs: 1500 };
    await using server = serve(options, { scrypt: { ln: 4, r: 1, p: 1 } });
    {
      await using owner = await LineClient.login(server.tcp!, "lou");
      await owner.send("REGISTER lounge-pass");
      await owner.expect("OK");
    }
    await using tcp = await LineClient.login(server.tcp!, "tom");
    await using lounge = await Framework.connect(server.irc!, "lou-away", {
      account: "lou",
      password: "lounge-pass",
    });
    assert.equal(lounge.client.user.nick, "lou", "registered under its account's name");
    await tcp.send("DM lou signed in?");
    await lounge.expect((e) => e.type === "privmsg" && e.nick === "tom" && e.message === "signed in?");
    // A wrong password is no way in.
    await assert.rejects(Framework.connect(server.irc!, "lou", { account: "lou", password: "not-it" }));
  },
});

interface FrameworkHistory {
  readonly nick: string;
  readonly text: string;
}

Deno.test({
  name: "ii: connects, joins #lobby, sends and receives with TCP and /ws clients",
  ignore: !have.ii && !CI,
  async fn() {
    await using server = serve();
    await using tcp = await LineClient.login(server.tcp!, "tom");
    await using ws = await page(server.http!, "wendy");
    await using ii = await Ii.start(server.irc!, "iggy");
    await ii.write("", "/j #lobby");
    await tcp.expect("INFO iggy joined");
    await ii.write("#lobby", "hello from ii");
    await tcp.expect("MSG iggy hello from ii");
    await ws.expectJson({ Action: "broadcast", Payload: { Message: "hello from ii", Username: "iggy" } });
    await tcp.send("hi iggy");
    await ii.expect("#lobby", /<tom> hi iggy$/);
    ws.send({ Action: "broadcast", Payload: { Message: "hi from the page" } });
    await ii.expect("#lobby", /<wendy> hi from the page$/);
    await tcp.send("DM iggy a secret");
    await ii.expect("tom", /<tom> a secret$/);
  },
});

Deno.test({
  name: "weechat-headless: connects, joins #lobby, sends and receives with TCP and /ws clients",
  ignore: !have.weechat && !CI,
  async fn() {
    await using server = serve();
    await using tcp = await LineClient.login(server.tcp!, "tom");
    await using ws = await page(server.http!, "wendy");
    await using wee = await Weechat.start(server.irc!, "wee");
    await wee.run("irc.server.hub", "*/join #lobby");
    await tcp.expect("INFO wee joined");
    await wee.run("irc.hub.#lobby", "*hello from weechat");
    await tcp.expect("MSG wee hello from weechat");
    await ws.expectJson({ Action: "broadcast", Payload: { Message: "hello from weechat", Username: "wee" } });
    await tcp.send("hi wee");
    await wee.expect("irc.hub.#lobby", /\ttom\thi wee$/);
    ws.send({ Action: "broadcast", Payload: { Message: "hi from the page" } });
    await wee.expect("irc.hub.#lobby", /\twendy\thi from the page$/);
    await wee.run("irc.hub.#lobby", "*/me waves");
    await tcp.expect("MSG wee * wee waves");
  },
});

Deno.test({
  name: "IRC with ncat: the README's session, typed line by line against hubbub's own process, works",
  ignore: !have.ncat && !CI,
  async fn() {
    // hubbub as `deno task start` runs it, with the IRC door on a free port (HUBBUB_IRC, see Child).
    await using child = new Child(["run", "-P=server", "main.ts", "--tcp", "127.0.0.1:0", "--http", "off"]);
    const up = await child.record("hubbub is up");
    assert.match(String((up.properties as Record<string, unknown>).irc), /^127\.0\.0\.1:\d+$/);
    await using tcp = await LineClient.login(await child.tcpAddr(), "tom");
    await using ncat = Ncat.start(await child.ircAddr(), ["-C"]);
    const typed = (line: string) => ncat.type(line);
    const output = ncat;
    await typed("NICK alice");
    await typed("USER alice 0 * :Alice");
    await output.expect(/^:hubbub 001 alice /);
    await typed("JOIN #lobby");
    await output.expect(/^:hubbub 366 alice #lobby /);
    await tcp.expect("INFO alice joined");
    await typed("PRIVMSG #lobby :hello from ncat");
    await tcp.expect("MSG alice hello from ncat");
    await tcp.send("hi alice");
    await output.expect(/^:tom!tom@hubbub PRIVMSG #lobby :hi alice$/);
    await typed("PRIVMSG tom :psst");
    await tcp.expect("DM alice psst");
    await typed("QUIT :bye");
    await output.expect(/^ERROR :Closing Link: alice \(Quit: bye\)$/);
    assert.equal((await ncat.finish()).code, 0);
  },
});
