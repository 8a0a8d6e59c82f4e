// The live presence page of the venta-ws main example. Plain JavaScript, no build step.
//
// Each "Sign in" opens one WebSocket to /user or /vendor with the token in
// Sec-WebSocket-Protocol ("venta-ws", "bearer.<token>"), asks presence.online every second,
// and follows the README's reconnect policy when the server closes it. Over Socket.IO (the form's
// "Over" choice, or ?transport=socket.io) the same session is a socket.io-client socket in the
// gateway's namespace at /socket.io/, the token in its CONNECT `auth`, behind a small adapter
// that looks like a WebSocket to the rest of the page.
//
// The server counters (open sockets, messages per second, refusals by close code) come from
// GET /metrics on this origin, every 2 s; the panel stays hidden where /metrics answers 404.
"use strict";

(() => {
  const DEV_MODE = document.body.dataset.devMode === "on";
  const POLL_MS = 1000;
  const BASE_DELAY_MS = 500;
  const MAX_DELAY_MS = 30000;
  const STABLE_MS = 10000; // open this long, and the backoff starts over
  const LOG_LINES = 12;
  const SUBPROTOCOL = "venta-ws";

  const form = document.getElementById("signin-form");
  const signinError = document.getElementById("signin-error");
  const sessionList = document.getElementById("session-list");
  const template = document.getElementById("session-template");
  const sessions = new Set();

  for (const el of document.querySelectorAll(".origin")) el.textContent = location.origin;
  if (new URLSearchParams(location.search).get("transport") === "socket.io") form.elements.transport.value = "socket.io";

  // A socket.io-client socket with the WebSocket surface the page uses: readyState, send(text),
  // close(), and open / message / close events. An envelope with an id is emitted with an ack,
  // and the ack comes back as the envelope {event, data, id}; every event the server emits comes
  // back as {event, data}. A refused CONNECT (connect_error, data.code) and the server's
  // `closing` event carry the close code a WebSocket would have seen.
  class SocketIoConnection extends EventTarget {
    constructor(path, token) {
      super();
      this.readyState = WebSocket.CONNECTING;
      this.closeCode = null;
      this.closeReason = "";
      this.socket = window.io(`${location.origin}${path}`, {
        path: "/socket.io/",
        auth: { token },
        reconnection: false, // the page's own policy reconnects
        forceNew: true, // one Engine.IO session per page session, as a WebSocket is one connection
      });
      this.socket.on("connect", () => {
        this.readyState = WebSocket.OPEN;
        this.dispatchEvent(new Event("open"));
      });
      this.socket.on("connect_error", (error) => {
        const code = error && error.data && typeof error.data.code === "number" ? error.data.code : 1006;
        this.finish(code, (error && error.data && error.data.reason) || (error && error.message) || "");
      });
      this.socket.on("closing", (data) => {
        if (data && typeof data.code === "number") { this.closeCode = data.code; this.closeReason = data.reason || ""; }
      });
      this.socket.on("disconnect", (reason) => this.finish(this.closeCode ?? (reason === "io client disconnect" ? 1000 : 1006), this.closeReason || reason));
      this.socket.onAny((event, data) => this.deliver({ event, data }));
    }

    get engine() {
      return this.socket.io.engine;
    }

    get protocol() {
      const engine = this.engine;
      return `socket.io over ${engine && engine.transport ? engine.transport.name : "?"}`;
    }

    deliver(message) {
      this.dispatchEvent(new MessageEvent("message", { data: JSON.stringify(message) }));
    }

    finish(code, reason) {
      if (this.readyState === WebSocket.CLOSED) return;
      this.readyState = WebSocket.CLOSED;
      this.socket.off();
      this.socket.disconnect();
      const event = new Event("close");
      Object.assign(event, { code, reason });
      this.dispatchEvent(event);
    }

    send(text) {
      let message;
      try {
        message = JSON.parse(text);
      } catch {
        message = null;
      }
      if (!message || typeof message.event !== "string") return this.socket.emit("message", text);
      const args = message.data === undefined ? [] : [message.data];
      if (message.id === undefined) return this.socket.emit(message.event, ...args);
      this.socket.emit(message.event, ...args, (data) => this.deliver({ event: message.event, data, id: message.id }));
    }

    close(code = 1000, reason = "") {
      this.closeCode = code;
      this.closeReason = reason;
      this.finish(code, reason);
    }
  }

  // What a client does after the server closes, from the README's close code table.
  // action: "stop" | "backoff" (reconnect after a jittered, growing delay) | "fresh-token".
  function policyFor(code, opened) {
    switch (code) {
      case 1000: return { action: "stop", advice: "normal closure" };
      case 4401: return { action: "stop", advice: "token rejected: not retrying with the same token" };
      case 4403: return { action: "stop", advice: "not allowed on this gateway" };
      case 4408: return { action: "fresh-token", advice: "token expired: reconnecting with a fresh token" };
      case 1009: return { action: "backoff", advice: "message too big: reconnecting, without resending it" };
      case 1006:
        return opened
          ? { action: "backoff", advice: "connection lost: reconnecting with backoff" }
          : { action: "backoff", advice: `handshake failed: is the server up, and is ${location.origin} in ALLOWED_ORIGINS?` };
      default:
        if (code >= 4000 && code <= 4999 && code !== 4429) {
          return { action: "stop", advice: "application close code" };
        }
        return { action: "backoff", advice: "reconnecting with backoff" };
    }
  }

  // Full jitter: anywhere between 0 and an exponentially growing cap.
  function backoff(attempt) {
    const cap = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** attempt);
    return Math.max(100, Math.round(Math.random() * cap));
  }

  function wsUrl(path) {
    return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${path}`;
  }

  function clock(unixSeconds) {
    return new Date(unixSeconds * 1000).toLocaleTimeString([], { hour12: false });
  }

  // The `sub` and `exp` of a token, for display only: the server is the one that verifies it.
  function peek(token) {
    try {
      const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      const claims = JSON.parse(atob(part));
      return { sub: typeof claims.sub === "string" || typeof claims.sub === "number" ? String(claims.sub) : null, exp: claims.exp };
    } catch {
      return { sub: null, exp: undefined };
    }
  }

  async function mintToken(sub, kind, ttl) {
    const response = await fetch("/dev/token", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ sub, kind, ttl }),
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.error || `POST /dev/token answered ${response.status}`);
    return body;
  }

  // ---- who is online, per namespace, as the latest presence.online answer says ----

  const namespaces = {
    user: { box: document.getElementById("ns-user"), source: null },
    vendor: { box: document.getElementById("ns-vendor"), source: null },
  };

  function showOnline(kind, session, ids) {
    const ns = namespaces[kind];
    ns.source = session;
    ns.box.dataset.state = "live";
    const list = ns.box.querySelector(".online-list");
    const sorted = [...ids].map(String).sort();
    const current = [...list.children].map((li) => li.textContent);
    if (current.join("\n") !== sorted.join("\n")) {
      list.replaceChildren(...sorted.map((id) => Object.assign(document.createElement("li"), { textContent: id })));
    }
    ns.box.dataset.count = String(sorted.length);
    ns.box.querySelector(".seen-by").textContent =
      `${sorted.length} online · as seen by ${session.label} at ${new Date().toLocaleTimeString([], { hour12: false })}`;
  }

  function forgetSource(session) {
    const ns = namespaces[session.kind];
    if (ns.source !== session) return;
    ns.source = null;
    const other = [...sessions].find((s) => s !== session && s.kind === session.kind && s.isOpen());
    if (other) return other.poll(); // its answer takes over within a round trip
    ns.box.dataset.state = "unknown";
    ns.box.querySelector(".online-list").replaceChildren();
    ns.box.querySelector(".seen-by").textContent = `Sign in as a ${session.kind} to see who is online here.`;
  }

  // ---- one signed-in connection ----

  class Session {
    constructor({ kind, sub, ttl, refresh, token, transport }) {
      this.kind = kind;
      this.transport = transport === "socket.io" ? "socket.io" : "websocket";
      this.path = kind === "vendor" ? "/vendor" : "/user";
      this.sub = sub;
      this.ttl = ttl;
      this.pasted = Boolean(token);
      this.refresh = refresh && !this.pasted;
      this.token = token || null;
      this.expiresAt = token ? peek(token).exp : undefined;
      this.label = sub || (token && peek(token).sub) || "pasted token";
      this.attempts = 0;
      this.reconnects = 0;
      this.refreshes = 0;
      this.nextId = 1;
      this.pendingRefresh = null;
      this.signedOut = false;
      this.ws = null;
      this.timers = new Set();

      this.el = template.content.firstElementChild.cloneNode(true);
      this.el.dataset.kind = kind;
      this.el.dataset.sub = this.label;
      this.el.dataset.transport = this.transport;
      this.el.querySelector(".transport").textContent = this.transport === "socket.io" ? "Socket.IO" : "WebSocket";
      this.el.querySelector(".who").textContent = `${kind} ${this.label}`;
      this.el.querySelector(".path").textContent = this.path;
      this.el.querySelector(".ping").addEventListener("click", () => this.send({ event: "ping", data: { at: Date.now() } }));
      this.el.querySelector(".send").addEventListener("click", () => this.sendRaw());
      this.el.querySelector(".raw").addEventListener("keydown", (e) => { if (e.key === "Enter") this.sendRaw(); });
      this.el.querySelector(".signout").addEventListener("click", () => this.signOut());
      sessionList.append(this.el);
      sessions.add(this);
    }

    isOpen() {
      return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
    }

    later(ms, fn) {
      const timer = setTimeout(() => { this.timers.delete(timer); fn(); }, ms);
      this.timers.add(timer);
    }

    clearTimers() {
      for (const timer of this.timers) { clearTimeout(timer); clearInterval(timer); }
      this.timers.clear();
    }

    setStatus(status) {
      this.el.dataset.status = status;
      this.el.querySelector(".status").textContent = status;
    }

    renderMeta(extra) {
      const parts = [];
      if (this.expiresAt) parts.push(`token expires ${clock(this.expiresAt)}`);
      if (this.refreshes) parts.push(`refreshed ${this.refreshes}×`);
      if (this.reconnects) parts.push(`reconnected ${this.reconnects}×`);
      if (extra) parts.push(extra);
      this.el.dataset.refreshes = String(this.refreshes);
      this.el.dataset.reconnects = String(this.reconnects);
      this.el.querySelector(".meta").textContent = parts.join(" · ");
    }

    log(kind, text) {
      const list = this.el.querySelector(".log");
      list.append(Object.assign(document.createElement("li"), { className: kind, textContent: text, title: text }));
      while (list.children.length > LOG_LINES) list.firstElementChild.remove();
      list.scrollTop = list.scrollHeight;
    }

    showClose(code, reason, advice) {
      const box = this.el.querySelector(".close");
      const codeEl = Object.assign(document.createElement("span"), { className: "code", textContent: String(code) });
      const reasonEl = Object.assign(document.createElement("q"), { className: "reason", textContent: reason || "no reason given" });
      box.replaceChildren("closed ", codeEl, " ", reasonEl, ` · ${advice}`);
      this.el.dataset.closeCode = String(code);
      this.el.dataset.closeReason = reason;
    }

    fail(message) {
      this.setStatus("closed");
      const box = this.el.querySelector(".close");
      box.textContent = message;
      this.log("note", message);
    }

    async start() {
      if (!this.token) {
        try {
          await this.mint();
        } catch (error) {
          return this.fail(`could not get a token: ${error.message}`);
        }
      }
      this.connect();
    }

    async mint() {
      const minted = await mintToken(this.sub, this.kind, this.ttl);
      this.token = minted.token;
      this.expiresAt = minted.expiresAt;
      return minted;
    }

    connect() {
      this.setStatus(this.reconnects || this.attempts ? "reconnecting" : "connecting");
      this.renderMeta();
      let ws;
      try {
        // The browser sends both; the server selects "venta-ws" and never echoes the token.
        ws = this.transport === "socket.io"
          ? new SocketIoConnection(this.path, this.token)
          : new WebSocket(wsUrl(this.path), [SUBPROTOCOL, `bearer.${this.token}`]);
      } catch (error) {
        return this.fail(`this token cannot travel in Sec-WebSocket-Protocol: ${error.message}`);
      }
      this.ws = ws;
      let opened = false;
      let poller = null;
      ws.addEventListener("open", () => {
        opened = true;
        this.setStatus("open");
        this.log("note", `connected, protocol ${ws.protocol || "(none)"}`);
        if (ws instanceof SocketIoConnection) this.watchEngine(ws);
        this.poll();
        poller = setInterval(() => this.poll(), POLL_MS);
        this.timers.add(poller);
        this.later(STABLE_MS, () => { if (this.ws === ws && this.isOpen()) this.attempts = 0; });
      });
      ws.addEventListener("message", (event) => this.receive(event.data));
      ws.addEventListener("close", (event) => {
        if (poller !== null) { clearInterval(poller); this.timers.delete(poller); }
        if (this.ws !== ws) return;
        this.ws = null;
        forgetSource(this);
        if (this.signedOut) return;
        this.closed(event.code, event.reason, opened);
      });
    }

    // Which Engine.IO transport carries a Socket.IO session: polling, then websocket after the upgrade.
    watchEngine(connection) {
      const engine = connection.engine;
      const show = () => {
        const name = engine.transport ? engine.transport.name : "";
        this.el.dataset.engineTransport = name;
        this.el.querySelector(".transport").textContent = `Socket.IO · ${name}`;
      };
      show();
      engine.on("upgrade", (transport) => {
        show();
        this.log("note", `upgraded to ${transport.name}`);
      });
    }

    closed(code, reason, opened) {
      const policy = policyFor(code, opened);
      this.log("note", `closed ${code} ${reason}`.trim());
      this.setStatus(policy.action === "stop" ? "closed" : "reconnecting");
      if (policy.action === "fresh-token" && this.pasted) {
        this.showClose(code, reason, "token expired: paste a fresh one and sign in again");
        return this.setStatus("closed");
      }
      this.showClose(code, reason, policy.advice);
      if (policy.action === "stop") return this.renderMeta();
      // A fresh token needs no wait the first time; anything else waits with jitter.
      const delay = policy.action === "fresh-token" && this.attempts === 0 ? 0 : backoff(this.attempts);
      this.attempts += 1;
      this.renderMeta(`retrying in ${(delay / 1000).toFixed(1)} s`);
      this.later(delay, async () => {
        if (this.signedOut) return;
        if (policy.action === "fresh-token") {
          try {
            await this.mint();
          } catch (error) {
            return this.fail(`could not get a fresh token: ${error.message}`);
          }
        }
        this.reconnects += 1;
        this.connect();
      });
    }

    receive(text) {
      let message;
      try {
        message = JSON.parse(text);
      } catch {
        return this.log("in", text);
      }
      switch (message.event) {
        case "presence.online":
          if (Array.isArray(message.data)) showOnline(this.kind, this, message.data);
          return; // every second: too chatty for the log
        case "auth.expiring":
          this.log("in", text);
          return this.refreshToken(message.data && message.data.expiresAt);
        case "auth.refresh":
          this.log("in", text);
          if (message.id === this.pendingRefresh && message.data) {
            this.pendingRefresh = null;
            this.expiresAt = message.data.expiresAt;
            this.refreshes += 1;
            this.renderMeta();
          }
          return;
        default:
          this.log("in", text);
      }
    }

    async refreshToken(expiresAt) {
      if (!this.refresh) {
        this.renderMeta(this.pasted ? "expiring: paste a fresh token soon" : "expiring: refresh is off");
        return;
      }
      if (this.pendingRefresh !== null) return;
      try {
        const minted = await mintToken(this.sub, this.kind, this.ttl);
        const id = this.nextId++;
        this.pendingRefresh = id;
        // The new token is held until the server confirms it; a 4408 before then mints again.
        this.token = minted.token;
        this.send({ event: "auth.refresh", data: minted.token, id }, "auth.refresh (new token)");
      } catch (error) {
        this.log("note", `refresh failed: ${error.message}; the server will close with 4408 at ${clock(expiresAt)}`);
      }
    }

    poll() {
      if (this.isOpen()) this.ws.send(JSON.stringify({ event: "presence.online" }));
    }

    send(message, shown) {
      if (!this.isOpen()) return this.log("note", "not connected");
      const text = JSON.stringify(message);
      this.ws.send(text);
      this.log("out", shown || text);
    }

    sendRaw() {
      const input = this.el.querySelector(".raw");
      if (!input.value) return;
      if (!this.isOpen()) return this.log("note", "not connected");
      this.ws.send(input.value);
      this.log("out", input.value.length > 200 ? `${input.value.slice(0, 80)}… (${input.value.length} bytes)` : input.value);
      input.value = "";
    }

    signOut() {
      this.signedOut = true;
      this.clearTimers();
      if (this.ws) this.ws.close(1000, "signed out");
      this.ws = null;
      sessions.delete(this);
      forgetSource(this);
      this.el.remove();
    }
  }

  // ---- server counters, read from GET /metrics on this origin every 2 s ----

  const METRICS_MS = 2000;
  const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
  const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;
  const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
  // What a close code means when a handshake is refused with it.
  const REFUSALS = { 1001: "server draining", 1008: "too many sockets", 1013: "server full", 4401: "bad token", 4403: "wrong gateway" };

  // The Prometheus text format, as [{name, labels, value}]: comments (# HELP, # TYPE) and
  // blank lines are skipped, label values unescaped (\\, \", \n), values may be NaN, +Inf or
  // -Inf, a timestamp after the value is ignored, and a line that does not parse is skipped.
  function parseMetrics(text) {
    const samples = [];
    for (const raw of String(text).split("\n")) {
      const line = raw.trim();
      if (!line || line.startsWith("#")) continue;
      const sample = parseSample(line);
      if (sample) samples.push(sample);
    }
    return samples;
  }

  function parseSample(line) {
    const name = METRIC_NAME.exec(line);
    if (!name) return null;
    let i = name[0].length;
    const skipSpace = () => { while (line[i] === " " || line[i] === "\t") i += 1; };
    const labels = {};
    skipSpace();
    if (line[i] === "{") {
      i += 1;
      for (;;) {
        skipSpace();
        if (line[i] === "}") { i += 1; break; }
        const label = LABEL_NAME.exec(line.slice(i));
        if (!label) return null;
        i += label[0].length;
        skipSpace();
        if (line[i] !== "=") return null;
        i += 1;
        skipSpace();
        if (line[i] !== '"') return null;
        i += 1;
        let value = "";
        for (;;) {
          if (i >= line.length) return null; // an unterminated value
          const c = line[i];
          i += 1;
          if (c === '"') break;
          if (c === "\\") {
            if (i >= line.length) return null;
            value += line[i] === "n" ? "\n" : line[i]; // \\ and \" stand for themselves
            i += 1;
          } else {
            value += c;
          }
        }
        labels[label[0]] = value;
        skipSpace();
        if (line[i] === ",") { i += 1; continue; }
        if (line[i] === "}") { i += 1; break; }
        return null;
      }
    }
    const rest = line.slice(i).trim().split(/\s+/);
    if (rest.length > 2 || !rest[0]) return null;
    const value = parseValue(rest[0]);
    return value === null ? null : { name: name[0], labels, value };
  }

  function parseValue(text) {
    switch (text) {
      case "NaN": return NaN;
      case "+Inf": case "Inf": return Infinity;
      case "-Inf": return -Infinity;
      default: return NUMBER.test(text) ? Number(text) : null;
    }
  }

  // The sum of `name`'s finite samples, by the value of `label`.
  function sumBy(samples, name, label) {
    const sums = new Map();
    for (const sample of samples) {
      if (sample.name !== name || !Number.isFinite(sample.value)) continue;
      const key = sample.labels[label] ?? "";
      sums.set(key, (sums.get(key) || 0) + sample.value);
    }
    return sums;
  }

  const counters = {
    box: document.getElementById("counters"),
    sockets: document.getElementById("counter-sockets"),
    rates: document.getElementById("counter-rates"),
    refusals: document.getElementById("counter-refusals"),
    caption: document.getElementById("counters-caption"),
    previous: null, // the last scrape: {at, received}
  };

  function counterRow(label, value, data, className) {
    const li = document.createElement("li");
    if (className) li.className = className;
    Object.assign(li.dataset, data);
    li.append(label, Object.assign(document.createElement("span"), { className: "value", textContent: value }));
    return li;
  }

  function showCounters(samples, at) {
    const sockets = sumBy(samples, "venta_ws_connections", "namespace"); // over both transports
    const received = sumBy(samples, "venta_ws_messages_received_total", "namespace");
    const refusals = sumBy(samples, "venta_ws_connections_rejected_total", "code");
    const seen = [...new Set([...sockets.keys(), ...received.keys()])].filter((ns) => !(ns in namespaces)).sort();
    const all = [...Object.keys(namespaces), ...seen];

    counters.sockets.replaceChildren(
      ...all.map((ns) => {
        const count = Math.round(sockets.get(ns) || 0);
        return counterRow(`/${ns}`, String(count), { namespace: ns, value: String(count) });
      }),
    );

    const previous = counters.previous;
    const seconds = previous ? (at - previous.at) / 1000 : 0;
    if (seconds > 0) {
      // A counter that went down was reset (the server restarted): it counted from zero.
      const rate = (ns) => {
        const now = received.get(ns) || 0;
        const before = previous.received.get(ns) || 0;
        return (now >= before ? now - before : now) / seconds;
      };
      const rates = all.map((ns) => [ns, rate(ns)]);
      const total = rates.reduce((sum, [, r]) => sum + r, 0);
      const shown = (r) => (r >= 10 ? String(Math.round(r)) : r.toFixed(1));
      counters.rates.replaceChildren(
        ...rates.map(([ns, r]) => counterRow(`/${ns}`, shown(r), { namespace: ns, value: String(r) })),
        counterRow("total", shown(total), { total: "", value: String(total) }, "total"),
      );
    } else {
      counters.rates.replaceChildren(Object.assign(document.createElement("li"), { className: "none", textContent: "measuring…" }));
    }
    counters.previous = { at, received };

    const codes = [...refusals.keys()].sort((a, b) => Number(a) - Number(b) || a.localeCompare(b));
    counters.refusals.replaceChildren(
      ...(codes.length
        ? codes.map((code) => {
          const label = document.createElement("span");
          label.append(Object.assign(document.createElement("span"), { className: "code", textContent: code }));
          if (REFUSALS[code]) label.append(` ${REFUSALS[code]}`);
          const count = String(Math.round(refusals.get(code)));
          return counterRow(label, count, { code, value: count });
        })
        : [Object.assign(document.createElement("li"), { className: "none", textContent: "none" })]),
    );

    counters.caption.textContent = `read at ${new Date().toLocaleTimeString([], { hour12: false })}`;
    counters.box.dataset.state = "live";
    counters.box.hidden = false;
  }

  function countersStale(why) {
    counters.previous = null;
    if (counters.box.hidden) return;
    counters.box.dataset.state = "stale";
    counters.caption.textContent = `${why}; showing the last values read`;
  }

  // Whether to keep asking: not once the server says it serves no /metrics here.
  async function scrapeMetrics() {
    let response;
    let text;
    try {
      response = await fetch("/metrics", { cache: "no-store", headers: { accept: "text/plain" } });
      if (response.status === 404 || (response.ok && !(response.headers.get("content-type") || "").startsWith("text/plain"))) {
        counters.box.hidden = true;
        counters.box.dataset.state = "absent";
        return false;
      }
      if (!response.ok) {
        countersStale(`GET /metrics answered ${response.status}`);
        return true;
      }
      text = await response.text();
    } catch (error) {
      countersStale(`GET /metrics failed (${error.message})`);
      return true;
    }
    showCounters(parseMetrics(text), performance.now());
    return true;
  }

  (async function pollMetrics() {
    if (await scrapeMetrics()) setTimeout(pollMetrics, METRICS_MS);
  })();

  // The parser, for tests and the console.
  window.ventaMetrics = Object.freeze({ parse: parseMetrics });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    signinError.textContent = "";
    const data = new FormData(form);
    const kind = data.get("kind") === "vendor" ? "vendor" : "user";
    const token = String(data.get("token") || "").trim();
    const sub = String(data.get("sub") || "").trim();
    const ttl = Number(data.get("ttl") || 3600);
    if (!token && !DEV_MODE) {
      signinError.textContent = "Paste a token: development mode is off, so this page cannot mint one.";
      return;
    }
    if (!token && !/^[A-Za-z0-9_.@-]{1,64}$/.test(sub)) {
      signinError.textContent = "Choose an id: 1 to 64 letters, digits, -, _, . or @.";
      return;
    }
    const transport = data.get("transport") === "socket.io" ? "socket.io" : "websocket";
    const session = new Session({ kind, sub: token ? null : sub, ttl, refresh: data.get("refresh") === "on", token, transport });
    form.elements.token.value = "";
    await session.start();
  });
})();
