/**
 * The WebSocket side of a hub session, shared by every WebSocket dialect.
 *
 * Deno's `send()` never blocks and buffers without limit, and a server WebSocket cannot be aborted: whatever
 * Deno holds for a peer that never reads stays in memory until the peer reads, even after `close()` (the
 * close frame queues behind it). So a session hands Deno at most a low-water mark of bytes and keeps the
 * rest in its own queue, which a {@linkcode FramePump} moves on as Deno drains. The shared slow-reader rule
 * (`hub/backpressure.ts`) bounds queue plus Deno's buffer; dropping a reader frees its queue at once.
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { CloseReason, Codec, Frame, Session } from "../model.ts";
import { newConnectionId } from "../model.ts";
import { BacklogClock, type LoadGauge, SlowReaderGuard } from "../hub/backpressure.ts";

const log = getLogger(["hubbub", "ws"]);

/** Close codes and reasons sent for each {@linkcode CloseReason}. */
const CLOSE: Record<CloseReason, readonly [number, string]> = {
  quit: [1000, "bye"],
  idle: [1000, "idle timeout"],
  "slow-reader": [1008, "slow reader: too much unread data"],
  shutdown: [1001, "server shutting down"],
  "login-timeout": [1008, "no handshake in time"],
  protocol: [1008, "protocol error"],
  "too-large": [1009, "frame too large"],
  flood: [1008, "flooding: too many messages for too long"],
};

/** Options of {@linkcode WsSession}. */
export interface WsSessionOptions {
  /** The dialect's codec to start with. */
  readonly codec: Codec;
  /** Unread bytes tolerated before the reader is dropped. */
  readonly maxQueueBytes: number;
  /**
   * Called once, when the session closes (by us or by the peer). A slow reader's close handshake may never
   * finish, so the hub must not wait for the socket's own close event to let the member go.
   */
  readonly onClose: () => void;
  /** Moves queued frames on as Deno drains; one per door. */
  readonly pump: FramePump;
  /** Where the session reports being backed up (the hub's admission control). */
  readonly load: LoadGauge;
}

/**
 * Bytes handed to Deno per socket before frames wait in the session's queue. Small, because a dropped
 * reader pins what Deno holds; large enough that a reader keeping up never waits on the pump.
 */
const LOW_WATER = 16 * 1024;
/** How often backed-up sessions are offered to Deno again (milliseconds). */
const PUMP_MS = 2;

/**
 * Offers the queued frames of backed-up sessions to Deno, every couple of milliseconds while any has some.
 * Deno has no "drained" event for WebSockets, so draining is polled, and one timer polls them all.
 */
export class FramePump {
  readonly #waiting = new Set<WsSession>();
  #timer: ReturnType<typeof setInterval> | undefined;

  /** Polls `session` until its queue is empty. */
  add(session: WsSession): void {
    this.#waiting.add(session);
    this.#timer ??= setInterval(() => this.#tick(), PUMP_MS);
  }

  /** Stops polling `session`. */
  delete(session: WsSession): void {
    this.#waiting.delete(session);
  }

  /** Sessions with frames waiting. */
  get size(): number {
    return this.#waiting.size;
  }

  #tick(): void {
    for (const session of this.#waiting) session.pump();
    if (this.#waiting.size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }
}

/** A hub session over a server-side WebSocket. */
export class WsSession implements Session {
  readonly id: string = newConnectionId();
  /** The dialect; GoBanter switches it once the first frame shows its shape. */
  codec: Codec;
  readonly #socket: WebSocket;
  readonly #max: number;
  readonly #lowWater: number;
  /** Created when the queue first nears its bound: most sessions never need one. */
  #guard: SlowReaderGuard | null = null;
  readonly #clock: BacklogClock;
  readonly #pump: FramePump;
  readonly #onClose: () => void;
  #ended = false;
  #closed = false;
  /**
   * Bytes Deno may still take before `bufferedAmount` must be asked again: reading it is an op call, so it
   * is read once per low-water mark's worth of frames, not once per frame.
   */
  #credit = 0;
  /** Frames waiting for Deno, from `#head` on, with when each was queued. */
  #queue: Frame[] = [];
  #times: number[] = [];
  #head = 0;
  #queuedBytes = 0;
  /** Why the session was closed, once it is. */
  closeReason: CloseReason | null = null;

  /** Wraps an upgraded socket. */
  constructor(socket: WebSocket, options: WsSessionOptions) {
    this.#socket = socket;
    this.codec = options.codec;
    this.#max = options.maxQueueBytes;
    // A tiny --max-queue must still be enforceable with frames in Deno's hands.
    this.#lowWater = Math.max(1, Math.min(LOW_WATER, Math.floor(options.maxQueueBytes / 4)));
    this.#pump = options.pump;
    this.#clock = new BacklogClock(options.load);
    this.#onClose = options.onClose;
    socket.addEventListener("close", () => this.#end());
  }

  /** {@inheritDoc Session.send} */
  send(frame: Frame): void {
    if (this.#closed || this.#socket.readyState !== WebSocket.OPEN) return;
    if (this.#head === this.#queue.length && this.#room(frame.length)) return this.#write(frame);
    const now = performance.now();
    if (this.#head === this.#queue.length) this.#pump.add(this);
    this.#queue.push(frame);
    this.#times.push(now);
    // A string's UTF-16 length is near enough its UTF-8 size for a bound.
    this.#queuedBytes += frame.length;
    this.#clock.update(this.#times[this.#head], now);
    if (this.#queuedBytes > this.#max - this.#lowWater) {
      this.#guard ??= new SlowReaderGuard({
        max: this.#max,
        queued: () => this.queued(),
        trip: () => {
          log.warn("slow reader dropped", { conn: this.id, queued: this.queued() });
          this.close("slow-reader");
        },
      });
      this.#guard.poke();
    }
  }

  /** Hands Deno queued frames while it holds less than the low-water mark; the pump calls it. */
  pump(): void {
    if (this.#closed || this.#socket.readyState !== WebSocket.OPEN) return this.#clear();
    while (this.#head < this.#queue.length && this.#room(this.#queue[this.#head]!.length)) {
      const frame = this.#queue[this.#head]!;
      this.#queue[this.#head++] = "";
      this.#queuedBytes -= frame.length;
      this.#write(frame);
    }
    if (this.#head === this.#queue.length) return this.#clear();
    if (this.#head >= 1024) {
      // Compacted now and then rather than shifted per frame.
      this.#queue = this.#queue.slice(this.#head);
      this.#times = this.#times.slice(this.#head);
      this.#head = 0;
    }
    this.#clock.update(this.#times[this.#head]);
  }

  /** Whether Deno may take `bytes` more now; a frame always goes when Deno holds nothing. */
  #room(bytes: number): boolean {
    if (this.#credit >= bytes) return true;
    const buffered = this.#socket.bufferedAmount;
    this.#credit = this.#lowWater - buffered;
    return this.#credit >= bytes || buffered === 0;
  }

  #write(frame: Frame): void {
    this.#credit -= frame.length;
    // WebSocket dialects encode text; bytes (a line-dialect frame) would go out as a binary frame.
    this.#socket.send(typeof frame === "string" ? frame : frame.slice());
  }

  #clear(): void {
    this.#queue = [];
    this.#times = [];
    this.#head = 0;
    this.#queuedBytes = 0;
    this.#pump.delete(this);
    this.#clock.update(undefined);
  }

  /** {@inheritDoc Session.pressure} */
  pressure(): number {
    return this.queued() / this.#max;
  }

  /** {@inheritDoc Session.queued} */
  queued(): number {
    return this.#queuedBytes + this.#socket.bufferedAmount;
  }

  /** {@inheritDoc Session.close} */
  close(reason: CloseReason): void {
    if (this.#closed) return;
    this.#closed = true;
    this.closeReason = reason;
    this.#guard?.dispose();
    // A slow reader's queue is what it is being dropped for; anyone else gets what was queued, then the close
    // frame (both bounded by --max-queue).
    if (reason !== "slow-reader" && this.#socket.readyState === WebSocket.OPEN) {
      for (let i = this.#head; i < this.#queue.length; i++) this.#write(this.#queue[i]!);
    }
    this.#clear();
    const [code, text] = CLOSE[reason];
    try {
      this.#socket.close(code, text);
    } catch {
      // Already closing.
    }
    this.#end();
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#closed = true;
    this.#guard?.dispose();
    this.#clear();
    this.#clock.close();
    this.#onClose();
  }
}

/** Whether a frame is over `max` bytes, encoding a text frame only when its length leaves doubt. */
export function tooLarge(data: string | ArrayBuffer, max: number): boolean {
  if (typeof data !== "string") return data.byteLength > max;
  // A UTF-16 code unit is 1 to 3 UTF-8 bytes.
  if (data.length > max) return true;
  if (data.length * 3 <= max) return false;
  return new TextEncoder().encode(data).length > max;
}
