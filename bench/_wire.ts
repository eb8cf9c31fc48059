/**
 * What the load generator needs to speak to a server cheaply: a raw WebSocket client handshake and frame
 * codec on a plain `Deno.TcpConn`, a latency histogram that merges across processes, and `/proc` readers.
 *
 * Raw framing instead of the `WebSocket` class: one read returns every frame that arrived, frames are
 * parsed in place without a `MessageEvent` or a string per frame, and deliveries are recognised by a
 * marker byte, so the generator spends far less CPU per delivery than the server it measures.
 * @module
 */

const encoder = new TextEncoder();

/** The upgrade request of a client WebSocket (fixed key: the server's answer is not checked beyond 101). */
export function upgradeRequest(host: string, port: number, path: string): Uint8Array {
  return encoder.encode(
    `GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      "Sec-WebSocket-Key: aHViYnViLWJlbmNoLWtleQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
  );
}

/** Index just past the `\r\n\r\n` that ends an HTTP head in `buf[0, fill)`, or -1. */
export function headEnd(buf: Uint8Array, fill: number): number {
  for (let i = 3; i < fill; i++) {
    if (buf[i] === 10 && buf[i - 1] === 13 && buf[i - 2] === 10 && buf[i - 3] === 13) return i + 1;
  }
  return -1;
}

/** Whether the HTTP head in `buf` is a `101 Switching Protocols`. */
export function isSwitching(buf: Uint8Array): boolean {
  // "HTTP/1.1 101"
  return buf[9] === 0x31 && buf[10] === 0x30 && buf[11] === 0x31;
}

/** A growable byte buffer for building outgoing frames without a string per frame. */
export class Out {
  buf: Uint8Array;
  len = 0;

  /** Creates an empty buffer of `size` bytes. */
  constructor(size = 4096) {
    this.buf = new Uint8Array(size);
  }

  #ensure(extra: number): void {
    if (this.len + extra <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + extra) size *= 2;
    const bigger = new Uint8Array(size);
    bigger.set(this.buf.subarray(0, this.len));
    this.buf = bigger;
  }

  /** Appends one masked client text frame (mask key 0: valid, and the payload stays as it is). */
  wsText(text: string): void {
    // A UTF-16 code unit is at most 3 UTF-8 bytes.
    this.#ensure(text.length * 3 + 14);
    const start = this.len;
    const { buf } = this;
    // Write the payload after the largest header, then move it if the header is shorter.
    const n = encoder.encodeInto(text, buf.subarray(start + 14)).written;
    let header: number;
    if (n < 126) header = 6;
    else if (n < 65536) header = 8;
    else header = 14;
    if (header !== 14) buf.copyWithin(start + header, start + 14, start + 14 + n);
    buf[start] = 0x81;
    if (n < 126) {
      buf[start + 1] = 0x80 | n;
    } else if (n < 65536) {
      buf[start + 1] = 0x80 | 126;
      buf[start + 2] = n >> 8;
      buf[start + 3] = n & 0xff;
    } else {
      buf[start + 1] = 0x80 | 127;
      new DataView(buf.buffer, buf.byteOffset + start + 2, 8).setBigUint64(0, BigInt(n));
    }
    buf.fill(0, start + header - 4, start + header);
    this.len = start + header + n;
  }

  /** Appends a masked pong frame with the given payload. */
  wsPong(payload: Uint8Array): void {
    this.#ensure(payload.length + 6);
    const { buf } = this;
    buf[this.len] = 0x8a;
    buf[this.len + 1] = 0x80 | payload.length;
    buf.fill(0, this.len + 2, this.len + 6);
    buf.set(payload, this.len + 6);
    this.len += 6 + payload.length;
  }

  /** Appends a text line and `\n`. */
  line(text: string): void {
    this.#ensure(text.length * 3 + 1);
    this.len += encoder.encodeInto(text, this.buf.subarray(this.len)).written;
    this.buf[this.len++] = 10;
  }

  /** Appends raw bytes. */
  bytes(bytes: Uint8Array): void {
    this.#ensure(bytes.length);
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
  }

  /** Takes what was built (a copy) and empties the buffer. */
  take(): Uint8Array {
    const out = this.buf.slice(0, this.len);
    this.len = 0;
    return out;
  }
}

/** Called for each complete server frame with its opcode and payload bounds in `buf`. */
export type FrameHandler = (opcode: number, buf: Uint8Array, start: number, end: number) => void;

/**
 * Parses every complete server (unmasked) frame in `buf[0, fill)`; returns the bytes consumed. When a frame
 * does not fit, returns early; the caller keeps the rest and grows its buffer to `needed(buf, fill)`.
 */
export function parseFrames(buf: Uint8Array, fill: number, onFrame: FrameHandler): number {
  let pos = 0;
  while (pos + 2 <= fill) {
    const b1 = buf[pos + 1]! & 0x7f;
    let header = 2;
    let len = b1;
    if (b1 === 126) {
      if (pos + 4 > fill) break;
      header = 4;
      len = (buf[pos + 2]! << 8) | buf[pos + 3]!;
    } else if (b1 === 127) {
      if (pos + 10 > fill) break;
      header = 10;
      len = buf[pos + 6]! * 2 ** 24 + ((buf[pos + 7]! << 16) | (buf[pos + 8]! << 8) | buf[pos + 9]!);
    }
    if (pos + header + len > fill) break;
    onFrame(buf[pos]! & 0x0f, buf, pos + header, pos + header + len);
    pos += header + len;
  }
  return pos;
}

/** Size of the frame starting at `buf[0]` once its header is readable, else 0. */
export function frameSize(buf: Uint8Array, fill: number): number {
  if (fill < 2) return 0;
  const b1 = buf[1]! & 0x7f;
  if (b1 < 126) return 2 + b1;
  if (b1 === 126) return fill < 4 ? 0 : 4 + ((buf[2]! << 8) | buf[3]!);
  if (fill < 10) return 0;
  return 10 + buf[6]! * 2 ** 24 + ((buf[7]! << 16) | (buf[8]! << 8) | buf[9]!);
}

/** Calls `onLine` for each `\n`-terminated line in `buf[0, fill)` (bounds exclude the `\n`); returns bytes consumed. */
export function parseLines(
  buf: Uint8Array,
  fill: number,
  onLine: (buf: Uint8Array, start: number, end: number) => void,
): number {
  let pos = 0;
  const filled = buf.subarray(0, fill);
  while (pos < fill) {
    const nl = filled.indexOf(10, pos);
    if (nl === -1) break;
    onLine(buf, pos, nl);
    pos = nl + 1;
  }
  return pos;
}

/** Whether `buf[start..]` begins with the ASCII bytes of `prefix`. */
export function startsWith(buf: Uint8Array, start: number, end: number, prefix: Uint8Array): boolean {
  if (end - start < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (buf[start + i] !== prefix[i]) return false;
  return true;
}

/** Index of `needle` (ASCII bytes) in `buf[start, end)`, or -1. */
export function indexOf(buf: Uint8Array, start: number, end: number, needle: Uint8Array): number {
  const first = needle[0]!;
  const within = buf.subarray(0, end);
  let i = start;
  while (true) {
    i = within.indexOf(first, i);
    if (i === -1 || i + needle.length > end) return -1;
    let j = 1;
    while (j < needle.length && buf[i + j] === needle[j]) j++;
    if (j === needle.length) return i;
    i++;
  }
}

/** Parses a non-negative decimal at `buf[i]`; returns the value and the index after it. */
export function readInt(buf: Uint8Array, i: number, end: number): [number, number] {
  let v = 0;
  while (i < end) {
    const c = buf[i]! - 48;
    if (c < 0 || c > 9) break;
    v = v * 10 + c;
    i++;
  }
  return [v, i];
}

/** ASCII bytes of a string (for prefixes and needles). */
export function ascii(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Wall-clock microseconds, comparable between processes on one machine. */
export function nowMicros(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

// ---------------------------------------------------------------------------------------------------------
// Latency histogram

/** Bucket growth factor: 2 % resolution. */
const GROWTH = 1.02;
const LOG_GROWTH = Math.log(GROWTH);
/** Buckets cover 1 µs .. about 1000 s. */
const BUCKETS = Math.ceil(Math.log(1e9) / LOG_GROWTH) + 2;

/** A log-bucketed histogram of microsecond values; mergeable, cheap to record. */
export class Histogram {
  counts: Float64Array = new Float64Array(BUCKETS);
  count = 0;
  max = 0;
  sum = 0;

  /** Records one value in microseconds. */
  record(us: number): void {
    const v = us < 1 ? 1 : us;
    let b = Math.floor(Math.log(v) / LOG_GROWTH);
    if (b >= BUCKETS) b = BUCKETS - 1;
    this.counts[b]!++;
    this.count++;
    this.sum += v;
    if (v > this.max) this.max = v;
  }

  /** Adds another histogram into this one. */
  merge(other: HistogramJson | Histogram): void {
    const counts = other instanceof Histogram ? other.counts : undefined;
    if (counts) {
      for (let i = 0; i < BUCKETS; i++) this.counts[i]! += counts[i]!;
    } else {
      for (const [i, c] of (other as HistogramJson).buckets) this.counts[i]! += c;
    }
    this.count += other.count;
    this.sum += other.sum;
    this.max = Math.max(this.max, other.max);
  }

  /** The value at quantile `q` (0..1) in microseconds: the bucket's geometric middle. */
  quantile(q: number): number {
    if (this.count === 0) return NaN;
    const rank = q * this.count;
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank && this.counts[i]! > 0) {
        return Math.min(this.max, Math.pow(GROWTH, i + 0.5));
      }
    }
    return this.max;
  }

  /** A compact JSON form (non-empty buckets only). */
  toJSON(): HistogramJson {
    const buckets: [number, number][] = [];
    for (let i = 0; i < BUCKETS; i++) if (this.counts[i]! > 0) buckets.push([i, this.counts[i]!]);
    return { buckets, count: this.count, max: this.max, sum: this.sum };
  }

  /** Rebuilds a histogram from its JSON form. */
  static from(json: HistogramJson): Histogram {
    const h = new Histogram();
    h.merge(json);
    return h;
  }
}

/** JSON form of a {@linkcode Histogram}. */
export interface HistogramJson {
  /** `[bucket, count]` pairs. */
  readonly buckets: readonly (readonly [number, number])[];
  /** Values recorded. */
  readonly count: number;
  /** Largest value. */
  readonly max: number;
  /** Sum of values. */
  readonly sum: number;
}

// ---------------------------------------------------------------------------------------------------------
// /proc

/** Clock ticks per second for `/proc/PID/stat` times (`getconf CLK_TCK`; 100 on Linux). */
export const CLK_TCK = 100;

/** CPU seconds (user + system) a process has used, or NaN when it is gone. */
export function cpuSeconds(pid: number | "self"): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // Fields after the command name, which is in parentheses and may contain spaces.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return NaN;
  }
}

/** Resident set size in bytes (`VmRSS`), or NaN when the process is gone. */
export function rssBytes(pid: number | "self"): number {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const match = /VmRSS:\s+(\d+) kB/.exec(status);
    return match ? Number(match[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

const trees = new Map<number, { at: number; pids: number[] }>();

/**
 * `pid` and every process under it: a hubbub with `--workers` does its work in child processes, and the
 * runner counts their CPU and memory as the server's. The scan of `/proc` is reused for a second, so that
 * sampling often does not become noise on the machine.
 */
export function processTree(pid: number): number[] {
  const known = trees.get(pid);
  if (known && performance.now() - known.at < 1000) return known.pids;
  const children = new Map<number, number[]>();
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      const parent = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const list = children.get(parent) ?? [];
      list.push(Number(entry.name));
      children.set(parent, list);
    } catch {
      // Gone between the listing and the read.
    }
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i]!) ?? []));
  trees.set(pid, { at: performance.now(), pids: tree });
  return tree;
}

/** CPU seconds of `pid` and the processes under it (NaN when `pid` is gone). */
export function treeCpuSeconds(pid: number): number {
  return processTree(pid).reduce((sum, p, i) => sum + (i === 0 ? cpuSeconds(p) : cpuSeconds(p) || 0), 0);
}

/** RSS of `pid` and the processes under it (NaN when `pid` is gone). */
export function treeRssBytes(pid: number): number {
  return processTree(pid).reduce((sum, p, i) => sum + (i === 0 ? rssBytes(p) : rssBytes(p) || 0), 0);
}

/** Busy CPU seconds of the whole machine (every core: user, nice, system, irq, softirq, steal). */
export function systemBusySeconds(): number {
  try {
    const line = Deno.readTextFileSync("/proc/stat").split("\n")[0]!;
    const [user, nice, system, _idle, _iowait, irq, softirq, steal] = line.split(/\s+/).slice(1).map(Number);
    return (user! + nice! + system! + irq! + softirq! + steal!) / CLK_TCK;
  } catch {
    return NaN;
  }
}

/** Threads of a process (for the record: Deno's I/O threads share the two cores). */
export function threads(pid: number): number {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    return Number(/Threads:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  } catch {
    return NaN;
  }
}
