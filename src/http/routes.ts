/**
 * The HTTP door: a small route table on the built-in `URLPattern`, serving the page, the WebSocket
 * dialects, health and a JSON API. {@linkcode createHandler} returns a plain handler usable by
 * `Deno.serve` and by tests alike.
 * @module
 */

import { checkRoom } from "../names.ts";
import { broadcastPayload, gobanter, MAX_HISTORY } from "../ws/gobanter.ts";
import { gochat, GoChatPinger, parseQuery } from "../ws/gochat.ts";
import { machatWs } from "../ws/machat.ts";
import { accept, type Dialect, type WsContext } from "../ws/upgrade.ts";
import type { Codec } from "../model.ts";
import { errorResponse, HttpError, json } from "./errors.ts";
import { originAllowed } from "./origin.ts";
import { servePage } from "./assets.ts";

/** Options of {@linkcode createHandler}. */
export interface HandlerOptions extends WsContext {
  /** Extra origins allowed to open WebSockets (`*`, `null`, or origins). */
  readonly allowOrigins: readonly string[];
  /** Whether the server is ready to serve (for `/readyz`). */
  readonly ready?: () => boolean;
}

type Handle = (request: Request, params: Record<string, string | undefined>) => Response | Promise<Response>;

interface Route {
  readonly pattern: URLPattern;
  readonly methods: Readonly<Record<string, Handle>>;
}

/** Most members one `/api/rooms/:room/members` page returns. */
const MAX_PAGE = 1000;

/** A request handler with a `close()` that stops its timers. */
export interface HttpHandler {
  /** Handles one request. */
  (request: Request): Promise<Response>;
  /** Stops background work (goChat's pings). */
  close(): void;
}

/** Builds the request handler. */
export function createHandler(options: HandlerOptions): HttpHandler {
  const { hub } = options;
  const pinger = new GoChatPinger();

  const upgrade =
    (dialect: (request: Request) => Dialect & { readonly codec: Codec }): Handle => (request) => {
      if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
        throw new HttpError(426, "upgrade-required", "Expected a WebSocket upgrade", {
          upgrade: "websocket",
        });
      }
      if (!originAllowed(request, options.allowOrigins)) {
        throw new HttpError(403, "forbidden-origin", "Origin not allowed (see --allow-origin)");
      }
      return accept(request, options, dialect(request));
    };

  const routes: Route[] = [
    route("/", { GET: (request) => servePage(request) }),
    route("/healthz", { GET: () => new Response("ok\n", { headers: { "content-type": "text/plain" } }) }),
    route("/ws", { GET: upgrade(() => gobanter) }),
    route("/mychat", { GET: upgrade(() => machatWs) }),
    route("/joinRoom", {
      GET: (request) => {
        const query = parseQuery(new URL(request.url));
        if (typeof query === "string") throw new HttpError(400, "bad-request", `Cannot join: ${query}`);
        return upgrade(() => gochat(query, pinger))(request, {});
      },
    }),
    route("/makeRoom", {
      GET: (request) => {
        const query = parseQuery(new URL(request.url));
        if (typeof query === "string") throw new HttpError(400, "bad-request", `Cannot make room: ${query}`);
        // Rooms exist while someone is in them; making one only checks the name is good.
        return new Response(`room ${query.room} is ready\n`, { headers: { "content-type": "text/plain" } });
      },
    }),
    route("/api/rooms", { GET: () => json({ rooms: hub.rooms() }) }),
    route("/api/rooms/:room/messages", {
      GET: async (request, { room }) => {
        const name = decodeURIComponent(room ?? "");
        if (checkRoom(name)) throw new HttpError(400, "invalid-room", `Not a valid room name: '${name}'`);
        const url = new URL(request.url);
        const limit = Math.min(count(url.searchParams.get("limit"), 50, "limit"), MAX_HISTORY);
        const beforeText = url.searchParams.get("before");
        const before = beforeText === null || beforeText === "" ? undefined : count(beforeText, 0, "before");
        const range = await hub.history(name, { limit, ...(before === undefined ? {} : { before }) });
        // Room messages only: DMs never leave their pair through the API.
        return json({ room: name, messages: range.messages.map(broadcastPayload) });
      },
    }),
    route("/api/rooms/:room/members", {
      GET: (request, { room }) => {
        const name = decodeURIComponent(room ?? "");
        if (checkRoom(name)) throw new HttpError(400, "invalid-room", `Not a valid room name: '${name}'`);
        const url = new URL(request.url);
        const offset = count(url.searchParams.get("offset"), 0, "offset");
        const limit = Math.min(count(url.searchParams.get("limit"), MAX_PAGE, "limit"), MAX_PAGE);
        const members = hub.users(name).map((u) => u.name);
        return json({
          room: name,
          total: members.length,
          offset,
          members: members.slice(offset, offset + limit),
        });
      },
    }),
  ];

  const handler = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    const api = url.pathname.startsWith("/api/");
    try {
      for (const { pattern, methods } of routes) {
        const match = pattern.exec(url);
        if (!match) continue;
        const handle = methods[request.method];
        if (!handle) {
          throw new HttpError(405, "method-not-allowed", `Method ${request.method} not allowed`, {
            allow: Object.keys(methods).join(", "),
          });
        }
        return await handle(request, match.pathname.groups);
      }
      throw new HttpError(404, "not-found", `Not found: ${url.pathname}`);
    } catch (error) {
      if (error instanceof HttpError) return errorResponse(error, api);
      throw error;
    }
  };
  return Object.assign(handler, { close: () => pinger.stop() });
}

function route(pathname: string, methods: Record<string, Handle>): Route {
  return { pattern: new URLPattern({ pathname }), methods };
}

function count(value: string | null, fallback: number, what: string): number {
  if (value === null || value === "") return fallback;
  if (!/^\d{1,9}$/.test(value)) {
    throw new HttpError(400, "bad-request", `${what} must be a non-negative integer`);
  }
  return Number(value);
}
