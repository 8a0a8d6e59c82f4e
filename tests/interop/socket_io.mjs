// Drives the main example with socket.io-client v4, as the clients of a NestJS gateway on the
// socket.io adapter connect, next to the `ws` package for plain WebSockets. Run by
// tests/socket_io.rs, which starts the server and passes:
//   VENTA_URL        ws://127.0.0.1:<port>
//   JWT_SECRET       the secret the server verifies tokens with
// Prints "ok - <case>" per case and a last line "RESULT <json>"; exits non-zero on a failure.
import assert from "node:assert/strict";
import { io, Manager } from "socket.io-client";
import WebSocket from "ws";

import { runSteps } from "../node/run.mjs";
import { now, requireEnv, sign, token, vendorToken } from "./tokens.mjs";

const HTTP = requireEnv("VENTA_URL").replace(/^ws/, "http");
const WS = requireEnv("VENTA_URL");
const WAIT_MS = 5000;
const LEEWAY_SECS = 5;

const steps = [];
const test = (name, fn) => steps.push({ name, fn });

const within = (promise, what, ms = WAIT_MS) =>
  Promise.race([promise, new Promise((_, reject) => setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms))]);

/** Connects to a namespace; resolves once connected, rejects with the connect_error. */
function connect(namespace, options = {}) {
  const socket = io(`${HTTP}${namespace}`, { reconnection: false, forceNew: true, ...options });
  return within(
    new Promise((resolve, reject) => {
      socket.once("connect", () => resolve(socket));
      socket.once("connect_error", (error) => {
        socket.close();
        reject(error);
      });
    }),
    `connect to ${namespace}`,
  );
}

/** The connect_error of a connection that must be refused. */
async function refusal(namespace, options) {
  try {
    const socket = await connect(namespace, options);
    socket.close();
  } catch (error) {
    return error;
  }
  throw new Error(`${namespace} admitted a socket it should refuse`);
}

/** Resolves with the next `event` on `socket`. */
const next = (socket, event, ms = WAIT_MS) => within(new Promise((resolve) => socket.once(event, resolve)), `\`${event}\``, ms);

/** Resolves with the `closing` payload and the disconnect reason. */
const closed = (socket, ms = WAIT_MS) =>
  within(
    new Promise((resolve) => {
      let closing = null;
      socket.on("closing", (payload) => {
        closing = payload;
      });
      socket.on("disconnect", (reason) => resolve({ closing, reason }));
    }),
    "disconnect",
    ms,
  );

/** A plain WebSocket with the token in the Authorization header, answering requests by id. */
function plain(path, tok) {
  return within(
    new Promise((resolve, reject) => {
      const ws = new WebSocket(`${WS}${path}`, { headers: { authorization: `Bearer ${tok}` } });
      ws.once("open", () => resolve(ws));
      ws.once("error", reject);
    }),
    "plain WebSocket",
  );
}

function request(ws, event, data, id) {
  return within(
    new Promise((resolve) => {
      const listener = (raw) => {
        const message = JSON.parse(raw.toString("utf8"));
        if (message.id === id) {
          ws.off("message", listener);
          resolve(message);
        }
      };
      ws.on("message", listener);
      ws.send(JSON.stringify({ event, data, id }));
    }),
    `answer to ${event}`,
  );
}

const onlineOver = (socket) => socket.timeout(WAIT_MS).emitWithAck("presence.online");

async function waitFor(check, what) {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${WAIT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

// ---- transports ----

for (const [name, options, expected] of [
  ["default transports: long-polling, then the upgrade to WebSocket", {}, "websocket"],
  ["WebSocket only", { transports: ["websocket"] }, "websocket"],
  ["long-polling only", { transports: ["polling"] }, "polling"],
]) {
  test(name, async () => {
    const socket = io(`${HTTP}/user`, { reconnection: false, forceNew: true, auth: { token: token(`sio-${expected}`) }, ...options });
    const opened = next(socket.io, "open").then(() => socket.io.engine.transport.name);
    await next(socket, "connect");
    assert.equal(await opened, options.transports ? options.transports[0] : "polling", "the first transport");
    await waitFor(() => socket.io.engine.transport.name === expected, `the transport to be ${expected}`);
    assert.deepEqual(await socket.timeout(WAIT_MS).emitWithAck("ping", { n: 1 }), { n: 1 });
    const pong = next(socket, "pong");
    socket.emit("ping", { n: 2 });
    assert.deepEqual(await pong, { n: 2 });
    assert.equal(socket.io.engine.transport.name, expected);
    socket.close();
  });
}

// ---- the handshake ----

test("each refusal is a connect_error carrying its close code", async () => {
  const bad = {
    "missing token": [undefined, 4401, "missing token"],
    "malformed token": ["not-a-jwt", 4401, "malformed token"],
    "wrongly signed": [sign({ sub: "sio-x", exp: now() + 3600 }, { secret: "another-secret-of-32-bytes-or-more!!" }), 4401, "invalid signature"],
    expired: [sign({ sub: "sio-x", exp: now() - 120 }), 4401, "token expired"],
  };
  for (const [kind, [tok, code, reason]] of Object.entries(bad)) {
    const error = await refusal("/user", tok === undefined ? {} : { auth: { token: tok } });
    assert.equal(error.message, reason, kind);
    assert.deepEqual(error.data, { code, reason }, kind);
  }
  // validate_connection: /vendor admits vendor tokens only.
  const refused = await refusal("/vendor", { auth: { token: token("sio-user-on-vendor") } });
  assert.equal(refused.data.code, 4403);
  assert.match(refused.message, /vendor tokens only/);
  const unknown = await refusal("/nowhere", { auth: { token: token("sio-x") } });
  assert.equal(unknown.message, "Invalid namespace");
});

test("the token may also travel in extraHeaders or the query", async () => {
  const byHeader = await connect("/user", {
    transports: ["polling"],
    extraHeaders: { authorization: `Bearer ${token("sio-header")}` },
  });
  const byQuery = await connect("/user", { query: { token: token("sio-query") } });
  const online = await onlineOver(byQuery);
  assert.ok(online.includes("sio-header") && online.includes("sio-query"), JSON.stringify(online));
  byHeader.close();
  byQuery.close();
});

// ---- events ----

test("acks get the reply's data, replies without an ack are events, errors are exceptions", async () => {
  const socket = await connect("/user", { auth: { token: token("sio-events") } });
  assert.deepEqual(await socket.timeout(WAIT_MS).emitWithAck("location.update", { lat: 52.52, lng: 13.4 }), {
    lat: 52.52,
    lng: 13.4,
  });
  // An unknown event: the `exception` event in NestJS's shape, and the ack gets the same.
  const exception = next(socket, "exception");
  const acked = await socket.timeout(WAIT_MS).emitWithAck("no.such.event", 1);
  assert.equal(acked.status, "error");
  assert.equal(acked.code, "unknown_event");
  assert.deepEqual(await exception, acked);
  // A payload that does not fit the handler's type, without an ack: only the exception.
  const invalid = next(socket, "exception");
  socket.emit("location.update", { lat: "north" });
  const error = await invalid;
  assert.equal(error.status, "error");
  assert.equal(error.code, "invalid_payload");
  assert.equal(typeof error.message, "string");
  // An Ack without an ack callback sends nothing: the next thing to arrive is the pong.
  let stray = null;
  socket.onAny((event, data) => {
    if (event !== "pong") stray = { event, data };
  });
  socket.emit("location.update", { lat: 1, lng: 2 });
  const pong = next(socket, "pong");
  socket.emit("ping", "after");
  assert.equal(await pong, "after");
  assert.equal(stray, null, `an unasked-for message arrived: ${JSON.stringify(stray)}`);
  socket.close();
});

test("several namespaces share one Engine.IO connection", async () => {
  const manager = new Manager(HTTP, { reconnection: false });
  const user = manager.socket("/user", { auth: { token: token("sio-multi") } });
  const vendor = manager.socket("/vendor", { auth: { token: vendorToken("sio-multi-truck") } });
  await Promise.all([next(user, "connect"), next(vendor, "connect")]);
  assert.equal(user.io, vendor.io, "one Manager");
  const pushed = within(
    new Promise((resolve) => user.on("vendor.location", (data) => data.vendorId === "sio-multi-truck" && resolve(data))),
    "the push to /user",
  );
  assert.deepEqual(await vendor.timeout(WAIT_MS).emitWithAck("location.update", { lat: 1, lng: 2 }), { lat: 1, lng: 2 });
  assert.deepEqual(await pushed, { vendorId: "sio-multi-truck", lat: 1, lng: 2 });
  // Leaving one namespace leaves the other connected.
  vendor.disconnect();
  assert.deepEqual(await user.timeout(WAIT_MS).emitWithAck("ping", 3), 3);
  user.disconnect();
  manager.engine.close();
});

// ---- one runtime ----

test("a vendor's move reaches plain and Socket.IO users alike", async () => {
  const sioUser = await connect("/user", { auth: { token: token("sio-rider") } });
  const plainUser = await plain("/user", token("plain-rider"));
  const truck = await connect("/vendor", { auth: { token: vendorToken("sio-truck") } });
  const plainPushed = within(
    new Promise((resolve) => {
      plainUser.on("message", (raw) => {
        const message = JSON.parse(raw.toString("utf8"));
        if (message.event === "vendor.location" && message.data.vendorId === "sio-truck") resolve(message.data);
      });
    }),
    "the push to the plain WebSocket",
  );
  const sioPushed = within(
    new Promise((resolve) => {
      sioUser.on("vendor.location", (data) => data.vendorId === "sio-truck" && resolve(data));
    }),
    "the push to the Socket.IO socket",
  );
  truck.emit("location.update", { lat: 48.1, lng: 11.6 });
  const expected = { vendorId: "sio-truck", lat: 48.1, lng: 11.6 };
  assert.deepEqual(await sioPushed, expected);
  assert.deepEqual(await plainPushed, expected);
  assert.deepEqual(await sioUser.timeout(WAIT_MS).emitWithAck("vendor.location", "sio-truck"), { lat: 48.1, lng: 11.6 });
  truck.close();
  sioUser.close();
  plainUser.close();
});

test("an entity on both kinds of socket is online once, until its last socket leaves", async () => {
  const watcher = await connect("/user", { auth: { token: token("sio-watcher") } });
  const both = token("sio-both");
  const overSocketIo = await connect("/user", { auth: { token: both } });
  const overPlain = await plain("/user", both);
  const count = async () => (await onlineOver(watcher)).filter((id) => id === "sio-both").length;
  assert.equal(await count(), 1);
  const answered = await request(overPlain, "presence.online", null, 1);
  assert.equal(answered.data.filter((id) => id === "sio-both").length, 1);
  overSocketIo.close();
  await waitFor(async () => (await count()) === 1, "sio-both online on its plain socket");
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.equal(await count(), 1, "still online while the plain socket is open");
  overPlain.close();
  await waitFor(async () => (await count()) === 0, "sio-both offline after its last socket");
  watcher.close();
});

test("auth.expiring, auth.refresh with an ack, then closing with 4408", async () => {
  // A token that expires in 2 s: the warning comes at once (it is due 30 s before).
  const first = sign({ sub: "sio-expiring", iat: now(), exp: now() + 2 });
  // Listeners go on before the connect: the warning may come in the same poll as the CONNECT.
  const socket = io(`${HTTP}/user`, { reconnection: false, forceNew: true, auth: { token: first } });
  const warning = next(socket, "auth.expiring");
  const ending = closed(socket, (4 + LEEWAY_SECS + 8) * 1000);
  await next(socket, "connect");
  const warned = await warning;
  assert.ok(warned.expiresAt >= now(), JSON.stringify(warned));
  const refreshed = await socket.timeout(WAIT_MS).emitWithAck("auth.refresh", sign({ sub: "sio-expiring", iat: now(), exp: now() + 4 }));
  assert.ok(refreshed.expiresAt >= warned.expiresAt + 2, `${JSON.stringify(refreshed)} after ${JSON.stringify(warned)}`);
  // Another entity's token is refused, and the ack still comes.
  const rejected = await socket.timeout(WAIT_MS).emitWithAck("auth.refresh", token("sio-someone-else"));
  assert.equal(rejected.code, "refresh_rejected");
  const { reason, closing } = await ending;
  assert.equal(reason, "io server disconnect");
  assert.deepEqual(closing, { code: 4408, reason: "token expired" });
});

const { passed, failed } = await runSteps(steps);
console.log(`RESULT ${JSON.stringify({ passed, failed })}`);
process.exit(failed === 0 ? 0 : 1);
