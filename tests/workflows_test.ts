/** The GitHub workflows are valid YAML and run only tasks that exist. */

import assert from "node:assert/strict";
import { parse } from "yaml";
import denoJson from "../deno.json" with { type: "json" };
import { ROOT } from "./_helpers.ts";

const tasks = new Set(Object.keys(denoJson.tasks));

for (const name of ["ci.yml", "release.yml"]) {
  Deno.test(`.github/workflows/${name} is valid and references only existing tasks`, async () => {
    const workflow = parse(await Deno.readTextFile(`${ROOT}.github/workflows/${name}`));
    assert.equal(typeof workflow.on, "object");
    const steps = Object.values(workflow.jobs as Record<string, { steps: { run?: string; uses?: string }[] }>)
      .flatMap((job) => job.steps);
    assert.ok(steps.length > 0);
    const runs = steps.map((step) => step.run ?? "").join("\n");
    const used = [...runs.matchAll(/deno task ([\w:-]+)/g)].map((m) => m[1]!);
    assert.ok(used.includes("ok"), "every workflow runs deno task ok");
    for (const task of used) assert.ok(tasks.has(task), `deno task ${task} exists`);
    const setup = steps.find((step) => step.uses?.startsWith("denoland/setup-deno"));
    assert.ok(setup, "Deno is set up");
  });
}

Deno.test("release.yml compiles every target, smoke-tests Linux and attaches binaries with SHA-256 sums", async () => {
  const text = await Deno.readTextFile(`${ROOT}.github/workflows/release.yml`);
  const workflow = parse(text);
  assert.deepEqual(workflow.on.push.tags, ["v*"]);
  assert.match(text, /deno task compile:all/);
  assert.match(text, /tests\/binary_test\.ts/);
  assert.match(text, /sha256sum/);
  assert.match(text, /action-gh-release/);
});
