//! The listening end of systemd's readiness protocol, standing in for systemd: a Unix datagram
//! socket bound to a path in the test's scratch directory, whose path the sensor gets as
//! `$NOTIFY_SOCKET`. Each datagram is one notification (`READY=1`, `STOPPING=1`, possibly with
//! more `KEY=value` lines).

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A bound notification socket; the socket file goes with the scratch directory.
#[derive(Debug)]
pub struct NotifySocket {
    socket: UnixDatagram,
    path: PathBuf,
}

impl NotifySocket {
    /// Binds `dir/notify.sock`.
    pub fn bind(dir: &Path) -> Self {
        let path = dir.join("notify.sock");
        let socket = UnixDatagram::bind(&path)
            .unwrap_or_else(|e| panic!("cannot bind a datagram socket at {}: {e}", path.display()));
        Self { socket, path }
    }

    /// The value to put in `$NOTIFY_SOCKET`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The next notification, waiting at most `timeout`; `None` when none came.
    pub fn receive(&self, timeout: Duration) -> Option<String> {
        self.socket
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))
            .expect("set_read_timeout on the notify socket");
        let mut buf = [0u8; 4096];
        match self.socket.recv(&mut buf) {
            Ok(n) => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                None
            }
            Err(e) => panic!("receiving on {} failed: {e}", self.path.display()),
        }
    }
}

/// True if the notification `message` sets `assignment` (`READY=1`) on one of its lines.
pub fn has(message: &str, assignment: &str) -> bool {
    message.lines().any(|line| line == assignment)
}
