//! Everything that talks to the running kernel: reading its BTF (and, for the perf-tracepoint
//! fallback only, tracepoint formats, mounting tracefs if needed) to compute the offsets in
//! [`sensor_common::Config`], knowing this process's privileges, and attaching the programs.

pub mod attach;
pub mod btf;
pub mod counters;
pub mod exclusions;
pub mod klog;
pub mod loader;
pub mod mounts;
pub mod object;
pub mod parents;
pub mod privileges;
pub mod tracefs;
