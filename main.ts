/**
 * hubbub's entry point: parse the command line, set up logging, start the server, wire signals.
 *
 * Wiring only; everything that does something lives in `src/`.
 * @module
 */

import { type CliCommand, type Config, parseCli } from "./src/cli.ts";
import { setupLogging, stopLogging } from "./src/log.ts";
import { openStore, startServer, tlsFromConfig } from "./src/server.ts";
import { TlsError, type TlsKeys } from "./src/net/tls.ts";
import { runAccounts } from "./src/accounts_admin.ts";
import { hasAccounts } from "./src/store/store.ts";
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
  const { config, command } = outcome;
  const color = Deno.stderr.isTerminal();
  if (command.kind === "accounts") return await accountsCommand(config, command, color);
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
  // A certificate that cannot be used is a bad option: one line naming the file, exit 2, before anything starts.
  let tls: TlsKeys | null;
  try {
    tls = tlsFromConfig(config);
  } catch (error) {
    if (!(error instanceof TlsError)) throw error;
    Deno.stderr.writeSync(encoder.encode(`error: ${error.message}\n`));
    await stopLogging();
    return 2;
  }

  // Signal listeners first: Deno sets its signal handling up on first use and cannot do that once an attacker
  // has taken every file descriptor (tests/faults/descriptors_test.ts).
  const stopping = Promise.withResolvers<void>();
  const stop = () => stopping.resolve();
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT", "SIGBREAK"] : ["SIGINT", "SIGTERM"];
  for (const signal of signals) Deno.addSignalListener(signal, stop);
  // SIGHUP: new TLS handshakes use the certificate files as they are now; connections stay.
  const reload = () => void tls?.reload();
  if (Deno.build.os !== "windows") Deno.addSignalListener("SIGHUP", reload);
  let server;
  try {
    server = startServer(config, { tls });
  } catch (error) {
    log.fatal("cannot start: {error}", { error: String(error) });
    for (const signal of signals) Deno.removeSignalListener(signal, stop);
    if (Deno.build.os !== "windows") Deno.removeSignalListener("SIGHUP", reload);
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
    open: http && `${tls ? "https" : "http"}://${displayHost(http.hostname)}:${http.port}/`,
    tcp: tcp && `${tcp.hostname}:${tcp.port}`,
    ncat: tcp && `ncat ${tls ? "--ssl " : ""}${displayHost(tcp.hostname)} ${tcp.port}`,
    irc: irc && `${irc.hostname}:${irc.port}`,
  });

  // A worker of --workers stops with its supervisor, even one killed outright.
  stopWithSupervisor(stop);
  await server.finished;
  for (const signal of signals) Deno.removeSignalListener(signal, stop);
  if (Deno.build.os !== "windows") Deno.removeSignalListener("SIGHUP", reload);
  await stopLogging();
  return 0;
}

/** `hubbub accounts list|delete NAME|reset NAME` on the store the config names (see `src/accounts_admin.ts`). */
async function accountsCommand(
  config: Config,
  command: Extract<CliCommand, { kind: "accounts" }>,
  color: boolean,
): Promise<number> {
  const encoder = new TextEncoder();
  const out = (line: string) => Deno.stdout.writeSync(encoder.encode(line + "\n"));
  const err = (line: string) => Deno.stderr.writeSync(encoder.encode(line + "\n"));
  if (config.store.kind === "memory" && config.redis === null) {
    err("error: --store memory keeps no accounts between runs: name a SQLite file (--store) or --redis");
    return 2;
  }
  await setupLogging({ format: config.logFormat, level: config.logLevel, color });
  let store;
  try {
    store = openStore(config);
  } catch (error) {
    err(`error: ${(error as Error).message}`);
    await stopLogging();
    return 1;
  }
  try {
    if (!hasAccounts(store)) throw new TypeError("Cannot manage accounts: the store keeps none");
    return await runAccounts({
      store,
      action: command.action,
      ...("name" in command ? { name: command.name } : {}),
      out,
      err,
      readPassword: pipedLine,
    });
  } finally {
    await store.close();
    await stopLogging();
  }
}

/** The first line of stdin when it is piped (not a terminal) and says something; otherwise `null`. */
async function pipedLine(): Promise<string | null> {
  if (Deno.stdin.isTerminal()) return null;
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of Deno.stdin.readable) {
    chunks.push(chunk);
    size += chunk.length;
    if (size > 64 * 1024) break;
  }
  const text = new TextDecoder().decode(new Uint8Array(chunks.flatMap((c) => [...c])));
  const line = text.split("\n", 1)[0]!.replace(/\r$/, "");
  return line === "" ? null : line;
}

/** `0.0.0.0` is where we listen, not where people connect. */
function displayHost(hostname: string): string {
  return hostname === "0.0.0.0" || hostname === "::" ? "localhost" : hostname;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
