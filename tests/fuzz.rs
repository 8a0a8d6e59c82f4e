//! Bad input everywhere, over a real socket: random and truncated envelopes, odd tokens,
//! invalid UTF-8 and protocol violations are answered or closed with the documented code,
//! and nothing panics.

use std::sync::OnceLock;

use proptest::prelude::*;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use venta_ws_tests::{Client, Placement, TestServer, token};

/// One runtime and one server for every generated case.
fn shared() -> &'static (tokio::runtime::Runtime, TestServer) {
    static SHARED: OnceLock<(tokio::runtime::Runtime, TestServer)> = OnceLock::new();
    SHARED.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
        let server = runtime.block_on(TestServer::example());
        (runtime, server)
    })
}

/// Envelope-shaped text, with odd parts, cut anywhere.
fn frames() -> impl Strategy<Value = String> {
    let event = prop_oneof![
        Just("ping".to_owned()),
        Just("location.update".to_owned()),
        Just("presence.online".to_owned()),
        Just("auth.refresh".to_owned()),
        Just("error".to_owned()),
        "\\PC{0,10}",
    ];
    let data = prop_oneof![
        Just(json!(null)),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        "\\PC{0,20}".prop_map(Value::from),
        (any::<f64>(), any::<f64>()).prop_map(|(lat, lng)| json!({"lat": lat, "lng": lng})),
        (1usize..120).prop_map(|depth| (0..depth).fold(json!(0), |inner, _| json!([inner]))),
    ];
    let id = prop_oneof![
        Just(None),
        any::<u64>().prop_map(|n| Some(json!(n))),
        Just(Some(json!(-3))),
        Just(Some(json!({})))
    ];
    (event, data, id, any::<bool>(), any::<prop::sample::Index>()).prop_map(|(event, data, id, truncate, cut)| {
        let mut envelope = json!({"event": event, "data": data});
        if let Some(id) = id {
            envelope["id"] = id;
        }
        let text = envelope.to_string();
        if !truncate {
            return text;
        }
        let end = cut.index(text.len() + 1);
        let end = (0..=end).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
        text[..end].to_owned()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn any_frame_is_answered_and_the_socket_stays_open(texts in prop::collection::vec(frames(), 1..4)) {
        let (runtime, server) = shared();
        runtime.block_on(async {
            let mut client = Client::user(server, "/user", "fuzz").await;
            for text in &texts {
                client.send_text(text).await;
            }
            client.send("ping", json!("end"), None).await;
            loop {
                let frame = client.recv().await;
                let event = frame["event"].as_str().unwrap_or_default().to_owned();
                if event == "pong" && frame["data"] == "end" {
                    break;
                }
                assert!(
                    ["error", "pong", "presence.online", "location.update", "auth.refresh"].contains(&event.as_str()),
                    "unexpected answer {frame} to {texts:?}"
                );
                if event == "error" {
                    assert!(frame["data"]["code"].is_string() && frame["data"]["message"].is_string(), "{frame}");
                }
            }
            client.close().await;
        });
    }

    #[test]
    fn random_tokens_are_refused_with_4401(raw in "[ -~]{0,300}", placement in prop_oneof![Just(Placement::Header), Just(Placement::Query), Just(Placement::Subprotocol)]) {
        prop_assume!(!raw.trim().is_empty());
        let query_safe: String = raw.chars().filter(|c| c.is_ascii_alphanumeric() || "-._~".contains(*c)).collect();
        let raw = if placement == Placement::Header { raw } else { query_safe };
        prop_assume!(!raw.is_empty() && !raw.contains(','));
        let (runtime, server) = shared();
        runtime.block_on(async {
            let url = server.url("/user");
            match Client::try_connect(&url, Some(&raw), placement, None).await {
                Ok(mut client) => assert_eq!(client.closed().await.code, Some(4401), "{raw:?} via {placement:?}"),
                Err(error) => panic!("the handshake itself must succeed so the client learns the close code: {error}"),
            }
        });
    }
}

#[test]
fn invalid_utf8_closes_with_1007_and_a_protocol_violation_with_1002() {
    let (runtime, server) = shared();
    runtime.block_on(async {
        let mut client = Client::connect(&server.url("/user"), Some(&token("utf8")), Placement::Header).await;
        client.assert_answers_ping().await;
        client.send_frame(Frame::message(vec![0x7b, 0xff, 0xfe, 0x7d], OpCode::Data(Data::Text), true)).await;
        assert_eq!(client.closed().await.code, Some(1007));

        let mut client = Client::connect(&server.url("/user"), Some(&token("rsv")), Placement::Header).await;
        client.assert_answers_ping().await;
        let mut frame = Frame::message(b"{}".to_vec(), OpCode::Data(Data::Text), true);
        frame.header_mut().rsv1 = true;
        client.send_frame(frame).await;
        assert_eq!(client.closed().await.code, Some(1002));

        let mut after = Client::connect(&server.url("/user"), Some(&token("after")), Placement::Header).await;
        after.assert_answers_ping().await;
    });
}
