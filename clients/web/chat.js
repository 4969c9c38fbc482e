// The chat protocol in the browser, apart from the page (app.js draws it).
//
// Each connection: WebSocket (token in the query string: browsers cannot set headers)
// -> every unread page over REST, shown oldest first, then marked read -> realtime.
// Frames that arrive while catching up wait and are handled after it; every message
// is shown once (a pushed message is also unread until it is marked read). Sends go
// one at a time, each waiting for its ack or error, and a send in flight when the
// connection drops is sent again after the reconnect with the same ack_id (the server
// answers a duplicate ack, never a second message). A ping well inside API Gateway's
// 10-minute idle timeout keeps the connection, and each pong is followed by a look at
// the unread list (the server keeps a message unread when it could not push it). Any
// drop is followed by a reconnect after a jittered exponential backoff.

export const Status = Object.freeze({
  CONNECTING: "connecting…",
  CONNECTED: "connected",
  RECONNECTING: "reconnecting…",
  CLOSED: "closed",
});

const MARK_READ_BATCH = 1000;
const PAGE_SIZE = 200;
const USER_ID_MAX = 2n ** 63n - 1n;
const ID_KEYS = new Set(["from", "to", "by", "user_id"]);

// JSON whose user ids stay exact strings: ids go up to 2^63-1, JavaScript numbers
// hold integers exactly only up to 2^53.
export function parseJson(text) {
  return JSON.parse(text, (key, value, context) => {
    if (ID_KEYS.has(key) && typeof value === "number") {
      return context && typeof context.source === "string" ? context.source : String(value);
    }
    return value;
  });
}

export function isUserId(text) {
  return /^[0-9]{1,19}$/.test(text) && BigInt(text) >= 1n && BigInt(text) <= USER_ID_MAX;
}

export function newAckId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function sendFrame(outgoing) {
  // Written by hand so that `to` is the exact decimal the user typed (see parseJson).
  const content = JSON.stringify(outgoing.content);
  const ackId = JSON.stringify(outgoing.ackId);
  return `{"action":"send","to":${outgoing.to},"content":${content},"ack_id":${ackId}}`;
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

// Ids of messages already shown; the oldest are forgotten past `capacity`.
export class SeenIds {
  constructor(capacity = 50000) {
    this.capacity = capacity;
    this.ids = new Set();
  }

  has(id) {
    return this.ids.has(id);
  }

  add(id) {
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    if (this.ids.size > this.capacity) this.ids.delete(this.ids.values().next().value);
    return true;
  }
}

export class RestError extends Error {
  constructor(status, text) {
    super(`HTTP ${status}: ${text}`);
    this.status = status;
  }
}

export class ChatClient {
  // events: status(status, detail), message(msg, unread), acked(outgoing, ackFrame),
  //         refused(outgoing, code, text), notice(text)
  constructor({ wsUrl, restUrl, getToken, events, seen = new SeenIds(), timing = {} }) {
    this.wsUrl = wsUrl;
    this.restUrl = restUrl.replace(/\/+$/, "");
    this.getToken = getToken;
    this.events = events;
    this.seen = seen;
    this.timing = {
      pingIntervalMs: 5 * 60 * 1000,
      pongTimeoutMs: 30000,
      ackTimeoutMs: 35000,
      openTimeoutMs: 10000,
      ...timing,
    };
    this.backoff = new Backoff(this.timing.backoffBaseMs, this.timing.backoffCapMs);
    this.connected = false;
    this.connections = 0;
    this.closed = false;
    this.outbox = [];
    this.inFlight = null;
    this.toMark = [];
    this.token = null;
    this.ws = null;
    this.wake = null;
  }

  start() {
    this.done = this.#run();
    return this.done;
  }

  close() {
    this.closed = true;
    if (this.ws) this.ws.close(1000);
    if (this.wake) this.wake();
    return this.flushMarks({ keepalive: true });
  }

  send(to, content) {
    if (!this.connected) throw new Error("not connected");
    const outgoing = { to, content, ackId: newAckId() };
    this.outbox.push(outgoing);
    this.#pump();
    return outgoing;
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
      if (!message || typeof message.id !== "string") return;
      if (this.seen.add(message.id)) this.events.message(message, false);
      this.toMark.push(message.id);
      setTimeout(() => this.flushMarks(), 0);
    },
    ack: (frame) => {
      const head = this.#settle(frame);
      if (head) this.events.acked(head, frame);
    },
    error: (frame) => {
      const head = this.#settle(frame);
      const code = String(frame.code || "error");
      if (head) this.events.refused(head, code, String(frame.error || ""));
      else this.events.notice(`server error (${code}): ${frame.error || ""}`);
    },
    pong: () => {
      clearTimeout(this.pongTimer);
      this.#catchUp().catch((err) => this.events.notice(`could not check unread: ${err.message}`));
    },
  };

  #settle(frame) {
    const head = this.outbox[0];
    if (!head || frame.ack_id !== head.ackId) return null;
    clearTimeout(this.ackTimer);
    this.outbox.shift();
    this.inFlight = null;
    setTimeout(() => this.#pump(), 0);
    return head;
  }

  #pump() {
    if (!this.connected || this.inFlight || this.outbox.length === 0) return;
    this.inFlight = this.outbox[0];
    this.ws.send(sendFrame(this.inFlight));
    this.ackTimer = setTimeout(
      () => this.#lose("no acknowledgement from the server"),
      this.timing.ackTimeoutMs,
    );
  }

  #lose(reason) {
    this.lostReason = reason;
    if (this.ws) this.ws.close(4000, "client gave up waiting");
  }

  // --- REST ------------------------------------------------------------------------

  async #post(path, body, options = {}) {
    const response = await fetch(`${this.restUrl}${path}`, {
      method: "POST",
      headers: { Authorization: `Bearer ${this.token}`, "Content-Type": "application/json" },
      body: JSON.stringify(body),
      ...options,
    });
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

  async flushMarks(options = {}) {
    const ids = [...new Set(this.toMark)];
    if (ids.length === 0 || !this.token) return true;
    try {
      for (let i = 0; i < ids.length; i += MARK_READ_BATCH) {
        const batch = ids.slice(i, i + MARK_READ_BATCH);
        await this.#post("/api/v1/messages/mark-read", { message_ids: batch }, options);
      }
    } catch (err) {
      this.events.notice(`could not mark messages read yet: ${err.message}`);
      return false;
    }
    const marked = new Set(ids);
    this.toMark = this.toMark.filter((id) => !marked.has(id));
    return true;
  }

  async #catchUp() {
    await this.flushMarks();
    let cursor = null;
    let shown = 0;
    do {
      const body = cursor ? { limit: PAGE_SIZE, cursor } : { limit: PAGE_SIZE };
      const page = await this.#post("/api/v1/messages/unread", body);
      for (const message of page.messages) {
        if (this.seen.add(message.id)) {
          this.events.message(message, true);
          shown += 1;
        }
        this.toMark.push(message.id);
      }
      await this.flushMarks();
      cursor = page.next_cursor;
    } while (cursor);
    if (shown) this.events.notice(`${shown} unread message${shown === 1 ? "" : "s"} above`);
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
      await this.#catchUp();
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
