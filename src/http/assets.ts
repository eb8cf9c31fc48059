/**
 * The page at `/` and its content-hashed script and style sheet.
 *
 * Everything comes from the generated module `page_bundle.gen.ts` (built by `scripts/build_web.ts`), so the
 * page travels in the module graph and `deno compile` embeds it. The HTML is revalidated on every load
 * (`no-cache` + `ETag`); the assets are immutable under their hashed paths. Each body is gzipped once, on
 * first use, and the bytes are kept.
 * @module
 */

import { PAGE_CSS, PAGE_CSS_PATH, PAGE_HASH, PAGE_HTML, PAGE_JS, PAGE_JS_PATH } from "./page_bundle.gen.ts";

/**
 * The page's Content-Security-Policy: scripts and styles only from this origin (no inline script or style),
 * connections only to this origin (`'self'` covers same-origin `ws:`/`wss:` in current browsers), no
 * framing, no plugins, no forms posting elsewhere.
 */
export const PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

interface Asset {
  readonly body: Uint8Array<ArrayBuffer>;
  readonly type: string;
  readonly etag: string;
  readonly cacheControl: string;
  gzip?: Promise<Uint8Array<ArrayBuffer>>;
}

const encoder = new TextEncoder();

function asset(text: string, type: string, etag: string, cacheControl: string): Asset {
  return { body: encoder.encode(text), type, etag: `"${etag}"`, cacheControl };
}

const IMMUTABLE = "public, max-age=31536000, immutable";

const PAGE = asset(PAGE_HTML, "text/html; charset=utf-8", `page-${PAGE_HASH}`, "no-cache");
const ASSETS: ReadonlyMap<string, Asset> = new Map([
  [PAGE_JS_PATH, asset(PAGE_JS, "text/javascript; charset=utf-8", PAGE_JS_PATH.split(".")[1]!, IMMUTABLE)],
  [PAGE_CSS_PATH, asset(PAGE_CSS, "text/css; charset=utf-8", PAGE_CSS_PATH.split(".")[1]!, IMMUTABLE)],
]);

/** The hashed paths of the page's script and style sheet, for the route table. */
export const ASSET_PATHS: readonly string[] = [...ASSETS.keys()];

/** Whether the request accepts gzip (`Accept-Encoding` with `gzip` or `*`, not at `q=0`). */
export function acceptsGzip(request: Request): boolean {
  const header = request.headers.get("accept-encoding");
  if (!header) return false;
  let gzip: boolean | undefined;
  let star = false;
  for (const part of header.split(",")) {
    const [coding = "", ...params] = part.trim().toLowerCase().split(";");
    const q = params.map((p) => p.trim()).find((p) => p.startsWith("q="));
    const allowed = q === undefined || Number(q.slice(2)) > 0;
    if (coding.trim() === "gzip" || coding.trim() === "x-gzip") gzip = allowed;
    else if (coding.trim() === "*") star = allowed;
  }
  return gzip ?? star;
}

/** Whether `If-None-Match` names one of `etags` (weak comparison, as RFC 9110 asks for it). */
function notModified(request: Request, etags: readonly string[]): boolean {
  const header = request.headers.get("if-none-match");
  if (header === null) return false;
  if (header.trim() === "*") return true;
  const wanted = new Set(header.split(",").map((t) => t.trim().replace(/^W\//, "")));
  return etags.some((etag) => wanted.has(etag));
}

async function gzip(bytes: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> {
  const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** The gzip ETag of an asset: a different representation needs a different strong validator. */
function gzipTag(etag: string): string {
  return `${etag.slice(0, -1)}-gz"`;
}

async function serve(request: Request, item: Asset, extra: Record<string, string>): Promise<Response> {
  const headers = new Headers({
    "cache-control": item.cacheControl,
    vary: "Accept-Encoding",
    "x-content-type-options": "nosniff",
    ...extra,
  });
  const zipped = acceptsGzip(request);
  const etag = zipped ? gzipTag(item.etag) : item.etag;
  headers.set("etag", etag);
  if (notModified(request, [item.etag, gzipTag(item.etag)])) {
    return new Response(null, { status: 304, headers });
  }
  headers.set("content-type", item.type);
  if (!zipped) return new Response(item.body, { headers });
  // Compressed once, at first use; every later request gets the same bytes.
  item.gzip ??= gzip(item.body);
  headers.set("content-encoding", "gzip");
  return new Response(await item.gzip, { headers });
}

/** Serves the page with a strict Content-Security-Policy. */
export function servePage(request: Request): Promise<Response> {
  return serve(request, PAGE, {
    "content-security-policy": PAGE_CSP,
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "x-frame-options": "DENY",
  });
}

/** Serves the page's script or style sheet at its hashed path ({@linkcode ASSET_PATHS}). */
export function serveAsset(request: Request): Promise<Response> {
  const item = ASSETS.get(new URL(request.url).pathname);
  if (!item) return Promise.resolve(new Response("Not found\n", { status: 404 }));
  return serve(request, item, {});
}
