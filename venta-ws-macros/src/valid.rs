//! Checks the rules across keys and yields a plain configuration.

use syn::{Data, DeriveInput, GenericParam, Generics, Ident, LitStr, Path, Type};

use crate::attr::GatewayAttr;
use crate::ctxt::Ctxt;
use crate::rules;

/// A checked gateway configuration.
pub(crate) struct Config {
    pub(crate) ident: Ident,
    pub(crate) generics: Generics,
    pub(crate) namespace: String,
    pub(crate) path: String,
    pub(crate) entity: String,
    pub(crate) auth: Type,
    pub(crate) origins: Option<Vec<String>>,
    pub(crate) credentials: bool,
    pub(crate) krate: Path,
}

pub(crate) fn check(input: &DeriveInput, attr: &GatewayAttr, cx: &mut Ctxt) -> Option<Config> {
    check_shape(input, cx);
    if !attr.seen {
        cx.error_spanned_by(
            &input.ident,
            "missing gateway configuration: add `#[gateway(namespace = \"...\", auth = Jwt)]` below the derive",
        );
        return None;
    }
    // A key written with a bad value is reported there, not again as missing.
    let missing = |key: &str| !attr.unreadable && !attr.attempted.contains(&key);
    let namespace = match &attr.namespace {
        Some((_, lit)) => check_namespace(lit, attr.path.is_some(), cx),
        None => {
            if missing("namespace") {
                cx.error_spanned_by(
                    &input.ident,
                    "missing `namespace`: add `namespace = \"user\"` to `#[gateway(...)]`",
                );
            }
            None
        }
    };
    if attr.auth.is_none() && missing("auth") {
        cx.error_spanned_by(
            &input.ident,
            "missing `auth`: add `auth = Jwt` to `#[gateway(...)]` (or `auth = Anonymous` for a public gateway)",
        );
    }
    let path = attr.path.as_ref().and_then(|(_, lit)| check_path(lit, cx));
    let entity = attr.entity.as_ref().and_then(|(_, lit)| check_entity(lit, cx));
    let credentials = attr.credentials.as_ref().is_some_and(|(_, flag)| flag.value);
    let origins = attr.origins.as_ref().map(|(key, list)| check_origins(key, list, credentials, cx));
    let krate = match crate_path(attr) {
        Ok(path) => Some(path),
        Err(error) => {
            cx.push(error);
            None
        }
    };
    let namespace = namespace?;
    Some(Config {
        ident: input.ident.clone(),
        generics: input.generics.clone(),
        path: path.unwrap_or_else(|| format!("/{namespace}")),
        entity: entity.unwrap_or_else(|| entity_from_namespace(&namespace)),
        auth: attr.auth.as_ref()?.1.clone(),
        origins: origins.flatten(),
        credentials,
        krate: krate?,
        namespace,
    })
}

pub(crate) const CRATE_NOT_A_PATH: &str =
    "`crate` takes the path where venta-ws is re-exported: write `crate = \"my_app::venta_ws\"`";

/// The path of the runtime crate: `crate = "..."`, or `::venta_ws`.
pub(crate) fn crate_path(attr: &GatewayAttr) -> syn::Result<Path> {
    match &attr.krate {
        Some((_, lit)) => lit.parse::<Path>().map_err(|_| syn::Error::new(lit.span(), CRATE_NOT_A_PATH)),
        None => Ok(syn::parse_quote!(::venta_ws)),
    }
}

fn check_shape(input: &DeriveInput, cx: &mut Ctxt) {
    let keyword = match &input.data {
        Data::Struct(_) => None,
        Data::Enum(data) => Some(data.enum_token.span),
        Data::Union(data) => Some(data.union_token.span),
    };
    if let Some(span) = keyword {
        cx.push(syn::Error::new(
            span,
            format!(
                "a gateway holds its services as fields, so `#[derive(WebSocketGateway)]` needs a struct: write `struct {} {{ .. }}`",
                input.ident
            ),
        ));
    }
    for param in &input.generics.params {
        if let GenericParam::Lifetime(lifetime) = param {
            cx.error_spanned_by(
                lifetime,
                format!("a gateway lives as long as the server, so it cannot borrow: remove `{}` and own the data, shared in an `Arc` if need be", lifetime.lifetime),
            );
        }
    }
}

/// `[a-z0-9_-]+` segments joined by `/`, whose default path is not reserved.
fn check_namespace(lit: &LitStr, has_path: bool, cx: &mut Ctxt) -> Option<String> {
    let value = lit.value();
    let problem = if value.is_empty() {
        Some("`namespace` must not be empty: write `namespace = \"user\"`".to_owned())
    } else if value.starts_with('/') || value.ends_with('/') {
        Some(format!("`namespace` must not start or end with `/`: write `namespace = \"{}\"`", value.trim_matches('/')))
    } else if value.split('/').any(str::is_empty) {
        Some(format!("`namespace` segments must not be empty: write `namespace = \"{}\"`", squeeze_slashes(&value)))
    } else if let Some(bad) = value.chars().find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '_' | '-' | '/')) {
        Some(format!(
            "`namespace` may only hold lowercase letters, digits, `_` and `-`, with `/` between segments, not `{bad}`: write `namespace = \"{}\"`",
            suggest_namespace(&value)
        ))
    } else if !has_path && rules::RESERVED_PATHS.contains(&format!("/{value}").as_str()) {
        Some(format!(
            "namespace `{value}` is reserved: health probes and metrics scrapers request `/{value}`, so mount the gateway elsewhere with `path = \"/ws/{value}\"` or choose another namespace"
        ))
    } else {
        None
    };
    report(lit, problem, cx).then_some(value)
}

fn suggest_namespace(value: &str) -> String {
    let mut suggestion = String::with_capacity(value.len());
    for (index, c) in value.chars().enumerate() {
        match c {
            // `UserLocation` reads best as `user-location`.
            'A'..='Z' if index > 0 && !suggestion.ends_with(['-', '/']) => {
                suggestion.push('-');
                suggestion.push(c.to_ascii_lowercase());
            }
            'A'..='Z' => suggestion.push(c.to_ascii_lowercase()),
            'a'..='z' | '0'..='9' | '_' | '-' | '/' => suggestion.push(c),
            _ if suggestion.ends_with('-') => {}
            _ => suggestion.push('-'),
        }
    }
    suggestion
}

fn squeeze_slashes(value: &str) -> String {
    value.split('/').filter(|segment| !segment.is_empty()).collect::<Vec<_>>().join("/")
}

fn check_path(lit: &LitStr, cx: &mut Ctxt) -> Option<String> {
    let value = lit.value();
    let problem = if !value.starts_with('/') {
        Some(format!("`path` must start with `/`: write `path = \"/{}\"`", value.trim_end_matches('/')))
    } else if value.len() > 1 && value.ends_with('/') {
        Some(format!("`path` must not end with `/`: write `path = \"{}\"`", value.trim_end_matches('/')))
    } else if value.len() > 1 && value[1..].split('/').any(str::is_empty) {
        Some(format!("`path` segments must not be empty: write `path = \"/{}\"`", squeeze_slashes(&value)))
    } else if value
        .chars()
        .any(|c| matches!(c, '{' | '}' | '*' | ':' | '?' | '#') || c.is_whitespace() || c.is_control())
    {
        Some("`path` must be a literal path without captures, wildcards, a query or a fragment: write `path = \"/ws/user\"`".to_owned())
    } else if rules::RESERVED_PATHS.contains(&value.as_str()) {
        Some(format!(
            "`{value}` is reserved: health probes and metrics scrapers request it with plain `GET`s, so write `path = \"/ws{value}\"` or another path"
        ))
    } else {
        None
    };
    report(lit, problem, cx).then_some(value)
}

fn check_entity(lit: &LitStr, cx: &mut Ctxt) -> Option<String> {
    let value = lit.value();
    let problem = (value.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control())).then(|| {
        let joined: String = value.split_whitespace().collect();
        let joined = if joined.is_empty() { "User".to_owned() } else { joined };
        format!("`entity` must be a non-empty name without spaces: write `entity = \"{joined}\"`")
    });
    report(lit, problem, cx).then_some(value)
}

/// Reports `problem` at `lit`; whether there was none.
fn report(lit: &LitStr, problem: Option<String>, cx: &mut Ctxt) -> bool {
    match problem {
        Some(message) => {
            cx.error_spanned_by(lit, message);
            false
        }
        None => true,
    }
}

fn check_origins(key: &Ident, list: &[LitStr], credentials: bool, cx: &mut Ctxt) -> Option<Vec<String>> {
    let mut origins: Vec<String> = Vec::new();
    let mut failed = false;
    for lit in list {
        let value = lit.value();
        if value == "*" {
            if credentials {
                // Cross-site WebSocket hijacking: any page could open a socket that carries
                // the visitor's cookies.
                cx.error_spanned_by(
                    lit,
                    "`\"*\"` together with `credentials = true` lets any website open sockets with its visitors' cookies: list the trusted origins, such as `origins = [\"https://app.example.com\"]`, or set `credentials = false`",
                );
                failed = true;
            } else if list.len() > 1 {
                cx.error_spanned_by(
                    lit,
                    "`\"*\"` allows every origin, so it must be the only one: write `origins = [\"*\"]` or remove `\"*\"`",
                );
                failed = true;
            }
            origins.push(value);
            continue;
        }
        match rules::normalize_origin(&value) {
            Some(origin) if origins.contains(&origin) => {
                cx.error_spanned_by(lit, format!("duplicate origin `{value}`: remove one of them"));
                failed = true;
            }
            Some(origin) => origins.push(origin),
            None => {
                cx.error_spanned_by(
                    lit,
                    format!(
                        "origin `{value}` is not of the form `scheme://host[:port]`: write `\"{}\"`",
                        suggest_origin(&value)
                    ),
                );
                failed = true;
            }
        }
    }
    if list.is_empty() {
        cx.error_spanned_by(
            key,
            "`origins` lists no origin: write `origins = [\"https://app.example.com\"]`, or remove it to use the module's allow-list",
        );
        failed = true;
    }
    (!failed).then_some(origins)
}

/// `app.example.com` gives `https://app.example.com`, `https://a.com/login` gives
/// `https://a.com`.
fn suggest_origin(value: &str) -> String {
    let (scheme, rest) = value.split_once("://").unwrap_or(("https", value));
    let scheme = if scheme.is_empty() { "https" } else { scheme };
    let host = rest.split(['/', '?', '#']).next().filter(|host| !host.is_empty()).unwrap_or("app.example.com");
    format!("{scheme}://{host}")
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
