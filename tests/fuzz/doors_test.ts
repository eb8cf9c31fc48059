/**
 * Fuzzing the doors over real sockets: random and mutated frames to `/ws` (both GoBanter shapes),
 * `/joinRoom` (goChat) and `/mychat` (MaChat), and random bytes to the TCP door in both dialects, against
 * one in-process server per test. Whatever arrives, the server never crashes nor logs a failed handler,
 * every reply is well-formed in the dialect (parseable JSON of the dialect's shape, or one line) or there
 * is none or a close, connections are all let go, and a healthy client is served afterwards.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { configure, type LogRecord, reset } from "@logtape/logtape";
import { eventually, LineClient, serve, WsClient } from "../_helpers.ts";
import { assertHealthy, b64, upgradeStatus } from "../abuse/_abuse.ts";
import { checkName, checkRoom } from "../../src/names.ts";
import { fromBase64, parseQuery } from "../../src/ws/gochat.ts";
import { anyText, jsonish, mutated, params, sharpText, SOCKET_RUNS } from "./_fuzz.ts";

const encoder = new TextEncoder();
const LIMITS = { maxFrameBytes: 2048, maxLineBytes: 1024, loginTimeoutMs: 500, presenceIntervalMs: 20 };

/** Runs `fn` with logtape capturing every record of warning level and up; fails on any error record. */
async function failingOnErrors(fn: () => Promise<void>): Promise<void> {
  const records: LogRecord[] = [];
  await configure({
    reset: true,
    sinks: { capture: (record) => records.push(record) },
    loggers: [
      { category: ["hubbub"], lowestLevel: "warning", sinks: ["capture"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["capture"] },
    ],
  });
  try {
    await fn();
  } finally {
    await reset();
  }
  const errors = records.filter((r) => r.level === "error" || r.level === "fatal");
  assert.deepEqual(errors.map((r) => `${r.category.join(".")}: ${r.message.join("")}`), []);
}

const validName = fc.stringMatching(/^[a-z][a-z0-9_.-]{0,15}$/).filter((n) => checkName(n) === null);
const validRoom = fc.stringMatching(/^#?[a-z0-9][a-z0-9_.-]{0,15}$/).filter((r) => checkRoom(r) === null);
const oversized = fc.integer({ min: 2100, max: 4000 }).map((n) => "x".repeat(n));

/** A frame for the GoBanter door: either shape, well-formed, random or mutated JSON, raw text or bytes. */
const gobanterFrame: fc.Arbitrary<string | Uint8Array> = (() => {
  const action = fc.oneof(
    fc.constantFrom(
      "username",
      "broadcast",
      "private",
      "join",
      "leave",
      "userlist",
      "history",
      "typing",
      "left",
      "list_users",
    ),
    sharpText,
  );
  const payload = fc.oneof(
    jsonish,
    fc.record({
      Username: fc.oneof(validName, jsonish),
      Message: fc.oneof(sharpText, jsonish),
      Room: fc.oneof(validRoom, jsonish),
      To: fc.oneof(validName, jsonish),
      Limit: fc.oneof(fc.integer({ min: -5, max: 600 }), jsonish),
      Before: jsonish,
      After: fc.oneof(fc.nat(), jsonish),
      With: fc.oneof(validName, jsonish),
      Session: jsonish,
      Offset: fc.oneof(fc.nat(), jsonish),
    }, { requiredKeys: [] }),
  );
  const documented = fc.record({ Action: action, Payload: payload }, { requiredKeys: ["Action"] }).map((f) =>
    JSON.stringify(f)
  );
  const legacy = fc.record({
    action,
    username: fc.oneof(validName, sharpText, jsonish),
    message: fc.oneof(sharpText, jsonish),
    to: fc.oneof(validName, jsonish),
  }, { requiredKeys: ["action"] }).map((f) => JSON.stringify(f));
  return fc.oneof(
    { weight: 4, arbitrary: documented },
    { weight: 3, arbitrary: legacy },
    { weight: 2, arbitrary: mutated(fc.oneof(documented, legacy)) },
    { weight: 1, arbitrary: jsonish.map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: anyText },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }) },
    { weight: 1, arbitrary: oversized },
  );
})();

const LEGACY_KEYS = [
  "action",
  "connected_users",
  "from",
  "message",
  "message_type",
  "room",
  "timestamp",
  "to",
  "username",
];

/** A server frame of the GoBanter door: documented `{Action, Payload}` or legacy with exactly its keys. */
function assertGobanterFrame(frame: string): void {
  const value = JSON.parse(frame);
  assert.ok(typeof value === "object" && value !== null && !Array.isArray(value), frame);
  if ("Action" in value) {
    assert.equal(typeof value.Action, "string", frame);
    assert.ok(
      typeof value.Payload === "object" && value.Payload !== null && !Array.isArray(value.Payload),
      frame,
    );
    if (value.Action === "error") assert.equal(typeof value.Payload.Code, "string", frame);
  } else {
    assert.deepEqual(Object.keys(value).sort(), LEGACY_KEYS, frame);
    assert.ok(
      Array.isArray(value.connected_users) &&
        value.connected_users.every((u: unknown) => typeof u === "string"),
    );
    for (const key of LEGACY_KEYS) {
      if (key !== "connected_users") assert.equal(typeof value[key], "string", frame);
    }
    assert.match(value.timestamp, /^\d\d:\d\d$/);
  }
}

/** Sends if the socket is still open (the server may have closed it on purpose). */
function sendIfOpen(ws: WsClient, frame: string | Uint8Array): void {
  if (ws.socket.readyState === WebSocket.OPEN) ws.send(frame);
}

/** Waits for a frame matching `done`, or for the server to close; fails if neither happens in time. */
async function answeredOrClosed(
  ws: WsClient,
  done: (frame: string) => boolean,
): Promise<"answered" | "closed"> {
  try {
    await ws.expect(done, 3000);
    return "answered";
  } catch (error) {
    // A close of any kind ends the case: after the server's 1008/1009 a client that keeps sending may see
    // the connection end uncleanly (code 0 or 1006) rather than the close frame; the refusal came before.
    if (ws.closeEvent === null) throw error;
    return "closed";
  }
}

/** Counts how cases ended, so a generator that never reaches the interesting paths is noticed. */
function tally(): { count: (outcome: string) => void; seen: Record<string, number> } {
  const seen: Record<string, number> = {};
  return { seen, count: (outcome) => void (seen[outcome] = (seen[outcome] ?? 0) + 1) };
}

Deno.test("GoBanter /ws (fuzz, both shapes): random and mutated frames get well-formed JSON, or nothing, or a close", async () => {
  await failingOnErrors(async () => {
    await using server = serve({ ...LIMITS, tcp: null });
    let run = 0;
    const outcomes = tally();
    await fc.assert(
      fc.asyncProperty(fc.array(gobanterFrame, { minLength: 1, maxLength: 8 }), async (frames) => {
        const sentinel = `zs${++run}`;
        const ws = await WsClient.open(server.http!, "/ws");
        try {
          for (const frame of frames) sendIfOpen(ws, frame);
          // Answered in the documented shape whatever shape the connection speaks: the end of this case.
          sendIfOpen(ws, JSON.stringify({ Action: "history", Payload: { Room: sentinel, Limit: 1 } }));
          outcomes.count(
            await answeredOrClosed(
              ws,
              (f) => f.includes(`"Room":"${sentinel}"`) && f.startsWith('{"Action":"history"'),
            ),
          );
        } finally {
          await ws.close();
        }
        for (const frame of ws.frames) assertGobanterFrame(frame);
      }),
      {
        ...params<[(string | Uint8Array)[]]>(SOCKET_RUNS),
        // Known cases first: one that is answered and one that is closed, whatever the random ones do.
        examples: [[['{"Action":"username","Payload":{"Username":"fz"}}']], [["x".repeat(3000)]]],
      },
    );
    assert.ok((outcomes.seen.answered ?? 0) >= Math.max(1, SOCKET_RUNS / 20), JSON.stringify(outcomes.seen));
    await eventually(() => server.hub.connections === 0, "every fuzzed connection is let go");
    await assertHealthy(server);
  });
});

Deno.test("goChat /joinRoom (fuzz): random queries and frames get 400, well-formed goChat frames, nothing or a close", async () => {
  const gochatFrame: fc.Arbitrary<string | Uint8Array> = (() => {
    const data = fc.oneof(
      jsonish,
      fc.record({
        Type: fc.oneof(fc.constantFrom("USER", "SYS", "JOIN_LEAVE"), jsonish),
        SessionID: fc.oneof(fc.string({ unit: fc.constantFrom("0", "1"), maxLength: 128 }), jsonish),
        SenderName: fc.oneof(validName, jsonish),
        DateTime: jsonish,
        Contents: fc.oneof(anyText.map((t) => b64(t.toWellFormed())), sharpText, jsonish),
      }, { requiredKeys: [] }),
    );
    const frame = fc.record({ DataType: fc.oneof(fc.constant("message"), sharpText), Data: data }, {
      requiredKeys: [],
    }).map((f) => JSON.stringify(f));
    return fc.oneof(
      { weight: 5, arbitrary: frame },
      { weight: 2, arbitrary: mutated(frame) },
      { weight: 1, arbitrary: jsonish.map((v) => JSON.stringify(v)) },
      { weight: 1, arbitrary: anyText },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }) },
      { weight: 1, arbitrary: oversized },
    );
  })();
  const query = fc.record({
    room: fc.oneof({ weight: 4, arbitrary: validRoom }, { weight: 1, arbitrary: sharpText }),
    name: fc.oneof({ weight: 4, arbitrary: validName }, { weight: 1, arbitrary: sharpText }),
    session: fc.option(fc.string({ unit: fc.constantFrom("0", "1"), maxLength: 128 })),
  });
  await failingOnErrors(async () => {
    await using server = serve({ ...LIMITS, tcp: null });
    const addr = server.http!;
    let run = 0;
    const outcomes = tally();
    await fc.assert(
      fc.asyncProperty(query, fc.array(gochatFrame, { maxLength: 8 }), async (q, frames) => {
        const url = new URL(`http://${addr.hostname}:${addr.port}/joinRoom`);
        url.searchParams.set("room_code", q.room);
        url.searchParams.set("user_name", q.name);
        if (q.session !== null) url.searchParams.set("session_id", q.session);
        if (typeof parseQuery(url) === "string") {
          assert.equal((await upgradeStatus(addr, url.pathname + url.search)).status, 400);
          outcomes.count("refused");
          return;
        }
        const sentinel = `sentinel ${++run}`;
        const ws = await WsClient.open(addr, url.pathname + url.search);
        try {
          for (const frame of frames) sendIfOpen(ws, frame);
          sendIfOpen(
            ws,
            JSON.stringify({ DataType: "message", Data: { Type: "USER", Contents: b64(sentinel) } }),
          );
          outcomes.count(await answeredOrClosed(ws, (f) => f.includes(`"Contents":"${b64(sentinel)}"`)));
        } finally {
          await ws.close();
        }
        for (const frame of ws.frames) {
          const value = JSON.parse(frame);
          if (value.DataType === "userList") {
            assert.ok(Array.isArray(value.Data.Users), frame);
            for (const pair of value.Data.Users) {
              assert.ok(
                Array.isArray(pair) && pair.length === 2 && pair.every((s: unknown) => typeof s === "string"),
              );
            }
          } else {
            assert.equal(value.DataType, "message", frame);
            assert.ok(["USER", "SYS", "JOIN_LEAVE"].includes(value.Data.Type), frame);
            assert.equal(typeof value.Data.DateTime, "string", frame);
            assert.notEqual(fromBase64(value.Data.Contents), null, frame);
          }
        }
      }),
      {
        ...params<[{ room: string; name: string; session: string | null }, (string | Uint8Array)[]]>(
          SOCKET_RUNS,
        ),
        examples: [[{ room: "fz", name: "fz", session: null }, ['{"DataType":"message","Data":{}}']]],
      },
    );
    assert.ok((outcomes.seen.answered ?? 0) >= Math.max(1, SOCKET_RUNS / 20), JSON.stringify(outcomes.seen));
    await eventually(() => server.hub.connections === 0, "every fuzzed connection is let go");
    await assertHealthy(server);
  });
});

const handshake = fc.oneof(
  { weight: 4, arbitrary: fc.record({ name: validName, room: validRoom }).map((h) => JSON.stringify(h)) },
  {
    weight: 2,
    arbitrary: fc.tuple(fc.dictionary(sharpText, jsonish, { maxKeys: 3 }), jsonish, jsonish).map((
      [extra, name, room],
    ) => JSON.stringify({ ...extra, name, room })),
  },
  {
    weight: 2,
    arbitrary: mutated(fc.record({ name: validName, room: validRoom }).map((h) => JSON.stringify(h))),
  },
  { weight: 1, arbitrary: anyText },
);

/** A MaChat server line (without its `\n`): a message, a DM, a notice or an error. */
const MACHAT_LINE = /^([^\s:]+:.*|\[DM\] [^\s:]+: .*|INFO .*|ERR .*)$/su;

Deno.test("MaChat /mychat (fuzz): random handshakes and frames get single lines, nothing or a close", async () => {
  const frame = fc.oneof(
    { weight: 8, arbitrary: sharpText },
    { weight: 4, arbitrary: anyText },
    { weight: 2, arbitrary: fc.uint8Array({ maxLength: 64 }) },
    { weight: 1, arbitrary: oversized },
  );
  await failingOnErrors(async () => {
    await using server = serve({ ...LIMITS, tcp: null });
    let run = 0;
    const outcomes = tally();
    await fc.assert(
      fc.asyncProperty(handshake, fc.array(frame, { maxLength: 8 }), async (hello, frames) => {
        const sentinel = `sentinel ${++run}`;
        const ws = await WsClient.open(server.http!, "/mychat");
        try {
          sendIfOpen(ws, hello);
          for (const f of frames) sendIfOpen(ws, f);
          sendIfOpen(ws, `${sentinel}\n`);
          outcomes.count(await answeredOrClosed(ws, (f) => f.endsWith(`:${sentinel}\n`)));
        } finally {
          await ws.close();
        }
        for (const f of ws.frames) {
          assert.equal(f.indexOf("\n"), f.length - 1, JSON.stringify(f));
          assert.match(f.slice(0, -1), MACHAT_LINE);
          assert.ok(!f.includes("\r"), JSON.stringify(f));
        }
      }),
      {
        ...params<[string, (string | Uint8Array)[]]>(SOCKET_RUNS),
        examples: [['{"name":"fz","room":"fz"}', ["hi\n"]], ["not json", []]],
      },
    );
    assert.ok((outcomes.seen.answered ?? 0) >= Math.max(1, SOCKET_RUNS / 20), JSON.stringify(outcomes.seen));
    await eventually(() => server.hub.connections === 0, "every fuzzed connection is let go");
    await assertHealthy(server);
  });
});

/** A command-dialect server line. */
const COMMAND_LINE =
  /^(OK|PONG|ERR .+|INFO .*|USER \S+|ROOM \S+ \d+|HIST \d+ \S+ \S+ .*|MSG \S+ .*|DM \S+ .*)$/su;

/** Reads what a TCP client got until `done` matches a line or the server closes; fails on a hang. */
async function tcpAnsweredOrClosed(
  client: LineClient,
  done: (line: string) => boolean,
): Promise<"answered" | "closed"> {
  try {
    await client.expect(done, 3000);
    return "answered";
  } catch (error) {
    if (!client.closed) throw error;
    return "closed";
  }
}

Deno.test("TCP (fuzz): random bytes and mutated lines in both dialects get well-formed lines, nothing or a close", async () => {
  const WORDS = [
    "LOGIN",
    "MSG",
    "DM",
    "WHO",
    "PING",
    "JOIN",
    "LEAVE",
    "ROOMS",
    "HISTORY",
    "HELP",
    "/say",
    "/nope",
  ];
  const commandish = fc.array(
    fc.oneof(
      fc.tuple(fc.constantFrom(...WORDS), sharpText).map(([w, rest]) => `${w} ${rest}`),
      fc.tuple(fc.constantFrom("LOGIN", "JOIN", "DM"), validName, sharpText).map(([w, n, r]) =>
        `${w} ${n} ${r}`
      ),
      sharpText,
      anyText,
    ),
    { maxLength: 8 },
  ).map((lines) => encoder.encode(lines.join("\n") + "\n"));
  const bytes = fc.oneof(
    { weight: 3, arbitrary: commandish },
    { weight: 2, arbitrary: fc.uint8Array({ maxLength: 300 }) },
    {
      weight: 1,
      arbitrary: fc.integer({ min: 1100, max: 3000 }).map((n) => encoder.encode("y".repeat(n) + "\n")),
    },
    {
      weight: 2,
      arbitrary: mutated(fc.constant("LOGIN fz\nJOIN #x\nhello\nHISTORY 3\n")).map((s) => encoder.encode(s)),
    },
  );
  await failingOnErrors(async () => {
    await using server = serve({ ...LIMITS, http: null });
    const outcomes = tally();
    await fc.assert(
      fc.asyncProperty(bytes, fc.array(fc.nat(), { maxLength: 4 }), async (data, cuts) => {
        const client = await LineClient.connect(server.tcp!);
        try {
          // Split across writes at random points: framing must not depend on how bytes arrive.
          const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
          let from = 0;
          for (const to of [...points, data.length]) {
            await client.send(data.subarray(from, to)).catch(() => {});
            from = to;
          }
          await client.send("\nPING").catch(() => {});
          // PONG in the command dialect; in MaChat (first byte `{`) PING is a message, echoed, or a close.
          outcomes.count(await tcpAnsweredOrClosed(client, (l) => l === "PONG" || l.endsWith(":PING")));
        } finally {
          await client.close();
        }
        for (const line of client.lines) {
          assert.ok(COMMAND_LINE.test(line) || MACHAT_LINE.test(line), JSON.stringify(line));
          assert.ok(!line.includes("\r"), JSON.stringify(line));
        }
      }),
      {
        ...params<[Uint8Array, number[]]>(SOCKET_RUNS),
        examples: [[encoder.encode("LOGIN fz\nhi\n"), []], [encoder.encode("QUIT\n"), []]],
      },
    );
    assert.ok((outcomes.seen.answered ?? 0) >= Math.max(1, SOCKET_RUNS / 20), JSON.stringify(outcomes.seen));
    await eventually(() => server.hub.connections === 0, "every fuzzed connection is let go");
    await assertHealthy(server);
  });
});

Deno.test("TCP MaChat (fuzz): random handshakes and lines get single MaChat lines, nothing or a close", async () => {
  const rest = fc.oneof(
    fc.array(fc.oneof(sharpText, anyText), { maxLength: 6 }).map((lines) => encoder.encode(lines.join("\n"))),
    fc.uint8Array({ maxLength: 200 }),
  );
  await failingOnErrors(async () => {
    // A short login deadline: an unfinished handshake is the common case here, and it ends each one.
    await using server = serve({ ...LIMITS, loginTimeoutMs: 150, http: null });
    let run = 0;
    const outcomes = tally();
    await fc.assert(
      fc.asyncProperty(handshake, fc.boolean(), rest, async (hello, newline, more) => {
        const sentinel = `sentinel${++run}`;
        const client = await LineClient.connect(server.tcp!);
        try {
          // MaChat's own client sends no newline after the handshake; others do.
          await client.send(
            encoder.encode(`{${hello.startsWith("{") ? hello.slice(1) : hello}${newline ? "\n" : ""}`),
          );
          await client.send(more).catch(() => {});
          await client.send(`\n${sentinel}`).catch(() => {});
          outcomes.count(await tcpAnsweredOrClosed(client, (l) => l.endsWith(`:${sentinel}`)));
        } finally {
          await client.close();
        }
        for (const line of client.lines) {
          assert.match(line, MACHAT_LINE);
          assert.ok(!line.includes("\r"), JSON.stringify(line));
        }
      }),
      {
        ...params<[string, boolean, Uint8Array]>(SOCKET_RUNS),
        examples: [['{"name":"fz","room":"fz"}', false, encoder.encode("hi")], [
          "not json",
          true,
          new Uint8Array(),
        ]],
      },
    );
    assert.ok((outcomes.seen.answered ?? 0) >= Math.max(1, SOCKET_RUNS / 20), JSON.stringify(outcomes.seen));
    assert.ok((outcomes.seen.closed ?? 0) >= 1, JSON.stringify(outcomes.seen));
    await eventually(() => server.hub.connections === 0, "every fuzzed connection is let go");
    await assertHealthy(server);
  });
});
