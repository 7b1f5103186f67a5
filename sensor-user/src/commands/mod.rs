//! One module per `sshd-sensor` subcommand: its clap arguments and an `execute` that returns
//! the exit code. `main.rs` only dispatches.
pub mod check;
pub mod config;
pub mod replay;
pub mod rule;
pub mod run;
