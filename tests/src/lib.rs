//! Harness for the root-only end-to-end tests of `sshd-sensor`.
//!
//! Every test builds a realistic host in miniature and drives it the way an intruder would:
//! a pair of fresh network namespaces ([`netns`]) whose "outside" has no address, so a connect
//! to a public address enters `SYN_SENT` and nothing ever leaves the machine; a real Debian
//! OpenSSH server in the inner namespace ([`sshd`]) with a dedicated test account ([`user`]);
//! the real `ssh` client ([`ssh`]) running a shell command that starts the connect helper
//! ([`connector`]); and the sensor under test on the host ([`sensor`]), whose JSON alerts are
//! read back ([`alert`]) and judged ([`scenario`]). [`testbed`] wires these together in the
//! realistic order netns -> sshd -> sensor -> ssh commands. [`kernel_trace`] checks the
//! scenarios against the kernel's own events, without the sensor. [`privileges`] runs the
//! sensor as the systemd unit does (uid 65534, only the unit's capabilities) and
//! [`notify_socket`] stands in for systemd's readiness socket, for the tests of the daemon
//! itself. [`scratch_fs`] makes the btrfs subvolume and overlay that parent executables
//! live on in the identity tests.
//!
//! The harness panics with a message naming what failed; it never skips. Every wait is bounded
//! in count and time ([`wait`]), and every resource has a `Drop` guard that cleans up even when
//! the test panics.

pub mod alert;
pub mod cmd;
pub mod connector;
pub mod kernel_trace;
pub mod netns;
pub mod notify_socket;
pub mod prereq;
pub mod privileges;
pub mod rate_cap;
pub mod scenario;
pub mod scratch_fs;
pub mod sensor;
pub mod ssh;
pub mod sshd;
pub mod tempdir;
pub mod testbed;
pub mod user;
pub mod wait;
