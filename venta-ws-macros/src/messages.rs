//! `#[messages]`: reads a gateway's `impl` block and implements `GatewayHandlers`: one match
//! arm per `#[subscribe("event")]` method, and a delegating method per lifecycle hook.

use proc_macro2::{Group, Span, TokenStream, TokenTree};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::parse::Parser;
use syn::spanned::Spanned;
use syn::{FnArg, Ident, ImplItem, ImplItemFn, ItemImpl, LitStr, Path, ReturnType, Type, parse_quote};

use crate::ctxt::{Ctxt, written};
use crate::{fallback, rules};

/// A lifecycle hook of `GatewayHandlers`, overridable by a method of the same name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Hook {
    GetEntityId,
    ValidateConnection,
    OnConnect,
    OnDisconnect,
    HandleConnectionError,
    LogConnectionSuccess,
    LogDisconnectionSuccess,
    OnText,
    OnBinary,
}

impl Hook {
    const ALL: [Self; 9] = [
        Self::GetEntityId,
        Self::ValidateConnection,
        Self::OnConnect,
        Self::OnDisconnect,
        Self::HandleConnectionError,
        Self::LogConnectionSuccess,
        Self::LogDisconnectionSuccess,
        Self::OnText,
        Self::OnBinary,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::GetEntityId => "get_entity_id",
            Self::ValidateConnection => "validate_connection",
            Self::OnConnect => "on_connect",
            Self::OnDisconnect => "on_disconnect",
            Self::HandleConnectionError => "handle_connection_error",
            Self::LogConnectionSuccess => "log_connection_success",
            Self::LogDisconnectionSuccess => "log_disconnection_success",
            Self::OnText => "on_text",
            Self::OnBinary => "on_binary",
        }
    }

    fn is_async(self) -> bool {
        matches!(self, Self::ValidateConnection | Self::OnConnect | Self::OnDisconnect | Self::OnText | Self::OnBinary)
    }

    /// The parameters after `&self`, as the user writes them.
    fn params(self) -> &'static str {
        match self {
            Self::GetEntityId => "identity: &Identity",
            Self::ValidateConnection => "request: &ConnectRequest, identity: &Identity",
            Self::OnConnect | Self::LogConnectionSuccess => "socket: &AuthenticatedSocket",
            Self::OnDisconnect | Self::LogDisconnectionSuccess => {
                "socket: &AuthenticatedSocket, reason: &DisconnectReason"
            }
            Self::HandleConnectionError => {
                "socket: &AuthenticatedSocket, operation: Operation<'_>, error: &GatewayError"
            }
            Self::OnText => "socket: &AuthenticatedSocket, text: Utf8Bytes",
            Self::OnBinary => "socket: &AuthenticatedSocket, data: Bytes",
        }
    }

    fn arity(self) -> usize {
        self.params().split(", ").count()
    }

    fn from_ident(ident: &Ident) -> Option<Self> {
        Self::ALL.into_iter().find(|hook| ident == hook.name())
    }

    /// The trait method delegating to the user's method of the same name.
    fn delegate(self, krate: &Path, user: &ImplItemFn) -> TokenStream {
        let name = format_ident!("{}", self.name(), span = user.sig.ident.span());
        let lt = quote!('__venta);
        let socket = quote!(&#lt #krate::SocketOf<Self>);
        let identity = quote!(&#lt #krate::auth::Identity<#krate::ClaimsOf<Self>>);
        let (params, args, output) = match self {
            Self::GetEntityId => {
                (quote!(identity: #identity), &["identity"][..], quote!(::core::option::Option<::std::string::String>))
            }
            Self::ValidateConnection => (
                quote!(request: &#lt #krate::auth::ConnectRequest, identity: #identity),
                &["request", "identity"][..],
                quote!(::core::result::Result<(), #krate::GatewayError>),
            ),
            Self::OnConnect => {
                (quote!(socket: #socket), &["socket"][..], quote!(::core::result::Result<(), #krate::GatewayError>))
            }
            Self::OnDisconnect => {
                (quote!(socket: #socket, reason: &#lt #krate::DisconnectReason), &["socket", "reason"][..], quote!(()))
            }
            Self::HandleConnectionError => (
                quote!(socket: #socket, operation: #krate::Operation<'_>, error: &#lt #krate::GatewayError),
                &["socket", "operation", "error"][..],
                quote!(()),
            ),
            Self::LogConnectionSuccess => (quote!(socket: #socket), &["socket"][..], quote!(())),
            Self::LogDisconnectionSuccess => {
                (quote!(socket: #socket, reason: &#lt #krate::DisconnectReason), &["socket", "reason"][..], quote!(()))
            }
            Self::OnText => (
                quote!(socket: #socket, text: #krate::Utf8Bytes),
                &["socket", "text"][..],
                quote!(::core::result::Result<(), #krate::GatewayError>),
            ),
            Self::OnBinary => (
                quote!(socket: #socket, data: #krate::Bytes),
                &["socket", "data"][..],
                quote!(::core::result::Result<(), #krate::GatewayError>),
            ),
        };
        // Each argument is spanned on the user's parameter, so a type that does not match the
        // gateway's (`Identity<OtherClaims>`) is reported there.
        let user_params = user.sig.inputs.iter().filter_map(|arg| match arg {
            FnArg::Typed(arg) => Some(arg.ty.span()),
            FnArg::Receiver(_) => None,
        });
        let args = args.iter().zip(user_params).map(|(arg, span)| Ident::new(arg, span));
        let call = quote_spanned!(user.sig.ident.span()=> Self::#name(self, #(#args),*));
        // `-> ()` is left out, as a person would write it.
        let returns = if self.is_async() {
            quote!(-> impl ::core::future::Future<Output = #output> + ::core::marker::Send + #lt)
        } else if output.to_string() == "()" {
            TokenStream::new()
        } else {
            quote!(-> #output)
        };
        quote! {
            fn #name<#lt>(&#lt self, #params) #returns {
                #call
            }
        }
    }
}

/// One `#[subscribe("event")]` method.
struct Handler {
    event: LitStr,
    ident: Ident,
    takes_socket: bool,
    payload: Option<Type>,
    reply_span: Span,
}

pub(crate) fn expand(args: TokenStream, mut item: ItemImpl) -> TokenStream {
    let mut cx = Ctxt::default();
    let krate = parse_args(args, &mut cx);
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
    let mut handlers = Vec::new();
    let mut hooks = Vec::new();
    let mut text_hook = None;
    let mut validates_connection = false;
    for impl_item in &mut item.items {
        let ImplItem::Fn(method) = impl_item else { continue };
        match take_subscribe(method, &mut cx) {
            Some(event) => {
                if let Some(hook) = Hook::from_ident(&method.sig.ident) {
                    cx.error_spanned_by(
                        &method.sig.ident,
                        format!(
                            "`{}` is a lifecycle hook, which runs on its own: remove `#[subscribe]` to override the hook, or rename the method to handle an event",
                            hook.name()
                        ),
                    );
                } else if let Some(handler) = check_handler(method, event, &mut cx) {
                    allow_dictated_signature(method);
                    handlers.push(handler);
                }
            }
            None => {
                if let Some(hook) = Hook::from_ident(&method.sig.ident)
                    && check_hook(method, hook, &mut cx)
                {
                    allow_dictated_signature(method);
                    hooks.push(hook.delegate(&krate, method));
                    if hook == Hook::OnText {
                        text_hook = Some(method.sig.ident.clone());
                    }
                    validates_connection |= hook == Hook::ValidateConnection;
                }
            }
        }
    }
    check_events(&handlers, &mut cx);
    if let (Some(on_text), Some(first)) = (&text_hook, handlers.first()) {
        cx.error_spanned_by(
            &first.event,
            format!(
                "`{on_text}` reads every text frame itself, so `#[subscribe]` handlers would never run: keep either `on_text` (your own protocol) or the handlers (JSON envelopes)"
            ),
        );
    }
    if cx.has_errors() {
        let mut tokens = fallback::handlers_stub(&item, &krate);
        tokens.extend(cx.into_compile_errors());
        return tokens;
    }
    let self_ty = &item.self_ty;
    let (impl_generics, _, where_clause) = item.generics.split_for_impl();
    let events = handlers.iter().map(|handler| &handler.event);
    let arms = handlers.iter().map(|handler| dispatch_arm(&krate, handler));
    let reads_text = text_hook.map(|_| {
        quote!(
            const READS_TEXT: bool = true;
        )
    });
    let keeps_handshake = (!validates_connection).then(|| {
        quote!(
            const VALIDATES_CONNECTION: bool = false;
        )
    });
    quote! {
        #item

        #[automatically_derived]
        impl #impl_generics #krate::GatewayHandlers for #self_ty #where_clause {
            const EVENTS: &'static [&'static str] = &[#(#events),*];
            #reads_text
            #keeps_handshake

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

fn parse_args(args: TokenStream, cx: &mut Ctxt) -> Path {
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

fn check_handler(method: &ImplItemFn, event: LitStr, cx: &mut Ctxt) -> Option<Handler> {
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
    let mut takes_socket = false;
    let mut payload: Option<Type> = None;
    for (position, arg) in inputs.enumerate() {
        let FnArg::Typed(arg) = arg else { continue };
        match socket_param(&arg.ty) {
            Some(true) if position == 0 => takes_socket = true,
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
    ok.then(|| Handler { event, ident: sig.ident.clone(), takes_socket, payload, reply_span })
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
                hook.params()
            ),
        );
        ok = false;
    }
    ok
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

fn dispatch_arm(krate: &Path, handler: &Handler) -> TokenStream {
    let Handler { event, ident, takes_socket, payload, reply_span } = handler;
    let mut args = Vec::new();
    if *takes_socket {
        args.push(quote!(__socket));
    }
    // The calls that check the user's types are spanned on those types, paths included, so
    // a payload that is not `Deserialize` or a reply that is not `IntoReply` is reported there.
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
    let call = quote_spanned!(ident.span()=> Self::#ident(self, #(#args),*).await);
    let reply_krate = respan(krate.to_token_stream(), *reply_span);
    let reply = quote_spanned!(*reply_span=> #reply_krate::__private::reply(__reply, __request));
    quote! {
        #event => {
            #decode
            let __reply = #call;
            #reply
        }
    }
}

/// `tokens` with every token at `span`, so rustc reports an error in them at the user's code.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
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
