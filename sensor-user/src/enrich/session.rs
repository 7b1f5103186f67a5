//! The SSH connection behind a login, from what the logged-in user cannot write: the TCP socket
//! of the sshd process that started the stage-1 process (`/proc/PID/fd` -> `socket:[INODE]`,
//! looked up as ESTABLISHED in that process's `/proc/PID/net/tcp` and `tcp6`). Never from the
//! environment: `SSH_CONNECTION` and `USER` are the user's to set (`env SSH_CONNECTION=... sh`
//! is itself an exec by sshd's child).
//!
//! Which process holds the socket: on OpenSSH 9.2 the shell's parent is the unprivileged
//! `sshd: user@...` child, forked from the privileged `sshd: user [priv]` monitor; on OpenSSH
//! 9.8+ both are `sshd-session`. Both hold the connection, but the child also holds every
//! TCP connection it makes or accepts for port forwarding (`ssh -L`/`-R`), which the user
//! chooses. So the connection is the ESTABLISHED socket the parent shares with its own parent
//! when that one runs the same verified image (the monitor forwards nothing); failing that,
//! the parent's only ESTABLISHED socket; otherwise nothing (left out, never guessed).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::procfs::ProcFs;
use crate::{kernel::parents::ident::KernelId, rule::exclusions::normalize_ip};

/// Both ends of one TCP connection, as the sshd side sees them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Connection {
    pub client: (IpAddr, u16),
    pub server: (IpAddr, u16),
    /// The monitor holds it too: this process serves this connection for its whole life, so
    /// the answer may be cached. A lone socket may be transient (the listener between
    /// `accept` and handing the connection over), so it is looked up again next time.
    pub lasting: bool,
}

/// `st` of an ESTABLISHED socket in `/proc/net/tcp`.
const TCP_ESTABLISHED: &str = "01";

/// The connection sshd process `sshd` serves; `image` is the kernel identity it was verified
/// to run.
pub fn connection(proc: &mut impl ProcFs, sshd: u32, image: KernelId) -> Option<Connection> {
    let own = established(proc, sshd);
    if own.is_empty() {
        return None;
    }
    if let Some(monitor) = proc.parent_pid(sshd)
        && monitor > 1
        && proc.is_exe(monitor, image) == Some(true)
    {
        let theirs = proc.socket_inodes(monitor);
        let shared: Vec<&(u64, Connection)> = own
            .iter()
            .filter(|(inode, _)| theirs.contains(inode))
            .collect();
        if let [(_, c)] = shared[..] {
            return Some(Connection {
                lasting: true,
                ..*c
            });
        }
    }
    match own[..] {
        [(_, c)] => Some(c),
        _ => None,
    }
}

/// The ESTABLISHED TCP sockets `pid` holds, by inode.
fn established(proc: &mut impl ProcFs, pid: u32) -> Vec<(u64, Connection)> {
    let inodes = proc.socket_inodes(pid);
    if inodes.is_empty() {
        return Vec::new();
    }
    let mut found = Vec::new();
    for v6 in [false, true] {
        let Some(table) = proc.tcp_table(pid, v6) else {
            continue;
        };
        found.extend(
            table
                .lines()
                .filter_map(parse_line)
                .filter(|(inode, _)| inodes.contains(inode)),
        );
    }
    found.sort_unstable_by_key(|(inode, _)| *inode);
    found.dedup_by_key(|(inode, _)| *inode);
    found
}

/// One line of `/proc/net/tcp{,6}` if it is an ESTABLISHED socket: its inode, and its local
/// end as the server, its remote end as the client.
pub fn parse_line(line: &str) -> Option<(u64, Connection)> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let (local, remote, state, inode) = (
        fields.get(1)?,
        fields.get(2)?,
        fields.get(3)?,
        fields.get(9)?,
    );
    if *state != TCP_ESTABLISHED {
        return None;
    }
    let inode: u64 = inode.parse().ok()?;
    Some((
        inode,
        Connection {
            server: endpoint(local)?,
            client: endpoint(remote)?,
            lasting: false,
        },
    ))
}

/// `ADDR:PORT` in the kernel's hex: the address as 32-bit words in host byte order.
fn endpoint(text: &str) -> Option<(IpAddr, u16)> {
    let (addr, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| -> Option<[u8; 4]> {
        let hex = addr.get(i * 8..i * 8 + 8)?;
        Some(u32::from_str_radix(hex, 16).ok()?.to_ne_bytes())
    };
    let ip = match addr.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let mut octets = [0u8; 16];
            for i in 0..4 {
                octets[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            IpAddr::V6(Ipv6Addr::from(octets))
        }
        _ => return None,
    };
    Some((normalize_ip(ip), port))
}

/// A `/proc/net/tcp` line (for tests): `local` and `remote` as the kernel prints them.
#[cfg(test)]
pub fn tcp_line(
    local: (Ipv4Addr, u16),
    remote: (Ipv4Addr, u16),
    state: &str,
    inode: u64,
) -> String {
    let hex =
        |(ip, port): (Ipv4Addr, u16)| format!("{:08X}:{port:04X}", u32::from_ne_bytes(ip.octets()));
    format!(
        "   0: {} {} {state} 00000000:00000000 00:00000000 00000000  1000        0 {inode} 1 0000000000000000 20 4 30 10 -1",
        hex(local),
        hex(remote)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enrich::fake::{FakeProcFs, FakeProcess};

    const SSHD: KernelId = (8, 77);
    const HEADER: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode";

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn parses_v4_and_mapped_v6_lines() {
        let line = tcp_line(
            (Ipv4Addr::new(10, 0, 0, 5), 22),
            (Ipv4Addr::new(192, 0, 2, 7), 51234),
            "01",
            4242,
        );
        let (inode, c) = parse_line(&line).expect("established");
        assert_eq!(inode, 4242);
        assert_eq!(c.server, (ip("10.0.0.5"), 22));
        assert_eq!(c.client, (ip("192.0.2.7"), 51234));
        assert_eq!(parse_line(&line.replace(" 01 ", " 0A ")), None, "LISTEN");
        assert_eq!(parse_line(HEADER), None);
        // ::ffff:127.0.0.1 port 22, as tcp6 prints it on a little-endian host.
        let mapped = Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0x7f00, 1).octets();
        let hex: String = mapped
            .chunks(4)
            .map(|w| format!("{:08X}", u32::from_ne_bytes([w[0], w[1], w[2], w[3]])))
            .collect();
        let line6 = format!(
            "   1: {hex}:0016 {hex}:C822 01 00000000:00000000 00:00000000 00000000 0 0 99 1"
        );
        let (_, c6) = parse_line(&line6).expect("v6");
        assert_eq!(c6.server, (ip("127.0.0.1"), 22));
        assert_eq!(c6.client, (ip("127.0.0.1"), 0xc822));
    }

    /// A monitor (pid 10) and its session child (pid 11), both sshd, sharing socket 500; the
    /// child also holds a forwarded connection (501) the user asked for.
    fn host(child_sockets: Vec<u64>, monitor_sockets: Vec<u64>) -> FakeProcFs {
        let table = [
            HEADER.to_owned(),
            tcp_line(
                (Ipv4Addr::new(10, 0, 0, 5), 22),
                (Ipv4Addr::new(192, 0, 2, 7), 51234),
                "01",
                500,
            ),
            tcp_line(
                (Ipv4Addr::new(127, 0, 0, 1), 40000),
                (Ipv4Addr::new(198, 51, 100, 23), 51000),
                "01",
                501,
            ),
            tcp_line(
                (Ipv4Addr::UNSPECIFIED, 22),
                (Ipv4Addr::UNSPECIFIED, 0),
                "0A",
                502,
            ),
        ]
        .join("\n");
        let sshd = |ppid, sockets| FakeProcess {
            exe: Some(("/usr/sbin/sshd".into(), SSHD)),
            ppid,
            sockets,
            tcp: table.clone(),
            ..FakeProcess::default()
        };
        let mut fake = FakeProcFs::default();
        fake.processes.insert(10, sshd(1, monitor_sockets));
        fake.processes.insert(11, sshd(10, child_sockets));
        fake
    }

    #[test]
    fn the_socket_shared_with_the_monitor_is_the_connection() {
        let mut fake = host(vec![500, 501, 502], vec![500]);
        let c = connection(&mut fake, 11, SSHD).expect("connection");
        assert_eq!(c.client, (ip("192.0.2.7"), 51234));
        assert_eq!(c.server, (ip("10.0.0.5"), 22));
        assert!(c.lasting);
    }

    #[test]
    fn a_lone_established_socket_is_the_connection_and_several_are_ambiguous() {
        let mut lone = host(vec![500, 502], vec![]);
        assert_eq!(
            connection(&mut lone, 11, SSHD).map(|c| c.lasting),
            Some(false)
        );
        let mut ambiguous = host(vec![500, 501], vec![]);
        assert_eq!(connection(&mut ambiguous, 11, SSHD), None);
        // A monitor running another image does not count.
        let mut foreign = host(vec![500, 501], vec![500]);
        if let Some(p) = foreign.processes.get_mut(&10) {
            p.exe = Some(("/tmp/x".into(), (8, 1)));
        }
        assert_eq!(connection(&mut foreign, 11, SSHD), None);
    }
}
