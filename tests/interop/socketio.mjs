// A socket.io-client v4 driver for tests/socketio.rs: reads one JSON command a line on stdin
// and prints one JSON line on stdout for everything its sockets see, so the Rust test can mix
// Socket.IO clients with plain WebSocket clients and the server's hub. Env: VENTA_URL
// (http://127.0.0.1:<port>).
//
// Commands:
//   {op:"connect", id, ns, auth?, extraHeaders?, query?, transports?, manager?}
//   {op:"emit", id, event, args, ack?}   args: {"$bytes": [..]} is sent as a Buffer;   ack: a sequence number; the answer is {type:"ack", seq, err, args}
//   {op:"transport", id}                 answers {type:"transport", name}
//   {op:"close", id}
//   {op:"bounce", id}                    socket.disconnect() and at once socket.connect()
//   {op:"reconnect", id, auth?}          socket.connect() again, on the same Manager
//   {op:"exit"}
// Reports: {id, type: "connect"|"connect_error"|"disconnect"|"event"|"upgrade"|"ack"|"transport", ...}
import readline from "node:readline";
import { Manager, io } from "socket.io-client";

const BASE = process.env.VENTA_URL;
if (!BASE) throw new Error("VENTA_URL is not set: run this through `cargo test --test socketio`");
const ACK_TIMEOUT_MS = 5000;

const sockets = new Map();
const managers = new Map();
const out = (message) => process.stdout.write(`${JSON.stringify(message)}\n`);

function watchUpgrade(id, manager) {
  manager.on("open", () => {
    manager.engine.on("upgrade", (transport) => out({ id, type: "upgrade", transport: transport.name }));
  });
}

function attach(id, socket) {
  socket.on("connect", () => out({ id, type: "connect", transport: socket.io.engine.transport.name }));
  socket.on("connect_error", (err) => out({ id, type: "connect_error", message: err.message, data: err.data ?? null }));
  socket.on("disconnect", (reason) => out({ id, type: "disconnect", reason }));
  socket.onAny((event, ...args) => out({ id, type: "event", event, args }));
}

function connect({ id, ns, auth, extraHeaders, query, transports, manager: managerId }) {
  const engineOptions = { reconnection: false, extraHeaders, query, transports };
  let socket;
  if (managerId !== undefined) {
    let manager = managers.get(managerId);
    if (!manager) {
      manager = new Manager(BASE, { ...engineOptions, forceNew: false });
      watchUpgrade(id, manager);
      managers.set(managerId, manager);
    }
    socket = manager.socket(ns, { auth });
  } else {
    socket = io(`${BASE}${ns}`, { ...engineOptions, forceNew: true, auth });
    watchUpgrade(id, socket.io);
  }
  sockets.set(id, socket);
  attach(id, socket);
}

// `{"$bytes": [..]}` in a command's arguments stands for a Buffer of those bytes (a binary
// attachment on the wire).
function revive(value) {
  if (Array.isArray(value)) return value.map(revive);
  if (value && typeof value === "object") {
    if (Array.isArray(value.$bytes)) return Buffer.from(value.$bytes);
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, revive(item)]));
  }
  return value;
}

function handle(command) {
  const socket = sockets.get(command.id);
  switch (command.op) {
    case "connect":
      return connect(command);
    case "emit":
      command.args = revive(command.args);
      if (command.ack === undefined) return socket.emit(command.event, ...command.args);
      return socket.timeout(ACK_TIMEOUT_MS).emit(command.event, ...command.args, (err, ...args) => {
        out({ id: command.id, type: "ack", seq: command.ack, err: err ? String(err.message ?? err) : null, args });
      });
    case "transport":
      return out({ id: command.id, type: "transport", name: socket.io.engine?.transport?.name ?? null });
    case "close":
      return socket.disconnect();
    case "bounce":
      socket.disconnect();
      return socket.connect();
    case "reconnect":
      if (command.auth !== undefined) socket.auth = command.auth;
      return socket.connect();
    case "exit":
      for (const s of sockets.values()) s.disconnect();
      return setTimeout(() => process.exit(0), 50);
    default:
      throw new Error(`unknown op ${command.op}`);
  }
}

const lines = readline.createInterface({ input: process.stdin });
lines.on("line", (line) => {
  if (!line.trim()) return;
  try {
    handle(JSON.parse(line));
  } catch (error) {
    out({ type: "driver_error", message: String(error && error.stack ? error.stack : error) });
  }
});
lines.on("close", () => process.exit(0));
out({ type: "ready" });
