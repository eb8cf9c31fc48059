/**
 * The right column: members of the room on screen; picking one opens a DM with them.
 * @module
 */

import type { JSX } from "preact";
import { type Conversation, me, openDm } from "../chat.ts";
import { sameName } from "../timeline.ts";
import { Avatar } from "./avatar.tsx";
import { CloseIcon } from "./icons.tsx";

/** Props of {@linkcode MemberList}. */
export interface MemberListProps {
  readonly conv: Conversation | null;
  /** After a member was picked (closes the drawer on a phone, focuses the composer). */
  readonly onPicked: () => void;
  /** Closes the drawer (narrow screens). */
  readonly onClose: () => void;
}

/** The member list. */
export function MemberList({ conv, onPicked, onClose }: MemberListProps): JSX.Element {
  const members = conv?.kind === "room" ? conv.members.value : [];
  const myName = me.value;
  return (
    <aside class="members" id="members" aria-labelledby="members-heading">
      <h2 id="members-heading" class="section-title">
        {conv?.kind === "dm" ? "Conversation" : "Members"}
        {conv?.kind === "room" && <span class="count">{members.length}</span>}
        <button
          type="button"
          class="icon-button drawer-close"
          aria-label="Close members panel"
          onClick={onClose}
        >
          <CloseIcon />
        </button>
      </h2>
      {conv?.kind === "dm" && (
        <p class="hint">
          Only you and <strong>{conv.name.value}</strong> see these messages.
        </p>
      )}
      {conv?.kind === "room" && (
        <ul class="member-list" data-testid="members">
          {members.map((name) => {
            const own = sameName(name, myName);
            return (
              <li key={name}>
                <button
                  type="button"
                  class="member"
                  data-name={name}
                  disabled={own}
                  title={own ? undefined : `Send ${name} a direct message`}
                  onClick={() => {
                    openDm(name);
                    onPicked();
                  }}
                >
                  <Avatar name={name} small />
                  <span class="member-name">{name}</span>
                  {own
                    ? <span class="you-tag">you</span>
                    : <span class="sr-only">: send a direct message</span>}
                </button>
              </li>
            );
          })}
        </ul>
      )}
    </aside>
  );
}
