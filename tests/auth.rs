//! Authentication over real sockets: every token placement, every kind of bad token, origins.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use venta_ws::{JwtConfig, WebSocketModule};
use venta_ws_examples::UserLocationGateway;
use venta_ws_tests::{Client, Closed, Placement, SECRET, TestServer, now, sign, token};

#[tokio::test]
async fn a_valid_token_connects_and_gets_pong() {
    let server = TestServer::example().await;
    let mut client = Client::user(&server, "/user", "u1").await;
    client.assert_answers_ping().await;
    server.wait_online("user", &["u1"]).await;
}

#[tokio::test]
async fn the_token_works_from_each_of_the_three_places() {
    let server = TestServer::example().await;
    let mut clients = Vec::new();
    for (placement, sub) in [(Placement::Header, "h"), (Placement::Query, "q"), (Placement::Subprotocol, "p")] {
        let mut client = Client::connect(&server.url("/user"), Some(&token(sub)), placement).await;
        client.assert_answers_ping().await;
        let expected_protocol = (placement == Placement::Subprotocol).then(|| "venta-ws".to_owned());
        assert_eq!(client.protocol, expected_protocol, "{placement:?}: the token is never echoed");
        clients.push(client);
    }
    server.wait_online("user", &["h", "p", "q"]).await;
}

#[tokio::test]
async fn bad_tokens_are_closed_with_4401_and_leave_nothing_in_presence() {
    let server = TestServer::example().await;
    let claims = json!({"sub": "mallory", "exp": now() + 3600});
    let cases = [
        ("missing", None),
        ("malformed", Some("not.a.jwt".to_owned())),
        ("wrongly signed", Some(sign(&claims, "another-secret", Algorithm::HS256))),
        ("expired", Some(sign(&json!({"sub": "mallory", "exp": now() - 120}), SECRET, Algorithm::HS256))),
        ("wrong algorithm", Some(sign(&claims, SECRET, Algorithm::HS512))),
        ("no expiry", Some(sign(&json!({"sub": "mallory"}), SECRET, Algorithm::HS256))),
        ("no subject", Some(sign(&json!({"exp": now() + 3600}), SECRET, Algorithm::HS256))),
        (
            "not yet valid",
            Some(sign(&json!({"sub": "mallory", "exp": now() + 3600, "nbf": now() + 600}), SECRET, Algorithm::HS256)),
        ),
    ];
    for (case, bad) in cases {
        let mut client = Client::connect(&server.url("/user"), bad.as_deref(), Placement::Header).await;
        let closed = client.closed().await;
        assert_eq!(closed.code, Some(4401), "{case}: {closed:?}");
        assert!(!closed.reason.is_empty(), "{case}: the reason says what was wrong");
        assert!(!closed.reason.contains("mallory"), "{case}: the reason leaks nothing of the token");
    }
    let user = server.hub.namespace("user").expect("user namespace");
    assert_eq!(user.online().await.expect("presence"), Vec::<String>::new());
    assert_eq!(user.local_socket_count(), 0);
}

#[tokio::test]
async fn the_close_reason_names_the_problem() {
    let server = TestServer::example().await;
    let expired = sign(&json!({"sub": "u1", "exp": now() - 120}), SECRET, Algorithm::HS256);
    let mut client = Client::connect(&server.url("/user"), Some(&expired), Placement::Query).await;
    assert_eq!(client.closed().await.reason, "token expired");
    let mut client = Client::connect(&server.url("/user"), None, Placement::Header).await;
    assert_eq!(client.closed().await.reason, "missing token");
}

#[tokio::test]
async fn browser_origins_outside_the_allow_list_are_refused_before_the_upgrade() {
    let server = TestServer::example().await;
    let url = server.url("/user");
    let refused = Client::try_connect(&url, Some(&token("u1")), Placement::Header, Some("https://evil.example")).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403),
        Err(other) => panic!("expected HTTP 403, got {other}"),
        Ok(_) => panic!("a foreign origin must not connect"),
    }
    for origin in [Some("http://localhost:3000"), Some("https://app.example.com"), None] {
        let mut client = Client::try_connect(&url, Some(&token("u1")), Placement::Header, origin)
            .await
            .unwrap_or_else(|err| panic!("{origin:?} must connect: {err}"));
        client.assert_answers_ping().await;
    }
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).expect("fixture exists")
}

async fn server_with(jwt: JwtConfig) -> TestServer {
    let module = WebSocketModule::builder()
        .jwt(jwt)
        .gateway(UserLocationGateway::new(std::sync::Arc::default()))
        .build()
        .expect("module builds");
    TestServer::start(module).await
}

#[tokio::test]
async fn asymmetric_keys_verify_their_own_algorithm_only() {
    let claims = json!({"sub": "u1", "exp": now() + 3600});
    for (algorithm, public, private) in [
        (Algorithm::EdDSA, "ed25519-public.pem", "ed25519-private.pem"),
        (Algorithm::RS256, "rsa-public.pem", "rsa-private.pem"),
    ] {
        let server = server_with(JwtConfig::public_key_pem(algorithm, fixture(public)).expect("valid key")).await;
        let key = match algorithm {
            Algorithm::EdDSA => EncodingKey::from_ed_pem(&fixture(private)),
            _ => EncodingKey::from_rsa_pem(&fixture(private)),
        }
        .expect("private key");
        let good = jsonwebtoken::encode(&Header::new(algorithm), &claims, &key).expect("signs");
        let mut client = Client::connect(&server.url("/user"), Some(&good), Placement::Header).await;
        client.assert_answers_ping().await;

        // An HMAC token "signed" with the public key must not pass (algorithm confusion).
        let public_pem = String::from_utf8(fixture(public)).expect("utf-8");
        let confused = sign(&claims, &public_pem, Algorithm::HS256);
        let mut client = Client::connect(&server.url("/user"), Some(&confused), Placement::Header).await;
        assert_eq!(client.closed().await.code, Some(4401), "{algorithm:?}");
    }
}

#[tokio::test]
async fn issuer_and_audience_are_enforced_when_configured() {
    let server = server_with(JwtConfig::hs256(SECRET).issuer("https://auth.venta").audience("location")).await;
    let url = server.url("/user");
    let base = json!({"sub": "u1", "exp": now() + 3600, "iss": "https://auth.venta", "aud": "location"});
    let mut good = Client::connect(&url, Some(&sign(&base, SECRET, Algorithm::HS256)), Placement::Header).await;
    good.assert_answers_ping().await;
    for (field, value) in [("iss", json!("https://other")), ("aud", json!("billing"))] {
        let mut claims = base.clone();
        claims[field] = value;
        let mut client = Client::connect(&url, Some(&sign(&claims, SECRET, Algorithm::HS256)), Placement::Header).await;
        assert_eq!(client.closed().await.code, Some(4401), "wrong {field}");
    }
    for field in ["iss", "aud"] {
        let mut claims = base.clone();
        claims.as_object_mut().expect("object").remove(field);
        let mut client = Client::connect(&url, Some(&sign(&claims, SECRET, Algorithm::HS256)), Placement::Header).await;
        let closed = client.closed().await;
        assert_eq!(closed.code, Some(4401), "no {field}: {closed:?}");
        assert_eq!(closed.reason, format!("missing claim `{field}`"));
    }
    let user = server.hub.namespace("user").expect("user namespace");
    assert_eq!(user.online().await.expect("presence"), vec!["u1".to_owned()], "only the good token is online");
}

#[tokio::test]
async fn an_hmac_secret_shorter_than_its_hash_is_refused_when_the_module_is_built() {
    for (secret, len) in [("", 0), ("secret", 6), ("thirty-one-bytes-is-one-too-few", 31)] {
        let err = WebSocketModule::builder()
            .jwt(JwtConfig::hs256(secret))
            .gateway(UserLocationGateway::new(std::sync::Arc::default()))
            .build()
            .expect_err("a short secret must not build");
        assert_eq!(
            err.to_string(),
            format!(
                "the HS256 secret is {len} bytes; HMAC keys must be at least 32 bytes (RFC 7518 §3.2): \
                 set a longer secret, for example `openssl rand -base64 32`"
            )
        );
    }
    let secret = "exactly-thirty-two-bytes-long-ok";
    assert_eq!(secret.len(), 32);
    let server = server_with(JwtConfig::hs256(secret)).await;
    let good = sign(&json!({"sub": "u1", "exp": now() + 3600}), secret, Algorithm::HS256);
    Client::connect(&server.url("/user"), Some(&good), Placement::Header).await.assert_answers_ping().await;
}

#[test]
fn the_example_refuses_a_short_jwt_secret() {
    let config = venta_ws_examples::Config::from_lookup(|name| (name == "JWT_SECRET").then(|| "changeme".to_owned()))
        .expect("the configuration reads");
    let err =
        venta_ws_examples::module(&config, &std::sync::Arc::default()).expect_err("a short secret must not start");
    assert!(err.to_string().starts_with("the HS256 secret is 8 bytes; HMAC keys must be at least 32 bytes"), "{err}");
}

#[tokio::test]
async fn a_numeric_subject_connects_as_its_decimal_text_and_a_fractional_one_is_refused() {
    let server = TestServer::example().await;
    let numeric = sign(&json!({"sub": 42, "exp": now() + 3600}), SECRET, Algorithm::HS256);
    let mut client = Client::connect(&server.url("/user"), Some(&numeric), Placement::Header).await;
    client.assert_answers_ping().await;
    server.wait_online("user", &["42"]).await;

    let fractional = sign(&json!({"sub": 42.5, "exp": now() + 3600}), SECRET, Algorithm::HS256);
    let mut refused = Client::connect(&server.url("/user"), Some(&fractional), Placement::Header).await;
    let closed = refused.closed().await;
    assert_eq!(closed.code, Some(4401), "{closed:?}");
    assert_eq!(closed.reason, "invalid claim `sub`: must be a string or an integer");
    server.wait_online("user", &["42"]).await;
}

#[tokio::test]
async fn a_token_inside_the_leeway_stays_connected_until_exp_plus_the_leeway() {
    // The example allows the default 5 s of leeway: a token 2 s past its `exp` is accepted,
    // and must then be held to `exp + 5`, not closed as expired at once.
    let server = TestServer::example().await;
    let exp = now() - 2;
    let late = sign(&json!({"sub": "late", "exp": exp}), SECRET, Algorithm::HS256);
    let mut client = Client::connect(&server.url("/user"), Some(&late), Placement::Header).await;
    let warning = client.recv().await;
    assert_eq!(warning, json!({"event": "auth.expiring", "data": {"expiresAt": exp + 5}}));
    client.assert_answers_ping().await;
    server.wait_online("user", &["late"]).await;
    client.read_until(tokio::time::Instant::now() + std::time::Duration::from_millis(1000)).await;
    let closed = client.closed().await;
    assert_eq!((closed.code, closed.reason.as_str()), (Some(4408), "token expired"));
    assert!(now() >= exp + 5, "closed at the deadline, not before");
}

#[tokio::test]
async fn a_token_whose_header_lists_critical_extensions_is_closed_with_4401() {
    let server = TestServer::example().await;
    let mut header = Header::new(Algorithm::HS256);
    header.crit = Some(vec!["b64".to_owned()]);
    header.extras.insert("b64", false);
    let claims = json!({"sub": "crit", "exp": now() + 3600});
    let token = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(SECRET.as_bytes())).expect("signs");
    let mut client = Client::connect(&server.url("/user"), Some(&token), Placement::Header).await;
    let closed = client.closed().await;
    assert_eq!(closed.code, Some(4401), "{closed:?}");
    assert_eq!(closed.reason, "token header lists critical extensions (`crit`), which this server does not support");
    server.wait_online("user", &[]).await;
}

#[tokio::test]
async fn a_bearer_header_is_the_token_whereas_another_scheme_falls_through_to_the_next_place() {
    let server = TestServer::example().await;
    let url = server.url("/user");
    let basic = ("authorization", "Basic dXNlcjpwYXNzd29yZA==".to_owned());
    let subprotocol = |token: &str| ("sec-websocket-protocol", format!("venta-ws, bearer.{token}"));

    // `Basic` (or a `Bearer` with nothing after it) is no token: the next place is tried.
    let mut from_query =
        Client::connect_with_headers(&format!("{url}?token={}", token("q")), std::slice::from_ref(&basic)).await;
    from_query.assert_answers_ping().await;
    let mut from_protocol = Client::connect_with_headers(&url, &[basic, subprotocol(&token("p"))]).await;
    from_protocol.assert_answers_ping().await;
    assert_eq!(from_protocol.protocol.as_deref(), Some("venta-ws"));
    let empty_bearer = ("authorization", "Bearer ".to_owned());
    let mut after_empty = Client::connect_with_headers(&format!("{url}?token={}", token("e")), &[empty_bearer]).await;
    after_empty.assert_answers_ping().await;
    // The scheme is case-insensitive.
    let lower = ("authorization", format!("bearer {}", token("l")));
    Client::connect_with_headers(&url, &[lower]).await.assert_answers_ping().await;
    server.wait_online("user", &["e", "p", "q"]).await;

    // A `Bearer` token is the one verified, even when it is bad and a good one waits in the
    // subprotocol or the query string; likewise a bad subprotocol token hides the query's.
    let bad_bearer = ("authorization", "Bearer not.a.jwt".to_owned());
    let both = format!("{url}?token={}", token("q2"));
    let mut refused = Client::connect_with_headers(&both, &[bad_bearer, subprotocol(&token("p2"))]).await;
    assert_eq!(refused.closed().await, Closed { code: Some(4401), reason: "malformed token".to_owned() });
    let mut refused = Client::connect_with_headers(&both, &[subprotocol("not.a.jwt")]).await;
    assert_eq!(refused.closed().await, Closed { code: Some(4401), reason: "malformed token".to_owned() });
    server.wait_online("user", &["e", "p", "q"]).await;
}

#[test]
fn a_private_key_given_for_the_public_one_is_refused_with_the_command_that_derives_it() {
    for (algorithm, private) in [(Algorithm::RS256, "rsa-private.pem"), (Algorithm::EdDSA, "ed25519-private.pem")] {
        let err = JwtConfig::public_key_pem(algorithm, fixture(private)).expect_err("a private key");
        assert_eq!(
            err.to_string(),
            format!(
                "the {algorithm:?} key is a private key; give its public key instead \
                 (`openssl pkey -in private.pem -pubout -out public.pem`)"
            ),
            "{private}"
        );
    }
}
