//! `sst-connect <ip>[%scope] <port> [timeout_ms]`: one TCP connect attempt, for the tests.
//!
//! Prints `sst-connect pid=<pid> ppid=<ppid> dest=<ip> port=<port>` (flushed) BEFORE it
//! connects, so the test learns who made the attempt even when the sensor is the only other
//! witness; then tries `connect` with a timeout (default 300 ms), prints
//! `sst-connect result=<outcome>`, and exits 0 whatever the outcome. A link-local IPv6 address
//! needs a scope (`fe80::1%vethA` or `%<ifindex>`), or the kernel rejects the connect before
//! `SYN_SENT`. The tests copy this binary under other names (`ssh`, `login_duo`).

use std::ffi::CString;
use std::io::Write;
use std::net::{IpAddr, SocketAddr, SocketAddrV6, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (dest, port, timeout_ms) = match &args[1..] {
        [dest, port] => (dest, port, "300"),
        [dest, port, timeout] => (dest, port, timeout.as_str()),
        _ => return usage("expected <ip>[%scope] <port> [timeout_ms]"),
    };
    let Ok(port) = port.parse::<u16>() else {
        return usage("bad port");
    };
    let Ok(timeout_ms) = timeout_ms.parse::<u64>() else {
        return usage("bad timeout_ms");
    };
    let addr = match parse_addr(dest, port) {
        Ok(addr) => addr,
        Err(e) => return usage(&e),
    };

    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "sst-connect pid={} ppid={} dest={} port={port}",
        std::process::id(),
        std::os::unix::process::parent_id(),
        addr.ip()
    );
    let _ = out.flush();

    let timeout = Duration::from_millis(timeout_ms.max(1));
    let outcome = match TcpStream::connect_timeout(&addr, timeout) {
        Ok(_) => "connected".to_owned(),
        Err(e) => format!("{:?}", e.kind()),
    };
    let _ = writeln!(out, "sst-connect result={outcome}");
    ExitCode::SUCCESS
}

fn parse_addr(dest: &str, port: u16) -> Result<SocketAddr, String> {
    let (ip, scope) = match dest.split_once('%') {
        Some((ip, scope)) => (ip, Some(scope)),
        None => (dest, None),
    };
    let ip: IpAddr = ip.parse().map_err(|e| format!("bad ip {ip:?}: {e}"))?;
    match (ip, scope) {
        (ip, None) => Ok(SocketAddr::new(ip, port)),
        (IpAddr::V6(ip), Some(scope)) => {
            let scope_id = match scope.parse::<u32>() {
                Ok(index) => index,
                Err(_) => interface_index(scope)?,
            };
            Ok(SocketAddr::V6(SocketAddrV6::new(ip, port, 0, scope_id)))
        }
        (IpAddr::V4(_), Some(_)) => Err("a scope only applies to IPv6".to_owned()),
    }
}

fn interface_index(name: &str) -> Result<u32, String> {
    let c_name = CString::new(name).map_err(|_| format!("bad interface name {name:?}"))?;
    // SAFETY: c_name is a valid NUL-terminated string that outlives the call.
    let index = unsafe { libc::if_nametoindex(c_name.as_ptr()) };
    if index == 0 {
        Err(format!("no interface named {name:?}"))
    } else {
        Ok(index)
    }
}

fn usage(problem: &str) -> ExitCode {
    eprintln!("sst-connect: {problem}\nusage: sst-connect <ip>[%scope] <port> [timeout_ms]");
    ExitCode::from(2)
}
