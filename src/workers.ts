/**
 * `--workers N`: one command runs N hubbub processes on this machine. They share the TCP, HTTP and IRC ports
 * (`SO_REUSEPORT`, so the kernel spreads connections) and form one cluster through `--redis`.
 *
 * The parent only supervises: it restarts a worker that crashed, forwards SIGTERM, SIGINT and SIGHUP, and exits 0 once
 * every worker has drained. Each worker holds a pipe from the parent on its stdin and shuts down when that
 * pipe closes, so no worker outlives a supervisor that was killed outright (SIGKILL, a crash).
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { v8FlagsArgument } from "./runtime_flags.ts";

const log = getLogger(["hubbub", "workers"]);

/** Set in a worker's environment by its supervisor. */
const SUPERVISED = "HUBBUB_SUPERVISED";

/**
 * In a worker of `--workers`: calls `stop` once the supervisor is gone (its end of our stdin closed). Does
 * nothing in a process that no supervisor started.
 */
export function stopWithSupervisor(stop: () => void): void {
  if (Deno.env.get(SUPERVISED) !== "1") return;
  void (async () => {
    try {
      // Nothing is ever sent; the loop ends when the supervisor's end closes.
      for await (const _ of Deno.stdin.readable) continue;
    } catch {
      // A broken pipe is a gone supervisor too.
    }
    stop();
  })();
}

/** Options of {@linkcode supervise}. */
export interface SuperviseOptions {
  /** How many workers. */
  readonly workers: number;
  /** hubbub's own arguments, as given (without the program). */
  readonly argv: readonly string[];
  /** The cluster node id given with `--node-id`; workers get `<id>-w<n>`. */
  readonly nodeId: string | null;
}

/** The worker command line: the same program with the same arguments, one worker, sharing the ports. */
export function workerArgs(argv: readonly string[], index: number, nodeId: string | null): string[] {
  const kept: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--workers" || arg === "--node-id") i++;
    else if (!arg.startsWith("--workers=") && !arg.startsWith("--node-id=")) kept.push(arg);
  }
  kept.push("--workers", "1", "--reuse-port");
  if (nodeId) kept.push("--node-id", `${nodeId}-w${index}`);
  // A compiled hubbub runs itself; under `deno run`, the same module with the same permission set.
  if (Deno.build.standalone) return kept;
  const main = new URL(Deno.mainModule);
  return [
    "run",
    v8FlagsArgument(),
    "-P=server",
    `--config=${new URL("./deno.json", main).pathname}`,
    main.pathname,
    ...kept,
  ];
}

/** Runs and supervises the workers; resolves with the exit code once all of them have stopped. */
export async function supervise(options: SuperviseOptions): Promise<number> {
  let stopping = false;
  const running = new Map<number, Deno.ChildProcess>();
  const done: Promise<void>[] = [];

  const start = (index: number, crashes: number): Promise<void> => {
    const child = new Deno.Command(Deno.execPath(), {
      args: workerArgs(options.argv, index, options.nodeId),
      // Nothing is ever written: the pipe only tells the worker, by closing, that its supervisor is gone.
      stdin: "piped",
      stdout: "inherit",
      stderr: "inherit",
      // The workers must not supervise in turn, whatever the environment says.
      env: { HUBBUB_WORKERS: "1", [SUPERVISED]: "1" },
    }).spawn();
    running.set(index, child);
    log.info("worker started", { worker: index, pid: child.pid });
    return child.status.then(async (status) => {
      running.delete(index);
      if (stopping) return;
      log.error("worker exited; restarting", { worker: index, code: status.code, signal: status.signal });
      await new Promise((resolve) => setTimeout(resolve, Math.min(250 * 2 ** crashes, 5000)));
      if (!stopping) await start(index, crashes + 1);
    });
  };

  const stop = (signal: Deno.Signal) => {
    stopping = true;
    for (const child of running.values()) {
      try {
        child.kill(signal);
      } catch {
        // Already gone.
      }
    }
  };
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT", "SIGBREAK"] : ["SIGINT", "SIGTERM"];
  const handlers = signals.map((signal) =>
    [signal, () => stop(signal === "SIGINT" ? "SIGTERM" : signal)] as const
  );
  for (const [signal, handler] of handlers) Deno.addSignalListener(signal, handler);
  // SIGHUP reloads the TLS certificate in every worker (each serves the ports with its own listeners).
  const reload = () => {
    for (const child of running.values()) {
      try {
        child.kill("SIGHUP");
      } catch {
        // Already gone.
      }
    }
  };
  if (Deno.build.os !== "windows") Deno.addSignalListener("SIGHUP", reload);
  for (let i = 1; i <= options.workers; i++) done.push(start(i, 0));
  await Promise.all(done);
  for (const [signal, handler] of handlers) Deno.removeSignalListener(signal, handler);
  if (Deno.build.os !== "windows") Deno.removeSignalListener("SIGHUP", reload);
  return 0;
}
