//! Everything that talks to the running kernel: reading its BTF and tracepoint formats to
//! compute the offsets in [`sensor_common::Config`], and making sure the pseudo-filesystems
//! (tracefs, bpffs) the sensor relies on are mounted.

pub mod btf;
pub mod loader;
pub mod mounts;
pub mod object;
pub mod parents;
pub mod tracefs;
