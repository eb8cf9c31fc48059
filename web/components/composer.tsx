/**
 * The message field: Enter sends, Shift+Enter adds a line; typing notices go out at most every 3 s.
 * @module
 */

import type { JSX } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { type Conversation, online, sendMessage, typing } from "../chat.ts";
import { typingText } from "../timeline.ts";
import { SendIcon } from "./icons.tsx";

/** Longest message the page lets people send (characters). */
const MAX_MESSAGE = 4000;

/** Props of {@linkcode Composer}. */
export interface ComposerProps {
  readonly conv: Conversation;
  /** Bumped to move focus into the field. */
  readonly focusToken: number;
}

/** The composer of `conv`, with the typing line above it. */
export function Composer({ conv, focusToken }: ComposerProps): JSX.Element {
  // A draft per conversation, kept while switching.
  const drafts = useRef(new Map<string, string>());
  const [text, setText] = useState("");
  const field = useRef<HTMLTextAreaElement>(null);
  const connected = online.value;
  const who = typingText(conv.typing.value);

  useEffect(() => {
    setText(drafts.current.get(conv.key) ?? "");
  }, [conv.key]);

  useEffect(() => {
    if (focusToken > 0) field.current?.focus();
  }, [focusToken]);

  const update = (value: string) => {
    setText(value);
    drafts.current.set(conv.key, value);
  };

  const send = () => {
    if (text.trim() === "") return;
    if (sendMessage(text)) update("");
  };

  const lines = Math.min(6, Math.max(1, text.split("\n").length));
  const placeholder = conv.kind === "room"
    ? `Message ${conv.name.value}`
    : `Message ${conv.name.value} directly`;
  return (
    <div class="composer-wrap">
      <div class="typing" data-testid="typing">{who}</div>
      <form
        class="composer"
        onSubmit={(e) => {
          e.preventDefault();
          send();
        }}
      >
        <label for="composer-input" class="sr-only">{placeholder}</label>
        <textarea
          id="composer-input"
          ref={field}
          rows={lines}
          value={text}
          maxLength={MAX_MESSAGE}
          placeholder={placeholder}
          aria-describedby={connected ? undefined : "composer-offline"}
          onInput={(e) => {
            update(e.currentTarget.value);
            if (e.currentTarget.value.trim() !== "") typing();
          }}
          onKeyDown={(e) => {
            if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
              e.preventDefault();
              send();
            }
          }}
        />
        <button type="submit" class="send" disabled={!connected || text.trim() === ""} aria-label="Send">
          <SendIcon />
        </button>
      </form>
      {!connected && (
        <p id="composer-offline" class="composer-note">
          Offline: your message stays here until you are connected again.
        </p>
      )}
    </div>
  );
}
