/**
 * The operator's account commands (`src/accounts_admin.ts`), run as `hubbub` itself (`main.ts` as a child) on
 * a real SQLite file and on a real redis-server: list, delete and reset (piped, or generated and printed),
 * while a server uses the same store; and the command line's own refusals.
 */

import assert from "node:assert/strict";
import { Child, eventually, LineClient, ROOT } from "./_helpers.ts";
import { RedisServer } from "./_redis.ts";

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `hubbub <args>` to completion, with `input` piped to stdin (or stdin closed). */
async function hubbub(args: string[], input?: string): Promise<Run> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-P=server", "main.ts", ...args, "--log-format", "json"],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdin: input === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (input !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(input));
    await writer.close();
  }
  const output = await child.output();
  const decoder = new TextDecoder();
  return { code: output.code, stdout: decoder.decode(output.stdout), stderr: decoder.decode(output.stderr) };
}

/** A server on `store` with accounts on, TCP only. */
function server(store: string[]): Child {
  return new Child([
    "run",
    "-P=server",
    "main.ts",
    "--tcp",
    "127.0.0.1:0",
    "--http",
    "off",
    "--log-format",
    "json",
    "--accounts",
    "on",
    ...store,
  ]);
}

async function login(addr: Deno.NetAddr, name: string, password: string): Promise<string> {
  await using c = await LineClient.connect(addr);
  await c.send(`LOGIN ${name} ${password}`);
  return await c.expect(/^(OK|ERR)/);
}

/** The whole story on one store: register while serving, list, reset (piped and generated), delete. */
async function story(store: string[]): Promise<void> {
  await using running = server(store);
  const addr = await running.tcpAddr();
  // With Redis the node takes names once it is connected.
  await eventually(
    async () => {
      await using probe = await LineClient.connect(addr);
      await probe.send("LOGIN probe");
      return (await probe.expect(/^(OK|ERR)/)) === "OK";
    },
    "the server takes names",
    10_000,
  );
  for (const [name, password] of [["zoe", "zoes-password"], ["Yann", "yanns-password"]]) {
    await using c = await LineClient.login(addr, name!);
    await c.send(`REGISTER ${password}`);
    await c.expect("OK");
  }
  const listed = await hubbub(["accounts", "list", ...store]);
  assert.equal(listed.code, 0, listed.stderr);
  const lines = listed.stdout.trimEnd().split("\n");
  assert.deepEqual(lines.map((l) => l.split("\t")[0]), ["Yann", "zoe"]);
  for (const line of lines) assert.match(line, /\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.ok(!listed.stdout.includes("scrypt"), "no hashes in the listing");

  // Reset from a pipe: the running server takes the new password at once, not the old one.
  const piped = await hubbub(["accounts", "reset", "ZOE", ...store], "a-new-password\n");
  assert.equal(piped.code, 0, piped.stderr);
  assert.equal(piped.stdout, "password of zoe reset\n");
  assert.match(await login(addr, "zoe", "zoes-password"), /^ERR bad-credentials/);
  assert.equal(await login(addr, "zoe", "a-new-password"), "OK");
  // Reset with nothing piped: a generated password, printed once.
  const generated = await hubbub(["accounts", "reset", "yann", ...store]);
  assert.equal(generated.code, 0, generated.stderr);
  const match = /^new password of Yann: (\S{20})\n$/.exec(generated.stdout);
  assert.ok(match, generated.stdout);
  assert.equal(await login(addr, "Yann", match[1]!), "OK");
  const weak = await hubbub(["accounts", "reset", "yann", ...store], "short\n");
  assert.equal(weak.code, 2);
  assert.match(weak.stderr, /cannot use this password: a password needs at least 8 characters/);

  const deleted = await hubbub(["accounts", "delete", "zoe", ...store]);
  assert.equal(deleted.code, 0, deleted.stderr);
  assert.equal(deleted.stdout, "deleted the account zoe\n");
  // The name is free again: a guest takes it.
  await eventually(async () => {
    await using c = await LineClient.connect(addr);
    await c.send("LOGIN zoe");
    return (await c.expect(/^(OK|ERR)/)) === "OK";
  }, "zoe is a free name again");
  const missing = await hubbub(["accounts", "delete", "zoe", ...store]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no account named 'zoe'/);
  assert.deepEqual(
    (await hubbub(["accounts", "list", ...store])).stdout.trimEnd().split("\n").map((l) => l.split("\t")[0]),
    ["Yann"],
  );
}

Deno.test("hubbub accounts list|reset|delete on the SQLite file a running server uses", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hubbub-admin-" });
  try {
    await story(["--store", `sqlite:${dir}/chat.db`]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const HAVE_REDIS = await RedisServer.available();

Deno.test({
  name: "hubbub accounts list|reset|delete on a cluster's Redis",
  ignore: !HAVE_REDIS && Deno.env.get("CI") !== "true",
  fn: async () => {
    await using redis = await RedisServer.start();
    await story(["--redis", redis.url]);
  },
});

Deno.test("hubbub accounts: bad words exit 2 with one line; --store memory has no accounts to manage", async () => {
  for (
    const args of [
      ["accounts"],
      ["accounts", "list", "extra"],
      ["accounts", "delete"],
      ["accounts", "frobnicate", "x"],
    ]
  ) {
    const run = await hubbub([...args, "--store", "memory"]);
    assert.equal(run.code, 2, args.join(" "));
    assert.match(run.stderr, /usage: hubbub accounts list \| accounts delete NAME \| accounts reset NAME/);
  }
  const memory = await hubbub(["accounts", "list", "--store", "memory"]);
  assert.equal(memory.code, 2);
  assert.match(memory.stderr, /--store memory keeps no accounts/);
});
