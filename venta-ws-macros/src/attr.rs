//! Parses the `#[gateway(...)]` grammar, keeping each key's token for spans.
//!
//! Parsing never stops at a bad entry: the entry is reported, skipped up to the next comma,
//! and the rest is read, so one compile lists every mistake of the attribute.

use proc_macro2::{TokenStream, TokenTree};
use syn::ext::IdentExt;
use syn::parse::ParseStream;
use syn::{Attribute, Ident, LitBool, LitStr, Meta, Token, Type, bracketed};

use crate::ctxt::{Ctxt, closest, written};

/// Every key `#[gateway(...)]` accepts, in the order the docs list them.
pub(crate) const KEYS: &[&str] = &["namespace", "auth", "entity", "path", "origins", "credentials", "crate"];

/// The attribute as written: each key with the token that named it.
#[derive(Default)]
pub(crate) struct GatewayAttr {
    pub(crate) seen: bool,
    /// Keys the user wrote, even with a bad value, or misspelt (`namesapce`): a key reported
    /// there is not reported again as missing.
    pub(crate) attempted: Vec<&'static str>,
    /// Whether an attribute could not be read to its end, so any key may be missing from it.
    pub(crate) unreadable: bool,
    pub(crate) namespace: Option<(Ident, LitStr)>,
    pub(crate) auth: Option<(Ident, Type)>,
    pub(crate) entity: Option<(Ident, LitStr)>,
    pub(crate) path: Option<(Ident, LitStr)>,
    pub(crate) origins: Option<(Ident, Vec<LitStr>)>,
    pub(crate) credentials: Option<(Ident, LitBool)>,
    pub(crate) krate: Option<(Ident, LitStr)>,
}

pub(crate) fn parse(attrs: &[Attribute], cx: &mut Ctxt) -> GatewayAttr {
    let mut out = GatewayAttr::default();
    for attr in attrs.iter().filter(|attr| attr.path().is_ident("gateway")) {
        out.seen = true;
        if !matches!(attr.meta, Meta::List(_)) {
            cx.error_spanned_by(
                &attr.meta,
                "write the configuration in parentheses: `#[gateway(namespace = \"user\", auth = Jwt)]`",
            );
            out.unreadable = true;
            continue;
        }
        let parsed = attr.parse_args_with(|input: ParseStream<'_>| {
            while !input.is_empty() {
                parse_entry(input, cx, &mut out)?;
                if input.is_empty() {
                    break;
                }
                input.parse::<Token![,]>()?;
            }
            Ok(())
        });
        if let Err(error) = parsed {
            cx.push(error);
            out.unreadable = true;
        }
    }
    out
}

fn parse_entry(input: ParseStream<'_>, cx: &mut Ctxt, out: &mut GatewayAttr) -> syn::Result<()> {
    let key = input.call(Ident::parse_any)?;
    let name = key.to_string();
    let Some(known) = KEYS.iter().find(|known| **known == name) else {
        let guess = closest(&name, KEYS);
        out.attempted.extend(guess);
        let hint = guess.map(|k| format!(" (did you mean `{k}`?)")).unwrap_or_default();
        cx.error_spanned_by(
            &key,
            format!("unknown gateway attribute `{name}`{hint}, expected one of: {}", backticked(KEYS)),
        );
        skip_value(input);
        return Ok(());
    };
    out.attempted.push(known);
    if !input.peek(Token![=]) {
        cx.error_spanned_by(&key, format!("`{name}` needs a value: write `{}`", example(&name)));
        skip_value(input);
        return Ok(());
    }
    input.parse::<Token![=]>()?;
    let value = skip_value(input);
    if value.is_empty() {
        cx.error_spanned_by(&key, format!("`{name}` needs a value: write `{}`", example(&name)));
        return Ok(());
    }
    match name.as_str() {
        "auth" => parse_auth(value, cx).map(|ty| set(cx, &mut out.auth, key, ty)),
        "origins" => parse_origins(value, cx).map(|list| set(cx, &mut out.origins, key, list)),
        "credentials" => parse_bool(&name, value, cx).map(|flag| set(cx, &mut out.credentials, key, flag)),
        _ => parse_string(&name, value, cx).map(|lit| {
            let slot = match name.as_str() {
                "namespace" => &mut out.namespace,
                "entity" => &mut out.entity,
                "path" => &mut out.path,
                _ => &mut out.krate,
            };
            set(cx, slot, key, lit);
        }),
    };
    Ok(())
}

fn set<T>(cx: &mut Ctxt, slot: &mut Option<(Ident, T)>, key: Ident, value: T) {
    if slot.is_some() {
        cx.error_spanned_by(&key, format!("duplicate gateway attribute `{key}`: remove one of them"));
    } else {
        *slot = Some((key, value));
    }
}

fn parse_auth(value: TokenStream, cx: &mut Ctxt) -> Option<Type> {
    if let Ok(lit) = syn::parse2::<LitStr>(value.clone()) {
        cx.error_spanned_by(&lit, format!("`auth` takes a type, not a string: write `auth = {}`", lit.value()));
        return None;
    }
    match syn::parse2::<Type>(value.clone()) {
        Ok(ty) => Some(ty),
        Err(_) => {
            cx.error_spanned_by(
                value,
                "`auth` takes a type: write `auth = Jwt`, `auth = Jwt<MyClaims>` or `auth = Anonymous`",
            );
            None
        }
    }
}

/// A string, or an array of strings.
fn parse_origins(value: TokenStream, cx: &mut Ctxt) -> Option<Vec<LitStr>> {
    if let Ok(lit) = syn::parse2::<LitStr>(value.clone()) {
        return Some(vec![lit]);
    }
    let items = syn::parse::Parser::parse2(
        |input: ParseStream<'_>| {
            let content;
            bracketed!(content in input);
            let items = content.parse_terminated(|item: ParseStream<'_>| skip_item(item), Token![,])?;
            Ok(items.into_iter().collect::<Vec<_>>())
        },
        value.clone(),
    );
    let Ok(items) = items else {
        cx.error_spanned_by(value, format!("`origins` takes an array of strings: write `{}`", example("origins")));
        return None;
    };
    let mut origins = Vec::with_capacity(items.len());
    let mut failed = false;
    for item in items {
        match syn::parse2::<LitStr>(item.clone()) {
            Ok(lit) => origins.push(lit),
            Err(_) => {
                cx.error_spanned_by(
                    &item,
                    "the macro reads origins as written, so each one is a string literal: write `\"https://app.example.com\"`",
                );
                failed = true;
            }
        }
    }
    (!failed).then_some(origins)
}

fn parse_bool(name: &str, value: TokenStream, cx: &mut Ctxt) -> Option<LitBool> {
    if let Ok(flag) = syn::parse2::<LitBool>(value.clone()) {
        return Some(flag);
    }
    let message = match syn::parse2::<LitStr>(value.clone()) {
        Ok(lit) => format!("`{name}` takes `true` or `false`, not a string: write `{name} = {}`", lit.value()),
        Err(_) => format!("`{name}` takes `true` or `false`: write `{name} = true`"),
    };
    cx.error_spanned_by(value, message);
    None
}

fn parse_string(name: &str, value: TokenStream, cx: &mut Ctxt) -> Option<LitStr> {
    if let Ok(lit) = syn::parse2::<LitStr>(value.clone()) {
        return Some(lit);
    }
    // A bare word is almost always the right value without its quotes (`namespace = user`).
    let message = match syn::parse2::<syn::Path>(value.clone()) {
        Ok(path) => format!("`{name}` takes a string: write `{name} = \"{}\"`", written(&path)),
        Err(_) => format!("`{name}` takes a string: write `{}`", example(name)),
    };
    cx.error_spanned_by(value, message);
    None
}

/// Consumes the rest of one `key = value` entry, up to the next top-level comma, and returns
/// it. Generic arguments (`Jwt<A, B>`) hold commas that are not entry separators.
fn skip_value(input: ParseStream<'_>) -> TokenStream {
    let mut value = TokenStream::new();
    let mut depth = 0usize;
    let at_end = |input: ParseStream<'_>, depth: usize| input.is_empty() || (depth == 0 && input.peek(Token![,]));
    while !at_end(input, depth) {
        let Ok(tree) = input.parse::<TokenTree>() else { break };
        if let TokenTree::Punct(punct) = &tree {
            match punct.as_char() {
                '<' => depth += 1,
                '>' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        value.extend([tree]);
    }
    value
}

/// One element of a bracketed list, up to its comma.
fn skip_item(input: ParseStream<'_>) -> syn::Result<TokenStream> {
    let item = skip_value(input);
    if item.is_empty() {
        return Err(input.error("expected a string"));
    }
    Ok(item)
}

fn example(key: &str) -> &'static str {
    match key {
        "namespace" => "namespace = \"user\"",
        "auth" => "auth = Jwt",
        "entity" => "entity = \"User\"",
        "path" => "path = \"/ws/user\"",
        "origins" => "origins = [\"https://app.example.com\"]",
        "credentials" => "credentials = true",
        _ => "crate = \"venta_ws\"",
    }
}

pub(crate) fn backticked(items: &[&str]) -> String {
    items.iter().map(|item| format!("`{item}`")).collect::<Vec<_>>().join(", ")
}
