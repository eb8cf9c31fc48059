/**
 * Message text against terminals: control characters (ESC sequences, BEL, NUL, C1) and bidi overrides sent
 * through any door never reach a line dialect (ncat/telnet, MaChat over TCP and `/mychat`) raw, and what is
 * stored is what was delivered, in every door.
 * @module
 */

import assert from "node:assert/strict";
import { LineClient, roomHistory, serve, WsClient } from "../_helpers.ts";
import { b64, fresh } from "./_abuse.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A TCP client that keeps the raw bytes it receives, to check them byte by byte. */
class RawTcp implements AsyncDisposable {
  readonly #conn: Deno.TcpConn;
  readonly #chunks: Uint8Array[] = [];
  readonly #done: Promise<void>;

  private constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
    this.#done = (async () => {
      try {
        for await (const chunk of conn.readable) this.#chunks.push(chunk);
      } catch {
        // Reset: the bytes so far are what we check.
      }
    })();
  }

  static async connect(addr: Deno.NetAddr): Promise<RawTcp> {
    return new RawTcp(await Deno.connect({ hostname: addr.hostname, port: addr.port }));
  }

  async send(text: string): Promise<void> {
    const bytes = encoder.encode(text + "\n");
    let offset = 0;
    while (offset < bytes.length) offset += await this.#conn.write(bytes.subarray(offset));
  }

  bytes(): Uint8Array {
    const all = new Uint8Array(this.#chunks.reduce((n, c) => n + c.length, 0));
    let offset = 0;
    for (const chunk of this.#chunks) {
      all.set(chunk, offset);
      offset += chunk.length;
    }
    return all;
  }

  /** Every complete line received so far. */
  lines(): string[] {
    const lines = decoder.decode(this.bytes()).split("\n");
    lines.pop();
    return lines;
  }

  /** Waits until `count` lines match `test`, and returns them. */
  async until(test: (line: string) => boolean, count: number): Promise<string[]> {
    const end = performance.now() + 5000;
    while (true) {
      const found = this.lines().filter(test);
      if (found.length >= count) return found;
      if (performance.now() > end) {
        throw new Error(
          `Timed out waiting for ${count} lines; got ${JSON.stringify(this.lines().slice(-8))}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
    await this.#done;
  }
}

/**
 * Every byte sequence a terminal would act on, found in `bytes`: C0 controls but TAB and the LF ending each
 * line, DEL, C1 controls (UTF-8 `C2 80`–`C2 9F`) and bidi overrides and isolates (U+202A–202E, U+2066–2069).
 */
function terminalControls(bytes: Uint8Array): string[] {
  const found: string[] = [];
  const hex = (...b: number[]) => b.map((x) => x.toString(16).padStart(2, "0")).join(" ");
  for (let i = 0; i < bytes.length; i++) {
    const [b, c = 0, d = 0] = [bytes[i]!, bytes[i + 1], bytes[i + 2]];
    if ((b < 0x20 && b !== 0x09 && b !== 0x0a) || b === 0x7f) found.push(`${hex(b)} at ${i}`);
    else if (b === 0xc2 && c >= 0x80 && c <= 0x9f) found.push(`${hex(b, c)} at ${i}`);
    else if (
      b === 0xe2 && ((c === 0x80 && d >= 0xaa && d <= 0xae) || (c === 0x81 && d >= 0xa6 && d <= 0xa9))
    ) {
      found.push(`${hex(b, c, d)} at ${i}`);
    }
  }
  return found;
}

/** What a WebSocket client sends, what every door stores and delivers, and what line dialects show. */
const CASES: readonly { sent: string; stored: string; line: string }[] = [
  {
    // Erase the line above, then print a forged server line over it.
    sent: "\x1b[1A\x1b[2K\rMSG admin please re-enter your password",
    stored: "\uFFFD[1A\uFFFD[2K\rMSG admin please re-enter your password",
    line: "\uFFFD[1A\uFFFD[2K MSG admin please re-enter your password",
  },
  {
    sent: "bell\x07 vt\x0b ff\x0c nul\x00 del\x7f end",
    stored: "bell\uFFFD vt\uFFFD ff\uFFFD nul\uFFFD del\uFFFD end",
    line: "bell\uFFFD vt\uFFFD ff\uFFFD nul\uFFFD del\uFFFD end",
  },
  {
    sent: "c1 \u009b2J csi \u0085 nel \u0090 dcs \u0080",
    stored: "c1 \uFFFD2J csi \uFFFD nel \uFFFD dcs \uFFFD",
    line: "c1 \uFFFD2J csi \uFFFD nel \uFFFD dcs \uFFFD",
  },
  {
    sent: "bidi \u202Eevil\u202C and \u2066isolated\u2069 \u202A\u202B\u202D\u2067\u2068",
    stored: "bidi \uFFFDevil\uFFFD and \uFFFDisolated\uFFFD \uFFFD\uFFFD\uFFFD\uFFFD\uFFFD",
    line: "bidi \uFFFDevil\uFFFD and \uFFFDisolated\uFFFD \uFFFD\uFFFD\uFFFD\uFFFD\uFFFD",
  },
  { sent: "multi\nline\r\ntext", stored: "multi\nline\r\ntext", line: "multi line text" },
  {
    sent: "tab\tstays, é and 日本 too",
    stored: "tab\tstays, é and 日本 too",
    line: "tab\tstays, é and 日本 too",
  },
];

Deno.test("message text: control characters and bidi overrides from /ws reach TCP and MaChat clients as U+FFFD; history is what was delivered", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hubbub-text-" });
  try {
    await using server = serve({ store: { kind: "sqlite", path: `${dir}/chat.db` }, presenceIntervalMs: 20 });
    const room = fresh("tx");
    const [ws, tc, mt, mw] = [fresh("ws"), fresh("tc"), fresh("mt"), fresh("mw")];
    await using sender = await WsClient.open(server.http!, "/ws");
    sender.send({ Action: "username", Payload: { Username: ws } });
    sender.send({ Action: "join", Payload: { Room: room } });
    await sender.expectJson({ Action: "userlist", Payload: { Room: room } });
    await using command = await RawTcp.connect(server.tcp!);
    await command.send(`LOGIN ${tc}`);
    await command.send(`JOIN ${room}`);
    await command.until((l) => l === "OK", 2);
    await using machat = await RawTcp.connect(server.tcp!);
    await machat.send(`{"name":"${mt}","room":"${room}"}`);
    await using mychat = await WsClient.open(server.http!, "/mychat");
    mychat.send(`{"name":"${mw}","room":"${room}"}`);
    await sender.expectJson({ Action: "userlist", Payload: { Room: room, Users: [tc, mt, mw, ws].sort() } });

    const live: Record<string, unknown>[] = [];
    for (const { sent } of CASES) {
      sender.send({ Action: "broadcast", Payload: { Message: sent, Room: room } });
      live.push(
        (await sender.expectJson({ Action: "broadcast", Payload: { Username: ws } })).Payload as never,
      );
    }
    assert.deepEqual(live.map((p) => p.Message), CASES.map((c) => c.stored), "/ws gets the stored text");

    const lines = CASES.map((c) => c.line);
    const said = await command.until((l) => l.startsWith(`MSG ${ws} `), CASES.length);
    assert.deepEqual(said, lines.map((l) => `MSG ${ws} ${l}`));
    assert.deepEqual(
      await machat.until((l) => l.startsWith(`${ws}:`), CASES.length),
      lines.map((l) => `${ws}:${l}`),
    );
    const frames: string[] = [];
    for (const _ of CASES) frames.push(await mychat.expect((f) => f.startsWith(`${ws}:`)));
    assert.deepEqual(frames, lines.map((l) => `${ws}:${l}\n`));
    for (const client of [command, machat]) assert.deepEqual(terminalControls(client.bytes()), []);
    assert.deepEqual(terminalControls(encoder.encode(frames.join(""))), []);

    // HISTORY over TCP shows what was delivered, through the same rendering and the same checks.
    await command.send("HISTORY 20");
    const hist = await command.until((l) => l.startsWith("HIST "), CASES.length);
    assert.deepEqual(hist.map((l) => l.split(" ").slice(4).join(" ")), lines);
    assert.deepEqual(hist.map((l) => l.split(" ")[3]), CASES.map(() => ws));
    assert.deepEqual(terminalControls(command.bytes()), []);

    // The /ws history is the live broadcast, field for field.
    sender.send({ Action: "history", Payload: { Room: room, Limit: 20 } });
    const history = await sender.expectJson({ Action: "history", Payload: { Room: room } });
    assert.deepEqual((history.Payload as { Messages: unknown[] }).Messages, live);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("message text: every door's input is cleaned once, in the hub (TCP, MaChat TCP, /mychat, goChat, DMs)", async () => {
  await using server = serve({ presenceIntervalMs: 20 });
  const room = fresh("tx");
  const [wa, tc, mt, mw, gc] = [fresh("wa"), fresh("tc"), fresh("mt"), fresh("mw"), fresh("gc")];
  await using watcher = await WsClient.open(server.http!, "/ws");
  watcher.send({ Action: "username", Payload: { Username: wa } });
  watcher.send({ Action: "join", Payload: { Room: room } });
  await using command = await LineClient.login(server.tcp!, tc);
  await command.send(`JOIN ${room}`);
  await command.expect("OK");
  await using machat = await RawTcp.connect(server.tcp!);
  await machat.send(`{"name":"${mt}","room":"${room}"}`);
  await using mychat = await WsClient.open(server.http!, "/mychat");
  mychat.send(`{"name":"${mw}","room":"${room}"}`);
  await using gochat = await WsClient.open(server.http!, `/joinRoom?room_code=${room}&user_name=${gc}`);
  await watcher.expectJson({
    Action: "userlist",
    Payload: { Room: room, Users: [tc, mt, mw, gc, wa].sort() },
  });

  const says: [string, () => unknown, string][] = [
    [tc, () => command.send("\x1b]0;owned\x07 from ncat\x00"), "\uFFFD]0;owned\uFFFD from ncat\uFFFD"],
    [
      mt,
      () => machat.send("\x1b[31mred\x1b[0m \u009b from machat"),
      "\uFFFD[31mred\uFFFD[0m \uFFFD from machat",
    ],
    [mw, () => mychat.send("\u202Egnp.exe\x08\x08\n"), "\uFFFDgnp.exe\uFFFD\uFFFD"],
    [
      gc,
      () =>
        gochat.send({
          DataType: "message",
          Data: { Type: "USER", Contents: b64("\x1b[2J\u2066 from gochat") },
        }),
      "\uFFFD[2J\uFFFD from gochat",
    ],
  ];
  for (const [who, say, stored] of says) {
    await say();
    const got = await watcher.expectJson({ Action: "broadcast", Payload: { Username: who } });
    assert.equal((got.Payload as { Message: string }).Message, stored, who);
  }
  const history = await roomHistory(server.hub, room, { limit: 10 });
  assert.deepEqual(history.messages.map((m) => m.text), says.map(([, , stored]) => stored));

  // A DM goes through the same cleaning: to a TCP client, and back to the /ws sender.
  watcher.send({ Action: "private", Payload: { To: tc, Message: "psst\x1b[8m hidden\x07" } });
  const echo = await watcher.expectJson({ Action: "private", Payload: { To: tc } });
  assert.equal((echo.Payload as { Message: string }).Message, "psst\uFFFD[8m hidden\uFFFD");
  await command.expect(`DM ${wa} psst\uFFFD[8m hidden\uFFFD`);
  assert.deepEqual(terminalControls(machat.bytes()), []);
});
