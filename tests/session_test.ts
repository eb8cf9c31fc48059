/**
 * The outbound queue every door shares ({@linkcode Outbox}) and the WebSocket session over it, against a
 * scripted socket: what is written and when, what a slow reader's drop frees, how waiting bytes mark the
 * session in the hub's load gauge, and how a close drains.
 */

import assert from "node:assert/strict";
import { type ByteSink, LoadGauge, Outbox, WriteCoalescer } from "../src/hub/backpressure.ts";
import type { CloseReason } from "../src/model.ts";
import { WsSession } from "../src/ws/session.ts";
import { FrameReader } from "../src/ws/frames.ts";
import { delay, eventually } from "./_helpers.ts";

/** A socket whose writes complete only when the test lets the peer read (`drain`). */
class ScriptedSink implements ByteSink {
  readonly writes: Uint8Array[] = [];
  ended: boolean | null = null;
  #pending: (() => void)[] = [];
  failNext = false;

  write(bytes: Uint8Array): Promise<number> {
    if (this.failNext) return Promise.reject(new Error("Broken pipe"));
    this.writes.push(bytes.slice());
    return new Promise((resolve) => this.#pending.push(() => resolve(bytes.length)));
  }
  end(graceful: boolean): void {
    this.ended = graceful;
  }
  /** The peer reads everything written so far. */
  drain(): void {
    const pending = this.#pending;
    this.#pending = [];
    for (const done of pending) done();
  }
  get bytes(): number {
    return this.writes.reduce((n, w) => n + w.length, 0);
  }
}

function outbox(max = 1024 * 1024) {
  const sink = new ScriptedSink();
  const load = new LoadGauge();
  const ends: CloseReason[] = [];
  const box = new Outbox({
    sink,
    max,
    load,
    onClose: (reason) => ends.push(reason),
    farewell: (reason) => reason === "slow-reader" ? bytes(2, 0x88) : undefined,
    drainMs: 100,
    // Its own: a storm in one test must not make the next one's first write wait.
    coalescer: new WriteCoalescer(),
  });
  return { sink, load, box, ends };
}

const bytes = (n: number, fill = 0x61) => new Uint8Array(n).fill(fill);

Deno.test("Outbox: the first bytes go at once; what queues behind a write goes in one write, in order", async () => {
  const { sink, box } = outbox();
  box.push(bytes(10, 1));
  assert.equal(sink.writes.length, 1);
  for (let i = 2; i <= 40; i++) box.push(bytes(100, i));
  assert.equal(sink.writes.length, 1, "nothing more is written while a write is in progress");
  assert.equal(box.queued, 10 + 39 * 100);
  sink.drain();
  await eventually(() => sink.writes.length === 2, "the queue goes out in one write");
  assert.equal(sink.writes[1]!.length, 39 * 100);
  assert.deepEqual([...new Set(sink.writes[1]!)], Array.from({ length: 39 }, (_, i) => i + 2), "in order");
  sink.drain();
  await eventually(() => box.queued === 0, "drained");
  box.close("quit");
  assert.equal(sink.ended, true, "an empty queue closes gracefully at once");
});

Deno.test("Outbox: a reader over 4x its bound is dropped at once, its queue freed, onClose once", async () => {
  const { sink, box, ends } = outbox(64 * 1024);
  let i = 0;
  while (!box.closing && i < 1000) {
    box.push(bytes(4000));
    i++;
  }
  assert.ok(i * 4000 > 4 * 64 * 1024 && i * 4000 < 5 * 64 * 1024, `dropped after ${i} frames`);
  // Only the write in progress is still counted; the queue is gone.
  assert.ok(box.queued <= 4000 + 2, `${box.queued} bytes still counted`);
  box.push(bytes(10));
  assert.ok(box.queued <= 4000 + 2, "nothing is queued once closing");
  await delay(20);
  assert.equal(
    sink.ended,
    null,
    "the socket stays a moment, for what is queued behind the write in progress",
  );
  sink.drain();

  await eventually(() => sink.writes.length === 2, "only the farewell follows the write in progress");
  assert.deepEqual([...sink.writes[1]!], [0x88, 0x88], "nothing of the dropped queue is written");
  sink.drain();
  await eventually(() => sink.ended !== null, "then the socket ends");
  assert.deepEqual(ends, ["slow-reader"]);
  box.abort("quit");
  assert.deepEqual(ends, ["slow-reader"], "onClose runs once");
});

Deno.test("Outbox: any other close writes everything queued, then the last bytes, then ends gracefully", async () => {
  const { sink, box, ends } = outbox();
  for (let i = 0; i < 30; i++) box.push(bytes(1000));
  box.close("shutdown", bytes(4, 0x88));
  box.push(bytes(5));
  assert.equal(sink.ended, null, "waits for the queue");
  sink.drain();
  await eventually(() => sink.writes.length === 2, "the rest in one write");
  assert.equal(
    sink.writes[1]!.length,
    29 * 1000 + 4,
    "the queue and the close bytes; nothing pushed after close",
  );
  assert.equal(sink.writes[1]!.at(-1), 0x88);
  sink.drain();
  await eventually(() => sink.ended !== null, "ends once written");
  assert.equal(sink.ended, true);
  assert.deepEqual(ends, ["shutdown"]);
});

Deno.test("Outbox: bytes waiting over 250 ms mark the session backed up until the queue drains", async () => {
  const { sink, load, box } = outbox();
  for (let i = 0; i < 30; i++) box.push(bytes(1000));
  box.sweep(performance.now());
  assert.deepEqual(load.counts, { sessions: 1, backedUp: 0 });
  box.sweep(performance.now() + 300);
  assert.deepEqual(load.counts, { sessions: 1, backedUp: 1 }, "the door's sweep marks an old write");
  assert.equal(load.overloaded(), true, "one session of one");
  sink.drain();
  await delay(0);
  sink.drain();
  await eventually(() => load.counts.backedUp === 0, "drained: no longer backed up");
  box.close("quit");
  assert.deepEqual(load.counts, { sessions: 0, backedUp: 0 });
});

Deno.test("Outbox: a failed write ends the connection at once and drops the queue", async () => {
  const { sink, box, ends } = outbox();
  sink.failNext = true;
  box.push(bytes(10));
  await eventually(() => sink.ended !== null, "ended");
  assert.equal(sink.ended, false);
  assert.deepEqual(ends, ["protocol"]);
  assert.equal(box.queued, 0);
});

Deno.test("WriteCoalescer: in a storm, idle connections wait a moment and write the next frames at once, in order", async () => {
  const coalescer = new WriteCoalescer({ above: 1000, below: 500, delayMs: 20 });
  const make = () => {
    const sink = new ScriptedSink();
    const box = new Outbox({ sink, max: 1 << 20, load: new LoadGauge(), onClose: () => {}, coalescer });
    return { sink, box };
  };
  const storm = make();
  for (let i = 0; i < 300; i++) storm.box.push(bytes(10));
  assert.equal(coalescer.coalescing, true, "300 deliveries in no time are a storm");

  const idle = Array.from({ length: 50 }, make);
  for (let frame = 1; frame <= 5; frame++) for (const { box } of idle) box.push(bytes(10, frame));
  assert.ok(idle.every(({ sink }) => sink.writes.length === 0), "idle connections wait instead of writing");
  await eventually(() => idle.every(({ sink }) => sink.writes.length === 1), "then each writes once");
  for (const { sink } of idle) {
    assert.deepEqual(
      [...new Set(sink.writes[0]!)],
      [1, 2, 3, 4, 5],
      "the five frames, in order, in one write",
    );
  }

  await delay(150);
  const calm = make();
  calm.box.push(bytes(10));
  assert.equal(calm.sink.writes.length, 1, "after a quiet moment the first bytes go at once again");
  assert.equal(coalescer.coalescing, false);
});

Deno.test("WsSession: text is framed; close sends the close frame with the reason's code after the queue", async () => {
  const sink = new ScriptedSink();
  const closes: CloseReason[] = [];
  const session = new WsSession({
    codec: { name: "test", echo: new Set(), encode: () => null },
    maxQueueBytes: 1024,
    sink,
    load: new LoadGauge(),
    onClose: (reason) => closes.push(reason),
  });
  session.send("hello");
  session.close("idle");
  assert.deepEqual(closes, ["idle"], "the hub hears of it at once");
  sink.drain();
  await eventually(() => sink.writes.length === 2, "the close frame follows the queue");
  sink.drain();
  await eventually(() => sink.ended !== null, "ends after the close frame");
  assert.equal(sink.ended, true);
  const frames: string[] = [];
  let closed: [number, string] | null = null;
  // Server frames are unmasked; mask them (with a zero key) to read them with the client-frame reader.
  const reader = new FrameReader({ maxMessage: 1024 });
  for (const frame of sink.writes) {
    const masked = new Uint8Array(frame.length + 4);
    masked[0] = frame[0]!;
    masked[1] = frame[1]! | 0x80;
    masked.set(frame.subarray(2), 6);
    reader.push(masked, {
      text: (t) => frames.push(t),
      binary: () => {},
      ping: () => {},
      pong: () => {},
      close: (code, reason) => closed = [code, reason],
      error: (code, reason) => assert.fail(`${code} ${reason}`),
    });
  }
  assert.deepEqual(frames, ["hello"]);
  assert.deepEqual(closed, [1000, "idle timeout"]);
  assert.deepEqual(closes, ["idle"], "onClose runs once");
});
