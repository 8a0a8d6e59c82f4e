//! Turns a checked `#[messages]` block into the `GatewayHandlers` impl; cannot fail.

use proc_macro2::TokenStream;
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Expr, Ident, ItemImpl, Path};

use super::check::{Block, Handler, Override};
use super::hooks::Hook;
use crate::expand::respan;

pub(super) fn handlers_impl(item: &ItemImpl, krate: &Path, block: &Block) -> TokenStream {
    let self_ty = &item.self_ty;
    let (impl_generics, _, where_clause) = item.generics.split_for_impl();
    let events = block.handlers.iter().map(|handler| &handler.event);
    let arms = block.handlers.iter().map(|handler| dispatch_arm(krate, handler, &block.guards));
    let reads_text = block.overrides(Hook::OnText).then(|| {
        quote!(
            const READS_TEXT: bool = true;
        )
    });
    let validates_connection = (!block.overrides(Hook::ValidateConnection)).then(|| {
        quote!(
            const VALIDATES_CONNECTION: bool = false;
        )
    });
    let hooks = block.overrides.iter().map(|found| delegate(krate, found));
    quote! {
        #item

        #[automatically_derived]
        impl #impl_generics #krate::GatewayHandlers for #self_ty #where_clause {
            const EVENTS: &'static [&'static str] = &[#(#events),*];
            #reads_text
            #validates_connection

            fn dispatch<'__venta>(
                &'__venta self,
                __socket: &'__venta #krate::SocketOf<Self>,
                __request: &'__venta #krate::__private::Request<'__venta>,
            ) -> impl ::core::future::Future<Output = #krate::__private::Dispatch> + ::core::marker::Send + '__venta {
                async move {
                    match __request.event() {
                        #(#arms)*
                        _ => #krate::__private::Dispatch::UnknownEvent,
                    }
                }
            }

            #(#hooks)*
        }
    }
}

/// The trait method delegating to the user's method of the same name.
fn delegate(krate: &Path, found: &Override) -> TokenStream {
    let hook = found.hook;
    let name = format_ident!("{}", hook.name(), span = found.ident.span());
    let params = hook.params(krate);
    let returns = hook.returns(krate);
    // Each argument is spanned on the user's parameter, so a type that does not match the
    // gateway's (`Identity<OtherClaims>`) is reported there.
    let args = hook.arg_names().zip(&found.param_spans).map(|(arg, span)| Ident::new(arg, *span));
    // A fallible hook's future goes through a check spanned on the user's return type, so an
    // error type `GatewayError` does not convert from is reported there; its error may be any
    // type it converts from.
    let call = quote_spanned!(found.ident.span()=> Self::#name(self, #(#args),*));
    let call = if hook.is_fallible() {
        let krate = respan(krate.to_token_stream(), found.output_span);
        let result = quote_spanned!(found.output_span=> #krate::__private::hook_result(__hook.await));
        quote! {
            let __hook = #call;
            async move { #result }
        }
    } else {
        call
    };
    quote! {
        fn #name<'__venta>(&'__venta self, #params) #returns {
            #call
        }
    }
}

fn dispatch_arm(krate: &Path, handler: &Handler, block_guards: &[Expr]) -> TokenStream {
    let Handler { event, ident, socket, payload, reply_span, guards } = handler;
    let mut args = Vec::new();
    // The calls that check the user's types are spanned on those types, paths included, so
    // a payload that is not `Deserialize`, a socket of another claims type or a reply that is
    // not `IntoReply` is reported there.
    if let Some(ty) = socket {
        let krate = respan(krate.to_token_stream(), ty.span());
        args.push(quote_spanned!(ty.span()=> #krate::__private::socket::<#ty, #krate::ClaimsOf<Self>>(__socket)));
    }
    let decode = payload.as_ref().map(|ty| {
        args.push(quote!(__payload));
        let krate = respan(krate.to_token_stream(), ty.span());
        quote_spanned! {ty.span()=>
            let __payload: #ty = match <#ty as #krate::__private::Payload>::decode(__request) {
                ::core::result::Result::Ok(payload) => payload,
                ::core::result::Result::Err(error) => {
                    return #krate::__private::Dispatch::Handled(::core::result::Result::Err(error));
                }
            };
        }
    });
    let guards: Vec<&Expr> = block_guards.iter().chain(guards).collect();
    let guarded = (!guards.is_empty()).then(|| {
        // What guards see: the payload (the value inside a `Valid`), or `()` without one.
        let (seen, seen_ty) = match payload {
            Some(ty) => {
                let krate = respan(krate.to_token_stream(), ty.span());
                (
                    quote_spanned!(ty.span()=> <#ty as #krate::__private::Payload>::guarded(&__payload)),
                    quote!(<#ty as #krate::__private::Payload>::Guarded),
                )
            }
            None => (quote!(&()), quote!(())),
        };
        let checks = guards.iter().map(|guard| {
            let krate = respan(krate.to_token_stream(), guard.span());
            quote_spanned! {guard.span()=>
                if let ::core::result::Result::Err(error) = #krate::__private::guard::<#krate::ClaimsOf<Self>, #seen_ty, _>(
                    &(#guard), __socket, __request.event(), __guarded,
                ).await
                {
                    return #krate::__private::Dispatch::Handled(::core::result::Result::Err(error));
                }
            }
        });
        quote! {
            let __guarded = #seen;
            #(#checks)*
        }
    });
    let call = quote_spanned!(ident.span()=> Self::#ident(self, #(#args),*).await);
    let reply_krate = respan(krate.to_token_stream(), *reply_span);
    let reply = quote_spanned!(*reply_span=> #reply_krate::__private::reply(__reply, __request));
    quote! {
        #event => {
            #decode
            #guarded
            let __reply = #call;
            #reply
        }
    }
}
