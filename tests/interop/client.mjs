// The client of the README's "Client guide", tested as it is printed there: tests/interop.rs
// checks that README.md holds the lines between the markers verbatim, interop.mjs drives it
// from Node.js with the `ws` package, and tests/browser/presence.mjs runs it in Chromium.

// guide:start
// A venta-ws client that follows the reconnect policy. openSocket(token) opens a WebSocket
// with the token where the platform allows; getToken() resolves to a fresh token.
function connectVenta({ openSocket, getToken, onEvent = () => {}, onStatus = () => {} }) {
  let ws = null;
  let token = null;
  let fresh = false; // the token was fetched for this attempt: a 4401 now is final
  let attempt = 0;
  let stopped = false;
  let stable;
  let nextId = 1;
  const pending = new Map();

  async function open(newToken) {
    if (newToken || token === null) {
      token = await getToken();
      fresh = true;
    }
    ws = openSocket(token);
    ws.onopen = () => {
      onStatus({ state: "open" });
      stable = setTimeout(() => { attempt = 0; fresh = false; }, 10000); // stable: the backoff starts over
    };
    ws.onmessage = (event) => receive(JSON.parse(event.data));
    ws.onclose = (event) => closed(event.code, event.reason);
  }

  async function receive(message) {
    const waiter = pending.get(message.id);
    if (waiter) {
      pending.delete(message.id);
      return waiter(message);
    }
    if (message.event === "auth.expiring") {
      token = await getToken(); // refresh in-band: no reconnect
      return onEvent(await request("auth.refresh", token)); // an error here: the old expiry stands
    }
    onEvent(message);
  }

  function closed(code, reason) {
    clearTimeout(stable);
    for (const waiter of pending.values()) waiter({ event: "error", data: { code: "closed", message: reason } });
    pending.clear();
    const next = stopped ? "stop" : policy(code, fresh);
    onStatus({ state: next === "stop" ? "closed" : "reconnecting", code, reason });
    if (next === "stop") return;
    const delay = next === "fresh-token" && attempt === 0 ? 0 : Math.random() * Math.min(30000, 500 * 2 ** attempt);
    attempt += 1;
    setTimeout(() => stopped || open(next === "fresh-token").catch((error) => onStatus({ state: "closed", error })), delay);
  }

  function request(event, data) {
    const id = nextId++;
    return new Promise((resolve) => {
      pending.set(id, resolve);
      ws.send(JSON.stringify({ event, data, id }));
    });
  }

  open(false).catch((error) => onStatus({ state: "closed", error }));
  return {
    request, // resolves to the ack, the reply or the error envelope with the same id
    send: (event, data) => ws.send(JSON.stringify({ event, data })),
    close: () => { stopped = true; ws.close(1000); },
  };
}

// What to do after the server closes, from the close code table.
function policy(code, tokenWasFresh) {
  if (code === 4408) return "fresh-token"; // expired while connected
  if (code === 4401) return tokenWasFresh ? "stop" : "fresh-token"; // never the same token twice
  if (code === 1000 || code === 4403) return "stop";
  if (code >= 4000 && code <= 4999 && code !== 4429) return "stop"; // the application's own codes
  return "backoff"; // 1001, 1006 (no close frame), 1008, 1009, 1011, 1013, 4429, ...
}
// guide:end

export { connectVenta, policy };
