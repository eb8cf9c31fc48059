/**
 * The read buffer of one connection: small while the connection is idle (every idle connection holds its
 * buffer while its read is pending, so this is most of what an idle connection costs), big while it is busy.
 * @module
 */

/** Bytes read at a time by a quiet connection. */
export const READ_SIZE = 256;
/** Bytes read at a time by a busy one (a read filled the small buffer): fewer reads per byte. */
export const BUSY_READ_SIZE = 16 * 1024;
/**
 * A busy connection keeps the big buffer until this many reads in a row would have fitted the small one, so a
 * sender of bursts does not swap buffers (an allocation each time) on every read.
 */
export const QUIET_READS = 64;

/** What {@linkcode ReadBuffer} reads from: a `Deno.Conn`, or a fake in tests. */
export interface ByteSource {
  /** Reads into `buffer`; resolves with the number of bytes read, or `null` at end of stream. */
  read(buffer: Uint8Array): Promise<number | null>;
}

/** Reads a connection through a buffer sized by how busy it is. */
export class ReadBuffer {
  #buffer = new Uint8Array(READ_SIZE);
  /** Small reads in a row on the big buffer. */
  #small = 0;

  /** Bytes the next read may take. */
  get size(): number {
    return this.#buffer.length;
  }

  /**
   * Reads once: the bytes read, or `null` at end of stream. They stay valid until the next read, which may
   * reuse their memory: a caller that keeps bytes beyond that copies them.
   */
  async read(source: ByteSource): Promise<Uint8Array | null> {
    const buffer = this.#buffer;
    const n = await source.read(buffer);
    if (n === null) return null;
    if (n === buffer.length && n < BUSY_READ_SIZE) this.#buffer = new Uint8Array(BUSY_READ_SIZE);
    else if (buffer.length > READ_SIZE) {
      this.#small = n < READ_SIZE ? this.#small + 1 : 0;
      if (this.#small >= QUIET_READS) {
        this.#buffer = new Uint8Array(READ_SIZE);
        // The next busy spell gets its QUIET_READS too, not a small buffer at its first small read.
        this.#small = 0;
      }
    }
    return buffer.subarray(0, n);
  }
}
