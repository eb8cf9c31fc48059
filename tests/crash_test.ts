/** Crash safety: a server killed with SIGKILL mid-stream loses no message any client saw acknowledged. */

import assert from "node:assert/strict";
import { Child, eventually, WsClient } from "./_helpers.ts";

Deno.test("SqliteStore: SIGKILL during a steady stream: every acknowledged message is in history after restart", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hubbub-crash-" });
  const args = [
    "run",
    "-P=server",
    "main.ts",
    "--tcp",
    "off",
    "--http",
    "127.0.0.1:0",
    "--store",
    `sqlite:${dir}/chat.db`,
    "--log-format",
    "json",
    // A steady stream well over the default rate limit: this test is about durability, not flood control.
    "--rate",
    "0",
  ];
  try {
    const acknowledged = new Map<number, string>();
    {
      await using child = new Child(args);
      const addr = await child.httpAddr();
      const ws = await WsClient.open(addr, "/ws");
      ws.send({ Action: "username", Payload: { Username: "streamer" } });
      ws.socket.addEventListener("message", (event) => {
        const frame = JSON.parse(event.data);
        if (frame.Action === "broadcast") acknowledged.set(frame.Payload.Id, frame.Payload.Message);
      });
      // A steady stream: a message every millisecond or so, never waiting for the echo.
      let n = 0;
      const stream = setInterval(() => {
        if (ws.socket.readyState === WebSocket.OPEN) {
          ws.send({ Action: "broadcast", Payload: { Message: `m${n++}` } });
        }
      }, 1);
      await eventually(() => acknowledged.size >= 300, "300 acknowledged messages", 20_000);
      child.process.kill("SIGKILL");
      const status = await child.status();
      clearInterval(stream);
      assert.equal(status.signal, "SIGKILL");
      await ws.close();
    }
    assert.ok(acknowledged.size >= 300);

    await using child = new Child(args);
    const api = `http://${hostPort(await child.httpAddr())}/api/rooms/lobby/messages?limit=500`;
    // Page backwards through the whole history (the run stays under the retention limit of 1000).
    const stored = new Map<number, string>();
    for (let before = Infinity; before > 1;) {
      const page = await (await fetch(before === Infinity ? api : `${api}&before=${before}`)).json();
      if (page.messages.length === 0) break;
      for (const m of page.messages as { Id: number; Message: string }[]) stored.set(m.Id, m.Message);
      before = Math.min(...stored.keys());
    }
    const lost = [...acknowledged].filter(([id, text]) => stored.get(id) !== text);
    assert.deepEqual(lost, [], `${lost.length} of ${acknowledged.size} acknowledged messages lost`);
    child.process.kill("SIGTERM");
    assert.equal((await child.status()).code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

function hostPort(addr: Deno.NetAddr): string {
  return `${addr.hostname}:${addr.port}`;
}
