/**
 * The V8 flags hubbub runs with, wherever it runs: `deno task start` and `deno task dev` (written out in
 * deno.json, where a test keeps them equal to this), the compiled binary (`deno compile --v8-flags`), and the
 * workers `--workers` starts under `deno run`.
 *
 * `--max-semi-space-size=8` (MiB): by default V8 let its young generation grow to about 60 MiB while hubbub
 * accepted connections (measured with `node:v8` heap statistics), and that memory stays resident: with 10 000
 * idle connections it was a third of the RSS per TCP connection (BENCHMARKS.md, "Idle memory"). 8 MiB cost no
 * measurable throughput; 2 MiB saved no more memory and cost about 7 % at 100 clients × 10 senders.
 * @module
 */

/** V8 flags, without the `--v8-flags=` prefix. */
export const V8_FLAGS: readonly string[] = ["--max-semi-space-size=8"];

/** The flags as one `deno run` / `deno compile` argument. */
export function v8FlagsArgument(): string {
  return `--v8-flags=${V8_FLAGS.join(",")}`;
}
