// The chat protocol in the browser, apart from the page (app.js draws it).
//
// State: the conversation list (unread counts, last messages) and, for each
// conversation opened, a thread of messages keyed by id and ordered by seq.
//
// Each connection: WebSocket (token in the query string: browsers cannot set headers)
// -> the whole conversation list over REST -> history of the open conversation after
// what this page already holds (or its newest page) -> the open conversation marked
// read up to what is shown -> realtime. Frames that arrive while catching up wait and
// are handled after it. A pushed message is placed by seq; one that leaves a gap after
// what the thread is synced to makes the thread ask history for the range
// (`after_seq`). Sends go one at a time, each waiting for its ack or error, and a send
// in flight when the connection drops is sent again after the reconnect with the same
// ack_id (the server answers a duplicate ack, never a second message). A ping well
// inside API Gateway's 10-minute idle timeout keeps the connection, and each pong is
// followed by a sweep: the newest page of the conversation list, and history for the
// open conversation if the list shows it has more (a message the server could not
// push is stored all the same). Any drop is followed by a reconnect after a jittered
// exponential backoff.

export const Status = Object.freeze({
  CONNECTING: "connecting…",
  CONNECTED: "connected",
  RECONNECTING: "reconnecting…",
  CLOSED: "closed",
});

export const RECALLED = 2;
const READ = 1;
const NEWEST_PAGE = 50; // messages shown when a conversation opens
const FILL_PAGE = 200; // history pages that close a gap
const FILL_PAGES_MAX = 10; // past this, a thread starts again from its newest page
const LIST_PAGE = 100;
const LIST_PAGES_MAX = 10;
const USER_ID_MAX = 2n ** 63n - 1n;
const GROUP_ID_MAX = 2n ** 53n - 1n;
// Keys whose numbers are user or group ids, and keys of lists of them.
const ID_KEYS = new Set(["from", "to", "by", "user_id", "peer", "owner", "group_id"]);
const ID_LIST_KEYS = new Set(["user_ids", "read_by"]);

// A number inside an array, kept with its source text until the array's key says
// whether it is an id.
class ArrayNumber {
  constructor(text, value) {
    this.text = text;
    this.value = value;
  }
}

// JSON whose user and group ids stay exact decimal strings: user ids go up to
// 2^63-1, and JavaScript numbers hold integers exactly only up to 2^53.
export function parseJson(text) {
  return JSON.parse(text, function revive(key, value, context) {
    if (typeof value === "number") {
      const source = context && typeof context.source === "string" ? context.source : String(value);
      if (Array.isArray(this)) return new ArrayNumber(source, value);
      return ID_KEYS.has(key) ? source : value;
    }
    if (Array.isArray(value)) {
      const ids = ID_LIST_KEYS.has(key);
      return value.map((item) => (item instanceof ArrayNumber ? (ids ? item.text : item.value) : item));
    }
    return value;
  });
}

const DECIMAL = /^[1-9][0-9]*$/;

export function isUserId(text) {
  return typeof text === "string" && DECIMAL.test(text) && text.length <= 19 && BigInt(text) <= USER_ID_MAX;
}

export function isGroupId(text) {
  return typeof text === "string" && DECIMAL.test(text) && text.length <= 16 && BigInt(text) <= GROUP_ID_MAX;
}

// An id (a decimal string) as a JSON number in JSON.stringify's output, exactly.
export function jsonId(text) {
  if (!DECIMAL.test(text)) throw new Error("not an id");
  if (typeof JSON.rawJSON === "function") return JSON.rawJSON(text);
  if (BigInt(text) > 2n ** 53n) throw new Error("this browser cannot send ids past 2^53");
  return Number(text);
}

// The id of the 1:1 conversation of two users: d:<lower>:<higher>.
export function directId(a, b) {
  return BigInt(a) <= BigInt(b) ? `d:${a}:${b}` : `d:${b}:${a}`;
}

// {kind: "direct", users: [low, high]} or {kind: "group", groupId}, ids as strings.
export function parseConversationId(id) {
  const direct = /^d:([1-9][0-9]{0,18}):([1-9][0-9]{0,18})$/.exec(id);
  if (direct && isUserId(direct[1]) && isUserId(direct[2]) && BigInt(direct[1]) <= BigInt(direct[2])) {
    return { kind: "direct", users: [direct[1], direct[2]] };
  }
  const group = /^g:([1-9][0-9]{0,15})$/.exec(id);
  if (group && isGroupId(group[1])) return { kind: "group", groupId: group[1] };
  return null;
}

export function newAckId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function sendFrame(outgoing) {
  // Written by hand so that ids are the exact decimals (see parseJson).
  const target = outgoing.groupId ? `"group_id":${outgoing.groupId}` : `"to":${outgoing.to}`;
  if (!DECIMAL.test(outgoing.groupId || outgoing.to)) throw new Error("no recipient");
  const content = JSON.stringify(outgoing.content);
  const ackId = JSON.stringify(outgoing.ackId);
  return `{"action":"send",${target},"content":${content},"ack_id":${ackId}}`;
}

export class Backoff {
  constructor(baseMs = 1000, capMs = 30000, random = Math.random) {
    this.baseMs = baseMs;
    this.capMs = capMs;
    this.random = random;
    this.attempt = 0;
  }

  next() {
    const step = Math.min(this.capMs, this.baseMs * 2 ** Math.min(this.attempt, 30));
    this.attempt += 1;
    return step / 2 + (this.random() * step) / 2;
  }

  reset() {
    this.attempt = 0;
  }
}

// The messages of one conversation that this page holds, by id, shown in seq order.
// `syncedTo`: every seq up to it that history has is held (missing ones are numbers
// no message got); `lowest`: where scrolling back continues.
export class Thread {
  constructor(id) {
    this.id = id;
    this.messages = new Map();
    this.loaded = false;
    this.hasOlder = false;
    this.lowest = null;
    this.syncedTo = 0;
    this.queue = Promise.resolve(); // history requests, one at a time
  }

  // Adds a message; false if it is already held (a recall still applies).
  put(message) {
    const held = this.messages.get(message.id);
    if (!held) {
      this.messages.set(message.id, message);
      return true;
    }
    if (message.status === RECALLED) held.status = RECALLED;
    if (held.status === RECALLED) held.content = "";
    if (message.status === READ && held.status !== RECALLED) held.status = READ;
    return false;
  }

  ordered() {
    return [...this.messages.values()].sort((a, b) => a.seq - b.seq);
  }

  newestSeq() {
    let newest = 0;
    for (const message of this.messages.values()) newest = Math.max(newest, message.seq);
    return newest;
  }

  clear() {
    this.messages.clear();
    this.loaded = false;
    this.hasOlder = false;
    this.lowest = null;
    this.syncedTo = 0;
  }
}

export class RestError extends Error {
  constructor(status, text) {
    super(`HTTP ${status}: ${text}`);
    this.status = status;
  }
}

// A message as the page keeps it, from a v1 message object and its place.
function placed(message, conversationId, seq) {
  return {
    id: message.id,
    seq,
    conversationId,
    from: message.from,
    content: message.status === RECALLED ? "" : message.content,
    msgType: message.msg_type,
    // 1:1: READ when the recipient has read it; groups: when this user has.
    status: message.status,
    createdAt: message.created_at,
    readers: new Set(), // group members who read it out of order (`read` frames)
  };
}

function preview(message) {
  return {
    id: message.id,
    seq: message.seq,
    from: message.from,
    status: message.status,
    content: message.status === RECALLED ? "" : message.content.slice(0, 200),
    truncated: message.status !== RECALLED && message.content.length > 200,
    createdAt: message.createdAt,
  };
}

function summary(entry) {
  const last = entry.last_message;
  return {
    id: entry.conversation_id,
    kind: entry.kind,
    peer: entry.peer,
    groupId: entry.group_id,
    name: entry.name,
    maxSeq: entry.max_seq,
    readSeq: entry.read_seq,
    unread: entry.unread_count,
    peerReadSeq: entry.peer_read_seq || 0,
    last: last && {
      id: last.id,
      seq: last.seq,
      from: last.from,
      status: last.status,
      content: last.content,
      truncated: last.content_truncated,
      createdAt: last.created_at,
    },
    lastAt: entry.last_activity_at,
    local: false,
  };
}

// A conversation this page knows of before the server lists it.
function placeholder(id, me, name = null) {
  const parsed = parseConversationId(id);
  const direct = parsed.kind === "direct";
  const [low, high] = direct ? parsed.users : [null, null];
  return {
    id,
    kind: direct ? "direct" : "group",
    peer: direct ? (low === me ? high : low) : null,
    groupId: direct ? null : parsed.groupId,
    name,
    maxSeq: 0,
    readSeq: 0,
    unread: 0,
    peerReadSeq: 0,
    last: null,
    lastAt: null,
    local: true,
  };
}

export class ChatClient {
  // events: status(status, detail), conversations(), thread(id, {older}),
  //         acked(outgoing), refused(outgoing, code, text), outbox(items),
  //         gone(conversationId, why), notice(text), synced()
  constructor({ wsUrl, restUrl, user, getToken, events, outbox = [], timing = {} }) {
    this.wsUrl = wsUrl;
    this.restUrl = restUrl.replace(/\/+$/, "");
    this.user = user;
    this.getToken = getToken;
    this.events = events;
    this.timing = {
      pingIntervalMs: 2 * 60 * 1000, // re-registers a connection Redis lost (docs/protocol.md)
      pongTimeoutMs: 30000,
      ackTimeoutMs: 35000,
      openTimeoutMs: 10000,
      ...timing,
    };
    this.backoff = new Backoff(this.timing.backoffBaseMs, this.timing.backoffCapMs);
    this.connected = false;
    this.connections = 0;
    this.sweeps = 0;
    this.closed = false;
    this.outbox = outbox.filter((item) => item && item.ackId && item.conversationId);
    this.inFlight = null;
    this.token = null;
    this.ws = null;
    this.wake = null;
    this.conversations = new Map(); // id -> summary
    this.threads = new Map(); // id -> Thread
    this.members = new Map(); // group conversation id -> {owner, list}
    this.openId = null;
    this.marking = null;
    this.markAgain = false;
    this.refreshing = null;
  }

  start() {
    this.done = this.#run();
    return this.done;
  }

  close() {
    this.closed = true;
    if (this.ws) this.ws.close(1000);
    if (this.wake) this.wake();
  }

  // --- what the page asks --------------------------------------------------------

  // Conversations, newest activity first (ones not yet on the server's list on top).
  listed() {
    const at = (c) => (c.lastAt ? Date.parse(c.lastAt) : Infinity);
    return [...this.conversations.values()].sort((a, b) => at(b) - at(a) || (a.id < b.id ? -1 : 1));
  }

  open(id) {
    if (!parseConversationId(id)) throw new Error("not a conversation id");
    if (!this.conversations.has(id)) {
      const parsed = parseConversationId(id);
      if (parsed.kind === "direct" && !parsed.users.includes(this.user)) {
        throw new Error("not your conversation");
      }
      this.conversations.set(id, placeholder(id, this.user));
    }
    this.openId = id;
    if (!this.threads.has(id)) this.threads.set(id, new Thread(id));
    this.events.conversations();
    this.events.thread(id, {});
    if (this.token) this.#sync(id, { recheck: true }).then(() => this.#afterSync(id));
    return this.conversations.get(id);
  }

  closeConversation() {
    this.openId = null;
  }

  pendingIn(id) {
    return this.outbox.filter((item) => item.conversationId === id);
  }

  send(content) {
    if (!this.connected) throw new Error("not connected");
    const conversation = this.conversations.get(this.openId);
    if (!conversation) throw new Error("no conversation is open");
    const outgoing = { conversationId: conversation.id, content, ackId: newAckId() };
    if (conversation.kind === "group") outgoing.groupId = conversation.groupId;
    else outgoing.to = conversation.peer;
    this.outbox.push(outgoing);
    this.events.outbox(this.outbox);
    this.events.thread(conversation.id, {});
    this.#pump();
    return outgoing;
  }

  loadOlder(id = this.openId) {
    const thread = this.threads.get(id);
    if (!thread || !thread.loaded || !thread.hasOlder) return Promise.resolve();
    return this.#queued(thread, async () => {
      const page = await this.#history(id, { before_seq: thread.lowest, limit: NEWEST_PAGE });
      this.#take(thread, page);
      thread.hasOlder = page.has_more;
      this.events.thread(id, { older: true });
    });
  }

  async recall(messageId) {
    const done = await this.#post("/api/v1/messages/recall", { message_id: messageId });
    this.#recalled(done.conversation_id, messageId, done.seq);
    return done;
  }

  receipts(messageId) {
    return this.#post("/api/v1/messages/receipts", { message_id: messageId });
  }

  async createGroup(name, members) {
    const body = { name, members: members.map(jsonId) };
    const { group } = await this.#post("/api/v1/groups/create", body);
    this.#joined(group.conversation_id, group.name);
    return group;
  }

  async leaveGroup(id) {
    const conversation = this.conversations.get(id);
    if (!conversation || conversation.kind !== "group") return;
    await this.#post("/api/v1/groups/leave", { group_id: jsonId(conversation.groupId) });
    this.#gone(id, `you left ${conversation.name || "the group"}`);
  }

  // Own group message: how many of the members it was for have read it (null: the
  // members are not loaded yet).
  readCount(message) {
    const group = this.members.get(message.conversationId);
    if (!group) return null;
    let read = 0;
    let recipients = 0;
    for (const member of group.list) {
      if (member.user_id === this.user) continue;
      if (member.joined_at && Date.parse(member.joined_at) > Date.parse(message.createdAt)) continue;
      recipients += 1;
      if (member.read_seq >= message.seq || message.readers.has(member.user_id)) read += 1;
    }
    return { read, recipients };
  }

  // Own 1:1 message: whether the other user has read it.
  readByPeer(message) {
    const conversation = this.conversations.get(message.conversationId);
    return message.status === READ || Boolean(conversation && conversation.peerReadSeq >= message.seq);
  }

  // --- server frames ---------------------------------------------------------------

  handleFrame(raw) {
    let frame;
    try {
      frame = parseJson(raw);
    } catch {
      this.events.notice("ignored a frame that is not JSON");
      return;
    }
    const handler = this.#handlers[frame && frame.type];
    if (handler) handler(frame);
  }

  #handlers = {
    message: (frame) => {
      const message = frame.message;
      if (!message || typeof message.id !== "string" || !parseConversationId(frame.conversation_id)) return;
      if (!Number.isInteger(frame.seq)) return;
      this.#place(placed(message, frame.conversation_id, frame.seq));
    },
    ack: (frame) => {
      const head = this.#settle(frame);
      if (!head) return;
      if (typeof frame.message_id === "string" && Number.isInteger(frame.seq)) {
        const named = parseConversationId(String(frame.conversation_id)) ? frame.conversation_id : null;
        const conversationId = named || head.conversationId;
        const message = { id: frame.message_id, from: this.user, content: head.content, msg_type: 1 };
        message.status = 0;
        message.created_at = frame.created_at || new Date().toISOString();
        this.#place(placed(message, conversationId, frame.seq));
      }
      this.events.acked(head);
    },
    error: (frame) => {
      if (frame.code === "unauthorized") {
        this.#signInAgain();
        return;
      }
      const head = this.#settle(frame);
      const code = String(frame.code || "error");
      if (head) {
        this.events.refused(head, code, String(frame.error || ""));
        this.events.thread(head.conversationId, {});
      } else {
        this.events.notice(`server error (${code}): ${frame.error || ""}`);
      }
    },
    read: (frame) => this.#read(frame),
    recalled: (frame) => this.#recalled(frame.conversation_id, frame.message_id, frame.seq),
    group: (frame) => this.#group(frame),
    authenticated: () => {
      // Signed in again on this connection: send again what was refused meanwhile (the
      // same ack_id, so it is stored once), and the ping if it was refused.
      this.authAttempts = 0;
      if (this.inFlight && this.ws) this.ws.send(sendFrame(this.inFlight));
      if (this.pongTimer && this.ws) this.ws.send('{"action":"ping"}');
    },
    pong: () => {
      clearTimeout(this.pongTimer);
      this.pongTimer = null;
      this.#sweep(false).catch((err) => this.events.notice(`could not check for news: ${err.message}`));
    },
  };

  #place(message) {
    const id = message.conversationId;
    let conversation = this.conversations.get(id);
    if (!conversation) {
      conversation = placeholder(id, this.user);
      this.conversations.set(id, conversation);
      if (conversation.kind === "group") this.#refreshSoon(); // for its name
    }
    const mine = message.from === this.user;
    const beyond = message.seq > conversation.maxSeq;
    conversation.maxSeq = Math.max(conversation.maxSeq, message.seq);
    if (!conversation.last || message.seq >= conversation.last.seq) {
      conversation.last = preview(message);
      conversation.lastAt = message.createdAt;
    }
    if (mine && conversation.readSeq === message.seq - 1) conversation.readSeq = message.seq;
    const thread = this.threads.get(id);
    if (thread) {
      thread.put(message);
      if (thread.loaded && message.seq === thread.syncedTo + 1) thread.syncedTo = message.seq;
      this.events.thread(id, {});
    }
    const shownNow = id === this.openId && thread && thread.loaded && this.#visible();
    if (!mine && beyond && message.seq > conversation.readSeq && !shownNow) conversation.unread += 1;
    this.events.conversations();
    if (thread && thread.loaded && id === this.openId) {
      if (message.seq > thread.syncedTo + 1) {
        this.#sync(id).then(() => this.#afterSync(id)); // a gap: ask history for it
      } else {
        this.#markRead();
      }
    }
  }

  #read(frame) {
    const conversation = this.conversations.get(frame.conversation_id);
    if (!conversation || !Number.isInteger(frame.read_seq)) return;
    const ids = Array.isArray(frame.message_ids) ? frame.message_ids : [];
    const thread = this.threads.get(conversation.id);
    if (frame.by === this.user) {
      // Read here or on another device of this user.
      if (frame.read_seq > conversation.readSeq) {
        conversation.readSeq = frame.read_seq;
        if (conversation.readSeq >= conversation.maxSeq) conversation.unread = 0;
        else this.#refreshSoon();
        this.events.conversations();
      }
      return;
    }
    if (conversation.kind === "direct") {
      conversation.peerReadSeq = Math.max(conversation.peerReadSeq, frame.read_seq);
    } else {
      const group = this.members.get(conversation.id);
      const member = group && group.list.find((m) => m.user_id === frame.by);
      if (member) member.read_seq = Math.max(member.read_seq, frame.read_seq);
    }
    if (thread) {
      for (const id of ids) {
        const message = thread.messages.get(id);
        if (!message || message.status === RECALLED) continue;
        if (conversation.kind === "direct") message.status = READ;
        else message.readers.add(frame.by);
      }
      this.events.thread(conversation.id, {});
    }
    this.events.conversations();
  }

  #recalled(conversationId, messageId, seq) {
    const conversation = this.conversations.get(conversationId);
    if (!conversation) return;
    const thread = this.threads.get(conversationId);
    const held = thread && thread.messages.get(messageId);
    if (held) {
      held.status = RECALLED;
      held.content = "";
      this.events.thread(conversationId, {});
    }
    if (conversation.last && conversation.last.id === messageId) {
      conversation.last.status = RECALLED;
      conversation.last.content = "";
      conversation.last.truncated = false;
    }
    const fromOther = held ? held.from !== this.user : !(conversation.last && conversation.last.from === this.user);
    if (fromOther && conversation.unread > 0 && seq > conversation.readSeq) this.#refreshSoon();
    this.events.conversations();
  }

  #group(frame) {
    const id = frame.conversation_id;
    if (!parseConversationId(id) || !Array.isArray(frame.user_ids)) return;
    const aboutMe = frame.user_ids.includes(this.user);
    const name = String(frame.name || "");
    if (frame.event === "created" || frame.event === "members_added") {
      if (aboutMe && !this.conversations.has(id)) {
        this.#joined(id, name);
        if (frame.by !== this.user) this.events.notice(`${frame.by} added you to the group “${name}”`);
      }
    } else if (aboutMe && (frame.event === "members_removed" || frame.event === "member_left")) {
      const why = frame.event === "member_left" ? `you left “${name}”` : `${frame.by} removed you from “${name}”`;
      this.#gone(id, why);
      return;
    }
    const conversation = this.conversations.get(id);
    if (conversation && name) conversation.name = name;
    if (this.members.has(id) || id === this.openId) this.#loadMembers(id);
    this.events.conversations();
  }

  #joined(id, name) {
    if (!this.conversations.has(id)) this.conversations.set(id, placeholder(id, this.user, name));
    this.conversations.get(id).name = name;
    this.events.conversations();
    this.#refreshSoon();
  }

  #gone(id, why) {
    if (!this.conversations.has(id)) return;
    this.conversations.delete(id);
    this.threads.delete(id);
    this.members.delete(id);
    if (this.openId === id) this.openId = null;
    this.events.gone(id, why);
    this.events.conversations();
  }

  #settle(frame) {
    const head = this.outbox[0];
    if (!head || frame.ack_id !== head.ackId) return null;
    clearTimeout(this.ackTimer);
    this.outbox.shift();
    this.inFlight = null;
    this.events.outbox(this.outbox);
    setTimeout(() => this.#pump(), 0);
    return head;
  }

  #pump() {
    if (!this.connected || this.inFlight || this.outbox.length === 0) return;
    this.inFlight = this.outbox[0];
    this.ws.send(sendFrame(this.inFlight));
    this.ackTimer = setTimeout(() => this.#lose("no acknowledgement from the server"), this.timing.ackTimeoutMs);
  }

  // The server does not know this connection (Redis lost it, or its token expired):
  // a fresh token on it first, so nobody reconnects; twice in vain, a new connection.
  async #signInAgain() {
    this.authAttempts = (this.authAttempts || 0) + 1;
    if (this.authAttempts > 2 || !this.ws) {
      this.#lose("the server asked to sign in again");
      return;
    }
    try {
      this.token = await this.getToken();
      this.ws.send(JSON.stringify({ action: "auth", token: this.token }));
    } catch (err) {
      this.#lose(`could not sign in again: ${err.message}`);
    }
  }

  #lose(reason) {
    this.lostReason = reason;
    if (this.ws) this.ws.close(4000, "client gave up waiting");
  }

  #visible() {
    return typeof document === "undefined" || document.visibilityState !== "hidden";
  }

  // --- REST ------------------------------------------------------------------------

  async #post(path, body, retried = false) {
    const response = await fetch(`${this.restUrl}${path}`, {
      method: "POST",
      headers: { Authorization: `Bearer ${this.token}`, "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    if (response.status === 401 && !retried) {
      this.token = await this.getToken(); // it expired: one more try with a new one
      return this.#post(path, body, true);
    }
    const text = await response.text();
    let payload = null;
    try {
      payload = parseJson(text);
    } catch {
      payload = null;
    }
    if (!response.ok || !payload) {
      throw new RestError(response.status, (payload && payload.error) || response.statusText);
    }
    return payload;
  }

  // The conversation list: every page (`full`, after connecting) or the newest.
  async #refresh(full) {
    const seen = new Map();
    let cursor = null;
    let pages = 0;
    do {
      const body = cursor ? { limit: LIST_PAGE, cursor } : { limit: LIST_PAGE };
      const page = await this.#post("/api/v1/conversations", body);
      for (const entry of page.conversations) seen.set(entry.conversation_id, summary(entry));
      cursor = page.next_cursor;
      pages += 1;
    } while (full && cursor && pages < LIST_PAGES_MAX);
    const complete = full && !cursor;
    for (const [id, fresh] of seen) {
      const held = this.conversations.get(id);
      // A push or a mark-read newer than the list keeps its counters.
      if (held && !held.local && (held.maxSeq > fresh.maxSeq || held.readSeq > fresh.readSeq)) {
        fresh.maxSeq = held.maxSeq;
        fresh.readSeq = held.readSeq;
        fresh.unread = held.unread;
        fresh.last = held.last;
        fresh.lastAt = held.lastAt;
      }
      if (held) fresh.peerReadSeq = Math.max(fresh.peerReadSeq, held.peerReadSeq);
      this.conversations.set(id, fresh);
    }
    if (complete) {
      for (const [id, held] of this.conversations) {
        if (seen.has(id)) continue;
        if (held.local && held.kind === "direct") continue; // opened here, nothing sent yet
        if (held.local && held.kind === "group") continue; // just joined; listed soon
        this.#gone(id, `you are no longer in “${held.name || id}”`);
      }
    }
    this.events.conversations();
  }

  #refreshSoon() {
    if (this.refreshing || !this.token) {
      if (this.refreshing) this.refreshAgain = true;
      return;
    }
    this.refreshing = this.#refresh(false)
      .catch((err) => this.events.notice(`could not load the conversation list: ${err.message}`))
      .finally(() => {
        this.refreshing = null;
        if (this.refreshAgain) {
          this.refreshAgain = false;
          this.#refreshSoon();
        }
      });
  }

  #history(id, bounds) {
    return this.#post("/api/v1/conversations/history", { conversation_id: id, ...bounds });
  }

  // Messages of a history page into the thread; the conversation's positions too.
  #take(thread, page) {
    const conversation = this.conversations.get(thread.id);
    for (const message of page.messages) {
      thread.put(placed(message, thread.id, message.seq));
      thread.lowest = thread.lowest === null ? message.seq : Math.min(thread.lowest, message.seq);
    }
    if (conversation) {
      conversation.maxSeq = Math.max(conversation.maxSeq, page.max_seq);
      if (page.peer_read_seq !== null && page.peer_read_seq !== undefined) {
        conversation.peerReadSeq = Math.max(conversation.peerReadSeq, page.peer_read_seq);
      }
    }
    const newest = page.messages.reduce((seq, m) => Math.max(seq, m.seq), 0);
    return newest;
  }

  #queued(thread, work) {
    const run = thread.queue.then(work).catch((err) => this.#historyFailed(thread.id, err));
    thread.queue = run;
    return run;
  }

  #historyFailed(id, err) {
    if (err instanceof RestError && (err.status === 403 || err.status === 404)) {
      this.#gone(id, "this conversation is not yours (any more)");
    } else {
      this.events.notice(`could not load messages: ${err.message}`);
    }
  }

  // The thread up to date: its newest page the first time, then whatever came after
  // what it is synced to. `recheck` (after a reconnect, or opening it again): also the
  // newest page again, for recalls and receipts of messages already held that this
  // page may have missed meanwhile (recalls happen within minutes of sending).
  #sync(id, { recheck = false } = {}) {
    const thread = this.threads.get(id);
    if (!thread) return Promise.resolve();
    return this.#queued(thread, async () => {
      if (thread.loaded && recheck) {
        this.#take(thread, await this.#history(id, { limit: NEWEST_PAGE }));
      }
      if (!thread.loaded) {
        const page = await this.#history(id, { limit: NEWEST_PAGE });
        thread.syncedTo = Math.max(thread.syncedTo, this.#take(thread, page));
        thread.hasOlder = page.has_more;
        thread.loaded = true;
      } else {
        for (let pages = 0; ; pages += 1) {
          if (pages === FILL_PAGES_MAX) {
            thread.clear(); // too far behind: start again from the newest page
            const page = await this.#history(id, { limit: NEWEST_PAGE });
            thread.syncedTo = this.#take(thread, page);
            thread.hasOlder = page.has_more;
            thread.loaded = true;
            break;
          }
          const page = await this.#history(id, { after_seq: thread.syncedTo, limit: FILL_PAGE });
          thread.syncedTo = Math.max(thread.syncedTo, this.#take(thread, page));
          if (!page.has_more) break;
        }
      }
      this.events.thread(id, {});
      this.events.conversations();
    });
  }

  // Mark read what is shown; a group's members (their read positions) when not loaded
  // yet or when they may have changed unseen (`reload`: after a reconnect).
  async #afterSync(id, { reload = false } = {}) {
    if (id !== this.openId) return;
    await this.#markRead();
    const conversation = this.conversations.get(id);
    if (conversation && conversation.kind === "group" && (reload || !this.members.has(id))) {
      await this.#loadMembers(id);
    }
  }

  async #loadMembers(id) {
    const conversation = this.conversations.get(id);
    if (!conversation || conversation.kind !== "group" || !this.token) return;
    try {
      const found = await this.#post("/api/v1/groups/members", { group_id: jsonId(conversation.groupId) });
      this.members.set(id, { owner: found.owner, list: found.members });
      this.events.thread(id, {});
    } catch (err) {
      if (err instanceof RestError && (err.status === 403 || err.status === 404)) {
        this.#gone(id, `you are no longer in “${conversation.name || id}”`);
      } else {
        this.events.notice(`could not load the group's members: ${err.message}`);
      }
    }
  }

  // The open conversation read up to the newest message shown (one request at a time).
  #markRead() {
    if (this.marking) {
      this.markAgain = true;
      return this.marking;
    }
    const id = this.openId;
    const conversation = this.conversations.get(id);
    const thread = this.threads.get(id);
    if (!conversation || !thread || !thread.loaded || !this.token || !this.#visible()) return null;
    const seq = thread.newestSeq();
    if (seq <= conversation.readSeq && conversation.unread === 0) return null;
    const before = { readSeq: conversation.readSeq, unread: conversation.unread };
    conversation.readSeq = Math.max(conversation.readSeq, seq);
    if (seq >= conversation.maxSeq) conversation.unread = 0;
    this.events.conversations();
    this.marking = this.#post("/api/v1/conversations/mark-read", { conversation_id: id, seq })
      .then((done) => {
        const now = this.conversations.get(id);
        if (now && now.maxSeq <= seq) now.unread = done.unread_count;
        if (now) now.readSeq = Math.max(now.readSeq, done.read_seq);
      })
      .catch((err) => {
        const now = this.conversations.get(id);
        if (now && now.readSeq === seq) Object.assign(now, before); // try again at the next sweep
        if (!(err instanceof RestError && err.status === 403)) {
          this.events.notice(`could not mark messages read yet: ${err.message}`);
        }
      })
      .finally(() => {
        this.marking = null;
        this.events.conversations();
        if (this.markAgain) {
          this.markAgain = false;
          this.#markRead();
        }
      });
    return this.marking;
  }

  markShownRead() {
    return this.#markRead();
  }

  // After connecting (`full`) and after each pong: the list, then the open thread.
  async #sweep(full) {
    await this.#refresh(full);
    const id = this.openId;
    const thread = id && this.threads.get(id);
    const conversation = id && this.conversations.get(id);
    if (thread && conversation && (!thread.loaded || full || conversation.maxSeq > thread.syncedTo)) {
      await this.#sync(id, { recheck: full });
      await this.#afterSync(id, { reload: full });
    } else if (thread) {
      await this.#markRead();
    }
    this.sweeps += 1;
    this.events.synced();
  }

  // --- the connection loop ---------------------------------------------------------

  async #run() {
    while (!this.closed) {
      let reason = "the server closed the connection";
      try {
        await this.#connection();
      } catch (err) {
        reason = err.message || String(err);
      }
      this.connected = false;
      this.ws = null;
      this.inFlight = null;
      clearTimeout(this.ackTimer);
      if (this.closed) break;
      const delay = this.backoff.next();
      this.events.status(Status.RECONNECTING, `${reason}; retrying in ${(delay / 1000).toFixed(1)} s`);
      await new Promise((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, delay);
      });
    }
    this.events.status(Status.CLOSED, "");
  }

  async #connection() {
    this.token = await this.getToken();
    this.events.status(this.backoff.attempt ? Status.RECONNECTING : Status.CONNECTING, "");
    const ws = await this.#open(`${this.wsUrl}?token=${encodeURIComponent(this.token)}`);
    this.ws = ws;
    this.lostReason = null;
    const waiting = [];
    let live = false;
    const closedEvent = new Promise((resolve) => {
      ws.onclose = resolve;
    });
    ws.onmessage = (event) => (live ? this.handleFrame(event.data) : waiting.push(event.data));
    try {
      await this.#sweep(true);
    } catch (err) {
      ws.close(1000);
      throw err;
    }
    if (this.closed) return;
    for (const raw of waiting) this.handleFrame(raw);
    live = true;
    this.connected = true;
    this.connections += 1;
    this.backoff.reset();
    this.events.status(Status.CONNECTED, "");
    this.#pump();
    const pinger = setInterval(() => {
      ws.send('{"action":"ping"}');
      this.pongTimer = setTimeout(() => this.#lose("no answer to ping"), this.timing.pongTimeoutMs);
    }, this.timing.pingIntervalMs);
    try {
      await closedEvent;
    } finally {
      clearInterval(pinger);
      clearTimeout(this.pongTimer);
    }
    throw new Error(this.lostReason || "connection lost");
  }

  #open(url) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      const timer = setTimeout(() => {
        ws.close();
        reject(new Error("server unreachable (timed out)"));
      }, this.timing.openTimeoutMs);
      ws.onopen = () => {
        clearTimeout(timer);
        resolve(ws);
      };
      // A refused handshake (a bad token: HTTP 401) looks the same as no server.
      ws.onclose = () => {
        clearTimeout(timer);
        reject(new Error("server unreachable or the token was refused"));
      };
    });
  }
}
