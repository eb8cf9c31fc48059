/**
 * Backpressure, the same for every door: one outbound byte queue per connection ({@linkcode Outbox}), the
 * slow-reader rule, and the load gauge behind admission control.
 *
 * A session may have at most `max` unread bytes queued. A healthy reader can pass that briefly (a burst
 * fanned out in one tick is queued before the first write completes), so passing it starts a grace period;
 * a reader still over the bound when the grace period ends is dropped. Passing `4 × max` drops it at once,
 * so no reader ever holds more than that.
 *
 * The hub does no I/O: an outbox writes through a {@linkcode ByteSink} its door hands it (a socket).
 * @module
 */

import type { CloseReason } from "../model.ts";

/** Options of {@linkcode SlowReaderGuard}. */
export interface SlowReaderOptions {
  /** Unread bytes allowed (the `--max-queue` bound). */
  readonly max: number;
  /** How long a reader may stay over the bound (milliseconds). */
  readonly graceMs?: number;
  /** Current unread bytes. */
  readonly queued: () => number;
  /** Called once, when the reader is to be dropped. */
  readonly trip: () => void;
}

/** How many times the bound a reader may reach before it is dropped without grace. */
export const HARD_FACTOR = 4;

/** Watches one session's queue and trips when it stays over its bound. */
export class SlowReaderGuard {
  readonly #options: SlowReaderOptions;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #tripped = false;

  /** Creates a guard. */
  constructor(options: SlowReaderOptions) {
    this.#options = options;
  }

  /** Call after queueing: checks the bound. */
  poke(): void {
    if (this.#tripped) return;
    const { max, queued } = this.#options;
    const bytes = queued();
    if (bytes > max * HARD_FACTOR) return this.#trip();
    if (bytes > max && this.#timer === undefined) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        if (queued() > max) this.#trip();
      }, this.#options.graceMs ?? 1000);
    }
  }

  /** Stops the grace timer (the session closed for another reason). */
  dispose(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #trip(): void {
    this.#tripped = true;
    this.dispose();
    this.#options.trip();
  }
}

/** A frame that has waited this long to be written marks its session as backed up (milliseconds). */
export const BACKED_UP_MS = 250;

/**
 * Whether this node writes slower than it accepts: more than half of the open sessions have a frame that has
 * waited over {@linkcode BACKED_UP_MS} to be written. A few stalled readers do not count (the slow-reader rule
 * handles them); real overload backs up almost everyone, and then new messages are refused instead of being
 * queued into memory nobody can drain.
 */
export class LoadGauge {
  #sessions = 0;
  #backedUp = 0;

  /** A session opened. */
  opened(): void {
    this.#sessions++;
  }

  /** A session closed; `backedUp` is its last mark. */
  closed(backedUp: boolean): void {
    this.#sessions--;
    if (backedUp) this.#backedUp--;
  }

  /** A session's mark changed. */
  mark(backedUp: boolean): void {
    this.#backedUp += backedUp ? 1 : -1;
  }

  /** Sessions open and sessions backed up, for metrics and tests. */
  get counts(): { sessions: number; backedUp: number } {
    return { sessions: this.#sessions, backedUp: this.#backedUp };
  }

  /** Whether new messages should be refused. */
  overloaded(): boolean {
    return this.#backedUp * 2 > this.#sessions;
  }
}

/**
 * Tracks how long a session's oldest unwritten frame has waited and keeps its mark in a {@linkcode LoadGauge}.
 * The session calls {@linkcode BacklogClock.update} with that frame's enqueue time whenever it changes.
 */
export class BacklogClock {
  readonly #gauge: LoadGauge;
  #backedUp = false;
  #open = true;

  /** Registers a session with `gauge`. */
  constructor(gauge: LoadGauge) {
    this.#gauge = gauge;
    gauge.opened();
  }

  /** `oldest`: when the oldest unwritten frame was queued (`performance.now()`), or undefined for none. */
  update(oldest: number | undefined, now: number = performance.now()): void {
    if (!this.#open) return;
    const backedUp = oldest !== undefined && now - oldest > BACKED_UP_MS;
    if (backedUp === this.#backedUp) return;
    this.#backedUp = backedUp;
    this.#gauge.mark(backedUp);
  }

  /** The session closed. Safe to call twice. */
  close(): void {
    if (!this.#open) return;
    this.#open = false;
    this.#gauge.closed(this.#backedUp);
  }
}

/**
 * How long a dropped slow reader keeps its socket for the close frame queued behind its unread bytes: a
 * client that wakes up and reads learns why it was dropped. Only the write already in progress is held.
 */
const SLOW_READER_LINGER_MS = 5000;

/** Deliveries counted between two looks at the clock. */
const METER_EVERY = 256;
/** A pause this long since the last look ends a storm, whatever the last look said (milliseconds). */
const STORM_OVER_MS = 100;

/** Options of {@linkcode WriteCoalescer}. */
export interface WriteCoalescerOptions {
  /** Deliveries per second (the whole process) above which idle connections wait before they write. */
  readonly above?: number;
  /** ... and below which they write at once again (hysteresis, so the mode does not flap). */
  readonly below?: number;
  /** How long an idle connection waits, while coalescing, for more frames to join its write (milliseconds). */
  readonly delayMs?: number;
}

/**
 * Write coalescing for the whole process. A delivery to an idle connection is one write, and one write of a
 * small frame costs about 10 µs of the sender's CPU (on loopback, the receiver's TCP work too): at 100 000
 * deliveries/s (1000 members, 100 messages/s) the writes alone take a core, queues grow until they batch
 * writes by themselves, and latency grows with them (p99 0.3–0.7 s, BENCHMARKS.md). Past `above`
 * deliveries/s, an idle connection waits `delayMs` before it writes, so that the frames of the next messages
 * join the same write: a bounded delay instead of an unbounded queue. Under that rate (every room at chat
 * speed) every write goes at once.
 */
export class WriteCoalescer {
  readonly #above: number;
  readonly #below: number;
  readonly #delayMs: number;
  #count = 0;
  #since = performance.now();
  #on = false;
  #waiting: (() => void)[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** Creates a coalescer; the defaults are the process-wide one's. */
  constructor(options: WriteCoalescerOptions = {}) {
    this.#above = options.above ?? 40_000;
    this.#below = options.below ?? 20_000;
    this.#delayMs = options.delayMs ?? 25;
  }

  /** Whether idle connections wait before they write. */
  get coalescing(): boolean {
    return this.#on;
  }

  /** Counts one delivery; every {@linkcode METER_EVERY}, updates the mode from the rate since the last look. */
  note(): void {
    if (++this.#count < METER_EVERY) return;
    const now = performance.now();
    const rate = (this.#count * 1000) / Math.max(1, now - this.#since);
    this.#count = 0;
    this.#since = now;
    if (this.#on ? rate < this.#below : rate > this.#above) this.#on = !this.#on;
  }

  /** Starts an idle outbox's write now, or after the coalescing delay. */
  start(run: () => void): void {
    if (this.#on && performance.now() - this.#since > STORM_OVER_MS) this.#on = false;
    if (!this.#on) return run();
    this.#waiting.push(run);
    this.#timer ??= setTimeout(() => this.#flush(), this.#delayMs);
  }

  #flush(): void {
    this.#timer = undefined;
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const run of waiting) run();
  }
}

/** The process-wide coalescer every {@linkcode Outbox} uses unless told otherwise. */
const processCoalescer = new WriteCoalescer();

/** Where an {@linkcode Outbox} writes: one connection, as its door sees it. */
export interface ByteSink {
  /** Writes some of `bytes`; resolves with how many were written (`Deno.Conn.write`). Rejects when the peer is gone. */
  write(bytes: Uint8Array): Promise<number>;
  /** Ends the connection. `graceful`: everything queued was written (a close handshake may follow). */
  end(graceful: boolean): void;
}

/** Options of {@linkcode Outbox}. */
export interface OutboxOptions {
  /** The connection. */
  readonly sink: ByteSink;
  /** Unread bytes allowed before the slow-reader rule applies (`--max-queue`). */
  readonly max: number;
  /** Where the outbox reports being backed up (the hub's admission control). */
  readonly load: LoadGauge;
  /**
   * Runs once, when closing starts, whatever the cause (a close, a slow reader, a failed write, the peer gone):
   * the hub can let the member go at once, without waiting for a drain a slow reader may never allow.
   */
  readonly onClose: (reason: CloseReason) => void;
  /** The last bytes to send when closing for `reason` (a WebSocket close frame); none for line dialects. */
  readonly farewell?: (reason: CloseReason) => Uint8Array | undefined;
  /** How long a closing connection may take to drain what is queued (milliseconds; default 1000). */
  readonly drainMs?: number;
  /** Write coalescing under load (tests); the process-wide one by default. */
  readonly coalescer?: WriteCoalescer;
}

/**
 * One connection's outbound bytes: a queue bounded by the slow-reader rule, drained by one writer that sends
 * everything queued in one write (a burst costs one syscall, not one per frame), and a close that lets the
 * queue drain first (bounded in time), except for a slow reader, whose queue is what it is dropped for.
 */
export class Outbox {
  readonly #sink: ByteSink;
  readonly #max: number;
  readonly #onClose: (reason: CloseReason) => void;
  readonly #farewell: ((reason: CloseReason) => Uint8Array | undefined) | undefined;
  readonly #drainMs: number;
  readonly #clock: BacklogClock;
  readonly #coalescer: WriteCoalescer;
  #queue: Uint8Array[] = [];
  #queued = 0;
  /** Bytes of the write in progress. */
  #writing = 0;
  /** When the oldest byte in `#queue` was queued, and the oldest byte of the write in progress. */
  #queuedAt: number | undefined;
  #writingAt: number | undefined;
  /** Created when the queue first passes its bound: most connections never need one. */
  #guard: SlowReaderGuard | null = null;
  #closing: CloseReason | null = null;
  #deadline: ReturnType<typeof setTimeout> | undefined;
  #ended = false;
  /** A write is waiting on the coalescer. */
  #scheduled = false;
  readonly #start = () => {
    this.#scheduled = false;
    if (this.#writing === 0) void this.#drain();
  };

  /** Creates an empty outbox. */
  constructor(options: OutboxOptions) {
    this.#sink = options.sink;
    this.#max = options.max;
    this.#onClose = options.onClose;
    this.#farewell = options.farewell;
    this.#drainMs = options.drainMs ?? 1000;
    this.#clock = new BacklogClock(options.load);
    this.#coalescer = options.coalescer ?? processCoalescer;
  }

  /** Unread bytes: queued plus the write in progress. */
  get queued(): number {
    return this.#queued + this.#writing;
  }

  /** Fraction of the bound in use (typing is shed above 0.5). */
  pressure(): number {
    return this.queued / this.#max;
  }

  /** Why the connection is closing or closed; `null` while open. */
  get closing(): CloseReason | null {
    return this.#closing;
  }

  /** Queues bytes; never blocks. Ignored once closing. */
  push(bytes: Uint8Array): void {
    if (this.#closing !== null) return;
    this.#enqueue(bytes);
    if (this.queued > this.#max) {
      this.#guard ??= new SlowReaderGuard({
        max: this.#max,
        queued: () => this.queued,
        trip: () => this.close("slow-reader"),
      });
      this.#guard.poke();
    }
  }

  /**
   * Marks the connection backed up or not in the load gauge, by the age of its oldest unwritten byte. Called
   * after each write and by the door's sweep (a write that never completes is a backlog too), never per frame.
   */
  sweep(now: number): void {
    this.#clock.update(this.#writingAt ?? this.#queuedAt, now);
  }

  /**
   * Closes after what is queued and the farewell (`last`, or the one for `reason`) have been written, within
   * the drain deadline. A slow reader's queue is dropped at once; its farewell still waits a while behind the
   * write in progress (a client that wakes up and reads learns why it was dropped), a line dialect is cut.
   */
  close(reason: CloseReason, last: Uint8Array | undefined = this.#farewell?.(reason)): void {
    if (this.#closing !== null) return;
    this.#closing = reason;
    this.#guard?.dispose();
    this.#onClose(reason);
    if (reason === "slow-reader") {
      this.#queue = [];
      this.#queued = 0;
      this.#queuedAt = undefined;
      if (last === undefined) return this.#end(false);
    }
    if (last !== undefined) this.#enqueue(last);
    if (this.#writing === 0 && this.#queued === 0) return this.#end(true);
    const wait = reason === "slow-reader" ? Math.max(this.#drainMs, SLOW_READER_LINGER_MS) : this.#drainMs;
    this.#deadline = setTimeout(() => this.#end(false), wait);
  }

  /** The peer is gone (or the read side failed): end now, dropping what is queued. */
  abort(reason: CloseReason): void {
    if (this.#closing === null) {
      this.#closing = reason;
      this.#onClose(reason);
    }
    this.#end(false);
  }

  #enqueue(bytes: Uint8Array): void {
    if (this.#queued === 0) this.#queuedAt = performance.now();
    this.#queue.push(bytes);
    this.#queued += bytes.length;
    this.#coalescer.note();
    if (this.#writing === 0 && !this.#scheduled) {
      this.#scheduled = true;
      this.#coalescer.start(this.#start);
    }
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queued > 0 && !this.#ended) {
        // Everything queued goes out in one write: fewer syscalls under load.
        const chunk = this.#queue.length === 1 ? this.#queue[0]! : concat(this.#queue, this.#queued);
        this.#queue = [];
        this.#writing = chunk.length;
        this.#queued = 0;
        this.#writingAt = this.#queuedAt;
        this.#queuedAt = undefined;
        let offset = 0;
        while (offset < chunk.length) {
          offset += await this.#sink.write(offset === 0 ? chunk : chunk.subarray(offset));
          this.#writing = chunk.length - offset;
        }
        this.#writing = 0;
        this.#writingAt = undefined;
        this.#clock.update(this.#queuedAt);
      }
    } catch {
      // The peer is gone; the read side will notice too.
      this.#writing = 0;
      return this.abort("protocol");
    }
    if (this.#closing !== null && this.#queued === 0) this.#end(true);
  }

  #end(graceful: boolean): void {
    if (this.#ended) return;
    this.#ended = true;
    clearTimeout(this.#deadline);
    this.#guard?.dispose();
    this.#clock.close();
    this.#queue = [];
    this.#queued = 0;
    this.#sink.end(graceful);
  }
}

/** Joins byte chunks into one array of `length` bytes. */
export function concat(chunks: readonly Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}
