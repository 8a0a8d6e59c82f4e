// Drives the live presence page in headless Chromium (Debian's, through playwright-core).
// Run by tests/browser.rs, which starts two servers and passes:
//   VENTA_DEV_URL      http://127.0.0.1:<port>  the example in development mode
//   VENTA_PROD_URL     http://127.0.0.1:<port>  the example without it; ALLOWED_ORIGINS is
//                                               http://localhost:<that port> only
//   VENTA_PROD_TOKEN   a valid token for "paula" on the second server
//   VENTA_ARTIFACTS    where to save screenshots
//   VENTA_CHROMIUM     the browser (default /usr/bin/chromium)
// Prints "ok - <step>" per step and a last line "RESULT <json>"; exits non-zero on a failure.
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

import { runSteps } from "../node/run.mjs";

const DEV = requireEnv("VENTA_DEV_URL");
const PROD = requireEnv("VENTA_PROD_URL");
const PROD_TOKEN = requireEnv("VENTA_PROD_TOKEN");
const ARTIFACTS = requireEnv("VENTA_ARTIFACTS");
const EXECUTABLE = process.env.VENTA_CHROMIUM || "/usr/bin/chromium";
const WAIT_MS = 10000;

function requireEnv(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run this through \`cargo test --test browser\``);
  return value;
}

mkdirSync(ARTIFACTS, { recursive: true });

const browser = await chromium.launch({
  executablePath: EXECUTABLE,
  headless: true,
  // Playwright gives every launch a new, empty user data directory of its own.
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});

const pageErrors = [];

// A page in a browser context of its own: its own cookies and sockets, like another person.
async function openPage(url, name) {
  const context = await browser.newContext({ viewport: { width: 1180, height: 860 } });
  const page = await context.newPage();
  page.on("pageerror", (error) => pageErrors.push(`${name}: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") console.log(`   [${name} console] ${message.text()}`);
  });
  await page.goto(url);
  page.venta = name;
  return page;
}

async function signIn(page, { kind, sub = "", ttl = 3600, refresh = true, token = "" }) {
  await page.selectOption("select[name=kind]", kind);
  if (await page.isVisible("input[name=sub]")) {
    await page.fill("input[name=sub]", sub);
    await page.fill("input[name=ttl]", String(ttl));
    await page.setChecked("input[name=refresh]", refresh);
  }
  await page.fill("input[name=token]", token);
  await page.click("button[type=submit]");
}

const card = (page, kind, sub) => page.locator(`.session[data-kind="${kind}"][data-sub="${sub}"]`);

// What the page shows, read from the DOM the way a person reads it.
function view(page) {
  return page.evaluate(() => {
    const ns = (kind) => {
      const box = document.getElementById(`ns-${kind}`);
      return {
        state: box.dataset.state,
        ids: [...box.querySelectorAll(".online-list li")].filter((li) => li.offsetParent !== null).map((li) => li.textContent),
        caption: box.querySelector(".seen-by").textContent,
      };
    };
    // The server counters, as the numbers shown: {namespace or code: number}.
    const shown = (id, key) =>
      Object.fromEntries(
        [...document.querySelectorAll(`#${id} li[data-${key}]`)].map((li) => [li.dataset[key], Number(li.querySelector(".value").textContent)]),
      );
    const counters = document.getElementById("counters");
    return {
      devMode: document.body.dataset.devMode,
      user: ns("user"),
      vendor: ns("vendor"),
      counters: {
        state: counters.dataset.state,
        visible: !counters.hidden && counters.offsetParent !== null,
        sockets: shown("counter-sockets", "namespace"),
        rates: shown("counter-rates", "namespace"),
        totalRate: shown("counter-rates", "total")[""] ?? null,
        refusals: shown("counter-refusals", "code"),
        refusalText: Object.fromEntries([...document.querySelectorAll("#counter-refusals li[data-code]")].map((li) => [li.dataset.code, li.textContent])),
        caption: document.getElementById("counters-caption").textContent,
      },
      signinError: document.getElementById("signin-error").textContent,
      sessions: [...document.querySelectorAll(".session")].map((el) => ({
        kind: el.dataset.kind,
        sub: el.dataset.sub,
        transport: el.dataset.transport,
        engineTransport: el.dataset.engineTransport ?? null,
        status: el.dataset.status,
        closeCode: el.dataset.closeCode ? Number(el.dataset.closeCode) : null,
        closeReason: el.dataset.closeReason ?? null,
        closeText: el.querySelector(".close").textContent,
        meta: el.querySelector(".meta").textContent,
        reconnects: Number(el.dataset.reconnects || 0),
        refreshes: Number(el.dataset.refreshes || 0),
      })),
    };
  });
}

async function eventually(page, what, check, timeout = WAIT_MS) {
  const deadline = Date.now() + timeout;
  let seen;
  for (;;) {
    seen = await view(page);
    try {
      return check(seen) ?? seen;
    } catch (error) {
      if (Date.now() > deadline) {
        await page.screenshot({ path: join(ARTIFACTS, `presence-failure-${page.venta}.png`), fullPage: true });
        throw new Error(`${page.venta}: ${what}: ${error.message}\n   page shows ${JSON.stringify(seen)}`);
      }
    }
    await page.waitForTimeout(100);
  }
}

// The counters panel is up to date with `sockets` open per namespace.
function assertSockets(seen, sockets) {
  assert.equal(seen.counters.state, "live");
  assert.ok(seen.counters.visible, "the counters panel is shown");
  assert.deepEqual(seen.counters.sockets, sockets, "open sockets per namespace");
}

const session = (seen, kind, sub) => {
  const found = seen.sessions.find((s) => s.kind === kind && s.sub === sub);
  assert.ok(found, `no card for ${kind} ${sub}`);
  return found;
};

const steps = [];
const step = (name, fn) => steps.push({ name, fn });
const state = {};

step("the page is served in development mode and knows no one yet", async () => {
  state.alicePage = await openPage(`${DEV}/`, "alice");
  const seen = await view(state.alicePage);
  assert.equal(seen.devMode, "on");
  assert.ok(await state.alicePage.isVisible("#mode-dev"));
  assert.equal(seen.user.state, "unknown");
  assert.equal(seen.vendor.state, "unknown");
  assert.match(seen.user.caption, /Sign in as a user/);
  // The counters come from this origin's /metrics: no socket yet, no refusal.
  state.counters = {};
  state.counters.start = (await eventually(state.alicePage, "counters shown", (seen) => {
    assertSockets(seen, { user: 0, vendor: 0 });
    assert.deepEqual(seen.counters.refusals, {});
    assert.match(seen.counters.caption, /read at/);
  })).counters;
});

step("the counters parse the Prometheus text format: comments, escaped label values, NaN and Inf", async () => {
  const text = String.raw`# HELP venta_ws_connections Open sockets, "quoted" and {braced} \n in help
# TYPE venta_ws_connections gauge
venta_ws_connections{namespace="user",transport="websocket"} 2
venta_ws_connections{ namespace = "user" , transport="socket.io", } 1 1700000000000
odd{a="x\\\"y}, z=\"q\"",b="line\nbreak"} NaN
venta_ws_handler_duration_seconds_bucket{le="+Inf"} +Inf
below -Inf
scientific 1.5e3
broken{a="unterminated} 1
notanumber 1x
`;
  const parsed = await state.alicePage.evaluate((text) => {
    const samples = window.ventaMetrics.parse(text);
    // JSON has no NaN or Infinity: write them out.
    return samples.map((s) => ({ ...s, value: Number.isFinite(s.value) ? s.value : String(s.value) }));
  }, text);
  assert.deepEqual(parsed, [
    { name: "venta_ws_connections", labels: { namespace: "user", transport: "websocket" }, value: 2 },
    { name: "venta_ws_connections", labels: { namespace: "user", transport: "socket.io" }, value: 1 },
    { name: "odd", labels: { a: 'x\\"y}, z="q"', b: "line\nbreak" }, value: "NaN" },
    { name: "venta_ws_handler_duration_seconds_bucket", labels: { le: "+Inf" }, value: "Infinity" },
    { name: "below", labels: {}, value: "-Infinity" },
    { name: "scientific", labels: {}, value: 1500 },
  ]);
});

step("alice signs in as a user and sees herself online", async () => {
  // 30 s tokens: the server holds a socket to `exp` plus its 5 s leeway and warns 30 s before
  // that, so the page refreshes every ~5 s.
  await signIn(state.alicePage, { kind: "user", sub: "alice", ttl: 30, refresh: true });
  await eventually(state.alicePage, "alice online", (seen) => {
    assert.equal(session(seen, "user", "alice").status, "open");
    assert.deepEqual(seen.user.ids, ["alice"]);
    assert.match(seen.user.caption, /as seen by alice/);
  });
});

step("bob comes online in another browser; both pages show alice and bob", async () => {
  state.bobPage = await openPage(`${DEV}/`, "bob");
  await signIn(state.bobPage, { kind: "user", sub: "bob" });
  await eventually(state.bobPage, "bob sees both", (seen) => assert.deepEqual(seen.user.ids, ["alice", "bob"]));
  await eventually(state.alicePage, "alice sees bob arrive", (seen) => assert.deepEqual(seen.user.ids, ["alice", "bob"]));
  // Both pages ask presence.online every second: messages arrive.
  state.counters.withBob = (await eventually(state.alicePage, "the counters count alice and bob", (seen) => {
    assertSockets(seen, { user: 2, vendor: 0 });
    assert.ok(seen.counters.rates.user > 0, "messages per second on /user");
    assert.ok(seen.counters.totalRate >= seen.counters.rates.user, "the total includes /user");
  })).counters;
});

step("a vendor signs in; the vendor namespace shows it, the user namespace is unchanged", async () => {
  await signIn(state.alicePage, { kind: "vendor", sub: "taco-truck" });
  await eventually(state.alicePage, "vendor online", (seen) => {
    assert.equal(session(seen, "vendor", "taco-truck").status, "open");
    assert.deepEqual(seen.vendor.ids, ["taco-truck"]);
    assert.deepEqual(seen.user.ids, ["alice", "bob"]);
  });
  await eventually(state.alicePage, "the counters count the vendor", (seen) => assertSockets(seen, { user: 2, vendor: 1 }));
});

step("bob leaves (closes his tab); alice's page drops him", async () => {
  await state.bobPage.context().close();
  await eventually(state.alicePage, "bob gone", (seen) => assert.deepEqual(seen.user.ids, ["alice"]));
  state.counters.afterBob = (await eventually(state.alicePage, "the counters drop bob's socket", (seen) =>
    assertSockets(seen, { user: 1, vendor: 1 }))).counters;
});

step("carol signs in over Socket.IO (polling, then the upgrade to WebSocket); one presence list has both kinds of socket", async () => {
  state.carolPage = await openPage(`${DEV}/?transport=socket.io`, "carol");
  assert.equal(await state.carolPage.inputValue("select[name=transport]"), "socket.io", "?transport=socket.io picks Socket.IO");
  await signIn(state.carolPage, { kind: "user", sub: "carol" });
  const seen = await eventually(state.carolPage, "carol online over socket.io", (seen) => {
    const carol = session(seen, "user", "carol");
    assert.equal(carol.status, "open");
    assert.equal(carol.transport, "socket.io");
    assert.equal(carol.engineTransport, "websocket", "the Engine.IO session upgraded from polling to WebSocket");
    assert.deepEqual(seen.user.ids, ["alice", "carol"]);
  });
  // socket.io-client comes from the example itself, not a CDN.
  const bundle = await state.carolPage.evaluate(async () => ({
    io: typeof window.io,
    scripts: [...document.scripts].map((s) => s.src.replace(location.origin, "")),
    banner: (await (await fetch("/vendor/socket.io.min.js")).text()).slice(0, 40),
  }));
  assert.equal(bundle.io, "function");
  assert.deepEqual(bundle.scripts, ["/vendor/socket.io.min.js", "/app.js"]);
  assert.match(bundle.banner, /Socket\.IO v4\.8\.4/);
  // alice's plain WebSocket session sees carol's Socket.IO session in the same list.
  await eventually(state.alicePage, "alice sees carol", (seen) => {
    assert.equal(session(seen, "user", "alice").transport, "websocket");
    assert.deepEqual(seen.user.ids, ["alice", "carol"]);
  });
  // The open sockets of a namespace are summed over both transports.
  await eventually(state.alicePage, "the counters count carol's Socket.IO socket", (seen) => assertSockets(seen, { user: 2, vendor: 1 }));
  // A ping over Socket.IO with an ack: the ack carries the data back.
  const truck = card(state.carolPage, "user", "carol");
  await truck.locator(".raw").fill(JSON.stringify({ event: "ping", data: "over socket.io", id: 7 }));
  await truck.locator(".send").click();
  await state.carolPage.waitForFunction(() => [...document.querySelectorAll(".session .log .in")].some((li) => li.textContent.includes('"over socket.io"') && li.textContent.includes('"id":7')), null, { timeout: WAIT_MS });
  await state.carolPage.screenshot({ path: join(ARTIFACTS, "presence-socketio.png"), fullPage: true });
  state.socketIo = session(seen, "user", "carol");
  await state.carolPage.context().close();
  await eventually(state.alicePage, "carol gone", (seen) => assert.deepEqual(seen.user.ids, ["alice"]));
});

step("a bad pasted token is closed with 4401, shown, not retried, and counted as a refusal", async () => {
  assert.deepEqual((await view(state.alicePage)).counters.refusals, {}, "no refusal before");
  await signIn(state.alicePage, { kind: "user", token: "not-a-token" });
  const seen = await eventually(state.alicePage, "4401 shown", (seen) => {
    const bad = session(seen, "user", "pasted token");
    assert.equal(bad.status, "closed");
    assert.equal(bad.closeCode, 4401);
    assert.ok(bad.closeReason.length > 0, "a reason is shown");
    assert.match(bad.closeText, /4401/);
    assert.match(bad.closeText, /not retrying/);
  });
  await state.alicePage.waitForTimeout(1500);
  const later = session(await view(state.alicePage), "user", "pasted token");
  assert.equal(later.reconnects, 0, "4401 is not retried with the same token");
  assert.equal(later.status, "closed");
  assert.deepEqual(seen.user.ids, ["alice"], "a refused socket never shows up online");
  state.counters.refused = (await eventually(state.alicePage, "the refusal counted under 4401", (seen) => {
    assert.deepEqual(seen.counters.refusals, { 4401: 1 });
    assert.match(seen.counters.refusalText["4401"], /^4401 bad token\s*1$/);
    assertSockets(seen, { user: 1, vendor: 1 });
  })).counters;
});

step("a message over 64 KiB is closed with 1009, shown, and the page reconnects", async () => {
  const vendor = card(state.alicePage, "vendor", "taco-truck");
  await vendor.locator(".raw").fill(JSON.stringify({ event: "ping", data: "x".repeat(70 * 1024) }));
  await vendor.locator(".send").click();
  const seen = await eventually(state.alicePage, "closed, then back online", (seen) => {
    const truck = session(seen, "vendor", "taco-truck");
    assert.ok(truck.closeCode !== null, "a close is shown");
    assert.ok(truck.reconnects >= 1, "reconnected");
    assert.equal(truck.status, "open");
    assert.deepEqual(seen.vendor.ids, ["taco-truck"]);
  });
  const truck = session(seen, "vendor", "taco-truck");
  // The server holds the connection open after the 1009 (the rest of the oversized frame is
  // unread), so the browser reads the close frame before the connection goes.
  assert.equal(truck.closeCode, 1009, `closed ${truck.closeCode}`);
  assert.match(truck.closeText, /1009 .*message too big.*reconnecting/);
  state.oversized = truck.closeCode;
});

step("a token that runs out is closed with 4408, and the page reconnects with a fresh one", async () => {
  state.davePage = await openPage(`${DEV}/`, "dave");
  await signIn(state.davePage, { kind: "user", sub: "dave", ttl: 2, refresh: false });
  const seen = await eventually(
    state.davePage,
    "4408 then a fresh token",
    (seen) => {
      const dave = session(seen, "user", "dave");
      assert.equal(dave.closeCode, 4408);
      assert.equal(dave.closeReason, "token expired");
      assert.match(dave.closeText, /fresh token/);
      assert.ok(dave.reconnects >= 1, "reconnected");
      assert.equal(dave.status, "open");
      assert.ok(seen.user.ids.includes("dave"));
    },
    15000,
  );
  await state.davePage.screenshot({ path: join(ARTIFACTS, "presence-expired.png"), fullPage: true });
  state.expired = session(seen, "user", "dave");
  await state.davePage.context().close();
  await eventually(state.alicePage, "dave gone", (seen) => assert.deepEqual(seen.user.ids, ["alice"]));
});

step("alice's token is refreshed in-band on auth.expiring, without reconnecting", async () => {
  await eventually(
    state.alicePage,
    "refreshed",
    (seen) => {
      const alice = session(seen, "user", "alice");
      assert.ok(alice.refreshes >= 1, "refreshed at least once");
      assert.equal(alice.reconnects, 0);
      assert.equal(alice.status, "open");
      assert.match(alice.meta, /refreshed/);
    },
    20000,
  );
});

step("the final page: alice and taco-truck online, every close explained", async () => {
  const seen = await eventually(state.alicePage, "the counters show alice and taco-truck", (seen) => assertSockets(seen, { user: 1, vendor: 1 }));
  assert.deepEqual(seen.user.ids, ["alice"]);
  assert.deepEqual(seen.vendor.ids, ["taco-truck"]);
  await state.alicePage.screenshot({ path: join(ARTIFACTS, "presence.png"), fullPage: true });
  state.final = seen;
});

step("the README's client in Chromium: token in the subprotocol, a fresh token after 4408", async () => {
  // The same lines the README prints, from tests/interop/client.mjs, as a classic script.
  const source = readFileSync(new URL("../interop/client.mjs", import.meta.url), "utf8");
  const guide = source.slice(source.indexOf("// guide:start"), source.indexOf("// guide:end"));
  const page = await openPage(`${DEV}/`, "readme-client");
  await page.addScriptTag({ content: guide });
  const { seen, pong } = await page.evaluate(async () => {
    const seen = { statuses: [], events: [], tokenCalls: 0 };
    const mint = async (sub, ttl) => {
      const response = await fetch("/dev/token", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ sub, kind: "user", ttl }),
      });
      return (await response.json()).token;
    };
    // A 2 s token, a refresh that is refused (another id), then a good token.
    const plan = [() => mint("readme", 2), () => mint("readme-other", 3600), () => mint("readme", 3600)];
    const client = connectVenta({
      openSocket: (token) => new WebSocket(`ws://${location.host}/user`, ["venta-ws", `bearer.${token}`]),
      getToken: () => plan[Math.min(seen.tokenCalls++, plan.length - 1)](),
      onEvent: (message) => seen.events.push(message),
      onStatus: (status) => seen.statuses.push(status),
    });
    // The 2 s token is closed at its `exp` plus the server's 5 s leeway.
    const deadline = Date.now() + 15000;
    while (seen.statuses.filter((s) => s.state === "open").length < 2) {
      if (Date.now() > deadline) return { seen, pong: null };
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const pong = await client.request("ping", "from the README");
    client.close();
    return { seen, pong };
  });
  assert.deepEqual(
    seen.statuses.map((s) => [s.state, s.code ?? null, s.reason ?? null]),
    [["open", null, null], ["reconnecting", 4408, "token expired"], ["open", null, null]],
    JSON.stringify(seen),
  );
  assert.ok(seen.events.some((e) => e.event === "error" && e.data.code === "refresh_rejected"), JSON.stringify(seen));
  assert.equal(seen.tokenCalls, 3);
  assert.deepEqual(pong, { event: "pong", data: "from the README", id: 2 });
  await page.context().close();
});

step("without development mode: no minting, and origins outside ALLOWED_ORIGINS are refused", async () => {
  // Served from 127.0.0.1, an origin the second server does not allow.
  const refused = await openPage(`${PROD}/`, "prod-127");
  let seen = await view(refused);
  assert.equal(seen.devMode, "off");
  assert.ok(await refused.isVisible("text=cargo run --example token -- user-1"));
  assert.equal(await refused.isVisible("input[name=sub]"), false, "no id field without development mode");
  const minted = await refused.evaluate(async () => {
    const response = await fetch("/dev/token", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ sub: "mallory", kind: "user" }),
    });
    return response.status;
  });
  assert.equal(minted, 404, "POST /dev/token does not exist without development mode");
  await signIn(refused, { kind: "user" });
  seen = await view(refused);
  assert.match(seen.signinError, /Paste a token/);
  // This server serves no /metrics on its main address (404): no counters panel, no error.
  state.counters.prod = (await eventually(refused, "no counters", (seen) => {
    assert.equal(seen.counters.state, "absent");
    assert.equal(seen.counters.visible, false);
  })).counters;
  await signIn(refused, { kind: "user", token: PROD_TOKEN });
  seen = await eventually(refused, "origin refused", (seen) => {
    const paula = session(seen, "user", "paula");
    assert.equal(paula.closeCode, 1006, "the handshake is refused with HTTP 403: the browser reports 1006");
    assert.match(paula.closeText, /ALLOWED_ORIGINS/);
  });
  state.refused = session(seen, "user", "paula");
  await refused.context().close();

  // The same page from http://localhost:<port>, the allowed origin, with the same token.
  const allowed = await openPage(`${PROD.replace("127.0.0.1", "localhost")}/`, "prod-localhost");
  await signIn(allowed, { kind: "user", token: PROD_TOKEN });
  seen = await eventually(allowed, "paula online", (seen) => {
    assert.equal(session(seen, "user", "paula").status, "open");
    assert.deepEqual(seen.user.ids, ["paula"]);
  });
  await allowed.screenshot({ path: join(ARTIFACTS, "presence-pasted-token.png"), fullPage: true });
  state.allowed = session(seen, "user", "paula");
  await allowed.context().close();
});

// Later steps build on earlier ones.
let { passed, failed } = await runSteps(steps, { stopAtFirstFailure: true });
if (pageErrors.length) {
  failed += 1;
  console.log(`not ok - the pages threw:\n   ${pageErrors.join("\n   ")}`);
}
await browser.close();
console.log(`${passed.length} passed, ${failed} failed`);
console.log(
  `RESULT ${JSON.stringify({ passed, failed, counters: state.counters, oversized: state.oversized, final: state.final, expired: state.expired, socketIo: state.socketIo, refused: state.refused, allowed: state.allowed })}`,
);
process.exit(failed ? 1 : 0);
