/**
 * Real IRC clients for the end-to-end tests of the IRC door: the npm `irc-framework` (the library behind The
 * Lounge), Debian's `ii` (file-based: a FIFO `in`, an `out` file per channel) and `weechat-headless` (driven
 * through its FIFO, read through its logger). Each waits for what a test expects and fails with what it saw.
 * @module
 */

import IRC from "irc-framework";
import { delay } from "../_helpers.ts";

export { Ncat } from "../_ncat.ts";

/** How long a client waits for an expected line or event. */
const WAIT_MS = 10_000;

/** Waits until `check` returns something, or fails with `what` and the last things seen. */
async function until<T>(
  check: () => T | undefined,
  what: string,
  seen: () => unknown,
  ms = WAIT_MS,
): Promise<T> {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    const value = check();
    if (value !== undefined) return value;
    await delay(20);
  }
  throw new Error(`Timed out waiting for ${what}; saw ${JSON.stringify(seen()).slice(-1500)}`);
}

/** One event an irc-framework client reported. */
export interface FrameworkEvent {
  readonly type: string;
  readonly nick?: string;
  readonly target?: string;
  readonly message?: string;
  readonly channel?: string;
  readonly batch?: { readonly type: string };
}

/** An irc-framework client: what it heard, and the calls a program built on it makes. */
export class Framework implements AsyncDisposable {
  readonly client: InstanceType<typeof IRC.Client>;
  readonly events: FrameworkEvent[] = [];
  #seen = 0;

  private constructor(client: InstanceType<typeof IRC.Client>) {
    this.client = client;
    for (const type of ["privmsg", "action", "notice", "join", "part", "quit", "userlist"]) {
      client.on(
        type,
        (event: Record<string, unknown>) => this.events.push({ ...event, type } as FrameworkEvent),
      );
    }
  }

  /**
   * Connects, registers as `nick` (with `echo-message` and `draft/chathistory` asked for) and waits for it;
   * with `account`, it signs in with SASL PLAIN first, as The Lounge does when given a password.
   */
  static async connect(
    addr: Deno.NetAddr,
    nick: string,
    account?: { readonly account: string; readonly password: string },
  ): Promise<Framework> {
    const client = new IRC.Client();
    client.requestCap("draft/chathistory");
    const framework = new Framework(client);
    const registered = new Promise<void>((resolve, reject) => {
      client.once("registered", () => resolve());
      client.once("close", () => reject(new Error(`${nick} was closed before registering`)));
    });
    client.connect({
      host: addr.hostname,
      port: addr.port,
      nick,
      username: nick,
      gecos: `${nick} on irc-framework`,
      auto_reconnect: false,
      enable_echomessage: false,
      ping_interval: 0,
      ...(account ? { account } : {}),
    });
    await registered;
    return framework;
  }

  /** Joins a channel and waits for its own JOIN and the member list. */
  async join(channel: string): Promise<FrameworkEvent> {
    this.client.join(channel);
    await this.expect((e) => e.type === "join" && e.nick === this.client.user.nick && e.channel === channel);
    return await this.expect((e) => e.type === "userlist" && e.channel === channel);
  }

  /** Waits for the next event (after those consumed) that `test` accepts. */
  expect(test: (event: FrameworkEvent) => boolean, ms = WAIT_MS): Promise<FrameworkEvent> {
    return until(
      () => {
        while (this.#seen < this.events.length) {
          const event = this.events[this.#seen++]!;
          if (test(event)) return event;
        }
        return undefined;
      },
      "an irc-framework event",
      () => this.events.slice(-8),
      ms,
    );
  }

  /** Quits and waits for the connection to close. */
  async quit(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.client.once("close", () => resolve()));
    this.client.quit("bye");
    await Promise.race([closed, delay(3000)]);
    this.client.connection?.end?.();
  }

  /** `await using` support. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.quit();
  }
}

/** `ii`: a directory tree with a FIFO `in` and a file `out` per server and channel. */
export class Ii implements AsyncDisposable {
  readonly dir: string;
  readonly host: string;
  readonly process: Deno.ChildProcess;

  private constructor(dir: string, host: string, process: Deno.ChildProcess) {
    this.dir = dir;
    this.host = host;
    this.process = process;
  }

  /** Starts `ii` as `nick` against `addr` in a fresh directory, and waits for the welcome. */
  static async start(addr: Deno.NetAddr, nick: string): Promise<Ii> {
    const dir = await Deno.makeTempDir({ prefix: "hubbub-ii-" });
    const process = new Deno.Command("ii", {
      args: ["-s", addr.hostname, "-p", String(addr.port), "-n", nick, "-i", dir, "-f", nick],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const ii = new Ii(dir, addr.hostname, process);
    await ii.expect("", /Welcome to hubbub/);
    return ii;
  }

  /** Writes one line to the server's `in` (`/j #lobby`) or a channel's (`hello`). */
  async write(channel: string, text: string): Promise<void> {
    const path = `${this.dir}/${this.host}/${channel === "" ? "" : channel + "/"}in`;
    await until(() => exists(path) ? true : undefined, `${path}`, () => path);
    const fifo = await Deno.open(path, { write: true });
    try {
      await fifo.write(new TextEncoder().encode(text + "\n"));
    } finally {
      fifo.close();
    }
  }

  /** The lines of the server's or a channel's `out` so far. */
  lines(channel: string): string[] {
    try {
      return Deno.readTextFileSync(`${this.dir}/${this.host}/${channel === "" ? "" : channel + "/"}out`)
        .split("\n");
    } catch {
      return [];
    }
  }

  /** Waits for a line of `out` matching `want`. */
  expect(channel: string, want: RegExp, ms = WAIT_MS): Promise<string> {
    return until(
      () => this.lines(channel).find((l) => want.test(l)),
      `ii: ${want}`,
      () => this.lines(channel),
      ms,
    );
  }

  /** Stops ii and removes its directory. */
  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.process.kill("SIGTERM");
    } catch {
      // Gone already.
    }
    await this.process.status;
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** `weechat-headless` in a temporary `--dir`: commands through its FIFO, what it shows through its logger. */
export class Weechat implements AsyncDisposable {
  readonly dir: string;
  readonly process: Deno.ChildProcess;

  private constructor(dir: string, process: Deno.ChildProcess) {
    this.dir = dir;
    this.process = process;
  }

  /** Starts WeeChat, adds the server as `hub`, connects as `nick` and waits for the welcome. */
  static async start(addr: Deno.NetAddr, nick: string): Promise<Weechat> {
    const dir = await Deno.makeTempDir({ prefix: "hubbub-weechat-" });
    const commands = [
      "/set logger.file.flush_delay 0",
      "/set logger.file.time_format %s",
      `/set fifo.file.path ${dir}/fifo`,
      "/set fifo.file.enabled on",
      `/server add hub ${addr.hostname}/${addr.port} -notls -nicks=${nick} -username=${nick} -realname=${nick}`,
      "/set irc.server.hub.autojoin ''",
      "/connect hub",
    ].join(";");
    const process = new Deno.Command("weechat-headless", {
      args: ["--dir", dir, "--run-command", commands],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const weechat = new Weechat(dir, process);
    await weechat.expect("irc.server.hub", /Welcome to hubbub/);
    return weechat;
  }

  /** Runs a command (`/join #lobby`) or says text in a buffer (`irc.hub.#lobby`, `*hello`), through the FIFO. */
  async run(buffer: string, text: string): Promise<void> {
    const fifo = await Deno.open(`${this.dir}/fifo`, { write: true });
    try {
      await fifo.write(new TextEncoder().encode(`${buffer} ${text}\n`));
    } finally {
      fifo.close();
    }
  }

  /** The lines WeeChat logged for a buffer (`irc.hub.#lobby`, `irc.server.hub`). */
  lines(buffer: string): string[] {
    try {
      return Deno.readTextFileSync(`${this.dir}/logs/${buffer}.weechatlog`).split("\n");
    } catch {
      return [];
    }
  }

  /** Waits for a logged line of `buffer` matching `want`. */
  expect(buffer: string, want: RegExp, ms = WAIT_MS): Promise<string> {
    return until(
      () => this.lines(buffer).find((l) => want.test(l)),
      `weechat: ${want}`,
      () => this.lines(buffer),
      ms,
    );
  }

  /** Quits WeeChat and removes its directory. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.run("core.weechat", "*/quit").catch(() => {});
    const timer = setTimeout(() => {
      try {
        this.process.kill("SIGKILL");
      } catch {
        // Gone already.
      }
    }, 3000);
    await this.process.status;
    clearTimeout(timer);
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}
