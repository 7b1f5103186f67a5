//! Alerts to the systemd journal through its native protocol (a datagram of `KEY=value`
//! fields on /run/systemd/journal/socket), so `journalctl -u sshd-sensor
//! SSHD_SENSOR_RULE_ID=...` and log shippers get structured fields, not just a text line.
//! An entry too large for one datagram goes as a sealed memfd passed with `SCM_RIGHTS`, as
//! `sd_journal_sendv` does, so every alert reaches the journal whatever its size.

use std::{
    ffi::CStr,
    fs::File,
    io::{self, Write as _},
    os::{
        fd::{AsRawFd, FromRawFd, OwnedFd},
        unix::net::UnixDatagram,
    },
    path::Path,
};

use crate::{
    ecs::{
        human::human_line,
        summary::{SUMMARY_ACTION, summary_line},
    },
    event::Alert,
    ratelimit::Summary,
};

pub const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";
/// The environment variable that names another journal socket.
pub const JOURNAL_SOCKET_ENV: &str = "SSHD_SENSOR_JOURNAL_SOCKET";

/// Appends one field; values with a newline use the protocol's length-prefixed form.
pub fn put_field(buf: &mut Vec<u8>, key: &str, value: &str) {
    buf.extend_from_slice(key.as_bytes());
    if value.contains('\n') {
        buf.push(b'\n');
        buf.extend_from_slice(&(value.len() as u64).to_le_bytes());
    } else {
        buf.push(b'=');
    }
    buf.extend_from_slice(value.as_bytes());
    buf.push(b'\n');
}

/// The journal entry of an alert.
pub fn entry(alert: &Alert, document: &serde_json::Value) -> Vec<u8> {
    let mut buf = Vec::with_capacity(8192);
    let (s1, s2) = (&alert.stage1, &alert.stage2);
    put_field(&mut buf, "MESSAGE", &human_line(alert));
    put_field(&mut buf, "PRIORITY", "4");
    put_field(&mut buf, "SYSLOG_IDENTIFIER", "sshd-sensor");
    put_field(&mut buf, "SSHD_SENSOR_RULE_ID", &alert.rule.rule_id);
    put_field(&mut buf, "SSHD_SENSOR_RULE_NAME", &alert.rule.name);
    let opt = |v: Option<String>| v.unwrap_or_default();
    let fields = [
        (
            "SSHD_SENSOR_DESTINATION_IP",
            opt(s2.destination.ip.map(|i| i.to_string())),
        ),
        (
            "SSHD_SENSOR_DESTINATION_PORT",
            opt(s2.destination.port.map(|p| p.to_string())),
        ),
        (
            "SSHD_SENSOR_PROCESS_PID",
            opt(s2.process.pid.map(|p| p.to_string())),
        ),
        (
            "SSHD_SENSOR_PROCESS_EXECUTABLE",
            opt(s2.process.executable.clone()),
        ),
        (
            "SSHD_SENSOR_PROCESS_ENTITY_ID",
            opt(s2.process.entity_id.clone()),
        ),
        (
            "SSHD_SENSOR_PARENT_PID",
            opt(s1.process.pid.map(|p| p.to_string())),
        ),
        (
            "SSHD_SENSOR_PARENT_EXECUTABLE",
            opt(s1.process.executable.clone()),
        ),
        ("SSHD_SENSOR_USER_NAME", opt(s2.process.user_name.clone())),
        ("SSHD_SENSOR_HOST_ID", opt(s2.host_id.clone())),
    ];
    for (key, value) in fields {
        if !value.is_empty() {
            put_field(&mut buf, key, &value);
        }
    }
    put_field(&mut buf, "SSHD_SENSOR_ECS", &document.to_string());
    buf
}

/// The journal entry of a rate-cap summary.
pub fn summary_entry(summary: &Summary, document: &serde_json::Value) -> Vec<u8> {
    let mut buf = Vec::with_capacity(8192);
    let session = &summary.session.process;
    put_field(&mut buf, "MESSAGE", &summary_line(summary));
    put_field(&mut buf, "PRIORITY", "4");
    put_field(&mut buf, "SYSLOG_IDENTIFIER", "sshd-sensor");
    put_field(&mut buf, "SSHD_SENSOR_RULE_ID", &summary.rule.rule_id);
    put_field(&mut buf, "SSHD_SENSOR_RULE_NAME", &summary.rule.name);
    put_field(&mut buf, "SSHD_SENSOR_EVENT_ACTION", SUMMARY_ACTION);
    put_field(
        &mut buf,
        "SSHD_SENSOR_SUPPRESSED",
        &summary.suppressed.to_string(),
    );
    if let Some(pid) = session.pid {
        put_field(&mut buf, "SSHD_SENSOR_PARENT_PID", &pid.to_string());
    }
    if let Some(entity_id) = &session.entity_id {
        put_field(&mut buf, "SSHD_SENSOR_PARENT_ENTITY_ID", entity_id);
    }
    put_field(&mut buf, "SSHD_SENSOR_ECS", &document.to_string());
    buf
}

/// A connection to the journal.
pub struct Journal {
    socket: UnixDatagram,
}

impl Journal {
    /// Connects to [`JOURNAL_SOCKET`], or to `$SSHD_SENSOR_JOURNAL_SOCKET` when set (a journald
    /// whose socket is elsewhere: a container's bind mount, a test's own journald).
    pub fn connect() -> io::Result<Journal> {
        match std::env::var_os(JOURNAL_SOCKET_ENV) {
            Some(path) => Journal::connect_to(Path::new(&path)),
            None => Journal::connect_to(Path::new(JOURNAL_SOCKET)),
        }
    }

    pub fn connect_to(path: &Path) -> io::Result<Journal> {
        let socket = UnixDatagram::unbound()?;
        socket.connect(path)?;
        Ok(Journal { socket })
    }

    pub fn send(&self, alert: &Alert, document: &serde_json::Value) -> io::Result<()> {
        self.send_entry(&entry(alert, document))
    }

    pub fn send_summary(&self, summary: &Summary, document: &serde_json::Value) -> io::Result<()> {
        self.send_entry(&summary_entry(summary, document))
    }

    /// Sends one entry as one datagram or, when it is too large for one (`EMSGSIZE`,
    /// `ENOBUFS`), through a memfd.
    pub fn send_entry(&self, data: &[u8]) -> io::Result<()> {
        match self.socket.send(data) {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EMSGSIZE | libc::ENOBUFS)) => {
                send_fd(&self.socket, &sealed_memfd(data)?)
            }
            Err(e) => Err(e),
        }
    }
}

/// A memfd holding `data`, sealed against any change (journald accepts only a sealed one).
fn sealed_memfd(data: &[u8]) -> io::Result<OwnedFd> {
    const NAME: &CStr = c"sshd-sensor-journal-entry";
    // SAFETY: NAME is NUL-terminated; the flags are valid.
    let fd =
        unsafe { libc::memfd_create(NAME.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a new descriptor nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut file = File::from(fd);
    file.write_all(data)?;
    let seals = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE | libc::F_SEAL_SEAL;
    // SAFETY: F_ADD_SEALS on a descriptor this function owns.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_ADD_SEALS, seals) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(file.into())
}

/// Sends `fd` alone (no payload) over `socket` with `SCM_RIGHTS`.
fn send_fd(socket: &UnixDatagram, fd: &OwnedFd) -> io::Result<()> {
    let raw = fd.as_raw_fd();
    // SAFETY: CMSG_SPACE is a pure computation.
    let space = unsafe { libc::CMSG_SPACE(size_of::<libc::c_int>() as u32) } as usize;
    let mut control = vec![0u8; space];
    // SAFETY: msghdr is plain data; all-zero is a valid value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    // SAFETY: `msg` points at `control`, which has room for one cmsg carrying one int.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if cmsg.is_null() {
            return Err(io::Error::other("no room for SCM_RIGHTS"));
        }
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(size_of::<libc::c_int>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>(), raw);
    }
    // SAFETY: `msg` and `control` are valid for the call; the socket is open.
    let rc = unsafe { libc::sendmsg(socket.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_use_plain_or_length_prefixed_form() {
        let mut buf = Vec::new();
        put_field(&mut buf, "A", "x");
        put_field(&mut buf, "B", "1\n2");
        let mut want = b"A=x\nB\n".to_vec();
        want.extend_from_slice(&3u64.to_le_bytes());
        want.extend_from_slice(b"1\n2\n");
        assert_eq!(buf, want);
    }

    #[test]
    fn sends_an_entry_a_journal_socket_receives() {
        let dir = std::env::temp_dir().join(format!("sshd-sensor-journal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("socket");
        let _ = std::fs::remove_file(&path);
        let server = UnixDatagram::bind(&path).expect("bind");
        let journal = Journal::connect_to(&path).expect("connect");
        let alert = crate::ecs::fixtures::alert();
        journal
            .send(&alert, &serde_json::json!({"k": "v"}))
            .expect("send");
        let mut buf = vec![0u8; 65536];
        let n = server.recv(&mut buf).expect("recv");
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(text.contains("SSHD_SENSOR_RULE_ID=63431796-f813-43af-820b-492ee2efec8e\n"));
        assert!(text.contains("SSHD_SENSOR_ECS={\"k\":\"v\"}\n"));
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    /// What journald does with a datagram carrying a descriptor: read the entry from it.
    fn receive_fd(server: &UnixDatagram) -> Vec<u8> {
        let mut byte = [0u8; 1];
        let mut iov = libc::iovec {
            iov_base: byte.as_mut_ptr().cast(),
            iov_len: 1,
        };
        let mut control = vec![0u8; 64];
        // SAFETY: plain data, all-zero valid.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = control.len() as _;
        // SAFETY: every pointer in `msg` is valid for the call.
        let n = unsafe { libc::recvmsg(server.as_raw_fd(), &mut msg, 0) };
        assert_eq!(n, 0, "a descriptor-only datagram");
        // SAFETY: recvmsg filled `control`; the cmsg carries one descriptor.
        let fd = unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            assert!(!cmsg.is_null() && (*cmsg).cmsg_type == libc::SCM_RIGHTS);
            std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>())
        };
        // SAFETY: the kernel gave this process a new descriptor.
        let mut file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
        // SAFETY: F_GET_SEALS on an owned descriptor.
        let seals = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GET_SEALS) };
        assert_eq!(
            seals & (libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE),
            libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE,
            "sealed as journald requires"
        );
        // journald maps the file from its start; the offset is shared with the sender's.
        io::Seek::seek(&mut file, io::SeekFrom::Start(0)).expect("seek memfd");
        let mut data = Vec::new();
        io::Read::read_to_end(&mut file, &mut data).expect("read memfd");
        data
    }

    #[test]
    fn an_entry_too_large_for_a_datagram_goes_through_a_memfd() {
        let dir =
            std::env::temp_dir().join(format!("sshd-sensor-journal-big-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("socket");
        let _ = std::fs::remove_file(&path);
        let server = UnixDatagram::bind(&path).expect("bind");
        let journal = Journal::connect_to(&path).expect("connect");
        let mut big = Vec::new();
        put_field(&mut big, "MESSAGE", &"x".repeat(8 << 20));
        journal.send_entry(&big).expect("send through a memfd");
        assert!(
            receive_fd(&server) == big,
            "the memfd holds the whole entry"
        );
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn a_summary_entry_carries_its_action_count_session_and_document() {
        let mut cap = crate::ratelimit::RateCap::new(0, 1_000_000_000);
        cap.admit(&crate::ecs::fixtures::alert());
        let summary = cap.flush().remove(0);
        let text = String::from_utf8(summary_entry(&summary, &serde_json::json!({"k": "v"})))
            .expect("utf-8");
        for field in [
            "SSHD_SENSOR_EVENT_ACTION=rate_cap_summary\n",
            "SSHD_SENSOR_SUPPRESSED=1\n",
            "SSHD_SENSOR_PARENT_PID=1200\n",
            "SSHD_SENSOR_ECS={\"k\":\"v\"}\n",
        ] {
            assert!(text.contains(field), "{field:?} missing from {text:?}");
        }
        assert!(
            text.starts_with("MESSAGE=") && text.contains("RATE-CAP"),
            "{text}"
        );
    }
}
