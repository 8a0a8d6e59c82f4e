//! Reads a `#[messages]` block: takes the `#[subscribe]` attributes off its methods and checks
//! every handler's and hook's signature, reporting every mistake in one compile.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::parse::Parser;
use syn::spanned::Spanned;
use syn::{Expr, FnArg, Ident, ImplItem, ImplItemFn, ItemImpl, LitStr, Path, ReturnType, Type, parse_quote};

use super::hooks::Hook;
use crate::ctxt::{Ctxt, written};
use crate::rules;

/// What a checked block defines.
pub(super) struct Block {
    pub(super) handlers: Vec<Handler>,
    pub(super) overrides: Vec<Override>,
    /// The block's `#[guard(..)]` expressions, run before every handler's own.
    pub(super) guards: Vec<Expr>,
}

/// A hook the block overrides, with the spans that errors in its types are reported at.
pub(super) struct Override {
    pub(super) hook: Hook,
    pub(super) ident: Ident,
    pub(super) param_spans: Vec<Span>,
    /// The user's return type, or the method's name when it has none.
    pub(super) output_span: Span,
}

impl Block {
    pub(super) fn overrides(&self, hook: Hook) -> bool {
        self.overrides.iter().any(|found| found.hook == hook)
    }
}

/// One `#[subscribe("event")]` method.
pub(super) struct Handler {
    pub(super) event: LitStr,
    pub(super) ident: Ident,
    /// The socket parameter's type, as written.
    pub(super) socket: Option<Type>,
    pub(super) payload: Option<Type>,
    pub(super) reply_span: Span,
    /// The handler's `#[guard(..)]` expressions, in order.
    pub(super) guards: Vec<Expr>,
}

/// Checks every method of `item`, taking the `#[subscribe]` attributes off.
pub(super) fn check(item: &mut ItemImpl, cx: &mut Ctxt) -> Block {
    if let Some((_, path, _)) = &item.trait_ {
        cx.error_spanned_by(
            path,
            format!(
                "`#[messages]` goes on the gateway's own impl block, not on a trait impl: write `impl {} {{ .. }}`",
                written(&item.self_ty)
            ),
        );
        item.trait_ = None;
    }
    let guards = take_guards(&mut item.attrs, cx);
    let mut block = Block { handlers: Vec::new(), overrides: Vec::new(), guards };
    for impl_item in &mut item.items {
        let ImplItem::Fn(method) = impl_item else { continue };
        let hook = Hook::from_name(&method.sig.ident.to_string());
        let guards = take_guards(&mut method.attrs, cx);
        let event = take_subscribe(method, cx);
        if event.is_none()
            && let Some(first) = guards.first()
        {
            let what = match hook {
                Some(hook) => format!(
                    "`{}` is a lifecycle hook, and guards run before event handlers only: check in the hook's body, or refuse the socket in `validate_connection`",
                    hook.name()
                ),
                None => "`#[guard]` goes on a `#[subscribe(\"..\")]` handler, or under `#[venta_ws::messages]` on the impl block to guard every handler".to_owned(),
            };
            cx.error_spanned_by(first, what);
        }
        match event {
            Some(event) => {
                if let Some(hook) = hook {
                    cx.error_spanned_by(
                        &method.sig.ident,
                        format!(
                            "`{}` is a lifecycle hook, which runs on its own: remove `#[subscribe]` to override the hook, or rename the method to handle an event",
                            hook.name()
                        ),
                    );
                } else if let Some(handler) = check_handler(method, event, guards, cx) {
                    allow_dictated_signature(method);
                    block.handlers.push(handler);
                }
            }
            None => {
                if let Some(hook) = hook
                    && check_hook(method, hook, cx)
                {
                    allow_dictated_signature(method);
                    let param_spans = method
                        .sig
                        .inputs
                        .iter()
                        .filter_map(|arg| match arg {
                            FnArg::Typed(arg) => Some(arg.ty.span()),
                            FnArg::Receiver(_) => None,
                        })
                        .collect();
                    let output_span = match &method.sig.output {
                        ReturnType::Default => method.sig.ident.span(),
                        ReturnType::Type(_, ty) => ty.span(),
                    };
                    block.overrides.push(Override { hook, ident: method.sig.ident.clone(), param_spans, output_span });
                }
            }
        }
    }
    check_events(&block.handlers, cx);
    if let (Some(on_text), Some(first)) =
        (block.overrides.iter().find(|found| found.hook == Hook::OnText), block.handlers.first())
    {
        cx.error_spanned_by(
            &first.event,
            format!(
                "`{}` reads every text frame itself, so `#[subscribe]` handlers would never run: keep either `on_text` (your own protocol) or the handlers (JSON envelopes)",
                on_text.ident
            ),
        );
    }
    block
}

pub(super) fn parse_args(args: TokenStream, cx: &mut Ctxt) -> Path {
    let default: Path = parse_quote!(::venta_ws);
    if args.is_empty() {
        return default;
    }
    let parser = |input: syn::parse::ParseStream<'_>| -> syn::Result<Path> {
        let key: Ident = syn::ext::IdentExt::parse_any(input)?;
        if key != "crate" {
            return Err(syn::Error::new(
                key.span(),
                format!(
                    "unknown `messages` argument `{key}`: the only one is the crate path, as in `#[venta_ws::messages(crate = \"my_app::venta_ws\")]`"
                ),
            ));
        }
        input.parse::<syn::Token![=]>()?;
        let lit: LitStr = input.parse()?;
        lit.parse::<Path>().map_err(|_| syn::Error::new(lit.span(), crate::valid::CRATE_NOT_A_PATH))
    };
    match parser.parse2(args) {
        Ok(path) => path,
        Err(error) => {
            cx.push(error);
            default
        }
    }
}

/// Handlers and hooks are `async` and take `&self` because the framework calls them so, not
/// because their bodies need it: clippy's pedantic lints against that would be noise.
fn allow_dictated_signature(method: &mut ImplItemFn) {
    method.attrs.push(parse_quote!(#[allow(clippy::unused_async, clippy::unused_self)]));
}

/// Removes the `#[guard(..)]` attributes, returning their expressions in order.
fn take_guards(attrs: &mut Vec<syn::Attribute>, cx: &mut Ctxt) -> Vec<Expr> {
    let mut guards = Vec::new();
    attrs.retain(|attr| {
        if !attr.path().is_ident("guard") {
            return true;
        }
        match attr.parse_args::<Expr>() {
            Ok(expr) => guards.push(expr),
            Err(_) => cx.error_spanned_by(
                attr,
                "`#[guard]` takes one guard, as an expression: write `#[guard(Roles::any(&[\"admin\"]))]`, or one `#[guard(..)]` per guard",
            ),
        }
        false
    });
    guards
}

/// Removes the method's `#[subscribe("...")]` attributes, returning the event name.
fn take_subscribe(method: &mut ImplItemFn, cx: &mut Ctxt) -> Option<LitStr> {
    let mut event = None;
    let mut kept = Vec::with_capacity(method.attrs.len());
    for attr in method.attrs.drain(..) {
        if !attr.path().is_ident("subscribe") {
            kept.push(attr);
            continue;
        }
        match attr.parse_args::<LitStr>() {
            Ok(_) if event.is_some() => {
                cx.error_spanned_by(
                    &attr,
                    "a method handles one event: remove this `#[subscribe]`, or write a second method",
                );
            }
            Ok(lit) => event = Some(lit),
            Err(_) => {
                // `#[subscribe(ping)]` most likely means the event `ping`.
                let args = match &attr.meta {
                    syn::Meta::List(list) => written(&list.tokens),
                    _ => String::new(),
                };
                let event = if args.is_empty() || args.contains('"') { "location.update" } else { &args };
                cx.error_spanned_by(
                    &attr.meta,
                    format!("`#[subscribe]` takes the event name as a string: write `#[subscribe(\"{event}\")]`"),
                );
            }
        }
    }
    method.attrs = kept;
    event
}

fn check_handler(method: &ImplItemFn, event: LitStr, guards: Vec<Expr>, cx: &mut Ctxt) -> Option<Handler> {
    let sig = &method.sig;
    let mut ok = true;
    if sig.asyncness.is_none() {
        cx.error_spanned_by(sig.fn_token, format!("event handlers are async: write `async fn {}`", sig.ident));
        ok = false;
    }
    if !sig.generics.params.is_empty() {
        cx.error_spanned_by(
            &sig.generics,
            "event handlers cannot be generic, since `data` is read into one known type: remove the type parameters and name the payload type, or take `serde_json::Value`",
        );
        ok = false;
    }
    let mut inputs = sig.inputs.iter();
    match inputs.next() {
        Some(FnArg::Receiver(receiver)) if receiver.reference.is_some() && receiver.mutability.is_none() => {}
        Some(FnArg::Receiver(receiver)) => {
            cx.error_spanned_by(
                receiver,
                "many sockets call a handler at once, so it borrows the gateway: write `&self` (and keep mutable state behind a `Mutex` or an atomic)",
            );
            ok = false;
        }
        _ => {
            cx.error_spanned_by(
                &sig.ident,
                format!("event handlers are methods: write `async fn {}(&self, ...)`", sig.ident),
            );
            ok = false;
        }
    }
    let mut socket: Option<Type> = None;
    let mut payload: Option<Type> = None;
    for (position, arg) in inputs.enumerate() {
        let FnArg::Typed(arg) = arg else { continue };
        match socket_param(&arg.ty) {
            Some(true) if position == 0 => socket = Some((*arg.ty).clone()),
            Some(true) => {
                cx.error_spanned_by(
                    &arg.ty,
                    "the socket comes right after `&self`: write `(&self, socket: &AuthenticatedSocket, payload: T)`",
                );
                ok = false;
            }
            Some(false) => {
                cx.error_spanned_by(&arg.ty, format!("handlers borrow the socket: write `&{}`", written(&arg.ty)));
                ok = false;
            }
            None if payload.is_some() => {
                cx.error_spanned_by(
                    arg,
                    "a handler takes at most one payload, read from `data`: gather the values in one `#[derive(Deserialize)]` struct",
                );
                ok = false;
            }
            None if matches!(*arg.ty, Type::Reference(_)) => {
                cx.error_spanned_by(
                    &arg.ty,
                    format!(
                        "the payload is deserialized from `data` and outlives the frame, so it is owned: write `{}`",
                        owned_payload(&arg.ty)
                    ),
                );
                ok = false;
            }
            None => payload = Some((*arg.ty).clone()),
        }
    }
    let reply_span = match &sig.output {
        ReturnType::Default => sig.ident.span(),
        ReturnType::Type(_, ty) => ty.span(),
    };
    ok.then(|| Handler { event, ident: sig.ident.clone(), socket, payload, reply_span, guards })
}

/// The owned type to suggest for a borrowed payload: `&str` gives `String`, `&[T]` gives
/// `Vec<T>`, `&T` gives `T`.
fn owned_payload(ty: &Type) -> String {
    let inner = match ty {
        Type::Reference(reference) => &*reference.elem,
        other => other,
    };
    match inner {
        Type::Path(path) if path.path.is_ident("str") => "String".to_owned(),
        Type::Slice(slice) => format!("Vec<{}>", written(&slice.elem)),
        other => written(other),
    }
}

/// `Some(true)` for `&AuthenticatedSocket<..>` / `&SocketOf<..>`, `Some(false)` for one of
/// them by value, `None` for anything else.
fn socket_param(ty: &Type) -> Option<bool> {
    let (by_ref, inner) = match ty {
        Type::Reference(reference) => (true, &*reference.elem),
        other => (false, other),
    };
    let Type::Path(path) = inner else { return None };
    let last = path.path.segments.last()?;
    (last.ident == "AuthenticatedSocket" || last.ident == "SocketOf").then_some(by_ref)
}

fn check_hook(method: &ImplItemFn, hook: Hook, cx: &mut Ctxt) -> bool {
    let sig = &method.sig;
    let mut ok = true;
    match (hook.is_async(), sig.asyncness.is_some()) {
        (true, false) => {
            cx.error_spanned_by(
                sig.fn_token,
                format!("`{}` is awaited: write `async fn {}`", hook.name(), hook.name()),
            );
            ok = false;
        }
        (false, true) => {
            cx.error_spanned_by(sig.asyncness, format!("`{}` is called synchronously: remove `async`", hook.name()));
            ok = false;
        }
        _ => {}
    }
    if let Some(wrong) = hook_output_mistake(sig, hook) {
        cx.error_spanned_by(wrong.0, wrong.1);
        ok = false;
    }
    let receiver_ok = matches!(
        sig.inputs.first(),
        Some(FnArg::Receiver(receiver)) if receiver.reference.is_some() && receiver.mutability.is_none()
    );
    let params = sig.inputs.iter().filter(|arg| matches!(arg, FnArg::Typed(_))).count();
    if !receiver_ok || params != hook.arity() {
        let asyncness = if hook.is_async() { "async " } else { "" };
        cx.error_spanned_by(
            &sig.inputs,
            format!(
                "`{0}` overrides a hook, so it takes the hook's parameters: write `{asyncness}fn {0}(&self, {1})`",
                hook.name(),
                hook.written_params()
            ),
        );
        ok = false;
    }
    ok
}

/// What is wrong with a hook's return type, when it is plainly not the hook's: a fallible
/// hook that returns nothing or something other than a `..Result<..>`, or an infallible one
/// that returns something. Anything else is left to rustc, which checks it at the user's type.
fn hook_output_mistake(sig: &syn::Signature, hook: Hook) -> Option<(TokenStream, String)> {
    let fix = || {
        let asyncness = if hook.is_async() { "async " } else { "" };
        format!("write `{asyncness}fn {}(&self, {}){}`", hook.name(), hook.written_params(), hook.written_output())
    };
    match (&sig.output, hook.is_fallible()) {
        (ReturnType::Default, true) => Some((
            sig.ident.to_token_stream(),
            format!(
                "`{}` returns `Result<(), GatewayError>`, and an error refuses the socket or answers the client: {}, and end it with `Ok(())`",
                hook.name(),
                fix()
            ),
        )),
        (ReturnType::Type(_, ty), true) if !names_a_result(ty) => Some((
            ty.to_token_stream(),
            format!("`{}` returns `Result<(), GatewayError>`, not `{}`: {}", hook.name(), written(ty), fix()),
        )),
        (ReturnType::Type(_, ty), false)
            if hook.returns_unit() && !matches!(&**ty, Type::Tuple(unit) if unit.elems.is_empty()) =>
        {
            Some((ty.to_token_stream(), format!("`{}` returns nothing: remove `-> {}`", hook.name(), written(ty))))
        }
        _ => None,
    }
}

/// Whether `ty` is a path whose last segment is `Result` or ends with it (`io::Result`,
/// `anyhow::Result`, an alias such as `AppResult`).
fn names_a_result(ty: &Type) -> bool {
    matches!(ty, Type::Path(path) if path.path.segments.last().is_some_and(|last| last.ident.to_string().ends_with("Result")))
}

fn check_events(handlers: &[Handler], cx: &mut Ctxt) {
    for (index, handler) in handlers.iter().enumerate() {
        let name = handler.event.value();
        if name.is_empty() || name.chars().any(char::is_control) {
            cx.error_spanned_by(
                &handler.event,
                "an event name is non-empty text without control characters: write `#[subscribe(\"location.update\")]`",
            );
        } else if let Some(why) = rules::reserved_event(&name) {
            cx.error_spanned_by(&handler.event, format!("event `{name}` is reserved {why}"));
        }
        if let Some(first) = handlers[..index].iter().find(|earlier| earlier.event.value() == name) {
            cx.error_spanned_by(
                &handler.event,
                format!(
                    "event `{name}` is already handled by `{}`: each event has one handler, so remove this `#[subscribe]` or name another event",
                    first.ident
                ),
            );
        }
    }
}
