/**
 * One error type for HTTP answers, turned into a response in one place: JSON under `/api/`, a line of
 * text elsewhere.
 * @module
 */

/** An HTTP failure with its status; `code` is the machine-readable word in JSON answers. */
export class HttpError extends Error {
  /** HTTP status. */
  readonly status: number;
  /** Short machine-readable code (`not-found`). */
  readonly code: string;
  /** Extra headers (`Allow` for 405). */
  readonly headers: HeadersInit;

  /** Creates an error answer. */
  constructor(status: number, code: string, message: string, headers: HeadersInit = {}) {
    super(message);
    this.name = "HttpError";
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

/** The response for an error: JSON `{error, message}` for API paths, plain text otherwise. */
export function errorResponse(error: HttpError, api: boolean): Response {
  const headers = new Headers(error.headers);
  if (api) {
    headers.set("content-type", "application/json; charset=utf-8");
    return new Response(JSON.stringify({ error: error.code, message: error.message }), {
      status: error.status,
      headers,
    });
  }
  headers.set("content-type", "text/plain; charset=utf-8");
  return new Response(error.message + "\n", { status: error.status, headers });
}

/** A JSON response. */
export function json(body: unknown, init: ResponseInit = {}): Response {
  const headers = new Headers(init.headers);
  headers.set("content-type", "application/json; charset=utf-8");
  return new Response(JSON.stringify(body), { ...init, headers });
}
