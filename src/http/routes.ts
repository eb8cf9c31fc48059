/**
 * The HTTP door: a small route table on the built-in `URLPattern`, serving the page, health, readiness,
 * metrics and a JSON API, plus the routes other doors hand it (the WebSocket door's upgrade paths). It knows
 * nothing of WebSocket: {@linkcode createHandler} returns a plain `(Request, info) => Response` handler
 * usable by hubbub's HTTP server and by tests alike.
 * @module
 */

import { checkRoom } from "../names.ts";
import type { Hub } from "../hub/hub.ts";
import { errorResponse, HttpError, json } from "./errors.ts";
import { type Family, type Histogram, Metrics, renderPrometheus } from "../metrics.ts";
import { ASSET_PATHS, serveAsset, servePage } from "./assets.ts";
import { type Handle, type Route, route } from "./route.ts";
import type { HttpInfo } from "./server.ts";
import { broadcastPayload, MAX_HISTORY } from "../wire/gobanter.ts";
import { signedInName, signInRoutes } from "./signin.ts";

/** Options of {@linkcode createHandler}. */
export interface HandlerOptions {
  /** The hub the API and metrics read. */
  readonly hub: Hub;
  /** Routes of the doors that ride on HTTP (the WebSocket door's); the handler's own routes come first. */
  readonly routes?: readonly Route[];
  /** Whether the server is ready to serve (for `/readyz`). */
  readonly ready?: () => boolean;
  /** The counters `/metrics` renders (the ones the hub bumps); empty ones when not given. */
  readonly metrics?: Metrics;
}

/** Handles one request; a route that takes the socket over (an upgrade) needs the server's `info`. */
export type RequestHandler = (request: Request, info?: HttpInfo) => Promise<Response>;

/** Builds the request handler. */
export function createHandler(options: HandlerOptions): RequestHandler {
  const { hub } = options;
  const metrics = options.metrics ?? new Metrics();

  const routes: Route[] = [
    route("/", { GET: (request) => servePage(request) }),
    ...ASSET_PATHS.map((path) => route(path, { GET: (request) => serveAsset(request) })),
    route("/healthz", { GET: () => text("ok\n") }),
    route("/readyz", {
      GET: () => (options.ready?.() ?? true) ? text("ready\n") : text("not ready\n", 503),
    }),
    route("/metrics", {
      GET: () => text(metricsText(hub, metrics), 200, "text/plain; version=0.0.4; charset=utf-8"),
    }),
    route("/api/rooms", { GET: forMembers(hub, () => json({ rooms: hub.rooms() })) }),
    route("/api/rooms/:room/messages", {
      GET: forMembers(hub, async (request, { room }) => {
        const name = decodeURIComponent(room ?? "");
        if (checkRoom(name)) throw new HttpError(400, "invalid-room", `Not a valid room name: '${name}'`);
        const url = new URL(request.url);
        const limit = Math.min(count(url.searchParams.get("limit"), 50, "limit"), MAX_HISTORY);
        const beforeText = url.searchParams.get("before");
        const before = beforeText === null || beforeText === "" ? undefined : count(beforeText, 0, "before");
        const result = await hub.history(name, { limit, ...(before === undefined ? {} : { before }) });
        if (!result.ok) throw new HttpError(503, result.code, result.detail, { "retry-after": "5" });
        // Room messages only: DMs never leave their pair through the API.
        return json({ room: name, messages: result.value.messages.map(broadcastPayload) });
      }),
    }),
    route("/api/rooms/:room/members", {
      GET: forMembers(hub, (request, { room }) => {
        const name = decodeURIComponent(room ?? "");
        if (checkRoom(name)) throw new HttpError(400, "invalid-room", `Not a valid room name: '${name}'`);
        const url = new URL(request.url);
        const offset = count(url.searchParams.get("offset"), 0, "offset");
        const limit = count(url.searchParams.get("limit"), hub.listLimit, "limit");
        const page = hub.members(name, { offset, limit });
        return json({ room: name, total: page.total, offset, members: page.members.map((u) => u.name) });
      }),
    }),
    ...signInRoutes(hub),
    ...options.routes ?? [],
  ];

  return async (request: Request, info?: HttpInfo): Promise<Response> => {
    const url = new URL(request.url);
    const api = url.pathname.startsWith("/api/");
    try {
      for (const { pattern, methods } of routes) {
        const match = pattern.exec(url);
        if (!match) continue;
        // HEAD is GET without the body, for every GET route that is not a WebSocket upgrade.
        const head = request.method === "HEAD" && methods.GET !== undefined;
        const handle = head ? methods.GET : methods[request.method];
        if (!handle) {
          const allow = Object.keys(methods).flatMap((m) => m === "GET" ? ["GET", "HEAD"] : [m]);
          throw new HttpError(405, "method-not-allowed", `Method ${request.method} not allowed`, {
            allow: allow.join(", "),
          });
        }
        const response = await handle(
          head ? new Request(request, { method: "GET" }) : request,
          match.pathname.groups,
          info,
        );
        if (!head) return response;
        await response.body?.cancel();
        return new Response(null, { status: response.status, headers: response.headers });
      }
      throw new HttpError(404, "not-found", `Not found: ${url.pathname}`);
    } catch (error) {
      if (error instanceof HttpError) return errorResponse(error, api);
      throw error;
    }
  };
}

/** With `--accounts required`, rooms are for members: the API's room routes need a signed-in page. */
function forMembers(hub: Hub, handle: Handle): Handle {
  return async (request, params, info) => {
    if (hub.accounts.mode === "required" && await signedInName(hub, request) === null) {
      throw new HttpError(401, "login-required", "Sign in first: this server has no guests");
    }
    return handle(request, params, info);
  };
}

function text(body: string, status = 200, type = "text/plain; charset=utf-8"): Response {
  return new Response(body, { status, headers: { "content-type": type } });
}

function metricsText(hub: HandlerOptions["hub"], m: Metrics): string {
  const g = hub.gauges();
  return renderPrometheus([
    {
      name: "hubbub_connections",
      type: "gauge",
      help: "Open connections by dialect.",
      samples: [...g.connections].map(([dialect, value]) => ({
        name: "hubbub_connections",
        labels: { dialect },
        value,
      })),
    },
    single("hubbub_rooms", "gauge", "Rooms in memory.", g.rooms),
    single("hubbub_members", "gauge", "Distinct logged-in names.", g.members),
    single("hubbub_queued_bytes", "gauge", "Outbound bytes queued across all connections.", g.queuedBytes),
    {
      name: "hubbub_messages_in_total",
      type: "counter",
      help: "Messages accepted and stored, by kind.",
      samples: [
        { name: "hubbub_messages_in_total", labels: { kind: "room" }, value: m.messagesIn },
        { name: "hubbub_messages_in_total", labels: { kind: "direct" }, value: m.directsIn },
      ],
    },
    single(
      "hubbub_frames_out_total",
      "counter",
      "Frames handed to connections (one per recipient).",
      m.framesOut,
    ),
    single(
      "hubbub_slow_readers_dropped_total",
      "counter",
      "Connections dropped because they did not read.",
      m.slowReadersDropped,
    ),
    single(
      "hubbub_overload_refusals_total",
      "counter",
      "Messages refused because most connections were backed up (admission control).",
      m.overloadRefusals,
    ),
    single(
      "hubbub_store_failures_total",
      "counter",
      "Messages refused because the store failed.",
      m.storeFailures,
    ),
    histogram("hubbub_store_append_seconds", "Time from append to durable.", m.storeLatency),
    {
      name: "hubbub_node_info",
      type: "gauge",
      help: "This process's node id in the cluster (local without --redis).",
      samples: [{ name: "hubbub_node_info", labels: { node: hub.node }, value: 1 }],
    },
    single(
      "hubbub_presence_remote_members",
      "gauge",
      "Members known on other nodes of the cluster.",
      g.remoteMembers,
    ),
    single("hubbub_bus_published_total", "counter", "Bus events this node published.", m.busPublished),
    single(
      "hubbub_bus_received_total",
      "counter",
      "Bus events this node received from Redis.",
      m.busReceived,
    ),
    histogram("hubbub_redis_seconds", "Redis round trips of the store.", m.redisLatency),
  ]);
}

/** A family with one unlabelled sample. */
function single(name: string, type: "counter" | "gauge", help: string, value: number): Family {
  return { name, type, help, samples: [{ name, value }] };
}

function histogram(name: string, help: string, values: Histogram): Family {
  return { name, type: "histogram", help, samples: values.render(name) };
}

function count(value: string | null, fallback: number, what: string): number {
  if (value === null || value === "") return fallback;
  if (!/^\d{1,9}$/.test(value)) {
    throw new HttpError(400, "bad-request", `${what} must be a non-negative integer`);
  }
  return Number(value);
}
