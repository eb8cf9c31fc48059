/** hubbub runs with the same V8 flags however it is started: the tasks, the compiled binary, the workers. */

import assert from "node:assert/strict";
import { V8_FLAGS, v8FlagsArgument } from "../src/runtime_flags.ts";
import { compileArgs } from "../scripts/compile.ts";
import { workerArgs } from "../src/workers.ts";

const config = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));

Deno.test("V8 flags: they cap the young generation, and every way of starting hubbub passes them", () => {
  assert.deepEqual(V8_FLAGS, ["--max-semi-space-size=8"]);
  const flag = v8FlagsArgument();
  assert.equal(flag, "--v8-flags=--max-semi-space-size=8");
  for (const task of ["start", "dev"]) {
    const command: string = config.tasks[task].command;
    const hubbub = command.split("&").map((part) => part.trim()).find((part) => part.includes("main.ts"))!;
    assert.ok(hubbub.split(/\s+/).includes(flag), `deno task ${task} runs hubbub with ${flag}: ${hubbub}`);
  }
  for (const target of [null, "x86_64-unknown-linux-gnu"]) {
    const args = compileArgs(target);
    assert.equal(args[0], "compile");
    assert.ok(args.includes(flag), `deno compile gets ${flag}: ${args.join(" ")}`);
    assert.equal(args.at(-1), "main.ts");
  }
  if (!Deno.build.standalone) {
    const args = workerArgs(["--workers", "2", "--tcp", ":4000"], 1, null);
    assert.deepEqual(args.slice(0, 3), ["run", flag, "-P=server"]);
    assert.deepEqual(args.slice(-5), ["--tcp", ":4000", "--workers", "1", "--reuse-port"]);
  }
});
