/**
 * The right column: members of the room on screen; picking one opens a DM with them. A big room's list
 * holds its first names; the next page is fetched as the list scrolls near its end.
 * @module
 */

import type { JSX } from "preact";
import { useEffect, useRef } from "preact/hooks";
import { type Conversation, loadMoreMembers, me, openDm } from "../chat.ts";
import { formatCount } from "../members.ts";
import { sameName } from "../timeline.ts";
import { Avatar } from "./avatar.tsx";
import { CloseIcon } from "./icons.tsx";

/** The next page is asked for when the end of the loaded list is this close (px; about 16 rows). */
const NEAR_END_PX = 600;

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
  const room = conv?.kind === "room" ? conv : null;
  const members = room ? room.members.value : [];
  const total = room ? room.memberTotal.value : 0;
  const loading = room ? room.membersLoading.value : false;
  const more = Math.max(0, total - members.length);
  const myName = me.value;
  const panel = useRef<HTMLElement>(null);

  const nearEnd = () => {
    const el = panel.current;
    if (!room || !el || more === 0 || el.clientHeight === 0) return;
    if (el.scrollHeight - el.scrollTop - el.clientHeight < NEAR_END_PX) loadMoreMembers(room);
  };

  // A page that arrived may still leave the end in view (a tall window): keep filling what is seen.
  useEffect(nearEnd, [room, members, total, loading]);
  useEffect(() => {
    if (panel.current) panel.current.scrollTop = 0;
  }, [conv?.key]);

  return (
    <aside
      class="members"
      id="members"
      ref={panel}
      aria-labelledby="members-heading"
      onScroll={nearEnd}
    >
      <h2 id="members-heading" class="section-title">
        {conv?.kind === "dm" ? "Conversation" : "Members"}
        {room && <span class="count" data-testid="member-count">{formatCount(total)}</span>}
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
      {room && (
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
          {more > 0 && (
            <li class="member-more">
              <button
                type="button"
                class="link-button"
                data-testid="more-members"
                aria-disabled={loading ? "true" : undefined}
                onClick={() => loadMoreMembers(room, true)}
              >
                {loading ? "Loading…" : `${formatCount(more)} more`}
                <span class="sr-only">{loading ? " members" : " members: show the next ones"}</span>
              </button>
            </li>
          )}
        </ul>
      )}
    </aside>
  );
}
