// Drives the main example with a client no one here wrote: the `ws` npm package, with tokens
// signed by Node's own crypto. Run by tests/interop.rs, which starts the server and passes:
//   VENTA_URL        ws://127.0.0.1:<port>
//   JWT_SECRET       the secret the server verifies tokens with
//   ALLOWED_ORIGIN   a browser origin the server allows
// Prints "ok - <case>" per case and a last line "RESULT <json>"; exits non-zero on a failure.
import assert from "node:assert/strict";
import WebSocket from "ws";

import { runSteps } from "../node/run.mjs";
import { connectVenta } from "./client.mjs";
import { now, requireEnv, sign, token, vendorToken } from "./tokens.mjs";

const BASE = requireEnv("VENTA_URL");
const ALLOWED_ORIGIN = requireEnv("ALLOWED_ORIGIN");
const WAIT_MS = 5000;
// The clock leeway of the example's `JwtConfig` (the default): a socket is held to its token's
// `exp` plus it, and `expiresAt` says so.
const LEEWAY_SECS = 5;
const MAX_MESSAGE = 64 * 1024;

// ---- a client that queues what it receives ----

class Client {
  constructor(ws) {
    this.ws = ws;
    this.inbox = [];
    this.waiters = [];
    this.closeInfo = null;
    this.closeWaiters = [];
    ws.on("message", (data, isBinary) => {
      const message = isBinary ? { binary: data } : JSON.parse(data.toString("utf8"));
      const waiter = this.waiters.shift();
      if (waiter) waiter(message);
      else this.inbox.push(message);
    });
    ws.on("close", (code, reason) => {
      this.closeInfo = { code, reason: reason.toString("utf8") };
      for (const waiter of this.closeWaiters.splice(0)) waiter(this.closeInfo);
    });
    ws.on("error", () => {}); // surfaced through close
  }

  // Connects with the token in `placement`: "header", "query", "subprotocol", or "none".
  static connect(path, { token: tok, placement = "header", origin, timeout = WAIT_MS } = {}) {
    let url = `${BASE}${path}`;
    const headers = {};
    let protocols = [];
    if (tok !== undefined && placement === "header") headers.authorization = `Bearer ${tok}`;
    if (tok !== undefined && placement === "query") url += `?token=${encodeURIComponent(tok)}`;
    if (tok !== undefined && placement === "subprotocol") protocols = ["venta-ws", `bearer.${tok}`];
    const options = { headers, handshakeTimeout: timeout };
    if (origin) options.origin = origin;
    const ws = new WebSocket(url, protocols, options);
    const client = new Client(ws);
    return new Promise((resolve, reject) => {
      ws.once("open", () => resolve(client));
      ws.once("unexpected-response", (_request, response) => {
        reject(Object.assign(new Error(`handshake answered HTTP ${response.statusCode}`), { status: response.statusCode }));
        ws.terminate();
      });
      ws.once("error", reject);
    });
  }

  next(timeout = WAIT_MS) {
    if (this.inbox.length) return Promise.resolve(this.inbox.shift());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`no message within ${timeout} ms`));
      }, timeout);
      const waiter = (message) => { clearTimeout(timer); resolve(message); };
      this.waiters.push(waiter);
    });
  }

  send(event, data, id) {
    const envelope = { event };
    if (data !== undefined) envelope.data = data;
    if (id !== undefined) envelope.id = id;
    this.ws.send(JSON.stringify(envelope));
  }

  request(event, data, id) {
    this.send(event, data, id);
    return this.next();
  }

  closed(timeout = WAIT_MS) {
    if (this.closeInfo) return Promise.resolve(this.closeInfo);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not closed within ${timeout} ms`)), timeout);
      this.closeWaiters.push((info) => { clearTimeout(timer); resolve(info); });
    });
  }

  async close() {
    if (this.closeInfo) return this.closeInfo;
    this.ws.close(1000, "done");
    return this.closed();
  }

  async assertAnswersPing() {
    const pong = await this.request("ping", "still-open", "p");
    assert.deepEqual(pong, { event: "pong", data: "still-open", id: "p" });
  }
}

async function eventually(what, check, timeout = WAIT_MS) {
  const deadline = Date.now() + timeout;
  let last;
  while (Date.now() < deadline) {
    last = await check();
    if (last.ok) return last.value;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`${what}: last saw ${JSON.stringify(last && last.value)}`);
}

async function online(client) {
  const reply = await client.request("presence.online");
  assert.equal(reply.event, "presence.online");
  return [...reply.data].sort();
}

// ---- the cases ----

const cases = [];
const test = (name, fn) => cases.push({ name, fn });

test("token in the Authorization header: ping answers pong with the same data", async () => {
  const client = await Client.connect("/user", { token: token("node-header"), placement: "header" });
  assert.equal(client.ws.protocol, "", "no subprotocol was offered, none is selected");
  assert.deepEqual(await client.request("ping", { hello: 1 }), { event: "pong", data: { hello: 1 } });
  assert.deepEqual(await client.request("ping", null, 4), { event: "pong", data: null, id: 4 });
  await client.close();
});

test("token in ?token=: presence.online names the entity, with the request id", async () => {
  const client = await Client.connect("/user", { token: token("node-query"), placement: "query" });
  const reply = await client.request("presence.online", undefined, 1);
  assert.equal(reply.event, "presence.online");
  assert.equal(reply.id, 1);
  assert.ok(reply.data.includes("node-query"), JSON.stringify(reply));
  await client.close();
});

test("token in Sec-WebSocket-Protocol: the server selects venta-ws and never echoes the token", async () => {
  const client = await Client.connect("/vendor", { token: vendorToken("node-subprotocol"), placement: "subprotocol" });
  assert.equal(client.ws.protocol, "venta-ws");
  assert.deepEqual(await client.request("ping", "hi"), { event: "pong", data: "hi" });
  assert.deepEqual(await online(client), ["node-subprotocol"]);
  await client.close();
});

test("acks carry the request id, numeric or string, and come only when asked for", async () => {
  const client = await Client.connect("/user", { token: token("node-ack") });
  assert.deepEqual(await client.request("location.update", { lat: 52.52, lng: 13.4 }, 7), {
    event: "location.update",
    data: { lat: 52.52, lng: 13.4 },
    id: 7,
  });
  assert.deepEqual(await client.request("location.update", { lat: -1.5, lng: 2 }, "req-a"), {
    event: "location.update",
    data: { lat: -1.5, lng: 2 },
    id: "req-a",
  });
  client.send("location.update", { lat: 1, lng: 1 }); // no id: no ack
  await client.assertAnswersPing(); // so the very next frame is the pong
  await client.close();
});

test("error envelopes for unknown events, malformed frames, bad payloads and binary frames; the socket stays open", async () => {
  const client = await Client.connect("/user", { token: token("node-errors") });
  const unknown = await client.request("teleport", {}, 3);
  assert.equal(unknown.event, "error");
  assert.equal(unknown.data.code, "unknown_event");
  assert.equal(unknown.id, 3);
  assert.equal(typeof unknown.data.message, "string");
  await client.assertAnswersPing();

  client.ws.send('{"event": "ping", "data": ');
  const malformed = await client.next();
  assert.equal(malformed.data.code, "malformed_envelope");
  assert.equal(malformed.id, undefined);
  await client.assertAnswersPing();

  const invalid = await client.request("location.update", { lat: "north" }, 5);
  assert.deepEqual([invalid.event, invalid.data.code, invalid.id], ["error", "invalid_payload", 5]);
  await client.assertAnswersPing();

  const rejected = await client.request("location.update", { lat: 91, lng: 0 }, 6);
  assert.deepEqual(rejected, {
    event: "error",
    data: {
      code: "invalid_payload",
      message: "`data` of event `location.update` is not valid: lat: greater than 90",
      details: [{ field: "lat", message: "greater than 90" }],
    },
    id: 6,
  });
  await client.assertAnswersPing();

  client.ws.send(Buffer.from([1, 2, 3]), { binary: true });
  const binary = await client.next();
  assert.deepEqual([binary.event, binary.data.code], ["error", "unsupported_frame"]);
  await client.assertAnswersPing();
  await client.close();
});

test("presence follows clients coming and going", async () => {
  const ada = await Client.connect("/user", { token: token("node-ada") });
  const bob = await Client.connect("/user", { token: token("node-bob"), placement: "query" });
  await eventually("both online", async () => {
    const ids = await online(ada);
    return { ok: ids.includes("node-ada") && ids.includes("node-bob"), value: ids };
  });
  await bob.close();
  await eventually("bob gone", async () => {
    const ids = await online(ada);
    return { ok: ids.includes("node-ada") && !ids.includes("node-bob"), value: ids };
  });
  await ada.close();
});

test("a vendor's move is pushed to users, and users can ask for it", async () => {
  const user = await Client.connect("/user", { token: token("node-rider") });
  const vendor = await Client.connect("/vendor", { token: vendorToken("node-truck"), placement: "subprotocol" });
  assert.deepEqual(await vendor.request("location.update", { lat: 48.1, lng: 11.6 }, 1), {
    event: "location.update",
    data: { lat: 48.1, lng: 11.6 },
    id: 1,
  });
  let pushed = await user.next();
  while (pushed.event === "vendor.location" && pushed.data.vendorId !== "node-truck") pushed = await user.next();
  assert.deepEqual(pushed, { event: "vendor.location", data: { vendorId: "node-truck", lat: 48.1, lng: 11.6 } });
  assert.deepEqual(await user.request("vendor.location", "node-truck", 2), {
    event: "vendor.location",
    data: { lat: 48.1, lng: 11.6 },
    id: 2,
  });
  await vendor.close();
  await user.close();
});

test("4401 for a missing, malformed, wrongly signed, expired or unsigned token, in every placement", async () => {
  const bad = {
    malformed: "not-a-jwt",
    "wrong signature": sign({ sub: "node-x", exp: now() + 3600 }, { secret: "another-secret" }),
    expired: sign({ sub: "node-x", exp: now() - 120 }),
    "alg none": sign({ sub: "node-x", exp: now() + 3600 }, { header: { alg: "none", typ: "JWT" } }),
  };
  const seen = [];
  for (const placement of ["header", "query", "subprotocol"]) {
    for (const [kind, tok] of Object.entries(bad)) {
      const client = await Client.connect("/user", { token: tok, placement });
      const { code, reason } = await client.closed();
      assert.equal(code, 4401, `${kind} in ${placement}: closed ${code} ${reason}`);
      assert.ok(reason.length > 0, `${kind} in ${placement}: a reason says what was wrong`);
      assert.ok(!reason.includes(tok), `${kind} in ${placement}: the reason never contains the token`);
      seen.push(reason);
    }
  }
  const missing = await Client.connect("/user", { placement: "none" });
  const closed = await missing.closed();
  assert.equal(closed.code, 4401);
  assert.match(closed.reason, /missing/);
  console.log(`   reasons: ${[...new Set(seen)].join(" | ")} | ${closed.reason}`);
});

test("1009 for a message over 64 KiB, while one just under passes", async () => {
  const client = await Client.connect("/user", { token: token("node-big") });
  const fits = JSON.stringify({ event: "ping", data: "x".repeat(MAX_MESSAGE - 100) });
  assert.ok(fits.length <= MAX_MESSAGE);
  client.ws.send(fits);
  const pong = await client.next();
  assert.equal(pong.event, "pong");
  assert.equal(pong.data.length, MAX_MESSAGE - 100);

  const tooBig = JSON.stringify({ event: "ping", data: "x".repeat(MAX_MESSAGE) });
  client.ws.send(tooBig);
  const { code, reason } = await client.closed();
  assert.equal(code, 1009, `closed ${code} ${reason}`);
});

test("browser origins: an allowed origin connects, any other is refused with HTTP 403 before the upgrade", async () => {
  const allowed = await Client.connect("/user", { token: token("node-origin"), placement: "subprotocol", origin: ALLOWED_ORIGIN });
  assert.equal(allowed.ws.protocol, "venta-ws");
  await allowed.close();
  await assert.rejects(
    Client.connect("/user", { token: token("node-origin"), placement: "subprotocol", origin: "https://evil.example" }),
    (error) => error.status === 403,
  );
});

test("auth.refresh moves the expiry in-band; a token for someone else is refused", async () => {
  const client = await Client.connect("/user", { token: token("node-refresh", 600) });
  const fresh = token("node-refresh", 7200);
  const expected = JSON.parse(Buffer.from(fresh.split(".")[1], "base64url").toString()).exp;
  assert.deepEqual(await client.request("auth.refresh", fresh, 9), {
    event: "auth.refresh",
    data: { expiresAt: expected + LEEWAY_SECS },
    id: 9,
  });
  const other = await client.request("auth.refresh", token("node-someone-else"), 10);
  assert.deepEqual([other.event, other.data.code, other.id], ["error", "refresh_rejected", 10]);
  const expired = await client.request("auth.refresh", sign({ sub: "node-refresh", exp: now() - 120 }), 11);
  assert.deepEqual([expired.event, expired.data.code, expired.id], ["error", "refresh_rejected", 11]);
  await client.assertAnswersPing();
  await client.close();
});

test("auth.expiring comes 30 s before expiry, then 4408 when the token runs out", async () => {
  const ttl = 2;
  const tok = token("node-expiring", ttl);
  const exp = JSON.parse(Buffer.from(tok.split(".")[1], "base64url").toString()).exp;
  const client = await Client.connect("/user", { token: tok, placement: "subprotocol" });
  assert.deepEqual(await client.next(), { event: "auth.expiring", data: { expiresAt: exp + LEEWAY_SECS } });
  const { code, reason } = await client.closed((ttl + LEEWAY_SECS) * 1000 + WAIT_MS);
  assert.equal(code, 4408, `closed ${code} ${reason}`);
  assert.equal(reason, "token expired");
});

// ---- the README's client (tests/interop/client.mjs) on `ws` ----

const claimsOf = (tok) => JSON.parse(Buffer.from(tok.split(".")[1], "base64url").toString());

// Runs the guide's client with tokens handed out in turn (the last one again when they run out).
function guideClient(tokens, path = "/user") {
  const seen = { statuses: [], events: [], tokenCalls: 0 };
  const client = connectVenta({
    openSocket: (tok) => new WebSocket(`${BASE}${path}`, { headers: { authorization: `Bearer ${tok}` } }),
    getToken: async () => tokens[Math.min(seen.tokenCalls++, tokens.length - 1)],
    onEvent: (message) => seen.events.push(message),
    onStatus: (status) => seen.statuses.push(status),
  });
  return { client, seen };
}

async function until(what, seen, check, timeout = WAIT_MS) {
  await eventually(what, async () => ({ ok: check(seen), value: seen }), timeout);
}

const opens = (seen) => seen.statuses.filter((s) => s.state === "open").length;

test("the guide's client: requests get their own answer, close() stops it", async () => {
  const { client, seen } = guideClient([token("guide-basic")]);
  await until("open", seen, (s) => opens(s) === 1);
  assert.deepEqual(await client.request("ping", "x"), { event: "pong", data: "x", id: 1 });
  const ack = await client.request("location.update", { lat: 1, lng: 2 });
  assert.deepEqual(ack, { event: "location.update", data: { lat: 1, lng: 2 }, id: 2 });
  client.close();
  await until("closed", seen, (s) => s.statuses.at(-1).state === "closed");
  await new Promise((r) => setTimeout(r, 700));
  assert.equal(opens(seen), 1, "a client that was closed stays closed");
  assert.equal(seen.tokenCalls, 1);
});

test("the guide's client: auth.expiring is answered with auth.refresh, without reconnecting", async () => {
  const second = token("guide-refresh", 3600);
  // Warned 30 s before `exp` plus the leeway: at once.
  const { client, seen } = guideClient([token("guide-refresh", 31 - LEEWAY_SECS), second]);
  await until("refreshed", seen, (s) => s.events.some((e) => e.event === "auth.refresh"));
  const ack = seen.events.find((e) => e.event === "auth.refresh");
  assert.deepEqual(ack.data, { expiresAt: claimsOf(second).exp + LEEWAY_SECS });
  assert.equal(opens(seen), 1);
  assert.equal(seen.tokenCalls, 2);
  client.close();
});

test("the guide's client: after 4408 it reconnects at once with a fresh token", async () => {
  const { client, seen } = guideClient([
    token("guide-expiry", 2),
    token("guide-someone-else"), // the in-band refresh is refused: the socket will expire
    token("guide-expiry", 3600),
  ]);
  await until("reconnected", seen, (s) => opens(s) === 2, (2 + LEEWAY_SECS) * 1000 + WAIT_MS);
  assert.ok(seen.events.some((e) => e.event === "error" && e.data.code === "refresh_rejected"), JSON.stringify(seen));
  const closed = seen.statuses.find((s) => s.state === "reconnecting");
  assert.deepEqual([closed.code, closed.reason], [4408, "token expired"]);
  assert.equal(seen.tokenCalls, 3);
  assert.deepEqual(await client.request("ping", 1), { event: "pong", data: 1, id: 2 });
  client.close();
});

test("the guide's client: a fresh token refused with 4401 is final", async () => {
  const { seen } = guideClient(["not-a-jwt"]);
  await until("closed", seen, (s) => s.statuses.some((x) => x.state === "closed"));
  assert.deepEqual(seen.statuses.at(-1), { state: "closed", code: 4401, reason: "malformed token" });
  await new Promise((r) => setTimeout(r, 700));
  assert.equal(seen.tokenCalls, 1, "no retry, not even with another token");
});

test("the guide's client: after 1009 it backs off and reconnects with the same token", async () => {
  const { client, seen } = guideClient([token("guide-big")]);
  await until("open", seen, (s) => opens(s) === 1);
  client.send("ping", "x".repeat(MAX_MESSAGE));
  await until("reconnected", seen, (s) => opens(s) === 2);
  assert.deepEqual(seen.statuses.find((s) => s.state === "reconnecting"), {
    state: "reconnecting",
    code: 1009,
    reason: "message too big",
  });
  assert.equal(seen.tokenCalls, 1);
  client.close();
});

// ---- run ----

const { passed, failed } = await runSteps(cases);
console.log(`${passed.length} passed, ${failed} failed`);
console.log(`RESULT ${JSON.stringify({ passed, failed })}`);
process.exit(failed ? 1 : 0);
