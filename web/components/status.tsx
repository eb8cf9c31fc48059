/**
 * Connection state: a small pill in the header and, while the connection is lost, a banner that says
 * "Reconnecting…" with the time of the next attempt and a "Retry now" button.
 * @module
 */

import type { JSX } from "preact";
import { useEffect, useState } from "preact/hooks";
import { retryNow, serverRestarting, status } from "../chat.ts";

/** What to call the current state. */
function label(): { text: string; tone: "ok" | "warn" | "wait" } {
  const s = status.value;
  if (s.phase === "open") return { text: "Connected", tone: "ok" };
  if (!s.everOpened) return { text: "Connecting…", tone: "wait" };
  return { text: "Reconnecting…", tone: "warn" };
}

/** The header pill. */
export function ConnectionPill(): JSX.Element {
  const { text, tone } = label();
  return (
    <span class={`pill pill-${tone}`} data-testid="connection">
      <span class="pill-dot" aria-hidden="true" />
      <span class="pill-text">{text}</span>
    </span>
  );
}

/** The banner shown while not connected. */
export function StatusBanner(): JSX.Element | null {
  const s = status.value;
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (s.phase !== "waiting") return;
    const timer = setInterval(() => setNow(Date.now()), 500);
    return () => clearInterval(timer);
  }, [s.phase]);
  if (s.phase === "open" || s.phase === "stopped") return null;
  const seconds = s.retryAt === null ? 0 : Math.max(0, Math.ceil((s.retryAt - now) / 1000));
  const first = !s.everOpened;
  return (
    <div class={`banner ${first ? "banner-info" : "banner-warn"}`} role="status" data-testid="banner">
      <span class="spinner" aria-hidden="true" />
      <span>
        {first
          ? "Connecting to hubbub…"
          : serverRestarting.value
          ? "The server is restarting. Reconnecting…"
          : "Connection lost. Reconnecting…"}
        {s.phase === "waiting" && seconds > 0 && <span class="muted">{` next try in ${seconds} s`}</span>}
      </span>
      {s.phase === "waiting" && (
        <button type="button" class="link-button" onClick={retryNow}>
          Retry now
        </button>
      )}
    </div>
  );
}
