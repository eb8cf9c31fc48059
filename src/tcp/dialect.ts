/**
 * How hubbub's own line dialects (commands and MaChat over TCP) tell refusals and farewells: `ERR` and `INFO`
 * lines. The shape of a line dialect itself is shared by every line door (`src/net/lines/dialect.ts`).
 * @module
 */

import type { DoorClose, LineDialect } from "../net/lines/dialect.ts";

/**
 * How hubbub's own line dialects (commands and MaChat over TCP) tell refusals and farewells: `ERR` and
 * `INFO` lines. A dialect spreads it in and overrides what it says differently.
 */
export const hubbubTellings: Pick<LineDialect, "refused" | "limited" | "farewell"> = {
  refused(connection, why) {
    connection.session.send(`ERR ${why === "too-long" ? "line-too-long" : "invalid-utf8"}`);
  },
  limited(connection) {
    connection.session.send("ERR rate-limited: slow down");
  },
  farewell(connection, reason) {
    connection.session.send(FAREWELLS[reason]);
  },
};

const FAREWELLS: Record<DoorClose, string> = {
  flood: "ERR flood: too many lines for too long, disconnecting",
  "login-timeout": "ERR login-timeout",
  idle: "INFO disconnected due to inactivity",
};
