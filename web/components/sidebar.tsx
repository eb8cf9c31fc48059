/**
 * The left column: who I am, my rooms (with unread counts and leave buttons), joining or creating a room,
 * other rooms on the server, and DM conversations.
 * @module
 */

import type { JSX } from "preact";
import { useState } from "preact/hooks";
import {
  account,
  accountsMode,
  activate,
  activeKey,
  closeDm,
  type Conversation,
  directory,
  dms,
  joinError,
  joinRoom,
  leaveRoom,
  me,
  refreshDirectory,
  rooms,
  signOut,
  wanted,
} from "../chat.ts";
import { roomKey } from "../timeline.ts";
import { Avatar } from "./avatar.tsx";
import { CloseIcon } from "./icons.tsx";

/** Props of {@linkcode Sidebar}. */
export interface SidebarProps {
  /** After a conversation was picked (closes the drawer on a phone, focuses the composer). */
  readonly onPicked: () => void;
  /** "Change name". */
  readonly onRename: () => void;
  /** Closes the drawer (phone). */
  readonly onClose: () => void;
}

function Unread({ count }: { readonly count: number }): JSX.Element | null {
  if (count === 0) return null;
  return (
    <span class="badge">
      {count > 99 ? "99+" : count}
      <span class="sr-only">unread</span>
    </span>
  );
}

function ConversationRow(
  { conv, onPicked, onClose, closeLabel }: {
    readonly conv: Conversation;
    readonly onPicked: () => void;
    readonly onClose: () => void;
    readonly closeLabel: string;
  },
): JSX.Element {
  const current = activeKey.value === conv.key;
  const unread = conv.unread.value;
  const name = conv.name.value;
  return (
    <li class={`conv-row${current ? " current" : ""}${unread ? " has-unread" : ""}`}>
      <button
        type="button"
        class="conv"
        data-key={conv.key}
        aria-current={current ? "page" : undefined}
        onClick={() => {
          activate(conv);
          onPicked();
        }}
      >
        {conv.kind === "room" ? <span class="conv-sigil" aria-hidden="true" /> : <Avatar name={name} small />}
        <span class="conv-name">{name}</span>
        <Unread count={unread} />
      </button>
      <button
        type="button"
        class="icon-button subtle conv-close"
        aria-label={closeLabel}
        title={closeLabel}
        onClick={onClose}
      >
        <CloseIcon />
      </button>
    </li>
  );
}

/** The sidebar. */
export function Sidebar({ onPicked, onRename, onClose }: SidebarProps): JSX.Element {
  const [room, setRoom] = useState("");
  const [localError, setLocalError] = useState<string | null>(null);
  const error = localError ?? joinError.value;
  const joinedKeys = new Set(rooms.value.map((c) => c.key));
  const others = (directory.value ?? []).filter((r) => !joinedKeys.has(`r:${roomKey(r.name)}`));
  const name = me.value ?? wanted.value ?? "";

  const join = (target: string) => {
    const why = joinRoom(target);
    setLocalError(why);
    if (why === null) {
      setRoom("");
      onPicked();
    }
  };

  return (
    <nav class="sidebar" id="sidebar" aria-label="Rooms and direct messages">
      <div class="sidebar-head">
        <span class="brand">
          <span class="brand-mark" aria-hidden="true">●</span> hubbub
        </span>
        <button
          type="button"
          class="icon-button drawer-close"
          aria-label="Close rooms panel"
          onClick={onClose}
        >
          <CloseIcon />
        </button>
      </div>
      <div class="whoami">
        <Avatar name={name} />
        <div class="whoami-text">
          <span class="whoami-label">
            {account.value === null && accountsMode.value !== "off" ? "Guest" : "Signed in as"}
          </span>
          <strong class="whoami-name" data-testid="my-name">{name}</strong>
        </div>
        {account.value === null
          ? <button type="button" class="link-button" onClick={onRename}>Change</button>
          : <button type="button" class="link-button" onClick={() => void signOut()}>Sign out</button>}
      </div>

      <section class="sidebar-section" aria-labelledby="rooms-heading">
        <h2 id="rooms-heading" class="section-title">Rooms</h2>
        {rooms.value.length === 0 && <p class="hint">You are in no room.</p>}
        <ul class="conv-list" data-testid="rooms">
          {rooms.value.map((conv) => (
            <ConversationRow
              key={conv.key}
              conv={conv}
              onPicked={onPicked}
              onClose={() => leaveRoom(conv)}
              closeLabel={`Leave ${conv.name.value}`}
            />
          ))}
        </ul>
        <form
          class="join"
          onSubmit={(e) => {
            e.preventDefault();
            join(room);
          }}
        >
          <label for="join-input" class="small-label">Join or create a room</label>
          <div class="join-row">
            <input
              id="join-input"
              value={room}
              placeholder="#room"
              autocomplete="off"
              autocapitalize="off"
              spellcheck={false}
              maxLength={64}
              aria-invalid={error ? "true" : "false"}
              aria-describedby={error ? "join-error" : undefined}
              onFocus={() => void refreshDirectory()}
              onInput={(e) => {
                setRoom(e.currentTarget.value);
                setLocalError(null);
                joinError.value = null;
              }}
            />
            <button type="submit" class="button small">Join</button>
          </div>
          {error && <p id="join-error" class="field-error" role="alert">{error}</p>}
        </form>
        {others.length > 0 && (
          <div class="directory">
            <h3 class="small-label">Active rooms</h3>
            <ul class="directory-list">
              {others.map((r) => (
                <li key={r.name}>
                  <button type="button" class="directory-room" onClick={() => join(r.name)}>
                    <span class="conv-name">{r.name}</span>
                    <span class="muted">
                      {r.members} {r.members === 1 ? "member" : "members"}
                    </span>
                  </button>
                </li>
              ))}
            </ul>
          </div>
        )}
      </section>

      <section class="sidebar-section" aria-labelledby="dms-heading">
        <h2 id="dms-heading" class="section-title">Direct messages</h2>
        {dms.value.length === 0 && <p class="hint">Pick someone in the member list to message them.</p>}
        <ul class="conv-list" data-testid="dms">
          {dms.value.map((conv) => (
            <ConversationRow
              key={conv.key}
              conv={conv}
              onPicked={onPicked}
              onClose={() => closeDm(conv)}
              closeLabel={`Close conversation with ${conv.name.value}`}
            />
          ))}
        </ul>
      </section>
    </nav>
  );
}
