// The page: sign in as a user id, then chat. Protocol work is chat.js's.
//
// Tokens come from the dev server's local-only /_dev/token (`make dev` serves this
// page; a deployed app has no such endpoint). The transcript of this tab is kept in
// sessionStorage so a reload shows it again, and the ids in it are the ones already
// seen: a message is never drawn twice, whether it comes back as unread or pushed.

import { ChatClient, SeenIds, Status, isUserId } from "./chat.js";

const KEEP_ENTRIES = 500;
const $ = (id) => document.getElementById(id);
const stored = (key, fallback) => JSON.parse(sessionStorage.getItem(key) || "null") ?? fallback;
const store = (key, value) => sessionStorage.setItem(key, JSON.stringify(value));

let client = null;
let user = null;
let entries = [];
const pending = new Map(); // ack_id -> <li>

function time(iso) {
  const when = new Date(iso);
  const sameDay = when.toDateString() === new Date().toDateString();
  return sameDay ? when.toLocaleTimeString() : when.toLocaleString();
}

function line(cls, text, attributes = {}) {
  const item = document.createElement("li");
  item.className = cls;
  item.textContent = text; // never innerHTML: message content is someone else's text
  for (const [name, value] of Object.entries(attributes)) item.dataset[name] = value;
  $("transcript").append(item);
  while ($("transcript").childElementCount > KEEP_ENTRIES * 2) $("transcript").firstChild.remove();
  item.scrollIntoView({ block: "end" });
  return item;
}

const notice = (text) => line("notice", `— ${text}`);
const error = (text) => line("error", `! ${text}`);

function describe(entry) {
  if (entry.kind === "in") {
    const to = entry.to === user ? "you" : entry.to;
    return `[${time(entry.created_at)}] ${entry.from} → ${to}: ${entry.content}`;
  }
  return `[${time(entry.created_at)}] you → ${entry.to}: ${entry.content} ✓`;
}

function draw(entry, item = null) {
  if (!item) return line(entry.kind, describe(entry), { id: entry.id });
  item.className = entry.kind; // a pending line, settled where it stands
  item.textContent = describe(entry);
  item.dataset.id = entry.id;
  return item;
}

function remember(entry) {
  entries.push(entry);
  entries = entries.slice(-KEEP_ENTRIES);
  store("im.entries", entries);
}

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
  message(message, unread) {
    const entry = { kind: "in", ...message, unread };
    draw(entry);
    remember(entry);
  },
  acked(outgoing, ack) {
    const item = pending.get(outgoing.ackId);
    pending.delete(outgoing.ackId);
    const entry = {
      kind: "out",
      id: ack.message_id,
      to: outgoing.to,
      content: outgoing.content,
      created_at: ack.created_at || new Date().toISOString(), // the server's time
    };
    draw(entry, item);
    remember(entry);
  },
  refused(outgoing, code, text) {
    const item = pending.get(outgoing.ackId);
    pending.delete(outgoing.ackId);
    if (item) {
      item.className = "out refused";
      item.textContent = `you → ${outgoing.to}: ${outgoing.content} ✗ not sent`;
    }
    const box = $("text");
    const where = box.value ? "it is in the line above" : "your text is back in the input";
    if (!box.value) box.value = outgoing.content;
    error(`refused (${code}): ${text}; ${where}`);
  },
  notice,
};

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
  $("peer").value = stored("im.peer", "");
  entries = stored("im.entries", []);
  const seen = new SeenIds();
  for (const entry of entries) {
    draw(entry);
    if (entry.id) seen.add(entry.id);
  }
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
  const timing = stored("im.timing", {}); // tests shorten the timers
  client = new ChatClient({
    wsUrl: config.ws_url,
    restUrl: config.rest_url,
    getToken,
    events,
    seen,
    timing,
  });
  client.start();
  $("text").focus();
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

$("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  const to = $("peer").value.trim();
  const text = $("text").value;
  if (!text.trim()) return;
  if (!isUserId(to)) {
    error("choose who to talk to: a user id in the “to” box");
    return;
  }
  store("im.peer", to);
  let outgoing;
  try {
    outgoing = client.send(to, text);
  } catch {
    error(`not sent: ${$("status").dataset.status} (your text is still in the input)`);
    return;
  }
  $("text").value = "";
  pending.set(outgoing.ackId, line("out pending", `you → ${to}: ${text} …`));
});

$("logout").addEventListener("click", async () => {
  if (client) await client.close();
  sessionStorage.clear();
  location.reload();
});

window.addEventListener("pagehide", () => {
  if (client) client.close();
});

user = stored("im.user", null);
if (user) startChat();
