/**
 * The outbound side of one line connection (TCP, IRC): a hub session that writes lines through the
 * {@linkcode Outbox} every door shares (byte accounting, the slow-reader rule, close after drain).
 * @module
 */

import type { CloseReason, Codec, Frame, Session } from "../../model.ts";
import { newConnectionId } from "../../model.ts";
import { type LoadGauge, Outbox } from "../../hub/backpressure.ts";
import { closeQuietly } from "../accept.ts";
import { line } from "./framer.ts";

/** Options of {@linkcode LineSession}. */
export interface LineSessionOptions {
  /** The codec to start with; the connection's dialect may switch it once sniffed. */
  readonly codec: Codec;
  /** Outbound bytes that may be queued before the connection is dropped as a slow reader. */
  readonly maxQueueBytes: number;
  /** Where the session reports being backed up (the hub's admission control). */
  readonly load: LoadGauge;
  /** Runs once, when closing starts. */
  readonly onClose: (reason: CloseReason) => void;
}

/** The outbound side of one line connection: a thin writer over the {@linkcode Outbox} every door shares. */
export class LineSession implements Session {
  readonly id: string;
  /** The dialect; set once the connection's first bytes show which one it speaks. */
  codec: Codec;
  readonly #outbox: Outbox;

  /** Wraps a connection. */
  constructor(conn: Deno.Conn, options: LineSessionOptions) {
    this.id = newConnectionId();
    this.codec = options.codec;
    this.#outbox = new Outbox({
      sink: { write: (bytes) => conn.write(bytes), end: () => closeQuietly(conn) },
      max: options.maxQueueBytes,
      load: options.load,
      onClose: options.onClose,
    });
  }

  /** {@inheritDoc Session.queued} */
  queued(): number {
    return this.#outbox.queued;
  }

  /**
   * Fits frames to this connection before they are queued (`LineDialect.tailor`); `null`: as they are. Only
   * frames of a subclass of `Uint8Array` (a codec's mark) are fitted: plain ones cost a constructor compare.
   */
  tailor: ((frame: Uint8Array) => Uint8Array | readonly Uint8Array[]) | null = null;

  /** {@inheritDoc Session.send} Text is one line (its `\n` added); bytes go as they are. */
  send(frame: Frame): void {
    const bytes = typeof frame === "string" ? line(frame) : frame;
    if (this.tailor === null || bytes.constructor === Uint8Array) return this.#outbox.push(bytes);
    const fitted = this.tailor(bytes);
    if (fitted instanceof Uint8Array) this.#outbox.push(fitted);
    else for (const part of fitted) if (part.length > 0) this.#outbox.push(part);
  }

  /** Marks the session backed up or not; the door's sweep calls it. */
  sweep(now: number): void {
    this.#outbox.sweep(now);
  }

  /** {@inheritDoc Session.pressure} */
  pressure(): number {
    return this.#outbox.pressure();
  }

  /** Closes after what is queued has been written (at most one second), or at once for a slow reader. */
  close(reason: CloseReason): void {
    this.#outbox.close(reason);
  }
}
