/**
 * The single binary: the compiled executable passes the smoke test when a denort is at hand, and the same
 * program under `deno run`, with the binary's permission set and no read access to the source tree, proves
 * the page and every asset travel in the module graph.
 */

import assert from "node:assert/strict";
import { ROOT } from "./_helpers.ts";
import { smoke } from "./_smoke.ts";
import { outputFor } from "../scripts/compile.ts";

Deno.test("binary permissions: deno run with the binary's permission set and no read access to the source tree passes the smoke test", async () => {
  // A scratch working directory: nothing hubbub could read from the tree by a relative path either.
  const cwd = await Deno.makeTempDir({ prefix: "hubbub-noread-" });
  try {
    // The control: with these flags, reading a file of the tree really is refused.
    await Deno.writeTextFile(
      `${cwd}/probe.ts`,
      `Deno.readTextFileSync(${JSON.stringify(`${ROOT}deno.json`)});`,
    );
    const probe = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-P=server", `--deny-read=${ROOT}`, `--config=${ROOT}deno.json`, `${cwd}/probe.ts`],
      cwd,
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.notEqual(probe.code, 0);
    assert.match(new TextDecoder().decode(probe.stderr), /NotCapable|read access/);

    await smoke(Deno.execPath(), [
      "run",
      "-P=server",
      `--deny-read=${ROOT}`,
      `--config=${ROOT}deno.json`,
      `${ROOT}main.ts`,
    ], { cwd });
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});

/** Why no denort can be had, or `null` when one can. */
async function denortMissing(): Promise<string | null> {
  const local = Deno.env.get("DENORT_BIN");
  if (local) {
    try {
      await Deno.stat(local);
      return null;
    } catch {
      return `DENORT_BIN=${local} does not exist`;
    }
  }
  const url = `https://dl.deno.land/release/v${Deno.version.deno}/denort-x86_64-unknown-linux-gnu.zip`;
  try {
    const response = await fetch(url, { method: "HEAD", signal: AbortSignal.timeout(3000) });
    await response.body?.cancel();
    return response.ok ? null : `DENORT_BIN is unset and ${url} answered ${response.status}`;
  } catch (error) {
    return `DENORT_BIN is unset and dl.deno.land is unreachable (${(error as Error).name})`;
  }
}

const missing = Deno.build.os === "linux" ? await denortMissing() : "the compile smoke test runs on Linux";
if (missing) {
  // Said out loud: an ignored test is counted as skipped, and this line says why.
  // deno-lint-ignore no-console -- the SKIP line is for the person reading the test run.
  console.log(`SKIP compiled-binary smoke test: ${missing}`);
}

Deno.test({
  name: "deno task compile builds dist/hubbub, and the binary passes the smoke test",
  ignore: missing !== null,
  async fn() {
    const build = await new Deno.Command(Deno.execPath(), {
      args: ["task", "compile"],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (build.code !== 0) {
      throw new Error(`deno task compile failed:\n${new TextDecoder().decode(build.stderr)}`);
    }
    const cwd = await Deno.makeTempDir({ prefix: "hubbub-binary-" });
    try {
      await smoke(`${ROOT}${outputFor(null)}`, [], { cwd });
    } finally {
      await Deno.remove(cwd, { recursive: true });
    }
  },
});
