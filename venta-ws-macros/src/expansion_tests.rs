//! Snapshots of what the macros generate for representative gateways, pretty-printed as
//! `cargo expand` prints them. Review a change with `cargo insta review` (or
//! `INSTA_UPDATE=always cargo test -p venta-ws-macros` and `git diff`).

use proc_macro2::TokenStream;
use syn::{DeriveInput, ItemImpl, parse_quote};

use crate::ctxt::written;
use crate::{expand, messages};

/// Both macros on a gateway, in the order rustc expands them; `args` are `#[messages]`'s.
fn expand_gateway(derive: DeriveInput, args: TokenStream, handlers: ItemImpl) -> syn::File {
    let mut tokens = expand::derive(&derive);
    tokens.extend(messages::expand(args, handlers));
    parse(tokens)
}

fn parse(tokens: TokenStream) -> syn::File {
    syn::parse2(tokens).expect("the expansion is valid Rust")
}

fn pretty(tokens: TokenStream) -> String {
    prettyplease::unparse(&parse(tokens))
}

/// The seed's gateway as the main example declares it, so that the snapshot and docs/generated-code.md
/// show what users run.
fn user_location_gateway() -> (DeriveInput, ItemImpl) {
    let example: syn::File =
        syn::parse_str(include_str!("../../examples/src/lib.rs")).expect("the example is valid Rust");
    let mut derive = None;
    let mut handlers = None;
    for item in example.items {
        match item {
            syn::Item::Struct(item) if item.ident == "UserLocationGateway" => derive = Some(DeriveInput::from(item)),
            syn::Item::Impl(mut item)
                if is_messages_block(&item) && written(&item.self_ty) == "UserLocationGateway" =>
            {
                // rustc hands the attribute macro its item without the attribute itself.
                item.attrs.retain(|attr| !is_messages(attr));
                handlers = Some(item);
            }
            _ => {}
        }
    }
    (
        derive.expect("examples/src/lib.rs declares UserLocationGateway"),
        handlers.expect("examples/src/lib.rs has a #[messages] block for UserLocationGateway"),
    )
}

fn is_messages_block(item: &ItemImpl) -> bool {
    item.attrs.iter().any(is_messages)
}

/// `#[messages]`, `#[venta_ws::messages]`, ...
fn is_messages(attr: &syn::Attribute) -> bool {
    attr.path().segments.last().is_some_and(|last| last.ident == "messages")
}

#[test]
fn user_location_gateway_expansion() {
    let (derive, handlers) = user_location_gateway();
    insta::assert_snapshot!(prettyplease::unparse(&expand_gateway(derive, TokenStream::new(), handlers)));
}

/// venta-ws/docs/generated-code.md shows the generated impls of the seed's gateway (without the user's own impl
/// block, which comes out unchanged but for its `#[subscribe]` attributes): they must be the
/// ones the snapshot above holds.
#[test]
fn readme_shows_the_user_location_gateway_expansion() {
    let (derive, handlers) = user_location_gateway();
    let mut file = expand_gateway(derive, TokenStream::new(), handlers);
    file.items.retain(|item| matches!(item, syn::Item::Impl(item) if item.trait_.is_some()));
    let generated = prettyplease::unparse(&file);
    let page = include_str!("../../venta-ws/docs/generated-code.md");
    assert!(
        page.contains(&generated),
        "venta-ws/docs/generated-code.md is out of date; replace its code block with:\n{generated}"
    );
}

#[test]
fn every_gateway_key_and_generics() {
    let derive = parse_quote! {
        #[gateway(
            namespace = "api/rider",
            auth = Jwt<RiderClaims>,
            entity = "Rider",
            path = "/ws/riders",
            origins = ["https://App.example.com/", "http://localhost:3000"],
            credentials = true,
        )]
        struct RiderGateway<S: LocationStore, const LIMIT: usize> where S: Clone {
            store: S,
        }
    };
    insta::assert_snapshot!(pretty(expand::derive(&derive)));
}

#[test]
fn every_hook_with_custom_claims() {
    let handlers = parse_quote! {
        impl RiderGateway {
            fn get_entity_id(&self, identity: &Identity<RiderClaims>) -> Option<String> {
                Some(identity.claims.rider_id.clone())
            }
            async fn validate_connection(&self, request: &ConnectRequest, identity: &Identity<RiderClaims>) -> Result<(), GatewayError> {
                Ok(())
            }
            async fn on_connect(&self, socket: &AuthenticatedSocket<RiderClaims>) -> Result<(), GatewayError> {
                Ok(())
            }
            async fn on_disconnect(&self, socket: &AuthenticatedSocket<RiderClaims>, reason: &DisconnectReason) {}
            fn handle_connection_error(&self, socket: &AuthenticatedSocket<RiderClaims>, operation: Operation<'_>, error: &GatewayError) {}
            fn log_connection_success(&self, socket: &AuthenticatedSocket<RiderClaims>) {}
            fn log_disconnection_success(&self, socket: &AuthenticatedSocket<RiderClaims>, reason: &DisconnectReason) {}
            fn helper(&self) -> u8 {
                1
            }
        }
    };
    insta::assert_snapshot!(pretty(messages::expand(TokenStream::new(), handlers)));
}

#[test]
fn crate_override_on_both_macros() {
    let derive = parse_quote! {
        #[gateway(namespace = "user", auth = ws::Jwt, crate = "my_app::ws")]
        struct UserGateway;
    };
    let handlers = parse_quote! {
        impl UserGateway {
            #[subscribe("ping")]
            async fn ping(&self, data: Value) -> Reply<Value> {
                Reply::new("pong", data)
            }
        }
    };
    let expanded = prettyplease::unparse(&expand_gateway(derive, quote::quote!(crate = "my_app::ws"), handlers));
    assert!(!expanded.contains("venta_ws"), "a path escaped the override:\n{expanded}");
    insta::assert_snapshot!(expanded);
}

/// After a mistake: the errors, and a stub that keeps the gateway usable, with the user's
/// `auth` and `crate` so that its hooks and handlers still type-check.
#[test]
fn derive_error_emits_the_errors_and_a_stub() {
    let derive = parse_quote! {
        #[gateway(namespace = "User", auth = Jwt<RiderClaims>, crate = "my_app::ws", colour = "blue")]
        struct RiderGateway<S>(S);
    };
    insta::assert_snapshot!(pretty(expand::derive(&derive)));
}

#[test]
fn handler_error_emits_the_errors_and_a_stub() {
    let handlers = parse_quote! {
        impl UserGateway {
            async fn on_connect(&self, socket: &AuthenticatedSocket) -> Result<(), GatewayError> {
                Ok(())
            }

            #[subscribe("ping")]
            fn ping(&self, data: Value) -> Reply<Value> {
                Reply::new("pong", data)
            }
        }
    };
    insta::assert_snapshot!(pretty(messages::expand(TokenStream::new(), handlers)));
}
