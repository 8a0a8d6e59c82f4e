//! Socket.IO protocol v5 packets, as they travel in Engine.IO messages:
//! `<type>[<attachments>-][<namespace>,][<ack id>][<JSON>]`, the namespace left out when it is
//! `/`. Only what a server reads and writes is here: a client's CONNECT, DISCONNECT, EVENT,
//! BINARY_EVENT and ACK in; CONNECT, CONNECT_ERROR, EVENT, ACK and DISCONNECT out.

use std::fmt::Write as _;

use serde::Deserialize;
use serde_json::value::RawValue;

/// One packet a client sent, borrowing from its text.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Packet<'a> {
    /// Joins a namespace, with the `auth` payload (raw JSON) if the client gave one.
    Connect { namespace: &'a str, auth: Option<&'a str> },
    /// Leaves a namespace.
    Disconnect { namespace: &'a str },
    /// `socket.emit(..)`: `arguments` is the raw JSON array `["event", ...args]`; `attachments`
    /// binary messages follow when it is a BINARY_EVENT.
    Event { namespace: &'a str, id: Option<u64>, arguments: &'a str, attachments: usize },
    /// The answer to an ack the server asked for; the server asks for none.
    Ack { namespace: &'a str },
}

/// Why a packet could not be read.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct PacketError(pub(super) &'static str);

/// Reads one text packet.
pub(super) fn parse<'a>(text: &'a str) -> Result<Packet<'a>, PacketError> {
    let mut rest = text;
    let kind = take_char(&mut rest).ok_or(PacketError("empty packet"))?;
    let attachments = if matches!(kind, '5' | '6') {
        let count = take_digits(&mut rest).ok_or(PacketError("binary packet without attachment count"))?;
        rest = rest.strip_prefix('-').ok_or(PacketError("binary packet without `-` after its count"))?;
        usize::try_from(count).map_err(|_| PacketError("attachment count out of range"))?
    } else {
        0
    };
    let namespace = match rest.strip_prefix('/') {
        Some(_) => match rest.find(',') {
            Some(comma) => {
                let namespace = &rest[..comma];
                rest = &rest[comma + 1..];
                namespace
            }
            None => std::mem::take(&mut rest),
        },
        None => "/",
    };
    let payload = |rest: &'a str| (!rest.is_empty()).then_some(rest);
    match kind {
        '0' => Ok(Packet::Connect { namespace, auth: payload(rest) }),
        '1' => Ok(Packet::Disconnect { namespace }),
        '2' | '5' => {
            let id = take_digits(&mut rest);
            if !rest.starts_with('[') {
                return Err(PacketError("event without an argument array"));
            }
            Ok(Packet::Event { namespace, id, arguments: rest, attachments })
        }
        '3' | '6' => Ok(Packet::Ack { namespace }),
        _ => Err(PacketError("unknown packet type")),
    }
}

fn take_char(rest: &mut &str) -> Option<char> {
    let mut chars = rest.chars();
    let first = chars.next()?;
    *rest = chars.as_str();
    Some(first)
}

fn take_digits(rest: &mut &str) -> Option<u64> {
    let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
    if end == 0 {
        return None;
    }
    let digits = &rest[..end];
    *rest = &rest[end..];
    digits.parse().ok()
}

/// The `token` of a CONNECT packet's `auth` payload (`{ token }`), when it is a non-empty
/// string.
pub(super) fn auth_token(auth: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Auth {
        #[serde(default)]
        token: Option<serde_json::Value>,
    }
    match serde_json::from_str::<Auth>(auth).ok()?.token? {
        serde_json::Value::String(token) if !token.is_empty() => Some(token),
        _ => None,
    }
}

/// The event name and the venta-ws `data` of an event's argument array: no argument reads as
/// no `data`, one as itself, several as the array of them.
pub(super) fn split_arguments(arguments: &str) -> Result<(String, Option<String>), PacketError> {
    let items: Vec<&RawValue> =
        serde_json::from_str(arguments).map_err(|_| PacketError("event arguments are not a JSON array"))?;
    let (name, args) = items.split_first().ok_or(PacketError("event without a name"))?;
    let name: String = serde_json::from_str(name.get()).map_err(|_| PacketError("event name is not a string"))?;
    let data = match args {
        [] => None,
        [one] => Some(one.get().to_owned()),
        several => {
            let mut array = String::from("[");
            for (index, arg) in several.iter().enumerate() {
                if index > 0 {
                    array.push(',');
                }
                array.push_str(arg.get());
            }
            array.push(']');
            Some(array)
        }
    };
    Ok((name, data))
}

fn prefix(out: &mut String, kind: char, namespace: &str) {
    out.push(kind);
    if namespace != "/" {
        out.push_str(namespace);
        out.push(',');
    }
}

/// `CONNECT`: the namespace was joined.
pub(super) fn connected(namespace: &str, sid: &str) -> String {
    let mut out = String::with_capacity(namespace.len() + sid.len() + 12);
    prefix(&mut out, '0', namespace);
    let _ = write!(out, r#"{{"sid":{}}}"#, json_string(sid));
    out
}

/// `CONNECT_ERROR`: the namespace was refused, with the close code and reason a plain
/// WebSocket would have been closed with; `code` is left out when there is none.
pub(super) fn connect_error(namespace: &str, message: &str, code: Option<u16>) -> String {
    let mut out = String::with_capacity(namespace.len() + message.len() * 2 + 48);
    prefix(&mut out, '4', namespace);
    let message = json_string(message);
    match code {
        Some(code) => {
            let _ = write!(out, r#"{{"message":{message},"data":{{"code":{code},"reason":{message}}}}}"#);
        }
        None => {
            let _ = write!(out, r#"{{"message":{message}}}"#);
        }
    }
    out
}

/// `EVENT`: `socket.on(event, (data) => ..)` on the client; `data` is raw JSON.
pub(super) fn event(namespace: &str, event: &str, data: Option<&str>) -> String {
    let mut out = String::with_capacity(namespace.len() + event.len() + data.map_or(0, str::len) + 8);
    prefix(&mut out, '2', namespace);
    out.push('[');
    out.push_str(&json_string(event));
    if let Some(data) = data {
        out.push(',');
        out.push_str(data);
    }
    out.push(']');
    out
}

/// `ACK`: the client's ack callback is called with `data` (raw JSON).
pub(super) fn ack(namespace: &str, id: u64, data: Option<&str>) -> String {
    let mut out = String::with_capacity(namespace.len() + data.map_or(0, str::len) + 24);
    prefix(&mut out, '3', namespace);
    let _ = write!(out, "{id}[{}]", data.unwrap_or(""));
    out
}

/// `DISCONNECT`: the server closed the client's socket in this namespace.
pub(super) fn disconnect(namespace: &str) -> String {
    let mut out = String::with_capacity(namespace.len() + 2);
    prefix(&mut out, '1', namespace);
    out
}

fn json_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| String::from("\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_packets_a_client_sends() {
        assert_eq!(parse("0/user,"), Ok(Packet::Connect { namespace: "/user", auth: None }));
        assert_eq!(
            parse(r#"0/user,{"token":"t"}"#),
            Ok(Packet::Connect { namespace: "/user", auth: Some(r#"{"token":"t"}"#) })
        );
        assert_eq!(parse("0"), Ok(Packet::Connect { namespace: "/", auth: None }));
        assert_eq!(parse("1/user,"), Ok(Packet::Disconnect { namespace: "/user" }));
        assert_eq!(
            parse(r#"2/user,12["ping",{"a":1}]"#),
            Ok(Packet::Event { namespace: "/user", id: Some(12), arguments: r#"["ping",{"a":1}]"#, attachments: 0 })
        );
        assert_eq!(
            parse(r#"2["ping"]"#),
            Ok(Packet::Event { namespace: "/", id: None, arguments: r#"["ping"]"#, attachments: 0 })
        );
        assert_eq!(
            parse(r#"51-/user,3["up",{"_placeholder":true,"num":0}]"#),
            Ok(Packet::Event {
                namespace: "/user",
                id: Some(3),
                arguments: r#"["up",{"_placeholder":true,"num":0}]"#,
                attachments: 1
            })
        );
        assert_eq!(parse("3/user,4[]"), Ok(Packet::Ack { namespace: "/user" }));
        for bad in ["", "9", "2/user,", "2/user,5{}", "5/user,[]", "5x-[]"] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn arguments_become_data() {
        assert_eq!(split_arguments(r#"["ping"]"#), Ok(("ping".into(), None)));
        assert_eq!(split_arguments(r#"["ping",{"a":1}]"#), Ok(("ping".into(), Some(r#"{"a":1}"#.into()))));
        assert_eq!(split_arguments(r#"["ping",1,"two"]"#), Ok(("ping".into(), Some(r#"[1,"two"]"#.into()))));
        assert!(split_arguments("[]").is_err());
        assert!(split_arguments("[1]").is_err());
        assert!(split_arguments("[\"a\"").is_err());
    }

    #[test]
    fn writes_the_packets_a_server_sends() {
        assert_eq!(connected("/user", "abc"), r#"0/user,{"sid":"abc"}"#);
        assert_eq!(
            connect_error("/user", "missing token", Some(4401)),
            r#"4/user,{"message":"missing token","data":{"code":4401,"reason":"missing token"}}"#
        );
        assert_eq!(connect_error("/nope", "Invalid namespace", None), r#"4/nope,{"message":"Invalid namespace"}"#);
        assert_eq!(event("/user", "pong", Some(r#"{"a":1}"#)), r#"2/user,["pong",{"a":1}]"#);
        assert_eq!(event("/", "hi", None), r#"2["hi"]"#);
        assert_eq!(ack("/user", 7, Some("true")), "3/user,7[true]");
        assert_eq!(ack("/user", 7, None), "3/user,7[]");
        assert_eq!(disconnect("/user"), "1/user,");
        assert_eq!(auth_token(r#"{"token":"abc"}"#), Some("abc".into()));
        assert_eq!(auth_token(r#"{"token":""}"#), None);
        assert_eq!(auth_token(r#"{"token":5}"#), None);
        assert_eq!(auth_token("nonsense"), None);
    }
}
