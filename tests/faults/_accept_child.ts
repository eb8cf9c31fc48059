/**
 * A child for the descriptor tests: runs {@linkcode acceptLoop} on a port it prints, then opens files until the
 * process has no descriptors left. `free` on stdin closes 20 of them; `stop` aborts the loop and waits for it.
 * Each connection it serves gets `hello`; each it refuses gets the refusal's reason.
 * @module
 */

import { acceptLoop } from "../../src/net/accept.ts";
import { ConnectionGate } from "../../src/hub/limits.ts";

// Deno sets up its signal handling lazily and panics when that finds no descriptor left; hubbub registers its
// signal listeners at start, and so does this child.
Deno.addSignalListener("SIGTERM", () => Deno.exit(0));

const encoder = new TextEncoder();
const say = (value: unknown) => Deno.stdout.writeSync(encoder.encode(JSON.stringify(value) + "\n"));

const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
const controller = new AbortController();
const { finished: done } = acceptLoop({
  listen: () => listener,
  port: 0,
  gate: new ConnectionGate({ maxConnections: 0, maxPerIp: 0 }),
  door: "test",
  signal: controller.signal,
  serve: async (conn) => {
    await conn.write(encoder.encode("hello\n"));
    conn.close();
  },
  refuse: async (conn, reason) => {
    await conn.write(encoder.encode(reason + "\n")).catch(() => 0);
    conn.close();
  },
});
say({ port: listener.addr.port });
const files: Deno.FsFile[] = [];
try {
  while (true) files.push(Deno.openSync("/dev/null"));
} catch {
  // Out of descriptors, on purpose.
}
say({ full: files.length });
for await (const line of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
  if (line.includes("free")) {
    for (const file of files.splice(0, 20)) file.close();
    say({ freed: true });
  }
  if (line.includes("stop")) {
    controller.abort();
    await done;
    say({ stopped: true });
    break;
  }
}
