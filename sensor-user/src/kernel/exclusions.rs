//! The kernel's excluded-destination tables (`EXCLUDED_V4`, `EXCLUDED_V6`, LPM tries): built
//! from exactly the list the engine excludes ([`excluded_networks`]: seed ranges, `0.0.0.0`, the
//! user's `extra_excluded_cidrs`), so a connect the rule could alert on is never dropped in the
//! kernel and an excluded one never reaches the ring. The kernel looks an IPv4-mapped IPv6
//! destination up as IPv4, as the engine matches it, so an IPv6 range that covers part of
//! `::ffff:0:0/96` adds the IPv4 range it covers. Filled at load and on SIGHUP ([`sync`]).

use std::collections::BTreeSet;

use aya::{
    Ebpf,
    maps::lpm_trie::{Key, LpmTrie},
};
use ipnetwork::IpNetwork;
use sensor_common::{EXCLUDED_CIDRS_MAX, names};

#[derive(Debug, thiserror::Error)]
pub enum ExclusionTableError {
    #[error(
        "rule.extra_excluded_cidrs: the excluded ranges need {needed} {family} entries in the \
         kernel's table, which holds {EXCLUDED_CIDRS_MAX}: merge ranges into fewer, wider ones"
    )]
    TooMany { family: &'static str, needed: usize },
    #[error("eBPF object is missing map {0}: the binary is broken, rebuild it")]
    Missing(&'static str),
    #[error("updating the kernel's excluded-destination table {map}: {source}")]
    Map {
        map: &'static str,
        source: aya::maps::MapError,
    },
}

/// The entries of both tables: (prefix length, network-order address), masked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Table {
    pub v4: BTreeSet<(u32, [u8; 4])>,
    pub v6: BTreeSet<(u32, [u8; 16])>,
}

/// `::ffff:0:0/96`.
const MAPPED: u128 = 0xffff << 32;

impl Table {
    /// The tables for `networks` (the rule's excluded destinations,
    /// [`RuleConfig::kernel_excluded_networks`]); an error if they do not fit the kernel's.
    ///
    /// [`RuleConfig::kernel_excluded_networks`]: crate::rule::RuleConfig::kernel_excluded_networks
    pub fn new(networks: &[IpNetwork]) -> Result<Table, ExclusionTableError> {
        let mut table = Table::default();
        for &network in networks {
            match network {
                IpNetwork::V4(net) => {
                    table
                        .v4
                        .insert((u32::from(net.prefix()), net.network().octets()));
                }
                IpNetwork::V6(net) => {
                    let prefix = u32::from(net.prefix());
                    let first = u128::from(net.network());
                    table.v6.insert((prefix, first.to_be_bytes()));
                    if prefix >= 96 && first >> 32 == MAPPED >> 32 {
                        // Inside ::ffff:0:0/96: the IPv4 range it names.
                        table.v4.insert((prefix - 96, (first as u32).to_be_bytes()));
                    } else if prefix < 96 && net.contains(MAPPED.into()) {
                        // A range that covers all of ::ffff:0:0/96: every IPv4 address.
                        table.v4.insert((0, [0; 4]));
                    }
                }
            }
        }
        let max = EXCLUDED_CIDRS_MAX as usize;
        if table.v4.len() > max {
            return Err(ExclusionTableError::TooMany {
                family: "IPv4",
                needed: table.v4.len(),
            });
        }
        if table.v6.len() > max {
            return Err(ExclusionTableError::TooMany {
                family: "IPv6",
                needed: table.v6.len(),
            });
        }
        Ok(table)
    }

    /// What the kernel decides for `daddr` (network order, IPv4 in the first 4 bytes) of
    /// `family` (2 or 10): the lookup `sensor-ebpf/src/excluded.rs` does, for the tests.
    pub fn excludes(&self, family: u16, daddr: &[u8; 16]) -> bool {
        let v4 = |addr: [u8; 4]| {
            let a = u32::from_be_bytes(addr);
            self.v4.iter().any(|&(prefix, net)| {
                let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
                a & mask == u32::from_be_bytes(net)
            })
        };
        match family {
            2 => v4([daddr[0], daddr[1], daddr[2], daddr[3]]),
            10 => {
                let a = u128::from_be_bytes(*daddr);
                if a >> 32 == MAPPED >> 32 {
                    return v4([daddr[12], daddr[13], daddr[14], daddr[15]]);
                }
                self.v6.iter().any(|&(prefix, net)| {
                    let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
                    a & mask == u128::from_be_bytes(net)
                })
            }
            _ => false,
        }
    }
}

/// Makes the kernel's tables hold exactly `networks`. Stale entries go first,
/// then new ones are added, so while this runs the kernel passes everything either the old or
/// the new configuration could alert on. On error the tables may hold fewer entries (the
/// kernel then passes more, never less).
pub fn sync(ebpf: &mut Ebpf, networks: &[IpNetwork]) -> Result<Table, ExclusionTableError> {
    let table = Table::new(networks)?;
    sync_one(ebpf, names::EXCLUDED_V4, &table.v4)?;
    sync_one(ebpf, names::EXCLUDED_V6, &table.v6)?;
    Ok(table)
}

fn sync_one<K: aya::Pod + Ord>(
    ebpf: &mut Ebpf,
    map: &'static str,
    wanted: &BTreeSet<(u32, K)>,
) -> Result<(), ExclusionTableError> {
    let err = |source| ExclusionTableError::Map { map, source };
    let mut trie: LpmTrie<_, K, u8> =
        LpmTrie::try_from(ebpf.map_mut(map).ok_or(ExclusionTableError::Missing(map))?)
            .map_err(err)?;
    let present: Vec<(u32, K)> = trie
        .keys()
        .filter_map(Result::ok)
        .map(|k| (k.prefix_len(), k.data()))
        .collect();
    for stale in present.iter().filter(|k| !wanted.contains(k)) {
        trie.remove(&Key::new(stale.0, stale.1)).map_err(err)?;
    }
    for &(prefix, data) in wanted {
        trie.insert(&Key::new(prefix, data), 1u8, 0).map_err(err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
