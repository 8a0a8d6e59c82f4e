//! What is emitted next to errors, so one mistake is reported once and not as a cascade of
//! "trait not implemented" errors in every place the gateway is used.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{DeriveInput, ItemImpl};

/// An impl of `WebSocketGateway` that satisfies every use of the type. It keeps the user's
/// `auth` type when that parsed, so hooks and handlers taking `&AuthenticatedSocket<..>` of it
/// still type-check.
pub(crate) fn gateway_stub(input: &DeriveInput, krate: &syn::Path, auth: Option<&syn::Type>) -> TokenStream {
    let ident = &input.ident;
    let (auth, claims) = match auth {
        Some(auth) => (quote!(#auth), crate::expand::claims_type(auth, krate)),
        None => (quote!(#krate::Anonymous), quote!(())),
    };
    let generics = crate::expand::bounded_generics(&input.generics);
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    let type_name = ident.to_string();
    quote! {
        #[automatically_derived]
        impl #impl_generics #krate::WebSocketGateway for #ident #ty_generics #where_clause {
            type Auth = #auth;
            type Claims = #claims;
            const DESCRIPTOR: #krate::GatewayDescriptor = #krate::GatewayDescriptor {
                type_name: #type_name,
                namespace: "",
                path: "/",
                entity_type: "",
                origins: ::core::option::Option::None,
                credentials: false,
            };
        }
    }
}

/// The user's impl block unchanged, plus an impl of `GatewayHandlers` that handles nothing.
pub(crate) fn handlers_stub(item: &ItemImpl, krate: &syn::Path) -> TokenStream {
    let self_ty = &item.self_ty;
    let (impl_generics, _, where_clause) = item.generics.split_for_impl();
    quote! {
        #item
        #[automatically_derived]
        impl #impl_generics #krate::GatewayHandlers for #self_ty #where_clause {
            const EVENTS: &'static [&'static str] = &[];
            fn dispatch<'__venta>(
                &'__venta self,
                _: &'__venta #krate::SocketOf<Self>,
                _: &'__venta #krate::__private::Request<'__venta>,
            ) -> impl ::core::future::Future<Output = #krate::__private::Dispatch> + ::core::marker::Send + '__venta {
                async { #krate::__private::Dispatch::UnknownEvent }
            }
        }
    }
}
