/**
 * One entry of an HTTP route table: a `URLPattern` and a handler per method.
 *
 * The HTTP door's handler (`createHandler` in `routes.ts`) walks a table of these; a door that rides on HTTP
 * (the WebSocket door) builds its own entries with {@linkcode route} and hands them over, so neither door
 * imports the other's routes.
 * @module
 */

import type { HttpInfo } from "./server.ts";

/** Answers one request that matched a route; `params` are the pattern's named groups. */
export type Handle = (
  request: Request,
  params: Record<string, string | undefined>,
  info?: HttpInfo,
) => Response | Promise<Response>;

/** A path pattern and what each method does there (GET also answers HEAD). */
export interface Route {
  /** The path the route answers. */
  readonly pattern: URLPattern;
  /** Handlers by method name (`GET`, `POST`). */
  readonly methods: Readonly<Record<string, Handle>>;
}

/** A route for `pathname` (a `URLPattern` pathname: `/api/rooms/:room`). */
export function route(pathname: string, methods: Record<string, Handle>): Route {
  return { pattern: new URLPattern({ pathname }), methods };
}
