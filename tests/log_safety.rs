//! What a hostile client can make the framework log: nothing it can pass off as a line of its
//! own, no payload, and no more than a bounded amount per message.

use serde_json::json;
use venta_ws::logging::MAX_LOGGED_CHARS;
use venta_ws_tests::{Client, LogCapture, Placement, TestServer, token};

const CARD: &str = "4111111111111111";
const FORGED: &str =
    "2026-12-02T00:00:00.000000Z  INFO socket{namespace=\"user\"}: socket connected entity_id=\"admin\"";

#[tokio::test]
async fn clients_cannot_forge_log_lines_leak_payloads_into_them_or_flood_them() {
    let capture = LogCapture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let server = TestServer::example().await;
    let mut client = Client::connect(&server.url("/user"), Some(&token("mallory")), Placement::Header).await;

    // An event name that carries a line break and a line of its own.
    let forged = client.request(&format!("no.such.event\n{FORGED}\r\n"), json!(null), Some(1)).await;
    assert_eq!(forged["data"]["code"], "unknown_event");

    // Payloads that do not deserialize, and an envelope that is not one, quoting a card number.
    let invalid = client.request("location.update", json!({"lat": CARD, "lng": 1.0}), Some(2)).await;
    assert_eq!(invalid["data"]["code"], "invalid_payload");
    assert!(invalid["data"]["message"].as_str().is_some_and(|message| message.contains(CARD)), "the client is told");
    client.send_text(&format!(r#"{{"event": {CARD}, "id": 4}}"#)).await;
    assert_eq!(client.recv().await["data"]["code"], "malformed_envelope");

    // Ten 60 KB unknown event names.
    let before = capture.len();
    let long = "e".repeat(60_000);
    for id in 0..10 {
        assert_eq!(client.request(&long, json!(null), Some(id)).await["data"]["code"], "unknown_event");
    }
    let logged = capture.len() - before;

    client.assert_answers_ping().await;
    client.close().await;
    server.wait_online("user", &[]).await;

    let logs = capture.text();
    assert!(!logs.lines().any(|line| line.starts_with("2026-12-02T00:00:00")), "a forged line:\n{logs}");
    assert!(logs.contains(r#"no.such.event\n2026-12-02T00:00:00"#), "the event name is logged, escaped:\n{logs}");
    assert!(!logs.contains(CARD), "a payload reached the logs:\n{logs}");
    assert!(logs.contains("`data` does not fit the handler's payload type"), "{logs}");
    assert!(logged < 10 * 4 * MAX_LOGGED_CHARS, "ten long event names wrote {logged} bytes of log");
    let longest = logs.lines().map(str::len).max().unwrap_or(0);
    assert!(longest < 4 * MAX_LOGGED_CHARS + 400, "a log line of {longest} bytes:\n{logs}");
}
