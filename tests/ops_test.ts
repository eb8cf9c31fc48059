/** Operating hubbub: readiness, Prometheus metrics, and the --config file under the environment and flags. */

import assert from "node:assert/strict";
import { hubOptions, LineClient, serve, WsClient } from "./_helpers.ts";
import { createHandler } from "../src/http/routes.ts";
import { Hub } from "../src/hub/hub.ts";
import { MemoryStore } from "../src/store/memory.ts";
import { parseCli } from "../src/cli.ts";

Deno.test("HTTP /readyz is 200 while serving and 503 when not ready", async () => {
  await using server = serve({ tcp: null });
  const response = await fetch(`http://${server.http!.hostname}:${server.http!.port}/readyz`);
  assert.equal(response.status, 200);
  assert.equal(await response.text(), "ready\n");

  const hub = new Hub(hubOptions(new MemoryStore()));
  const handler = createHandler({ hub, ready: () => false });
  const notReady = await handler(new Request("http://x/readyz"));
  assert.equal(notReady.status, 503);
  await notReady.body?.cancel();
  hub.shutdown();
});

Deno.test("HTTP /metrics speaks the Prometheus text format and counts connections, messages and frames", async () => {
  await using server = serve({ presenceIntervalMs: 20 });
  await using ws = await WsClient.open(server.http!, "/ws");
  ws.send({ Action: "username", Payload: { Username: "ada" } });
  await ws.expectJson({ Action: "userlist" });
  await using tcp = await LineClient.login(server.tcp!, "bob");
  await tcp.send("hello");
  await ws.expectJson({ Action: "broadcast", Payload: { Message: "hello" } });
  await tcp.send("DM ada psst");
  await ws.expectJson({ Action: "private" });

  const response = await fetch(`http://${server.http!.hostname}:${server.http!.port}/metrics`);
  assert.match(response.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  const text = await response.text();
  for (
    const line of [
      'hubbub_connections{dialect="gobanter"} 1',
      'hubbub_connections{dialect="tcp"} 1',
      "hubbub_rooms 1",
      "hubbub_members 2",
      'hubbub_messages_in_total{kind="room"} 1',
      'hubbub_messages_in_total{kind="direct"} 1',
      "hubbub_slow_readers_dropped_total 0",
      "hubbub_store_append_seconds_count 2",
    ]
  ) assert.ok(text.split("\n").includes(line), `${line}\n---\n${text}`);
  assert.match(text, /^# TYPE hubbub_store_append_seconds histogram$/m);
  assert.match(text, /^hubbub_store_append_seconds_bucket\{le="\+Inf"\} 2$/m);
  const frames = Number(/^hubbub_frames_out_total (\d+)$/m.exec(text)?.[1]);
  assert.ok(frames >= 2, `frames out: ${frames}`);
});

Deno.test("--config: JSON and TOML files, under the environment, under flags; bad files exit 2", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hubbub-config-" });
  const err: string[] = [];
  const parse = (args: string[]) => parseCli(args, { out: () => {}, err: (t) => err.push(t), tty: false });
  try {
    await Deno.writeTextFile(
      `${dir}/hubbub.toml`,
      'tcp = "127.0.0.1:4100"\nhttp = "off"\nidle-timeout = "5m"\nhistory-limit = 50\nallow-origin = ["https://a.example"]\n',
    );
    await Deno.writeTextFile(`${dir}/hubbub.json`, JSON.stringify({ historyLimit: 70, store: "memory" }));
    const toml = parse(["--config", `${dir}/hubbub.toml`]);
    assert.ok("config" in toml);
    assert.deepEqual(toml.config.tcp, { hostname: "127.0.0.1", port: 4100 });
    assert.equal(toml.config.http, null);
    assert.equal(toml.config.idleTimeoutMs, 300_000);
    assert.equal(toml.config.historyLimit, 50);
    assert.deepEqual(toml.config.allowOrigins, ["https://a.example"]);

    const json = parse([`--config=${dir}/hubbub.json`, "--history-limit", "9"]);
    assert.ok("config" in json);
    assert.equal(json.config.historyLimit, 9, "flags win over the file");
    assert.deepEqual(json.config.store, { kind: "memory" });

    Deno.env.set("HUBBUB_HISTORY_LIMIT", "33");
    try {
      const env = parse(["--config", `${dir}/hubbub.json`]);
      assert.ok("config" in env);
      assert.equal(env.config.historyLimit, 33, "the environment wins over the file");
    } finally {
      Deno.env.delete("HUBBUB_HISTORY_LIMIT");
    }

    await Deno.writeTextFile(`${dir}/bad.json`, JSON.stringify({ "no-such-option": 1 }));
    assert.deepEqual(parse(["--config", `${dir}/bad.json`]), { exit: 2 });
    assert.match(err.at(-1)!, /unknown option 'no-such-option'/);
    await Deno.writeTextFile(`${dir}/bad.toml`, 'history-limit = "lots"\n');
    assert.deepEqual(parse(["--config", `${dir}/bad.toml`]), { exit: 2 });
    assert.match(err.at(-1)!, /history-limit/);
    assert.deepEqual(parse(["--config", `${dir}/missing.toml`]), { exit: 2 });
    assert.equal(err.at(-1)!.trim().split("\n").length, 1, "one line");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
