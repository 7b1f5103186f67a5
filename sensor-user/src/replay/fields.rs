//! The few fields of an Elastic Defend document that the rule and the alert read, pulled out of
//! one NDJSON line without building a JSON tree. Keys are routed ([`route`]) so that
//! `"process.parent.executable"`, `{"process": {"parent.executable": ..}}` and
//! `{"process": {"parent": {"executable": ..}}}` reach the same slot; strings are borrowed from
//! the line where JSON escaping allows; everything else is validated, not kept. Two readers do
//! this: a two-stage scanner ([`quotes`] finds where strings end with SIMD, [`scan`] walks the
//! rest), which handles nearly every Defend document, and a `serde` visitor, which handles the
//! rest and gives every error. Promises: a value of the wrong JSON type in a field it reads is
//! an error naming the field; JSON `null` is the same as an absent field (ECS null); a field
//! given twice keeps the last.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// A string borrowed from the line when it has no escapes.
pub type Str<'a> = Cow<'a, str>;

/// A keyword field that ECS allows as a string or an array of strings. Reading it allocates
/// nothing in the common cases: a single string is held inline, and an array the scanner has
/// checked (strings without escapes, and nulls) is held as its raw text and split when read.
#[derive(Clone)]
pub enum StrList<'a> {
    /// Elements read one at a time (a single string, or the `serde` visitor's).
    Read {
        first: Option<Str<'a>>,
        more: Vec<Str<'a>>,
    },
    /// The inside of a JSON array, between its brackets, holding only strings without escapes
    /// and nulls (so every `"` opens or closes one of its strings).
    Plain(&'a str),
}

impl Default for StrList<'_> {
    fn default() -> Self {
        StrList::Read {
            first: None,
            more: Vec::new(),
        }
    }
}

impl<'a> StrList<'a> {
    /// A list of one string.
    #[inline]
    fn one(s: Str<'a>) -> Self {
        StrList::Read {
            first: Some(s),
            more: Vec::new(),
        }
    }

    #[inline]
    fn push(&mut self, s: Str<'a>) {
        match self {
            StrList::Read {
                first: first @ None,
                ..
            } => *first = Some(s),
            StrList::Read { more, .. } => more.push(s),
            StrList::Plain(_) => unreachable!("a plain list is made whole"),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let (read, plain) = match self {
            StrList::Read { first, more } => (Some(first.iter().chain(more).map(|s| &**s)), None),
            // Between quotes 1 and 2, 3 and 4, ...: the strings; the rest is commas, spaces
            // and nulls.
            StrList::Plain(raw) => (None, Some(raw.split('"').skip(1).step_by(2))),
        };
        read.into_iter()
            .flatten()
            .chain(plain.into_iter().flatten())
    }

    pub fn contains(&self, x: &str) -> bool {
        match self {
            // The common case (`event.category`, `event.type`), without the general iterator.
            StrList::Read { first, more } if more.is_empty() => first.as_deref() == Some(x),
            _ => self.iter().any(|s| s == x),
        }
    }

    pub fn into_strings(self) -> Vec<String> {
        self.iter().map(str::to_owned).collect()
    }
}

/// The elements, however they are held.
impl fmt::Debug for StrList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl PartialEq for StrList<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for StrList<'_> {}

/// `process.*` or `process.parent.*`.
#[derive(Debug, Default)]
pub struct ProcessFields<'a> {
    pub pid: Option<u32>,
    pub entity_id: Option<Str<'a>>,
    pub executable: Option<Str<'a>>,
    pub name: Option<Str<'a>>,
    pub args: Option<StrList<'a>>,
    pub command_line: Option<Str<'a>>,
    pub start: Option<Str<'a>>,
    pub user_id: Option<u32>,
    pub user_name: Option<Str<'a>>,
    pub group_id: Option<u32>,
}

/// What one document says, before validation.
#[derive(Debug, Default)]
pub struct Fields<'a> {
    pub timestamp: Option<Str<'a>>,
    pub host_id: Option<Str<'a>>,
    pub host_name: Option<Str<'a>>,
    pub host_os_type: Option<Str<'a>>,
    pub category: Option<StrList<'a>>,
    pub event_type: Option<StrList<'a>>,
    pub action: Option<Str<'a>>,
    pub process: ProcessFields<'a>,
    pub parent: ProcessFields<'a>,
    /// Top-level `user.*` / `group.*` (Defend's who-ran-it, used when `process.user` is absent).
    pub user_id: Option<u32>,
    pub user_name: Option<Str<'a>>,
    pub group_id: Option<u32>,
    pub destination_ip: Option<Str<'a>>,
    pub destination_port: Option<u16>,
    pub source_ip: Option<Str<'a>>,
    pub source_port: Option<u16>,
    pub transport: Option<Str<'a>>,
}

/// Parses one line (a JSON object) into [`Fields`]: the byte scanner ([`scan`]) for what it
/// handles (nearly every Defend document), else the `serde` visitor, which also gives the error.
pub fn parse(line: &[u8]) -> Result<Fields<'_>, serde_json::Error> {
    let mut fields = Fields::default();
    parse_into(line, &mut fields)?;
    Ok(fields)
}

/// [`parse`] into `fields` (which must be empty), so the large struct is never moved.
pub fn parse_into<'a>(line: &'a [u8], fields: &mut Fields<'a>) -> Result<(), serde_json::Error> {
    if scan::parse_into(line, fields).is_some() {
        return Ok(());
    }
    // The scanner may have stored some fields before it gave up.
    *fields = Fields::default();
    serde_into(line, fields)
}

/// [`parse_into`] by the `serde` visitor alone.
fn serde_into<'a>(line: &'a [u8], fields: &mut Fields<'a>) -> Result<(), serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(line);
    de.deserialize_map(Walk {
        fields,
        at: Obj::Root,
    })?;
    de.end()
}

#[cfg(test)]
fn parse_with_serde(line: &[u8]) -> Result<Fields<'_>, serde_json::Error> {
    let mut fields = Fields::default();
    serde_into(line, &mut fields)?;
    Ok(fields)
}

/// Visits one object read in `at`.
struct Walk<'s, 'a> {
    fields: &'s mut Fields<'a>,
    at: Obj,
}

impl<'de> DeserializeSeed<'de> for Walk<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(route) = map.next_key_seed(Key(self.at))? {
            match route {
                Route::Ignore => {
                    map.next_value::<IgnoredAny>()?;
                }
                Route::Obj(at) => map.next_value_seed(Walk {
                    fields: &mut *self.fields,
                    at,
                })?,
                Route::Leaf(leaf) => {
                    if let Err(e) = store(leaf, self.fields, &mut map) {
                        return Err(de::Error::custom(format_args!("`{}`: {e}", leaf.name())));
                    }
                }
            }
        }
        Ok(())
    }
}

/// Reads one key and routes it from the object it is in.
struct Key(Obj);

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Route;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Route, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for Key {
    type Value = Route;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: de::Error>(self, key: &str) -> Result<Route, E> {
        Ok(route(self.0, key.as_bytes()))
    }
}

fn store<'de, A: MapAccess<'de>>(
    leaf: Leaf,
    f: &mut Fields<'de>,
    map: &mut A,
) -> Result<(), A::Error> {
    match leaf {
        Leaf::Timestamp => f.timestamp = str_value(map)?,
        Leaf::HostId => f.host_id = str_value(map)?,
        Leaf::HostName => f.host_name = str_value(map)?,
        Leaf::HostOsType => f.host_os_type = str_value(map)?,
        Leaf::Category => f.category = map.next_value_seed(StrOrList)?,
        Leaf::EventType => f.event_type = map.next_value_seed(StrOrList)?,
        Leaf::Action => f.action = str_value(map)?,
        Leaf::UserId => f.user_id = map.next_value_seed(NumericId)?,
        Leaf::UserName => f.user_name = str_value(map)?,
        Leaf::GroupId => f.group_id = map.next_value_seed(NumericId)?,
        Leaf::DestinationIp => f.destination_ip = str_value(map)?,
        Leaf::DestinationPort => f.destination_port = map.next_value()?,
        Leaf::SourceIp => f.source_ip = str_value(map)?,
        Leaf::SourcePort => f.source_port = map.next_value()?,
        Leaf::Transport => f.transport = str_value(map)?,
        Leaf::Proc(which, leaf) => {
            let p = match which {
                Which::Process => &mut f.process,
                Which::Parent => &mut f.parent,
            };
            match leaf {
                ProcLeaf::Pid => p.pid = map.next_value()?,
                ProcLeaf::EntityId => p.entity_id = str_value(map)?,
                ProcLeaf::Executable => p.executable = str_value(map)?,
                ProcLeaf::Name => p.name = str_value(map)?,
                ProcLeaf::Args => p.args = map.next_value_seed(StrOrList)?,
                ProcLeaf::CommandLine => p.command_line = str_value(map)?,
                ProcLeaf::Start => p.start = str_value(map)?,
                ProcLeaf::UserId => p.user_id = map.next_value_seed(NumericId)?,
                ProcLeaf::UserName => p.user_name = str_value(map)?,
                ProcLeaf::GroupId => p.group_id = map.next_value_seed(NumericId)?,
            }
        }
    }
    Ok(())
}

fn str_value<'de, A: MapAccess<'de>>(map: &mut A) -> Result<Option<Str<'de>>, A::Error> {
    map.next_value_seed(OptStr)
}

/// A string or null, borrowed when possible.
struct OptStr;

impl<'de> DeserializeSeed<'de> for OptStr {
    type Value = Option<Str<'de>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for OptStr {
    type Value = Option<Str<'de>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_owned())))
    }
}

/// A string or an array of strings (ECS keyword fields may be either), or null.
struct StrOrList;

impl<'de> DeserializeSeed<'de> for StrOrList {
    type Value = Option<StrList<'de>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrOrList {
    type Value = Option<StrList<'de>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string or an array of strings")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        let mut list = StrList::default();
        list.push(Cow::Borrowed(v));
        Ok(Some(list))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        let mut list = StrList::default();
        list.push(Cow::Owned(v.to_owned()));
        Ok(Some(list))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut list = StrList::default();
        while let Some(s) = seq.next_element_seed(OptStr)? {
            // A null inside an array is no value, as in Elasticsearch.
            if let Some(s) = s {
                list.push(s);
            }
        }
        Ok(Some(list))
    }
}

/// A numeric id given as a JSON number or a decimal string (ECS types ids as keywords, so
/// Defend writes `"user": {"id": "0"}`), or null.
struct NumericId;

impl<'de> DeserializeSeed<'de> for NumericId {
    type Value = Option<u32>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl Visitor<'_> for NumericId {
    type Value = Option<u32>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a numeric id (number or decimal string)")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        u32::try_from(v)
            .map(Some)
            .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        u32::try_from(v)
            .map(Some)
            .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        v.parse()
            .map(Some)
            .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
    }
}

mod quotes;
mod route;
mod scan;

use route::{Leaf, Obj, ProcLeaf, Route, Which, route};
#[cfg(test)]
mod tests;
