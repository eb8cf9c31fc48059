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
