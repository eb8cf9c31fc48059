/** The page over HTTP: CSP, hashed immutable assets, ETag/304, gzip, and freshness of the generated bundle. */

import assert from "node:assert/strict";
import { serve } from "./_helpers.ts";
import { acceptsGzip, ASSET_PATHS, PAGE_CSP, serveAsset, servePage } from "../src/http/assets.ts";
import { PAGE_CSS, PAGE_CSS_PATH, PAGE_HTML, PAGE_JS, PAGE_JS_PATH } from "../src/http/page_bundle.gen.ts";
import { GENERATED, isFresh } from "../scripts/build_web.ts";

const BASE = "http://hubbub.test";

function get(path: string, headers: Record<string, string> = {}): Request {
  return new Request(`${BASE}${path}`, { headers });
}

async function gunzip(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return await new Response(stream).text();
}

async function sha256Prefix(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  return [...digest.slice(0, 8)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("assets: GET / serves the page with a strict CSP, nosniff and no inline script or style", async () => {
  const response = await servePage(get("/"));
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "text/html; charset=utf-8");
  assert.equal(response.headers.get("x-content-type-options"), "nosniff");
  assert.equal(response.headers.get("cache-control"), "no-cache");
  assert.ok(response.headers.get("etag"));
  const csp = response.headers.get("content-security-policy") ?? "";
  assert.equal(csp, PAGE_CSP);
  for (
    const directive of ["default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'"]
  ) {
    assert.ok(csp.includes(directive), `CSP lacks ${directive}`);
  }
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*/);

  const html = await response.text();
  assert.equal(html, PAGE_HTML);
  // Every script has a src on this origin; no inline script, no event-handler attributes, no inline style.
  const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)];
  assert.equal(scripts.length, 1);
  for (const [, attrs, body] of scripts) {
    assert.match(attrs!, new RegExp(`src="${PAGE_JS_PATH.replaceAll(".", "\\.")}"`));
    assert.equal(body!.trim(), "");
  }
  assert.doesNotMatch(html, /<style\b|\sstyle=|\son[a-z]+=|https?:\/\/(?!www\.w3\.org\/2000\/svg)/i);
  assert.ok(html.includes(`href="${PAGE_CSS_PATH}"`));
});

Deno.test("assets: they live at content-hashed paths, immutable, with ETags", async () => {
  assert.deepEqual([...ASSET_PATHS].sort(), [PAGE_CSS_PATH, PAGE_JS_PATH].sort());
  assert.equal(PAGE_JS_PATH, `/app.${await sha256Prefix(PAGE_JS)}.js`);
  assert.equal(PAGE_CSS_PATH, `/app.${await sha256Prefix(PAGE_CSS)}.css`);

  const js = await serveAsset(get(PAGE_JS_PATH));
  assert.equal(js.status, 200);
  assert.equal(js.headers.get("content-type"), "text/javascript; charset=utf-8");
  assert.equal(js.headers.get("cache-control"), "public, max-age=31536000, immutable");
  assert.equal(js.headers.get("x-content-type-options"), "nosniff");
  assert.equal(js.headers.get("content-encoding"), null);
  assert.equal(await js.text(), PAGE_JS);

  const css = await serveAsset(get(PAGE_CSS_PATH));
  assert.equal(css.headers.get("content-type"), "text/css; charset=utf-8");
  assert.equal(await css.text(), PAGE_CSS);
  // The bundle is the page's, not a placeholder.
  assert.ok(PAGE_JS.length > 10_000);
});

Deno.test("assets: If-None-Match answers 304 for the page and the assets, weak or strong, plain or gzip", async () => {
  for (const path of ["/", ...ASSET_PATHS]) {
    const serveIt = path === "/" ? servePage : serveAsset;
    const first = await serveIt(get(path));
    const etag = first.headers.get("etag")!;
    await first.body?.cancel();
    assert.match(etag, /^"[^"]+"$/);
    for (const tag of [etag, `W/${etag}`, `"other", ${etag}`]) {
      const again = await serveIt(get(path, { "if-none-match": tag }));
      assert.equal(again.status, 304, `${path} with ${tag}`);
      assert.equal(again.headers.get("etag"), etag);
      assert.equal(await again.text(), "");
    }
    const zipped = await serveIt(get(path, { "accept-encoding": "gzip" }));
    const zippedTag = zipped.headers.get("etag")!;
    await zipped.body?.cancel();
    assert.notEqual(zippedTag, etag, "a gzip body needs its own strong ETag");
    const notModified = await serveIt(get(path, { "accept-encoding": "gzip", "if-none-match": zippedTag }));
    assert.equal(notModified.status, 304);
    const changed = await serveIt(get(path, { "if-none-match": '"stale"' }));
    assert.equal(changed.status, 200);
    await changed.body?.cancel();
  }
});

Deno.test("assets: gzip when accepted, compressed once and cached; identity otherwise", async () => {
  const a = await serveAsset(get(PAGE_JS_PATH, { "accept-encoding": "br, gzip;q=0.8" }));
  assert.equal(a.headers.get("content-encoding"), "gzip");
  assert.equal(a.headers.get("vary"), "Accept-Encoding");
  const bytesA = new Uint8Array(await a.arrayBuffer());
  assert.ok(bytesA.length < PAGE_JS.length / 2, "gzip should at least halve the script");
  assert.equal(await gunzip(bytesA), PAGE_JS);
  const b = await serveAsset(get(PAGE_JS_PATH, { "accept-encoding": "gzip" }));
  assert.deepEqual(new Uint8Array(await b.arrayBuffer()), bytesA, "the same bytes every time");

  const page = await servePage(get("/", { "accept-encoding": "gzip, deflate" }));
  assert.equal(page.headers.get("content-encoding"), "gzip");
  assert.ok(page.headers.get("content-security-policy"));
  assert.equal(await gunzip(new Uint8Array(await page.arrayBuffer())), PAGE_HTML);

  for (const header of ["gzip;q=0", "identity", "br", ""]) {
    const plain = await serveAsset(get(PAGE_CSS_PATH, header ? { "accept-encoding": header } : {}));
    assert.equal(plain.headers.get("content-encoding"), null, header);
    assert.equal(await plain.text(), PAGE_CSS);
  }
});

Deno.test("acceptsGzip reads Accept-Encoding with q-values", () => {
  const accepts = (value: string) => acceptsGzip(get("/", { "accept-encoding": value }));
  assert.equal(accepts("gzip"), true);
  assert.equal(accepts("GZIP, br"), true);
  assert.equal(accepts("gzip;q=0.5"), true);
  assert.equal(accepts("gzip; q=0"), false);
  assert.equal(accepts("*"), true);
  assert.equal(accepts("*;q=0"), false);
  assert.equal(accepts("br, *;q=0.1"), true);
  assert.equal(accepts("gzip;q=0, *"), false);
  assert.equal(accepts("deflate, br"), false);
  assert.equal(acceptsGzip(get("/")), false);
});

Deno.test("assets: the running server routes /, the hashed assets, and 404s for other hashes", async () => {
  await using server = serve({ tcp: null });
  const base = `http://127.0.0.1:${server.http!.port}`;
  const page = await fetch(`${base}/`);
  assert.equal(page.status, 200);
  assert.ok(page.headers.get("content-security-policy"));
  assert.equal(await page.text(), PAGE_HTML);
  for (const [path, body] of [[PAGE_JS_PATH, PAGE_JS], [PAGE_CSS_PATH, PAGE_CSS]] as const) {
    const response = await fetch(`${base}${path}`);
    assert.equal(response.status, 200, path);
    assert.equal(response.headers.get("cache-control"), "public, max-age=31536000, immutable");
    assert.equal(await response.text(), body);
  }
  const stale = await fetch(`${base}/app.0123456789abcdef.js`);
  assert.equal(stale.status, 404);
  await stale.body?.cancel();
});

Deno.test(`page bundle: the committed ${GENERATED} is what \`deno task build\` makes from web/`, async () => {
  const { fresh } = await isFresh();
  assert.ok(fresh, `${GENERATED} is stale: run \`deno task build\` and commit the result`);
});
