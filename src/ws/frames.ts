/**
 * RFC 6455 framing: encoding server frames once, and reading client frames incrementally.
 *
 * hubbub frames WebSockets itself, on the same sockets its HTTP server accepts, so that one encoded frame is
 * shared by every recipient of a fan-out (a frame is bytes: header plus UTF-8 payload, built once per
 * dialect per event) and every door shares one outbound queue with real write completion. The reader is
 * strict where the RFC says MUST: client frames are masked, reserved bits are zero, control frames are short
 * and whole, text is UTF-8; a violation closes with the RFC's code (1002, 1007, 1009).
 * @module
 */

/** Frame opcodes. */
export const Op = {
  continuation: 0x0,
  text: 0x1,
  binary: 0x2,
  close: 0x8,
  ping: 0x9,
  pong: 0xa,
} as const;

/** Close codes hubbub sends. */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  invalidData: 1007,
  policy: 1008,
  tooBig: 1009,
} as const;

const encoder = new TextEncoder();
const EMPTY = new Uint8Array(0);
/** A reader keeps a buffer this big between messages; a bigger one (a large frame's) is let go. */
const KEEP_BYTES = 4096;
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** A whole unmasked server frame with `payload`. */
export function frame(opcode: number, payload: Uint8Array): Uint8Array {
  const length = payload.length;
  const header = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const out = new Uint8Array(header + length);
  out[0] = 0x80 | opcode;
  if (header === 2) out[1] = length;
  else if (header === 4) {
    out[1] = 126;
    out[2] = length >>> 8;
    out[3] = length & 0xff;
  } else {
    out[1] = 127;
    new DataView(out.buffer).setBigUint64(2, BigInt(length));
  }
  out.set(payload, header);
  return out;
}

/** A text frame. */
export function textFrame(text: string): Uint8Array {
  return frame(Op.text, encoder.encode(text));
}

/** A close frame with a status code and a short reason (cut to fit the 125-byte control frame limit). */
export function closeFrame(code: number, reason = ""): Uint8Array {
  let bytes = encoder.encode(reason);
  if (bytes.length > 123) bytes = bytes.subarray(0, 123);
  const payload = new Uint8Array(2 + bytes.length);
  payload[0] = code >>> 8;
  payload[1] = code & 0xff;
  payload.set(bytes, 2);
  return frame(Op.close, payload);
}

/** What a {@linkcode FrameReader} hands on. */
export interface FrameSink {
  /** A whole text message (fragments joined, UTF-8 checked). */
  text(data: string): void;
  /** A whole binary message. */
  binary(data: Uint8Array): void;
  /** A ping; the caller answers with a pong carrying the same payload. */
  ping(payload: Uint8Array): void;
  /** A pong (an answer to our heartbeat). */
  pong(): void;
  /** The peer's close frame: its code (1005 when it gave none) and reason. */
  close(code: number, reason: string): void;
  /**
   * The peer broke the protocol or a limit: close with `code`. `tooLarge` marks a message over the size
   * limit, which dialects announce in their own words before the close.
   */
  error(code: number, reason: string, tooLarge?: boolean): void;
}

/** Options of {@linkcode FrameReader}. */
export interface FrameReaderOptions {
  /** Largest message accepted, in bytes (fragments together). */
  readonly maxMessage: number;
}

/**
 * Parses client frames from a byte stream. Holds at most one frame's header and payload (bounded by
 * `maxMessage`) plus the fragments of one message; after an error it ignores everything that follows.
 */
export class FrameReader {
  readonly #max: number;
  /** Bytes of an incomplete frame, kept between reads: `#pending` of them at the start of `#buffer`. */
  #buffer: Uint8Array = EMPTY;
  #pending = 0;
  /** Fragments of the message in progress, and its opcode (0 when none). */
  #fragments: Uint8Array[] = [];
  #fragmentBytes = 0;
  #messageOp = 0;
  #failed = false;

  /** Creates a reader. */
  constructor(options: FrameReaderOptions) {
    this.#max = options.maxMessage;
  }

  /** Feeds bytes (copied when they must be kept: the caller reuses its read buffer); frames go to `sink`. */
  push(chunk: Uint8Array, sink: FrameSink): void {
    if (this.#failed) return;
    let data = chunk;
    if (this.#pending > 0) {
      this.#reserve(this.#pending + chunk.length);
      this.#buffer.set(chunk, this.#pending);
      this.#pending += chunk.length;
      data = this.#buffer.subarray(0, this.#pending);
    }
    let offset = 0;
    while (!this.#failed) {
      const used = this.#frame(data, offset, sink);
      if (used === 0) break;
      offset += used;
    }
    const rest = this.#failed ? 0 : data.length - offset;
    if (rest === 0) {
      this.#pending = 0;
      // An idle connection keeps no big buffer.
      if (this.#buffer.length > KEEP_BYTES) this.#buffer = EMPTY;
    } else if (data === chunk) {
      this.#reserve(rest);
      this.#buffer.set(chunk.subarray(offset));
      this.#pending = rest;
    } else {
      this.#buffer.copyWithin(0, offset, this.#pending);
      this.#pending = rest;
    }
  }

  /** Grows the buffer (doubling, so a large frame arriving in small reads is copied O(n) times, not O(n²)). */
  #reserve(bytes: number): void {
    if (this.#buffer.length >= bytes) return;
    const grown = new Uint8Array(Math.max(bytes, this.#buffer.length * 2, 256));
    grown.set(this.#buffer.subarray(0, this.#pending));
    this.#buffer = grown;
  }

  /** Parses one frame at `offset`; returns the bytes it used, 0 when more are needed. */
  #frame(data: Uint8Array, offset: number, sink: FrameSink): number {
    const available = data.length - offset;
    if (available < 2) return 0;
    const b0 = data[offset]!;
    const b1 = data[offset + 1]!;
    const fin = (b0 & 0x80) !== 0;
    const opcode = b0 & 0x0f;
    if ((b0 & 0x70) !== 0) return this.#fail(sink, CloseCode.protocolError, "reserved bits set");
    if ((b1 & 0x80) === 0) return this.#fail(sink, CloseCode.protocolError, "client frames must be masked");
    let length = b1 & 0x7f;
    let header = 2;
    if (length === 126) {
      if (available < 4) return 0;
      length = (data[offset + 2]! << 8) | data[offset + 3]!;
      header = 4;
    } else if (length === 127) {
      if (available < 10) return 0;
      const view = new DataView(data.buffer, data.byteOffset + offset + 2, 8);
      const big = view.getBigUint64(0);
      if (big > BigInt(Number.MAX_SAFE_INTEGER)) return this.#tooLarge(sink);
      length = Number(big);
      header = 10;
    }
    const control = opcode >= 0x8;
    if (control) {
      if (opcode > Op.pong) return this.#fail(sink, CloseCode.protocolError, `unknown opcode ${opcode}`);
      if (!fin || length > 125) return this.#fail(sink, CloseCode.protocolError, "bad control frame");
    } else if (opcode > Op.binary) {
      return this.#fail(sink, CloseCode.protocolError, `unknown opcode ${opcode}`);
    } else if (this.#fragmentBytes + length > this.#max) {
      // Refused from the header alone: the payload is never buffered.
      return this.#tooLarge(sink);
    }
    const start = offset + header + 4;
    if (available < header + 4 + length) return 0;
    const payload = data.slice(start, start + length);
    const m0 = data[offset + header]!, m1 = data[offset + header + 1]!;
    const m2 = data[offset + header + 2]!, m3 = data[offset + header + 3]!;
    for (let i = 0; i < length; i += 4) {
      payload[i]! ^= m0;
      if (i + 1 < length) payload[i + 1]! ^= m1;
      if (i + 2 < length) payload[i + 2]! ^= m2;
      if (i + 3 < length) payload[i + 3]! ^= m3;
    }
    const used = header + 4 + length;
    if (control) {
      this.#control(opcode, payload, sink);
      return used;
    }
    if (opcode === Op.continuation) {
      if (this.#messageOp === 0) {
        return this.#fail(sink, CloseCode.protocolError, "continuation without a message");
      }
    } else if (this.#messageOp !== 0) {
      return this.#fail(sink, CloseCode.protocolError, "new message before the last one ended");
    } else this.#messageOp = opcode;
    if (!fin) {
      this.#fragments.push(payload);
      this.#fragmentBytes += length;
      return used;
    }
    this.#message(payload, sink);
    return used;
  }

  /** The last fragment of a message arrived: the whole message goes to `sink`. */
  #message(last: Uint8Array, sink: FrameSink): void {
    let message = last;
    if (this.#fragments.length > 0) {
      this.#fragments.push(last);
      message = new Uint8Array(this.#fragmentBytes + last.length);
      let at = 0;
      for (const part of this.#fragments) {
        message.set(part, at);
        at += part.length;
      }
    }
    const op = this.#messageOp;
    this.#fragments = [];
    this.#fragmentBytes = 0;
    this.#messageOp = 0;
    if (op === Op.binary) return sink.binary(message);
    let text: string;
    try {
      text = decoder.decode(message);
    } catch {
      return void this.#fail(sink, CloseCode.invalidData, "text frame is not UTF-8");
    }
    sink.text(text);
  }

  #control(opcode: number, payload: Uint8Array, sink: FrameSink): void {
    if (opcode === Op.ping) return sink.ping(payload);
    if (opcode === Op.pong) return sink.pong();
    if (payload.length === 0) return sink.close(1005, "");
    if (payload.length === 1) return void this.#fail(sink, CloseCode.protocolError, "bad close frame");
    const code = (payload[0]! << 8) | payload[1]!;
    let reason: string;
    try {
      reason = decoder.decode(payload.subarray(2));
    } catch {
      return void this.#fail(sink, CloseCode.invalidData, "close reason is not UTF-8");
    }
    sink.close(code, reason);
  }

  #tooLarge(sink: FrameSink): number {
    this.#failed = true;
    sink.error(CloseCode.tooBig, "frame too large", true);
    return 0;
  }

  #fail(sink: FrameSink, code: number, reason: string): number {
    this.#failed = true;
    sink.error(code, reason);
    return 0;
  }
}
