/**
 * Fan-out: handing one event to many connections, encoded once per codec, never once per recipient.
 * @module
 */

import type { ChatEvent, Codec, Frame } from "../model.ts";
import { roomKey } from "../names.ts";
import type { Client } from "./rooms.ts";

/** Frames already encoded for one event, by codec; shared by the slices of one big fan-out. */
export type FrameCache = Map<Codec, Frame | null>;

/**
 * Hands `event` to each target in its dialect; returns how many frames went out. `origin` (a connection id)
 * skips the sender where its dialect does not echo that kind of event. Messages for a room a target is being
 * replayed history of are held back for it (see `Hub.join` with `replay`).
 */
export function fanout(
  targets: Iterable<Client>,
  event: ChatEvent,
  origin: string | null,
  cache?: FrameCache,
): number {
  // A room of 1000 in three dialects costs three encodings; consecutive targets of one codec cost a compare.
  let lastCodec: Codec | undefined;
  let lastFrame: Frame | null = null;
  let sent = 0;
  for (const client of targets) {
    const codec = client.session.codec;
    if (origin !== null && client.session.id === origin && !codec.echo.has(event.kind)) continue;
    if (client.held !== null && event.kind === "message") {
      const held = client.held.get(roomKey(event.message.room));
      if (held) {
        held.push(event);
        continue;
      }
    }
    let frame: Frame | null | undefined;
    if (codec === lastCodec) frame = lastFrame;
    else {
      frame = cache?.get(codec);
      if (frame === undefined) {
        frame = codec.encode(event);
        (cache ??= new Map()).set(codec, frame);
      }
      lastCodec = codec;
      lastFrame = frame;
    }
    if (frame !== null) {
      client.session.send(frame);
      sent++;
    }
  }
  return sent;
}
