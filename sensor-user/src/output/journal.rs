//! Alerts to the systemd journal through its native protocol (a datagram of `KEY=value`
//! fields on /run/systemd/journal/socket), so `journalctl -u sshd-sensor
//! SSHD_SENSOR_RULE_ID=...` and log shippers get structured fields, not just a text line.

use std::{io, os::unix::net::UnixDatagram, path::Path};

use crate::{ecs::human::human_line, event::Alert};

pub const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";

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

/// A connection to the journal.
pub struct Journal {
    socket: UnixDatagram,
}

impl Journal {
    pub fn connect() -> io::Result<Journal> {
        Journal::connect_to(Path::new(JOURNAL_SOCKET))
    }

    pub fn connect_to(path: &Path) -> io::Result<Journal> {
        let socket = UnixDatagram::unbound()?;
        socket.connect(path)?;
        Ok(Journal { socket })
    }

    pub fn send(&self, alert: &Alert, document: &serde_json::Value) -> io::Result<()> {
        self.socket.send(&entry(alert, document)).map(|_| ())
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
}
