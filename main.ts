/**
 * hubbub's entry point: parse the command line, set up logging, start the server, wire signals.
 *
 * Wiring only; everything that does something lives in `src/`.
 * @module
 */

import { parseCli } from "./src/cli.ts";
import { setupLogging, stopLogging } from "./src/log.ts";
import { startServer } from "./src/server.ts";
import { getLogger } from "@logtape/logtape";
import { stopWithSupervisor, supervise } from "./src/workers.ts";

/** Runs hubbub with the given arguments; resolves with the process exit code. */
export async function main(args: readonly string[]): Promise<number> {
  const encoder = new TextEncoder();
  const outcome = parseCli(args, {
    out: (text) => Deno.stdout.writeSync(encoder.encode(text)),
    err: (text) => Deno.stderr.writeSync(encoder.encode(text)),
    tty: Deno.stderr.isTerminal(),
  });
  if ("exit" in outcome) return outcome.exit;
  const { config } = outcome;
  const color = Deno.stderr.isTerminal();
  if (config.workers > 1) {
    await setupLogging({
      format: config.logFormat,
      level: config.logLevel,
      color,
      fields: { role: "supervisor" },
    });
    const code = await supervise({ workers: config.workers, argv: args, nodeId: config.nodeId });
    await stopLogging();
    return code;
  }
  await setupLogging({ format: config.logFormat, level: config.logLevel, color });
  const log = getLogger(["hubbub"]);

  // Signal listeners first: Deno sets its signal handling up on first use and cannot do that once an attacker
  // has taken every file descriptor (tests/faults/descriptors_test.ts).
  const stopping = Promise.withResolvers<void>();
  const stop = () => stopping.resolve();
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT", "SIGBREAK"] : ["SIGINT", "SIGTERM"];
  for (const signal of signals) Deno.addSignalListener(signal, stop);
  let server;
  try {
    server = startServer(config);
  } catch (error) {
    log.fatal("cannot start: {error}", { error: String(error) });
    for (const signal of signals) Deno.removeSignalListener(signal, stop);
    await stopLogging();
    return 1;
  }
  void stopping.promise.then(() => server.shutdown());
  // In a cluster every record says which node wrote it.
  if (config.redis) {
    await setupLogging({
      format: config.logFormat,
      level: config.logLevel,
      color,
      fields: { node: server.hub.node },
    });
  }
  const { tcp, http, irc } = server;
  log.info("hubbub is up", {
    node: server.hub.node,
    http: http && `${http.hostname}:${http.port}`,
    open: http && `http://${displayHost(http.hostname)}:${http.port}/`,
    tcp: tcp && `${tcp.hostname}:${tcp.port}`,
    ncat: tcp && `ncat ${displayHost(tcp.hostname)} ${tcp.port}`,
    irc: irc && `${irc.hostname}:${irc.port}`,
  });

  // A worker of --workers stops with its supervisor, even one killed outright.
  stopWithSupervisor(stop);
  await server.finished;
  for (const signal of signals) Deno.removeSignalListener(signal, stop);
  await stopLogging();
  return 0;
}

/** `0.0.0.0` is where we listen, not where people connect. */
function displayHost(hostname: string): string {
  return hostname === "0.0.0.0" || hostname === "::" ? "localhost" : hostname;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
