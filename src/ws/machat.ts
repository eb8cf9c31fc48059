/**
 * `/mychat`: the MaChat WebSocket dialect. The first frame is the `{"name","room"}` handshake; then each
 * text or binary frame holds one or more `\n`-separated message lines; everyone in the room, the sender
 * included, receives `<name>:<text>\n` text frames.
 * @module
 */

import type { ChatEvent } from "../model.ts";
import { BAD_HANDSHAKE, machatLine, parseHandshake } from "../wire/machat.ts";
import type { Dialect, WsConnection } from "./upgrade.ts";
import { settle } from "./upgrade.ts";
import { wsCodec } from "./session.ts";

/** Renders hub events as MaChat text frames (a line each, with its `\n`). */
export const machatWsCodec = wsCodec({
  name: "machat-ws",
  echo: new Set(["message"]),
  render(event: ChatEvent): string | null {
    const text = machatLine(event);
    return text === null ? null : text + "\n";
  },
});

const decoder = new TextDecoder("utf-8", { fatal: true });

function lines(connection: WsConnection, data: string, replay: number): void | Promise<void> {
  const { hub, client, session } = connection;
  if (!connection.admit()) return;
  if (client.name === null) return handshake(connection, data, replay);
  // MaChat's client ends every frame with "\n"; a frame of several lines is several messages.
  for (const raw of data.replace(/\r?\n$/, "").split("\n")) {
    const text = raw.replace(/\r$/, "");
    if (text.trim() === "") continue;
    settle(hub.say(client, text), (code) => session.send(`ERR ${code}\n`));
  }
}

async function handshake(connection: WsConnection, data: string, replay: number): Promise<void> {
  const { hub, client, session } = connection;
  const wanted = parseHandshake(data);
  const login = wanted && await hub.claim(client, wanted.name, { variant: true });
  const joined = wanted && login?.ok && hub.join(client, wanted.room, { replay });
  if (!wanted || !login?.ok || !joined || !joined.ok) {
    // A good handshake refused because Redis is away, or because there are no guests, says so.
    const said = login && !login.ok && (login.code === "unavailable" || login.code === "login-required");
    session.send((said ? `ERR ${login.code}` : BAD_HANDSHAKE) + "\n");
    session.close("protocol");
    return;
  }
  if (login.value !== wanted.name) {
    hub.notify(client, "renamed", `your name is ${login.value} (${wanted.name} is taken)`);
  }
}

/** Options of {@linkcode machatWs}. */
export interface MachatWsOptions {
  /** Recent messages replayed to a client when it joins (default 0: MaChat's client shows them as live). */
  readonly historyOnJoin?: number;
}

/** The `/mychat` dialect; one object serves every connection. */
export function machatWs(options: MachatWsOptions = {}): Dialect {
  const replay = options.historyOnJoin ?? 0;
  return {
    codec: machatWsCodec,
    open() {
      // MaChat expects no greeting: the client speaks first.
    },
    text: (connection, data) => lines(connection, data, replay),
    binary(connection, data) {
      let text: string;
      try {
        text = decoder.decode(data);
      } catch {
        if (connection.admit()) connection.session.send("ERR invalid-utf8\n");
        return;
      }
      return lines(connection, text, replay);
    },
    tooLarge(connection) {
      connection.session.send("ERR frame-too-large\n");
    },
    limited(connection) {
      connection.session.send("ERR rate-limited\n");
    },
    awaitingHandshake(connection) {
      return connection.client.name === null;
    },
  };
}
