/// <reference lib="dom" />
/**
 * The page's connection to `/ws`: documented-shape frames, and reconnection with exponential backoff and
 * jitter. It knows nothing about chat; {@linkcode ChatSocket} reports its phase so the page can show
 * "reconnecting", and calls `onOpen` on every (re)connection so the page can say who it is again.
 * @module
 */

/** What the socket is doing. */
export type Phase = "connecting" | "open" | "waiting" | "stopped";

/** The socket's state as the page shows it. */
export interface SocketStatus {
  readonly phase: Phase;
  /** Failed attempts in a row (0 once a connection has been stable). */
  readonly attempt: number;
  /** When the next attempt starts (epoch ms) while `waiting`. */
  readonly retryAt: number | null;
  /** Whether a connection was ever open: then losing it is "reconnecting", not "connecting". */
  readonly everOpened: boolean;
}

/** Backoff settings: the n-th retry waits a random time in [d/2, d] with d = min(maxMs, baseMs·factorⁿ). */
export interface Backoff {
  readonly baseMs: number;
  readonly factor: number;
  readonly maxMs: number;
}

/** The page's backoff: 0.25–0.5 s, 0.5–1 s, 1–2 s, … up to 15–30 s. */
export const DEFAULT_BACKOFF: Backoff = { baseMs: 500, factor: 2, maxMs: 30_000 };

/** The delay before retry number `attempt` (0-based), with "equal jitter" so clients never retry in step. */
export function backoffDelay(
  attempt: number,
  backoff: Backoff = DEFAULT_BACKOFF,
  random = Math.random,
): number {
  const ceiling = Math.min(backoff.maxMs, backoff.baseMs * backoff.factor ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** Options of {@linkcode ChatSocket}. */
export interface ChatSocketOptions {
  /** The WebSocket URL, computed at each attempt. */
  readonly url: () => string;
  /** Called when a connection opens; send the greeting frames here. */
  readonly onOpen: () => void;
  /** Called for every well-formed documented frame. */
  readonly onFrame: (action: string, payload: Record<string, unknown>) => void;
  /** Called whenever the status changes. */
  readonly onStatus: (status: SocketStatus) => void;
  readonly backoff?: Backoff;
  /** An attempt that is not open after this long is abandoned (ms). */
  readonly connectTimeoutMs?: number;
  /** A connection that stayed open this long resets the backoff (ms). */
  readonly stableMs?: number;
}

/** A self-healing WebSocket speaking `{"Action","Payload"}` frames. */
export class ChatSocket {
  readonly #options: ChatSocketOptions;
  #socket: WebSocket | null = null;
  #attempt = 0;
  #everOpened = false;
  #openedAt = 0;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #connectTimer: ReturnType<typeof setTimeout> | undefined;
  #status: SocketStatus = { phase: "stopped", attempt: 0, retryAt: null, everOpened: false };

  /** Creates the socket; call {@linkcode ChatSocket.start} to connect. */
  constructor(options: ChatSocketOptions) {
    this.#options = options;
  }

  /** The current status. */
  get status(): SocketStatus {
    return this.#status;
  }

  /** Whether frames can be sent now. */
  get open(): boolean {
    return this.#socket?.readyState === WebSocket.OPEN;
  }

  /** Connects (if not already connected or connecting). */
  start(): void {
    if (this.#socket) return;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#connect();
  }

  /** Skips the wait before the next attempt ("Retry now", the browser coming back online). */
  retryNow(): void {
    if (this.#status.phase === "waiting") this.start();
  }

  /** Sends a frame; returns `false` (and sends nothing) when not connected. */
  send(action: string, payload: Record<string, unknown> = {}): boolean {
    const socket = this.#socket;
    if (!socket || socket.readyState !== WebSocket.OPEN) return false;
    socket.send(JSON.stringify({ Action: action, Payload: payload }));
    return true;
  }

  /** Drops the connection, if any, and connects again at once (after signing in: the new cookie). */
  reconnect(): void {
    const socket = this.#socket;
    this.#socket = null;
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#connectTimer);
    this.#retryTimer = undefined;
    socket?.close(1000, "reconnect");
    this.#attempt = 0;
    this.#connect();
  }

  /** Closes for good. */
  stop(): void {
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#connectTimer);
    const socket = this.#socket;
    this.#socket = null;
    socket?.close(1000, "bye");
    this.#setStatus("stopped", null);
  }

  #connect(): void {
    let socket: WebSocket;
    try {
      socket = new WebSocket(this.#options.url());
    } catch {
      this.#scheduleRetry();
      return;
    }
    this.#socket = socket;
    this.#setStatus("connecting", null);
    this.#connectTimer = setTimeout(() => {
      if (socket.readyState === WebSocket.CONNECTING) socket.close();
    }, this.#options.connectTimeoutMs ?? 10_000);

    socket.addEventListener("open", () => {
      if (this.#socket !== socket) return;
      clearTimeout(this.#connectTimer);
      this.#everOpened = true;
      this.#openedAt = Date.now();
      this.#setStatus("open", null);
      this.#options.onOpen();
    });
    socket.addEventListener("message", (event: MessageEvent) => {
      if (this.#socket !== socket || typeof event.data !== "string") return;
      let frame: unknown;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (typeof frame !== "object" || frame === null) return;
      const { Action, Payload } = frame as { Action?: unknown; Payload?: unknown };
      if (typeof Action !== "string" || typeof Payload !== "object" || Payload === null) return;
      this.#options.onFrame(Action, Payload as Record<string, unknown>);
    });
    socket.addEventListener("close", () => {
      if (this.#socket !== socket) return;
      clearTimeout(this.#connectTimer);
      this.#socket = null;
      const wasStable = this.#openedAt !== 0 &&
        Date.now() - this.#openedAt >= (this.#options.stableMs ?? 10_000);
      this.#openedAt = 0;
      if (wasStable) this.#attempt = 0;
      this.#scheduleRetry();
    });
  }

  #scheduleRetry(): void {
    const wait = backoffDelay(this.#attempt, this.#options.backoff);
    this.#attempt++;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#connect();
    }, wait);
    this.#setStatus("waiting", Date.now() + wait);
  }

  #setStatus(phase: Phase, retryAt: number | null): void {
    this.#status = { phase, attempt: this.#attempt, retryAt, everOpened: this.#everOpened };
    this.#options.onStatus(this.#status);
  }
}
