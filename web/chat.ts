/// <reference lib="dom" />
/**
 * The page's state and its protocol: signals the components read, frames from `/ws` applied to them, and
 * the actions people take turned into frames. One module-level store: the page has one connection and one
 * identity, and signals make every component re-render only for what it reads.
 * @module
 */

import { batch, computed, type ReadonlySignal, type Signal, signal } from "@preact/signals";
import type { BroadcastPayload, PrivatePayload } from "../src/wire/gobanter.ts";
import { applyPresence, mergeMembers, nextMemberPage, presenceText } from "./members.ts";
import { ChatSocket, type SocketStatus } from "./socket.ts";
import {
  addMessages,
  checkName,
  checkRoom,
  firstMessageId,
  type Item,
  lastMessageId,
  type MessageItem,
  messageItem,
  nameKey,
  noteItem,
  type Placement,
  roomKey,
  sameName,
} from "./timeline.ts";

/** The room every `/ws` connection starts in. */
export const LOBBY = "lobby";
/** Messages asked for when a conversation opens, and per "load earlier" click. */
const PAGE = 50;
/** Messages asked for per request while filling a gap after a reconnect (the server's maximum). */
const GAP_PAGE = 500;
/** A member page not answered after this long is given up, so it can be asked for again (ms). */
const MEMBER_RETRY_MS = 5000;
/** How long a typing notice is shown without a new one (ms). */
const TYPING_SHOWN_MS = 5000;
/** The page sends at most one typing notice per room this often (ms), as the server relays them. */
const TYPING_EVERY_MS = 3000;

type HistoryKind = "open" | "older" | "gap";

/** A room or a DM conversation. */
export interface Conversation {
  /** `r:<room key>` or `d:<name key>`. */
  readonly key: string;
  readonly kind: "room" | "dm";
  /** Display name: the room as the server spells it, or the other member's name. */
  readonly name: Signal<string>;
  readonly items: Signal<readonly Item[]>;
  readonly unread: Signal<number>;
  /**
   * Room members loaded so far (rooms only), sorted as the server sends them: the whole room, or its first
   * names in a big room (further pages are fetched as the member list scrolls).
   */
  readonly members: Signal<readonly string[]>;
  /** How many members the room has (the server's `Total`). */
  readonly memberTotal: Signal<number>;
  /** Whether a further page of members has been asked for and not answered yet. */
  readonly membersLoading: Signal<boolean>;
  /** The member page asked for and not answered yet. */
  memberRequest: { readonly offset: number } | null;
  /** How many names the server's pages hold (its list limit, learnt from a first page); 0 until known. */
  memberPageSize: number;
  /** A page brought no new name: no more pages are asked for by themselves until the next first page. */
  membersStalled: boolean;
  /** Whether `members` was built on this connection (after a reconnect the first list replaces it). */
  membersFresh: boolean;
  /** Who is typing right now. */
  readonly typing: Signal<readonly string[]>;
  /** Whether older history may exist ("load earlier messages"). */
  readonly hasOlder: Signal<boolean>;
  /** Whether a history request is in flight. */
  readonly loading: Signal<boolean>;
  readonly seen: Set<string>;
  readonly pending: { kind: HistoryKind; limit: number }[];
  readonly typingTimers: Map<string, ReturnType<typeof setTimeout>>;
  /** When this page last sent a typing notice here. */
  typedAt: number;
}

/** A message shown briefly at the corner of the page. */
export interface Toast {
  readonly id: number;
  readonly text: string;
  readonly tone: "error" | "info";
}

/** A room from `/api/rooms`. */
export interface RoomInfo {
  readonly name: string;
  readonly members: number;
}

// ---- storage ---------------------------------------------------------------------------------------------

const STORE_KEYS = { name: "hubbub.name", session: "hubbub.session", rooms: "hubbub.rooms" } as const;

function load(key: string): string | null {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

function save(key: string, value: string | null): void {
  try {
    if (value === null) localStorage.removeItem(key);
    else localStorage.setItem(key, value);
  } catch {
    // Private mode or storage full: the page still works, it just forgets on reload.
  }
}

function sessionToken(): string {
  let token = load(STORE_KEYS.session);
  if (!token) {
    token = crypto.randomUUID();
    save(STORE_KEYS.session, token);
  }
  return token;
}

function savedRooms(): string[] {
  try {
    const rooms: unknown = JSON.parse(load(STORE_KEYS.rooms) ?? "null");
    if (Array.isArray(rooms)) {
      return rooms.filter((r): r is string => typeof r === "string" && checkRoom(r) === null);
    }
  } catch {
    // Corrupt: start over.
  }
  return [LOBBY];
}

// ---- state -----------------------------------------------------------------------------------------------

/** The name the server accepted for this page, once it has. */
export const me: Signal<string | null> = signal(null);
/** The name this page asks for (saved, or typed in the name form). */
export const wanted: Signal<string | null> = signal(load(STORE_KEYS.name));
/** Why the last name was refused. */
export const nameError: Signal<string | null> = signal(null);
/** The last name was refused because it needs a password (a registered name, or a server without guests). */
export const nameNeedsPassword: Signal<boolean> = signal(false);
/** Whether the server has accounts: `off`, `on` (guests too) or `required` (no guests); from its greeting. */
export const accountsMode: Signal<"off" | "on" | "required"> = signal("off");
/** The account this page is signed in to (its session cookie), or `null` for a guest. */
export const account: Signal<string | null> = signal(null);
/** Connection status. */
export const status: Signal<SocketStatus> = signal({
  phase: "connecting",
  attempt: 0,
  retryAt: null,
  everOpened: false,
});
/** The server said it is shutting down; cleared once connected again. */
export const serverRestarting: Signal<boolean> = signal(false);
/** Rooms this page is in, in the order joined. */
export const rooms: Signal<readonly Conversation[]> = signal([]);
/** DM conversations, most recent first. */
export const dms: Signal<readonly Conversation[]> = signal([]);
/** Key of the conversation on screen. */
export const activeKey: Signal<string | null> = signal(null);
/** Toasts on screen. */
export const toasts: Signal<readonly Toast[]> = signal([]);
/** Rooms on the server (from `/api/rooms`), for "browse rooms". */
export const directory: Signal<readonly RoomInfo[] | null> = signal(null);
/** Why the last join was refused (shown under the join field). */
export const joinError: Signal<string | null> = signal(null);

/** The conversation on screen. */
export const active: ReadonlySignal<Conversation | null> = computed(() => {
  const key = activeKey.value;
  return rooms.value.find((c) => c.key === key) ?? dms.value.find((c) => c.key === key) ?? null;
});

/** Unread messages everywhere (for the title). */
export const totalUnread: ReadonlySignal<number> = computed(() =>
  [...rooms.value, ...dms.value].reduce((n, c) => n + c.unread.value, 0)
);

/** Whether frames can be sent. */
export const online: ReadonlySignal<boolean> = computed(() => status.value.phase === "open");

const token = sessionToken();
const pendingJoins = new Map<string, string>();
/** Whether a `username` frame awaits its answer (a list naming us, or an error). */
let asking = false;
/** The name the server gave the current connection (a refused rename keeps it). */
let connectionName: string | null = null;
let toastIds = 0;

/** A new, empty conversation. */
export function conversation(kind: "room" | "dm", name: string): Conversation {
  return {
    key: kind === "room" ? `r:${roomKey(name)}` : `d:${nameKey(name)}`,
    kind,
    name: signal(name),
    items: signal([]),
    unread: signal(0),
    members: signal([]),
    memberTotal: signal(0),
    membersLoading: signal(false),
    memberRequest: null,
    memberPageSize: 0,
    membersStalled: false,
    membersFresh: false,
    typing: signal([]),
    hasOlder: signal(false),
    loading: signal(false),
    seen: new Set(),
    pending: [],
    typingTimers: new Map(),
    typedAt: 0,
  };
}

function findRoom(name: string): Conversation | undefined {
  const key = `r:${roomKey(name)}`;
  return rooms.value.find((c) => c.key === key);
}

function findDm(name: string): Conversation | undefined {
  const key = `d:${nameKey(name)}`;
  return dms.value.find((c) => c.key === key);
}

function persistRooms(): void {
  save(STORE_KEYS.rooms, JSON.stringify(rooms.value.map((c) => c.name.value)));
}

/** Shows a toast for a few seconds. */
export function toast(text: string, tone: Toast["tone"] = "error"): void {
  const id = ++toastIds;
  toasts.value = [...toasts.value.slice(-3), { id, text, tone }];
  setTimeout(() => dismissToast(id), tone === "error" ? 8000 : 4000);
}

/** Removes a toast. */
export function dismissToast(id: number): void {
  toasts.value = toasts.value.filter((t) => t.id !== id);
}

function note(conv: Conversation, text: string, tone: "info" | "warn" = "info"): void {
  conv.items.value = [...conv.items.value, noteItem(text, tone)];
}

function add(
  conv: Conversation,
  messages: readonly MessageItem[],
  placement: Placement,
  countUnread: boolean,
) {
  const result = addMessages(conv.items.value, conv.seen, messages, placement);
  if (result.added.length === 0) return result;
  batch(() => {
    conv.items.value = result.items;
    if (result.trimmed) conv.hasOlder.value = true;
    if (countUnread && (conv.key !== activeKey.value || pageHidden())) {
      const others = result.added.filter((m) => !sameName(m.from, me.value)).length;
      if (others > 0) conv.unread.value += others;
    }
  });
  return result;
}

function pageHidden(): boolean {
  return typeof document !== "undefined" && document.visibilityState === "hidden";
}

// ---- the connection --------------------------------------------------------------------------------------

const socket = new ChatSocket({
  url: () => `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/ws`,
  onOpen: hello,
  onFrame: (action, payload) => batch(() => receive(action, payload)),
  onStatus: (s) => {
    batch(() => {
      status.value = s;
      if (s.phase === "open") serverRestarting.value = false;
    });
  },
});

/** Connects; call once when the page starts. */
export function start(): void {
  const initial = savedRooms();
  rooms.value = initial.map((name) => conversation("room", name));
  activeKey.value = rooms.value[0]?.key ?? null;
  socket.start();
  addEventListener("online", () => socket.retryNow());
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState !== "visible") return;
    socket.retryNow();
    if (active.value) active.value.unread.value = 0;
  });
}

/** "Retry now" in the reconnecting banner. */
export function retryNow(): void {
  socket.retryNow();
}

/** On every (re)connection: say who we are, re-enter our rooms, and fill what we missed. */
function hello(): void {
  connectionName = null;
  // A `/ws` connection starts in the lobby. A page that left it leaves again before it has a name, so
  // nobody sees it come and go; a page in no room at all stays in the lobby.
  if (rooms.value.length === 0) {
    rooms.value = [conversation("room", LOBBY)];
    activeKey.value ??= rooms.value[0]!.key;
    persistRooms();
  }
  if (!findRoom(LOBBY)) socket.send("leave", { Room: LOBBY });
  if (wanted.value !== null) asking = socket.send("username", { Username: wanted.value, Session: token });
  for (const conv of rooms.value) {
    if (roomKey(conv.name.value) !== roomKey(LOBBY)) socket.send("join", { Room: conv.name.value });
  }
  for (const conv of [...rooms.value, ...dms.value]) {
    // Requests of the lost connection will never be answered, and what changed meanwhile was missed.
    conv.pending.length = 0;
    conv.loading.value = false;
    conv.memberRequest = null;
    conv.membersLoading.value = false;
    conv.membersFresh = false;
    catchUp(conv);
  }
  for (const [, name] of pendingJoins) socket.send("join", { Room: name });
  void refreshDirectory();
}

/** Asks for what a conversation missed: everything after its last message, or its latest page. */
function catchUp(conv: Conversation): void {
  const after = lastMessageId(conv.items.value);
  if (after === null) requestHistory(conv, "open", PAGE);
  else requestHistory(conv, "gap", GAP_PAGE, { After: after });
}

function requestHistory(
  conv: Conversation,
  kind: HistoryKind,
  limit: number,
  range: Record<string, number> = {},
) {
  const target = conv.kind === "room" ? { Room: conv.name.value } : { With: conv.name.value };
  if (!socket.send("history", { ...target, Limit: limit, ...range })) return;
  conv.pending.push({ kind, limit });
  conv.loading.value = true;
}

// ---- frames from the server ------------------------------------------------------------------------------

function str(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

function count(value: unknown): number | undefined {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}

/** What room messages and DMs share: enough to show one. */
type Entry = Pick<BroadcastPayload, "Message" | "Username" | "Time" | "Id">;

function isEntry(value: unknown): value is Entry {
  const p = value as Partial<Entry> | null;
  return typeof p === "object" && p !== null && typeof p.Message === "string" &&
    typeof p.Username === "string" && typeof p.Time === "string" && typeof p.Id === "number";
}

function isBroadcast(value: unknown): value is BroadcastPayload {
  return isEntry(value) && typeof (value as Partial<BroadcastPayload>).Room === "string";
}

function isPrivate(value: unknown): value is PrivatePayload {
  return isEntry(value) && typeof (value as Partial<PrivatePayload>).To === "string";
}

/** Applies one frame from the server. Exported for tests of the page logic. */
export function receive(action: string, p: Record<string, unknown>): void {
  switch (action) {
    case "username": {
      // The server's confirmation of a `username` request, with the name as it granted it.
      const name = str(p.Username);
      if (name !== undefined) grantName(name);
      return;
    }
    case "connected": {
      const room = str(p.Room);
      if (Array.isArray(p.Users)) return receivePresence("joined", room, p.Users, p.Count);
      const user = str(p.Username);
      if (user === undefined || room === undefined) return greeting(p);
      if (sameName(user, wanted.value)) return acceptName(user);
      const conv = findRoom(room);
      if (!conv) return;
      changeMembers(conv, [user], []);
      note(conv, `${user} joined`);
      return;
    }
    case "left": {
      const room = str(p.Room);
      if (Array.isArray(p.Users)) return receivePresence("left", room, p.Users, p.Count);
      const user = str(p.Username);
      if (user === undefined) return;
      const how = p.Reason === "disconnected" ? "disconnected" : "left";
      if (sameName(user, me.value)) return;
      const convs = room === undefined
        ? rooms.value.filter((c) => c.members.value.some((m) => sameName(m, user)))
        : [findRoom(room)].filter((c) => c !== undefined);
      for (const conv of convs) {
        stopTyping(conv, user);
        changeMembers(conv, [], [user]);
        note(conv, `${user} ${how}`);
      }
      return;
    }
    case "userlist": {
      const room = str(p.Room);
      const users = Array.isArray(p.Users) ? p.Users.filter((u): u is string => typeof u === "string") : [];
      if (room === undefined) return;
      const offset = count(p.Offset) ?? 0;
      // A server without paging sends the whole list and no total.
      const total = count(p.Total) ?? offset + users.length;
      const mine = users.find((u) => sameName(u, wanted.value));
      if (mine !== undefined) acceptName(mine);
      const key = roomKey(room);
      let conv = findRoom(room);
      if (!conv && pendingJoins.has(key)) {
        pendingJoins.delete(key);
        conv = conversation("room", room);
        rooms.value = [...rooms.value, conv];
        activeKey.value = conv.key;
        persistRooms();
        requestHistory(conv, "open", PAGE);
      }
      if (!conv) return;
      conv.name.value = room;
      const answered = conv.memberRequest?.offset === offset;
      if (answered) {
        conv.memberRequest = null;
        conv.membersLoading.value = false;
      }
      // After a reconnect the first list starts over: what was loaded before may have changed unseen.
      const known = offset === 0 && !conv.membersFresh ? [] : conv.members.value;
      const merged = mergeMembers(known, { users, offset, total });
      if (offset === 0) {
        conv.membersFresh = true;
        conv.membersStalled = false;
        // A first page that stops short of the total is as long as the server's pages.
        if (users.length < total) conv.memberPageSize = users.length;
      } else if (answered && merged.length <= known.length) {
        // Never ask for the same page over and over: wait for the list to change (or a click).
        conv.membersStalled = true;
      }
      conv.members.value = merged;
      conv.memberTotal.value = total;
      return;
    }
    case "broadcast": {
      if (!isBroadcast(p)) return;
      const conv = findRoom(p.Room);
      if (!conv) return;
      stopTyping(conv, p.Username);
      add(conv, [messageItem(p.Id, p.Time, p.Username, p.Message)], "live", true);
      return;
    }
    case "private": {
      if (!isPrivate(p)) return;
      const mine = sameName(p.Username, me.value);
      const peer = mine ? p.To : p.Username;
      const conv = openDmConversation(peer, false);
      stopTyping(conv, p.Username);
      add(conv, [messageItem(p.Id, p.Time, p.Username, p.Message)], "live", true);
      // Newest conversation first.
      dms.value = [conv, ...dms.value.filter((c) => c !== conv)];
      return;
    }
    case "history":
      return receiveHistory(p);
    case "typing": {
      const user = str(p.Username);
      const room = str(p.Room);
      if (user === undefined || room === undefined || sameName(user, me.value)) return;
      const conv = findRoom(room);
      if (conv) startTyping(conv, user);
      return;
    }
    case "error":
      return receiveError(str(p.Code) ?? "error", str(p.Message) ?? "Something went wrong");
    case "notice": {
      const text = str(p.Message);
      if (text !== undefined) toast(text, "info");
      return;
    }
    case "shutdown":
      serverRestarting.value = true;
      return;
    default:
      // Unknown actions are ignored: a newer server may say more than this page understands.
      return;
  }
}

/** The server's greeting: with accounts, its mode and the account the page's cookie signed this connection in to. */
function greeting(p: Record<string, unknown>): void {
  const mode = p.Accounts;
  accountsMode.value = mode === "on" || mode === "required" ? mode : "off";
  account.value = str(p.Account) ?? null;
}

/** Accepts the name an older signal implies (a list or a join naming us) while a `username` awaits its answer. */
function acceptName(name: string): void {
  if (asking) grantName(name);
}

/** The name the server gave this connection. */
function grantName(name: string): void {
  asking = false;
  connectionName = name;
  me.value = name;
  wanted.value = name;
  nameError.value = null;
  save(STORE_KEYS.name, name);
}

/** A summary of people joining or leaving a room past its notice rate: one notice line for all of them. */
function receivePresence(verb: "joined" | "left", room: string | undefined, list: unknown[], total: unknown) {
  const users = list.filter((u): u is string => typeof u === "string");
  if (verb === "joined") {
    const mine = users.find((u) => sameName(u, wanted.value));
    if (mine !== undefined) acceptName(mine);
  }
  const conv = room === undefined ? undefined : findRoom(room);
  if (!conv) return;
  const others = users.filter((u) => !sameName(u, me.value));
  const n = Math.max(count(total) ?? 0, users.length) - (users.length - others.length);
  if (verb === "joined") changeMembers(conv, others, []);
  else {
    for (const user of others) stopTyping(conv, user);
    changeMembers(conv, [], others);
  }
  if (n > 0) note(conv, presenceText(others, n, verb));
}

/** Keeps the loaded members right between full lists (which follow within a presence interval). */
function changeMembers(conv: Conversation, joined: readonly string[], left: readonly string[]): void {
  const complete = conv.members.value.length >= conv.memberTotal.value;
  conv.members.value = applyPresence(conv.members.value, joined, left, complete);
}

function receiveHistory(p: Record<string, unknown>): void {
  const room = str(p.Room);
  const peer = str(p.With);
  const conv = room !== undefined ? findRoom(room) : peer !== undefined ? findDm(peer) : undefined;
  if (!conv) return;
  const request = conv.pending.shift();
  conv.loading.value = conv.pending.length > 0;
  const list = Array.isArray(p.Messages) ? p.Messages.filter(isEntry) : [];
  const items = list.map((m) => messageItem(m.Id, m.Time, m.Username, m.Message));
  const kind = request?.kind ?? "open";
  add(conv, items, "history", kind === "gap");
  if (p.Complete === false) note(conv, "Some messages are no longer available.", "warn");
  if (kind === "open" || kind === "older") {
    conv.hasOlder.value = list.length >= (request?.limit ?? PAGE);
  } else if (request && list.length >= request.limit) {
    // More missed than one page: keep going from the last one received.
    const after = Math.max(...list.map((m) => m.Id));
    requestHistory(conv, "gap", GAP_PAGE, { After: after });
  }
}

function receiveError(code: string, message: string): void {
  switch (code) {
    case "name-taken":
    case "invalid-name":
    case "name-registered":
    case "login-required":
    case "already-logged-in":
      asking = false;
      // A refused rename keeps the old name; a refused login (say, after a reconnect) leaves none.
      me.value = connectionName;
      nameError.value = message;
      nameNeedsPassword.value = code === "name-registered" || code === "login-required";
      return;
    case "invalid-room":
      if (pendingJoins.size === 0) return toast(message);
      pendingJoins.clear();
      joinError.value = message;
      return;
    case "user-not-found": {
      const conv = active.value;
      if (conv?.kind === "dm") {
        note(conv, `${conv.name.value} is offline: the message was not delivered.`, "warn");
      } else toast(message);
      return;
    }
    default:
      toast(message);
  }
}

function startTyping(conv: Conversation, user: string): void {
  clearTimeout(conv.typingTimers.get(nameKey(user)));
  conv.typingTimers.set(nameKey(user), setTimeout(() => stopTyping(conv, user), TYPING_SHOWN_MS));
  if (!conv.typing.value.some((u) => sameName(u, user))) conv.typing.value = [...conv.typing.value, user];
}

function stopTyping(conv: Conversation, user: string): void {
  const timer = conv.typingTimers.get(nameKey(user));
  if (timer === undefined) return;
  clearTimeout(timer);
  conv.typingTimers.delete(nameKey(user));
  conv.typing.value = conv.typing.value.filter((u) => !sameName(u, user));
}

// ---- actions ---------------------------------------------------------------------------------------------

/** Asks for a name (the name form). Returns why it cannot be asked, or `null`. */
export function chooseName(name: string): string | null {
  const trimmed = name.trim();
  const why = checkName(trimmed);
  if (why) return why;
  batch(() => {
    wanted.value = trimmed;
    nameError.value = null;
    nameNeedsPassword.value = false;
    if (me.value !== null && !sameName(me.value, trimmed)) me.value = null;
  });
  asking = socket.send("username", { Username: trimmed, Session: token });
  // Make sure an answer comes back even when the page is in no room: the list names the new member.
  const room = rooms.value[0]?.name.value;
  if (room !== undefined) socket.send("userlist", { Room: room });
  return null;
}

/**
 * Signs in with a password (`register`: registers the name first) over HTTP, which sets the session cookie;
 * the socket then reconnects, signed in by the cookie, and asks for the name. Resolves with why it failed, or
 * `null`.
 */
export async function signIn(name: string, password: string, register = false): Promise<string | null> {
  const trimmed = name.trim();
  const why = checkName(trimmed);
  if (why) return why;
  let response: Response;
  try {
    response = await fetch(register ? "/api/accounts" : "/api/session", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify({ username: trimmed, password, ...(register ? { session: token } : {}) }),
    });
  } catch {
    return "Cannot reach the server: try again in a moment.";
  }
  const body = await response.json().catch(() => ({})) as { username?: unknown; message?: unknown };
  if (!response.ok) return typeof body.message === "string" ? body.message : `Refused (${response.status})`;
  const granted = typeof body.username === "string" ? body.username : trimmed;
  batch(() => {
    account.value = granted;
    wanted.value = granted;
    nameError.value = null;
    nameNeedsPassword.value = false;
    if (me.value !== null && !sameName(me.value, granted)) me.value = null;
  });
  save(STORE_KEYS.name, granted);
  // Only a new connection carries the new cookie.
  socket.reconnect();
  return null;
}

/** Signs out: the server ends the session and clears the cookie; the page starts over as a guest. */
export async function signOut(): Promise<void> {
  try {
    await fetch("/api/session", { method: "DELETE" });
  } catch {
    // The cookie stays until the server is back; the page forgets the name all the same.
  }
  batch(() => {
    account.value = null;
    me.value = null;
    wanted.value = null;
    nameError.value = null;
    nameNeedsPassword.value = false;
  });
  save(STORE_KEYS.name, null);
  socket.reconnect();
}

/** Gives up changing the name: the page keeps the one it has. */
export function cancelRename(): void {
  batch(() => {
    nameError.value = null;
    if (me.value !== null) wanted.value = me.value;
  });
}

/** Shows a conversation and clears its unread count. */
export function activate(conv: Conversation): void {
  batch(() => {
    activeKey.value = conv.key;
    conv.unread.value = 0;
  });
  // Lists arrive on every change anyway; asking again costs one frame and heals any missed one.
  refreshMembers(conv);
}

/** Joins (or creates) a room; it opens once the server has answered. Returns why it cannot, or `null`. */
export function joinRoom(name: string): string | null {
  const trimmed = name.trim();
  const why = checkRoom(trimmed);
  if (why) return why;
  const existing = findRoom(trimmed);
  if (existing) {
    activate(existing);
    return null;
  }
  if (!socket.send("join", { Room: trimmed })) return "Not connected: try again in a moment.";
  joinError.value = null;
  pendingJoins.set(roomKey(trimmed), trimmed);
  return null;
}

/** Leaves a room. */
export function leaveRoom(conv: Conversation): void {
  socket.send("leave", { Room: conv.name.value });
  const index = rooms.value.indexOf(conv);
  const rest = rooms.value.filter((c) => c !== conv);
  batch(() => {
    rooms.value = rest;
    if (activeKey.value === conv.key) {
      activeKey.value = (rest[Math.min(index, rest.length - 1)] ?? dms.value[0])?.key ?? null;
    }
  });
  for (const timer of conv.typingTimers.values()) clearTimeout(timer);
  persistRooms();
  void refreshDirectory();
}

function openDmConversation(peer: string, activateIt: boolean): Conversation {
  let conv = findDm(peer);
  if (!conv) {
    conv = conversation("dm", peer);
    dms.value = [conv, ...dms.value];
    requestHistory(conv, "open", PAGE);
  }
  if (activateIt) activate(conv);
  return conv;
}

/** Opens (or creates) the DM conversation with a member. */
export function openDm(peer: string): void {
  if (sameName(peer, me.value)) return;
  openDmConversation(peer, true);
}

/** Closes a DM conversation (it comes back with the next message). */
export function closeDm(conv: Conversation): void {
  dms.value = dms.value.filter((c) => c !== conv);
  if (activeKey.value === conv.key) activeKey.value = rooms.value[0]?.key ?? null;
}

/** Sends text to the conversation on screen. Returns `false` when it could not be sent. */
export function sendMessage(text: string): boolean {
  const conv = active.value;
  if (!conv || text.trim() === "") return false;
  const sent = conv.kind === "room"
    ? socket.send("broadcast", { Room: conv.name.value, Message: text })
    : socket.send("private", { To: conv.name.value, Message: text });
  if (sent) conv.typedAt = 0;
  return sent;
}

/** Tells the room we are typing, at most once per {@linkcode TYPING_EVERY_MS}. */
export function typing(): void {
  const conv = active.value;
  if (!conv || conv.kind !== "room") return;
  const now = Date.now();
  if (now - conv.typedAt < TYPING_EVERY_MS) return;
  if (socket.send("typing", { Room: conv.name.value })) conv.typedAt = now;
}

/** Loads the page of history before the first message shown. */
export function loadOlder(conv: Conversation): void {
  const before = firstMessageId(conv.items.value);
  if (conv.loading.value) return;
  requestHistory(conv, "older", PAGE, before === null ? {} : { Before: before });
}

/** Asks the members of a room again (the first page). */
export function refreshMembers(conv: Conversation): void {
  if (conv.kind === "room") socket.send("userlist", { Room: conv.name.value });
}

/**
 * Asks for the next page of a big room's members (the member list scrolled near its end, or `force`: the
 * person asked). One request at a time per room; one left unanswered is given up after
 * {@linkcode MEMBER_RETRY_MS}.
 */
export function loadMoreMembers(conv: Conversation, force = false): void {
  if (conv.kind !== "room" || conv.memberRequest !== null || (conv.membersStalled && !force)) return;
  const page = nextMemberPage(
    conv.members.value.length,
    conv.memberTotal.value,
    conv.memberPageSize || undefined,
  );
  if (page === null) return;
  if (!socket.send("userlist", { Room: conv.name.value, Offset: page.offset, Limit: page.limit })) return;
  const request = { offset: page.offset };
  conv.memberRequest = request;
  conv.membersLoading.value = true;
  // Never stuck on "Loading…": an answer that does not come frees the list to ask again.
  setTimeout(() => {
    if (conv.memberRequest !== request) return;
    conv.memberRequest = null;
    conv.membersLoading.value = false;
  }, MEMBER_RETRY_MS);
}

let lastDirectory = 0;

/** Refreshes the list of rooms on the server (at most every few seconds unless forced). */
export async function refreshDirectory(force = false): Promise<void> {
  const now = Date.now();
  if (!force && now - lastDirectory < 3000) return;
  lastDirectory = now;
  try {
    const response = await fetch("/api/rooms", { headers: { accept: "application/json" } });
    if (!response.ok) return;
    const body: unknown = await response.json();
    const list = (body as { rooms?: unknown }).rooms;
    if (!Array.isArray(list)) return;
    directory.value = list.filter((r): r is RoomInfo =>
      typeof r === "object" && r !== null && typeof r.name === "string" && typeof r.members === "number"
    );
  } catch {
    // The directory is a nicety: without it, rooms can still be joined by name.
  }
}
