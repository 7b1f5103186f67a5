//! The few fields of an Elastic Defend document that the rule and the alert read, pulled out of
//! one NDJSON line without building a JSON tree: a `serde` visitor walks the document once,
//! routes `"process.parent.executable"`, `{"process": {"parent.executable": ..}}` and
//! `{"process": {"parent": {"executable": ..}}}` to the same slot, borrows strings from the line
//! where JSON escaping allows, and skips everything else as `IgnoredAny` (validated, not kept).
//! Promises: a value of the wrong JSON type in a field it reads is an error naming the field;
//! JSON `null` is the same as an absent field (ECS null); a field given twice keeps the last.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// A string borrowed from the line when it has no escapes.
pub type Str<'a> = Cow<'a, str>;

/// `process.*` or `process.parent.*`.
#[derive(Debug, Default)]
pub struct ProcessFields<'a> {
    pub pid: Option<u32>,
    pub entity_id: Option<Str<'a>>,
    pub executable: Option<Str<'a>>,
    pub name: Option<Str<'a>>,
    pub args: Option<Vec<Str<'a>>>,
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
    pub category: Option<Vec<Str<'a>>>,
    pub event_type: Option<Vec<Str<'a>>>,
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

/// Parses one line (a JSON object) into [`Fields`].
pub fn parse(line: &[u8]) -> Result<Fields<'_>, serde_json::Error> {
    let mut fields = Fields::default();
    let mut path = String::with_capacity(64);
    let mut de = serde_json::Deserializer::from_slice(line);
    de.deserialize_map(Walk {
        fields: &mut fields,
        path: &mut path,
    })?;
    de.end()?;
    Ok(fields)
}

/// Where a dotted path leads.
enum Route {
    Leaf(Leaf),
    /// A prefix of some leaf: descend into the object.
    Branch,
    Ignore,
}

#[derive(Clone, Copy)]
enum Which {
    Process,
    Parent,
}

#[derive(Clone, Copy)]
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

#[derive(Clone, Copy)]
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

fn route(path: &str) -> Route {
    use Leaf::*;
    let leaf = match path {
        "@timestamp" => Timestamp,
        "host.id" => HostId,
        "host.name" => HostName,
        "host.os.type" => HostOsType,
        "event.category" => Category,
        "event.type" => EventType,
        "event.action" => Action,
        "user.id" => UserId,
        "user.name" => UserName,
        "group.id" => GroupId,
        "destination.ip" => DestinationIp,
        "destination.port" => DestinationPort,
        "source.ip" => SourceIp,
        "source.port" => SourcePort,
        "network.transport" => Transport,
        "host"
        | "host.os"
        | "event"
        | "user"
        | "group"
        | "destination"
        | "source"
        | "network"
        | "process"
        | "process.parent"
        | "process.user"
        | "process.group"
        | "process.parent.user"
        | "process.parent.group" => return Route::Branch,
        _ => {
            let (which, rest) = if let Some(rest) = path.strip_prefix("process.parent.") {
                (Which::Parent, rest)
            } else if let Some(rest) = path.strip_prefix("process.") {
                (Which::Process, rest)
            } else {
                return Route::Ignore;
            };
            let leaf = match rest {
                "pid" => ProcLeaf::Pid,
                "entity_id" => ProcLeaf::EntityId,
                "executable" => ProcLeaf::Executable,
                "name" => ProcLeaf::Name,
                "args" => ProcLeaf::Args,
                "start" => ProcLeaf::Start,
                "user.id" => ProcLeaf::UserId,
                "user.name" => ProcLeaf::UserName,
                "group.id" => ProcLeaf::GroupId,
                _ => return Route::Ignore,
            };
            Proc(which, leaf)
        }
    };
    Route::Leaf(leaf)
}

/// Visits one object whose keys are appended to `path`.
struct Walk<'s, 'a> {
    fields: &'s mut Fields<'a>,
    path: &'s mut String,
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
        let base = self.path.len();
        while map
            .next_key_seed(Key {
                path: &mut *self.path,
                base,
            })?
            .is_some()
        {
            match route(self.path) {
                Route::Ignore => {
                    map.next_value::<IgnoredAny>()?;
                }
                Route::Branch => map.next_value_seed(Walk {
                    fields: &mut *self.fields,
                    path: &mut *self.path,
                })?,
                Route::Leaf(leaf) => {
                    if let Err(e) = store(leaf, self.fields, &mut map) {
                        return Err(de::Error::custom(format_args!("`{}`: {e}", self.path)));
                    }
                }
            }
            self.path.truncate(base);
        }
        Ok(())
    }
}

/// Appends one key to the path (with a `.` after a non-empty base).
struct Key<'s> {
    path: &'s mut String,
    base: usize,
}

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for Key<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: de::Error>(self, key: &str) -> Result<(), E> {
        if self.base > 0 {
            self.path.push('.');
        }
        self.path.push_str(key);
        Ok(())
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
    type Value = Option<Vec<Str<'de>>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrOrList {
    type Value = Option<Vec<Str<'de>>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string or an array of strings")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Some(vec![Cow::Borrowed(v)]))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(vec![Cow::Owned(v.to_owned())]))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(1));
        while let Some(s) = seq.next_element_seed(OptStr)? {
            // A null inside an array is no value, as in Elasticsearch.
            out.extend(s);
        }
        Ok(Some(out))
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

#[cfg(test)]
mod tests;
