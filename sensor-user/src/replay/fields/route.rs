//! Where each key of a Defend document leads: a small state machine over key segments (which
//! object we are in), so a key costs one table lookup on a number, never a path built in a
//! buffer. `"process.parent.executable"`, `{"process": {"parent.executable": ..}}` and
//! `{"process": {"parent": {"executable": ..}}}` reach the same leaf. The segments are one
//! list ([`SEGMENTS`]) turned at compile time into a collision-free hash table, so a lookup is
//! a multiply, a load and one comparison (a `match` over the keys compiled to a chain of
//! comparisons whose outcome changes from key to key, which the processor mispredicts).

/// The object a key is read in: every prefix of a field the parser reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(super) enum Obj {
    // From 1: 0 marks an empty slot of the table.
    Root = 1,
    Host,
    HostOs,
    Event,
    User,
    Group,
    Destination,
    Source,
    Network,
    Process,
    Parent,
    ProcessUser,
    ParentUser,
    ProcessGroup,
    ParentGroup,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Which {
    Process,
    Parent,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ProcLeaf {
    Pid,
    EntityId,
    Executable,
    Name,
    Args,
    CommandLine,
    Start,
    UserId,
    UserName,
    GroupId,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Leaf {
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
    pub(super) fn name(self) -> &'static str {
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
                P::CommandLine => "process.command_line",
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
                P::CommandLine => "process.parent.command_line",
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
pub(super) enum Route {
    Leaf(Leaf),
    /// Into an object on the way to some leaf.
    Obj(Obj),
    Ignore,
}

/// Every segment the parser follows: in which object, which key, where it leads.
const SEGMENTS: &[(Obj, &[u8], Route)] = {
    use Leaf as L;
    use ProcLeaf as P;
    use Route::{Leaf as F, Obj as O};
    use Which::{Parent, Process};
    &[
        (Obj::Root, b"@timestamp", F(L::Timestamp)),
        (Obj::Root, b"host", O(Obj::Host)),
        (Obj::Root, b"event", O(Obj::Event)),
        (Obj::Root, b"process", O(Obj::Process)),
        (Obj::Root, b"user", O(Obj::User)),
        (Obj::Root, b"group", O(Obj::Group)),
        (Obj::Root, b"destination", O(Obj::Destination)),
        (Obj::Root, b"source", O(Obj::Source)),
        (Obj::Root, b"network", O(Obj::Network)),
        (Obj::Host, b"id", F(L::HostId)),
        (Obj::Host, b"name", F(L::HostName)),
        (Obj::Host, b"os", O(Obj::HostOs)),
        (Obj::HostOs, b"type", F(L::HostOsType)),
        (Obj::Event, b"category", F(L::Category)),
        (Obj::Event, b"type", F(L::EventType)),
        (Obj::Event, b"action", F(L::Action)),
        (Obj::User, b"id", F(L::UserId)),
        (Obj::User, b"name", F(L::UserName)),
        (Obj::Group, b"id", F(L::GroupId)),
        (Obj::Destination, b"ip", F(L::DestinationIp)),
        (Obj::Destination, b"port", F(L::DestinationPort)),
        (Obj::Source, b"ip", F(L::SourceIp)),
        (Obj::Source, b"port", F(L::SourcePort)),
        (Obj::Network, b"transport", F(L::Transport)),
        (Obj::Process, b"pid", F(L::Proc(Process, P::Pid))),
        (Obj::Process, b"entity_id", F(L::Proc(Process, P::EntityId))),
        (
            Obj::Process,
            b"executable",
            F(L::Proc(Process, P::Executable)),
        ),
        (Obj::Process, b"name", F(L::Proc(Process, P::Name))),
        (Obj::Process, b"args", F(L::Proc(Process, P::Args))),
        (
            Obj::Process,
            b"command_line",
            F(L::Proc(Process, P::CommandLine)),
        ),
        (Obj::Process, b"start", F(L::Proc(Process, P::Start))),
        (Obj::Process, b"parent", O(Obj::Parent)),
        (Obj::Process, b"user", O(Obj::ProcessUser)),
        (Obj::Process, b"group", O(Obj::ProcessGroup)),
        (Obj::ProcessUser, b"id", F(L::Proc(Process, P::UserId))),
        (Obj::ProcessUser, b"name", F(L::Proc(Process, P::UserName))),
        (Obj::ProcessGroup, b"id", F(L::Proc(Process, P::GroupId))),
        (Obj::Parent, b"pid", F(L::Proc(Parent, P::Pid))),
        (Obj::Parent, b"entity_id", F(L::Proc(Parent, P::EntityId))),
        (
            Obj::Parent,
            b"executable",
            F(L::Proc(Parent, P::Executable)),
        ),
        (Obj::Parent, b"name", F(L::Proc(Parent, P::Name))),
        (Obj::Parent, b"args", F(L::Proc(Parent, P::Args))),
        (
            Obj::Parent,
            b"command_line",
            F(L::Proc(Parent, P::CommandLine)),
        ),
        (Obj::Parent, b"start", F(L::Proc(Parent, P::Start))),
        (Obj::Parent, b"user", O(Obj::ParentUser)),
        (Obj::Parent, b"group", O(Obj::ParentGroup)),
        (Obj::ParentUser, b"id", F(L::Proc(Parent, P::UserId))),
        (Obj::ParentUser, b"name", F(L::Proc(Parent, P::UserName))),
        (Obj::ParentGroup, b"id", F(L::Proc(Parent, P::GroupId))),
    ]
};

impl Obj {
    /// A distinct number per object, from 1 (0 marks an empty slot of the table).
    const fn id(self) -> u8 {
        self as u8
    }
}

/// Slots of the table: a power of two, several times the number of segments.
const SLOT_BITS: u32 = 8;

#[derive(Clone, Copy)]
struct Slot {
    /// [`Obj::id`], or 0 for an empty slot.
    at: u8,
    key: u128,
    route: Route,
}

const EMPTY: Slot = Slot {
    at: 0,
    key: 0,
    route: Route::Ignore,
};

/// The slot of a packed segment read in object `at`, for one multiplier.
#[inline(always)]
const fn slot_of(at: u8, key: u128, mul: u64) -> usize {
    let x = (key as u64) ^ ((key >> 64) as u64).rotate_left(29) ^ (at as u64) << 56;
    (x.wrapping_mul(mul) >> (64 - SLOT_BITS)) as usize
}

/// The table for `mul`, or `None` if two segments share a slot.
const fn table_for(mul: u64) -> Option<[Slot; 1 << SLOT_BITS]> {
    let mut table = [EMPTY; 1 << SLOT_BITS];
    let mut i = 0;
    while i < SEGMENTS.len() {
        let (at, seg, route) = SEGMENTS[i];
        let key = pack_const(seg);
        let slot = slot_of(at.id(), key, mul);
        if table[slot].at != 0 {
            return None;
        }
        table[slot] = Slot {
            at: at.id(),
            key,
            route,
        };
        i += 1;
    }
    Some(table)
}

/// The first odd multiplier from a fixed start that gives no collision (found at compile time).
const MUL: u64 = {
    let mut mul = 0x9E37_79B9_7F4A_7C15u64;
    while table_for(mul).is_none() {
        mul = mul.wrapping_add(2);
    }
    mul
};

static TABLE: [Slot; 1 << SLOT_BITS] = match table_for(MUL) {
    Some(table) => table,
    None => panic!("MUL was chosen collision-free"),
};

/// One key segment (no dots, [`pack`]ed) read in `at`; `None` (no field's segment) is ignored.
#[inline(always)]
fn step(at: Obj, seg: Option<u128>) -> Route {
    let Some(seg) = seg else {
        return Route::Ignore;
    };
    let slot = &TABLE[slot_of(at.id(), seg, MUL)];
    if slot.at == at.id() && slot.key == seg {
        slot.route
    } else {
        Route::Ignore
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

/// [`pack`] at compile time, for [`SEGMENTS`].
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

/// A whole key (possibly dotted, `parent.executable`) read in `at`. Bytes: a key that is not
/// UTF-8 matches nothing (whether it is acceptable is the JSON reader's business).
pub(super) fn route(at: Obj, key: &[u8]) -> Route {
    route_packed(at, key, pack(key))
}

/// [`route`] with the key's [`pack`] already made (the scanner makes it cheaply).
#[inline(always)]
pub(super) fn route_packed(at: Obj, key: &[u8], packed: Option<u128>) -> Route {
    // No segment has a dot, so only a key that matches nothing whole can be a dotted path.
    match step(at, packed) {
        Route::Ignore if has_dot(key, packed) => {}
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

/// Whether `key` holds a `.`: for a packed key, a test for a zero byte in it XOR dots (its
/// zero padding becomes dots' bytes, never zero), no loop.
#[inline(always)]
fn has_dot(key: &[u8], packed: Option<u128>) -> bool {
    const ONES: u128 = u128::MAX / 255;
    match packed {
        Some(p) => {
            let x = p ^ (ONES * u128::from(b'.'));
            x.wrapping_sub(ONES) & !x & (ONES << 7) != 0
        }
        None => key.contains(&b'.'),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_segment_is_found_where_it_is_listed_and_nowhere_else() {
        let objs: Vec<Obj> = SEGMENTS.iter().map(|s| s.0).collect();
        for &(at, seg, route) in SEGMENTS {
            assert_eq!(step(at, pack(seg)), route, "{at:?} {seg:?}");
            for &other in &objs {
                let listed = SEGMENTS.iter().find(|s| s.0 == other && s.1 == seg);
                let want = listed.map_or(Route::Ignore, |s| s.2);
                assert_eq!(step(other, pack(seg)), want, "{other:?} {seg:?}");
            }
        }
        for key in [
            &b"agent"[..],
            b"",
            b"ids",
            b"i",
            b"@timestamp2",
            b"processes",
            b"x.y",
        ] {
            for &at in &objs {
                assert_eq!(step(at, pack(key)), Route::Ignore, "{at:?} {key:?}");
            }
        }
    }

    #[test]
    fn dots_are_seen_in_packed_and_long_keys() {
        for (key, dot) in [
            (&b"a.b"[..], true),
            (b"abc", false),
            (b"", false),
            (b".", true),
            (b"0123456789abcde.", true),
            (b"0123456789abcdef", false),
            (b"0123456789abcdef.x", true),
            (b"0123456789abcdefgh", false),
        ] {
            assert_eq!(has_dot(key, pack(key)), dot, "{key:?}");
        }
    }
}
