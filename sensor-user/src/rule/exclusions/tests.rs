use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use ipnetwork::IpNetwork;

use super::{Exclusions, excluded_networks, normalize_ip};
use crate::rule::seed::{EXCLUDED_CIDRS, EXCLUDED_IP};

fn ip(s: &str) -> IpAddr {
    IpAddr::from_str(s).unwrap_or_else(|e| panic!("{s:?} is not an address: {e}"))
}

fn net(s: &str) -> IpNetwork {
    IpNetwork::from_str(s).unwrap_or_else(|e| panic!("{s:?} is not a network: {e}"))
}

fn seed_networks() -> Vec<IpNetwork> {
    EXCLUDED_CIDRS.iter().map(|s| net(s)).collect()
}

/// The straightforward reading of the rule, independent of the interval code: 16-byte
/// addresses compared against each listed range one by one.
fn reference_excluded(seed: &[IpNetwork], ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    ip == IpAddr::from_str(EXCLUDED_IP).unwrap_or_else(|e| panic!("{e}"))
        || seed.iter().any(|n| n.contains(ip))
}

fn excluded(e: &Exclusions, s: &str) -> bool {
    e.excludes_destination(Some(ip(s)))
}

/// One step below and above an address, when they exist, in the same family.
fn neighbours(ip: IpAddr) -> Vec<IpAddr> {
    match ip {
        IpAddr::V4(a) => {
            let x = u32::from(a);
            [x.checked_sub(1), x.checked_add(1)]
                .into_iter()
                .flatten()
                .map(|x| IpAddr::V4(Ipv4Addr::from(x)))
                .collect()
        }
        IpAddr::V6(a) => {
            let x = u128::from(a);
            [x.checked_sub(1), x.checked_add(1)]
                .into_iter()
                .flatten()
                .map(|x| IpAddr::V6(Ipv6Addr::from(x)))
                .collect()
        }
    }
}

#[test]
fn seed_ranges_all_parse() {
    assert_eq!(EXCLUDED_CIDRS.len(), 27);
    let seed = seed_networks();
    let one = seed
        .iter()
        .find(|n| n.ip() == ip("::1"))
        .map(|n| n.prefix());
    assert_eq!(one, Some(128), "\"::1\" means ::1/128");
    assert!(
        seed.contains(&net("fe80::/10")),
        "\"FE80::/10\" parses case-insensitively"
    );
}

#[test]
fn every_seed_range_first_and_last_excluded_neighbours_by_reference() {
    let e = Exclusions::default();
    let seed = seed_networks();
    for n in &seed {
        for edge in [n.network(), n.broadcast()] {
            assert!(e.excludes_destination(Some(edge)), "{edge} is inside {n}");
            for outside in neighbours(edge).into_iter().filter(|a| !n.contains(*a)) {
                assert_eq!(
                    e.excludes_destination(Some(outside)),
                    reference_excluded(&seed, outside),
                    "{outside} just outside {n}"
                );
            }
        }
    }
}

#[test]
fn edges_outside_are_not_all_excluded() {
    // Guards the previous test against a vacuous reference: these sit just outside a range.
    let e = Exclusions::default();
    for s in [
        "9.255.255.255",
        "11.0.0.0",
        "172.15.255.255",
        "172.32.0.0",
        "223.255.255.255",
    ] {
        assert!(!excluded(&e, s), "{s}");
    }
    for s in [
        "::2",
        "::0",
        "fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        "fec0::",
        "feff:ffff::1",
    ] {
        assert!(!excluded(&e, s), "{s}");
    }
    assert!(excluded(&e, "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
    assert!(excluded(&e, "ff00::"));
    assert!(excluded(&e, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
}

#[test]
fn sampled_addresses_agree_with_reference() {
    let e = Exclusions::default();
    let seed = seed_networks();
    // A fixed linear congruential sequence: deterministic, spread over both families.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..20_000 {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let hi = x.to_be_bytes();
        let v4 = IpAddr::V4(Ipv4Addr::from(u32::from_be_bytes([
            hi[0], hi[1], hi[2], hi[3],
        ])));
        let v6 = IpAddr::V6(Ipv6Addr::from(
            (u128::from(x) << 64) | u128::from(x.rotate_left(17)),
        ));
        let mapped = IpAddr::V6(
            Ipv4Addr::from(u32::from_be_bytes([hi[4], hi[5], hi[6], hi[7]])).to_ipv6_mapped(),
        );
        for a in [v4, v6, mapped] {
            assert_eq!(
                e.excludes_destination(Some(a)),
                reference_excluded(&seed, a),
                "{a}"
            );
        }
    }
}

#[test]
fn null_and_unspecified_v4_excluded() {
    let e = Exclusions::default();
    assert!(e.excludes_destination(None));
    assert!(excluded(&e, "0.0.0.0"));
    assert!(excluded(&e, "::ffff:0.0.0.0"));
    assert!(!excluded(&e, "0.0.0.1"));
}

#[test]
fn unspecified_v6_unique_local_documentation_and_public_alert() {
    let e = Exclusions::default();
    for s in [
        "::",
        "fc00::1",
        "fd12:3456::1",
        "2001:db8::1",
        "8.8.8.8",
        "1.1.1.1",
        "2606:4700::1111",
    ] {
        assert!(!excluded(&e, s), "{s} is not excluded by the rule");
    }
}

#[test]
fn loopback_v6_is_exactly_one_address() {
    let e = Exclusions::default();
    assert!(excluded(&e, "::1"));
    assert!(!excluded(&e, "::2"));
}

#[test]
fn v4_mapped_v6_matches_as_v4() {
    let e = Exclusions::default();
    assert!(excluded(&e, "::ffff:10.0.0.1"));
    assert!(excluded(&e, "::ffff:127.0.0.1"));
    assert!(!excluded(&e, "::ffff:8.8.8.8"));
    // IPv4-compatible (deprecated) addresses are not mapped.
    assert!(!excluded(&e, "::10.0.0.1"));
}

#[test]
fn normalize_ip_maps_only_v4_mapped() {
    assert_eq!(normalize_ip(ip("::ffff:10.1.2.3")), ip("10.1.2.3"));
    assert_eq!(normalize_ip(ip("10.1.2.3")), ip("10.1.2.3"));
    assert_eq!(normalize_ip(ip("::")), ip("::"));
    assert_eq!(normalize_ip(ip("::1")), ip("::1"));
    assert_eq!(normalize_ip(ip("::10.1.2.3")), ip("::10.1.2.3"));
    assert_eq!(normalize_ip(ip("2001:db8::1")), ip("2001:db8::1"));
}

#[test]
fn seed_names_excluded_case_sensitive() {
    let e = Exclusions::default();
    for name in ["ssh", "sshd", "login_duo", "sshd-session"] {
        assert!(e.excludes_process(None, Some(name)), "{name}");
        assert!(
            e.excludes_process(Some("/usr/bin/curl"), Some(name)),
            "{name}"
        );
    }
    for name in ["SSH", "Sshd", "ssh ", "ssh-agent", "curl", ""] {
        assert!(!e.excludes_process(None, Some(name)), "{name:?}");
    }
}

#[test]
fn seed_executables_excluded_case_sensitive() {
    let e = Exclusions::default();
    assert!(e.excludes_process(Some("/usr/bin/yum"), None));
    assert!(e.excludes_process(Some("/bin/yum"), Some("yum")));
    assert!(!e.excludes_process(Some("/usr/bin/YUM"), None));
    assert!(!e.excludes_process(Some("/usr/local/bin/yum"), Some("yum")));
}

#[test]
fn missing_values_are_not_excluded() {
    let e = Exclusions::default();
    assert!(!e.excludes_process(None, None));
    assert!(!e.excludes_process(Some("/usr/bin/curl"), None));
    assert!(!e.excludes_process(None, Some("curl")));
}

#[test]
fn user_additions_extend_the_seed() {
    let e = Exclusions::new(
        &[net("8.8.8.0/24"), net("fc00::/7"), net("203.0.113.7")],
        &["curl".to_owned()],
        &["/opt/agent/bin/agent".to_owned()],
    );
    assert!(excluded(&e, "8.8.8.8"));
    assert!(excluded(&e, "::ffff:8.8.8.8"));
    assert!(!excluded(&e, "8.8.9.1"));
    assert!(excluded(&e, "fc00::1"));
    assert!(excluded(&e, "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
    assert!(!excluded(&e, "fe00::"));
    assert!(e.excludes_process(None, Some("curl")));
    assert!(!e.excludes_process(None, Some("Curl")));
    assert!(e.excludes_process(Some("/opt/agent/bin/agent"), Some("agent")));
    // The seed stays.
    assert!(excluded(&e, "10.1.2.3"));
    assert!(e.excludes_process(None, Some("sshd")));
    assert!(e.excludes_process(Some("/bin/yum"), None));
}

/// A range written with host bits set (`8.8.8.77/24`, which the config accepts) is the whole
/// network, as `cidrmatch` and the kernel's LPM tries read it: its first and last address are
/// in, their outer neighbours out.
#[test]
fn a_range_written_with_host_bits_covers_its_whole_network() {
    let e = Exclusions::new(
        &[
            net("8.8.8.77/24"),
            net("2001:db8::77/120"),
            net("::ffff:9.9.9.77/120"),
        ],
        &[],
        &[],
    );
    for inside in [
        "8.8.8.0",
        "8.8.8.255",
        "2001:db8::",
        "2001:db8::ff",
        "9.9.9.0",
        "9.9.9.255",
    ] {
        assert!(excluded(&e, inside), "{inside} is in the range");
    }
    for outside in [
        "8.8.7.255",
        "8.8.9.0",
        "2001:db8::100",
        "9.9.8.255",
        "9.9.10.0",
    ] {
        assert!(!excluded(&e, outside), "{outside} is outside the range");
    }
}

#[test]
fn user_v6_ranges_over_mapped_space_cover_v4() {
    let mapped = Exclusions::new(&[net("::ffff:8.8.8.0/120")], &[], &[]);
    assert!(excluded(&mapped, "8.8.8.8"));
    assert!(excluded(&mapped, "::ffff:8.8.8.8"));
    assert!(!excluded(&mapped, "8.8.4.4"));
    let everything = Exclusions::new(&[net("::/0")], &[], &[]);
    assert!(excluded(&everything, "8.8.8.8"));
    assert!(excluded(&everything, "2001:db8::1"));
    let low = Exclusions::new(&[net("::/96")], &[], &[]);
    assert!(excluded(&low, "::"));
    assert!(!excluded(&low, "8.8.8.8"));
}

/// The kernel's list: the seed's `0.0.0.0`, its ranges in the order written, then the user's.
#[test]
fn excluded_networks_are_the_seed_then_the_user_ranges() {
    let extra = [net("8.8.8.0/24"), net("fc00::/7")];
    let want: Vec<IpNetwork> = [net(EXCLUDED_IP)]
        .into_iter()
        .chain(seed_networks())
        .chain(extra)
        .collect();
    assert_eq!(excluded_networks(&extra), want);
    assert_eq!(excluded_networks(&[]), want[..want.len() - 2]);
}
