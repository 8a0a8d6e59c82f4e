//! The lifecycle hooks of `GatewayHandlers` that a `#[messages]` block may override: one table,
//! from which both the signature check (and the signature its error asks for) and the
//! delegating trait method are made. The trait itself is in `venta-ws/src/gateway/mod.rs`; the
//! expansion tests and the UI pass cases compile every row against it.

use proc_macro2::TokenStream;
use quote::quote;
use syn::Path;

/// A lifecycle hook, overridable by a method of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Hook {
    GetEntityId,
    PresenceMeta,
    ValidateConnection,
    OnConnect,
    OnDisconnect,
    HandleConnectionError,
    LogConnectionSuccess,
    LogDisconnectionSuccess,
    OnText,
    OnBinary,
}

/// A parameter of a hook after `&self`.
#[derive(Clone, Copy)]
enum Param {
    Identity,
    Request,
    Socket,
    Reason,
    Operation,
    Error,
    Text,
    Data,
}

/// What a hook returns.
#[derive(Clone, Copy)]
enum Output {
    Unit,
    Fallible,
    EntityId,
    PresenceMeta,
}

/// One row of the table.
struct Signature {
    name: &'static str,
    is_async: bool,
    params: &'static [Param],
    output: Output,
}

impl Hook {
    const ALL: [Self; 10] = [
        Self::GetEntityId,
        Self::PresenceMeta,
        Self::ValidateConnection,
        Self::OnConnect,
        Self::OnDisconnect,
        Self::HandleConnectionError,
        Self::LogConnectionSuccess,
        Self::LogDisconnectionSuccess,
        Self::OnText,
        Self::OnBinary,
    ];

    /// The table.
    const fn signature(self) -> Signature {
        use Param::{Data, Error, Identity, Operation, Reason, Request, Socket, Text};
        let (name, is_async, params, output): (_, _, &'static [Param], _) = match self {
            Self::GetEntityId => ("get_entity_id", false, &[Identity], Output::EntityId),
            Self::PresenceMeta => ("presence_meta", false, &[Identity], Output::PresenceMeta),
            Self::ValidateConnection => ("validate_connection", true, &[Request, Identity], Output::Fallible),
            Self::OnConnect => ("on_connect", true, &[Socket], Output::Fallible),
            Self::OnDisconnect => ("on_disconnect", true, &[Socket, Reason], Output::Unit),
            Self::HandleConnectionError => {
                ("handle_connection_error", false, &[Socket, Operation, Error], Output::Unit)
            }
            Self::LogConnectionSuccess => ("log_connection_success", false, &[Socket], Output::Unit),
            Self::LogDisconnectionSuccess => ("log_disconnection_success", false, &[Socket, Reason], Output::Unit),
            Self::OnText => ("on_text", true, &[Socket, Text], Output::Fallible),
            Self::OnBinary => ("on_binary", true, &[Socket, Data], Output::Fallible),
        };
        Signature { name, is_async, params, output }
    }

    pub(super) fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|hook| hook.name() == name)
    }

    pub(super) fn name(self) -> &'static str {
        self.signature().name
    }

    pub(super) fn is_async(self) -> bool {
        self.signature().is_async
    }

    /// Whether the hook is async and returns `Result<(), GatewayError>`.
    pub(super) fn is_fallible(self) -> bool {
        self.is_async() && matches!(self.signature().output, Output::Fallible)
    }

    /// Whether the hook returns `()`.
    pub(super) fn returns_unit(self) -> bool {
        matches!(self.signature().output, Output::Unit)
    }

    /// The return type as the user writes it, with its arrow; empty for `()`.
    pub(super) fn written_output(self) -> &'static str {
        match self.signature().output {
            Output::Unit => "",
            Output::Fallible => " -> Result<(), GatewayError>",
            Output::EntityId => " -> Option<String>",
            Output::PresenceMeta => " -> PresenceMeta",
        }
    }

    pub(super) fn arity(self) -> usize {
        self.signature().params.len()
    }

    /// The parameters after `&self`, as the user writes them.
    pub(super) fn written_params(self) -> String {
        let params: Vec<String> =
            self.signature().params.iter().map(|param| format!("{}: {}", param.name(), param.written())).collect();
        params.join(", ")
    }

    /// The argument names of the delegating method, in order.
    pub(super) fn arg_names(self) -> impl Iterator<Item = &'static str> {
        self.signature().params.iter().map(|param| param.name())
    }

    /// The delegating method's parameters, with absolute paths and the lifetime `'__venta`.
    pub(super) fn params(self, krate: &Path) -> TokenStream {
        let params = self.signature().params.iter().map(|param| {
            let name = syn::Ident::new(param.name(), proc_macro2::Span::call_site());
            let ty = param.tokens(krate);
            quote!(#name: #ty)
        });
        quote!(#(#params),*)
    }

    /// What the delegating method returns; empty for `()`, as a person would write it.
    pub(super) fn returns(self, krate: &Path) -> TokenStream {
        let output = match self.signature().output {
            Output::Unit if !self.is_async() => return TokenStream::new(),
            Output::Unit => quote!(()),
            Output::Fallible => quote!(::core::result::Result<(), #krate::GatewayError>),
            Output::EntityId => quote!(::core::option::Option<::std::string::String>),
            Output::PresenceMeta => quote!(#krate::presence::PresenceMeta),
        };
        if self.is_async() {
            quote!(-> impl ::core::future::Future<Output = #output> + ::core::marker::Send + '__venta)
        } else {
            quote!(-> #output)
        }
    }
}

impl Param {
    fn name(self) -> &'static str {
        match self {
            Self::Identity => "identity",
            Self::Request => "request",
            Self::Socket => "socket",
            Self::Reason => "reason",
            Self::Operation => "operation",
            Self::Error => "error",
            Self::Text => "text",
            Self::Data => "data",
        }
    }

    /// The type as the user writes it, with the prelude's names.
    fn written(self) -> &'static str {
        match self {
            Self::Identity => "&Identity",
            Self::Request => "&ConnectRequest",
            Self::Socket => "&AuthenticatedSocket",
            Self::Reason => "&DisconnectReason",
            Self::Operation => "Operation<'_>",
            Self::Error => "&GatewayError",
            Self::Text => "Utf8Bytes",
            Self::Data => "Bytes",
        }
    }

    /// The type as the delegating method declares it.
    fn tokens(self, krate: &Path) -> TokenStream {
        match self {
            Self::Identity => quote!(&'__venta #krate::auth::Identity<#krate::ClaimsOf<Self>>),
            Self::Request => quote!(&'__venta #krate::auth::ConnectRequest),
            Self::Socket => quote!(&'__venta #krate::SocketOf<Self>),
            Self::Reason => quote!(&'__venta #krate::DisconnectReason),
            Self::Operation => quote!(#krate::Operation<'_>),
            Self::Error => quote!(&'__venta #krate::GatewayError),
            Self::Text => quote!(#krate::Utf8Bytes),
            Self::Data => quote!(#krate::Bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signatures_asked_for_are_the_ones_delegated() {
        assert_eq!(
            Hook::HandleConnectionError.written_params(),
            "socket: &AuthenticatedSocket, operation: Operation<'_>, error: &GatewayError"
        );
        for hook in Hook::ALL {
            assert_eq!(Hook::from_name(hook.name()), Some(hook));
            assert_eq!(hook.arg_names().count(), hook.arity());
        }
    }
}
