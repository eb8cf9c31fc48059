/**
 * The real `ncat` for tests: started on an address with any flags (`--ssl`, `-4`), lines typed into it, the
 * lines it prints waited for in order. Debian's (nmap's) ncat; the IRC, TLS and cluster tests share it.
 * @module
 */

import { delay } from "./_helpers.ts";

/** How long {@linkcode Ncat.expect} waits by default (milliseconds). */
const WAIT_MS = 10_000;

const encoder = new TextEncoder();

/** A real `ncat` process: lines typed into it, lines it prints waited for. */
export class Ncat implements AsyncDisposable {
  readonly process: Deno.ChildProcess;
  readonly lines: string[] = [];
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  #seen = 0;

  private constructor(process: Deno.ChildProcess) {
    this.process = process;
    this.#writer = process.stdin.getWriter();
    void this.#read();
  }

  /** Starts `ncat [flags] host port`. */
  static start(addr: Deno.NetAddr, flags: readonly string[] = []): Ncat {
    return new Ncat(
      new Deno.Command("ncat", {
        args: [...flags, addr.hostname, String(addr.port)],
        stdin: "piped",
        stdout: "piped",
        stderr: "null",
      }).spawn(),
    );
  }

  async #read(): Promise<void> {
    let partial = "";
    for await (const chunk of this.process.stdout.pipeThrough(new TextDecoderStream())) {
      const parts = (partial + chunk).split("\n");
      partial = parts.pop()!;
      this.lines.push(...parts.map((l) => l.replace(/\r$/, "")));
    }
  }

  /** Types one line, as a person at the terminal would (Enter adds the line end). */
  async type(line: string): Promise<void> {
    await this.#writer.write(encoder.encode(line + "\n"));
  }

  /** Waits for the next printed line (after those consumed) matching `want`. */
  expect(want: RegExp | string, ms = WAIT_MS): Promise<string> {
    const test = typeof want === "string" ? (l: string) => l === want : (l: string) => want.test(l);
    return (async () => {
      const end = performance.now() + ms;
      for (;;) {
        while (this.#seen < this.lines.length) {
          const line = this.lines[this.#seen++]!;
          if (test(line)) return line;
        }
        if (performance.now() > end) {
          throw new Error(`Timed out waiting for ncat: ${want}; saw ${JSON.stringify(this.lines.slice(-8))}`);
        }
        await delay(20);
      }
    })();
  }

  /** Closes ncat's input and waits for it to exit. */
  async finish(): Promise<Deno.CommandStatus> {
    await this.#writer.close().catch(() => {});
    return await this.process.status;
  }

  /** `await using` support: ends ncat however the test went. */
  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.process.kill("SIGTERM");
    } catch {
      // Exited already.
    }
    await this.process.status;
    await this.process.stdout.cancel().catch(() => {});
  }
}
