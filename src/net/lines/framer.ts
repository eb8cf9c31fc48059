/**
 * Line framing for every line door (TCP, IRC) and every line dialect they serve: bytes in, decoded lines (or
 * line errors) out, and {@linkcode line} for the way back.
 *
 * {@linkcode LineFramer} is a `Transformer`, so `new TransformStream(new LineFramer())` frames a byte
 * stream; `serveLines` also drives it directly from its read loop to avoid a stream per connection.
 * It splits on `\n` in bytes (so multi-byte characters split across reads are safe), strips one `\r`,
 * discards lines over the limit and reports each as `too-long`, and reports invalid UTF-8 as `invalid-utf8`.
 * @module
 */

import { concat } from "../../hub/backpressure.ts";

/** Why a framed line was discarded. */
export type LineError = "too-long" | "invalid-utf8";

/** One framed line: its text, or why it was discarded. */
export type Line = { readonly text: string } | { readonly error: LineError };

/** Where a framer puts lines; a `TransformStreamDefaultController` is one. */
export interface LineSink {
  /** Receives one line. */
  enqueue(line: Line): void;
}

/** Options of {@linkcode LineFramer}. */
export interface LineFramerOptions {
  /** Longest accepted line in bytes, without its terminator; default 8 KiB. */
  readonly maxLength?: number;
}

const encoder = new TextEncoder();

/** Encodes a line (adding `\n`) as bytes. */
export function line(text: string): Uint8Array {
  return encoder.encode(text + "\n");
}

// One for every framer: decoding whole lines (no `stream`) keeps no state between calls.
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const NL = 0x0a;
const CR = 0x0d;

/** Splits bytes into lines with a maximum length. Keeps at most `maxLength` bytes of a partial line. */
export class LineFramer implements Transformer<Uint8Array, Line> {
  readonly #max: number;
  #partial: Uint8Array[] = [];
  #partialLength = 0;
  #discarding = false;

  /** Creates a framer. */
  constructor(options: LineFramerOptions = {}) {
    this.#max = options.maxLength ?? 8192;
  }

  /** Bytes of the line in progress (for slowloris deadlines: a partial line is not activity). */
  get pending(): number {
    return this.#partialLength;
  }

  /** Feeds one chunk; complete lines go to `sink`. */
  transform(chunk: Uint8Array, sink: LineSink): void {
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(NL, start);
      if (nl === -1) {
        this.#keep(chunk.subarray(start));
        return;
      }
      this.#keep(chunk.subarray(start, nl));
      this.#emit(sink);
      start = nl + 1;
    }
  }

  /** Emits a last line that had no terminator (a peer that wrote `bye` and closed). */
  flush(sink: LineSink): void {
    if (this.#partialLength > 0 || this.#discarding) this.#emit(sink);
  }

  #keep(bytes: Uint8Array): void {
    if (this.#discarding || bytes.length === 0) return;
    // Allow one byte over the limit for a `\r` that the terminator will strip.
    if (this.#partialLength + bytes.length > this.#max + 1) {
      this.#discarding = true;
      this.#partial = [];
      this.#partialLength = 0;
      return;
    }
    // Copy: the caller may reuse its read buffer.
    this.#partial.push(bytes.slice());
    this.#partialLength += bytes.length;
  }

  #emit(sink: LineSink): void {
    if (this.#discarding) {
      this.#discarding = false;
      sink.enqueue({ error: "too-long" });
      return;
    }
    let bytes = this.#partial.length === 1 ? this.#partial[0]! : concat(this.#partial, this.#partialLength);
    this.#partial = [];
    this.#partialLength = 0;
    if (bytes.length > 0 && bytes[bytes.length - 1] === CR) bytes = bytes.subarray(0, bytes.length - 1);
    if (bytes.length > this.#max) {
      sink.enqueue({ error: "too-long" });
      return;
    }
    try {
      sink.enqueue({ text: decoder.decode(bytes) });
    } catch {
      sink.enqueue({ error: "invalid-utf8" });
    }
  }
}

/** A `TransformStream` of bytes to {@linkcode Line}s. */
export class LineStream extends TransformStream<Uint8Array, Line> {
  /** Creates the stream. */
  constructor(options: LineFramerOptions = {}) {
    super(new LineFramer(options));
  }
}
