/**
 * The page: the name form, or the chat (sidebar, messages, composer, members). On a phone the sidebar and
 * the member list are drawers opened from the header.
 * @module
 */

import type { JSX } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { active, me, nameError, status, totalUnread, wanted } from "./chat.ts";
import { Composer } from "./components/composer.tsx";
import { MenuIcon, PeopleIcon } from "./components/icons.tsx";
import { MemberList } from "./components/member_list.tsx";
import { MessageList } from "./components/message_list.tsx";
import { NameForm } from "./components/name_form.tsx";
import { Sidebar } from "./components/sidebar.tsx";
import { ConnectionPill, StatusBanner } from "./components/status.tsx";
import { Toasts } from "./components/toasts.tsx";
import { formatCount } from "./members.ts";

type Panel = "rooms" | "members" | null;

/** The whole page. */
export function App(): JSX.Element {
  const [renaming, setRenaming] = useState(wanted.value === null);
  // Signing out forgets the name: the form again.
  const naming = renaming || nameError.value !== null || wanted.value === null;
  const unread = totalUnread.value;
  const where = active.value ? `${active.value.name.value} · hubbub` : "hubbub";

  useEffect(() => {
    document.title = unread > 0 ? `(${unread}) ${where}` : where;
  }, [unread, where]);

  return (
    <div class="app" data-conn={status.value.phase} data-named={me.value === null ? "no" : "yes"}>
      {naming ? <NameForm onDone={() => setRenaming(false)} /> : <Chat onRename={() => setRenaming(true)} />}
      <Toasts />
    </div>
  );
}

function Chat({ onRename }: { readonly onRename: () => void }): JSX.Element {
  const [panel, setPanel] = useState<Panel>(null);
  // Start in the message field, except on touch screens where that would pop up the keyboard.
  const [focusToken, setFocusToken] = useState(() => matchMedia("(pointer: coarse)").matches ? 0 : 1);
  const menuButton = useRef<HTMLButtonElement>(null);
  const membersButton = useRef<HTMLButtonElement>(null);
  const conv = active.value;

  const close = (returnFocus: boolean) => {
    const was = panel;
    setPanel(null);
    if (returnFocus) (was === "members" ? membersButton : menuButton).current?.focus();
  };

  useEffect(() => {
    if (panel === null) return;
    const onKey = (event: KeyboardEvent) => {
      if (event.key === "Escape") close(true);
    };
    addEventListener("keydown", onKey);
    // Move focus into the drawer that just opened.
    document.querySelector<HTMLElement>(
      panel === "rooms" ? "#sidebar button, #sidebar input" : "#members button",
    )?.focus();
    return () => removeEventListener("keydown", onKey);
  }, [panel]);

  const picked = () => {
    setPanel(null);
    setFocusToken((n) => n + 1);
  };

  // The room's size as the server counts it (a big room's list holds only the names loaded so far).
  const members = conv?.kind === "room" ? conv.memberTotal.value : 0;
  return (
    <div class={`chat${panel ? ` panel-${panel}` : ""}`}>
      <a class="skip-link" href="#composer-input">Skip to message field</a>
      <Sidebar onPicked={picked} onRename={onRename} onClose={() => close(true)} />
      <main class="pane" id="main" aria-labelledby="conv-title">
        <header class="topbar">
          <button
            type="button"
            class="icon-button menu-toggle"
            ref={menuButton}
            aria-controls="sidebar"
            aria-expanded={panel === "rooms"}
            onClick={() => setPanel(panel === "rooms" ? null : "rooms")}
          >
            <MenuIcon />
            <span class="sr-only">Rooms and direct messages</span>
            {totalUnread.value > 0 && <span class="dot" aria-hidden="true" />}
          </button>
          <div class="title">
            <h1 id="conv-title" class="conv-title">{conv ? conv.name.value : "hubbub"}</h1>
            <span class="subtitle">
              {conv?.kind === "room"
                ? `${formatCount(members)} ${members === 1 ? "member" : "members"}`
                : conv?.kind === "dm"
                ? "Direct message"
                : ""}
            </span>
          </div>
          <ConnectionPill />
          {conv?.kind === "room" && (
            <button
              type="button"
              class="icon-button members-toggle"
              ref={membersButton}
              aria-controls="members"
              aria-expanded={panel === "members"}
              onClick={() => setPanel(panel === "members" ? null : "members")}
            >
              <PeopleIcon />
              <span class="sr-only">Members</span>
              <span class="members-count" aria-hidden="true">{formatCount(members)}</span>
            </button>
          )}
        </header>
        <StatusBanner />
        {conv
          ? (
            <>
              <MessageList conv={conv} />
              <Composer conv={conv} focusToken={focusToken} />
            </>
          )
          : (
            <div class="nothing">
              <p>You are not in any room.</p>
              <p class="muted">Join or create one from the list of rooms.</p>
            </div>
          )}
      </main>
      <MemberList conv={conv} onPicked={picked} onClose={() => close(true)} />
      {panel && (
        <button
          type="button"
          class="scrim"
          aria-label="Close panel"
          tabIndex={-1}
          onClick={() => close(false)}
        />
      )}
    </div>
  );
}
