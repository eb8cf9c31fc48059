/**
 * The page's session cookie, which two doors share: the HTTP door sets and clears it (`POST` and `DELETE
 * /api/session`), and the WebSocket door reads it from the upgrade request to sign the connection in.
 *
 * `hubbub_session=<token>; Path=/; HttpOnly; SameSite=Strict; Max-Age=<s>`, plus `Secure` on a TLS
 * connection: page scripts cannot read it, other sites' pages never send it (neither their requests nor their
 * WebSocket upgrades), and over TLS it never travels in clear.
 * @module
 */

/** The cookie's name. */
export const SESSION_COOKIE = "hubbub_session";

/** Options of {@linkcode sessionCookie}. */
export interface CookieOptions {
  /** The connection is TLS: the cookie gets `Secure`. */
  readonly secure: boolean;
  /** Seconds until the browser forgets it. */
  readonly maxAgeSeconds: number;
}

/** The `Set-Cookie` value that stores `token`. */
export function sessionCookie(token: string, options: CookieOptions): string {
  const secure = options.secure ? "; Secure" : "";
  return `${SESSION_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${options.maxAgeSeconds}${secure}`;
}

/** The `Set-Cookie` value that makes the browser forget the cookie. */
export function clearedSessionCookie(secure: boolean): string {
  return sessionCookie("", { secure, maxAgeSeconds: 0 });
}

/** The session token in a request's `Cookie` header, or `null`. */
export function readSessionCookie(headers: Headers): string | null {
  const header = headers.get("cookie");
  if (header === null) return null;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq === -1 || part.slice(0, eq).trim() !== SESSION_COOKIE) continue;
    const value = part.slice(eq + 1).trim();
    if (value !== "") return value;
  }
  return null;
}
