/** The read buffer every line connection reads through: small while idle, big while busy, small again. */

import assert from "node:assert/strict";
import { BUSY_READ_SIZE, QUIET_READS, READ_SIZE, ReadBuffer } from "../src/net/read_buffer.ts";

/** A source that hands out scripted reads of `n` bytes (each byte its read's number), then ends. */
function source(sizes: readonly number[]) {
  const offered: number[] = [];
  let i = 0;
  return {
    offered,
    read(buffer: Uint8Array): Promise<number | null> {
      offered.push(buffer.length);
      if (i >= sizes.length) return Promise.resolve(null);
      const n = Math.min(sizes[i]!, buffer.length);
      buffer.fill(i++ % 256, 0, n);
      return Promise.resolve(n);
    },
  };
}

async function drain(reads: ReadBuffer, from: ReturnType<typeof source>): Promise<Uint8Array[]> {
  const got: Uint8Array[] = [];
  for (let bytes = await reads.read(from); bytes !== null; bytes = await reads.read(from)) got.push(bytes);
  return got;
}

Deno.test("ReadBuffer: an idle connection reads through the small buffer; one that fills it gets the big one", async () => {
  const reads = new ReadBuffer();
  assert.equal(reads.size, READ_SIZE);
  const from = source([10, 20, READ_SIZE, 300, 5]);
  const got = await drain(reads, from);
  assert.deepEqual(got.map((b) => b.length), [10, 20, READ_SIZE, 300, 5]);
  assert.deepEqual(from.offered, [
    READ_SIZE,
    READ_SIZE,
    READ_SIZE,
    BUSY_READ_SIZE,
    BUSY_READ_SIZE,
    BUSY_READ_SIZE,
  ]);
  // Each read's bytes are its own: a swapped buffer leaves the earlier bytes as they were.
  assert.ok(got[2]!.every((b) => b === 2));
});

Deno.test("ReadBuffer: the big buffer goes back after QUIET_READS small reads in a row; a big read restarts the count", async () => {
  const reads = new ReadBuffer();
  const quiet = Array(QUIET_READS - 1).fill(1);
  const from = source([READ_SIZE, ...quiet, 1000, ...quiet, 1]);
  await drain(reads, from);
  // One busy read, 63 quiet ones, a big one (the count starts again), 63 quiet ones and the 64th: small again.
  assert.equal(from.offered.at(-2), BUSY_READ_SIZE);
  assert.equal(from.offered.at(-1), READ_SIZE);
  assert.equal(from.offered.filter((size) => size === READ_SIZE).length, 2);
});

Deno.test("ReadBuffer: a connection busy again keeps the big buffer for QUIET_READS small reads, as the first time", async () => {
  const reads = new ReadBuffer();
  const quiet = Array(QUIET_READS).fill(1);
  // Busy, quiet (back to small), busy again, then a few small reads: the big buffer must stay for them.
  const from = source([READ_SIZE, ...quiet, READ_SIZE, 1, 1, 1]);
  await drain(reads, from);
  const second = from.offered.lastIndexOf(READ_SIZE, -5);
  assert.deepEqual(from.offered.slice(second + 1), [
    BUSY_READ_SIZE,
    BUSY_READ_SIZE,
    BUSY_READ_SIZE,
    BUSY_READ_SIZE,
  ]);
});
