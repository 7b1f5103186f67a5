//! `cargo xtask`: the project's developer tasks, one module per subcommand. Each runs the tools
//! a developer would type, through [`exec`], printing every command line before it runs it, and
//! fails with the whole command line when one fails. Nothing here repeats what `build.rs` does.

mod bench;
mod build;
mod deb;
mod difftest;
mod exec;
mod host;
mod mutants;
mod replay_bench;
mod run;
mod setup;
mod test;
mod vm;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "sshd-sensor developer tasks"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Install what building and testing need on Debian 12 (idempotent; root to install).
    Setup,
    /// Build the release binary and the root-only integration test binaries.
    Build,
    /// Set up, build, and run the sensor live in the foreground (root).
    Run(run::Args),
    /// Set up, build, and run every test stage (root).
    Test(test::Args),
    /// Measure the sensor's overhead against no sensor and empty programs (root).
    Bench(bench::Args),
    /// Build the Debian package with packaging/build-deb.sh.
    Deb(deb::Args),
    /// Boot Debian 11, 12 and 13 under QEMU, install the .deb and run the checks (root).
    VmTest(vm::Args),
    /// A long differential run of replay against Python EQL (needs `cargo xtask setup`'s venv).
    Difftest(difftest::Args),
    /// Time `sshd-sensor replay` against validate-only and Python EQL.
    ReplayBench(replay_bench::Args),
    /// Mutation testing of the pure code with cargo-mutants (slow; not part of CI).
    Mutants(mutants::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Setup => setup::execute().map(|()| ExitCode::SUCCESS),
        Command::Build => build::execute().map(|()| ExitCode::SUCCESS),
        Command::Run(args) => run::execute(args),
        Command::Test(args) => test::execute(args).map(|()| ExitCode::SUCCESS),
        Command::Bench(args) => bench::execute(args).map(|()| ExitCode::SUCCESS),
        Command::Deb(args) => deb::execute(args),
        Command::VmTest(args) => vm::execute(args).map(|()| ExitCode::SUCCESS),
        Command::Difftest(args) => difftest::run(args).map(|()| ExitCode::SUCCESS),
        Command::ReplayBench(args) => replay_bench::run(args).map(|()| ExitCode::SUCCESS),
        Command::Mutants(args) => mutants::execute(args).map(|()| ExitCode::SUCCESS),
    };
    result.unwrap_or_else(|e| {
        eprintln!("xtask: error: {e:#}");
        ExitCode::FAILURE
    })
}
