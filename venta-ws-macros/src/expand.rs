//! Turns a checked configuration into the trait impl; cannot fail.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{DeriveInput, GenericParam, parse_quote};

use crate::ctxt::Ctxt;
use crate::valid::Config;
use crate::{attr, fallback, valid};

/// The whole derive: parse, check, then expand, or emit the errors with a stub impl.
pub(crate) fn derive(input: &DeriveInput) -> TokenStream {
    let mut cx = Ctxt::default();
    let attr = attr::parse(&input.attrs, &mut cx);
    let config = valid::check(input, attr, &mut cx);
    match config {
        Some(config) if !cx.has_errors() => gateway_impl(&config),
        _ => {
            let mut tokens = fallback::gateway_stub(input);
            tokens.extend(cx.into_compile_errors());
            tokens
        }
    }
}

fn gateway_impl(config: &Config) -> TokenStream {
    let Config { ident, namespace, path, entity, auth, krate, .. } = config;
    let mut generics = config.generics.clone();
    let type_params: Vec<_> = generics
        .params
        .iter()
        .filter_map(|param| match param {
            GenericParam::Type(param) => Some(param.ident.clone()),
            _ => None,
        })
        .collect();
    let where_clause = generics.make_where_clause();
    for param in type_params {
        where_clause.predicates.push(parse_quote!(#param: ::core::marker::Send + ::core::marker::Sync + 'static));
    }
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    let type_name = ident.to_string();
    let origins = match &config.origins {
        Some(origins) => quote!(::core::option::Option::Some(&[#(#origins),*])),
        None => quote!(::core::option::Option::None),
    };
    // Spanned on the user's type, so a type that does not authenticate is reported there.
    let auth_type = quote_spanned!(auth.span()=> type Auth = #auth;);
    quote! {
        #[automatically_derived]
        impl #impl_generics #krate::WebSocketGateway for #ident #ty_generics #where_clause {
            #auth_type
            const DESCRIPTOR: #krate::GatewayDescriptor = #krate::GatewayDescriptor {
                type_name: #type_name,
                namespace: #namespace,
                path: #path,
                entity_type: #entity,
                origins: #origins,
            };
        }
    }
}
