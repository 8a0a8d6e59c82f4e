//! The macros' user interface: every mistake in `tests/ui/<category>/` must fail to compile
//! with exactly the error in its `.stderr`, and every form in `tests/ui/pass/` must compile
//! and run. Regenerate the `.stderr` files with `TRYBUILD=overwrite cargo test -p
//! venta-ws-tests --test ui`, then read the diff.

/// Compiler messages change between releases, so the expected output is pinned to the
/// toolchain it was written with; any other compiler skips the suite instead of failing it.
#[rustversion::attr(not(stable(1.95)), ignore = "the .stderr files are written for stable 1.95")]
#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("ui/pass/*.rs");
    for category in
        ["attr", "namespace", "path", "auth", "origins", "shape", "handlers", "hooks", "guards", "events", "cascade"]
    {
        cases.compile_fail(format!("ui/{category}/*.rs"));
    }
}

/// Names the generated code must not pick up from the user's scope: each is bound here to
/// something else, and every warning is an error.
#[deny(warnings)]
mod hygiene {
    use ::venta_ws::prelude::{Ack, AuthenticatedSocket, DisconnectReason, GatewayError, Jwt, Reply};
    use ::venta_ws::{WebSocketGateway, messages};
    use serde::Deserialize;

    pub(crate) struct Result;
    pub(crate) struct Ok;
    pub(crate) struct Err;
    pub(crate) struct Option;
    pub(crate) struct Some;
    pub(crate) struct String;
    pub(crate) struct Vec;
    pub(crate) struct Box;
    pub(crate) struct Send;
    pub(crate) struct Sync;
    pub(crate) struct Future;
    // Relative paths to these would land here; the generated code must use absolute ones.
    mod core {}
    mod std {}
    mod venta_ws {}

    /// Uses every shadowing name, so none of them is dead code.
    pub(crate) fn shadows() -> (Result, Ok, Err, Option, Some, String, Vec, Box, Send, Sync, Future) {
        (Result, Ok, Err, Option, Some, String, Vec, Box, Send, Sync, Future)
    }

    #[derive(Deserialize)]
    pub(crate) struct Location {
        lat: f64,
        lng: f64,
    }

    #[derive(WebSocketGateway)]
    #[gateway(namespace = "hygiene", auth = Jwt, origins = ["https://app.example.com"], credentials = true)]
    pub(crate) struct HygieneGateway<T: 'static + ::core::marker::Send + ::core::marker::Sync> {
        pub(crate) state: T,
    }

    #[messages]
    impl<T: 'static + ::core::marker::Send + ::core::marker::Sync> HygieneGateway<T> {
        async fn on_connect(&self, socket: &AuthenticatedSocket) -> ::core::result::Result<(), GatewayError> {
            socket.join("riders");
            ::core::result::Result::Ok(())
        }

        async fn on_disconnect(&self, socket: &AuthenticatedSocket, reason: &DisconnectReason) {
            let _ = (socket.entity_id(), reason);
        }

        fn get_entity_id(
            &self,
            identity: &::venta_ws::auth::Identity<::venta_ws::StandardClaims>,
        ) -> ::core::option::Option<::std::string::String> {
            identity.entity_id.clone()
        }

        #[subscribe("location.update")]
        async fn update(
            &self,
            socket: &AuthenticatedSocket,
            location: Location,
        ) -> ::core::result::Result<Ack<f64>, GatewayError> {
            let _ = (&self.state, socket.id());
            ::core::result::Result::Ok(Ack(location.lat + location.lng))
        }

        #[subscribe("ping")]
        async fn ping(&self, data: ::std::vec::Vec<u8>) -> Reply<::std::vec::Vec<u8>> {
            Reply::new("pong", data)
        }

        #[subscribe("nothing")]
        async fn nothing(&self) {}
    }
}

/// What the macros generate passes clippy's pedantic lints: CI runs clippy with `-D warnings`
/// on this file.
#[deny(clippy::all, clippy::pedantic)]
mod lints {
    use serde::{Deserialize, Serialize};
    use venta_ws::prelude::*;

    #[derive(Deserialize, Serialize)]
    pub(crate) struct Location {
        lat: f64,
        lng: f64,
    }

    #[derive(WebSocketGateway)]
    #[gateway(namespace = "lints", auth = Jwt, entity = "Rider", path = "/ws/lints", origins = ["http://localhost:3000"])]
    pub(crate) struct LintedGateway;

    #[venta_ws::messages]
    impl LintedGateway {
        fn get_entity_id(&self, identity: &Identity<StandardClaims>) -> Option<String> {
            identity.entity_id.clone()
        }

        async fn validate_connection(
            &self,
            _request: &ConnectRequest,
            _identity: &Identity<StandardClaims>,
        ) -> Result<(), GatewayError> {
            Ok(())
        }

        fn log_connection_success(&self, socket: &AuthenticatedSocket) {
            venta_ws::logging::connection_success(socket);
        }

        #[subscribe("location.update")]
        async fn update(&self, location: Location) -> Ack<Location> {
            Ack(location)
        }

        #[subscribe("maybe")]
        async fn maybe(&self, socket: &AuthenticatedSocket, count: Option<u32>) -> Result<Reply<u32>, GatewayError> {
            let _ = socket.id();
            count.map(|count| Reply::new("counted", count)).ok_or_else(|| GatewayError::bad_request("send a count"))
        }
    }

    #[derive(WebSocketGateway)]
    #[gateway(namespace = "lints/empty", auth = Anonymous)]
    pub(crate) struct EmptyGateway;

    #[venta_ws::messages]
    impl EmptyGateway {}
}

/// `crate = "..."` on both macros, for applications that reach venta-ws through a re-export.
mod reexported {
    mod my_app {
        pub(crate) mod ws {
            pub(crate) use venta_ws::*;
        }
    }

    use my_app::ws;

    #[derive(ws::WebSocketGateway)]
    #[gateway(namespace = "reexported", auth = ws::Anonymous, crate = "my_app::ws")]
    pub(crate) struct ReexportedGateway;

    #[ws::messages(crate = "my_app::ws")]
    impl ReexportedGateway {
        #[subscribe("ping")]
        async fn ping(&self, data: serde_json::Value) -> ws::Reply<serde_json::Value> {
            ws::Reply::new("pong", data)
        }
    }
}

#[test]
fn generated_code_is_hygienic_lint_free_and_follows_crate_overrides() {
    use venta_ws::{GatewayHandlers, WebSocketGateway, WebSocketModule};

    let _ = hygiene::shadows();
    const { assert!(hygiene::HygieneGateway::<u8>::DESCRIPTOR.credentials) };
    assert_eq!(hygiene::HygieneGateway::<u8>::EVENTS, ["location.update", "ping", "nothing"]);
    assert_eq!(lints::LintedGateway::DESCRIPTOR.path, "/ws/lints");
    assert_eq!(reexported::ReexportedGateway::DESCRIPTOR.namespace, "reexported");
    assert_eq!(reexported::ReexportedGateway::EVENTS, ["ping"]);
    let module = WebSocketModule::builder()
        .jwt(venta_ws::JwtConfig::hs256("a test secret of 32 bytes or more"))
        .gateway(hygiene::HygieneGateway { state: 1_u8 })
        .gateway(lints::LintedGateway)
        .gateway(lints::EmptyGateway)
        .gateway(reexported::ReexportedGateway)
        .build()
        .expect("every gateway mounts");
    let namespaces: std::vec::Vec<_> = ["hygiene", "lints", "lints/empty", "reexported"]
        .into_iter()
        .filter(|name| module.hub().namespace(name).is_some())
        .collect();
    assert_eq!(namespaces.len(), 4);
}
