//! `#[messages]`: reads a gateway's `impl` block and implements `GatewayHandlers`: one match
//! arm per `#[subscribe("event")]` method, and a delegating method per lifecycle hook.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::parse::Parser;
use syn::spanned::Spanned;
use syn::{FnArg, Ident, ImplItem, ImplItemFn, ItemImpl, LitStr, Path, ReturnType, Type, parse_quote};

use crate::attr::backticked;
use crate::ctxt::Ctxt;
use crate::fallback;

/// Event names the server uses itself.
const RESERVED_EVENTS: &[&str] = &["error"];

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
}

impl Hook {
    const ALL: [Self; 7] = [
        Self::GetEntityId,
        Self::ValidateConnection,
        Self::OnConnect,
        Self::OnDisconnect,
        Self::HandleConnectionError,
        Self::LogConnectionSuccess,
        Self::LogDisconnectionSuccess,
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
        }
    }

    fn is_async(self) -> bool {
        matches!(self, Self::ValidateConnection | Self::OnConnect | Self::OnDisconnect)
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
                (quote!(identity: #identity), quote!(identity), quote!(::core::option::Option<::std::string::String>))
            }
            Self::ValidateConnection => (
                quote!(request: &#lt #krate::auth::ConnectRequest, identity: #identity),
                quote!(request, identity),
                quote!(::core::result::Result<(), #krate::GatewayError>),
            ),
            Self::OnConnect => {
                (quote!(socket: #socket), quote!(socket), quote!(::core::result::Result<(), #krate::GatewayError>))
            }
            Self::OnDisconnect => {
                (quote!(socket: #socket, reason: &#lt #krate::DisconnectReason), quote!(socket, reason), quote!(()))
            }
            Self::HandleConnectionError => (
                quote!(socket: #socket, operation: #krate::Operation<'_>, error: &#lt #krate::GatewayError),
                quote!(socket, operation, error),
                quote!(()),
            ),
            Self::LogConnectionSuccess => (quote!(socket: #socket), quote!(socket), quote!(())),
            Self::LogDisconnectionSuccess => {
                (quote!(socket: #socket, reason: &#lt #krate::DisconnectReason), quote!(socket, reason), quote!(()))
            }
        };
        let call = quote_spanned!(user.sig.ident.span()=> Self::#name(self, #args));
        if self.is_async() {
            quote! {
                fn #name<#lt>(&#lt self, #params)
                    -> impl ::core::future::Future<Output = #output> + ::core::marker::Send + #lt
                {
                    #call
                }
            }
        } else {
            quote! {
                fn #name<#lt>(&#lt self, #params) -> #output {
                    #call
                }
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
            "`#[messages]` goes on the gateway's own impl block (`impl MyGateway { ... }`), not on a trait impl",
        );
        item.trait_ = None;
    }
    let mut handlers = Vec::new();
    let mut hooks = Vec::new();
    for impl_item in &mut item.items {
        let ImplItem::Fn(method) = impl_item else { continue };
        match take_subscribe(method, &mut cx) {
            Some(event) => {
                if let Some(hook) = Hook::from_ident(&method.sig.ident) {
                    cx.error_spanned_by(
                        &method.sig.ident,
                        format!(
                            "`{}` is a lifecycle hook, so it cannot handle an event: rename the handler",
                            hook.name()
                        ),
                    );
                } else if let Some(handler) = check_handler(method, event, &mut cx) {
                    handlers.push(handler);
                }
            }
            None => {
                if let Some(hook) = Hook::from_ident(&method.sig.ident)
                    && check_hook(method, hook, &mut cx)
                {
                    hooks.push(hook.delegate(&krate, method));
                }
            }
        }
    }
    check_events(&handlers, &mut cx);
    if cx.has_errors() {
        let mut tokens = fallback::handlers_stub(&item, &krate);
        tokens.extend(cx.into_compile_errors());
        return tokens;
    }
    let self_ty = &item.self_ty;
    let (impl_generics, _, where_clause) = item.generics.split_for_impl();
    let events = handlers.iter().map(|handler| &handler.event);
    let arms = handlers.iter().map(|handler| dispatch_arm(&krate, handler));
    quote! {
        #item

        #[automatically_derived]
        impl #impl_generics #krate::GatewayHandlers for #self_ty #where_clause {
            const EVENTS: &'static [&'static str] = &[#(#events),*];

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
                format!("unknown `messages` argument `{key}`, expected `crate = \"...\"`"),
            ));
        }
        input.parse::<syn::Token![=]>()?;
        let lit: LitStr = input.parse()?;
        lit.parse::<Path>()
            .map_err(|_| syn::Error::new(lit.span(), "`crate` must be a path, such as `crate = \"my_app::venta_ws\"`"))
    };
    match parser.parse2(args) {
        Ok(path) => path,
        Err(error) => {
            cx.push(error);
            default
        }
    }
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
                cx.error_spanned_by(&attr, "a method handles one event: remove the second `#[subscribe]`");
            }
            Ok(lit) => event = Some(lit),
            Err(_) => {
                cx.error_spanned_by(&attr, "write the event name as a string: `#[subscribe(\"location.update\")]`")
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
        cx.error_spanned_by(sig.fn_token, format!("event handlers must be async: write `async fn {}`", sig.ident));
        ok = false;
    }
    if !sig.generics.params.is_empty() {
        cx.error_spanned_by(
            &sig.generics,
            "event handlers cannot be generic: the payload type must be known to read `data`",
        );
        ok = false;
    }
    let mut inputs = sig.inputs.iter();
    match inputs.next() {
        Some(FnArg::Receiver(receiver)) if receiver.reference.is_some() && receiver.mutability.is_none() => {}
        Some(FnArg::Receiver(receiver)) => {
            cx.error_spanned_by(receiver, "event handlers take `&self`: many sockets call them at once");
            ok = false;
        }
        _ => {
            cx.error_spanned_by(&sig.ident, "event handlers take `&self` first: write `async fn handler(&self, ...)`");
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
                    "the socket comes right after `&self`: `(&self, socket: &AuthenticatedSocket, payload: T)`",
                );
                ok = false;
            }
            Some(false) => {
                cx.error_spanned_by(&arg.ty, "take the socket by reference: `socket: &AuthenticatedSocket`");
                ok = false;
            }
            None if payload.is_some() => {
                cx.error_spanned_by(
                    arg,
                    "a handler takes at most one payload: gather the values in one `#[derive(Deserialize)]` struct",
                );
                ok = false;
            }
            None if matches!(*arg.ty, Type::Reference(_)) => {
                cx.error_spanned_by(
                    &arg.ty,
                    "the payload must be an owned type (`String`, not `&str`): it is deserialized from `data`",
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
        cx.error_spanned_by(&sig.inputs, format!("`{}` takes `(&self, {})`", hook.name(), hook.params()));
        ok = false;
    }
    ok
}

fn check_events(handlers: &[Handler], cx: &mut Ctxt) {
    for (index, handler) in handlers.iter().enumerate() {
        let name = handler.event.value();
        if name.is_empty() || name.chars().any(char::is_control) {
            cx.error_spanned_by(&handler.event, "event names must be non-empty text, such as `\"location.update\"`");
        } else if RESERVED_EVENTS.contains(&name.as_str()) {
            cx.error_spanned_by(
                &handler.event,
                format!(
                    "`{name}` is reserved for the server's error envelopes; reserved names: {}",
                    backticked(RESERVED_EVENTS)
                ),
            );
        }
        if let Some(first) = handlers[..index].iter().find(|earlier| earlier.event.value() == name) {
            cx.error_spanned_by(
                &handler.event,
                format!("event `{name}` is already handled by `{}`; each event has one handler", first.ident),
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
    let decode = payload.as_ref().map(|ty| {
        args.push(quote!(__payload));
        quote_spanned! {ty.span()=>
            let __payload: #ty = match __request.payload::<#ty>() {
                ::core::result::Result::Ok(payload) => payload,
                ::core::result::Result::Err(error) => {
                    return #krate::__private::Dispatch::Handled(::core::result::Result::Err(error));
                }
            };
        }
    });
    let call = quote_spanned!(ident.span()=> Self::#ident(self, #(#args),*).await);
    let reply = quote_spanned!(*reply_span=> #krate::__private::reply(__reply, __request));
    quote! {
        #event => {
            #decode
            let __reply = #call;
            #reply
        }
    }
}
