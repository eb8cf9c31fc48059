/**
 * Summarises a V8 `.cpuprofile` (from `deno run --cpu-prof`): the functions with the most self time, and
 * the hubbub functions with the most total time (self plus callees).
 *
 * `deno run --allow-read bench/profile.ts FILE.cpuprofile [--top 25]`
 * @module
 */

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
  readonly startTime: number;
  readonly endTime: number;
}

/** One function's share of a profile. */
export interface Entry {
  /** `name (file:line)`. */
  readonly where: string;
  /** Self time, milliseconds. */
  readonly selfMs: number;
  /** Self plus callees, milliseconds (recursion counted once). */
  readonly totalMs: number;
}

/** Self and total time per function, and the profile's wall time. */
export function summarise(profile: CpuProfile): { entries: Entry[]; wallMs: number; busyMs: number } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  }
  const key = (n: ProfileNode) => {
    const file = n.callFrame.url.replace(/^file:\/\/.*?\/(src|bench|tests)\//, "$1/").replace(/^ext:/, "");
    return `${n.callFrame.functionName || "(anonymous)"} (${file || "native"}:${n.callFrame.lineNumber + 1})`;
  };
  const selfBy = new Map<string, number>();
  const totalBy = new Map<string, number>();
  // Depth-first from the root, carrying the functions on the stack so recursion counts once.
  const root = profile.nodes[0]!;
  const walk = (node: ProfileNode, stack: Set<string>): number => {
    const k = key(node);
    let total = self.get(node.id) ?? 0;
    selfBy.set(k, (selfBy.get(k) ?? 0) + total);
    const inner = new Set(stack).add(k);
    for (const child of node.children ?? []) total += walk(byId.get(child)!, inner);
    if (!stack.has(k)) totalBy.set(k, (totalBy.get(k) ?? 0) + total);
    return total;
  };
  walk(root, new Set());
  const entries = [...selfBy.keys()].map((where) => ({
    where,
    selfMs: selfBy.get(where)!,
    totalMs: totalBy.get(where) ?? 0,
  }));
  const wallMs = (profile.endTime - profile.startTime) / 1000;
  const idle = entries.filter((e) => e.where.startsWith("(idle)")).reduce((s, e) => s + e.selfMs, 0);
  return { entries, wallMs, busyMs: wallMs - idle };
}

/** A text report: top self time, top hubbub total time. */
export function report(profile: CpuProfile, top = 25): string {
  const { entries, wallMs, busyMs } = summarise(profile);
  const lines: string[] = [];
  const pct = (ms: number) => `${((ms / busyMs) * 100).toFixed(1).padStart(5)}%`;
  lines.push(
    `wall ${wallMs.toFixed(0)} ms; JavaScript and synchronous ops ${busyMs.toFixed(0)} ms; the rest is ` +
      "(idle): Deno's event loop outside JavaScript (socket writes and reads in Rust, the kernel), or waiting",
  );
  lines.push("", "top self time (share of the JavaScript time):");
  const ranked = entries.filter((e) => !e.where.startsWith("(idle)")).sort((a, b) => b.selfMs - a.selfMs);
  for (const e of ranked.slice(0, top)) {
    lines.push(`  ${pct(e.selfMs)}  ${e.selfMs.toFixed(0).padStart(7)} ms  ${e.where}`);
  }
  lines.push("", "hubbub functions by total time (self + callees):");
  const ours = entries.filter((e) => /\((src|main\.ts)/.test(e.where.replace(/^.*? \(/, "(")));
  for (const e of ours.sort((a, b) => b.totalMs - a.totalMs).slice(0, top)) {
    lines.push(`  ${pct(e.totalMs)}  ${e.totalMs.toFixed(0).padStart(7)} ms  ${e.where}`);
  }
  return lines.join("\n");
}

if (import.meta.main) {
  const file = Deno.args.find((a) => !a.startsWith("--"));
  if (!file) {
    Deno.stderr.writeSync(new TextEncoder().encode("usage: bench/profile.ts FILE.cpuprofile [--top N]\n"));
    Deno.exit(2);
  }
  const i = Deno.args.indexOf("--top");
  const top = i === -1 ? 25 : Number(Deno.args[i + 1]);
  const text = report(JSON.parse(Deno.readTextFileSync(file)), top);
  Deno.stdout.writeSync(new TextEncoder().encode(text + "\n"));
}
