/**
 * The smoke test every build of hubbub must pass, whatever runs it (`deno run` or the compiled binary):
 * start, `/healthz` 200, the page served, one WebSocket client and one real `ncat` chat, `/metrics` shows
 * them, SIGTERM exits 0.
 * @module
 */

import assert from "node:assert/strict";
import { childEnv, eventually, WsClient } from "./_helpers.ts";

/** Arguments that make any hubbub listen on loopback port 0 with JSON logs and no files. */
export const SMOKE_ARGS = [
  "--tcp",
  "127.0.0.1:0",
  "--http",
  "127.0.0.1:0",
  "--irc",
  "127.0.0.1:0",
  "--store",
  "memory",
  "--log-format",
  "json",
];

/** Runs the smoke test against `command` (an executable and its leading arguments). */
export async function smoke(command: string, args: string[], options: { cwd?: string } = {}): Promise<void> {
  const child = new Deno.Command(command, {
    args: [...args, ...SMOKE_ARGS],
    cwd: options.cwd ?? Deno.cwd(),
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    clearEnv: true,
    env: childEnv(),
  }).spawn();
  let log = "";
  const reading = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of child.stderr) log += decoder.decode(chunk, { stream: true });
  })();
  try {
    let up: Record<string, string> | undefined;
    await eventually(
      () => {
        const line = log.split("\n").find((l) => l.includes('"hubbub is up"'));
        up = line ? JSON.parse(line).properties : undefined;
        return up !== undefined;
      },
      "the startup log line",
      30_000,
    );
    const base = `http://${up!.http}`;
    const [hostname, port] = [up!.http!.split(":")[0]!, Number(up!.http!.split(":")[1])];
    const tcpPort = up!.tcp!.split(":")[1]!;
    assert.match(up!.ncat!, /^ncat \S+ \d+$/, "the startup log tells people the ncat command");

    const health = await fetch(`${base}/healthz`);
    assert.equal(health.status, 200);
    await health.body?.cancel();
    const page = await fetch(`${base}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-type") ?? "", /^text\/html/);
    assert.match(await page.text(), /<html/i);

    await using ws = await WsClient.open({ transport: "tcp", hostname, port }, "/ws");
    ws.send({ Action: "username", Payload: { Username: "webby" } });
    await ws.expectJson({ Action: "userlist" });
    const ncat = new Deno.Command("ncat", {
      args: ["127.0.0.1", tcpPort],
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const writer = ncat.stdin.getWriter();
    let ncatOut = "";
    const ncatReading = (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of ncat.stdout) ncatOut += decoder.decode(chunk, { stream: true });
    })();
    await writer.write(new TextEncoder().encode("LOGIN catty\nhello from ncat\n"));
    await ws.expectJson({ Action: "broadcast", Payload: { Message: "hello from ncat", Username: "catty" } });
    ws.send({ Action: "broadcast", Payload: { Message: "hello from the web" } });
    await eventually(() => ncatOut.includes("MSG webby hello from the web"), "ncat sees the web message");

    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /^hubbub_connections\{dialect="gobanter"\} 1$/m);
    assert.match(metrics, /^hubbub_connections\{dialect="tcp"\} 1$/m);
    assert.match(metrics, /^hubbub_messages_in_total\{kind="room"\} 2$/m);

    child.kill("SIGTERM");
    const status = await child.status;
    assert.equal(status.code, 0, `exit code; log:\n${log}`);
    await writer.close().catch(() => {});
    await ncat.status;
    await ncatReading;
    assert.match(ncatOut, /INFO server shutting down/);
  } finally {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already exited.
    }
    await child.status;
    await reading;
  }
}
