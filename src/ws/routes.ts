/**
 * The WebSocket door's HTTP routes: the dialects' upgrade paths (`/ws`, `/mychat`, goChat's `/joinRoom`) and
 * goChat's `/makeRoom`. The door owns its {@linkcode WsDoor} (the heartbeat sweep) and goChat's pinger: both
 * start here and stop when `signal` aborts.
 *
 * The WebSocket door rides on the HTTP door: an upgrade is an HTTP request first, so this module uses the
 * HTTP route type, errors and Origin policy; the HTTP door never imports the WebSocket door (see
 * docs/architecture.md).
 * @module
 */

import { HttpError } from "../http/errors.ts";
import { originAllowed } from "../http/origin.ts";
import { type Handle, type Route, route } from "../http/route.ts";
import { gobanter } from "./gobanter.ts";
import { gochat, GoChatPinger, parseQuery } from "./gochat.ts";
import { machatWs } from "./machat.ts";
import { readSessionCookie } from "../wire/cookie.ts";
import { type Dialect, UpgradeError, WsDoor, type WsOptions } from "./upgrade.ts";

/** Options of {@linkcode wsRoutes}. */
export interface WsRoutesOptions extends WsOptions {
  /** Extra origins allowed to open WebSockets (`*`, `null`, or origins). */
  readonly allowOrigins: readonly string[];
  /** Recent messages replayed to goChat clients when they join (default 20). */
  readonly gochatHistoryOnJoin?: number;
  /** Recent messages replayed to `/mychat` clients when they join (default 0). */
  readonly machatHistoryOnJoin?: number;
  /** Aborting it stops the heartbeat sweep and goChat's pings (open sockets are closed by the hub). */
  readonly signal: AbortSignal;
}

/** The WebSocket door's routes, for the HTTP door's handler. */
export function wsRoutes(options: WsRoutesOptions): Route[] {
  const { hub, signal } = options;
  const pinger = new GoChatPinger();
  const door = new WsDoor(options);
  const stop = () => {
    pinger.stop();
    door.close();
  };
  if (signal.aborted) stop();
  else signal.addEventListener("abort", stop, { once: true });
  const mychat = machatWs({ historyOnJoin: options.machatHistoryOnJoin ?? 0 });
  const replayGoChat = { historyOnJoin: options.gochatHistoryOnJoin ?? 20 };

  const upgrade = (dialect: () => Dialect, signIn = false): Handle => async (request, _, info) => {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket" || info === undefined) {
      throw new HttpError(426, "upgrade-required", "Expected a WebSocket upgrade", { upgrade: "websocket" });
    }
    if (!originAllowed(request, options.allowOrigins, info.secure)) {
      throw new HttpError(403, "forbidden-origin", "Origin not allowed (see --allow-origin)");
    }
    try {
      // Only `/ws` signs in with the page's cookie: the other dialects cannot own a registered name.
      const pageSession = signIn ? readSessionCookie(request.headers) : null;
      return await door.upgrade(request, info, dialect(), { pageSession });
    } catch (error) {
      if (error instanceof UpgradeError) {
        throw new HttpError(error.status, "bad-upgrade", error.message, error.headers);
      }
      throw error;
    }
  };

  return [
    route("/ws", { GET: upgrade(() => gobanter, true) }),
    route("/mychat", { GET: upgrade(() => mychat) }),
    route("/joinRoom", {
      GET: (request, _, info) => {
        const query = parseQuery(new URL(request.url), hub.nameLimits);
        if (typeof query === "string") throw new HttpError(400, "bad-request", `Cannot join: ${query}`);
        return upgrade(() => gochat(query, pinger, replayGoChat))(request, {}, info);
      },
    }),
    route("/makeRoom", {
      GET: (request) => {
        const query = parseQuery(new URL(request.url), hub.nameLimits);
        if (typeof query === "string") throw new HttpError(400, "bad-request", `Cannot make room: ${query}`);
        // Rooms exist while someone is in them; making one only checks the name is good.
        return new Response(`room ${query.room} is ready\n`, { headers: { "content-type": "text/plain" } });
      },
    }),
  ];
}
