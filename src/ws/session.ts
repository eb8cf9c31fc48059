/**
 * The WebSocket side of a hub session, shared by every WebSocket dialect: a thin writer over the
 * {@linkcode Outbox} every door shares, framing text as it goes in.
 *
 * Frames from the hub's fan-out arrive already framed (bytes, built once per dialect per event by
 * {@linkcode wsCodec}); replies to one connection arrive as text and are framed here.
 * @module
 */

import type { ChatEvent, CloseReason, Codec, Frame, Session } from "../model.ts";
import { newConnectionId } from "../model.ts";
import { type ByteSink, type LoadGauge, Outbox } from "../hub/backpressure.ts";
import { CloseCode, closeFrame, frame, Op, textFrame } from "./frames.ts";

/** Close codes and reasons sent for each {@linkcode CloseReason}. */
const CLOSE: Record<CloseReason, readonly [number, string]> = {
  quit: [CloseCode.normal, "bye"],
  idle: [CloseCode.normal, "idle timeout"],
  "slow-reader": [CloseCode.policy, "slow reader: too much unread data"],
  shutdown: [CloseCode.goingAway, "server shutting down"],
  "login-timeout": [CloseCode.policy, "no handshake in time"],
  protocol: [CloseCode.policy, "protocol error"],
  "too-large": [CloseCode.tooBig, "frame too large"],
  flood: [CloseCode.policy, "flooding: too many messages for too long"],
};

/** Options of {@linkcode WsSession}. */
export interface WsSessionOptions {
  /** The dialect's codec to start with. */
  readonly codec: Codec;
  /** Unread bytes tolerated before the reader is dropped. */
  readonly maxQueueBytes: number;
  /** The socket. */
  readonly sink: ByteSink;
  /** Where the session reports being backed up (the hub's admission control). */
  readonly load: LoadGauge;
  /**
   * Called once, when the session starts closing (by us or by the peer): the hub lets the member go at once,
   * without waiting for a close handshake a slow reader may never finish.
   */
  readonly onClose: (reason: CloseReason) => void;
}

/** A hub session over a WebSocket. */
export class WsSession implements Session {
  readonly id: string = newConnectionId();
  /** The dialect; GoBanter switches it once the first frame shows its shape. */
  codec: Codec;
  readonly #outbox: Outbox;

  /** Wraps an upgraded socket. */
  constructor(options: WsSessionOptions) {
    this.codec = options.codec;
    this.#outbox = new Outbox({
      sink: options.sink,
      max: options.maxQueueBytes,
      load: options.load,
      onClose: options.onClose,
      farewell: (reason) => closeFrame(...CLOSE[reason]),
    });
  }

  /** Why the session was closed, once it is. */
  get closeReason(): CloseReason | null {
    return this.#outbox.closing;
  }

  /** {@inheritDoc Session.send} Text is framed here; bytes are whole frames already. */
  send(frame: Frame): void {
    this.#outbox.push(typeof frame === "string" ? textFrame(frame) : frame);
  }

  /** Answers a ping. */
  pong(payload: Uint8Array): void {
    this.#outbox.push(frame(Op.pong, payload));
  }

  /** Sends a ping (the heartbeat). */
  ping(): void {
    this.#outbox.push(frame(Op.ping, new Uint8Array(0)));
  }

  /** {@inheritDoc Session.pressure} */
  pressure(): number {
    return this.#outbox.pressure();
  }

  /** {@inheritDoc Session.queued} */
  queued(): number {
    return this.#outbox.queued;
  }

  /** Marks the session backed up or not (the door's sweep calls it). */
  sweep(now: number): void {
    this.#outbox.sweep(now);
  }

  /**
   * {@inheritDoc Session.close} Sends what is queued, then the close frame (the reason's code, or `code` and
   * `text` for a protocol error).
   */
  close(reason: CloseReason, code?: number, text?: string): void {
    this.#outbox.close(reason, code === undefined ? undefined : closeFrame(code, text ?? ""));
  }

  /** The peer closed or vanished: nothing more can be written. */
  abort(reason: CloseReason): void {
    this.#outbox.abort(reason);
  }
}

/** What a WebSocket dialect's codec says about an event, as text; {@linkcode wsCodec} frames it. */
export interface TextCodec {
  /** Name for logs and metrics. */
  readonly name: string;
  /** Event kinds the originating connection receives back. */
  readonly echo: ReadonlySet<ChatEvent["kind"]>;
  /** The text of the frame for this event, or `null`. */
  render(event: ChatEvent): string | null;
}

/**
 * A hub codec that frames a dialect's text: the fan-out encodes once per codec per event, so each event is
 * rendered, UTF-8 encoded and framed once per dialect, and every recipient's queue gets the same bytes.
 */
export function wsCodec(codec: TextCodec): Codec & TextCodec {
  return {
    name: codec.name,
    echo: codec.echo,
    render: (event) => codec.render(event),
    encode(event) {
      const text = codec.render(event);
      return text === null ? null : textFrame(text);
    },
  };
}
