/**
 * A real `redis-server` for cluster tests: its own temp directory, a free port, append-only file on, so that a
 * restart keeps everything acknowledged.
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

  /** Starts (again) with the same port and data directory. */
  async restart(): Promise<void> {
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

  /** Stops the server (SIGTERM: it writes its append-only file and exits). */
  async stop(): Promise<void> {
    if (!this.#process) return;
    try {
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
