//! Procedural macros of [venta-ws](https://docs.rs/venta-ws): `#[derive(WebSocketGateway)]`
//! and `#[messages]`. Depend on `venta-ws`, which re-exports them; this crate's version is
//! pinned exactly by it.

mod attr;
mod ctxt;
mod expand;
#[cfg(test)]
mod expansion_tests;
mod fallback;
mod messages;
mod rules;
mod valid;

use proc_macro::TokenStream;
use syn::{DeriveInput, ItemImpl, parse_macro_input};

/// Implements `venta_ws::WebSocketGateway` from `#[gateway(...)]`; documented in `venta-ws`.
#[proc_macro_derive(WebSocketGateway, attributes(gateway))]
pub fn derive_websocket_gateway(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::derive(&input).into()
}

/// Implements `venta_ws::GatewayHandlers` from an `impl` block; documented in `venta-ws`.
#[proc_macro_attribute]
pub fn messages(args: TokenStream, input: TokenStream) -> TokenStream {
    let item = parse_macro_input!(input as ItemImpl);
    messages::expand(args.into(), item).into()
}
