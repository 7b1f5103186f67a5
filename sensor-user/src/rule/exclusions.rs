//! The stage-2 exclusions of the rule, as the compiled rule derives them from its `not (...)`
//! block (for v4: `destination.ip` null, `0.0.0.0` or inside one of 27 `cidrmatch` ranges, and
//! `process.executable` / `process.name` in two lists), plus whatever ranges, executables and
//! names the user adds (users only add; the rule's exclusions cannot be removed). Ranges are matched the way Elasticsearch stores `ip` fields,
//! as 16 bytes: an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) is the IPv4 address, and an
//! IPv6 range covering part of `::ffff:0:0/96` covers the matching IPv4 addresses. Lookups are
//! on the replay hot path, so every list is precomputed into sorted, merged integer intervals
//! (binary search, no allocation); name and executable matching is exact and case-sensitive.

use std::net::{IpAddr, Ipv6Addr};

use ipnetwork::IpNetwork;

use super::compiled::{DerivedExclusions, Tuning};
use super::profiles::Profile;

/// Maps an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) to the IPv4 address; every other address
/// is returned unchanged (`::` and IPv4-compatible `::a.b.c.d` stay IPv6).
pub fn normalize_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// Every destination range the embedded v4 rule excludes (its ranges and `0.0.0.0`), then the
/// user's extra ranges: what [`Exclusions::new`] excludes besides null.
pub fn excluded_networks(extra_cidrs: &[IpNetwork]) -> Vec<IpNetwork> {
    seed_tuned(extra_cidrs, &[], &[]).networks
}

/// The embedded v4 rule's stage-2 exclusions with the user's additions.
fn seed_tuned(
    extra_cidrs: &[IpNetwork],
    extra_names: &[String],
    extra_executables: &[String],
) -> DerivedExclusions {
    Profile::V4
        .rule()
        .tuned(&Tuning {
            parent_executables: None,
            extra_cidrs,
            extra_names,
            extra_executables,
        })
        .stage2_exclusions()
}

/// The rule's stage-2 exclusions, ready to answer on the hot path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exclusions {
    /// `destination.ip == null` is excluded.
    null: bool,
    v4: Intervals<u32>,
    v6: Intervals<u128>,
    /// Sorted by length, then bytes; deduplicated.
    executables: Vec<Box<str>>,
    /// Sorted by length, then bytes; deduplicated.
    names: Vec<Box<str>>,
}

impl Default for Exclusions {
    /// The embedded v4 rule's exclusions and nothing else.
    fn default() -> Self {
        Self::new(&[], &[], &[])
    }
}

impl Exclusions {
    /// The embedded v4 rule's exclusions plus the user's extra ranges, `process.name`s and
    /// `process.executable`s.
    pub fn new(
        extra_cidrs: &[IpNetwork],
        extra_names: &[String],
        extra_executables: &[String],
    ) -> Self {
        Self::from_derived(&seed_tuned(extra_cidrs, extra_names, extra_executables))
    }

    /// What a compiled rule's stage 2 excludes ([`CompiledRule::stage2_exclusions`]).
    ///
    /// [`CompiledRule::stage2_exclusions`]: super::compiled::CompiledRule::stage2_exclusions
    pub fn from_derived(derived: &DerivedExclusions) -> Self {
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for network in &derived.networks {
            push_network(*network, &mut v4, &mut v6);
        }
        Self {
            null: derived.null_destination,
            v4: Intervals::new(v4),
            v6: Intervals::new(v6),
            executables: sorted_set(std::iter::empty(), &derived.executables),
            names: sorted_set(std::iter::empty(), &derived.names),
        }
    }

    /// `destination.ip == null or destination.ip == "0.0.0.0" or cidrmatch(destination.ip, ...)`.
    pub fn excludes_destination(&self, ip: Option<IpAddr>) -> bool {
        match ip.map(normalize_ip) {
            None => self.null,
            Some(IpAddr::V4(v4)) => self.v4.contains(u32::from(v4)),
            Some(IpAddr::V6(v6)) => self.v6.contains(u128::from(v6)),
        }
    }

    /// `process.executable in (...) or process.name in (...)`: exact, case-sensitive; a missing
    /// value is not excluded (two-valued `not`).
    pub fn excludes_process(&self, executable: Option<&str>, name: Option<&str>) -> bool {
        executable.is_some_and(|e| contains_str(&self.executables, e))
            || name.is_some_and(|n| contains_str(&self.names, n))
    }
}

/// Address ranges matched as `cidrmatch` matches them (after [`normalize_ip`], so an IPv6 range
/// over `::ffff:0:0/96` also holds the IPv4 addresses it maps): the compiled rule's `cidrmatch`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpRanges {
    v4: Intervals<u32>,
    v6: Intervals<u128>,
}

impl IpRanges {
    pub fn new(networks: impl IntoIterator<Item = IpNetwork>) -> Self {
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for network in networks {
            push_network(network, &mut v4, &mut v6);
        }
        Self {
            v4: Intervals::new(v4),
            v6: Intervals::new(v6),
        }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match normalize_ip(ip) {
            IpAddr::V4(v4) => self.v4.contains(u32::from(v4)),
            IpAddr::V6(v6) => self.v6.contains(u128::from(v6)),
        }
    }
}

/// Adds `network` as an inclusive interval; an IPv6 range that covers IPv4-mapped addresses also
/// adds the IPv4 addresses it covers, since destinations are matched after [`normalize_ip`].
fn push_network(network: IpNetwork, v4: &mut Vec<(u32, u32)>, v6: &mut Vec<(u128, u128)>) {
    match network {
        IpNetwork::V4(net) => v4.push(v4_interval(u32::from(net.ip()), net.prefix())),
        IpNetwork::V6(net) => {
            let (first, last) = v6_interval(u128::from(net.ip()), net.prefix());
            v6.push((first, last));
            let first_mapped = Ipv6Addr::from(first).to_ipv4_mapped();
            let last_mapped = Ipv6Addr::from(last).to_ipv4_mapped();
            match (first_mapped, last_mapped) {
                // Inside ::ffff:0:0/96 (prefix >= 96).
                (Some(a), Some(b)) => v4.push((u32::from(a), u32::from(b))),
                // A prefix < 96 either covers all of ::ffff:0:0/96 or none of it.
                _ if first <= MAPPED_FIRST && MAPPED_LAST <= last => v4.push((0, u32::MAX)),
                _ => {}
            }
        }
    }
}

/// `::ffff:0.0.0.0` and `::ffff:255.255.255.255`.
const MAPPED_FIRST: u128 = 0xffff << 32;
const MAPPED_LAST: u128 = 0xffff_ffff_ffff;

fn v4_interval(ip: u32, prefix: u8) -> (u32, u32) {
    let host_bits = u32::MAX.checked_shr(u32::from(prefix)).unwrap_or(0);
    (ip & !host_bits, ip | host_bits)
}

fn v6_interval(ip: u128, prefix: u8) -> (u128, u128) {
    let host_bits = u128::MAX.checked_shr(u32::from(prefix)).unwrap_or(0);
    (ip & !host_bits, ip | host_bits)
}

/// Disjoint inclusive intervals sorted by start: membership is one binary search.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Intervals<T>(Vec<(T, T)>);

impl<T: Copy + Ord> Intervals<T> {
    fn new(mut intervals: Vec<(T, T)>) -> Self {
        intervals.sort_unstable();
        let mut merged: Vec<(T, T)> = Vec::with_capacity(intervals.len());
        for (first, last) in intervals {
            match merged.last_mut() {
                Some((_, end)) if first <= *end => *end = (*end).max(last),
                _ => merged.push((first, last)),
            }
        }
        merged.shrink_to_fit();
        Self(merged)
    }

    fn contains(&self, x: T) -> bool {
        let after = self.0.partition_point(|&(first, _)| first <= x);
        after
            .checked_sub(1)
            .and_then(|i| self.0.get(i))
            .is_some_and(|&(_, last)| x <= last)
    }
}

/// The strings sorted by length, then bytes, and deduplicated: a lookup compares lengths first,
/// so a value no string has the length of (most of them) costs no byte comparison.
fn sorted_set<'a>(seed: impl Iterator<Item = &'a str>, extra: &'a [String]) -> Vec<Box<str>> {
    let mut set: Vec<Box<str>> = seed
        .chain(extra.iter().map(String::as_str))
        .map(Box::from)
        .collect();
    set.sort_unstable_by(|a, b| by_len_then_bytes(a, b));
    set.dedup();
    set
}

fn by_len_then_bytes(a: &str, b: &str) -> std::cmp::Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn contains_str(set: &[Box<str>], value: &str) -> bool {
    set.binary_search_by(|probe| by_len_then_bytes(probe, value))
        .is_ok()
}

#[cfg(test)]
mod edges;
#[cfg(test)]
mod tests;
