/**
 * The page's sign-in over HTTP: the routes that exchange a password for the session cookie, since only an
 * HTTP response can set an `HttpOnly` cookie. The WebSocket upgrade then carries the cookie, and the `/ws`
 * connection is signed in without the password being sent again (a reload asks nothing).
 *
 * - `GET /api/session` → `{"accounts":"off|on|required","username":"alice"|null}`
 * - `POST /api/session` `{"username","password"}` → `{"username"}` and the cookie (sign in)
 * - `DELETE /api/session` → 204, the session ended in the store and the cookie cleared (sign out)
 * - `POST /api/accounts` `{"username","password","session"?}` → 201 `{"username"}` and the cookie (register a
 *   free name, or the one this page holds as a guest: `session` is the page's `Session` token)
 *
 * Requests that change something must come from the page's own origin (or carry no `Origin`) and be JSON, so
 * another site cannot sign a browser in or out (its form posts are neither). Refusals are JSON
 * `{error, message}` with the hub's codes: 400 `invalid-username`/`weak-password`/`bad-request`, 401
 * `bad-credentials`, 404 `accounts-off`, 409 `already-registered`/`username-taken`, 429 `too-many-attempts`,
 * 503 `unavailable`/`rate-limited` (busy hashing).
 * @module
 */

import type { Hub } from "../hub/hub.ts";
import type { ErrorCode } from "../model.ts";
import { clearedSessionCookie, readSessionCookie, sessionCookie } from "../wire/cookie.ts";
import { HttpError, json } from "./errors.ts";
import { originAllowed } from "./origin.ts";
import { type Route, route } from "./route.ts";
import type { HttpInfo } from "./server.ts";

const STATUS: Partial<Record<ErrorCode, number>> = {
  "invalid-username": 400,
  "weak-password": 400,
  "bad-credentials": 401,
  "accounts-off": 404,
  "already-registered": 409,
  "username-taken": 409,
  "too-many-attempts": 429,
  "unavailable": 503,
  "rate-limited": 503,
};

/** The sign-in routes for the HTTP door's table. */
export function signInRoutes(hub: Hub): Route[] {
  const accounts = hub.accounts;
  return [
    route("/api/session", {
      GET: async (request) => {
        const token = readSessionCookie(request.headers);
        const name = token === null ? null : await accounts.sessionName(token);
        if (name !== null && !name.ok) throw refusal(name.code, name.detail);
        return json({ accounts: accounts.mode, username: name?.value ?? null });
      },
      POST: async (request, _, info) => {
        const { username, password } = await credentials(request, info);
        const grant = await accounts.signIn(username, password, { ip: address(info) });
        if (!grant.ok) throw refusal(grant.code, grant.detail);
        return signedIn(grant.value, info, 200);
      },
      DELETE: async (request, _, info) => {
        sameOrigin(request, info);
        const token = readSessionCookie(request.headers);
        if (token !== null) {
          const ended = await accounts.signOut(token);
          if (!ended.ok) throw refusal(ended.code, ended.detail);
        }
        return new Response(null, {
          status: 204,
          headers: { "set-cookie": clearedSessionCookie(info?.secure ?? false), "cache-control": "no-store" },
        });
      },
    }),
    route("/api/accounts", {
      POST: async (request, _, info) => {
        const body = await credentials(request, info);
        const grant = await accounts.signUp(body.username, body.password, {
          ip: address(info),
          pageToken: body.session,
        });
        if (!grant.ok) throw refusal(grant.code, grant.detail);
        return signedIn(grant.value, info, 201);
      },
    }),
  ];
}

/** The session's name when the request's cookie signs in to an account, else `null`. */
export async function signedInName(hub: Hub, request: Request): Promise<string | null> {
  const token = readSessionCookie(request.headers);
  if (token === null) return null;
  const name = await hub.accounts.sessionName(token);
  return name.ok ? name.value : null;
}

function signedIn(
  grant: { name: string; token: string; expires: number },
  info: HttpInfo | undefined,
  status: number,
) {
  const maxAgeSeconds = Math.max(0, Math.round((grant.expires - Date.now()) / 1000));
  return json({ username: grant.name }, {
    status,
    headers: {
      "set-cookie": sessionCookie(grant.token, { secure: info?.secure ?? false, maxAgeSeconds }),
      "cache-control": "no-store",
    },
  });
}

/** The JSON body of a sign-in or registration, from the page's own origin. */
async function credentials(
  request: Request,
  info: HttpInfo | undefined,
): Promise<{ username: string; password: string; session: string | null }> {
  sameOrigin(request, info);
  if (!/^application\/json\b/i.test(request.headers.get("content-type") ?? "")) {
    throw new HttpError(415, "bad-request", "Send JSON (Content-Type: application/json)");
  }
  let body: unknown;
  try {
    body = await request.json();
  } catch {
    throw new HttpError(400, "bad-request", "Cannot parse the body: not JSON");
  }
  const { username, password, session } = (body ?? {}) as Record<string, unknown>;
  if (typeof username !== "string" || typeof password !== "string") {
    throw new HttpError(400, "bad-request", "username and password must be strings");
  }
  return { username: username.trim(), password, session: typeof session === "string" ? session : null };
}

function sameOrigin(request: Request, info: HttpInfo | undefined): void {
  if (!originAllowed(request, [], info?.secure ?? false)) {
    throw new HttpError(403, "forbidden-origin", "Sign in from hubbub's own page");
  }
}

function address(info: HttpInfo | undefined): string {
  return info?.remoteAddr.hostname ?? "unknown";
}

function refusal(code: ErrorCode, detail: string): HttpError {
  return new HttpError(
    STATUS[code] ?? 400,
    code,
    detail,
    code === "unavailable" ? { "retry-after": "5" } : {},
  );
}
