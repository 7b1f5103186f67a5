//! The two workloads the benchmark times, both run from the xtask process (which no sshd
//! started, so the sensor sees every event and alerts on none): an exec storm of sequential
//! fork+exec+wait of `/bin/true`, and a connect storm of sequential TCP connect, accept and
//! close on 127.0.0.1, all on one thread. Loopback only: nothing leaves the host.
//!
//! Each storm is timed in batches of [`BATCH`] ops and reports the median batch's time per op,
//! so a burst of unrelated load on the machine moves one batch, not the result. It also reports
//! its own CPU time per op, the same way (median batch): getrusage(2) user+sys of this process
//! (`RUSAGE_SELF`) plus that of its reaped children (`RUSAGE_CHILDREN`, the exec'd
//! `/bin/true`s). BPF programs on these hooks run in the task that hits the tracepoint (the
//! loopback's softirq work runs in the connecting task too), so their cost lands there. The
//! client closes each connection abortively (SO_LINGER 0: RST, no TIME_WAIT): tens of
//! thousands of TIME_WAIT sockets would otherwise crowd the ephemeral port range and slow every
//! later connect, whatever the configuration.

use std::{
    net::{Ipv4Addr, TcpListener, TcpStream},
    os::fd::AsRawFd,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail, ensure};

/// Ops per timed batch.
pub const BATCH: usize = 100;

/// What one storm cost, per op.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timing {
    /// The median batch's wall time per op.
    pub wall: Duration,
    /// The median batch's user+sys CPU of this process and its reaped children, per op.
    pub cpu: Duration,
}

/// User+sys CPU time so far of this process and of its reaped children.
fn cpu_time() -> Result<Duration> {
    let mut total = Duration::ZERO;
    for who in [libc::RUSAGE_SELF, libc::RUSAGE_CHILDREN] {
        // SAFETY: an all-zero `rusage` is a valid value of this plain C struct.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: getrusage(2) writes into the live `usage` it is given.
        if unsafe { libc::getrusage(who, &raw mut usage) } != 0 {
            bail!("getrusage: {}", std::io::Error::last_os_error());
        }
        for tv in [usage.ru_utime, usage.ru_stime] {
            total += Duration::new(u64::try_from(tv.tv_sec)?, u32::try_from(tv.tv_usec)? * 1000);
        }
    }
    Ok(total)
}

/// Runs `op` `n` times in batches of [`BATCH`]: the median batch's wall time per op and the
/// median batch's CPU time per op (each median taken on its own).
fn timed(n: usize, mut op: impl FnMut(usize) -> Result<()>) -> Result<Timing> {
    let mut wall = Vec::with_capacity(n.div_ceil(BATCH));
    let mut cpu = Vec::with_capacity(n.div_ceil(BATCH));
    let mut done = 0;
    while done < n {
        let size = BATCH.min(n - done);
        let cpu_before = cpu_time()?;
        let start = Instant::now();
        for i in done..done + size {
            op(i)?;
        }
        let elapsed = start.elapsed();
        let ops = u32::try_from(size)?;
        wall.push(elapsed / ops);
        cpu.push(cpu_time()?.saturating_sub(cpu_before) / ops);
        done += size;
    }
    wall.sort();
    cpu.sort();
    Ok(Timing {
        wall: wall[wall.len() / 2],
        cpu: cpu[cpu.len() / 2],
    })
}

/// Spawns and waits for `/bin/true` `n` times in a row.
pub fn exec_storm(n: usize) -> Result<Timing> {
    timed(n, |_| {
        let status = Command::new("/bin/true")
            .stdin(Stdio::null())
            .status()
            .context("exec storm: could not run /bin/true")?;
        ensure!(
            status.success(),
            "exec storm: /bin/true exited with {status}"
        );
        Ok(())
    })
}

/// Opens and closes `n` TCP connections in a row to a listener on 127.0.0.1 (an ephemeral
/// port, fresh for each storm), accepting each on the same thread: a loopback handshake
/// completes inside connect(2), so no second thread (and no cross-CPU wake-up, whose cost
/// depends on where the scheduler put it) is involved.
pub fn connect_storm(n: usize) -> Result<Timing> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .context("connect storm: could not listen on 127.0.0.1")?;
    let addr = listener
        .local_addr()
        .context("connect storm: listener address")?;
    if !addr.ip().is_loopback() {
        bail!("connect storm: listener is on {addr}, not loopback");
    }
    timed(n, |i| {
        let stream = TcpStream::connect(addr)
            .with_context(|| format!("connect storm: connect #{i} to {addr}"))?;
        let (accepted, _) = listener
            .accept()
            .with_context(|| format!("connect storm: accept #{i} on {addr}"))?;
        abortive_close(stream)?;
        drop(accepted);
        Ok(())
    })
}

/// Closes with SO_LINGER 0, so the kernel sends RST and keeps no TIME_WAIT socket.
fn abortive_close(stream: TcpStream) -> Result<()> {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket fd owned by `stream`, and a pointer to a live `linger` of the
    // size passed.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&raw const linger).cast(),
            libc::socklen_t::try_from(std::mem::size_of::<libc::linger>())?,
        )
    };
    if rc != 0 {
        bail!(
            "connect storm: setsockopt(SO_LINGER): {}",
            std::io::Error::last_os_error()
        );
    }
    drop(stream);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storms_run_and_take_time() {
        let exec = exec_storm(3).expect("exec storm");
        assert!(
            exec.wall > Duration::ZERO && exec.cpu > Duration::ZERO,
            "{exec:?}"
        );
        let connect = connect_storm(BATCH + 3).expect("connect storm");
        assert!(connect.wall > Duration::ZERO, "{connect:?}");
    }
}
