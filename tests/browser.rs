//! The live presence page in a real browser: tests/browser/presence.mjs drives headless
//! Chromium (Debian's `/usr/bin/chromium`, through `playwright-core`) against the main example
//! served in-process with its page: alice and bob come online in two browsers, bob leaves, a
//! vendor signs in, and the page shows the close code of a bad token (4401), an oversized
//! message (1009) and an expired one (4408), refreshes a token in-band, and is refused by
//! origin without development mode. carol's page connects over Socket.IO (socket.io-client,
//! long-polling upgraded to WebSocket) and shows up in alice's plain-WebSocket presence list.
//! The page's server counters, read from `/metrics` on its own origin, count the open sockets
//! per namespace as people come and go and the 4401 refusal by its code; without `/metrics`
//! (the second server) the panel is hidden.
//!
//! Screenshots land in `target/artifacts/` (`presence.png` is the final page).
//!
//! Needs chromium, `node` and `tests/browser/node_modules` (`scripts/test setup` installs them);
//! fails with that advice when they are missing, unless `VENTA_SKIP_BROWSER=1`.

#[path = "node/mod.rs"]
mod node;

use std::path::PathBuf;
use std::time::Duration;

use node::ExampleServer;
use serde_json::{Value, json};
use venta_ws_examples::{Kind, mint_token};

const SKIP: &str = "VENTA_SKIP_BROWSER";

/// Every step the script runs, in order.
const STEPS: [&str; 14] = [
    "the page is served in development mode",
    "the counters parse the Prometheus text format",
    "alice signs in as a user",
    "bob comes online in another browser",
    "a vendor signs in",
    "bob leaves",
    "carol signs in over Socket.IO",
    "a bad pasted token is closed with 4401",
    "a message over 64 KiB is closed with 1009",
    "a token that runs out is closed with 4408",
    "alice's token is refreshed in-band",
    "the final page",
    "the README's client in Chromium",
    "without development mode",
];

fn chromium() -> PathBuf {
    std::env::var_os("VENTA_CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_presence_page_shows_people_coming_and_going_and_why_sockets_closed() {
    if node::skipped(SKIP, "browser") {
        return;
    }
    let browser = chromium();
    node::require(browser.is_file(), &format!("{} is not installed", browser.display()), SKIP);
    let node = node::require_node_package("browser", "playwright-core", SKIP);

    // The only recorder of this test binary. The second server serves no /metrics.
    let metrics = venta_ws::metrics::install().expect("the only recorder");
    let dev = ExampleServer::start_with_metrics(&[("VENTA_DEV_MODE", "1")], Some(metrics)).await;
    let dev_origin = format!("http://{}", dev.addr);
    assert!(dev.config.allowed_origins.contains(&dev_origin), "development mode allows the page's own origin");
    // Without development mode only the listed origin may connect, even to its own page.
    let prod = ExampleServer::start(&[("ALLOWED_ORIGINS", "http://localhost:{port}")]).await;
    assert!(!prod.config.dev_mode);
    let paula = mint_token(&prod.config, "paula", Kind::User, 3600);

    let artifacts = node::artifacts_dir();
    for stale in ["presence.png", "presence-expired.png", "presence-pasted-token.png", "presence-socketio.png"] {
        let _ = std::fs::remove_file(artifacts.join(stale));
    }
    let run = node::run_script(
        &node,
        "browser",
        "presence.mjs",
        &[
            ("VENTA_DEV_URL", dev_origin.clone()),
            ("VENTA_PROD_URL", format!("http://{}", prod.addr)),
            ("VENTA_PROD_TOKEN", paula),
            ("VENTA_ARTIFACTS", artifacts.display().to_string()),
            ("VENTA_CHROMIUM", browser.display().to_string()),
        ],
        Duration::from_secs(180),
    )
    .await;
    assert!(
        run.success,
        "the page did not show what it should (screenshots in {})\n{}",
        artifacts.display(),
        run.transcript()
    );

    let result = run.result();
    let passed: Vec<&str> = result["passed"].as_array().expect("passed").iter().filter_map(Value::as_str).collect();
    assert_eq!(passed.len(), STEPS.len(), "{}", run.transcript());
    for (name, expected) in passed.iter().zip(STEPS) {
        assert!(name.starts_with(expected), "step `{name}`, expected `{expected}`");
    }

    // What the final page showed.
    let last = &result["final"];
    assert_eq!(last["user"]["ids"], json!(["alice"]));
    assert_eq!(last["vendor"]["ids"], json!(["taco-truck"]));
    let sessions = last["sessions"].as_array().expect("sessions");
    let card = |sub: &str| sessions.iter().find(|s| s["sub"] == sub).unwrap_or_else(|| panic!("no card for {sub}"));
    assert_eq!((card("alice")["status"].as_str(), card("alice")["closeCode"].as_u64()), (Some("open"), None));
    let oversized = card("taco-truck")["closeCode"].as_u64();
    assert_eq!(card("taco-truck")["status"], "open");
    assert_eq!(oversized, Some(1009));
    assert_eq!(result["oversized"].as_u64(), oversized);
    assert_eq!(
        (card("pasted token")["status"].as_str(), card("pasted token")["closeCode"].as_u64()),
        (Some("closed"), Some(4401))
    );
    assert_eq!(result["expired"]["closeCode"], 4408);
    assert_eq!(result["expired"]["closeReason"], "token expired");
    assert_eq!(result["refused"]["closeCode"], 1006);
    // The Socket.IO page upgraded to WebSocket and shared the presence list with alice's.
    assert_eq!(result["socketIo"]["transport"], "socket.io");
    assert_eq!(result["socketIo"]["engineTransport"], "websocket");
    assert_eq!(result["allowed"]["status"], "open");
    // The counters as the page showed them: sockets per namespace as people came and went,
    // the one refusal under its code, and no panel where /metrics is not served.
    let counters = &result["counters"];
    assert_eq!(counters["start"]["sockets"], json!({"user": 0, "vendor": 0}));
    assert_eq!(counters["withBob"]["sockets"], json!({"user": 2, "vendor": 0}));
    assert!(counters["withBob"]["rates"]["user"].as_f64().is_some_and(|rate| rate > 0.0), "{counters}");
    assert_eq!(counters["afterBob"]["sockets"], json!({"user": 1, "vendor": 1}));
    assert_eq!(counters["refused"]["refusals"], json!({"4401": 1}));
    assert_eq!(last["counters"]["sockets"], json!({"user": 1, "vendor": 1}));
    assert_eq!(
        (counters["prod"]["state"].as_str(), counters["prod"]["visible"].as_bool()),
        (Some("absent"), Some(false))
    );

    for shot in ["presence.png", "presence-expired.png", "presence-pasted-token.png", "presence-socketio.png"] {
        let size = std::fs::metadata(artifacts.join(shot)).map(|m| m.len()).unwrap_or(0);
        assert!(size > 10_000, "{shot} was not saved in {}", artifacts.display());
    }
    println!("screenshots: {}", artifacts.join("presence.png").display());

    // The browser is gone, and both servers forgot every socket it had.
    for server in [&dev, &prod] {
        server.wait_online("user", &[]).await;
        server.wait_online("vendor", &[]).await;
    }
}
