//! The kernel's table against the engine's exclusions: for every range's edges (and one past
//! them), in IPv4, IPv6 and IPv4-mapped spellings, the kernel's lookup decides exactly what
//! [`Exclusions::excludes_destination`] decides, so the kernel never drops a connect the rule
//! could alert on.

use crate::rule::exclusions::excluded_networks;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use super::*;
use crate::rule::exclusions::Exclusions;

fn kernel_form(ip: IpAddr) -> (u16, [u8; 16]) {
    let mut daddr = [0u8; 16];
    match ip {
        IpAddr::V4(v4) => {
            daddr[..4].copy_from_slice(&v4.octets());
            (2, daddr)
        }
        IpAddr::V6(v6) => (10, v6.octets()),
    }
}

/// Addresses at and around every edge of `networks`, in every spelling the kernel can see.
fn samples(networks: &[IpNetwork]) -> Vec<IpAddr> {
    let mut out = Vec::new();
    let push_v4 = |a: u32, out: &mut Vec<IpAddr>| {
        let v4 = Ipv4Addr::from(a);
        out.push(IpAddr::V4(v4));
        out.push(IpAddr::V6(v4.to_ipv6_mapped()));
    };
    for network in networks {
        match network {
            IpNetwork::V4(net) => {
                let first = u32::from(net.network());
                let last = u32::from(net.broadcast());
                for a in [first.wrapping_sub(1), first, last, last.wrapping_add(1)] {
                    push_v4(a, &mut out);
                }
            }
            IpNetwork::V6(net) => {
                let first = u128::from(net.network());
                let host = u128::MAX.checked_shr(u32::from(net.prefix())).unwrap_or(0);
                let last = first | host;
                for a in [first.wrapping_sub(1), first, last, last.wrapping_add(1)] {
                    out.push(IpAddr::V6(Ipv6Addr::from(a)));
                }
            }
        }
    }
    for fixed in [
        "8.8.8.8",
        "2001:db8::1",
        "::",
        "fc00::1",
        "::ffff:8.8.8.8",
        "::8.8.8.8",
    ] {
        out.push(IpAddr::from_str(fixed).unwrap());
    }
    out
}

fn assert_same_decisions(extra: &[IpNetwork]) {
    let networks = excluded_networks(extra);
    let table = Table::new(&networks).unwrap();
    let engine = Exclusions::new(extra, &[], &[]);
    for ip in samples(&networks) {
        let (family, daddr) = kernel_form(ip);
        assert_eq!(
            table.excludes(family, &daddr),
            engine.excludes_destination(Some(ip)),
            "kernel and engine disagree on {ip} (extra ranges {extra:?})"
        );
    }
}

#[test]
fn the_seed_table_decides_as_the_engine() {
    assert_same_decisions(&[]);
    let table = Table::new(&excluded_networks(&[])).unwrap();
    // 0.0.0.0 and the seed's IPv4 ranges are there; :: and fc00::/7 are not excluded.
    assert!(table.v4.contains(&(32, [0, 0, 0, 0])));
    assert!(table.v4.contains(&(8, [10, 0, 0, 0])));
    assert!(!table.excludes(10, &[0; 16]));
    assert!(!table.excludes(10, &Ipv6Addr::from_str("fc00::1").unwrap().octets()));
}

#[test]
fn extra_ranges_including_mapped_and_covering_ones_decide_as_the_engine() {
    let extra: Vec<IpNetwork> = ["fc00::/7", "8.8.8.8", "::ffff:1.2.3.0/120", "2001:db8::/32"]
        .iter()
        .map(|s| IpNetwork::from_str(s).unwrap())
        .collect();
    assert_same_decisions(&extra);
    let table = Table::new(&excluded_networks(&extra)).unwrap();
    assert!(table.v4.contains(&(24, [1, 2, 3, 0])), "{table:?}");
    // A range covering all of ::ffff:0:0/96 excludes every IPv4 address.
    let covering = [IpNetwork::from_str("::/64").unwrap()];
    assert_same_decisions(&covering);
    assert!(Table::new(&covering).unwrap().v4.contains(&(0, [0; 4])));
}

#[test]
fn a_table_too_big_for_the_kernel_is_an_error() {
    let extra: Vec<IpNetwork> = (0..EXCLUDED_CIDRS_MAX)
        .map(|i| IpNetwork::from_str(&format!("100.{}.{}.0/24", i / 256, i % 256)).unwrap())
        .collect();
    let err = Table::new(&excluded_networks(&extra))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("rule.extra_excluded_cidrs") && err.contains("IPv4"),
        "{err}"
    );
}

/// The kernel's table comes from the running rule: a rule file with other ranges gets exactly
/// those in the kernel, never the seed's (which would drop connects that rule alerts on).
#[test]
fn the_table_follows_the_rule_not_the_seed() {
    use crate::rule::RuleConfig;
    use crate::rule::compiled::CompiledRule;
    use crate::rule::file;
    use crate::rule::profiles::Profile;
    let text = Profile::V4.text().replacen("\"10.0.0.0/8\", ", "", 1);
    let rule = CompiledRule::compile(&file::parse(&text, "edited.toml").unwrap()).unwrap();
    let config = RuleConfig {
        rule: std::sync::Arc::new(rule),
        ..RuleConfig::default()
    };
    let table = Table::new(&config.kernel_excluded_networks()).unwrap();
    let (family, daddr) = kernel_form("10.1.2.3".parse().unwrap());
    assert!(
        !table.excludes(family, &daddr),
        "10.0.0.0/8 is not in the edited rule"
    );
    let (family, daddr) = kernel_form("127.0.0.1".parse().unwrap());
    assert!(table.excludes(family, &daddr));
    let seed = Table::new(&RuleConfig::default().kernel_excluded_networks()).unwrap();
    let (family, daddr) = kernel_form("10.1.2.3".parse().unwrap());
    assert!(seed.excludes(family, &daddr));
}
