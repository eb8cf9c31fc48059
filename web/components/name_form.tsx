/**
 * The name form: shown on a first visit, when the saved name was refused, or to change one's name. When the
 * server has accounts it is also the "sign in / register" form: join as a guest (unless the server has
 * none), sign in to a registered name, or register the name with a password.
 * @module
 */

import type { JSX } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import {
  account,
  accountsMode,
  cancelRename,
  chooseName,
  me,
  nameError,
  nameNeedsPassword,
  signIn,
  status,
  wanted,
} from "../chat.ts";
import { sameName } from "../timeline.ts";

/** Props of {@linkcode NameForm}. */
export interface NameFormProps {
  /** Called once the server accepted the name (or the person cancelled a change). */
  readonly onDone: () => void;
}

type Mode = "guest" | "signin" | "register";

const MODE_LABELS: Record<Mode, string> = { guest: "As a guest", signin: "Sign in", register: "Register" };

/** The full-page name form. */
export function NameForm({ onDone }: NameFormProps): JSX.Element {
  const accounts = accountsMode.value;
  const modes: Mode[] = accounts === "off" ? [] : accounts === "on" ? ["guest", "signin", "register"] : [
    "signin",
    "register",
  ];
  const [value, setValue] = useState(wanted.value ?? "");
  const [password, setPassword] = useState("");
  const [picked, setPicked] = useState<Mode | null>(null);
  const [localError, setLocalError] = useState<string | null>(null);
  const [submitted, setSubmitted] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  const serverError = nameError.value;
  const accepted = me.value;
  const error = localError ?? serverError;
  // A name refused for want of a password suggests signing in; the person's own pick wins.
  const mode: Mode = modes.length === 0 ? "guest" : picked ?? (
    nameNeedsPassword.value || accounts === "required" ? "signin" : "guest"
  );
  const waiting = busy || (submitted !== null && serverError === null && !sameName(accepted, submitted));
  const connected = status.value.phase === "open";

  useEffect(() => {
    if (submitted !== null && sameName(accepted, submitted)) onDone();
  }, [accepted, submitted]);

  useEffect(() => {
    if (error) input.current?.focus();
  }, [error]);

  const submit = async (event: Event) => {
    event.preventDefault();
    if (mode === "guest") {
      const why = chooseName(value);
      setLocalError(why);
      setSubmitted(why === null ? value.trim() : null);
      return;
    }
    setBusy(true);
    const why = await signIn(value, password, mode === "register");
    setBusy(false);
    setLocalError(why);
    if (why === null) {
      setPassword("");
      setSubmitted(account.value);
    }
  };

  const label = waiting
    ? (busy ? (mode === "register" ? "Registering…" : "Signing in…") : connected ? "Joining…" : "Connecting…")
    : mode === "signin"
    ? "Sign in"
    : mode === "register"
    ? "Register and start"
    : accepted
    ? "Change name"
    : "Start chatting";

  return (
    <main class="welcome" id="main">
      <form class="card" onSubmit={submit} noValidate aria-labelledby="welcome-title">
        <h1 id="welcome-title" class="brand brand-large">
          <span class="brand-mark" aria-hidden="true">●</span> hubbub
        </h1>
        <p class="lede">
          {accepted ? "Pick a new name." : "Rooms, direct messages and history — pick a name to start."}
        </p>
        {modes.length > 0 && (
          <fieldset class="modes">
            <legend class="sr-only">How to join</legend>
            {modes.map((m) => (
              <label key={m} class={`mode${m === mode ? " picked" : ""}`}>
                <input
                  type="radio"
                  name="mode"
                  value={m}
                  checked={m === mode}
                  onChange={() => {
                    setPicked(m);
                    setLocalError(null);
                  }}
                />
                {MODE_LABELS[m]}
              </label>
            ))}
          </fieldset>
        )}
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
          autocomplete={mode === "guest" ? "nickname" : "username"}
          autocapitalize="off"
          spellcheck={false}
          maxLength={32}
          required
          autoFocus
          aria-invalid={error ? "true" : "false"}
          aria-describedby={error ? "name-help name-error" : "name-help"}
        />
        <p id="name-help" class="help">1–32 letters, digits, “_”, “-” or “.”; no spaces.</p>
        {mode !== "guest" && (
          <>
            <label for="password-input">Password</label>
            <input
              id="password-input"
              type="password"
              name="password"
              value={password}
              onInput={(e) => {
                setPassword(e.currentTarget.value);
                setLocalError(null);
              }}
              autocomplete={mode === "register" ? "new-password" : "current-password"}
              required
              aria-describedby={mode === "register" ? "password-help" : undefined}
            />
            {mode === "register" && (
              <p id="password-help" class="help">8–128 characters; no space at either end.</p>
            )}
          </>
        )}
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
          <button type="submit" class="button primary" disabled={waiting}>{label}</button>
        </div>
        <p class="fineprint">
          {mode === "guest"
            ? "Your name is remembered on this device."
            : "You stay signed in on this device until you sign out."}
        </p>
      </form>
    </main>
  );
}
