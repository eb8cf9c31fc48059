/**
 * What every WebSocket dialect shares: the upgrade, the session, frame-size and binary-frame rules, the
 * heartbeat, and handing the connection back to the hub when it closes.
 *
 * A dialect supplies a {@linkcode Dialect}: its starting codec and what to do with a text or binary frame.
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { Client, Hub } from "../hub/hub.ts";
import { type FramePump, tooLarge, WsSession } from "./session.ts";
import { TokenBucket } from "../hub/limits.ts";

const log = getLogger(["hubbub", "ws"]);

/** Settings every WebSocket dialect needs. */
export interface WsContext {
  /** The hub. */
  readonly hub: Hub;
  /** Largest frame accepted, in bytes. */
  readonly maxFrameBytes: number;
  /** Unread bytes tolerated per connection before it is dropped. */
  readonly maxQueueBytes: number;
  /** Heartbeat: a peer that answers no ping for this long is closed (milliseconds). */
  readonly idleTimeoutMs: number;
  /** Inbound frame rate per connection (frames per second; 0 = unlimited) and burst. */
  readonly rate?: { readonly rate: number; readonly burst: number };
  /** Close a connection that has not finished its handshake after this long (milliseconds). */
  readonly loginTimeoutMs?: number;
  /** Moves frames that wait for slow sockets on; one per door, shared by its connections. */
  readonly pump: FramePump;
}

/** One open WebSocket connection as a dialect sees it. */
export interface WsConnection {
  /** The hub. */
  readonly hub: Hub;
  /** The hub's handle for this connection. */
  readonly client: Client;
  /** The outbound side. */
  readonly session: WsSession;
}

/** A WebSocket dialect: how it starts and what it does with frames. */
export interface Dialect {
  /** Called once the socket is open. A returned promise holds back the connection's frames until it settles. */
  open(connection: WsConnection): void | Promise<void>;
  /**
   * A text frame within the size limit. A returned promise (a name being claimed cluster-wide) holds back this
   * connection's later frames until it settles, so they are handled in order; message sends never return one.
   */
  text(connection: WsConnection, data: string): void | Promise<void>;
  /** A binary frame within the size limit; as `text`. */
  binary(connection: WsConnection, data: Uint8Array): void | Promise<void>;
  /** Called before a too-large frame closes the connection (1009), to say so in the dialect. */
  tooLarge(connection: WsConnection): void;
  /** A frame refused by the rate limit: say so in the dialect (it was not processed, nothing was sent). */
  limited(connection: WsConnection): void;
  /** Whether the connection still owes its handshake (MaChat); such connections meet the login deadline. */
  awaitingHandshake?(connection: WsConnection): boolean;
  /** Called once the socket has closed and the hub has let the connection go. */
  close?(connection: WsConnection): void;
}

/**
 * Upgrades `request` and runs `dialect` on the socket. The caller has checked method, origin and query, and
 * admitted the connection; `release` runs once when it ends.
 */
export function accept(
  request: Request,
  context: WsContext,
  dialect: Dialect & { readonly codec: WsSession["codec"] },
  release: () => void = () => {},
): Response {
  // Deno pings and closes a peer that does not answer within idleTimeout: the WebSocket heartbeat.
  const { socket, response } = Deno.upgradeWebSocket(request, {
    idleTimeout: Math.max(1, Math.round(context.idleTimeoutMs / 1000)),
  });
  socket.binaryType = "arraybuffer";
  let connection: WsConnection | null = null;
  const bucket = new TokenBucket(context.rate ?? { rate: 0, burst: 1 });
  let deadline: ReturnType<typeof setTimeout> | undefined;
  const session = new WsSession(socket, {
    codec: dialect.codec,
    maxQueueBytes: context.maxQueueBytes,
    pump: context.pump,
    load: context.hub.load,
    onClose: () => {
      clearTimeout(deadline);
      release();
      if (!connection) return;
      const c = connection;
      if (session.closeReason === "slow-reader") context.hub.metrics.slowReadersDropped++;
      context.hub.disconnect(c.client);
      if (dialect.close) guard(() => dialect.close!(c));
      log.info("disconnect", { conn: session.id, reason: session.closeReason ?? "peer" });
    },
  });

  socket.onopen = () => {
    // Register with the hub only once open: an upgrade that never completes must not leave a member behind.
    connection = { hub: context.hub, client: context.hub.connect(session), session };
    log.info("connect", { conn: session.id, codec: dialect.codec.name });
    const c = connection;
    run(() => dialect.open(c));
    if (dialect.awaitingHandshake && context.loginTimeoutMs) {
      const c = connection;
      deadline = setTimeout(() => {
        if (dialect.awaitingHandshake!(c)) session.close("login-timeout");
      }, context.loginTimeoutMs);
    }
  };
  socket.onmessage = (event: MessageEvent<string | ArrayBuffer>) => {
    if (!connection) return;
    const c = connection;
    if (tooLarge(event.data, context.maxFrameBytes)) {
      guard(() => dialect.tooLarge(c));
      session.close("too-large");
      return;
    }
    // No way to pause a WebSocket's reads: over the rate a frame is refused (told), and a flood is closed.
    const verdict = bucket.take();
    if (verdict.kind === "flood") return session.close("flood");
    if (verdict.kind === "limited") return guard(() => dialect.limited(c));
    const data = event.data;
    run(() => typeof data === "string" ? dialect.text(c, data) : dialect.binary(c, new Uint8Array(data)));
  };

  // Frames are handled in order: while one waits on a name claim, the next ones queue behind it.
  let chain: Promise<void> | null = null;
  function run(handle: () => void | Promise<void>): void {
    if (chain !== null) {
      const next: Promise<void> = chain.then(() => guard(handle));
      chain = next;
      next.then(() => {
        if (chain === next) chain = null;
      });
      return;
    }
    const pending = guard(handle);
    if (pending) {
      chain = pending;
      pending.then(() => {
        if (chain === pending) chain = null;
      });
    }
  }
  socket.onerror = () => {
    // A close event follows; nothing else to do.
  };
  return response;
}

// A bug in one dialect's handler must cost one frame, never the process.
function guard(fn: () => void | Promise<void>): Promise<void> | undefined {
  const failed = (error: unknown) => log.error("frame handler failed: {error}", { error: String(error) });
  try {
    const result = fn();
    return result instanceof Promise ? result.catch(failed) : undefined;
  } catch (error) {
    failed(error);
    return undefined;
  }
}

/** Resolves a hub promise and reports a refusal through `onFail`; never rejects. */
export function settle<T>(
  pending: Promise<{ ok: true; value: T } | { ok: false; code: string; detail: string }>,
  onFail: (code: string, detail: string) => void,
): void {
  pending.then((result) => {
    if (!result.ok) onFail(result.code, result.detail);
  }, (error) => log.error("hub call failed: {error}", { error: String(error) }));
}
