/**
 * Errors and notices from the server, shown at the corner of the page until dismissed or timed out.
 * @module
 */

import type { JSX } from "preact";
import { dismissToast, toasts } from "../chat.ts";
import { CloseIcon } from "./icons.tsx";

/** The toast stack. */
export function Toasts(): JSX.Element {
  return (
    <div class="toasts" role="alert" aria-live="assertive" data-testid="toasts">
      {toasts.value.map((t) => (
        <div key={t.id} class={`toast toast-${t.tone}`}>
          <span class="toast-text">{t.text}</span>
          <button
            type="button"
            class="icon-button subtle"
            aria-label="Dismiss"
            onClick={() => dismissToast(t.id)}
          >
            <CloseIcon />
          </button>
        </div>
      ))}
    </div>
  );
}
