//! The excluded ranges' edges as a literal table written by hand from Elastic's rule text, not
//! computed from the compiled rule or from `seed::EXCLUDED_CIDRS`: a changed constant (`172.16.0.0/12` edited to
//! `/16`) fails here even though every test that derives its expectations from the constant
//! still passes.
//!
//! Source: the query of "Network Connection Initiated by SSHD Child Process", version 4, as in
//! the seed (`difftest/seed-rule-v4.txt` lines 52-57, a copy of the seed's rule text) and in
//! Elastic's `persistence_ssh_netcon.toml` (v4):
//!
//! ```text
//! destination.ip == null or destination.ip == "0.0.0.0" or cidrmatch(
//! destination.ip, "10.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24", "192.0.0.0/29",
//! "192.0.0.8/32", "192.0.0.9/32", "192.0.0.10/32", "192.0.0.170/32", "192.0.0.171/32", "192.0.2.0/24",
//! "192.31.196.0/24", "192.52.193.0/24", "192.168.0.0/16", "192.88.99.0/24", "224.0.0.0/4", "100.64.0.0/10",
//! "192.175.48.0/24","198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4", "::1", "FE80::/10",
//! "FF00::/8", "172.31.0.0/16"
//! ```
//!
//! For each range: its first and last address, a point in the middle, and the addresses one
//! before and one after, each with whether the whole rule excludes it (a neighbour can sit in
//! another range: 192.0.0.8 after 192.0.0.0/29, 240.0.0.0 after 224.0.0.0/4). Every IPv4 row
//! is also checked in its IPv4-mapped IPv6 spelling (`::ffff:a.b.c.d`), which Elasticsearch
//! matches as the IPv4 address.

use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

use super::Exclusions;
use crate::rule::seed::EXCLUDED_CIDRS;

/// `(range as the rule spells it, first, middle, last, (one before, excluded?), (one after,
/// excluded?))`; `None` where the address space ends.
type Row = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Option<(&'static str, bool)>,
    Option<(&'static str, bool)>,
);

/// The 27 ranges in the rule's order. `false` = alerts (public), `true` = excluded anyway.
#[rustfmt::skip]
const EDGES: &[Row] = &[
    ("10.0.0.0/8", "10.0.0.0", "10.128.0.0", "10.255.255.255", Some(("9.255.255.255", false)), Some(("11.0.0.0", false))),
    ("127.0.0.0/8", "127.0.0.0", "127.128.0.1", "127.255.255.255", Some(("126.255.255.255", false)), Some(("128.0.0.0", false))),
    ("169.254.0.0/16", "169.254.0.0", "169.254.128.0", "169.254.255.255", Some(("169.253.255.255", false)), Some(("169.255.0.0", false))),
    ("172.16.0.0/12", "172.16.0.0", "172.24.0.0", "172.31.255.255", Some(("172.15.255.255", false)), Some(("172.32.0.0", false))),
    ("192.0.0.0/24", "192.0.0.0", "192.0.0.128", "192.0.0.255", Some(("191.255.255.255", false)), Some(("192.0.1.0", false))),
    ("192.0.0.0/29", "192.0.0.0", "192.0.0.4", "192.0.0.7", Some(("191.255.255.255", false)), Some(("192.0.0.8", true))),
    ("192.0.0.8/32", "192.0.0.8", "192.0.0.8", "192.0.0.8", Some(("192.0.0.7", true)), Some(("192.0.0.9", true))),
    ("192.0.0.9/32", "192.0.0.9", "192.0.0.9", "192.0.0.9", Some(("192.0.0.8", true)), Some(("192.0.0.10", true))),
    ("192.0.0.10/32", "192.0.0.10", "192.0.0.10", "192.0.0.10", Some(("192.0.0.9", true)), Some(("192.0.0.11", true))),
    ("192.0.0.170/32", "192.0.0.170", "192.0.0.170", "192.0.0.170", Some(("192.0.0.169", true)), Some(("192.0.0.171", true))),
    ("192.0.0.171/32", "192.0.0.171", "192.0.0.171", "192.0.0.171", Some(("192.0.0.170", true)), Some(("192.0.0.172", true))),
    ("192.0.2.0/24", "192.0.2.0", "192.0.2.128", "192.0.2.255", Some(("192.0.1.255", false)), Some(("192.0.3.0", false))),
    ("192.31.196.0/24", "192.31.196.0", "192.31.196.128", "192.31.196.255", Some(("192.31.195.255", false)), Some(("192.31.197.0", false))),
    ("192.52.193.0/24", "192.52.193.0", "192.52.193.128", "192.52.193.255", Some(("192.52.192.255", false)), Some(("192.52.194.0", false))),
    ("192.168.0.0/16", "192.168.0.0", "192.168.128.0", "192.168.255.255", Some(("192.167.255.255", false)), Some(("192.169.0.0", false))),
    ("192.88.99.0/24", "192.88.99.0", "192.88.99.128", "192.88.99.255", Some(("192.88.98.255", false)), Some(("192.88.100.0", false))),
    ("224.0.0.0/4", "224.0.0.0", "232.0.0.0", "239.255.255.255", Some(("223.255.255.255", false)), Some(("240.0.0.0", true))),
    ("100.64.0.0/10", "100.64.0.0", "100.96.0.0", "100.127.255.255", Some(("100.63.255.255", false)), Some(("100.128.0.0", false))),
    ("192.175.48.0/24", "192.175.48.0", "192.175.48.128", "192.175.48.255", Some(("192.175.47.255", false)), Some(("192.175.49.0", false))),
    ("198.18.0.0/15", "198.18.0.0", "198.19.0.0", "198.19.255.255", Some(("198.17.255.255", false)), Some(("198.20.0.0", false))),
    ("198.51.100.0/24", "198.51.100.0", "198.51.100.128", "198.51.100.255", Some(("198.51.99.255", false)), Some(("198.51.101.0", false))),
    ("203.0.113.0/24", "203.0.113.0", "203.0.113.128", "203.0.113.255", Some(("203.0.112.255", false)), Some(("203.0.114.0", false))),
    ("240.0.0.0/4", "240.0.0.0", "248.0.0.0", "255.255.255.255", Some(("239.255.255.255", true)), None),
    ("::1", "::1", "::1", "::1", Some(("::", false)), Some(("::2", false))),
    ("FE80::/10", "fe80::", "fea0::", "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some(("fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false)), Some(("fec0::", false))),
    ("FF00::/8", "ff00::", "ff80::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some(("feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false)), None),
    ("172.31.0.0/16", "172.31.0.0", "172.31.128.0", "172.31.255.255", Some(("172.30.255.255", true)), Some(("172.32.0.0", false))),
];

fn ip(s: &str) -> IpAddr {
    IpAddr::from_str(s).unwrap_or_else(|e| panic!("{s:?} is not an address: {e}"))
}

/// `addr` and, for IPv4, its IPv4-mapped IPv6 spelling.
fn spellings(addr: &str) -> Vec<String> {
    match ip(addr) {
        IpAddr::V4(v4) => vec![addr.to_owned(), v4.to_ipv6_mapped().to_string()],
        IpAddr::V6(_) => vec![addr.to_owned()],
    }
}

fn assert_excluded(e: &Exclusions, addr: &str, expected: bool, why: &str) {
    for spelling in spellings(addr) {
        assert_eq!(
            e.excludes_destination(Some(ip(&spelling))),
            expected,
            "{spelling} ({why}) must be {}",
            if expected {
                "excluded"
            } else {
                "left to alert"
            }
        );
    }
}

#[test]
fn the_constant_lists_the_rules_ranges_in_order() {
    let table: Vec<&str> = EDGES.iter().map(|row| row.0).collect();
    assert_eq!(EXCLUDED_CIDRS, table.as_slice());
}

#[test]
fn every_range_edge_and_neighbour_as_the_rule_text_says() {
    let e = Exclusions::default();
    for &(range, first, middle, last, before, after) in EDGES {
        assert_excluded(&e, first, true, &format!("first of {range}"));
        assert_excluded(&e, middle, true, &format!("inside {range}"));
        assert_excluded(&e, last, true, &format!("last of {range}"));
        if let Some((addr, excluded)) = before {
            assert_excluded(&e, addr, excluded, &format!("one before {range}"));
        }
        if let Some((addr, excluded)) = after {
            assert_excluded(&e, addr, excluded, &format!("one after {range}"));
        }
    }
}

/// The table itself is consistent: first and last are one step inside their neighbours, so a
/// typo in a literal cannot quietly test the wrong address.
#[test]
fn the_table_neighbours_are_adjacent() {
    fn step(a: IpAddr, b: IpAddr) -> bool {
        match (a, b) {
            (IpAddr::V4(a), IpAddr::V4(b)) => u32::from(a).checked_add(1) == Some(u32::from(b)),
            (IpAddr::V6(a), IpAddr::V6(b)) => u128::from(a).checked_add(1) == Some(u128::from(b)),
            _ => false,
        }
    }
    for &(range, first, middle, last, before, after) in EDGES {
        assert!(ip(first) <= ip(middle) && ip(middle) <= ip(last), "{range}");
        if let Some((b, _)) = before {
            assert!(
                step(ip(b), ip(first)),
                "{range}: {b} is not just before {first}"
            );
        } else {
            assert_eq!(ip(first), IpAddr::V4(Ipv4Addr::UNSPECIFIED), "{range}");
        }
        match after {
            Some((a, _)) => assert!(
                step(ip(last), ip(a)),
                "{range}: {a} is not just after {last}"
            ),
            None => assert!(
                matches!(
                    last,
                    "255.255.255.255" | "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
                ),
                "{range}: only the end of the address space has no next address"
            ),
        }
    }
}

/// `destination.ip == "0.0.0.0"` is its own exclusion: exactly that address.
#[test]
fn unspecified_v4_exactly() {
    let e = Exclusions::default();
    assert_excluded(&e, "0.0.0.0", true, "destination.ip == \"0.0.0.0\"");
    assert_excluded(&e, "0.0.0.1", false, "one after 0.0.0.0");
}
