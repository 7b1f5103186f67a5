//! The eBPF object built by `build.rs`, embedded in the binary so it is enough on its own.

/// The compiled `sensor-ebpf` object (empty when built with `SSHD_SENSOR_SKIP_EBPF=1`).
pub static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/sensor-ebpf"));
