/**
 * The MaChat TCP dialect: a JSON handshake `{"name":"...","room":"..."}` with no newline required, then
 * plain text lines; every room member, the sender included, receives `<name>:<text>`.
 *
 * The handshake is the dialect's {@linkcode Preamble}: it takes the connection's first bytes until
 * {@linkcode handshakeEnd} finds the object's end, then claims the name and joins the room; the bytes after it
 * are the first lines.
 * @module
 */

import type { ChatEvent, Codec, Frame } from "../model.ts";
import { BAD_HANDSHAKE, machatLine, parseHandshake } from "../wire/machat.ts";
import type { LineConnection, LineDialect, Preamble } from "../net/lines/dialect.ts";
import { hubbubTellings } from "./dialect.ts";
import { concat } from "../hub/backpressure.ts";
import { line } from "../net/lines/framer.ts";

/** Longest handshake accepted, in bytes. */
export const MAX_HANDSHAKE = 4096;

/**
 * Finds where the JSON object at the start of `bytes` ends: the index after its closing brace, `-1` when
 * more bytes are needed. Tracks strings and escapes so a `}` inside a name does not end the object.
 */
export function handshakeEnd(bytes: Uint8Array): number {
  let depth = 0;
  let inString = false;
  let escaped = false;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (inString) {
      if (escaped) escaped = false;
      else if (b === 0x5c) escaped = true;
      else if (b === 0x22) inString = false;
    } else if (b === 0x22) inString = true;
    else if (b === 0x7b) depth++;
    else if (b === 0x7d && --depth === 0) return i + 1;
  }
  return -1;
}

/** Renders hub events as MaChat lines; the sender hears its own messages. */
export const machatCodec: Codec = {
  name: "machat",
  echo: new Set(["message"]),
  encode(event: ChatEvent): Frame | null {
    const text = machatLine(event);
    return text === null ? null : line(text);
  },
};

/** Options of {@linkcode machatDialect}. */
export interface MachatDialectOptions {
  /** Recent messages replayed to a client when it joins (default 0: MaChat's client shows them as live). */
  readonly historyOnJoin?: number;
}

/** The MaChat TCP dialect; one object serves every connection. */
export function machatDialect(options: MachatDialectOptions = {}): LineDialect {
  const replay = options.historyOnJoin ?? 0;
  return {
    codec: machatCodec,
    preamble: (connection) => new HandshakeReader(connection, replay),
    open() {
      // MaChat expects no greeting: the client speaks first.
    },
    line(connection, text) {
      const { hub, client, session } = connection;
      connection.track(hub.say(client, text), (code) => session.send(`ERR ${code}`));
    },
    ...hubbubTellings,
    farewell(connection, reason) {
      // MaChat's client knows one refusal: a handshake that never came is a bad one.
      if (reason === "login-timeout") connection.session.send(BAD_HANDSHAKE);
      else hubbubTellings.farewell(connection, reason);
    },
  };
}

const decoder = new TextDecoder("utf-8", { fatal: true });

/** Collects one connection's handshake (at most {@linkcode MAX_HANDSHAKE} bytes) and acts on it. */
class HandshakeReader implements Preamble {
  readonly #connection: LineConnection;
  readonly #replay: number;
  #chunks: Uint8Array[] = [];
  #length = 0;

  constructor(connection: LineConnection, replay: number) {
    this.#connection = connection;
    this.#replay = replay;
  }

  async read(chunk: Uint8Array): Promise<Uint8Array | null> {
    // Copy: the listener reuses its read buffer.
    this.#chunks.push(chunk.slice());
    this.#length += chunk.length;
    const bytes = concat(this.#chunks, this.#length);
    const end = handshakeEnd(bytes);
    if (end === -1) {
      if (this.#length > MAX_HANDSHAKE) refuseHandshake(this.#connection);
      return null;
    }
    this.#chunks = [];
    const accepted = await acceptHandshake(this.#connection, bytes.subarray(0, end), this.#replay);
    return accepted ? bytes.subarray(end) : null;
  }
}

async function acceptHandshake(
  connection: LineConnection,
  bytes: Uint8Array,
  replay: number,
): Promise<boolean> {
  const { hub, client, session } = connection;
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    return refuseHandshake(connection);
  }
  const handshake = parseHandshake(text);
  if (!handshake) return refuseHandshake(connection);
  const login = await hub.claim(client, handshake.name, { variant: true });
  if (!login.ok && (login.code === "unavailable" || login.code === "login-required")) {
    // The handshake was fine; the cluster's names cannot be asked (Redis is away), or there are no guests.
    session.send(`ERR ${login.code}`);
    connection.end("protocol");
    return false;
  }
  if (!login.ok) return refuseHandshake(connection);
  const joined = hub.join(client, handshake.room, { replay });
  if (!joined.ok) {
    hub.disconnect(client);
    return refuseHandshake(connection);
  }
  if (login.value !== handshake.name) {
    hub.notify(client, "renamed", `your name is ${login.value} (${handshake.name} is taken)`);
  }
  return true;
}

function refuseHandshake(connection: LineConnection): false {
  connection.session.send(BAD_HANDSHAKE);
  connection.end("protocol");
  return false;
}
