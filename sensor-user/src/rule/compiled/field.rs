//! The event fields a compiled rule can read: their EQL names, their types, and how each is read
//! from an [`Event`]. A name outside this list is refused when the rule is compiled, never
//! treated as a field that is always null.

use std::borrow::Cow;
use std::net::IpAddr;

use crate::event::{Event, Process};
use crate::rule::exclusions::normalize_ip;

/// What a field holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A keyword; list fields (`event.type`, `process.args`) match when any element does.
    Str,
    Int,
    Ip,
}

macro_rules! fields {
    ($($variant:ident = $name:literal : $kind:ident,)*) => {
        /// A field the sensor's events carry.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Field { $($variant,)* }

        impl Field {
            pub const ALL: &[Field] = &[$(Field::$variant,)*];

            /// The ECS name, as EQL writes it.
            pub fn name(self) -> &'static str {
                match self { $(Field::$variant => $name,)* }
            }

            pub fn kind(self) -> Kind {
                match self { $(Field::$variant => Kind::$kind,)* }
            }
        }
    };
}

fields! {
    HostId = "host.id": Str,
    HostName = "host.name": Str,
    HostOsType = "host.os.type": Str,
    EventCategory = "event.category": Str,
    EventType = "event.type": Str,
    EventAction = "event.action": Str,
    ProcessPid = "process.pid": Int,
    ProcessEntityId = "process.entity_id": Str,
    ProcessExecutable = "process.executable": Str,
    ProcessName = "process.name": Str,
    ProcessArgs = "process.args": Str,
    ProcessCommandLine = "process.command_line": Str,
    ProcessUserId = "user.id": Str,
    ProcessUserName = "user.name": Str,
    ParentPid = "process.parent.pid": Int,
    ParentEntityId = "process.parent.entity_id": Str,
    ParentExecutable = "process.parent.executable": Str,
    ParentName = "process.parent.name": Str,
    ParentArgs = "process.parent.args": Str,
    ParentCommandLine = "process.parent.command_line": Str,
    DestinationIp = "destination.ip": Ip,
    DestinationPort = "destination.port": Int,
    SourceIp = "source.ip": Ip,
    SourcePort = "source.port": Int,
    NetworkTransport = "network.transport": Str,
}

impl Field {
    /// The field EQL names `name` (case-sensitive, as ECS field names are).
    pub fn named(name: &str) -> Option<Field> {
        Field::ALL.iter().copied().find(|f| f.name() == name)
    }
}

/// Something a compiled condition can be evaluated on: an [`Event`], or replay's borrowed view
/// of a document. Both must give the same answers for the same document (replay's debug builds
/// assert it).
pub trait FieldSource {
    /// Calls `each` on every value of a keyword field until it returns true; `None` when the
    /// field is null (absent, or an empty list). Only asked of [`Kind::Str`] fields.
    fn any_str(&self, field: Field, each: impl FnMut(&str) -> bool) -> Option<bool>;
    /// `field in (values)` for a keyword field; `None` when it is null. A source may answer it
    /// faster than [`FieldSource::any_str`] does (replay's `event.type` lists).
    fn str_in(&self, field: Field, values: &[String]) -> Option<bool> {
        self.any_str(field, |v| values.iter().any(|x| x == v))
    }
    /// The value of a [`Kind::Int`] field.
    fn int(&self, field: Field) -> Option<i64>;
    /// The value of a [`Kind::Ip`] field, IPv4-mapped addresses as IPv4.
    fn ip(&self, field: Field) -> Option<IpAddr>;
    /// `event.category` holds `category` (a stage's `<category> where`).
    fn has_category(&self, category: &str) -> bool;
}

impl FieldSource for Event {
    fn any_str(&self, field: Field, mut each: impl FnMut(&str) -> bool) -> Option<bool> {
        let e = self;
        let one = |v: Option<&str>, each: &mut dyn FnMut(&str) -> bool| v.map(each);
        let list = |v: &[String], each: &mut dyn FnMut(&str) -> bool| {
            (!v.is_empty()).then(|| v.iter().any(|s| each(s)))
        };
        match field {
            Field::HostId => one(e.host_id.as_deref(), &mut each),
            Field::HostName => one(e.host_name.as_deref(), &mut each),
            Field::HostOsType => one(e.host_os_type.as_deref(), &mut each),
            Field::EventCategory => list(&e.category, &mut each),
            Field::EventType => list(&e.event_type, &mut each),
            Field::EventAction => one(e.action.as_deref(), &mut each),
            Field::ProcessEntityId => one(e.process.entity_id.as_deref(), &mut each),
            Field::ProcessExecutable => one(e.process.executable.as_deref(), &mut each),
            Field::ProcessName => one(e.process.name.as_deref(), &mut each),
            Field::ProcessArgs => e.process.args.as_deref().and_then(|a| list(a, &mut each)),
            Field::ProcessCommandLine => command_line(&e.process).map(|c| each(&c)),
            Field::ProcessUserId => e.process.user_id.map(|u| each(&u.to_string())),
            Field::ProcessUserName => one(e.process.user_name.as_deref(), &mut each),
            Field::ParentEntityId => one(e.parent.entity_id.as_deref(), &mut each),
            Field::ParentExecutable => one(e.parent.executable.as_deref(), &mut each),
            Field::ParentName => one(e.parent.name.as_deref(), &mut each),
            Field::ParentArgs => e.parent.args.as_deref().and_then(|a| list(a, &mut each)),
            Field::ParentCommandLine => command_line(&e.parent).map(|c| each(&c)),
            Field::NetworkTransport => one(e.transport.as_deref(), &mut each),
            Field::ProcessPid
            | Field::ParentPid
            | Field::DestinationIp
            | Field::DestinationPort
            | Field::SourceIp
            | Field::SourcePort => None,
        }
    }

    fn int(&self, field: Field) -> Option<i64> {
        match field {
            Field::ProcessPid => self.process.pid.map(i64::from),
            Field::ParentPid => self.parent.pid.map(i64::from),
            Field::DestinationPort => self.destination.port.map(i64::from),
            Field::SourcePort => self.source.port.map(i64::from),
            _ => None,
        }
    }

    fn ip(&self, field: Field) -> Option<IpAddr> {
        match field {
            Field::DestinationIp => self.destination.ip.map(normalize_ip),
            Field::SourceIp => self.source.ip.map(normalize_ip),
            _ => None,
        }
    }

    fn has_category(&self, category: &str) -> bool {
        Event::has_category(self, category)
    }
}

/// `process.command_line`: the document's own when it had one (replay), else the arguments
/// joined with single spaces, as Elastic Defend builds it (live).
fn command_line(p: &Process) -> Option<Cow<'_, str>> {
    if let Some(line) = p.command_line.as_deref() {
        return Some(Cow::Borrowed(line));
    }
    match p.args.as_deref()? {
        [] => None,
        [one] => Some(Cow::Borrowed(one)),
        many => Some(Cow::Owned(many.join(" "))),
    }
}
