//! What the framework logs: the same fields on every line of a socket's life, and never a
//! token, wherever the client put it.

use jsonwebtoken::Algorithm;
use serde_json::json;
use venta_ws_tests::{
    Client, LogCapture, Placement, SECRET, SocketIoClient, SocketIoToken, TestServer, now, sign, token,
};

#[tokio::test]
async fn every_line_carries_the_socket_fields_and_no_line_carries_a_token() {
    let capture = LogCapture::default();
    let writer = capture.clone();
    // Everything at debug level and the framework's own lines at every level. tungstenite
    // writes whole frames at trace level (an `auth.refresh` frame holds a token), which is why
    // the README says to keep it at debug or above in production.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("debug,venta_ws=trace"))
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let server = TestServer::example().await;
    let url = server.url("/user");
    let header_token = token("log-user");
    let query_token = token("log-query");
    let protocol_token = token("log-protocol");
    let refresh_token = token("log-user");
    let bad_token = sign(&json!({"sub": "intruder", "exp": now() + 60}), "not-the-secret", Algorithm::HS256);
    let expired_token = sign(&json!({"sub": "late", "exp": now() - 600}), SECRET, Algorithm::HS256);

    let mut by_header = Client::connect(&url, Some(&header_token), Placement::Header).await;
    let mut by_query = Client::connect(&url, Some(&query_token), Placement::Query).await;
    let mut by_protocol = Client::connect(&url, Some(&protocol_token), Placement::Subprotocol).await;
    for client in [&mut by_header, &mut by_query, &mut by_protocol] {
        client.assert_answers_ping().await;
    }
    by_header.request("no.such.event", json!(null), Some(1)).await;
    let refreshed = by_header.request("auth.refresh", json!(refresh_token), Some(2)).await;
    assert_eq!(refreshed["event"], "auth.refresh");
    for bad in [&bad_token, &expired_token] {
        let mut refused = Client::connect(&url, Some(bad), Placement::Query).await;
        assert_eq!(refused.closed().await.code, Some(4401));
    }
    // Socket.IO clients, with the token in each of their three places, and refused ones.
    let sio_auth = token("log-sio-auth");
    let sio_header = token("log-sio-header");
    let sio_query = token("log-sio-query");
    let mut socket_io = Vec::new();
    for place in [SocketIoToken::Auth(&sio_auth), SocketIoToken::Header(&sio_header), SocketIoToken::Query(&sio_query)]
    {
        let (mut client, joined) = SocketIoClient::join(&server, "/socket.io", "user", place).await;
        assert!(joined.starts_with("40/user,"), "{place:?}: {joined}");
        client.send(r#"42/user,["no.such.event"]"#).await;
        assert!(client.packet().await.contains("unknown_event"));
        socket_io.push(client);
    }
    let (_, refused) = SocketIoClient::join(&server, "/socket.io", "user", SocketIoToken::Auth(&bad_token)).await;
    assert!(refused.contains(r#""code":4401"#), "{refused}");
    by_header.close().await;
    by_query.close().await;
    by_protocol.close().await;
    for client in &mut socket_io {
        client.send("41/user,").await;
    }
    server.wait_online("user", &[]).await;

    let logs = capture.text();
    for secret in [
        &header_token,
        &query_token,
        &protocol_token,
        &refresh_token,
        &bad_token,
        &expired_token,
        &sio_auth,
        &sio_header,
        &sio_query,
    ] {
        let signature = secret.rsplit('.').next().expect("a JWT has a signature");
        assert!(!logs.contains(signature), "a token leaked into the logs:\n{logs}");
    }
    assert!(!logs.contains("token="), "the query string is never logged:\n{logs}");

    let line = |needle: &str| {
        logs.lines()
            .find(|line| line.contains(needle) && line.contains("log-user"))
            .unwrap_or_else(|| panic!("no `{needle}` line for log-user:\n{logs}"))
            .to_owned()
    };
    for needle in ["socket connected", "gateway error", "socket disconnected"] {
        let line = line(needle);
        for field in ["namespace=\"user\"", "entity_type=\"User\"", "entity_id=\"log-user\"", "socket_id="] {
            assert!(line.contains(field), "`{needle}` lacks {field}: {line}");
        }
    }
    assert!(line("gateway error").contains("event=\"no.such.event\""));
    assert!(line("socket disconnected").contains("reason=\"client closed"));
    let socket_io_line = logs
        .lines()
        .find(|line| line.contains("socket connected") && line.contains("log-sio-auth"))
        .unwrap_or_else(|| panic!("no `socket connected` line for log-sio-auth:\n{logs}"));
    assert!(socket_io_line.contains("transport=\"socket.io\""), "{socket_io_line}");
    assert!(line("socket connected").contains("transport=\"websocket\""));
    let rejected = logs.lines().filter(|line| line.contains("connection rejected")).collect::<Vec<_>>();
    assert_eq!(rejected.len(), 3, "{logs}");
    assert!(rejected.iter().all(|line| line.contains("code=4401") && line.contains("namespace=\"user\"")));
    assert!(rejected.iter().any(|line| line.contains("reason=\"invalid signature\"")), "{rejected:?}");
    assert!(rejected.iter().any(|line| line.contains("reason=\"token expired\"")), "{rejected:?}");
}
