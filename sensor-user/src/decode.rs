//! Ring-buffer bytes to typed records. Length and kind are checked before anything is read;
//! the kind is a `u32` matched by value (never transmuted into an enum); a malformed record is
//! an error for the caller to count and skip.

use std::mem::size_of;

use sensor_common::{ConnectEvent, ExecEvent, Header, KIND_CONNECT, KIND_EXEC};

/// One decoded record.
#[derive(Clone, Debug)]
pub enum Record {
    /// Boxed: an exec record is 888 bytes, a connect record 128.
    Exec(Box<ExecEvent>),
    Connect(ConnectEvent),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("record of {len} bytes is shorter than its header")]
    Short { len: usize },
    #[error("record kind {kind} is unknown")]
    UnknownKind { kind: u32 },
    #[error("record of kind {kind} has {len} bytes, expected {expected}")]
    Length {
        kind: u32,
        len: usize,
        expected: usize,
    },
    #[error("record field {0} is out of range")]
    Field(&'static str),
}

fn read<T: Copy>(bytes: &[u8]) -> T {
    debug_assert!(bytes.len() >= size_of::<T>());
    // SAFETY: callers check `bytes.len() >= size_of::<T>()`; T is a plain-old-data record
    // (integers and byte arrays, every bit pattern valid); read_unaligned needs no alignment.
    unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<T>()) }
}

/// Decodes one record.
pub fn decode(bytes: &[u8]) -> Result<Record, DecodeError> {
    if bytes.len() < size_of::<Header>() {
        return Err(DecodeError::Short { len: bytes.len() });
    }
    let header: Header = read(bytes);
    let expected = match header.kind {
        KIND_EXEC => size_of::<ExecEvent>(),
        KIND_CONNECT => size_of::<ConnectEvent>(),
        kind => return Err(DecodeError::UnknownKind { kind }),
    };
    if bytes.len() != expected {
        return Err(DecodeError::Length {
            kind: header.kind,
            len: bytes.len(),
            expected,
        });
    }
    match header.kind {
        KIND_EXEC => {
            let ev: ExecEvent = read(bytes);
            if ev.filename_len as usize > ev.filename.len() {
                return Err(DecodeError::Field("filename_len"));
            }
            if ev.args_len as usize > ev.args.len() {
                return Err(DecodeError::Field("args_len"));
            }
            Ok(Record::Exec(Box::new(ev)))
        }
        _ => Ok(Record::Connect(read(bytes))),
    }
}

/// `comm` as text (up to the first NUL).
pub fn comm(raw: &[u8]) -> String {
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    String::from_utf8_lossy(&raw[..end]).into_owned()
}

/// NUL-separated argv (as in /proc/PID/cmdline) of which `total` bytes exist and `have` were
/// copied. A truncated last argument is kept as far as it was copied.
pub fn args(raw: &[u8], have: u32, total: u32) -> Vec<String> {
    let len = (have.min(total) as usize).min(raw.len());
    let mut args: Vec<String> = raw[..len]
        .split(|&b| b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    // A process that rewrites its title (sshd: "sshd: user@notty") leaves NUL padding behind.
    while args.last().is_some_and(|a| a.is_empty()) {
        args.pop();
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;
    use sensor_common::{ConnectEvent, Header};

    fn bytes_of<T: Copy>(v: &T) -> Vec<u8> {
        // SAFETY: T is plain old data.
        unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), size_of::<T>()) }.to_vec()
    }

    #[test]
    fn decodes_connect_and_rejects_bad_lengths_and_kinds() {
        let ev = ConnectEvent {
            header: Header {
                kind: KIND_CONNECT,
                flags: 0,
                ktime_ns: 5,
            },
            dport: 443,
            ..Default::default()
        };
        let b = bytes_of(&ev);
        assert!(matches!(decode(&b), Ok(Record::Connect(c)) if c.dport == 443));
        assert_eq!(decode(&b[..10]).err(), Some(DecodeError::Short { len: 10 }));
        assert!(matches!(
            decode(&b[..b.len() - 1]),
            Err(DecodeError::Length { .. })
        ));
        let mut bad = b.clone();
        bad[0] = 99;
        assert_eq!(
            decode(&bad).err(),
            Some(DecodeError::UnknownKind { kind: 99 })
        );
    }

    /// An exec record of the given filename and args lengths.
    fn exec_record(filename_len: u32, args_len: u32) -> Vec<u8> {
        // SAFETY: ExecEvent is plain old data (integers and byte arrays): all zeroes is valid.
        let mut ev: ExecEvent = unsafe { std::mem::zeroed() };
        ev.header.kind = KIND_EXEC;
        ev.filename_len = filename_len;
        ev.args_len = args_len;
        ev.args_total = args_len;
        ev.filename[..4].copy_from_slice(b"/x/y");
        bytes_of(&ev)
    }

    /// Exec records decode as exec records, up to and including full field lengths; one byte
    /// more than a field holds is refused by name.
    #[test]
    fn decodes_exec_and_rejects_field_lengths_past_their_arrays() {
        let (filename, args) = (
            sensor_common::FILENAME_LEN as u32,
            sensor_common::ARGS_LEN as u32,
        );
        for (f, a) in [(4, 0), (filename, 0), (4, args), (filename, args)] {
            let got = decode(&exec_record(f, a));
            assert!(
                matches!(&got, Ok(Record::Exec(e)) if e.filename_len == f && e.args_len == a),
                "filename_len {f}, args_len {a}: {got:?}"
            );
        }
        let got = decode(&exec_record(filename + 1, 0)).err();
        assert_eq!(got, Some(DecodeError::Field("filename_len")));
        let got = decode(&exec_record(4, args + 1)).err();
        assert_eq!(got, Some(DecodeError::Field("args_len")));
    }

    /// A record of exactly a header's length is not short: its kind's length decides.
    #[test]
    fn header_only_record_is_a_length_error() {
        let b = exec_record(4, 0);
        let header_only = &b[..size_of::<Header>()];
        assert!(
            matches!(
                decode(header_only),
                Err(DecodeError::Length {
                    kind: KIND_EXEC,
                    ..
                })
            ),
            "{:?}",
            decode(header_only)
        );
    }

    #[test]
    fn args_split_on_nul_and_respect_lengths() {
        let raw = b"sh\0-c\0echo hi\0GARBAGE";
        assert_eq!(args(raw, 22, 14), vec!["sh", "-c", "echo hi"]);
        assert_eq!(args(raw, 4, 14), vec!["sh", "-"]);
        assert!(args(raw, 0, 14).is_empty());
        assert_eq!(
            args(b"sshd: u@notty\0\0\0\0", 17, 17),
            vec!["sshd: u@notty"]
        );
    }

    #[test]
    fn comm_stops_at_nul() {
        assert_eq!(comm(b"bash\0\0\0\0\0\0\0\0\0\0\0\0"), "bash");
    }
}
