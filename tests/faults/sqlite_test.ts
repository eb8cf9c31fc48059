/**
 * Faults: a SQLite store that cannot write. While its commits fail the node is not ready (`/readyz` 503, so
 * a balancer sends people elsewhere), the log says which file, and it is ready again by itself once commits
 * work, with no message needed to find out. A file that cannot be opened stops the start with a line naming it.
 * @module
 */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { Child, eventually, LineClient } from "../_helpers.ts";
import { records, startNode, status } from "./_faults.ts";

/** Whether `prlimit` (util-linux) can change a running process's limits here. */
const HAVE_PRLIMIT = Deno.build.os === "linux" &&
  await new Deno.Command("prlimit", { args: ["--version"], stdout: "null", stderr: "null" }).output()
    .then((o) => o.success, () => false);

/** Sets the largest file a process may write (bytes, or `unlimited`); past it writes fail with EFBIG. */
async function fileSizeLimit(pid: number, limit: string): Promise<void> {
  // Only the soft limit: the hard one stays, so the limit can be lifted again.
  const { success } = await new Deno.Command("prlimit", { args: ["--pid", String(pid), `--fsize=${limit}:`] })
    .output();
  assert.ok(success, `prlimit --fsize=${limit}`);
}

Deno.test({
  name:
    "SqliteStore: commits failing (writes refused, like a full disk) make /readyz 503 and the log names the file; ready again once commits work",
  ignore: !HAVE_PRLIMIT,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "hubbub-faults-" });
    const path = `${dir}/hub.db`;
    try {
      // SIGXFSZ ignored, as a server on a full disk gets errors rather than signals: over the file size
      // limit a write then fails with EFBIG, and SQLite reports a disk I/O error.
      await using node = await startNode({
        args: ["--store", `sqlite:${path}`, "--log-level", "debug"],
        via: ["sh", "-c", "trap '' XFSZ; exec \"$@\"", "sh"],
      });
      await using ann = await LineClient.login(node.tcp, "ann");
      await ann.send("kept");
      await ann.send("HISTORY 1");
      await ann.expect(/^HIST 1 \S+ ann kept$/);

      await fileSizeLimit(node.child.process.pid, "0");
      await ann.send("lost");
      await ann.expect("ERR unavailable");
      await eventually(async () => (await status(node.http, "/readyz")) === 503, "/readyz 503", 2000);
      const failed = records(node.child, "ERROR", "store commit failed");
      assert.ok(failed.length > 0);
      assert.equal((failed[0]!.properties as { path: string }).path, path);
      assert.ok(String(failed[0]!.message).includes(path), `the line names the file: ${failed[0]!.message}`);
      // Nobody sends anything: the node stays not ready while writes still fail (it has tried twice)...
      await eventually(
        () => records(node.child, "DEBUG", "store commits still fail").length >= 2,
        "two failed tries",
        5000,
      );
      assert.equal(await status(node.http, "/readyz"), 503);
      await ann.send("PING");
      await ann.expect("PONG");

      // ...and finds out by itself that they work again.
      await fileSizeLimit(node.child.process.pid, "unlimited");
      await eventually(async () => (await status(node.http, "/readyz")) === 200, "/readyz 200 again", 3000);
      assert.equal(records(node.child, "INFO", "store commits work again").length, 1);
      await ann.send("back");
      await ann.send("HISTORY 5");
      await ann.expect(/^HIST 1 \S+ ann kept$/);
      await ann.expect(/^HIST 2 \S+ ann back$/);
      await ann.expect("OK");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("SqliteStore: a database that cannot be opened stops the start with a FATAL line naming the file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hubbub-faults-" });
  const readOnly = `${dir}/read-only.db`;
  const chattr = (flag: string) =>
    new Deno.Command("chattr", { args: [flag, readOnly], stderr: "null" }).output().catch(() => {});
  try {
    const cases = [`${dir}/missing/hub.db`];
    // A read-only file: chmod is enough for a user; root needs the immutable attribute, where it may set it.
    new DatabaseSync(readOnly).close();
    await Deno.chmod(readOnly, 0o444);
    await chattr("+i");
    const writable = await Deno.open(readOnly, { write: true }).then((f) => (f.close(), true), () => false);
    if (!writable) cases.push(readOnly);
    for (const path of cases) {
      const child = new Child([
        "run",
        "-P=server",
        "main.ts",
        "--tcp",
        "127.0.0.1:0",
        "--http",
        "off",
        "--log-format",
        "json",
        "--store",
        `sqlite:${path}`,
      ]);
      assert.equal((await child.status()).code, 1);
      const fatal = child.records.filter((r) => r.level === "FATAL");
      assert.equal(fatal.length, 1, child.stderr);
      assert.ok(String(fatal[0]!.message).includes(path), `names ${path}: ${fatal[0]!.message}`);
    }
  } finally {
    await chattr("-i");
    await Deno.remove(dir, { recursive: true });
  }
});
