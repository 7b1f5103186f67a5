//! The kernel-side counters (`COUNTERS`, one slot per cause, per CPU; the causes are
//! [`sensor_common::counter`]): failed ring reservations, records refused by a stage-1
//! process's budget, failed reads and map inserts, connects dropped as excluded. Summed over
//! the CPUs for the stats line.

use aya::maps::{MapData, PerCpuArray};
use sensor_common::counter;

/// The per-CPU counters of the loaded programs.
pub struct Counters(PerCpuArray<MapData, u64>);

/// One reading of every counter, summed over the CPUs, by cause.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals(pub [u64; counter::COUNT as usize]);

impl Counters {
    pub fn new(map: PerCpuArray<MapData, u64>) -> Self {
        Self(map)
    }

    /// Every counter, summed over the CPUs (a counter that cannot be read shows 0).
    pub fn read(&self) -> Totals {
        let mut totals = [0u64; counter::COUNT as usize];
        for (index, total) in (0u32..).zip(totals.iter_mut()) {
            *total = self
                .0
                .get(&index, 0)
                .map(|values| values.iter().sum())
                .unwrap_or(0);
        }
        Totals(totals)
    }
}

impl Totals {
    pub fn get(&self, cause: u32) -> u64 {
        self.0.get(cause as usize).copied().unwrap_or(0)
    }

    /// Records lost because the ring buffer was full.
    pub fn ringbuf_drops(&self) -> u64 {
        self.get(counter::RING_FULL)
    }
}

/// `name=value` for every counter, in index order (`ring_full=0 budget_exec=3 ...`).
impl std::fmt::Display for Totals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        for (name, value) in counter::NAMES.iter().zip(self.0) {
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            write!(f, "{name}={value}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_print_every_cause_by_name() {
        let mut t = Totals::default();
        t.0[counter::BUDGET_CONNECT as usize] = 7;
        t.0[counter::RING_FULL as usize] = 2;
        assert_eq!(
            t.to_string(),
            "ring_full=2 budget_exec=0 budget_connect=7 read_failed=0 stage1_insert_failed=0 \
             fork_insert_failed=0 kernel_excluded=0"
        );
        assert_eq!(t.ringbuf_drops(), 2);
    }
}
