/**
 * Property tests of every parser and renderer a client's bytes reach: the TCP command line, the MaChat
 * handshake (finding its end and parsing it), line framing, goChat's base64 and query, names, the Origin
 * check, the rate limiter and the page's link finder. Random and mutated inputs never throw, and the
 * results keep the invariants the doors rely on. Case counts: see `_fuzz.ts`.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import {
  type Command,
  COMMAND_WORDS,
  commandCodec,
  MAX_HISTORY,
  parseCommand,
} from "../../src/tcp/commands.ts";
import { handshakeEnd, machatCodec } from "../../src/tcp/machat.ts";
import { oneLine } from "../../src/wire/lines.ts";
import { parseHandshake } from "../../src/wire/machat.ts";
import { type Line, LineFramer } from "../../src/net/lines/framer.ts";
import { fromBase64, gochatCodec, parseQuery, toBase64 } from "../../src/ws/gochat.ts";
import { documentedCodec, legacyCodec } from "../../src/ws/gobanter.ts";
import { machatWsCodec } from "../../src/ws/machat.ts";
import { checkName, checkRoom, MAX_NAME, nameKey, nameVariant } from "../../src/names.ts";
import { originAllowed } from "../../src/http/origin.ts";
import { TokenBucket } from "../../src/hub/limits.ts";
import { cleanText } from "../../src/hub/text.ts";
import type { ChatEvent, Frame } from "../../src/model.ts";
import { linkify } from "../../web/timeline.ts";
import { anyText, jsonish, mutated, params, PARSER_RUNS, sharpText } from "./_fuzz.ts";

const encoder = new TextEncoder();
const WORDS = [...COMMAND_WORDS];
const SPACES = [" ", "\t", "\r", "\u00a0", "\u3000"];

/** The invariants every parsed command keeps, whatever the input. */
function assertWellFormed(command: Command, raw: string): void {
  const trimmed = (s: string) => s === s.trim();
  switch (command.cmd) {
    case "empty":
      assert.equal(raw.trim(), "");
      return;
    case "login":
      assert.ok(trimmed(command.name));
      return;
    case "say":
      assert.ok(command.text !== "" && trimmed(command.text));
      return;
    case "identify":
      assert.match(command.name, /^\S+$/u);
      assert.ok(command.password !== "" && trimmed(command.password));
      return;
    case "register":
      assert.match(command.password, /^\S+$/u);
      return;
    case "dm":
      assert.match(command.to, /^\S+$/u);
      assert.ok(command.text !== "" && trimmed(command.text));
      return;
    case "who":
      assert.ok(Number.isSafeInteger(command.offset) && command.offset >= 0);
      return;
    case "join":
      assert.match(command.room, /^\S+$/u);
      return;
    case "history":
      assert.ok(Number.isInteger(command.count) && command.count >= 1 && command.count <= MAX_HISTORY);
      return;
    case "history-since":
      assert.ok(Number.isSafeInteger(command.id) && command.id >= 0);
      return;
    case "unknown":
      assert.ok(command.word.startsWith("/"));
      return;
    case "usage":
      assert.ok(command.usage.length > 0);
      return;
    case "ping":
    case "leave":
    case "rooms":
    case "help":
    case "quit":
      return;
    default:
      assert.fail(`unknown command shape ${JSON.stringify(command)}`);
  }
}

const commandLine = fc.oneof(
  anyText,
  sharpText,
  fc.tuple(fc.constantFrom(...WORDS, "say", "SINCE"), sharpText).map(([w, rest]) => `${w} ${rest}`),
  mutated(
    fc.constantFrom("LOGIN alice", "DM bob hi there", "HISTORY SINCE 12", "JOIN #dev", "/say hi", "WHO 20"),
  ),
);

Deno.test("parseCommand (fuzz): never throws; every result keeps its invariants", () => {
  fc.assert(
    fc.property(commandLine, (raw) => assertWellFormed(parseCommand(raw), raw)),
    params(PARSER_RUNS * 4),
  );
});

Deno.test("parseCommand (fuzz): surrounding whitespace, a command word's case and a leading / change nothing", () => {
  const ws = fc.string({ unit: fc.constantFrom(...SPACES), maxLength: 3 });
  fc.assert(
    fc.property(ws, commandLine, ws, (a, raw, b) => {
      assert.deepEqual(parseCommand(a + raw + b), parseCommand(raw));
    }),
    params(PARSER_RUNS),
  );
  fc.assert(
    fc.property(fc.mixedCase(fc.constantFrom(...WORDS)), fc.boolean(), sharpText, (word, slash, rest) => {
      const plain = parseCommand(`${word.toLowerCase()} ${rest}`);
      assert.deepEqual(parseCommand(`${slash ? "/" : ""}${word} ${rest}`), plain);
    }),
    params(PARSER_RUNS),
  );
});

Deno.test("parseCommand (fuzz): MSG, DM and plain lines carry their text exactly (trimmed)", () => {
  const text = anyText.filter((t) => t.trim() !== "");
  const name = fc.stringMatching(/^[A-Za-z0-9_.-]{1,32}$/);
  fc.assert(
    fc.property(text, name, (t, to) => {
      assert.deepEqual(parseCommand(`MSG ${t}`), { cmd: "say", text: t.trim() });
      assert.deepEqual(parseCommand(`/say ${t}`), { cmd: "say", text: t.trim() });
      assert.deepEqual(parseCommand(`DM ${to} ${t}`), { cmd: "dm", to, text: t.trim() });
      const first = t.trim().split(/\s/u)[0]!;
      if (!first.startsWith("/") && !WORDS.includes(first.toLowerCase())) {
        assert.deepEqual(parseCommand(t), { cmd: "say", text: t.trim() });
      }
    }),
    params(PARSER_RUNS),
  );
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 10_000 }), (n) => {
      const history = parseCommand(`HISTORY ${n}`);
      if (n === 0) assert.equal(history.cmd, "usage");
      else assert.deepEqual(history, { cmd: "history", count: Math.min(n, MAX_HISTORY) });
      assert.deepEqual(parseCommand(`history since ${n}`), { cmd: "history-since", id: n });
    }),
    params(PARSER_RUNS),
  );
});

const handshakeObject = fc.tuple(
  fc.dictionary(sharpText, jsonish, { maxKeys: 4 }),
  fc.oneof(anyText, sharpText),
  fc.oneof(anyText, sharpText),
).map(([extra, name, room]) => ({ ...extra, name, room }));

Deno.test("handshakeEnd (fuzz): finds exactly the end of any JSON object, whatever follows it; never throws", () => {
  fc.assert(
    fc.property(handshakeObject, fc.boolean(), fc.uint8Array({ maxLength: 40 }), (object, pretty, suffix) => {
      const json = encoder.encode(pretty ? JSON.stringify(object, null, 2) : JSON.stringify(object));
      const bytes = new Uint8Array(json.length + suffix.length);
      bytes.set(json);
      bytes.set(suffix, json.length);
      assert.equal(handshakeEnd(bytes), json.length);
      // Any strict prefix is incomplete: more bytes are needed.
      for (const cut of [1, json.length >> 1, json.length - 1]) {
        assert.equal(handshakeEnd(json.subarray(0, cut)), -1);
      }
    }),
    params(PARSER_RUNS),
  );
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 200 }),
        mutated(handshakeObject.map((o) => JSON.stringify(o))).map((s) => encoder.encode(s)),
      ),
      (bytes) => {
        const end = handshakeEnd(bytes);
        assert.ok(end === -1 || (end >= 1 && end <= bytes.length && bytes[end - 1] === 0x7d), `end ${end}`);
      },
    ),
    params(PARSER_RUNS * 4),
  );
});

Deno.test("parseHandshake (fuzz): never throws; gives back trimmed name and room of any object, null for anything else", () => {
  fc.assert(
    fc.property(handshakeObject, (object) => {
      assert.deepEqual(parseHandshake(JSON.stringify(object)), {
        name: object.name.trim(),
        room: object.room.trim(),
      });
    }),
    params(PARSER_RUNS),
  );
  fc.assert(
    fc.property(
      fc.oneof(
        anyText,
        jsonish.map((v) => JSON.stringify(v) ?? "undefined"),
        mutated(handshakeObject.map((o) => JSON.stringify(o))),
      ),
      (text) => {
        let value: unknown;
        try {
          value = JSON.parse(text);
        } catch {
          value = undefined;
        }
        const { name, room } =
          (typeof value === "object" && value !== null && !Array.isArray(value) ? value : {}) as Record<
            string,
            unknown
          >;
        const expected = typeof name === "string" && typeof room === "string"
          ? { name: name.trim(), room: room.trim() }
          : null;
        assert.deepEqual(parseHandshake(text), expected);
      },
    ),
    params(PARSER_RUNS * 4),
  );
});

/** What a line framer must produce for `bytes` in one piece: the reference model. */
function modelLines(bytes: Uint8Array, max: number, flush: boolean): Line[] {
  const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  const out: Line[] = [];
  const emit = (segment: Uint8Array) => {
    const line = segment.length > 0 && segment[segment.length - 1] === 0x0d
      ? segment.subarray(0, -1)
      : segment;
    if (line.length > max) return out.push({ error: "too-long" });
    try {
      out.push({ text: decoder.decode(line) });
    } catch {
      out.push({ error: "invalid-utf8" });
    }
  };
  let start = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === 0x0a) {
      emit(bytes.subarray(start, i));
      start = i + 1;
    }
  }
  if (flush && start < bytes.length) emit(bytes.subarray(start));
  return out;
}

Deno.test("LineFramer (fuzz): any bytes in any chunking give the model's lines; a partial line never holds more than the limit", () => {
  const byte = fc.oneof(
    {
      weight: 3,
      arbitrary: fc.constantFrom(
        0x0a,
        0x0d,
        0x41,
        0x20,
        0xe2,
        0x98,
        0x83,
        0xc3,
        0xa9,
        0xff,
        0xef,
        0xbb,
        0xbf,
      ),
    },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) },
  );
  fc.assert(
    fc.property(
      fc.array(byte, { maxLength: 300 }).map((a) => new Uint8Array(a)),
      fc.integer({ min: 1, max: 40 }),
      fc.array(fc.nat(), { maxLength: 12 }),
      fc.boolean(),
      (bytes, max, cuts, flush) => {
        const framer = new LineFramer({ maxLength: max });
        const got: Line[] = [];
        const sink = { enqueue: (line: Line) => got.push(line) };
        const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        let from = 0;
        for (const to of [...points, bytes.length]) {
          framer.transform(bytes.subarray(from, to), sink);
          assert.ok(framer.pending <= max + 1, `pending ${framer.pending} > ${max + 1}`);
          from = to;
        }
        if (flush) framer.flush(sink);
        assert.deepEqual(got, modelLines(bytes, max, flush));
      },
    ),
    params(PARSER_RUNS * 4),
  );
});

const validName = fc.stringMatching(/^[A-Za-z0-9_.-]{1,32}$/).filter((n) => checkName(n) === null);

// deno-lint-ignore no-control-regex -- matching control characters is the point
const LINE_UNSAFE = /[\0-\x08\x0A-\x1F\x7F-\x9F\u2028\u2029\u202A-\u202E\u2066-\u2069]/;

Deno.test("codecs (fuzz): a line dialect can never be made to forge a line or carry a control character; JSON dialects carry text exactly", () => {
  fc.assert(
    fc.property(anyText, validName, fc.constantFrom("message", "dm", "notice"), (text, from, kind) => {
      // No line break and no control character (but TAB) or bidi control survives; other text is untouched.
      assert.ok(!LINE_UNSAFE.test(oneLine(text)));
      if (!LINE_UNSAFE.test(text)) assert.equal(oneLine(text), text);
      // Message and DM text reaches a codec cleaned by the hub; a notice's text is rendered as it is.
      const message = { room: "lobby", id: 7, time: 0, from, to: "bob", text: cleanText(text), conn: "c_1" };
      const event: ChatEvent = kind === "message"
        ? { kind, message }
        : kind === "dm"
        ? { kind, message }
        : { kind, code: "x", text };
      for (const codec of [commandCodec, machatCodec, { name: "machat-ws", encode: machatWsCodec.render }]) {
        const frame: Frame = codec.encode(event)!;
        const line: string = typeof frame === "string" ? frame : new TextDecoder().decode(frame);
        assert.equal(line.indexOf("\n"), line.length - 1, `${codec.name}: ${JSON.stringify(line)}`);
        assert.ok(!LINE_UNSAFE.test(line.slice(0, -1)), `${codec.name}: ${JSON.stringify(line)}`);
      }
      // WebSocket codecs frame what they render; the text of the frame is what matters here.
      for (const codec of [documentedCodec, legacyCodec, gochatCodec]) {
        const frame: string | null = codec.render(event);
        if (frame === null) continue;
        const parsed = JSON.parse(frame);
        assert.equal(typeof parsed, "object");
        if (codec === gochatCodec && kind === "message") {
          assert.equal(fromBase64(parsed.Data.Contents), message.text);
        }
        if (codec === documentedCodec && kind === "message") {
          assert.equal(parsed.Payload.Message, message.text);
        }
        if (codec === legacyCodec && kind === "message") assert.equal(parsed.message, message.text);
      }
    }),
    params(PARSER_RUNS),
  );
});

Deno.test("goChat (fuzz): base64 decoding never throws and round-trips; the query check never throws nor lets a bad name in", () => {
  fc.assert(
    fc.property(anyText, fc.string({ maxLength: 40 }), (text, junk) => {
      assert.equal(fromBase64(toBase64(text.toWellFormed())), text.toWellFormed());
      const decoded = fromBase64(junk);
      assert.ok(decoded === null || typeof decoded === "string");
    }),
    params(PARSER_RUNS),
  );
  fc.assert(
    fc.property(
      fc.oneof(anyText, sharpText, validName),
      fc.oneof(anyText, sharpText, validName),
      fc.option(anyText),
      (room, name, session) => {
        const url = new URL("http://h/joinRoom");
        url.searchParams.set("room_code", room);
        url.searchParams.set("user_name", name);
        if (session !== null) url.searchParams.set("session_id", session);
        const query = parseQuery(url);
        if (typeof query === "string") assert.ok(query.length > 0 && !query.includes("\n"));
        else {
          assert.equal(checkRoom(query.room), null);
          assert.equal(checkName(query.name), null);
        }
      },
    ),
    params(PARSER_RUNS),
  );
});

const CONFUSABLE: Record<string, string[]> = {
  a: ["\u0430", "\u03b1"],
  b: ["\u0432", "\u03b2"],
  c: ["\u0441"],
  e: ["\u0435", "\u03b5"],
  i: ["\u0456", "\u03b9"],
  k: ["\u043a", "\u03ba"],
  o: ["\u043e", "\u03bf"],
  p: ["\u0440", "\u03c1"],
  s: ["\u0455"],
  t: ["\u0442", "\u03c4"],
  x: ["\u0445", "\u03c7"],
  y: ["\u0443"],
};

Deno.test("names (fuzz): checks never throw; accepted names are clean; case, NFKC and look-alikes collide", () => {
  fc.assert(
    fc.property(fc.oneof(anyText, sharpText), (name) => {
      const why = checkName(name);
      if (why === null) {
        const length = [...name].length;
        assert.ok(length >= 1 && length <= MAX_NAME);
        assert.ok(!/[\s\p{Cc}\p{Cf}:/{}"\\]/u.test(name), JSON.stringify(name));
      }
      const room = checkRoom(name);
      if (room === null) assert.ok(!/[\s\p{Cc}\p{Cf}]/u.test(name), JSON.stringify(name));
      nameKey(name);
    }),
    params(PARSER_RUNS * 4),
  );
  fc.assert(
    fc.property(
      fc.stringMatching(/^[a-z][a-z0-9]{0,20}$/),
      fc.array(fc.nat(), { maxLength: 6 }),
      fc.integer({ min: 2, max: 999 }),
      (name, picks, n) => {
        assert.equal(nameKey(name.toUpperCase()), nameKey(name));
        const fullwidth = [...name].map((c) => String.fromCodePoint(c.codePointAt(0)! + 0xfee0)).join("");
        assert.equal(nameKey(fullwidth), nameKey(name));
        const chars = [...name];
        for (const pick of picks) {
          const i = pick % chars.length;
          const options = CONFUSABLE[name[i]!];
          if (options) chars[i] = options[pick % options.length]!;
        }
        assert.equal(nameKey(chars.join("")), nameKey(name), chars.join(""));
        if (checkName(name) === null) {
          const variant = nameVariant(name, n);
          assert.equal(checkName(variant), null, variant);
          assert.notEqual(nameKey(variant), nameKey(name));
        }
      },
    ),
    params(PARSER_RUNS),
  );
});

Deno.test("originAllowed (fuzz): never throws; with no allow-list only the Host's own origin passes", () => {
  const host = "chat.example:8080";
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string({ unit: "grapheme-ascii", maxLength: 60 }),
        mutated(fc.constantFrom(`http://${host}`, `https://${host}/`, "null", "https://evil.example")),
      ),
      (origin) => {
        const clean = origin.replace(/[^\x20-\x7e]/g, ""); // what a header value can carry
        const request = new Request(`http://${host}/ws`, { headers: { origin: clean, host } });
        const allowed = originAllowed(request, []);
        if (allowed) {
          assert.equal(new URL(clean.trim()).host, host, clean);
        }
      },
    ),
    params(PARSER_RUNS),
  );
});

Deno.test("TokenBucket (fuzz): however lines arrive, no more pass than the burst plus the rate times the time", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 50 }),
      fc.integer({ min: 1, max: 50 }),
      fc.array(fc.tuple(fc.integer({ min: 0, max: 300 }), fc.boolean()), { maxLength: 300 }),
      (rate, burst, steps) => {
        let now = 0;
        const bucket = new TokenBucket({ rate, burst, now: () => now });
        let passed = 0;
        for (const [dt, fakelag] of steps) {
          now += dt;
          const verdict = bucket.take();
          if (verdict.kind === "ok") passed++;
          else if (verdict.kind === "limited") {
            assert.ok(verdict.waitMs > 0 && verdict.waitMs <= 1000 / rate + 1e-6);
            if (fakelag) {
              now += verdict.waitMs;
              bucket.spendAfterWait();
              passed++;
            }
          } else break;
          assert.ok(passed <= burst + (rate * now) / 1000 + 1e-6, `${passed} passed in ${now} ms`);
        }
      },
    ),
    params(PARSER_RUNS),
  );
});

Deno.test("linkify (fuzz): the page's link finder keeps text whole, only http(s) becomes a link", () => {
  const urlish = fc.oneof(
    fc.webUrl(),
    fc.constantFrom(
      "javascript:alert(1)",
      "data:text/html,<b>",
      "http://",
      "https://x",
      "vbscript:x",
      "HTTP://A.B/",
    ),
    anyText,
  );
  fc.assert(
    fc.property(fc.array(fc.oneof(urlish, sharpText), { maxLength: 5 }), (parts) => {
      const text = parts.join(" ");
      const segments = linkify(text);
      assert.equal(segments.map((s) => s.text).join(""), text);
      for (const s of segments) {
        if (s.href !== undefined) assert.match(s.href, /^https?:\/\//);
      }
    }),
    params(PARSER_RUNS),
  );
});
