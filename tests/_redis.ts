/**
 * A real `redis-server` for cluster tests: its own temp directory, a free port, append-only file on, so that a
 * restart keeps everything acknowledged. Fault tests also freeze it (SIGSTOP), empty it, and send it commands.
 * @module
 */

import { delay, eventually } from "./_helpers.ts";

/** A running redis-server. */
export class RedisServer implements AsyncDisposable {
  readonly port: number;
  readonly dir: string;
  #process: Deno.ChildProcess | null = null;

  private constructor(port: number, dir: string) {
    this.port = port;
    this.dir = dir;
  }

  /** `redis://127.0.0.1:PORT/0`. */
  get url(): string {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  /** Whether `redis-server` is installed. */
  static async available(): Promise<boolean> {
    try {
      const { code } = await new Deno.Command("redis-server", { args: ["--version"], stdout: "null" })
        .output();
      return code === 0;
    } catch {
      return false;
    }
  }

  /** Starts a server on a free port in a fresh directory. */
  static async start(): Promise<RedisServer> {
    const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (probe.addr as Deno.NetAddr).port;
    probe.close();
    const server = new RedisServer(port, await Deno.makeTempDir({ prefix: "hubbub-redis-" }));
    await server.restart();
    return server;
  }

  /**
   * Starts (again) with the same port and data directory, and waits until it answers PING. `args` are extra
   * server arguments for this run (e.g. `--key-load-delay`); `empty` removes the data first, like a Redis
   * restarted without persistence.
   */
  async restart(options: { args?: readonly string[]; empty?: boolean } = {}): Promise<void> {
    if (options.empty) {
      for await (const entry of Deno.readDir(this.dir)) {
        await Deno.remove(`${this.dir}/${entry.name}`, { recursive: true });
      }
    }
    this.#process = new Deno.Command("redis-server", {
      args: [
        "--port",
        String(this.port),
        "--bind",
        "127.0.0.1",
        "--dir",
        this.dir,
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--save",
        "",
        ...(options.args ?? []),
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    await eventually(() => this.ping(), "redis-server answers PING", 10_000);
  }

  /** Whether the server answers PING. */
  async ping(): Promise<boolean> {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: this.port });
      try {
        await conn.write(new TextEncoder().encode("PING\r\n"));
        const buffer = new Uint8Array(16);
        const n = await conn.read(buffer);
        return n !== null && new TextDecoder().decode(buffer.subarray(0, n)).startsWith("+PONG");
      } finally {
        conn.close();
      }
    } catch {
      return false;
    }
  }

  /** Sends one command; resolves with its reply: a status, error or integer line (`+OK`, `:1`) or a bulk string's text. */
  async command(...args: readonly (string | number)[]): Promise<string> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: this.port });
    try {
      const parts = args.map(String);
      const request = `*${parts.length}\r\n` +
        parts.map((p) => `$${new TextEncoder().encode(p).length}\r\n${p}\r\n`).join("");
      await conn.write(new TextEncoder().encode(request));
      let text = "";
      const buffer = new Uint8Array(64 * 1024);
      while (true) {
        const n = await conn.read(buffer);
        if (n === null) return text;
        text += new TextDecoder().decode(buffer.subarray(0, n));
        const reply = completeReply(text);
        if (reply !== null) return reply;
      }
    } finally {
      conn.close();
    }
  }

  /** Freezes the server (SIGSTOP): it keeps its connections and answers nothing, like a hung Redis. */
  pause(): void {
    this.#process?.kill("SIGSTOP");
  }

  /** Thaws a paused server (SIGCONT). */
  resume(): void {
    this.#process?.kill("SIGCONT");
  }

  /** Stops the server (SIGTERM: it writes its append-only file and exits). */
  async stop(): Promise<void> {
    if (!this.#process) return;
    try {
      // A paused server must run to handle its SIGTERM.
      this.#process.kill("SIGCONT");
      this.#process.kill("SIGTERM");
    } catch {
      // Already gone.
    }
    await this.#process.status;
    this.#process = null;
    await delay(50);
  }

  /** Stops and removes the data. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
    await Deno.remove(this.dir, { recursive: true });
  }
}

/** The reply in `text` once it is complete: a status, error or integer line, or a bulk string's content. */
function completeReply(text: string): string | null {
  const end = text.indexOf("\r\n");
  if (end === -1) return null;
  if (text[0] !== "$") return text.slice(0, end);
  const length = Number(text.slice(1, end));
  if (length < 0) return "";
  const body = new TextEncoder().encode(text.slice(end + 2));
  return body.length >= length + 2 ? new TextDecoder().decode(body.subarray(0, length)) : null;
}
