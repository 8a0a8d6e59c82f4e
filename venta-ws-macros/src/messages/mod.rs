//! `#[messages]`: reads a gateway's `impl` block and implements `GatewayHandlers`: one match
//! arm per `#[subscribe("event")]` method, and a delegating method per lifecycle hook.
//!
//! Staged like the derive: `check.rs` reads the block and checks every method, accumulating
//! errors, into a [`check::Block`]; `expand.rs` turns that into the impl and cannot fail; on an
//! error the crate's `fallback.rs` emits a stub impl beside the errors. `hooks.rs` is the one
//! table of the hooks a block may override.

mod check;
mod expand;
mod hooks;

use proc_macro2::TokenStream;
use syn::ItemImpl;

use crate::ctxt::Ctxt;
use crate::fallback;

pub(crate) fn expand(args: TokenStream, mut item: ItemImpl) -> TokenStream {
    let mut cx = Ctxt::default();
    let krate = check::parse_args(args, &mut cx);
    let block = check::check(&mut item, &mut cx);
    if cx.has_errors() {
        let mut tokens = fallback::handlers_stub(&item, &krate);
        tokens.extend(cx.into_compile_errors());
        return tokens;
    }
    expand::handlers_impl(&item, &krate, &block)
}
