//! Parses the `#[gateway(...)]` grammar, keeping each key's token for spans.

use proc_macro2::TokenTree;
use syn::ext::IdentExt;
use syn::parse::ParseStream;
use syn::{Attribute, Ident, LitStr, Token, Type, bracketed};

use crate::ctxt::{Ctxt, closest};

/// Every key `#[gateway(...)]` accepts, in the order the docs list them.
pub(crate) const KEYS: &[&str] = &["namespace", "auth", "entity", "path", "origins", "crate"];

/// The attribute as written: each key with the token that named it.
#[derive(Default)]
pub(crate) struct GatewayAttr {
    pub(crate) seen: bool,
    pub(crate) namespace: Option<(Ident, LitStr)>,
    pub(crate) auth: Option<(Ident, Type)>,
    pub(crate) entity: Option<(Ident, LitStr)>,
    pub(crate) path: Option<(Ident, LitStr)>,
    pub(crate) origins: Option<(Ident, Vec<LitStr>)>,
    pub(crate) krate: Option<(Ident, LitStr)>,
}

pub(crate) fn parse(attrs: &[Attribute], cx: &mut Ctxt) -> GatewayAttr {
    let mut out = GatewayAttr::default();
    for attr in attrs.iter().filter(|attr| attr.path().is_ident("gateway")) {
        out.seen = true;
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
        }
    }
    out
}

fn parse_entry(input: ParseStream<'_>, cx: &mut Ctxt, out: &mut GatewayAttr) -> syn::Result<()> {
    let key = input.call(Ident::parse_any)?;
    let name = key.to_string();
    if !KEYS.contains(&name.as_str()) {
        let hint = closest(&name, KEYS).map(|k| format!(" (did you mean `{k}`?)")).unwrap_or_default();
        cx.error_spanned_by(
            &key,
            format!("unknown gateway attribute `{name}`{hint}, expected one of: {}", backticked(KEYS)),
        );
        skip_value(input);
        return Ok(());
    }
    if !input.peek(Token![=]) {
        cx.error_spanned_by(&key, format!("`{name}` needs a value: write `{}`", example(&name)));
        skip_value(input);
        return Ok(());
    }
    input.parse::<Token![=]>()?;
    match name.as_str() {
        "auth" => {
            if input.peek(LitStr) {
                let value: LitStr = input.parse()?;
                cx.error_spanned_by(
                    &value,
                    format!("`auth` takes a type, not a string: write `auth = {}`", value.value()),
                );
            } else {
                match input.parse::<Type>() {
                    Ok(ty) => set(cx, &mut out.auth, key, ty),
                    Err(_) => {
                        cx.error_spanned_by(
                            &key,
                            "`auth` takes a type: write `auth = Jwt`, `auth = Jwt<MyClaims>` or `auth = Anonymous`",
                        );
                        skip_value(input);
                    }
                }
            }
        }
        "origins" => match parse_origins(input) {
            Some(origins) => set(cx, &mut out.origins, key, origins),
            None => {
                cx.error_spanned_by(
                    &key,
                    format!("`origins` takes an array of strings: write `{}`", example("origins")),
                );
                skip_value(input);
            }
        },
        _ => {
            if input.peek(LitStr) {
                let value: LitStr = input.parse()?;
                let slot = match name.as_str() {
                    "namespace" => &mut out.namespace,
                    "entity" => &mut out.entity,
                    "path" => &mut out.path,
                    _ => &mut out.krate,
                };
                set(cx, slot, key, value);
            } else {
                let start = input.cursor().token_tree().map(|(tree, _)| tree.span()).unwrap_or_else(|| key.span());
                cx.error_at(start, format!("`{name}` takes a string: write `{}`", example(&name)));
                skip_value(input);
            }
        }
    }
    Ok(())
}

fn set<T>(cx: &mut Ctxt, slot: &mut Option<(Ident, T)>, key: Ident, value: T) {
    if slot.is_some() {
        cx.error_spanned_by(&key, format!("duplicate gateway attribute `{key}`; remove one of them"));
    } else {
        *slot = Some((key, value));
    }
}

fn parse_origins(input: ParseStream<'_>) -> Option<Vec<LitStr>> {
    if input.peek(LitStr) {
        return input.parse::<LitStr>().ok().map(|origin| vec![origin]);
    }
    if !input.peek(syn::token::Bracket) {
        return None;
    }
    let bracketed = |input: ParseStream<'_>| -> syn::Result<Vec<LitStr>> {
        let content;
        bracketed!(content in input);
        let list = content.parse_terminated(|item: ParseStream<'_>| item.parse::<LitStr>(), Token![,])?;
        Ok(list.into_iter().collect())
    };
    bracketed(input).ok()
}

/// Consumes the rest of one `key = value` entry, up to the next top-level comma.
fn skip_value(input: ParseStream<'_>) {
    while !input.is_empty() && !input.peek(Token![,]) {
        if input.parse::<TokenTree>().is_err() {
            break;
        }
    }
}

fn example(key: &str) -> &'static str {
    match key {
        "namespace" => "namespace = \"user\"",
        "auth" => "auth = Jwt",
        "entity" => "entity = \"User\"",
        "path" => "path = \"/ws/user\"",
        "origins" => "origins = [\"https://app.example.com\"]",
        _ => "crate = \"venta_ws\"",
    }
}

pub(crate) fn backticked(items: &[&str]) -> String {
    items.iter().map(|item| format!("`{item}`")).collect::<Vec<_>>().join(", ")
}
