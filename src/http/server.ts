/**
 * Runs the HTTP door on `Deno.serve`.
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { createHandler, type HandlerOptions } from "./routes.ts";

const log = getLogger(["hubbub", "http"]);

/** Options of {@linkcode serveHttp}. */
export interface HttpOptions extends HandlerOptions {
  /** Interface to bind. */
  readonly hostname: string;
  /** Port; 0 picks a free one. */
  readonly port: number;
  /** Share the port with other processes (SO_REUSEPORT, for `--workers`). */
  readonly reusePort?: boolean;
  /** Aborting it stops the listener. */
  readonly signal: AbortSignal;
}

/** A running HTTP door. */
export interface HttpDoor {
  /** The bound address. */
  readonly addr: Deno.NetAddr;
  /** Resolves when the server has stopped. */
  readonly finished: Promise<void>;
}

/** Starts the HTTP door. */
export function serveHttp(options: HttpOptions): HttpDoor {
  const handler = createHandler(options);
  const server = Deno.serve({
    hostname: options.hostname,
    port: options.port,
    ...(options.reusePort ? { reusePort: true } : {}),
    signal: options.signal,
    onListen: () => {},
    onError: (error) => {
      log.error("request failed: {error}", { error: String(error) });
      return new Response("Internal server error\n", { status: 500 });
    },
  }, handler);
  options.signal.addEventListener("abort", () => handler.close(), { once: true });
  return { addr: server.addr, finished: server.finished };
}
