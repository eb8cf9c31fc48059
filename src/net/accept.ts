/**
 * Accepting connections safely, for every door: one accept loop that admits each connection through the
 * shared {@linkcode ConnectionGate}, survives running out of file descriptors, and logs refusals without
 * letting an attacker flood the log.
 *
 * Running out of descriptors (`EMFILE`) must refuse new connections, never stop the server: the loop keeps
 * one descriptor in reserve (an open `/dev/null`); when `accept` fails for lack of descriptors it lets the
 * reserve go, accepts the waiting connection, closes it at once and takes the reserve back, so the kernel's
 * queue drains instead of spinning, and people already connected keep chatting.
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { ConnectionGate } from "../hub/limits.ts";

const log = getLogger(["hubbub", "net"]);

/** Refusals being written at once, at most; past it a refused connection is closed without a word. */
const MAX_REFUSING = 16;

/** Options of {@linkcode acceptLoop}. */
export interface AcceptOptions<C extends Deno.Conn> {
  /** Opens the door's listener on `port` (0 picks one); called again, on the bound port, for each renewal. */
  readonly listen: (port: number) => Deno.Listener<C>;
  /** The port to listen on first. */
  readonly port: number;
  /** Fires `change` when the listener must be opened anew (a TLS certificate reloaded). */
  readonly renewals?: EventTarget | null;
  /** Counts connections across every door; refused ones get `refuse`. */
  readonly gate: ConnectionGate;
  /** A door name for logs (`tcp`, `http`). */
  readonly door: string;
  /** Runs one admitted connection; the gate ticket is released when it settles. */
  readonly serve: (conn: C) => Promise<void>;
  /** Tells a connection over the limits why, in the door's dialect, and closes it. Must not reject. */
  readonly refuse: (conn: C, reason: string) => Promise<void>;
  /** Aborting it stops accepting (the listener is closed). */
  readonly signal: AbortSignal;
}

/** A door that is accepting. */
export interface Accepting {
  /** The bound address (the real port when 0 was asked for). */
  readonly addr: Deno.NetAddr;
  /** Resolves once the signal aborted, the listener closed and every connection it admitted has ended. */
  readonly finished: Promise<void>;
}

/**
 * Opens the door's listener and accepts until the signal aborts. Errors other than the listener closing are
 * logged (throttled) and accepting goes on. A renewal opens the next listener on the same port before the old
 * one closes; connections already accepted are not touched. Throws when the first listener cannot be opened.
 */
export function acceptLoop<C extends Deno.Conn>(options: AcceptOptions<C>): Accepting {
  const { gate, signal } = options;
  let listener = options.listen(options.port);
  const addr = listener.addr as Deno.NetAddr;
  const running = new Set<Promise<void>>();
  const loops = new Set<Promise<void>>();
  const reserve = new FdReserve();
  // Telling a refused client why takes its descriptor for a moment; in a storm, the rest are just closed.
  let refusing = 0;
  const refuse = (conn: C, reason: string) => {
    if (refusing >= MAX_REFUSING) return closeQuietly(conn);
    refusing++;
    void options.refuse(conn, reason).finally(() => refusing--);
  };
  const admit = (conn: C) => {
    const ticket = gate.admit(remoteHost(conn));
    if (!ticket.ok) {
      refusals.note(options.door, ticket.reason);
      return refuse(conn, ticket.reason);
    }
    const done: Promise<void> = options.serve(conn)
      .catch((error) =>
        log.error("connection handler failed: {error}", { door: options.door, error: String(error) })
      )
      .finally(() => {
        ticket.release();
        running.delete(done);
      });
    running.add(done);
  };
  const run = (from: Deno.Listener<C>) => {
    const loop = accepting(from, { door: options.door, signal, reserve, admit, refuse });
    loops.add(loop);
    void loop.finally(() => loops.delete(loop));
  };
  const renew = () => {
    if (signal.aborted) return;
    let next: Deno.Listener<C>;
    try {
      next = options.listen(addr.port);
    } catch (error) {
      log.error("cannot reopen the {door} listener, the old one stays: {error}", {
        door: options.door,
        error: String(error),
      });
      return;
    }
    const old = listener;
    listener = next;
    run(next);
    closeQuietly(old);
  };
  options.renewals?.addEventListener("change", renew);
  run(listener);
  const finished = (async () => {
    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      else signal.addEventListener("abort", () => resolve(), { once: true });
    });
    options.renewals?.removeEventListener("change", renew);
    closeQuietly(listener);
    while (loops.size > 0) await Promise.allSettled([...loops]);
    reserve.close();
    await Promise.allSettled([...running]);
  })();
  return { addr, finished };
}

/** What one listener's accept loop shares with the door. */
interface LoopContext<C extends Deno.Conn> {
  readonly door: string;
  readonly signal: AbortSignal;
  readonly reserve: FdReserve;
  readonly admit: (conn: C) => void;
  readonly refuse: (conn: C, reason: string) => void;
}

/** Accepts from one listener until it is closed. */
async function accepting<C extends Deno.Conn>(
  listener: Deno.Listener<C>,
  context: LoopContext<C>,
): Promise<void> {
  while (!context.signal.aborted) {
    let conn: C;
    try {
      conn = await listener.accept();
    } catch (error) {
      if (
        context.signal.aborted || error instanceof Deno.errors.BadResource ||
        error instanceof Deno.errors.Interrupted
      ) {
        return;
      }
      if (outOfDescriptors(error)) {
        refusals.note(context.door, "out-of-file-descriptors");
        await context.reserve.shed(listener, (conn) => context.refuse(conn, "server-full"));
      } else {
        refusals.note(context.door, `accept-failed: ${String(error)}`);
        // An unknown accept error may repeat at once; do not spin on it.
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      continue;
    }
    context.admit(conn);
  }
}

/** The remote IP of a connection (`unknown` for transports without one). */
export function remoteHost(conn: Deno.Conn): string {
  const addr = conn.remoteAddr;
  return "hostname" in addr ? addr.hostname : "unknown";
}

/** Whether an error says the process (or system) has no file descriptors left. */
export function outOfDescriptors(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === "EMFILE" || code === "ENFILE";
}

/** Closes a connection, ignoring one that is already gone. */
export function closeQuietly(conn: { close(): void }): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}

/** One spare file descriptor, given up for a moment to turn away a connection when none are left. */
class FdReserve {
  #file: Deno.FsFile | null = null;

  constructor() {
    this.#take();
  }

  /** Accepts and refuses one waiting connection using the reserve, then backs off briefly. */
  async shed<C extends Deno.Conn>(listener: Deno.Listener<C>, refuse: (conn: C) => void): Promise<void> {
    // A reserve given up last time, and not taken back then (the refused connection still held its
    // descriptor), is taken back now.
    if (this.#file === null) this.#take();
    if (this.#file !== null) {
      this.#file.close();
      this.#file = null;
      try {
        // The connection waiting in the kernel's queue (accept failed for it): without this accept it would wait
        // there forever. No timeout: an accept given up on would leave its connection to nobody.
        refuse(await listener.accept());
      } catch {
        // Still out of descriptors (another thread took ours), or the listener closed: the back-off below.
      }
      this.#take();
    }
    // Give connections that are ending the time to hand their descriptors back.
    await new Promise((resolve) => setTimeout(resolve, 10));
  }

  close(): void {
    this.#file?.close();
    this.#file = null;
  }

  #take(): void {
    try {
      this.#file = Deno.openSync(Deno.build.os === "windows" ? "NUL" : "/dev/null", { read: true });
    } catch {
      // No descriptor to spare right now (or no permission): the next shed retries.
      this.#file = null;
    }
  }
}

/**
 * Refusals, logged without letting them flood the log: the first of each kind at once, then at most one
 * summary line per second per kind with how many there were.
 */
export class RefusalLog {
  readonly #counts = new Map<string, number>();
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** Notes one refusal of `reason` at `door`. */
  note(door: string, reason: string): void {
    const key = `${door}\u0000${reason}`;
    const seen = this.#counts.get(key);
    if (seen === undefined) {
      log.warn("connection refused: {reason}", { door, reason });
      this.#counts.set(key, 0);
    } else this.#counts.set(key, seen + 1);
    this.#timer ??= setTimeout(() => this.#flush(), 1000);
  }

  #flush(): void {
    this.#timer = undefined;
    let pending = false;
    for (const [key, count] of this.#counts) {
      if (count === 0) {
        this.#counts.delete(key);
        continue;
      }
      const [door, reason] = key.split("\u0000");
      log.warn("connections refused: {count} × {reason} in the last second", { door, reason, count });
      this.#counts.set(key, 0);
      pending = true;
    }
    if (pending) this.#timer = setTimeout(() => this.#flush(), 1000);
  }
}

/** The process's refusal log, shared by every door so one summary line covers them all. */
export const refusals: RefusalLog = new RefusalLog();

/**
 * How many connections this process can hold at once: the open-file limit (`ulimit -n`) less a reserve for
 * the store, logs, listeners and the reserve descriptor itself; `null` where the limit cannot be learnt.
 *
 * Deno has no `getrlimit`, and reads `/proc/self/limits` only with `--allow-all`, so the limit is asked of
 * the shell, once at start (a child inherits our limit): a few milliseconds, within the `run` permission.
 */
export function descriptorBudget(): number | null {
  if (Deno.build.os === "windows") return null;
  let soft: number;
  try {
    const output = new Deno.Command("sh", { args: ["-c", "ulimit -n"], stdin: "null", stderr: "null" })
      .outputSync();
    soft = Number(new TextDecoder().decode(output.stdout).trim());
  } catch {
    return null;
  }
  if (!Number.isSafeInteger(soft) || soft <= 0) return null;
  // Store files, the Redis sockets, stdio, listeners, V8's own: 64 is generous; large limits keep 1/8.
  return Math.max(1, soft - Math.max(64, Math.ceil(soft / 8)));
}
