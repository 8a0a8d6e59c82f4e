//! Checks the rules across keys and yields a plain configuration.

use proc_macro2::Span;
use syn::{Data, DeriveInput, GenericParam, Generics, Ident, LitStr, Path, Type};

use crate::attr::GatewayAttr;
use crate::ctxt::Ctxt;

/// A checked gateway configuration.
pub(crate) struct Config {
    pub(crate) ident: Ident,
    pub(crate) generics: Generics,
    pub(crate) namespace: String,
    pub(crate) path: String,
    pub(crate) entity: String,
    pub(crate) auth: Type,
    pub(crate) origins: Option<Vec<String>>,
    pub(crate) krate: Path,
}

pub(crate) fn check(input: &DeriveInput, attr: GatewayAttr, cx: &mut Ctxt) -> Option<Config> {
    check_shape(input, cx);
    if !attr.seen {
        cx.error_spanned_by(
            &input.ident,
            "missing gateway configuration: add `#[gateway(namespace = \"...\", auth = Jwt)]` below the derive",
        );
        return None;
    }
    let namespace = match &attr.namespace {
        Some((_, lit)) => check_namespace(lit, cx),
        None => {
            cx.error_spanned_by(&input.ident, "missing `namespace`: add `namespace = \"user\"` to `#[gateway(...)]`");
            None
        }
    };
    if attr.auth.is_none() {
        cx.error_spanned_by(
            &input.ident,
            "missing `auth`: add `auth = Jwt` to `#[gateway(...)]` (or `auth = Anonymous` for a public gateway)",
        );
    }
    let path = attr.path.as_ref().and_then(|(_, lit)| check_path(lit, cx));
    let entity = attr.entity.as_ref().and_then(|(_, lit)| check_entity(lit, cx));
    let origins = attr.origins.as_ref().map(|(_, list)| check_origins(list, cx));
    let krate = match &attr.krate {
        Some((_, lit)) => match lit.parse::<Path>() {
            Ok(path) => Some(path),
            Err(_) => {
                cx.error_spanned_by(lit, "`crate` must be a path, such as `crate = \"my_app::venta_ws\"`");
                None
            }
        },
        None => Some(syn::parse_quote!(::venta_ws)),
    };
    let namespace = namespace?;
    Some(Config {
        ident: input.ident.clone(),
        generics: input.generics.clone(),
        path: path.unwrap_or_else(|| format!("/{namespace}")),
        entity: entity.unwrap_or_else(|| entity_from_namespace(&namespace)),
        auth: attr.auth?.1,
        origins: origins.flatten(),
        krate: krate?,
        namespace,
    })
}

fn check_shape(input: &DeriveInput, cx: &mut Ctxt) {
    match &input.data {
        Data::Struct(_) => {}
        Data::Enum(data) => cx.error_spanned_by(
            data.enum_token,
            "`#[derive(WebSocketGateway)]` needs a struct: a gateway holds its services as fields",
        ),
        Data::Union(data) => cx.error_spanned_by(
            data.union_token,
            "`#[derive(WebSocketGateway)]` needs a struct: a gateway holds its services as fields",
        ),
    }
    for param in &input.generics.params {
        if let GenericParam::Lifetime(lifetime) = param {
            cx.error_spanned_by(
                lifetime,
                "a gateway lives as long as the server, so it cannot borrow: remove the lifetime and own the data (or hold an `Arc`)",
            );
        }
    }
}

/// `[a-z0-9_-]+` segments joined by `/`.
fn check_namespace(lit: &LitStr, cx: &mut Ctxt) -> Option<String> {
    let value = lit.value();
    let problem = if value.is_empty() {
        Some("`namespace` must not be empty: write `namespace = \"user\"`".to_owned())
    } else if value.starts_with('/') || value.ends_with('/') {
        Some(format!("`namespace` must not start or end with `/`: write `namespace = \"{}\"`", value.trim_matches('/')))
    } else if value.split('/').any(str::is_empty) {
        Some("`namespace` segments must not be empty: remove the doubled `/`".to_owned())
    } else {
        value.chars().find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '_' | '-' | '/')).map(|bad| {
            format!(
                "`namespace` may only hold lowercase letters, digits, `_` and `-`, with `/` between segments; `{bad}` is not allowed (try `namespace = \"{}\"`)",
                suggest_namespace(&value)
            )
        })
    };
    match problem {
        Some(message) => {
            cx.error_spanned_by(lit, message);
            None
        }
        None => Some(value),
    }
}

fn suggest_namespace(value: &str) -> String {
    value
        .trim_matches('/')
        .chars()
        .map(|c| match c {
            'A'..='Z' => c.to_ascii_lowercase(),
            'a'..='z' | '0'..='9' | '_' | '-' | '/' => c,
            _ => '-',
        })
        .collect()
}

fn check_path(lit: &LitStr, cx: &mut Ctxt) -> Option<String> {
    let value = lit.value();
    let problem = if !value.starts_with('/') {
        Some(format!("`path` must start with `/`: write `path = \"/{}\"`", value.trim_start_matches('/')))
    } else if value.len() > 1 && value.ends_with('/') {
        Some(format!("`path` must not end with `/`: write `path = \"{}\"`", value.trim_end_matches('/')))
    } else if value.len() > 1 && value[1..].split('/').any(str::is_empty) {
        Some("`path` segments must not be empty: remove the doubled `/`".to_owned())
    } else if value
        .chars()
        .any(|c| matches!(c, '{' | '}' | '*' | ':' | '?' | '#') || c.is_whitespace() || c.is_control())
    {
        Some("`path` must be a literal path without captures, wildcards, a query or a fragment, such as `path = \"/ws/user\"`".to_owned())
    } else {
        None
    };
    match problem {
        Some(message) => {
            cx.error_spanned_by(lit, message);
            None
        }
        None => Some(value),
    }
}

fn check_entity(lit: &LitStr, cx: &mut Ctxt) -> Option<String> {
    let value = lit.value();
    if value.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        cx.error_spanned_by(lit, "`entity` must be a non-empty name without spaces, such as `entity = \"User\"`");
        return None;
    }
    Some(value)
}

fn check_origins(list: &[LitStr], cx: &mut Ctxt) -> Option<Vec<String>> {
    let mut origins: Vec<String> = Vec::new();
    let mut failed = false;
    for lit in list {
        let value = lit.value();
        if value == "*" {
            if list.len() > 1 {
                cx.error_spanned_by(
                    lit,
                    "`\"*\"` allows every origin, so it must be the only one: write `origins = [\"*\"]`",
                );
                failed = true;
            }
            origins.push(value);
            continue;
        }
        match normalize_origin(&value) {
            Some(origin) if origins.contains(&origin) => {
                cx.error_spanned_by(lit, format!("duplicate origin `{value}`; remove one of them"));
                failed = true;
            }
            Some(origin) => origins.push(origin),
            None => {
                cx.error_spanned_by(
                    lit,
                    format!("origin `{value}` is not of the form `scheme://host[:port]`: write, for example, `\"https://app.example.com\"`"),
                );
                failed = true;
            }
        }
    }
    if list.is_empty() {
        cx.error_at(Span::call_site(), "`origins` must list at least one origin, or `\"*\"` for any");
        failed = true;
    }
    (!failed).then_some(origins)
}

/// The same rule as `venta_ws::validate_origin`, at compile time.
fn normalize_origin(origin: &str) -> Option<String> {
    let trimmed = origin.strip_suffix('/').unwrap_or(origin);
    let (scheme, authority) = trimmed.split_once("://")?;
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || authority.starts_with('[') => (host, Some(port)),
        _ => (authority, None),
    };
    let host_ok =
        !host.is_empty() && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '[' | ']' | ':'));
    let port_ok = port.is_none_or(|port| !port.is_empty() && port.parse::<u16>().is_ok());
    (scheme_ok && host_ok && port_ok).then(|| trimmed.to_ascii_lowercase())
}

/// `user` gives `User`, `vendor-admin` gives `VendorAdmin`, `api/rider` gives `Rider`.
fn entity_from_namespace(namespace: &str) -> String {
    let last = namespace.rsplit('/').next().unwrap_or(namespace);
    last.split(['-', '_'])
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map(|first| first.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect()
}
