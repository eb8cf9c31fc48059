/**
 * The slow-reader rule every door shares.
 *
 * A session may have at most `max` unread bytes queued. A healthy reader can pass that briefly (a burst
 * fanned out in one tick is queued before the first write completes), so passing it starts a grace period;
 * a reader still over the bound when the grace period ends is dropped. Passing `4 × max` drops it at once,
 * so no reader ever holds more than that.
 * @module
 */

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
