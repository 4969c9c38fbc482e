// The page: sign in as a user id, then the conversation list beside the open
// conversation. Protocol work and state are chat.js's; this file draws them.
//
// Tokens come from the dev server's local-only /_dev/token (`make dev` serves this
// page; a deployed app has no such endpoint). Nothing of the transcript is kept in the
// browser: after a reload the list and the open conversation come from the server
// (history). sessionStorage keeps only who is signed in, which conversation is open
// and the sends not yet acknowledged (sent again, with the same ack_id, after a
// reload: the server stores each once).
//
// Every piece of user text (messages, group names) is set as textContent, never as
// markup.

import { ChatClient, RECALLED, Status, directId, isUserId } from "./chat.js";

const KEEP_NOTICES = 50;
const RECALL_WINDOW_MS = 120 * 1000; // the server's default; it has the last word
const $ = (id) => document.getElementById(id);
const stored = (key, fallback) => JSON.parse(sessionStorage.getItem(key) || "null") ?? fallback;
const store = (key, value) => sessionStorage.setItem(key, JSON.stringify(value));

let client = null;
let user = null;
let timing = {};
const failed = new Map(); // conversation id -> sends the server refused, shown at the end
const readers = new Map(); // message id -> "read by: …" once asked
let recallTimer = null;

// --- small DOM helpers (text only) -----------------------------------------------

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== null && value !== undefined && value !== false) node.setAttribute(name, String(value));
  }
  node.append(...children); // strings become text nodes
  return node;
}

// Make `container`'s <li> children match `items`, reusing the ones with the same key
// and rebuilding only those whose signature changed.
function reconcile(container, items, keyOf, describe) {
  const old = new Map([...container.children].map((li) => [li.dataset.key, li]));
  let cursor = container.firstElementChild;
  for (const item of items) {
    const key = keyOf(item);
    const { sig, build } = describe(item);
    let li = old.get(key);
    old.delete(key);
    if (!li) {
      li = document.createElement("li");
      li.dataset.key = key;
    }
    if (li.dataset.sig !== sig) {
      li.replaceChildren();
      build(li);
      li.dataset.sig = sig;
    }
    if (li === cursor) cursor = cursor.nextElementSibling;
    else container.insertBefore(li, cursor);
  }
  for (const li of old.values()) li.remove();
}

function time(iso) {
  if (!iso) return "…";
  const when = new Date(iso);
  const sameDay = when.toDateString() === new Date().toDateString();
  return sameDay ? when.toLocaleTimeString() : when.toLocaleString();
}

function log(cls, text) {
  const box = $("log");
  box.append(el("li", { class: cls }, text));
  while (box.childElementCount > KEEP_NOTICES) box.firstElementChild.remove();
  box.lastElementChild.scrollIntoView({ block: "nearest" });
}

const notice = (text) => log("notice", `— ${text}`);
const problem = (text) => log("error", `! ${text}`);

// --- the conversation list ---------------------------------------------------------

const who = (from) => (from === user ? "you" : from);

function title(conversation) {
  if (conversation.kind === "group") return conversation.name || `group ${conversation.groupId}`;
  return conversation.peer === user ? "notes to self" : `user ${conversation.peer}`;
}

function previewText(conversation) {
  const last = conversation.last;
  if (!last) return "no messages yet";
  if (last.status === RECALLED) return `${who(last.from)}: message recalled`;
  return `${who(last.from)}: ${last.content}${last.truncated ? "…" : ""}`;
}

function drawList() {
  const list = $("conversations");
  reconcile(list, client.listed(), (c) => c.id, (c) => {
    const current = c.id === client.openId;
    const sig = JSON.stringify([title(c), previewText(c), c.unread, current, c.lastAt]);
    return {
      sig,
      build(li) {
        li.dataset.conversation = c.id;
        const badge = c.unread > 0
          ? el("span", { class: "badge", role: "img", "aria-label": `${c.unread} unread` }, String(c.unread))
          : "";
        const button = el(
          "button",
          { type: "button", class: "conversation", "aria-current": current ? "true" : null },
          el("span", { class: "name" }, title(c)),
          badge,
          el("span", { class: "preview" }, previewText(c)),
        );
        button.addEventListener("click", () => openConversation(c.id));
        li.append(button);
      },
    };
  });
  $("no-conversations").hidden = list.childElementCount > 0;
}

// --- the open conversation ---------------------------------------------------------

function recallable(message) {
  const windowMs = timing.recallWindowMs ?? RECALL_WINDOW_MS;
  return Date.parse(message.createdAt) + windowMs - Date.now();
}

function receipt(message, conversation) {
  if (conversation.kind === "direct") {
    if (conversation.peer === user) return null; // a note to self
    const read = client.readByPeer(message);
    return { text: read ? "✓✓" : "✓", label: read ? "read" : "stored", state: read ? "read" : "sent" };
  }
  const count = client.readCount(message);
  if (!count) return { text: "✓", label: "stored", state: "sent" };
  return { text: `read by ${count.read}`, label: `read by ${count.read} of ${count.recipients}`, state: "count" };
}

function describeMessage(message, conversation) {
  const mine = message.from === user;
  const recalled = message.status === RECALLED;
  const mark = mine && !recalled ? receipt(message, conversation) : null;
  const canRecall = mine && !recalled && recallable(message) > 0;
  const asked = readers.get(message.id) || "";
  const sig = JSON.stringify([message.seq, message.status, message.content, mark, canRecall, asked]);
  return {
    sig,
    build(li) {
      li.className = `${mine ? "out" : "in"}${recalled ? " recalled" : ""}`;
      li.dataset.id = message.id;
      li.dataset.seq = String(message.seq);
      li.append(
        el("span", { class: "meta" }, `[${time(message.createdAt)}] ${who(message.from)}:`),
        " ",
        el("span", { class: "content" }, recalled ? "message recalled" : message.content),
      );
      if (mark && mark.state === "count") {
        const button = el("button", { type: "button", class: "receipt read-by", title: mark.label }, mark.text);
        button.addEventListener("click", () => showReaders(message.id));
        li.append(" ", button);
      } else if (mark) {
        li.append(" ", el("span", { class: "receipt", role: "img", "aria-label": mark.label, "data-receipt": mark.state }, mark.text));
      }
      if (asked) li.append(" ", el("span", { class: "readers" }, asked));
      if (canRecall) {
        const button = el("button", { type: "button", class: "recall", "aria-label": "Recall this message" }, "Recall");
        button.addEventListener("click", () => recall(message.id, button));
        li.append(" ", button);
      }
    },
  };
}

function describeOutgoing(outgoing, refused) {
  const sig = JSON.stringify([outgoing.content, refused]);
  return {
    sig,
    build(li) {
      li.className = refused ? "out refused" : "out pending";
      li.append(
        el("span", { class: "meta" }, `[${refused ? "not sent" : "sending"}] you:`),
        " ",
        el("span", { class: "content" }, outgoing.content),
        " ",
        el("span", { class: "receipt", role: "img", "aria-label": refused ? "not sent" : "sending" }, refused ? "✗" : "…"),
      );
    },
  };
}

function drawThread(how = {}) {
  const id = client.openId;
  const conversation = id && client.conversations.get(id);
  const box = $("transcript");
  $("thread").hidden = !conversation;
  $("no-thread").hidden = Boolean(conversation);
  if (!conversation) {
    box.replaceChildren();
    return;
  }
  const thread = client.threads.get(id);
  $("thread-title").textContent = title(conversation);
  const group = client.members.get(id);
  let info = "";
  if (conversation.kind === "group") {
    info = group ? `${group.list.length} members · owner ${who(group.owner)}` : "group";
  } else if (conversation.peer !== user) {
    info = "direct messages";
  }
  $("thread-info").textContent = info;
  $("leave").hidden = conversation.kind !== "group";
  $("older").hidden = !(thread && thread.loaded && thread.hasOlder);
  $("thread-state").textContent = thread && thread.loaded ? (thread.messages.size ? "" : "no messages yet") : "loading…";
  const fromBottom = box.scrollHeight - box.scrollTop;
  const atBottom = fromBottom - box.clientHeight < 40;
  const items = [
    ...(thread ? thread.ordered() : []).map((m) => ({ key: `m:${m.id}`, d: () => describeMessage(m, conversation) })),
    ...client.pendingIn(id).map((p) => ({ key: `p:${p.ackId}`, d: () => describeOutgoing(p, false) })),
    ...(failed.get(id) || []).map((p) => ({ key: `f:${p.ackId}`, d: () => describeOutgoing(p, true) })),
  ];
  reconcile(box, items, (item) => item.key, (item) => item.d());
  if (how.older) box.scrollTop = box.scrollHeight - fromBottom; // keep what was on screen
  else if (atBottom || how.bottom) box.scrollTop = box.scrollHeight;
  scheduleRecallExpiry(thread);
}

// Redraw when the first Recall button shown runs out of time.
function scheduleRecallExpiry(thread) {
  clearTimeout(recallTimer);
  if (!thread) return;
  let soonest = Infinity;
  for (const message of thread.messages.values()) {
    if (message.from !== user || message.status === RECALLED) continue;
    const left = recallable(message);
    if (left > 0) soonest = Math.min(soonest, left);
  }
  if (soonest < Infinity) recallTimer = setTimeout(() => drawThread(), soonest + 50);
}

async function recall(messageId, button) {
  button.disabled = true;
  try {
    await client.recall(messageId);
  } catch (err) {
    button.disabled = false;
    problem(`could not recall the message: ${err.message}`);
  }
}

async function showReaders(messageId) {
  try {
    const found = await client.receipts(messageId);
    const names = found.read_by.map(who).join(", ");
    readers.set(messageId, `(${found.read_count} of ${found.recipients}${names ? `: ${names}` : ""})`);
    drawThread();
  } catch (err) {
    problem(`could not see who read it: ${err.message}`);
  }
}

function openConversation(id) {
  try {
    client.open(id);
  } catch (err) {
    problem(err.message);
    return;
  }
  store("im.open", id);
  drawList();
  drawThread({ bottom: true });
  $("text").focus();
}

// --- events from the protocol client -----------------------------------------------

function setStatus(status, detail) {
  $("status").textContent = `user ${user} · ${status}${detail ? ` (${detail})` : ""}`;
  $("status").dataset.status = status;
}

const events = {
  status(status, detail) {
    const previous = $("status").dataset.status;
    if (status === Status.RECONNECTING && previous !== Status.RECONNECTING) {
      notice(`reconnecting… (${detail})`);
    } else if (status === Status.CONNECTED && client.connections > 1) {
      notice("connected again");
    }
    setStatus(status, detail);
  },
  conversations: () => drawList(),
  thread(id, how) {
    if (id === client.openId) drawThread(how);
  },
  acked() {},
  refused(outgoing, code, text) {
    const list = failed.get(outgoing.conversationId) || [];
    list.push(outgoing);
    failed.set(outgoing.conversationId, list);
    const box = $("text");
    const where = box.value ? "it is in the conversation" : "your text is back in the input";
    if (!box.value && outgoing.conversationId === client.openId) box.value = outgoing.content;
    problem(`refused (${code}): ${text}; ${where}`);
  },
  outbox: (items) => store("im.outbox", items),
  gone(id, why) {
    failed.delete(id);
    if (stored("im.open", null) === id) sessionStorage.removeItem("im.open");
    notice(why);
    drawThread();
  },
  notice,
  synced() {
    document.body.dataset.sweeps = String(client.sweeps);
  },
};

// --- signing in and the forms ------------------------------------------------------

async function getToken() {
  let response;
  try {
    response = await fetch("/_dev/token", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ user_id: user }),
    });
  } catch {
    throw new Error("dev server unreachable");
  }
  if (!response.ok) throw new Error(`no token (HTTP ${response.status})`);
  return (await response.json()).token;
}

async function startChat() {
  $("login").hidden = true;
  $("chat").hidden = false;
  setStatus(Status.CONNECTING, "");
  let config;
  while (!config) {
    try {
      const response = await fetch("/_dev/config");
      if (response.ok) config = await response.json();
    } catch {
      // the dev server is down: try again below
    }
    if (!config) await new Promise((resolve) => setTimeout(resolve, 2000));
  }
  timing = stored("im.timing", {}); // tests shorten the timers
  client = new ChatClient({
    wsUrl: config.ws_url,
    restUrl: config.rest_url,
    user,
    getToken,
    events,
    outbox: stored("im.outbox", []),
    timing,
  });
  const open = stored("im.open", null);
  if (open) openConversation(open);
  else drawThread();
  drawList();
  client.start();
}

function parseIds(text) {
  return text.split(/[\s,]+/).filter(Boolean);
}

$("login").addEventListener("submit", (event) => {
  event.preventDefault();
  const value = $("user-id").value.trim();
  if (!isUserId(value)) {
    $("login-error").textContent = "a user id is a whole number from 1 to 2^63-1";
    return;
  }
  user = value;
  store("im.user", user);
  startChat();
});

$("new-chat").addEventListener("submit", (event) => {
  event.preventDefault();
  const peer = $("peer").value.trim();
  if (!isUserId(peer)) {
    $("new-chat-error").textContent = "a user id is a whole number from 1 to 2^63-1";
    return;
  }
  $("new-chat-error").textContent = "";
  $("peer").value = "";
  openConversation(directId(user, peer));
});

$("new-group").addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = $("group-name").value.trim();
  const members = parseIds($("group-members").value);
  const bad = members.find((id) => !isUserId(id));
  if (!name || name.length > 100) {
    $("group-error").textContent = "a group name is 1 to 100 characters";
    return;
  }
  if (bad !== undefined) {
    $("group-error").textContent = "member ids are whole numbers from 1 to 2^63-1, separated by spaces or commas";
    return;
  }
  $("group-error").textContent = "";
  const button = event.submitter || $("new-group").querySelector("button");
  button.disabled = true;
  try {
    const group = await client.createGroup(name, members);
    $("group-name").value = "";
    $("group-members").value = "";
    openConversation(group.conversation_id);
  } catch (err) {
    $("group-error").textContent = `could not create the group: ${err.message}`;
  } finally {
    button.disabled = false;
  }
});

$("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("text").value;
  if (!text.trim()) return;
  try {
    client.send(text);
  } catch (err) {
    const why = client.connected ? err.message : $("status").dataset.status;
    problem(`not sent: ${why} (your text is still in the input)`);
    return;
  }
  $("text").value = "";
  drawThread({ bottom: true });
});

$("older").addEventListener("click", async () => {
  $("older").disabled = true;
  try {
    await client.loadOlder();
  } finally {
    $("older").disabled = false;
  }
});

$("leave").addEventListener("click", async () => {
  const id = client.openId;
  $("leave").disabled = true;
  try {
    await client.leaveGroup(id);
  } catch (err) {
    problem(`could not leave the group: ${err.message}`);
  } finally {
    $("leave").disabled = false;
  }
});

$("logout").addEventListener("click", () => {
  if (client) client.close();
  sessionStorage.clear();
  location.reload();
});

document.addEventListener("visibilitychange", () => {
  if (client && document.visibilityState === "visible") client.markShownRead();
});

window.addEventListener("pagehide", () => {
  if (client) client.close();
});

user = stored("im.user", null);
if (user) startChat();
