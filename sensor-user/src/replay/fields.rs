//! The few fields of an Elastic Defend document that the rule and the alert read, pulled out of
//! one NDJSON line without building a JSON tree: a `serde` visitor walks the document once,
//! routes `"process.parent.executable"`, `{"process": {"parent.executable": ..}}` and
//! `{"process": {"parent": {"executable": ..}}}` to the same slot, borrows strings from the line
//! where JSON escaping allows, and skips everything else as `IgnoredAny` (validated, not kept).
//! Routing is a small state machine over key segments (which object we are in), so a key costs
//! a match on a short string, never a path built in a buffer; a one-element list allocates
//! nothing. A byte scanner ([`scan`]) does the same walk faster for what it handles and leaves
//! the rest, and every error, to the visitor. Promises: a value of the wrong JSON type in a
//! field it reads is an error naming the field; JSON `null` is the same as an absent field (ECS
//! null); a field given twice keeps the last.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// A string borrowed from the line when it has no escapes.
pub type Str<'a> = Cow<'a, str>;

/// A keyword field that ECS allows as a string or an array of strings; the first element is held
/// inline, so the common one-element case allocates nothing.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StrList<'a> {
    first: Option<Str<'a>>,
    more: Vec<Str<'a>>,
}

impl<'a> StrList<'a> {
    #[inline]
    fn push(&mut self, s: Str<'a>) {
        if self.first.is_none() {
            self.first = Some(s);
        } else {
            self.more.push(s);
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.first.iter().chain(&self.more).map(|s| &**s)
    }

    pub fn contains(&self, x: &str) -> bool {
        self.iter().any(|s| s == x)
    }

    pub fn into_strings(self) -> Vec<String> {
        let mut out = Vec::with_capacity(usize::from(self.first.is_some()) + self.more.len());
        out.extend(self.first.map(Cow::into_owned));
        out.extend(self.more.into_iter().map(Cow::into_owned));
        out
    }
}

/// `process.*` or `process.parent.*`.
#[derive(Debug, Default)]
pub struct ProcessFields<'a> {
    pub pid: Option<u32>,
    pub entity_id: Option<Str<'a>>,
    pub executable: Option<Str<'a>>,
    pub name: Option<Str<'a>>,
    pub args: Option<StrList<'a>>,
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

/// The object a key is read in: every prefix of a field the parser reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Obj {
    Root,
    Host,
    HostOs,
    Event,
    User,
    Group,
    Destination,
    Source,
    Network,
    Proc(Which),
    ProcUser(Which),
    ProcGroup(Which),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Which {
    Process,
    Parent,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ProcLeaf {
    Pid,
    EntityId,
    Executable,
    Name,
    Args,
    Start,
    UserId,
    UserName,
    GroupId,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Leaf {
    Timestamp,
    HostId,
    HostName,
    HostOsType,
    Category,
    EventType,
    Action,
    Proc(Which, ProcLeaf),
    UserId,
    UserName,
    GroupId,
    DestinationIp,
    DestinationPort,
    SourceIp,
    SourcePort,
    Transport,
}

impl Leaf {
    /// The field's dotted ECS name, for messages.
    fn name(self) -> &'static str {
        use ProcLeaf as P;
        match self {
            Leaf::Timestamp => "@timestamp",
            Leaf::HostId => "host.id",
            Leaf::HostName => "host.name",
            Leaf::HostOsType => "host.os.type",
            Leaf::Category => "event.category",
            Leaf::EventType => "event.type",
            Leaf::Action => "event.action",
            Leaf::UserId => "user.id",
            Leaf::UserName => "user.name",
            Leaf::GroupId => "group.id",
            Leaf::DestinationIp => "destination.ip",
            Leaf::DestinationPort => "destination.port",
            Leaf::SourceIp => "source.ip",
            Leaf::SourcePort => "source.port",
            Leaf::Transport => "network.transport",
            Leaf::Proc(Which::Process, leaf) => match leaf {
                P::Pid => "process.pid",
                P::EntityId => "process.entity_id",
                P::Executable => "process.executable",
                P::Name => "process.name",
                P::Args => "process.args",
                P::Start => "process.start",
                P::UserId => "process.user.id",
                P::UserName => "process.user.name",
                P::GroupId => "process.group.id",
            },
            Leaf::Proc(Which::Parent, leaf) => match leaf {
                P::Pid => "process.parent.pid",
                P::EntityId => "process.parent.entity_id",
                P::Executable => "process.parent.executable",
                P::Name => "process.parent.name",
                P::Args => "process.parent.args",
                P::Start => "process.parent.start",
                P::UserId => "process.parent.user.id",
                P::UserName => "process.parent.user.name",
                P::GroupId => "process.parent.group.id",
            },
        }
    }
}

/// Where one key segment leads from an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    Leaf(Leaf),
    /// Into an object on the way to some leaf.
    Obj(Obj),
    Ignore,
}

/// One key segment (no dots, [`pack`]ed) read in `at`; `None` (no field's segment) is ignored.
#[inline]
fn step(at: Obj, seg: Option<u128>) -> Route {
    let Some(seg) = seg else {
        return Route::Ignore;
    };
    use Leaf as L;
    use Route::{Ignore, Leaf as F, Obj as O};
    match at {
        Obj::Root => match seg {
            K_TIMESTAMP => F(L::Timestamp),
            K_HOST => O(Obj::Host),
            K_EVENT => O(Obj::Event),
            K_PROCESS => O(Obj::Proc(Which::Process)),
            K_USER => O(Obj::User),
            K_GROUP => O(Obj::Group),
            K_DESTINATION => O(Obj::Destination),
            K_SOURCE => O(Obj::Source),
            K_NETWORK => O(Obj::Network),
            _ => Ignore,
        },
        Obj::Host => match seg {
            K_ID => F(L::HostId),
            K_NAME => F(L::HostName),
            K_OS => O(Obj::HostOs),
            _ => Ignore,
        },
        Obj::HostOs => match seg {
            K_TYPE => F(L::HostOsType),
            _ => Ignore,
        },
        Obj::Event => match seg {
            K_CATEGORY => F(L::Category),
            K_TYPE => F(L::EventType),
            K_ACTION => F(L::Action),
            _ => Ignore,
        },
        Obj::User => match seg {
            K_ID => F(L::UserId),
            K_NAME => F(L::UserName),
            _ => Ignore,
        },
        Obj::Group => match seg {
            K_ID => F(L::GroupId),
            _ => Ignore,
        },
        Obj::Destination => match seg {
            K_IP => F(L::DestinationIp),
            K_PORT => F(L::DestinationPort),
            _ => Ignore,
        },
        Obj::Source => match seg {
            K_IP => F(L::SourceIp),
            K_PORT => F(L::SourcePort),
            _ => Ignore,
        },
        Obj::Network => match seg {
            K_TRANSPORT => F(L::Transport),
            _ => Ignore,
        },
        Obj::Proc(which) => {
            let leaf = match seg {
                K_PID => ProcLeaf::Pid,
                K_ENTITYID => ProcLeaf::EntityId,
                K_EXECUTABLE => ProcLeaf::Executable,
                K_NAME => ProcLeaf::Name,
                K_ARGS => ProcLeaf::Args,
                K_START => ProcLeaf::Start,
                K_PARENT if which == Which::Process => return O(Obj::Proc(Which::Parent)),
                K_USER => return O(Obj::ProcUser(which)),
                K_GROUP => return O(Obj::ProcGroup(which)),
                _ => return Ignore,
            };
            F(L::Proc(which, leaf))
        }
        Obj::ProcUser(which) => match seg {
            K_ID => F(L::Proc(which, ProcLeaf::UserId)),
            K_NAME => F(L::Proc(which, ProcLeaf::UserName)),
            _ => Ignore,
        },
        Obj::ProcGroup(which) => match seg {
            K_ID => F(L::Proc(which, ProcLeaf::GroupId)),
            _ => Ignore,
        },
    }
}

/// A key segment of at most 16 bytes without NUL as one number (its bytes little-endian,
/// zero-padded), so matching it is a comparison of numbers; `None` for any other segment (no
/// field's segment is longer or holds a NUL, so it matches nothing).
pub(super) fn pack(seg: &[u8]) -> Option<u128> {
    if seg.len() > 16 {
        return None;
    }
    let mut packed = 0;
    for (i, &c) in seg.iter().enumerate() {
        if c == 0 {
            return None;
        }
        packed |= u128::from(c) << (8 * i);
    }
    Some(packed)
}

/// [`pack`] for the segments named in [`step`].
const fn pack_const(seg: &[u8]) -> u128 {
    assert!(seg.len() <= 16);
    let mut v = 0;
    let mut i = 0;
    while i < seg.len() {
        assert!(seg[i] != 0 && seg[i] != b'.');
        v |= (seg[i] as u128) << (8 * i);
        i += 1;
    }
    v
}

const K_TIMESTAMP: u128 = pack_const(b"@timestamp");
const K_ACTION: u128 = pack_const(b"action");
const K_ARGS: u128 = pack_const(b"args");
const K_CATEGORY: u128 = pack_const(b"category");
const K_DESTINATION: u128 = pack_const(b"destination");
const K_ENTITYID: u128 = pack_const(b"entity_id");
const K_EVENT: u128 = pack_const(b"event");
const K_EXECUTABLE: u128 = pack_const(b"executable");
const K_GROUP: u128 = pack_const(b"group");
const K_HOST: u128 = pack_const(b"host");
const K_ID: u128 = pack_const(b"id");
const K_IP: u128 = pack_const(b"ip");
const K_NAME: u128 = pack_const(b"name");
const K_NETWORK: u128 = pack_const(b"network");
const K_OS: u128 = pack_const(b"os");
const K_PARENT: u128 = pack_const(b"parent");
const K_PID: u128 = pack_const(b"pid");
const K_PORT: u128 = pack_const(b"port");
const K_PROCESS: u128 = pack_const(b"process");
const K_SOURCE: u128 = pack_const(b"source");
const K_START: u128 = pack_const(b"start");
const K_TRANSPORT: u128 = pack_const(b"transport");
const K_TYPE: u128 = pack_const(b"type");
const K_USER: u128 = pack_const(b"user");

/// A whole key (possibly dotted, `parent.executable`) read in `at`. Bytes: a key that is not
/// UTF-8 matches nothing (whether it is acceptable is the JSON reader's business).
fn route(at: Obj, key: &[u8]) -> Route {
    route_packed(at, key, pack(key))
}

/// [`route`] with the key's [`pack`] already made (the scanner makes it cheaply).
#[inline(always)]
fn route_packed(at: Obj, key: &[u8], packed: Option<u128>) -> Route {
    // No segment has a dot, so only a key that matches nothing whole can be a dotted path.
    match step(at, packed) {
        Route::Ignore if key.contains(&b'.') => {}
        whole => return whole,
    }
    let mut here = at;
    let mut segs = key.split(|&b| b == b'.').peekable();
    while let Some(seg) = segs.next() {
        match step(here, pack(seg)) {
            Route::Obj(next) => here = next,
            last if segs.peek().is_none() => return last,
            // A leaf or an ignored key with more segments after it.
            _ => return Route::Ignore,
        }
    }
    Route::Obj(here)
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

mod scan;
#[cfg(test)]
mod tests;
