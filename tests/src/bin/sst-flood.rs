//! `sst-flood <ip> <port> <seconds> <max_attempts> [fat]`: the flooding process of the adversary
//! tests. With `fat`, it first re-executes itself with about 2 MB of extra arguments (so its
//! `/proc/PID/cmdline` is huge), then makes blocking TCP connect attempts to `<ip>:<port>` in a
//! tight loop, each one a CLOSE -> SYN_SENT transition, until `<seconds>` pass or
//! `<max_attempts>` were made. Meant for loopback (a closed port refuses at once). Prints
//! `sst-flood pid=<pid> attempts=<n> first=<outcome>` and exits 0.

use std::net::{IpAddr, SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

/// Extra arguments of the fat re-exec: 20 of 100,000 bytes (one argument may not exceed
/// 128 KiB, and all together stay under the 2 MiB `ARG_MAX` of an 8 MiB stack).
const FAT_ARGS: usize = 20;
const FAT_ARG_LEN: usize = 100_000;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        eprintln!("usage: sst-flood <ip> <port> <seconds> <max_attempts> [fat]");
        return ExitCode::from(2);
    }
    let (Ok(ip), Ok(port), Ok(seconds), Ok(max)) = (
        args[1].parse::<IpAddr>(),
        args[2].parse::<u16>(),
        args[3].parse::<f64>(),
        args[4].parse::<u64>(),
    ) else {
        eprintln!("sst-flood: bad arguments {:?}", &args[1..]);
        return ExitCode::from(2);
    };
    if args.get(5).map(String::as_str) == Some("fat") {
        let filler = "x".repeat(FAT_ARG_LEN);
        let err = Command::new("/proc/self/exe")
            .arg0(&args[0])
            .args(&args[1..5])
            .arg("lean")
            .args(std::iter::repeat_n(filler, FAT_ARGS))
            .exec();
        eprintln!("sst-flood: re-exec failed: {err}");
        return ExitCode::from(1);
    }
    let addr = SocketAddr::new(ip, port);
    let deadline = Instant::now() + Duration::from_secs_f64(seconds.clamp(0.0, 60.0));
    let mut attempts = 0u64;
    let mut first = None;
    while attempts < max && Instant::now() < deadline {
        let outcome = TcpStream::connect(addr);
        attempts += 1;
        if first.is_none() {
            first = Some(match outcome {
                Ok(_) => "connected".to_owned(),
                Err(e) => format!("{:?}", e.kind()),
            });
        }
    }
    println!(
        "sst-flood pid={} attempts={attempts} first={}",
        std::process::id(),
        first.unwrap_or_default()
    );
    ExitCode::SUCCESS
}
