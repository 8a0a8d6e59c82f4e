//! The module builder: configuration mistakes are refused with errors that say what to do.

use std::sync::Arc;

use venta_ws::ModuleError;
use venta_ws::auth::{AuthError, Authenticator, ConnectRequest, Identity};
use venta_ws::prelude::*;
use venta_ws_examples::{LocationService, UserLocationGateway, VendorGateway};
use venta_ws_tests::{Client, Placement, SECRET, SocketIoClient, SocketIoToken, TestServer};

#[derive(WebSocketGateway)]
#[gateway(namespace = "user", auth = Jwt)]
struct AnotherUserGateway;

#[venta_ws::messages]
impl AnotherUserGateway {}

#[derive(WebSocketGateway)]
#[gateway(namespace = "rider", path = "/user", auth = Jwt)]
struct SamePathGateway;

#[venta_ws::messages]
impl SamePathGateway {}

fn locations() -> Arc<LocationService> {
    Arc::default()
}

#[test]
fn two_gateways_with_one_namespace_or_path_are_refused() {
    let err = WebSocketModule::builder()
        .jwt(JwtConfig::hs256(SECRET))
        .gateway(UserLocationGateway::new(locations()))
        .gateway(AnotherUserGateway)
        .build()
        .expect_err("duplicate namespace");
    assert!(matches!(err, ModuleError::DuplicateNamespace { .. }), "{err:?}");
    assert!(err.to_string().contains("both use namespace `user`"), "{err}");

    let err = WebSocketModule::builder()
        .jwt(JwtConfig::hs256(SECRET))
        .gateway(UserLocationGateway::new(locations()))
        .gateway(SamePathGateway)
        .build()
        .expect_err("duplicate path");
    assert!(err.to_string().contains("both mounted at `/user`"), "{err}");
}

#[test]
fn a_jwt_gateway_without_jwt_configuration_is_refused_with_the_call_to_add() {
    let err = WebSocketModule::builder().gateway(VendorGateway::new(locations())).build().expect_err("no jwt");
    let message = err.to_string();
    assert!(message.contains("VendorGateway") && message.contains(".jwt("), "{message}");
}

#[test]
fn bad_origins_and_limits_are_refused() {
    let err = WebSocketModule::builder()
        .jwt(JwtConfig::hs256(SECRET))
        .allowed_origins(["localhost:3000"])
        .gateway(UserLocationGateway::new(locations()))
        .build()
        .expect_err("origin without scheme");
    assert!(matches!(err, ModuleError::InvalidOrigin { ref origin } if origin == "localhost:3000"), "{err:?}");
    assert!(WebSocketModule::builder().allowed_origins(["https://app.example.com/"]).build().is_ok());

    let err = WebSocketModule::builder().max_message_size(0).build().expect_err("zero limit");
    assert!(matches!(err, ModuleError::InvalidLimit { name: "max_message_size", .. }));
}

/// Accepts `Authorization: Bearer key-<vendor>` only.
struct ApiKey;

impl Authenticator for ApiKey {
    type Claims = String;

    async fn authenticate(&self, request: &ConnectRequest) -> Result<Identity<String>, AuthError> {
        let token = request.token().ok_or(AuthError::MissingToken)?;
        let vendor = token.expose().strip_prefix("key-").ok_or(AuthError::Rejected("unknown key".into()))?;
        Ok(Identity { entity_id: Some(vendor.to_owned()), claims: token.expose().to_owned(), expires_at: None })
    }
}

#[derive(WebSocketGateway)]
#[gateway(namespace = "partner", auth = ApiKey)]
struct PartnerGateway;

#[venta_ws::messages]
impl PartnerGateway {
    #[subscribe("ping")]
    async fn ping(&self, socket: &AuthenticatedSocket<String>, data: serde_json::Value) -> Reply<serde_json::Value> {
        assert!(socket.claims().starts_with("key-"));
        Reply::new("pong", data)
    }
}

#[derive(WebSocketGateway)]
#[gateway(namespace = "public", auth = Anonymous)]
struct PublicGateway;

#[venta_ws::messages]
impl PublicGateway {
    #[subscribe("ping")]
    async fn ping(&self, data: serde_json::Value) -> Reply<serde_json::Value> {
        Reply::new("pong", data)
    }
}

#[tokio::test]
async fn custom_and_anonymous_authenticators_plug_in() {
    let missing = WebSocketModule::builder().gateway(PartnerGateway).build().expect_err("ApiKey not registered");
    assert!(missing.to_string().contains(".auth("), "{missing}");

    let module =
        WebSocketModule::builder().auth(ApiKey).gateway(PartnerGateway).gateway(PublicGateway).build().expect("builds");
    let server = TestServer::start(module).await;
    let mut partner = Client::connect(&server.url("/partner"), Some("key-acme"), Placement::Header).await;
    partner.assert_answers_ping().await;
    server.wait_online("partner", &["acme"]).await;
    let mut refused = Client::connect(&server.url("/partner"), Some("nope"), Placement::Header).await;
    let closed = refused.closed().await;
    assert_eq!((closed.code, closed.reason.as_str()), (Some(4401), "unknown key"));

    let mut anyone = Client::connect(&server.url("/public"), None, Placement::Header).await;
    let mut someone_else = Client::connect(&server.url("/public"), None, Placement::Header).await;
    anyone.assert_answers_ping().await;
    someone_else.assert_answers_ping().await;
    let online = server.hub.namespace("public").expect("ns").online_count().await.expect("count");
    assert_eq!(online, 2, "each anonymous socket is an entity of its own");
}

#[derive(WebSocketGateway)]
#[gateway(namespace = "session", auth = Jwt, credentials = true)]
struct CookieGateway;

#[venta_ws::messages]
impl CookieGateway {}

#[test]
fn a_gateway_that_takes_cookies_is_refused_any_origin() {
    let err = WebSocketModule::builder()
        .jwt(JwtConfig::hs256(SECRET))
        .gateway(CookieGateway)
        .build()
        .expect_err("any origin");
    assert!(matches!(err, ModuleError::AnyOriginWithCredentials { gateway: "CookieGateway" }), "{err:?}");
    let err = WebSocketModule::builder()
        .jwt(JwtConfig::hs256(SECRET))
        .allowed_origins(["*"])
        .gateway(CookieGateway)
        .build()
        .expect_err("a wildcard");
    assert!(err.to_string().contains("credentials = true"), "{err}");
    WebSocketModule::builder()
        .jwt(JwtConfig::hs256(SECRET))
        .allowed_origins(["https://app.example.com"])
        .gateway(CookieGateway)
        .build()
        .expect("listed origins");
}

#[derive(WebSocketGateway)]
#[gateway(namespace = "realtime", path = "/socket.io/realtime", auth = Jwt)]
struct UnderSocketIoPathGateway;

#[venta_ws::messages]
impl UnderSocketIoPathGateway {}

#[test]
fn a_socket_io_path_that_cannot_be_served_is_refused_with_what_to_write() {
    for (path, expected) in [
        ("/", "must start with `/` and name a path other than `/`"),
        ("socket.io", "must start with `/`"),
        ("/rt/{id}", "must be a plain path"),
    ] {
        let err = WebSocketModule::builder()
            .jwt(JwtConfig::hs256(SECRET))
            .gateway(UserLocationGateway::new(locations()))
            .socket_io_path(path)
            .build()
            .expect_err(path);
        assert!(matches!(err, ModuleError::InvalidSocketIoPath { .. }), "{path}: {err:?}");
        assert!(err.to_string().contains(expected), "{path}: {err}");
    }
    let err = WebSocketModule::builder()
        .jwt(JwtConfig::hs256(SECRET))
        .gateway(UnderSocketIoPathGateway)
        .build()
        .expect_err("a gateway under the Socket.IO path");
    assert!(
        err.to_string().contains("gateway `UnderSocketIoPathGateway` is mounted at `/socket.io/realtime`"),
        "{err}"
    );
    // Moving the Socket.IO endpoint away, or turning it off, settles it.
    for builder in [WebSocketModule::builder().socket_io_path("/engine/"), WebSocketModule::builder().socket_io(false)]
    {
        builder.jwt(JwtConfig::hs256(SECRET)).gateway(UnderSocketIoPathGateway).build().expect("builds");
    }
}

#[tokio::test]
async fn socket_io_follows_the_module_path_and_each_gateway_can_turn_it_off() {
    let module = WebSocketModule::builder()
        .jwt(JwtConfig::hs256(SECRET))
        .socket_io_path("/rt")
        .gateway(UserLocationGateway::new(locations()))
        .gateway_with(VendorGateway::new(locations()), |mut config| {
            config.socket_io = false;
            config
        })
        .build()
        .expect("module");
    let server = TestServer::start(module).await;
    let user = venta_ws_tests::token("u1");
    let (_, joined) = SocketIoClient::join(&server, "/rt", "user", SocketIoToken::Auth(&user)).await;
    assert!(joined.starts_with("40/user,{\"sid\":\""), "{joined}");
    let vendor = venta_ws_tests::vendor_token("v1");
    let (_, refused) = SocketIoClient::join(&server, "/rt", "vendor", SocketIoToken::Auth(&vendor)).await;
    assert_eq!(refused, r#"44/vendor,{"message":"Invalid namespace"}"#);
    // The plain WebSocket endpoint of the vendor gateway is untouched.
    let mut vendor = Client::vendor(&server, "/vendor", "v1").await;
    vendor.assert_answers_ping().await;
    server.shutdown().await;
}
