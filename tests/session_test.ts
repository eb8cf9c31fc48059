/**
 * The WebSocket session's outbound queue, against a scripted socket: what Deno is handed, what waits, what a
 * slow reader's drop frees, and how waiting frames mark the session in the hub's load gauge.
 */

import assert from "node:assert/strict";
import { FramePump, WsSession } from "../src/ws/session.ts";
import { LoadGauge } from "../src/hub/backpressure.ts";
import type { Codec } from "../src/model.ts";
import { delay, eventually } from "./_helpers.ts";

const codec = { name: "test" } as unknown as Codec;

/** The parts of a server WebSocket a session uses; `drain()` plays a peer that reads. */
class ScriptedSocket {
  readyState: number = WebSocket.OPEN;
  sent: string[] = [];
  closed: [number, string] | null = null;
  bufferedReads = 0;
  #buffered = 0;
  #onClose: (() => void) | null = null;

  get bufferedAmount(): number {
    this.bufferedReads++;
    return this.#buffered;
  }
  send(frame: string): void {
    this.sent.push(frame);
    this.#buffered += frame.length;
  }
  close(code: number, reason: string): void {
    this.closed = [code, reason];
    this.readyState = WebSocket.CLOSING;
  }
  addEventListener(_type: "close", listener: () => void): void {
    this.#onClose = listener;
  }
  drain(): void {
    this.#buffered = 0;
  }
  peerClosed(): void {
    this.readyState = WebSocket.CLOSED;
    this.#onClose?.();
  }
}

function open(maxQueueBytes = 1024 * 1024) {
  const socket = new ScriptedSocket();
  const pump = new FramePump();
  const load = new LoadGauge();
  let closes = 0;
  const session = new WsSession(socket as unknown as WebSocket, {
    codec,
    maxQueueBytes,
    pump,
    load,
    onClose: () => closes++,
  });
  return { socket, pump, load, session, closes: () => closes };
}

Deno.test("WsSession hands the socket at most the low-water mark and queues the rest, in order", async () => {
  const { socket, pump, session } = open();
  const frame = "x".repeat(1000);
  for (let i = 0; i < 40; i++) session.send(`${i} ${frame}`);
  // 16 KiB low water: the 16 frames of ~1 KB that fit under it go out, the rest wait.
  assert.equal(socket.sent.length, 16);
  assert.ok(socket.bufferedReads <= 3, `bufferedAmount read ${socket.bufferedReads} times for 40 sends`);
  assert.equal(pump.size, 1);
  assert.ok(session.queued() > 40 * 1000);

  await delay(20);
  assert.equal(socket.sent.length, 16, "nothing moves while the peer reads nothing");
  socket.drain();
  await eventually(() => socket.sent.length === 32, "the pump moves the next low-water mark's worth");
  socket.drain();
  await eventually(() => socket.sent.length === 40, "the rest");
  assert.deepEqual(socket.sent.map((f) => Number(f.split(" ")[0])), Array.from({ length: 40 }, (_, i) => i));
  await eventually(() => pump.size === 0, "the pump lets the session go once its queue is empty");
  socket.drain();
  session.send("direct");
  assert.equal(socket.sent.at(-1), "direct");
  session.close("quit");
});

Deno.test("WsSession: a reader over 4x its bound is dropped at once and its queue is freed", async () => {
  const { socket, pump, session, closes } = open(64 * 1024);
  const frame = "y".repeat(4000);
  let i = 0;
  while (session.closeReason === null && i < 1000) session.send(`${i++} ${frame}`);
  assert.equal(session.closeReason, "slow-reader");
  assert.deepEqual(socket.closed, [1008, "slow reader: too much unread data"]);
  assert.ok(i * 4000 > 4 * 64 * 1024 && i * 4000 < 5 * 64 * 1024, `dropped after ${i} frames`);
  // Only what the socket itself holds is left: a quarter of the bound, not the queue.
  assert.ok(session.queued() <= 64 * 1024 / 4 + 4100, `${session.queued()} bytes still counted`);
  const sent = socket.sent.length;
  session.send("after");
  assert.equal(socket.sent.length, sent);
  assert.equal(closes(), 1);
  socket.peerClosed();
  assert.equal(closes(), 1, "onClose runs once");
  await eventually(() => pump.size === 0, "the pump forgets the session");
});

Deno.test("WsSession: any other close hands the socket everything queued, then the close frame", async () => {
  const { socket, pump, session } = open();
  for (let i = 0; i < 30; i++) session.send(`${i} ${"z".repeat(1000)}`);
  assert.ok(socket.sent.length < 30);
  session.close("shutdown");
  assert.equal(socket.sent.length, 30);
  assert.deepEqual(socket.closed, [1001, "server shutting down"]);
  await eventually(() => pump.size === 0, "the pump forgets the session");
});

Deno.test("WsSession: a frame waiting over 250 ms marks the session backed up until the queue drains", async () => {
  const { socket, load, session } = open();
  for (let i = 0; i < 30; i++) session.send(`${i} ${"w".repeat(1000)}`);
  assert.deepEqual(load.counts, { sessions: 1, backedUp: 0 });
  await eventually(
    () => load.counts.backedUp === 1,
    "the pump marks the session once its oldest frame is old",
  );
  assert.equal(load.overloaded(), true, "one session of one");
  socket.drain();
  await eventually(() => load.counts.backedUp === 0, "drained: no longer backed up");
  session.close("quit");
  assert.deepEqual(load.counts, { sessions: 0, backedUp: 0 });
  await delay(10);
});
