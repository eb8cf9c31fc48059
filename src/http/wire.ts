/**
 * HTTP/1.1 on the wire: finding and parsing a request head, and writing a response head.
 *
 * Pure functions over bytes, so the fuzz tests can hammer them. Strict where leniency would let a request
 * mean two things (RFC 9112 §11): no obsolete line folding, no whitespace before a colon, at most one
 * `Content-Length`, never both `Content-Length` and `Transfer-Encoding`.
 * @module
 */

/** A parsed request head. */
export interface RequestHead {
  /** `GET`, `POST`, ... (case-sensitive, as RFC 9110 says). */
  readonly method: string;
  /** The request target as sent (origin form `/path?query`, or absolute form). */
  readonly target: string;
  /** Minor version: 1 for HTTP/1.1, 0 for HTTP/1.0. */
  readonly minor: 0 | 1;
  /** The header fields, in order. */
  readonly headers: Headers;
  /** Body length (0 without one). */
  readonly contentLength: number;
  /** Whether the connection may carry another request after this one. */
  readonly keepAlive: boolean;
}

/** Why a head could not be parsed: the status to answer with, and a line of text. */
export interface HeadError {
  /** 400, 411, 413, 431, 501 or 505. */
  readonly status: number;
  /** One line for the response body. */
  readonly reason: string;
}

const latin1 = new TextDecoder("latin1");
const encoder = new TextEncoder();
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const LF = 0x0a;

/**
 * Where the head in `bytes` ends: the index just after the empty line (`\r\n\r\n`, or a bare `\n\n`, which
 * RFC 9112 lets a server accept), or -1 when it has not arrived yet. Empty lines before a request are skipped
 * by the caller ({@linkcode skipEmptyLines}).
 */
export function headEnd(bytes: Uint8Array, from = 0): number {
  let at = bytes.indexOf(LF, from);
  while (at !== -1) {
    const next = bytes[at + 1];
    if (next === LF) return at + 2;
    if (next === 0x0d && bytes[at + 2] === LF) return at + 3;
    at = bytes.indexOf(LF, at + 1);
  }
  return -1;
}

/** How many bytes of empty lines (`\r\n` left over by some clients after a body) start `bytes`. */
export function skipEmptyLines(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length && (bytes[i] === 0x0d || bytes[i] === LF)) i++;
  return i;
}

/** Parses a request head (the bytes up to and including its empty line). */
export function parseHead(bytes: Uint8Array, options: { maxBody: number }): RequestHead | HeadError {
  const lines = latin1.decode(bytes).split("\n").map((line) =>
    line.endsWith("\r") ? line.slice(0, -1) : line
  );
  const requestLine = lines[0] ?? "";
  const match = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) (\S+) HTTP\/1\.([01])$/.exec(requestLine);
  if (!match) {
    return /^\S+ \S+ HTTP\/\d/.test(requestLine)
      ? { status: 505, reason: "Only HTTP/1.0 and HTTP/1.1 are supported" }
      : { status: 400, reason: "Malformed request line" };
  }
  const headers = new Headers();
  for (const line of lines.slice(1)) {
    if (line === "") continue;
    if (line[0] === " " || line[0] === "\t") {
      return { status: 400, reason: "Folded header lines are not allowed" };
    }
    const colon = line.indexOf(":");
    const name = colon === -1 ? "" : line.slice(0, colon);
    if (!TOKEN.test(name)) return { status: 400, reason: "Malformed header line" };
    try {
      headers.append(name, line.slice(colon + 1).trim());
    } catch {
      return { status: 400, reason: `Malformed value of header ${name}` };
    }
  }
  const minor = match[3] === "1" ? 1 : 0;
  if (minor === 1 && !headers.has("host")) {
    return { status: 400, reason: "HTTP/1.1 requests need a Host header" };
  }
  if (headers.has("transfer-encoding")) {
    // A body of unknown length: hubbub's routes take small bodies only, and a length is simpler to trust.
    return headers.has("content-length")
      ? { status: 400, reason: "Content-Length and Transfer-Encoding together are not allowed" }
      : { status: 411, reason: "Send a Content-Length instead of Transfer-Encoding" };
  }
  let contentLength = 0;
  const lengthHeader = headers.get("content-length");
  if (lengthHeader !== null) {
    // Headers joins repeated fields with ", ": several equal values are one length (RFC 9112 §6.3).
    const values = new Set(lengthHeader.split(",").map((v) => v.trim()));
    const [only] = values;
    if (values.size !== 1 || !/^\d{1,15}$/.test(only!)) {
      return { status: 400, reason: "Malformed Content-Length" };
    }
    contentLength = Number(only);
    if (contentLength > options.maxBody) return { status: 413, reason: "Request body too large" };
  }
  const connection = (headers.get("connection") ?? "").toLowerCase().split(",").map((t) => t.trim());
  const keepAlive = minor === 1 ? !connection.includes("close") : connection.includes("keep-alive");
  return { method: match[1]!, target: match[2]!, minor, headers, contentLength, keepAlive };
}

/** The request URL for a head, from its target and `Host`; `null` when the target is not a usable URL. */
export function requestUrl(head: RequestHead, secure: boolean, fallbackHost: string): URL | null {
  const scheme = secure ? "https" : "http";
  try {
    if (head.target.startsWith("/")) {
      const host = head.headers.get("host") || fallbackHost;
      // The Host header must be a host and nothing more, or the URL would mean something else.
      if (!/^[A-Za-z0-9.\-\[\]:_%]+$/.test(host)) return null;
      return new URL(`${scheme}://${host}${head.target}`);
    }
    const url = new URL(head.target);
    return url.protocol === "http:" || url.protocol === "https:" ? url : null;
  } catch {
    return null;
  }
}

/** Reason phrases for the statuses hubbub sends. */
const REASONS: Record<number, string> = {
  101: "Switching Protocols",
  200: "OK",
  204: "No Content",
  301: "Moved Permanently",
  302: "Found",
  304: "Not Modified",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  411: "Length Required",
  413: "Content Too Large",
  426: "Upgrade Required",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  503: "Service Unavailable",
  505: "HTTP Version Not Supported",
};

/** Options of {@linkcode responseHead}. */
export interface ResponseHeadOptions {
  /** Status code. */
  readonly status: number;
  /** Header fields (`content-length` and `connection` are set from the other options). */
  readonly headers: Iterable<[string, string]>;
  /** Body length; omitted for 101, 204 and 304, which have none. */
  readonly length?: number;
  /** Whether the connection stays open for another request. */
  readonly keepAlive: boolean;
  /** The `Date` value (RFC 9110 wants one from servers with a clock). */
  readonly date: string;
}

/** Serialises a response head. Header values are Headers-validated already (no CR/LF can get in). */
export function responseHead(options: ResponseHeadOptions): Uint8Array {
  let text = `HTTP/1.1 ${options.status} ${
    REASONS[options.status] ?? "Unknown"
  }\r\ndate: ${options.date}\r\n`;
  for (const [name, value] of options.headers) {
    if (name === "content-length" || name === "date") continue;
    if (name === "connection" && options.status !== 101) continue;
    text += `${name}: ${value}\r\n`;
  }
  if (options.length !== undefined) text += `content-length: ${options.length}\r\n`;
  if (options.status !== 101) text += `connection: ${options.keepAlive ? "keep-alive" : "close"}\r\n`;
  return encoder.encode(text + "\r\n");
}

/** A whole plain-text response (for refusals written before any handler runs). */
export function plainResponse(
  status: number,
  text: string,
  date: string,
  extra: [string, string][] = [],
): Uint8Array {
  const body = encoder.encode(text + "\n");
  const head = responseHead({
    status,
    headers: [["content-type", "text/plain; charset=utf-8"], ["x-content-type-options", "nosniff"], ...extra],
    length: body.length,
    keepAlive: false,
    date,
  });
  const out = new Uint8Array(head.length + body.length);
  out.set(head);
  out.set(body, head.length);
  return out;
}
