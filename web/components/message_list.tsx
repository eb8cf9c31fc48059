/**
 * The messages of one conversation: sender, time, own messages marked, notices, day separators, and
 * "load earlier messages". Stays scrolled to the bottom unless the reader scrolled up.
 * @module
 */

import type { JSX } from "preact";
import { useLayoutEffect, useRef, useState } from "preact/hooks";
import { type Conversation, loadOlder, me } from "../chat.ts";
import { type Item, type MessageItem, sameName } from "../timeline.ts";
import { Avatar } from "./avatar.tsx";
import { RichText } from "./rich_text.tsx";

const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const full = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "medium" });
const dayFormat = new Intl.DateTimeFormat(undefined, { weekday: "long", month: "long", day: "numeric" });

/** Messages from one sender this close together share one header. */
const GROUP_MS = 5 * 60_000;

function dayLabel(date: Date): string {
  const today = new Date();
  const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
  if (date.toDateString() === today.toDateString()) return "Today";
  if (date.toDateString() === yesterday.toDateString()) return "Yesterday";
  return dayFormat.format(date);
}

function Time({ iso }: { readonly iso: string }): JSX.Element {
  const date = new Date(iso);
  return <time dateTime={iso} title={full.format(date)}>{clock.format(date)}</time>;
}

function Message(
  { item, grouped, own }: { readonly item: MessageItem; readonly grouped: boolean; readonly own: boolean },
): JSX.Element {
  return (
    <li
      class={`msg${own ? " own" : ""}${grouped ? " grouped" : ""}`}
      data-id={item.id}
      data-from={item.from}
    >
      {grouped ? <span class="msg-gutter" aria-hidden="true" /> : <Avatar name={item.from} />}
      <div class="msg-body">
        <div class={grouped ? "msg-meta sr-only" : "msg-meta"}>
          <span class="msg-from">{item.from}</span>
          {own && <span class="you-tag">you</span>}
          <Time iso={item.time} />
        </div>
        <p class="msg-text">
          <RichText text={item.text} />
        </p>
      </div>
      {grouped && (
        <span class="msg-hover-time" aria-hidden="true">
          <Time iso={item.time} />
        </span>
      )}
    </li>
  );
}

function rows(items: readonly Item[], myName: string | null): JSX.Element[] {
  const out: JSX.Element[] = [];
  let lastDay = "";
  let previous: Item | undefined;
  for (const item of items) {
    const date = new Date(item.time);
    const day = date.toDateString();
    if (day !== lastDay) {
      out.push(
        <li key={`day:${day}:${item.key}`} class="day" role="separator">
          <span>{dayLabel(date)}</span>
        </li>,
      );
      lastDay = day;
      previous = undefined;
    }
    if (item.kind === "note") {
      out.push(
        <li key={item.key} class={`note note-${item.tone}`}>
          <span>{item.text}</span> <Time iso={item.time} />
        </li>,
      );
    } else {
      const grouped = previous?.kind === "message" && previous.from === item.from &&
        date.getTime() - new Date(previous.time).getTime() < GROUP_MS;
      out.push(<Message key={item.key} item={item} grouped={grouped} own={sameName(item.from, myName)} />);
    }
    previous = item;
  }
  return out;
}

/** The message list of `conv`. */
export function MessageList({ conv }: { readonly conv: Conversation }): JSX.Element {
  const items = conv.items.value;
  const log = useRef<HTMLDivElement>(null);
  const stuck = useRef(true);
  const previous = useRef<{ key: string; first: string | undefined; height: number } | null>(null);
  const [behind, setBehind] = useState(false);
  const firstKey = items[0]?.key;

  // Keep the newest message in view unless the reader scrolled up; when older messages are added above,
  // keep what the reader was looking at in place.
  useLayoutEffect(() => {
    const el = log.current;
    if (!el) return;
    const before = previous.current;
    if (!before || before.key !== conv.key || stuck.current) {
      el.scrollTop = el.scrollHeight;
      stuck.current = true;
      setBehind(false);
    } else if (before.first !== firstKey) {
      el.scrollTop += el.scrollHeight - before.height;
    } else if (el.scrollHeight > before.height) {
      setBehind(true);
    }
    previous.current = { key: conv.key, first: firstKey, height: el.scrollHeight };
  }, [items, conv.key]);

  const onScroll = () => {
    const el = log.current;
    if (!el) return;
    stuck.current = el.scrollHeight - el.scrollTop - el.clientHeight < 48;
    if (stuck.current) setBehind(false);
  };

  const label = conv.kind === "room" ? `Messages in ${conv.name.value}` : `Messages with ${conv.name.value}`;
  return (
    <div class="log-wrap">
      <div class="log" ref={log} onScroll={onScroll} role="log" aria-label={label} tabIndex={0}>
        {conv.hasOlder.value && (
          <div class="older">
            <button type="button" class="button small secondary" onClick={() => loadOlder(conv)}>
              {conv.loading.value ? "Loading…" : "Load earlier messages"}
            </button>
          </div>
        )}
        {items.length === 0 && !conv.loading.value && (
          <p class="empty">
            {conv.kind === "room"
              ? `No messages in ${conv.name.value} yet. Say hello!`
              : `This is the start of your conversation with ${conv.name.value}.`}
          </p>
        )}
        <ol class="timeline" data-testid="messages">{rows(items, me.value)}</ol>
      </div>
      {behind && (
        <button
          type="button"
          class="jump"
          onClick={() => {
            const el = log.current;
            if (el) el.scrollTop = el.scrollHeight;
            stuck.current = true;
            setBehind(false);
          }}
        >
          New messages ↓
        </button>
      )}
    </div>
  );
}
