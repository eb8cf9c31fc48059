/**
 * The page at `/`. Until the browser client lands this is a small static page pointing at the doors.
 * @module
 */

const PAGE = `<!doctype html>
<html lang="en">
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>hubbub</title>
<h1>hubbub</h1>
<p>Chat from a terminal: <code>ncat localhost 4000</code>, then <code>LOGIN yourname</code>.</p>
<p>WebSocket dialects: <code>/ws</code> (GoBanter), <code>/joinRoom</code> (goChat), <code>/mychat</code> (MaChat).</p>
</html>
`;

/** Serves the page with a strict Content-Security-Policy. */
export function servePage(_request: Request): Response {
  return new Response(PAGE, {
    headers: {
      "content-type": "text/html; charset=utf-8",
      "content-security-policy":
        "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'",
      "x-content-type-options": "nosniff",
    },
  });
}
