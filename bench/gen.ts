/**
 * The load generator: opens N WebSocket or TCP clients against hubbub or the baseline, has S of them send
 * (as fast as a window of acknowledgements allows, or at a fixed rate), and counts what every client
 * receives: deliveries, latency from the send timestamp carried in each message, frames, bytes, drops.
 *
 * IRC clients (`proto: "irc"`) register with `NICK`/`USER` and `JOIN #lobby` (or their room); in the `join`
 * scenario each keeps the set of members its `353` replies and the `JOIN`/`PART`/`QUIT` lines since name, and
 * has "the full list" once that set holds every client.
 *
 * Run by `bench/run.ts` as its own process (`deno run bench/gen.ts '<spec JSON>'`), it reports JSON lines
 * on stdout (`ready`, `start`, `end`, `result`) and waits for `go` on stdin after `ready`, so the runner
 * can read `/proc` at the right moments. Tests call {@linkcode runGenerator} in process.
 *
 * Every message text is `~<sender>~<seq>~<µs wall clock>~<padding>`; any frame or line holding a `~` is a
 * delivery. Senders are clients `0..S-1`; one non-sending client (the observer) acknowledges each message
 * to its sender's window, so the window works the same with and without echo (TCP clients get no echo).
 * @module
 */

import {
  ascii,
  frameSize,
  Histogram,
  type HistogramJson,
  indexOf,
  isSwitching,
  nowMicros,
  Out,
  parseFrames,
  parseLines,
  readInt,
  startsWith,
  upgradeRequest,
} from "./_wire.ts";

/** What to run. */
export interface GenSpec {
  /** Server address. */
  readonly host: string;
  /** Server port (the HTTP port for WebSocket clients, the TCP port for TCP clients, the IRC port for IRC). */
  readonly port: number;
  /** Which server: hubbub speaks the documented `/ws` dialect or the command dialect; the baseline relays. */
  readonly server: "hubbub" | "baseline";
  /** Client transport. */
  readonly proto: "ws" | "tcp" | "irc";
  /**
   * `fanout`: senders send, everyone counts, for `measureMs` after `warmupMs`.
   * `count`: every sender sends exactly `count` messages; waits until every delivery arrived (tests).
   * `idle`: connect, log in, settle, report; the runner reads the server's RSS.
   * `join`: connect nameless, then every client logs in at once; time until each has the full user list.
   */
  readonly scenario: "fanout" | "count" | "idle" | "join";
  /** Clients in the (big) room. */
  readonly clients: number;
  /** How many of them send. */
  readonly senders?: number;
  /** Clients (the last ones) that stop reading once set up: stalled readers. */
  readonly stalled?: number;
  /** Messages in flight per sender when sending as fast as possible. */
  readonly window?: number;
  /** Messages per second per sender (open loop); 0 or absent: as fast as the window allows. */
  readonly rate?: number;
  /** `count` scenario: messages per sender. */
  readonly count?: number;
  /** Message text length in bytes (at least the header). */
  readonly payload?: number;
  /** Sending before counting starts. */
  readonly warmupMs?: number;
  /** Counting. */
  readonly measureMs?: number;
  /** `idle`: spread clients over rooms of this many (hubbub); 0: everyone in `lobby`. */
  readonly roomSize?: number;
  /**
   * `idle`: connect this many first, report `warm` and wait for `go`, then connect the rest: the runner
   * reads RSS after the server's one-time costs (first connection, lazy modules), not before.
   */
  readonly warmClients?: number;
  /** Initial read buffer per client (grows for larger frames). */
  readonly readBuffer?: number;
  /** Connections being set up at once. */
  readonly connectConcurrency?: number;
  /** After setup, wait until nothing arrived for this long (presence storms settle), at most 10 × this. */
  readonly settleMs?: number;
  /** `join`: a second, small room whose message latency is measured while the big room fills. */
  readonly side?: { readonly clients: number; readonly rate: number };
  /** `count` and `join`: give up after this long. */
  readonly timeoutMs?: number;
  /**
   * After the load, stalled readers read again for at most this long (default 5 s) to find out whether the
   * server closed them: a dropped reader's close comes after the kernel buffers' worth of old frames.
   */
  readonly drainMs?: number;
  /** Wait for `go` (the runner) or start at once (tests). */
  readonly waitForGo?: boolean;
  /** `fanout`: also report deliveries and latency second by second while counting (`--trace`). */
  readonly trace?: boolean;
}

/** One second of a traced run, as the clients saw it. */
export interface TraceSecond {
  readonly deliveries: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

/** What a run found. */
export interface GenResult {
  /** Seconds counted. */
  measureSeconds: number;
  /** Deliveries to every client while counting. */
  deliveries: number;
  /** Of which to clients that kept reading. */
  healthyDeliveries: number;
  /** Messages sent while counting. */
  sent: number;
  /** Messages sent in all. */
  sentTotal: number;
  /** Open-loop sends skipped because the client's own write queue was full (the server did not read). */
  skipped: number;
  /** Latency histogram of deliveries while counting (µs). */
  latency: HistogramJson;
  /** Bytes and frames (or lines) received while counting. */
  bytes: number;
  frames: number;
  /** Clients the server closed: healthy ones (during the run) and stalled ones (found while draining). */
  droppedHealthy: number;
  droppedStalled: number;
  /** Connections open at the end. */
  open: number;
  /** Deliveries out of order or duplicated (per sender per client). */
  misordered: number;
  /** `count`: deliveries counted in all, and expected. */
  totalDeliveries: number;
  expectedDeliveries: number;
  /** Error frames or lines the server sent while counting (a refused message is one). */
  refused: number;
  /** Errors the server reported (first few). */
  errors: string[];
  /** `join` results. */
  join?: JoinResult;
  /** Setup time (connect + log in), milliseconds. */
  setupMs: number;
  /** `trace`: one entry per second counted, by the second the delivery arrived in. */
  trace?: TraceSecond[];
}

/** Results of the `join` scenario. */
export interface JoinResult {
  /** Clients that got the full list before the timeout. */
  complete: number;
  /** Milliseconds from the first login sent until the last client had the full list (or the timeout). */
  allMs: number;
  /** Median client's time to the full list. */
  medianMs: number;
  /** Frames and bytes the big room's clients received from the first login until done. */
  frames: number;
  bytes: number;
  /** User-list frames among them, and their bytes. */
  listFrames: number;
  listBytes: number;
  /** Latency of messages in the side room while the big room filled (µs). */
  side: HistogramJson;
  /** Side-room messages sent and delivered. */
  sideSent: number;
  sideDeliveries: number;
}

/** Events reported while running. */
export type GenEvent =
  | { readonly ev: "warm"; readonly clients: number }
  | { readonly ev: "ready"; readonly clients: number; readonly setupMs: number }
  | { readonly ev: "start" }
  | { readonly ev: "end" }
  | { readonly ev: "result"; readonly result: GenResult };

const TILDE = 0x7e;
const SIDE_SENDER = 1_000_000;
const P_USERLIST = ascii('{"Action":"userlist"');
const P_USERNAME = ascii('{"Action":"username"');
const P_ERROR = ascii('{"Action":"error"');
const P_USERS = ascii('"Users":[');
const P_OK = ascii("OK");
const P_ERR = ascii("ERR");
const P_ENDOFNAMES = ascii(":hubbub 366 ");
const P_NAMREPLY = ascii(":hubbub 353 ");
const P_PING = ascii("PING ");
const P_IRC_REFUSED = [ascii(":hubbub 404 "), ascii(":hubbub 401 "), ascii("ERROR ")];
const TOTALS = ["Total", "Count", "total", "count"].map((k) => ascii(`"${k}":`));
const DECODER = new TextDecoder();
const SPACE = ascii(" ");
const COLON = ascii(" :");
const U = ascii("u");
const JOIN = ascii("JOIN ");
const PART = ascii("PART ");
const QUIT = ascii("QUIT ");

interface Gate {
  promise: Promise<void>;
  open: () => void;
}

function gate(): Gate {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => open = resolve);
  return { promise, open };
}

/** Per-second summaries of `seconds` (deliveries that arrived after the window ends are left out). */
function traceOf(seconds: readonly Histogram[], count: number): TraceSecond[] {
  return Array.from({ length: count }, (_, i) => {
    const h = seconds[i];
    return h && h.count > 0
      ? { deliveries: h.count, p99Ms: h.quantile(0.99) / 1000, maxMs: h.max / 1000 }
      : { deliveries: 0, p99Ms: NaN, maxMs: NaN };
  });
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** One raw client. */
class Client {
  readonly gen: Generator;
  readonly index: number;
  readonly name: string;
  readonly side: boolean;
  readonly stalled: boolean;
  readonly sender: boolean;
  conn: Deno.TcpConn | null = null;
  /** The read loop; settles once the connection is closed. */
  done: Promise<void> = Promise.resolve();
  /** The current write loop, if any. */
  writeDone: Promise<void> = Promise.resolve();
  buf: Uint8Array;
  fill = 0;
  handshaking: boolean;
  closed = false;
  /** Setup: what this client still waits for. */
  needLists = 0;
  needOks = 0;
  needOpen = false;
  readyGate: Gate = gate();
  readGate: Gate | null = null;
  // Counters.
  deliveries = 0;
  total = 0;
  next: Int32Array;
  listFrames = 0;
  usernames = 0;
  fullAt = 0;
  /** IRC `join`: the big-room members this client knows of, by index (its NAMES, then JOINs, PARTs, QUITs). */
  members: Uint8Array | null = null;
  memberCount = 0;
  // Sending.
  inflight = 0;
  seq = 0;
  writing = false;
  queue: Uint8Array[] = [];
  queued = 0;
  readonly out = new Out(1024);

  constructor(gen: Generator, index: number, options: { side: boolean; stalled: boolean; sender: boolean }) {
    this.gen = gen;
    this.index = index;
    this.side = options.side;
    this.stalled = options.stalled;
    this.sender = options.sender;
    this.name = options.side ? `s${index}` : `u${index}`;
    this.buf = new Uint8Array(gen.readBuffer);
    this.handshaking = gen.spec.proto === "ws";
    this.next = new Int32Array(options.side ? 0 : gen.senders);
  }

  async connect(): Promise<void> {
    const { spec } = this.gen;
    this.conn = await Deno.connect({ hostname: spec.host, port: spec.port });
    this.conn.setNoDelay(true);
    this.done = this.#read();
    if (spec.proto === "ws") {
      const room = this.side && spec.server === "baseline" ? "?room=side" : "";
      this.needOpen = true;
      this.send(upgradeRequest(spec.host, spec.port, `/ws${room}`));
    } else {
      this.gen.setup(this);
    }
  }

  async #read(): Promise<void> {
    const conn = this.conn!;
    const gen = this.gen;
    try {
      while (true) {
        if (this.readGate) await this.readGate.promise;
        if (this.fill === this.buf.length) this.#grow(this.buf.length * 2);
        const n = await conn.read(this.buf.subarray(this.fill));
        if (n === null) break;
        gen.now = nowMicros();
        this.fill += n;
        gen.bytesIn += n;
        if (gen.counting) gen.bytesCounted += n;
        if (gen.joinCounting && !this.side) gen.joinBytes += n;
        this.#consume();
        if (this.closed) break;
      }
    } catch {
      // Reset by the server, or closed by us.
    }
    this.#closed();
  }

  #closed(): void {
    if (this.closed) return;
    this.closed = true;
    this.gen.onClosed(this);
    this.readyGate.open();
  }

  #grow(size: number): void {
    const bigger = new Uint8Array(size);
    bigger.set(this.buf.subarray(0, this.fill));
    this.buf = bigger;
  }

  #consume(): void {
    const gen = this.gen;
    if (gen.spec.proto !== "ws") {
      const used = parseLines(this.buf, this.fill, gen.onLine(this));
      this.#shift(used);
      return;
    }
    if (this.handshaking) {
      let end = -1;
      for (let i = 3; i < this.fill; i++) {
        if (
          this.buf[i] === 10 && this.buf[i - 1] === 13 && this.buf[i - 2] === 10 && this.buf[i - 3] === 13
        ) {
          end = i + 1;
          break;
        }
      }
      if (end === -1) return;
      if (!isSwitching(this.buf)) {
        gen.error(`upgrade refused: ${new TextDecoder().decode(this.buf.subarray(0, Math.min(end, 80)))}`);
        this.close();
        return;
      }
      this.handshaking = false;
      this.#shift(end);
      this.needOpen = false;
      gen.setup(this);
    }
    const used = parseFrames(this.buf, this.fill, gen.onFrame(this));
    this.#shift(used);
    const size = frameSize(this.buf, this.fill);
    if (size > this.buf.length) {
      let grown = this.buf.length * 2;
      while (grown < size) grown *= 2;
      this.#grow(grown);
    }
  }

  #shift(used: number): void {
    if (used === 0) return;
    if (used < this.fill) this.buf.copyWithin(0, used, this.fill);
    this.fill -= used;
  }

  /** Resolves setup when nothing more is awaited. */
  checkReady(): void {
    if (!this.needOpen && this.needLists <= 0 && this.needOks <= 0) this.readyGate.open();
  }

  /** Queues bytes; one write at a time per connection. */
  send(bytes: Uint8Array): void {
    if (this.closed) return;
    if (this.writing) {
      this.queue.push(bytes);
      this.queued += bytes.length;
      return;
    }
    this.writeDone = this.#write(bytes);
  }

  /** Sends what `out` holds. */
  flush(): void {
    if (this.out.len > 0) this.send(this.out.take());
  }

  async #write(first: Uint8Array): Promise<void> {
    this.writing = true;
    let chunk: Uint8Array | null = first;
    try {
      while (chunk) {
        let offset = 0;
        while (offset < chunk.length) offset += await this.conn!.write(chunk.subarray(offset));
        if (this.queue.length === 0) chunk = null;
        else {
          const parts = this.queue;
          chunk = new Uint8Array(this.queued);
          let at = 0;
          for (const part of parts) {
            chunk.set(part, at);
            at += part.length;
          }
          this.queue = [];
          this.queued = 0;
        }
      }
    } catch {
      // The read side notices the close.
    } finally {
      this.writing = false;
    }
  }

  /** Stops reading (a stalled reader); `resume` reads again. */
  pause(): void {
    this.readGate ??= gate();
  }

  resume(): void {
    const g = this.readGate;
    this.readGate = null;
    g?.open();
  }

  close(): void {
    if (!this.conn) return;
    try {
      this.conn.close();
    } catch {
      // Already closed.
    }
    this.resume();
  }
}

/** Runs one generator spec. */
class Generator {
  readonly spec: GenSpec;
  readonly senders: number;
  readonly readBuffer: number;
  readonly clients: Client[] = [];
  readonly sideClients: Client[] = [];
  readonly emit: (event: GenEvent) => void;
  observer: Client | null = null;
  now = 0;
  counting = false;
  joinCounting = false;
  running = false;
  bytesIn = 0;
  bytesCounted = 0;
  framesCounted = 0;
  joinBytes = 0;
  joinFrames = 0;
  joinLists = 0;
  joinListBytes = 0;
  deliveriesCounted = 0;
  totalDeliveries = 0;
  sent = 0;
  sentTotal = 0;
  skipped = 0;
  misordered = 0;
  refused = 0;
  sideSent = 0;
  sideDeliveries = 0;
  droppedHealthy = 0;
  droppedStalled = 0;
  fullCount = 0;
  joinStart = 0;
  readonly latency = new Histogram();
  readonly sideLatency = new Histogram();
  /** `trace`: latency per second counted, and when counting started (µs). */
  readonly seconds: Histogram[] = [];
  countStart = 0;
  readonly errors: string[] = [];
  readonly #fullWaiters = new Set<() => void>();
  readonly #deliveryWaiters = new Set<() => void>();
  readonly #frameHandlers = new Map<Client, (op: number, b: Uint8Array, s: number, e: number) => void>();
  readonly #lineHandlers = new Map<Client, (b: Uint8Array, s: number, e: number) => void>();
  readonly #padding: string;
  readonly #fullMin: number;

  constructor(spec: GenSpec, emit: (event: GenEvent) => void) {
    this.spec = spec;
    this.emit = emit;
    this.senders = spec.senders ?? 0;
    this.readBuffer = spec.readBuffer ?? 16384;
    this.#padding = "x".repeat(Math.max(0, (spec.payload ?? 64) - 40));
    // The shortest possible full list: every name "uN" quoted, comma-separated.
    let names = 0;
    for (let i = 0; i < spec.clients; i++) names += String(i).length + 4;
    this.#fullMin = names;
  }

  error(text: string): void {
    if (this.errors.length < 10) this.errors.push(text);
  }

  /** Sends the login frames of a freshly opened client and says what its setup waits for. */
  setup(client: Client): void {
    const { spec } = this;
    const out = client.out;
    if (spec.server === "baseline") {
      client.checkReady();
      return;
    }
    if (client.side && spec.proto === "irc") {
      out.line(`NICK ${client.name}\r`);
      out.line(`USER ${client.name} 0 * :${client.name}\r`);
      out.line("JOIN #side\r");
      client.needOks = 1;
    } else if (client.side) {
      // Side room: join it, leave lobby, then take a name (no presence noise in lobby).
      out.wsText(`{"Action":"join","Payload":{"Room":"side"}}`);
      out.wsText(`{"Action":"leave","Payload":{"Room":"lobby"}}`);
      out.wsText(`{"Action":"username","Payload":{"Username":"${client.name}"}}`);
      client.needLists = 2;
    } else if (spec.scenario === "join") {
      // Nameless until the join phase.
    } else if (spec.proto === "irc") {
      const roomSize = spec.roomSize ?? 0;
      out.line(`NICK ${client.name}\r`);
      out.line(`USER ${client.name} 0 * :${client.name}\r`);
      out.line(`JOIN #${roomSize > 0 ? `r${Math.floor(client.index / roomSize)}` : "lobby"}\r`);
      client.needOks = 1;
    } else if (spec.proto === "ws") {
      const roomSize = spec.roomSize ?? 0;
      if (roomSize > 0) {
        const room = `r${Math.floor(client.index / roomSize)}`;
        out.wsText(`{"Action":"join","Payload":{"Room":"${room}"}}`);
        out.wsText(`{"Action":"leave","Payload":{"Room":"lobby"}}`);
        client.needLists = 2;
      } else {
        client.needLists = 1;
      }
      out.wsText(`{"Action":"username","Payload":{"Username":"${client.name}"}}`);
    } else {
      const roomSize = spec.roomSize ?? 0;
      out.line(`LOGIN ${client.name}`);
      client.needOks = 1;
      if (roomSize > 0) {
        out.line(`JOIN r${Math.floor(client.index / roomSize)}`);
        client.needOks = 2;
      }
    }
    client.flush();
    // A stalled reader does not wait for answers it will never read.
    if (client.stalled) {
      client.needLists = 0;
      client.needOks = 0;
    }
    client.checkReady();
  }

  onFrame(client: Client): (op: number, b: Uint8Array, s: number, e: number) => void {
    let handler = this.#frameHandlers.get(client);
    if (!handler) {
      handler = (opcode, buf, start, end) => {
        if (opcode === 9) {
          client.out.wsPong(buf.slice(start, end));
          client.flush();
          return;
        }
        if (opcode === 8) {
          client.close();
          return;
        }
        if (opcode === 10) return;
        this.#text(client, buf, start, end);
      };
      this.#frameHandlers.set(client, handler);
    }
    return handler;
  }

  onLine(client: Client): (b: Uint8Array, s: number, e: number) => void {
    let handler = this.#lineHandlers.get(client);
    if (!handler) {
      handler = (buf, start, end) => this.#text(client, buf, start, end);
      this.#lineHandlers.set(client, handler);
    }
    return handler;
  }

  #text(client: Client, buf: Uint8Array, start: number, end: number): void {
    if (this.counting) this.framesCounted++;
    if (this.joinCounting && !client.side) this.joinFrames++;
    // Bounded search: the buffer beyond this frame holds other frames and stale bytes.
    let t = buf.subarray(start, end).indexOf(TILDE);
    if (t !== -1) {
      t += start;
      let sender: number, seq: number;
      [sender, t] = readInt(buf, t + 1, end);
      [seq, t] = readInt(buf, t + 1, end);
      const [sentAt] = readInt(buf, t + 1, end);
      this.#delivery(client, sender, seq, sentAt);
      return;
    }
    this.#control(client, buf, start, end);
  }

  #delivery(client: Client, sender: number, seq: number, sentAt: number): void {
    if (sender >= SIDE_SENDER) {
      if (this.joinCounting) {
        this.sideDeliveries++;
        this.sideLatency.record(this.now - sentAt);
      }
      return;
    }
    this.totalDeliveries++;
    client.total++;
    if (sender < client.next.length) {
      if (client.next[sender] !== seq) this.misordered++;
      client.next[sender] = seq + 1;
    }
    if (this.counting) {
      client.deliveries++;
      this.deliveriesCounted++;
      this.latency.record(this.now - sentAt);
      if (this.spec.trace) {
        (this.seconds[Math.floor((this.now - this.countStart) / 1e6)] ??= new Histogram()).record(
          this.now - sentAt,
        );
      }
    }
    if (client === this.observer) {
      const from = this.clients[sender];
      if (from && from.inflight > 0) {
        from.inflight--;
        if (this.running && !this.spec.rate) this.#pump(from);
      }
    }
    if (this.#deliveryWaiters.size > 0) { for (const wake of this.#deliveryWaiters) wake(); }
  }

  /** A sender's message was refused (the server said so to the sender): its window slot is free again. */
  #answered(client: Client): void {
    if (client.inflight > 0) {
      client.inflight--;
      if (this.running && !this.spec.rate) this.#pump(client);
    }
  }

  #control(client: Client, buf: Uint8Array, start: number, end: number): void {
    const { spec } = this;
    if (spec.proto === "irc") return this.#ircControl(client, buf, start, end);
    if (spec.proto === "ws") {
      if (startsWith(buf, start, end, P_USERLIST)) {
        if (client.needLists > 0 && --client.needLists === 0) client.checkReady();
        if (this.joinCounting && !client.side) {
          this.joinLists++;
          this.joinListBytes += end - start;
          client.listFrames++;
          if (client.fullAt === 0 && this.#isFull(buf, start, end)) this.#full(client);
        }
      } else if (startsWith(buf, start, end, P_USERNAME)) {
        // The baseline relays every login frame: a client has "the full list" once it saw all of them.
        if (this.joinCounting && !client.side && ++client.usernames === spec.clients && client.fullAt === 0) {
          this.#full(client);
        }
      } else if (startsWith(buf, start, end, P_ERROR)) {
        if (this.counting) this.refused++;
        this.#answered(client);
        this.error(new TextDecoder().decode(buf.subarray(start, Math.min(end, start + 200))));
      }
    } else {
      if (startsWith(buf, start, end, P_OK) && end - start === 2) {
        if (client.needOks > 0 && --client.needOks === 0) client.checkReady();
      } else if (startsWith(buf, start, end, P_ERR)) {
        if (this.counting) this.refused++;
        this.#answered(client);
        this.error(new TextDecoder().decode(buf.subarray(start, Math.min(end, start + 200))));
      }
    }
  }

  /**
   * IRC lines that are not deliveries: the end of a NAMES reply (setup), refusals, PINGs, and in the join
   * scenario the members a client knows of, from its `353` lines and the `JOIN`, `PART` and `QUIT` lines since.
   * Big-room names are `u<index>`, so a member is a flag by index: no string per line.
   */
  #ircControl(client: Client, buf: Uint8Array, start: number, end: number): void {
    if (buf[start] === 0x3a && buf[start + 1] === 0x75) {
      // `:u12!u12@hubbub JOIN #lobby` (PART, QUIT): someone else's presence; nothing else starts with `:u`.
      if (this.joinCounting && !client.side) this.#presence(client, buf, start, end);
      return;
    }
    if (startsWith(buf, start, end, P_NAMREPLY)) {
      if (!this.joinCounting || client.side) return;
      this.joinLists++;
      this.joinListBytes += end - start;
      client.listFrames++;
      // `:hubbub 353 u7 = #lobby :u1 u2 u7 ...`: every `u<n>` after the trailing `:`.
      let i = indexOf(buf, start + 1, end, COLON);
      while (i !== -1 && i < end) {
        i = indexOf(buf, i, end, U);
        if (i === -1) break;
        const [n, next] = readInt(buf, i + 1, end);
        this.#member(client, n, true);
        i = next;
      }
      this.#checkFull(client);
    } else if (startsWith(buf, start, end, P_ENDOFNAMES)) {
      if (client.needOks > 0 && --client.needOks === 0) client.checkReady();
    } else if (startsWith(buf, start, end, P_PING)) {
      client.out.line("PONG :hubbub\r");
      client.flush();
    } else if (P_IRC_REFUSED.some((p) => startsWith(buf, start, end, p))) {
      if (this.counting) this.refused++;
      this.#answered(client);
      this.error(DECODER.decode(buf.subarray(start, Math.min(end, start + 200))));
    }
  }

  #presence(client: Client, buf: Uint8Array, start: number, end: number): void {
    const [n, bang] = readInt(buf, start + 2, end);
    const verb = indexOf(buf, bang, end, SPACE) + 1;
    if (verb === 0) return;
    if (startsWith(buf, verb, end, JOIN)) this.#member(client, n, true);
    else if (startsWith(buf, verb, end, PART) || startsWith(buf, verb, end, QUIT)) {
      this.#member(client, n, false);
    }
    this.#checkFull(client);
  }

  #member(client: Client, index: number, present: boolean): void {
    const members = client.members ??= new Uint8Array(this.spec.clients);
    if (index < 0 || index >= members.length || (members[index] === 1) === present) return;
    members[index] = present ? 1 : 0;
    client.memberCount += present ? 1 : -1;
  }

  #checkFull(client: Client): void {
    if (client.fullAt === 0 && client.memberCount >= this.spec.clients) this.#full(client);
  }

  /**
   * Whether a user-list frame names every client of the big room, or says the room holds that many (a frame
   * over the list limit carries the first names and a `Total`). The total comes after the names, so only the
   * frame's tail is searched; names are counted only when the frame is long enough to hold them all.
   */
  #isFull(buf: Uint8Array, start: number, end: number): boolean {
    const n = this.spec.clients;
    const tail = Math.max(start, end - 64);
    for (const key of TOTALS) {
      const at = indexOf(buf, tail, end, key);
      if (at !== -1) {
        const [value] = readInt(buf, at + key.length, end);
        if (value >= n) return true;
      }
    }
    if (end - start < this.#fullMin) return false;
    const open = indexOf(buf, start, end, P_USERS);
    if (open === -1) return false;
    let names = 1;
    let i = open + P_USERS.length;
    if (buf[i] === 0x5d) return false;
    for (; i < end; i++) {
      const c = buf[i];
      if (c === 0x2c) names++;
      else if (c === 0x5d) break;
    }
    return names >= n;
  }

  #full(client: Client): void {
    client.fullAt = performance.now();
    this.fullCount++;
    for (const wake of this.#fullWaiters) wake();
  }

  onClosed(client: Client): void {
    if (!this.running && !this.counting) return;
    if (client.stalled) this.droppedStalled++;
    else this.droppedHealthy++;
  }

  #message(client: Client, senderId: number): string {
    return `~${senderId}~${client.seq++}~${nowMicros()}~${this.#padding}`;
  }

  /** Fills a sender's window. */
  #pump(client: Client): void {
    const window = this.spec.window ?? 16;
    const limit = this.spec.count;
    let n = 0;
    while (client.inflight < window && (limit === undefined || client.seq < limit)) {
      this.#encodeMessage(client, this.#message(client, client.index));
      client.inflight++;
      n++;
    }
    if (n > 0) this.#sent(n);
    client.flush();
  }

  #encodeMessage(client: Client, text: string): void {
    if (this.spec.proto === "tcp") client.out.line(text);
    else if (this.spec.proto === "irc") {
      client.out.line(`PRIVMSG #${client.side ? "side" : "lobby"} :${text}\r`);
    } else if (this.spec.server === "baseline") {
      client.out.wsText(`{"Action":"broadcast","Payload":{"Message":"${text}"}}`);
    } else if (client.side) {
      client.out.wsText(`{"Action":"broadcast","Payload":{"Message":"${text}","Room":"side"}}`);
    } else client.out.wsText(`{"Action":"broadcast","Payload":{"Message":"${text}"}}`);
  }

  #sent(n: number): void {
    this.sentTotal += n;
    if (this.counting) this.sent += n;
  }

  async #connect(clients: Client[]): Promise<void> {
    let next = 0;
    const worker = async () => {
      while (next < clients.length) {
        const client = clients[next++]!;
        try {
          await client.connect();
        } catch (error) {
          this.error(`connect failed: ${(error as Error).message}`);
          client.closed = true;
          continue;
        }
        await client.readyGate.promise;
      }
    };
    const concurrency = Math.min(this.spec.connectConcurrency ?? 100, clients.length);
    await Promise.all(Array.from({ length: concurrency }, worker));
  }

  /** Waits until nothing has arrived for `quietMs` (at most `10 × quietMs`). */
  async #settle(quietMs: number): Promise<void> {
    const end = performance.now() + quietMs * 10;
    let last = -1;
    while (performance.now() < end) {
      if (this.bytesIn === last) return;
      last = this.bytesIn;
      await delay(quietMs);
    }
  }

  #until(waiters: Set<() => void>, check: () => boolean, ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const done = (value: boolean) => {
        clearTimeout(timer);
        waiters.delete(wake);
        resolve(value);
      };
      const wake = () => {
        if (check()) done(true);
      };
      const timer = setTimeout(() => done(check()), ms);
      waiters.add(wake);
      wake();
    });
  }

  async run(go: () => Promise<void>): Promise<GenResult> {
    const { spec } = this;
    const n = spec.clients;
    const stalled = spec.stalled ?? 0;
    for (let i = 0; i < n; i++) {
      this.clients.push(
        new Client(this, i, { side: false, stalled: i >= n - stalled, sender: i < this.senders }),
      );
    }
    // The observer acknowledges: the last client that reads and does not send (or client 0 if none).
    const observerIndex = n - stalled - 1;
    this.observer = this.clients[observerIndex >= this.senders ? observerIndex : 0] ?? null;
    for (let i = 0; i < (spec.side?.clients ?? 0); i++) {
      this.sideClients.push(new Client(this, i, { side: true, stalled: false, sender: i === 0 }));
    }

    const setupStarted = performance.now();
    await this.#connect(this.sideClients);
    const warm = Math.min(spec.warmClients ?? 0, this.clients.length);
    if (warm > 0) {
      await this.#connect(this.clients.slice(0, warm));
      await this.#settle(spec.settleMs ?? 300);
      this.emit({ ev: "warm", clients: warm });
      await go();
    }
    await this.#connect(this.clients.slice(warm));
    const setupMs = performance.now() - setupStarted;
    await this.#settle(spec.settleMs ?? 300);
    for (const client of this.clients) if (client.stalled) client.pause();
    this.emit({ ev: "ready", clients: this.clients.filter((c) => !c.closed).length, setupMs });
    await go();

    let join: JoinResult | undefined;
    if (spec.scenario === "fanout") await this.#fanout();
    else if (spec.scenario === "count") await this.#count();
    else if (spec.scenario === "join") join = await this.#join();

    const open = [...this.clients, ...this.sideClients].filter((c) => !c.closed).length;
    // Stalled readers read again: the server's close (if it dropped them) is behind what it had queued.
    if (stalled > 0) {
      this.running = true;
      const stalledClients = this.clients.filter((c) => c.stalled);
      for (const client of stalledClients) client.resume();
      const started = performance.now();
      const end = started + (spec.drainMs ?? 5000);
      let bytes = this.bytesIn;
      let quietSince = started;
      while (performance.now() < end && stalledClients.some((c) => !c.closed)) {
        await delay(100);
        if (this.bytesIn !== bytes) {
          bytes = this.bytesIn;
          quietSince = performance.now();
        } else if (performance.now() - quietSince > 1000) break;
      }
    }
    this.running = false;
    const everyone = [...this.clients, ...this.sideClients];
    for (const client of everyone) client.close();
    await Promise.allSettled(everyone.flatMap((c) => [c.done, c.writeDone]));

    const seconds = (spec.measureMs ?? 0) / 1000;
    const healthy = this.clients.filter((c) => !c.stalled).reduce((s, c) => s + c.deliveries, 0);
    const expected = this.#expected();
    const result: GenResult = {
      measureSeconds: seconds,
      deliveries: this.deliveriesCounted,
      healthyDeliveries: healthy,
      sent: this.sent,
      sentTotal: this.sentTotal,
      skipped: this.skipped,
      latency: this.latency.toJSON(),
      bytes: this.bytesCounted,
      frames: this.framesCounted,
      droppedHealthy: this.droppedHealthy,
      droppedStalled: this.droppedStalled,
      open,
      misordered: this.misordered,
      refused: this.refused,
      totalDeliveries: this.totalDeliveries,
      expectedDeliveries: expected,
      errors: this.errors,
      setupMs,
      ...(join ? { join } : {}),
      ...(spec.trace ? { trace: traceOf(this.seconds, Math.ceil(seconds)) } : {}),
    };
    this.emit({ ev: "result", result });
    return result;
  }

  #expected(): number {
    const { spec } = this;
    if (spec.scenario !== "count") return 0;
    // WebSocket senders hear their own messages (hubbub echoes, the baseline relays to all); TCP ones do not.
    const perMessage = spec.proto === "ws" ? spec.clients : spec.clients - 1;
    return perMessage * this.senders * (spec.count ?? 0);
  }

  async #fanout(): Promise<void> {
    const { spec } = this;
    this.running = true;
    const stopSending = this.#startSending();
    await delay(spec.warmupMs ?? 1000);
    this.countStart = nowMicros();
    this.counting = true;
    this.emit({ ev: "start" });
    await delay(spec.measureMs ?? 3000);
    this.counting = false;
    this.emit({ ev: "end" });
    this.running = false;
    stopSending();
    // Let what is in flight arrive, so the server is not torn down mid-burst.
    const inflight = () => this.clients.every((c) => c.inflight === 0 || c.closed);
    const end = performance.now() + 2000;
    while (!inflight() && performance.now() < end) await delay(20);
  }

  async #count(): Promise<void> {
    this.running = true;
    this.counting = true;
    const stopSending = this.#startSending();
    const expected = this.#expected();
    await this.#until(
      this.#deliveryWaiters,
      () => this.totalDeliveries >= expected,
      this.spec.timeoutMs ?? 10_000,
    );
    // A few extra milliseconds to catch duplicates beyond the expected count.
    await delay(50);
    stopSending();
    this.counting = false;
    this.running = false;
  }

  /** Starts the senders; returns a function that stops them. */
  #startSending(): () => void {
    const { spec } = this;
    const senders = this.clients.slice(0, this.senders);
    if (!spec.rate) {
      for (const sender of senders) this.#pump(sender);
      return () => {};
    }
    return this.#openLoop(senders, spec.rate, (client) => this.#message(client, client.index));
  }

  /** Sends `rate` messages per second per client from a 5 ms tick; skips when a client's writes back up. */
  #openLoop(clients: Client[], rate: number, text: (c: Client) => string): () => void {
    const started = performance.now();
    const planned = new Map<Client, number>(clients.map((c) => [c, 0]));
    const tick = () => {
      const elapsed = ((performance.now() - started) / 1000) * rate;
      for (let k = 0; k < clients.length; k++) {
        const client = clients[k]!;
        // Senders are spread evenly over each interval, not all in the same tick.
        const due = Math.floor(elapsed + k / clients.length);
        let n = 0;
        while (planned.get(client)! < due) {
          planned.set(client, planned.get(client)! + 1);
          if (client.closed) continue;
          // 256 KiB unwritten: the server stopped reading this client; a real client would block here.
          if (client.queued > 256 * 1024) {
            this.skipped++;
            continue;
          }
          this.#encodeMessage(client, text(client));
          client.inflight++;
          n++;
        }
        if (n > 0) {
          if (!client.side) this.#sent(n);
          client.flush();
        }
      }
    };
    const timer = setInterval(tick, 5);
    return () => clearInterval(timer);
  }

  async #join(): Promise<JoinResult> {
    const { spec } = this;
    const side = this.sideClients;
    // Everyone logs in at once; counting starts with the first login frame.
    this.joinCounting = true;
    this.running = true;
    this.emit({ ev: "start" });
    const started = performance.now();
    this.joinStart = started;
    let sideSent = 0;
    const stopSide = side.length > 0 && spec.side!.rate > 0
      ? this.#openLoop([side[0]!], spec.side!.rate, (c) => {
        sideSent++;
        return `~${SIDE_SENDER}~${c.seq++}~${nowMicros()}~side`;
      })
      : () => {};
    for (const client of this.clients) {
      if (spec.proto === "irc") {
        client.out.line(`NICK ${client.name}\r`);
        client.out.line(`USER ${client.name} 0 * :${client.name}\r`);
        client.out.line("JOIN #lobby\r");
      } else client.out.wsText(`{"Action":"username","Payload":{"Username":"${client.name}"}}`);
      client.flush();
    }
    const want = this.clients.length;
    await this.#until(this.#fullWaiters, () => this.fullCount >= want, spec.timeoutMs ?? 60_000);
    const allMs = performance.now() - started;
    stopSide();
    this.joinCounting = false;
    this.emit({ ev: "end" });
    const times = this.clients.filter((c) => c.fullAt > 0).map((c) => c.fullAt - started).sort((a, b) =>
      a - b
    );
    return {
      complete: this.fullCount,
      allMs,
      medianMs: times.length > 0 ? times[Math.floor(times.length / 2)]! : NaN,
      frames: this.joinFrames,
      bytes: this.joinBytes,
      listFrames: this.joinLists,
      listBytes: this.joinListBytes,
      side: this.sideLatency.toJSON(),
      sideSent,
      sideDeliveries: this.sideDeliveries,
    };
  }
}

/** Runs a spec in this process. `go` is awaited between setup and load (the runner reads `/proc` then). */
export function runGenerator(
  spec: GenSpec,
  options: { emit?: (event: GenEvent) => void; go?: () => Promise<void> } = {},
): Promise<GenResult> {
  const generator = new Generator(spec, options.emit ?? (() => {}));
  return generator.run(options.go ?? (() => Promise.resolve()));
}

async function readGo(): Promise<void> {
  const reader = Deno.stdin.readable.getReader();
  const decoder = new TextDecoder();
  let text = "";
  while (!text.includes("go")) {
    const { value, done } = await reader.read();
    if (done) return;
    text += decoder.decode(value);
  }
  reader.releaseLock();
}

if (import.meta.main) {
  const spec = JSON.parse(Deno.args[0] ?? "{}") as GenSpec;
  const encoder = new TextEncoder();
  const emit = (event: GenEvent) => Deno.stdout.writeSync(encoder.encode(JSON.stringify(event) + "\n"));
  await runGenerator(spec, spec.waitForGo === false ? { emit } : { emit, go: readGo });
  Deno.exit(0);
}
