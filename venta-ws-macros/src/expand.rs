//! Turns a checked configuration into the trait impl; cannot fail.

use proc_macro2::{Group, Span, TokenStream, TokenTree};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{DeriveInput, Generics, parse_quote};

use crate::ctxt::Ctxt;
use crate::valid::Config;
use crate::{attr, fallback, valid};

/// The whole derive: parse, check, then expand, or emit the errors with a stub impl.
pub(crate) fn derive(input: &DeriveInput) -> TokenStream {
    let mut cx = Ctxt::default();
    let attr = attr::parse(&input.attrs, &mut cx);
    let config = valid::check(input, &attr, &mut cx);
    match config {
        Some(config) if !cx.has_errors() => gateway_impl(&config),
        _ => {
            // A `crate` that does not parse is reported already; the stub then falls back.
            let krate = valid::crate_path(&attr).unwrap_or_else(|_| parse_quote!(::venta_ws));
            let auth = attr.auth.as_ref().map(|(_, auth)| auth);
            let mut tokens = fallback::gateway_stub(input, &krate, auth);
            tokens.extend(cx.into_compile_errors());
            tokens
        }
    }
}

fn gateway_impl(config: &Config) -> TokenStream {
    let Config { ident, namespace, path, entity, auth, credentials, krate, .. } = config;
    let generics = bounded_generics(&config.generics);
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    let type_name = ident.to_string();
    let origins = match &config.origins {
        Some(origins) => quote!(::core::option::Option::Some(&[#(#origins),*])),
        None => quote!(::core::option::Option::None),
    };
    // Spanned on the user's type, so a type that does not authenticate is reported there.
    let claims = claims_type(auth, krate);
    let auth_type = quote_spanned!(auth.span()=>
        type Auth = #auth;
        type Claims = #claims;
    );
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
                credentials: #credentials,
            };
        }
    }
}

/// The claims type of `auth`: `C` of `Jwt<C>` as written, so that a claims type that is not
/// `Deserialize` is reported once, at `auth`, and not again wherever the claims are named;
/// the authenticator's own `Claims` otherwise. `WebSocketGateway` checks that they agree.
pub(crate) fn claims_type(auth: &syn::Type, krate: &syn::Path) -> TokenStream {
    if let syn::Type::Path(path) = auth
        && path.qself.is_none()
        && let Some(last) = path.path.segments.last()
        && last.ident == "Jwt"
        && let syn::PathArguments::AngleBracketed(args) = &last.arguments
        && let [syn::GenericArgument::Type(claims)] = args.args.iter().collect::<Vec<_>>()[..]
    {
        return quote!(#claims);
    }
    // Spanned on the user's type, like `type Auth`, so a type that does not authenticate is
    // reported once there.
    let krate = respan(krate.to_token_stream(), auth.span());
    quote_spanned!(auth.span()=> <#auth as #krate::auth::Authenticator>::Claims)
}

/// The gateway's generics, with every parameter bounded as `WebSocketGateway` requires of
/// `Self` (`Send + Sync + 'static`), so a generic gateway needs no bounds of its own. Lifetimes
/// are refused by `valid`; bounding them too lets the stub emitted with that error compile.
pub(crate) fn bounded_generics(generics: &Generics) -> Generics {
    let mut generics = generics.clone();
    let type_params: Vec<_> = generics.type_params().map(|param| param.ident.clone()).collect();
    let lifetimes: Vec<_> = generics.lifetimes().map(|param| param.lifetime.clone()).collect();
    let where_clause = generics.make_where_clause();
    for param in type_params {
        where_clause.predicates.push(parse_quote!(#param: ::core::marker::Send + ::core::marker::Sync + 'static));
    }
    for lifetime in lifetimes {
        where_clause.predicates.push(parse_quote!(#lifetime: 'static));
    }
    generics
}

/// `tokens` with every token at `span`, so rustc reports an error in them at the user's code.
pub(crate) fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tree| {
            if let TokenTree::Group(group) = &tree {
                let mut respanned = Group::new(group.delimiter(), respan(group.stream(), span));
                respanned.set_span(span);
                tree = TokenTree::Group(respanned);
            } else {
                tree.set_span(span);
            }
            tree
        })
        .collect()
}
