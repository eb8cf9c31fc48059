/**
 * The name form: shown on a first visit, when the saved name was refused, or to change one's name.
 * @module
 */

import type { JSX } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { cancelRename, chooseName, me, nameError, status, wanted } from "../chat.ts";
import { sameName } from "../timeline.ts";

/** Props of {@linkcode NameForm}. */
export interface NameFormProps {
  /** Called once the server accepted the name (or the person cancelled a change). */
  readonly onDone: () => void;
}

/** The full-page name form. */
export function NameForm({ onDone }: NameFormProps): JSX.Element {
  const [value, setValue] = useState(wanted.value ?? "");
  const [localError, setLocalError] = useState<string | null>(null);
  const [submitted, setSubmitted] = useState<string | null>(null);
  const input = useRef<HTMLInputElement>(null);
  const serverError = nameError.value;
  const accepted = me.value;
  const error = localError ?? serverError;
  const waiting = submitted !== null && serverError === null && !sameName(accepted, submitted);
  const connected = status.value.phase === "open";

  useEffect(() => {
    if (submitted !== null && sameName(accepted, submitted)) onDone();
  }, [accepted, submitted]);

  useEffect(() => {
    if (error) input.current?.focus();
  }, [error]);

  const submit = (event: Event) => {
    event.preventDefault();
    const why = chooseName(value);
    setLocalError(why);
    setSubmitted(why === null ? value.trim() : null);
  };

  return (
    <main class="welcome" id="main">
      <form class="card" onSubmit={submit} noValidate aria-labelledby="welcome-title">
        <h1 id="welcome-title" class="brand brand-large">
          <span class="brand-mark" aria-hidden="true">●</span> hubbub
        </h1>
        <p class="lede">
          {accepted ? "Pick a new name." : "Rooms, direct messages and history — pick a name to start."}
        </p>
        <label for="name-input">Your name</label>
        <input
          id="name-input"
          ref={input}
          name="name"
          value={value}
          onInput={(e) => {
            setValue(e.currentTarget.value);
            setLocalError(null);
          }}
          autocomplete="nickname"
          autocapitalize="off"
          spellcheck={false}
          maxLength={32}
          required
          autoFocus
          aria-invalid={error ? "true" : "false"}
          aria-describedby={error ? "name-help name-error" : "name-help"}
        />
        <p id="name-help" class="help">1–32 letters, digits, “_”, “-” or “.”; no spaces.</p>
        {error && <p id="name-error" class="field-error" role="alert">{error}</p>}
        <div class="actions">
          {accepted && (
            <button
              type="button"
              class="button secondary"
              onClick={() => {
                cancelRename();
                onDone();
              }}
            >
              Cancel
            </button>
          )}
          <button type="submit" class="button primary" disabled={waiting}>
            {waiting ? (connected ? "Joining…" : "Connecting…") : accepted ? "Change name" : "Start chatting"}
          </button>
        </div>
        <p class="fineprint">Your name is remembered on this device.</p>
      </form>
    </main>
  );
}
