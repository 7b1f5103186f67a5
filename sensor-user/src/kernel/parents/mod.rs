//! The parent executables as the kernel recognises them: which paths (by default `sshd` and
//! every place a distribution puts `sshd-session`, [`candidates`]), what each path is now
//! ([`ident`]: the kernel's device of the mount holding it, never `st_dev`, plus the inode),
//! and how that changes while the sensor runs ([`identities`], a pure state machine; [`watch`],
//! inotify planning and debounce; [`watcher`], the daemon's select arm). `PARENT_EXES` holds
//! the current identity of each path, plus the old ones a running process still executes;
//! only files the sensor itself resolved in its own mount namespace ever enter it.

pub mod candidates;
pub mod ident;
pub mod identities;
mod inotify;
pub mod mountinfo;
mod table;
pub mod watch;
mod watcher;

pub use ident::kernel_dev;
pub use table::{TableError, set_parents};
pub use watcher::{Due, Watcher};
