/**
 * The WebSocket Origin policy: same-origin and origin-less clients are welcome; other origins only when
 * listed with `--allow-origin` (`*` for any, `null` for pages opened from disk).
 *
 * Origins are compared parsed (scheme, host, port; case-insensitive; a trailing `/` ignored), never as raw
 * strings: the request's `Origin` is parsed here, the allowed ones once when the command line is read
 * (`src/cli.ts`); the same origin is this connection's scheme with the request's `Host`.
 * @module
 */

/**
 * Whether a WebSocket upgrade from `request` may proceed. Same origin means the same scheme too: a page from
 * `https://host` may not open a socket on a plain-HTTP `host` (nor the other way round) unless allowed.
 * `allowed` holds `*`, `null` and origins as `--allow-origin` normalises them (`https://host[:port]`).
 */
export function originAllowed(request: Request, allowed: readonly string[], secure = false): boolean {
  const origin = request.headers.get("origin");
  if (origin === null) return true;
  if (allowed.includes("*")) return true;
  if (origin.trim() === "null") return allowed.includes("null");
  const parsed = parse(origin);
  if (!parsed) return false;
  const host = request.headers.get("host");
  // Same origin: the page was served by this host, over this connection's scheme.
  if (host && parse(`${secure ? "https" : "http"}://${host}`)?.origin === parsed.origin) return true;
  return allowed.includes(parsed.origin);
}

function parse(value: string): URL | null {
  try {
    return new URL(value.trim());
  } catch {
    return null;
  }
}
