//! `sst-no-perf PROGRAM [ARGS...]`: runs PROGRAM with perf_event_open(2) refused (EACCES), the
//! way a Debian or Ubuntu kernel with `kernel.perf_event_paranoid=3` refuses it to a process
//! without CAP_SYS_ADMIN. It installs a seccomp filter for that one system call (after
//! `PR_SET_NO_NEW_PRIVS`, which unprivileged seccomp needs) and execs PROGRAM, which keeps
//! this process's capabilities. Lets the tests prove on any kernel that the sensor does not
//! need perf events.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const BPF_LD_W_ABS: u16 = 0x20;
const BPF_JEQ_K: u16 = 0x15;
const BPF_RET_K: u16 = 0x06;
const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
const SECCOMP_RET_KILL_PROCESS: u32 = 0x8000_0000;

fn op(code: u16, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

fn main() -> ExitCode {
    let args: Vec<CString> = std::env::args_os()
        .skip(1)
        .map(|a| CString::new(a.as_bytes()).expect("no NUL in arguments"))
        .collect();
    if args.is_empty() {
        eprintln!("usage: sst-no-perf PROGRAM [ARGS...]");
        return ExitCode::from(2);
    }
    let filter = [
        // seccomp_data.arch: anything but x86_64 is refused outright (the numbers differ).
        op(BPF_LD_W_ABS, 0, 0, 4),
        op(BPF_JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
        op(BPF_RET_K, 0, 0, SECCOMP_RET_KILL_PROCESS),
        // seccomp_data.nr
        op(BPF_LD_W_ABS, 0, 0, 0),
        op(BPF_JEQ_K, 0, 1, libc::SYS_perf_event_open as u32),
        op(BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | libc::EACCES as u32),
        op(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
    ];
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr().cast_mut(),
    };
    // SAFETY: prctl with documented arguments; `prog` outlives the call.
    let installed = unsafe {
        libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
            && libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                &prog as *const libc::sock_fprog,
            ) == 0
    };
    if !installed {
        eprintln!(
            "sst-no-perf: installing the seccomp filter failed: {}",
            std::io::Error::last_os_error()
        );
        return ExitCode::from(1);
    }
    let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    // SAFETY: argv is a NULL-terminated array of valid C strings that outlive the call.
    unsafe { libc::execvp(args[0].as_ptr(), argv.as_ptr()) };
    eprintln!(
        "sst-no-perf: exec {:?} failed: {}",
        args[0],
        std::io::Error::last_os_error()
    );
    ExitCode::from(127)
}
