/**
 * The WebSocket side of a hub session, shared by every WebSocket dialect.
 *
 * Deno's `send()` never blocks and buffers without limit, so the bound is enforced on `bufferedAmount`
 * by the shared slow-reader rule (`hub/backpressure.ts`): a reader that stays over it is closed with 1008.
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { CloseReason, Codec, Frame, Session } from "../model.ts";
import { newConnectionId } from "../model.ts";
import { SlowReaderGuard } from "../hub/backpressure.ts";

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
}

/** A hub session over a server-side WebSocket. */
export class WsSession implements Session {
  readonly id: string = newConnectionId();
  /** The dialect; GoBanter switches it once the first frame shows its shape. */
  codec: Codec;
  readonly #socket: WebSocket;
  readonly #max: number;
  readonly #guard: SlowReaderGuard;
  readonly #onClose: () => void;
  #ended = false;
  #closed = false;
  /** Why the session was closed, once it is. */
  closeReason: CloseReason | null = null;

  /** Wraps an upgraded socket. */
  constructor(socket: WebSocket, options: WsSessionOptions) {
    this.#socket = socket;
    this.codec = options.codec;
    this.#max = options.maxQueueBytes;
    this.#onClose = options.onClose;
    socket.addEventListener("close", () => this.#end());
    this.#guard = new SlowReaderGuard({
      max: options.maxQueueBytes,
      queued: () => this.#socket.bufferedAmount,
      trip: () => {
        log.warn("slow reader dropped", { conn: this.id, buffered: this.#socket.bufferedAmount });
        this.close("slow-reader");
      },
    });
  }

  /** {@inheritDoc Session.send} */
  send(frame: Frame): void {
    if (this.#closed || this.#socket.readyState !== WebSocket.OPEN) return;
    // WebSocket dialects encode text; bytes (a line-dialect frame) would go out as a binary frame.
    this.#socket.send(typeof frame === "string" ? frame : frame.slice());
    if (this.#socket.bufferedAmount > this.#max) this.#guard.poke();
  }

  /** {@inheritDoc Session.pressure} */
  pressure(): number {
    return this.#socket.bufferedAmount / this.#max;
  }

  /** {@inheritDoc Session.queued} */
  queued(): number {
    return this.#socket.bufferedAmount;
  }

  /** {@inheritDoc Session.close} */
  close(reason: CloseReason): void {
    if (this.#closed) return;
    this.#closed = true;
    this.closeReason = reason;
    this.#guard.dispose();
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
    this.#guard.dispose();
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
