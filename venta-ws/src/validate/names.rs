//! The field paths of a validation report, in the payload's own names.
//!
//! garde names fields as Rust does (`entity_id`), while a client wrote them as the payload's
//! `Deserialize` impl reads them (`entityId`, under `#[serde(rename_all = "camelCase")]`). A
//! client reads `details` against what it sent, so each path is translated, one field at a
//! time: the names a struct's `Deserialize` impl accepts are found by running it against a
//! probe that follows the path (into the field, the list item or the map entry already
//! translated) and records the names of the struct it reaches; the Rust name is then matched to
//! one of them, as written or in one of serde's case conventions. A field renamed to a name no
//! convention gives (`#[serde(rename = "lat")]` on `latitude`) keeps its Rust name.

use std::cell::Cell;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};

/// One step of a path: a struct field, or a list index or map key (`[3]`, `[home]`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Field(String),
    Item(String),
}

/// `path` (garde's `items[0].unit_price`) with every field named as `T` reads it.
pub(super) fn translate<'de, T: Deserialize<'de>>(path: &str) -> String {
    let Some(steps) = parse(path) else { return path.to_owned() };
    let mut translated: Vec<Step> = Vec::with_capacity(steps.len());
    for step in steps {
        let step = match step {
            Step::Field(rust) => match fields_at::<T>(&translated) {
                Some(names) => Step::Field(pick(&rust, names)),
                None => Step::Field(rust),
            },
            item => item,
        };
        translated.push(step);
    }
    render(&translated)
}

/// The name among `names` that `rust` is written as: itself, or a case convention of it.
fn pick(rust: &str, names: &[&str]) -> String {
    if names.contains(&rust) {
        return rust.to_owned();
    }
    let words: Vec<&str> = rust.split('_').filter(|word| !word.is_empty()).collect();
    let capitalized = |word: &str| {
        let mut chars = word.chars();
        chars.next().map_or_else(String::new, |first| first.to_uppercase().chain(chars).collect())
    };
    let pascal: String = words.iter().map(|word| capitalized(word)).collect();
    let camel = match words.split_first() {
        Some((first, rest)) => format!("{first}{}", rest.iter().map(|word| capitalized(word)).collect::<String>()),
        None => String::new(),
    };
    let candidates = [
        camel,
        pascal,
        words.join("-"),
        rust.to_uppercase(),
        words.join("-").to_uppercase(),
        words.concat(),
        words.concat().to_uppercase(),
    ];
    candidates.into_iter().find(|candidate| names.contains(&candidate.as_str())).unwrap_or_else(|| rust.to_owned())
}

/// garde's path text as steps; `None` when it cannot be read back (a map key with `]`).
fn parse(path: &str) -> Option<Vec<Step>> {
    let mut steps = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(inner) = rest.strip_prefix('[') {
            let end = inner.find(']')?;
            steps.push(Step::Item(inner[..end].to_owned()));
            rest = &inner[end + 1..];
        } else {
            let rest_of_field = rest.strip_prefix('.').unwrap_or(rest);
            let end = rest_of_field.find(['.', '[']).unwrap_or(rest_of_field.len());
            steps.push(Step::Field(rest_of_field[..end].to_owned()));
            rest = &rest_of_field[end..];
        }
    }
    Some(steps)
}

fn render(steps: &[Step]) -> String {
    let mut out = String::new();
    for step in steps {
        match step {
            Step::Field(name) if out.is_empty() => out.push_str(name),
            Step::Field(name) => {
                out.push('.');
                out.push_str(name);
            }
            Step::Item(item) => {
                out.push('[');
                out.push_str(item);
                out.push(']');
            }
        }
    }
    out
}

/// The field names of the struct `T` reaches at `route`, if a struct is there.
fn fields_at<'de, T: Deserialize<'de>>(route: &[Step]) -> Option<&'static [&'static str]> {
    let found = Cell::new(None);
    // The probe always stops `T`'s impl with an error, once it has what it came for.
    let _ = T::deserialize(Probe { route, found: &found });
    found.get()
}

/// The error that stops a probed `Deserialize` impl.
#[derive(Debug)]
struct Stop;

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("probe stopped")
    }
}

impl std::error::Error for Stop {}

impl de::Error for Stop {
    fn custom<M: fmt::Display>(_: M) -> Self {
        Self
    }
}

/// A deserializer that walks `route` through the impl it is given to, and records the field
/// names of the struct at its end.
struct Probe<'r> {
    route: &'r [Step],
    found: &'r Cell<Option<&'static [&'static str]>>,
}

impl<'r> Probe<'r> {
    fn rest(&self) -> Probe<'r> {
        Probe { route: self.route.get(1..).unwrap_or_default(), found: self.found }
    }
}

impl<'de> de::Deserializer<'de> for Probe<'_> {
    type Error = Stop;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
        Err(Stop)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Stop> {
        match self.route.first() {
            None => {
                self.found.set(Some(fields));
                Err(Stop)
            }
            Some(Step::Field(key)) => visitor.visit_map(Entry { key: Some(key.as_str()), value: Some(self.rest()) }),
            Some(Step::Item(_)) => Err(Stop),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        match self.route.first() {
            Some(Step::Item(key)) => visitor.visit_map(Entry { key: Some(key.as_str()), value: Some(self.rest()) }),
            _ => Err(Stop),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        match self.route.first() {
            Some(Step::Item(_)) => visitor.visit_seq(Element(Some(self.rest()))),
            _ => Err(Stop),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, visitor: V) -> Result<V::Value, Stop> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _: &'static str, visitor: V) -> Result<V::Value, Stop> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit
        unit_struct tuple_struct enum identifier ignored_any
    }
}

/// One map entry: the next step's key, and a probe of the rest as its value.
struct Entry<'r> {
    key: Option<&'r str>,
    value: Option<Probe<'r>>,
}

impl<'de> MapAccess<'de> for Entry<'_> {
    type Error = Stop;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Stop> {
        match self.key.take() {
            Some(key) => seed.deserialize(key.into_deserializer()).map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, Stop> {
        seed.deserialize(self.value.take().ok_or(Stop)?)
    }
}

/// One list element: a probe of the rest.
struct Element<'r>(Option<Probe<'r>>);

impl<'de> SeqAccess<'de> for Element<'_> {
    type Error = Stop;

    fn next_element_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<Option<S::Value>, Stop> {
        match self.0.take() {
            Some(probe) => seed.deserialize(probe).map(Some),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Order {
        order_id: u64,
        line_items: Vec<Item>,
        by_warehouse: HashMap<String, Item>,
        #[serde(rename = "note")]
        customer_note: String,
        delivery: Option<Address>,
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Item {
        unit_price: u32,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "kebab-case")]
    #[allow(dead_code)]
    struct Address {
        post_code: String,
    }

    #[test]
    fn paths_name_fields_as_the_payload_does_at_every_depth() {
        let cases = [
            ("order_id", "orderId"),
            ("line_items[2].unit_price", "lineItems[2].unit_price"),
            ("by_warehouse[north].unit_price", "byWarehouse[north].unit_price"),
            ("delivery.post_code", "delivery.post-code"),
            ("customer_note", "customer_note"),
            ("", ""),
            ("unknown_field", "unknown_field"),
        ];
        for (garde, client) in cases {
            assert_eq!(translate::<Order>(garde), client, "{garde}");
        }
    }
}
