/**
 * Builds the single-file hubbub executable with `deno compile`.
 *
 *   deno task compile          dist/hubbub for this machine
 *   deno task compile:all      dist/hubbub-<target>[.exe] for every release target
 *
 * The permission set is the `server` set of deno.json (-P), the same one `deno task start` and the tests
 * use; the V8 flags are `src/runtime_flags.ts`'s, the same as `deno task start`'s. `deno compile` downloads its `denort` base binary unless `DENORT_BIN` names a local one; it reads
 * that variable itself, so it passes straight through.
 * @module
 */

import { v8FlagsArgument } from "../src/runtime_flags.ts";

/** Every target a release ships. */
export const TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
  "x86_64-pc-windows-msvc",
] as const;

/** Where a target's binary goes. */
export function outputFor(target: string | null): string {
  if (target === null) return "dist/hubbub";
  return `dist/hubbub-${target}${target.includes("windows") ? ".exe" : ""}`;
}

/** The `deno` arguments that compile one binary. */
export function compileArgs(target: string | null): string[] {
  const args = ["compile", "-P=server", v8FlagsArgument(), "--no-check", "--output", outputFor(target)];
  if (target !== null) args.push("--target", target);
  args.push("main.ts");
  return args;
}

/** Compiles one binary; resolves with deno's exit code. */
export async function compile(target: string | null): Promise<number> {
  const args = compileArgs(target);
  const { code } = await new Deno.Command(Deno.execPath(), { args, stdout: "inherit", stderr: "inherit" })
    .output();
  return code;
}

if (import.meta.main) {
  const all = Deno.args.includes("--all");
  for (const target of all ? TARGETS : [null]) {
    const code = await compile(target);
    if (code !== 0) {
      const hint = Deno.env.get("DENORT_BIN")
        ? ""
        : " (deno compile downloads denort from dl.deno.land; offline, set DENORT_BIN=/path/to/denort)";
      Deno.stderr.writeSync(
        new TextEncoder().encode(`compile failed for ${target ?? "this machine"}${hint}\n`),
      );
      Deno.exit(code);
    }
  }
}
