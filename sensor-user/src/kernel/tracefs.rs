//! Tracepoint `format` files (`<tracefs>/events/<system>/<event>/format`): locating tracefs,
//! parsing a format into its fields, and filling the tracepoint offsets of
//! [`sensor_common::Config`] from `sched/sched_process_exec` and `sock/inet_sock_set_state`,
//! with a size check on every field the eBPF programs read.

use std::path::{Path, PathBuf};

use sensor_common::Config;

/// Where tracefs lives on current systems, and where older ones (through debugfs) had it.
pub const TRACEFS_CANDIDATES: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("cannot read tracepoint format {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("malformed tracepoint format, line {line}: {reason}: {text:?}")]
    Malformed {
        line: usize,
        reason: String,
        text: String,
    },
    #[error("tracepoint format has no fields")]
    NoFields,
    #[error("tracepoint format lists field {0} twice")]
    DuplicateField(String),
    #[error("invalid tracepoint system or event name {0:?}")]
    InvalidName(String),
    #[error("tracepoint {event} has no field {field}")]
    MissingField { event: String, field: String },
    #[error("tracepoint {event} field {field} is {size} bytes, expected {expected}")]
    FieldSize {
        event: String,
        field: String,
        size: u32,
        expected: String,
    },
    #[error("tracepoint {event} field {field} is `{type_decl}`, expected {expected}")]
    FieldType {
        event: String,
        field: String,
        type_decl: String,
        expected: String,
    },
}

type Result<T> = std::result::Result<T, FormatError>;

/// One `field:` line of a format file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// The field's name, without array brackets (`daddr` for `__u8 daddr[4]`).
    pub name: String,
    /// The declaration as written, e.g. `const void * skaddr` or `__u8 daddr[4]`.
    pub type_decl: String,
    /// Offset from the start of the raw tracepoint record (common fields included).
    pub offset: u32,
    pub size: u32,
    pub signed: bool,
}

/// A parsed tracepoint format.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Format {
    /// The `name:` line, if present.
    pub name: Option<String>,
    /// The `ID:` line, if present.
    pub id: Option<u32>,
    pub fields: Vec<Field>,
}

/// The field name at the end of a declaration: `__u8 daddr[4]` -> `daddr`,
/// `__data_loc char[] filename` -> `filename`. `None` without a type or a valid name.
fn field_name(decl: &str) -> Option<&str> {
    let mut d = decl.trim_end();
    if d.ends_with(']') {
        d = d.get(..d.rfind('[')?)?.trim_end();
    }
    let start = d
        .char_indices()
        .rev()
        .find(|&(_, c)| !(c.is_ascii_alphanumeric() || c == '_'))
        .map_or(0, |(i, c)| i + c.len_utf8());
    let name = d.get(start..)?;
    let has_type = !d.get(..start)?.trim().is_empty();
    let valid = name.chars().next().is_some_and(|c| !c.is_ascii_digit());
    (valid && has_type).then_some(name)
}

fn parse_field(line_no: usize, line: &str, body: &str) -> Result<Field> {
    let bad = |reason: &str| FormatError::Malformed {
        line: line_no,
        reason: reason.to_owned(),
        text: line.to_owned(),
    };
    let mut parts = body.split(';').map(str::trim);
    let decl = parts.next().unwrap_or_default();
    let name = field_name(decl).ok_or_else(|| bad("no type and field name"))?;
    let (mut offset, mut size, mut signed) = (None, None, None);
    for part in parts.filter(|p| !p.is_empty()) {
        let (key, value) = part
            .split_once(':')
            .ok_or_else(|| bad("expected key:value"))?;
        let number = || value.trim().parse::<u32>().map_err(|_| bad("bad number"));
        match key.trim() {
            "offset" => offset = Some(number()?),
            "size" => size = Some(number()?),
            "signed" => signed = Some(number()? != 0),
            _ => {}
        }
    }
    Ok(Field {
        name: name.to_owned(),
        type_decl: decl.to_owned(),
        offset: offset.ok_or_else(|| bad("no offset"))?,
        size: size.ok_or_else(|| bad("no size"))?,
        signed: signed.unwrap_or(false),
    })
}

impl Format {
    /// Parses the text of a `format` file. Lines other than `name:`, `ID:` and `field:` are
    /// ignored; parsing stops at `print fmt:`.
    pub fn parse(text: &str) -> Result<Format> {
        let mut fmt = Format::default();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.starts_with("print fmt:") {
                break;
            }
            if let Some(body) = line.strip_prefix("field:") {
                let field = parse_field(i + 1, raw, body)?;
                if fmt.fields.iter().any(|f| f.name == field.name) {
                    return Err(FormatError::DuplicateField(field.name));
                }
                fmt.fields.push(field);
            } else if let Some(name) = line.strip_prefix("name:") {
                fmt.name = Some(name.trim().to_owned());
            } else if let Some(id) = line.strip_prefix("ID:") {
                fmt.id = Some(id.trim().parse().map_err(|_| FormatError::Malformed {
                    line: i + 1,
                    reason: "bad ID".to_owned(),
                    text: raw.to_owned(),
                })?);
            }
        }
        if fmt.fields.is_empty() {
            return Err(FormatError::NoFields);
        }
        Ok(fmt)
    }

    fn event(&self) -> String {
        self.name.clone().unwrap_or_else(|| "(unnamed)".to_owned())
    }

    /// The field called `name`.
    pub fn field(&self, name: &str) -> Result<&Field> {
        self.fields
            .iter()
            .find(|f| f.name == name)
            .ok_or_else(|| FormatError::MissingField {
                event: self.event(),
                field: name.to_owned(),
            })
    }

    /// Offset of `name`, whose size must be one of `sizes`; returns `(offset, size)`.
    fn sized(&self, name: &str, sizes: &[u32]) -> Result<(u32, u32)> {
        let f = self.field(name)?;
        if !sizes.contains(&f.size) {
            let expected = sizes
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(" or ");
            return Err(FormatError::FieldSize {
                event: self.event(),
                field: name.to_owned(),
                size: f.size,
                expected,
            });
        }
        Ok((f.offset, f.size))
    }
}

/// Fills `tp_exec_filename` from the `sched/sched_process_exec` format: the offset of the
/// `__data_loc` word of `filename`. On error `cfg` is unchanged.
pub fn fill_exec_offset(exec_fmt: &Format, cfg: &mut Config) -> Result<()> {
    let filename = exec_fmt.field("filename")?;
    if !filename.type_decl.starts_with("__data_loc") {
        return Err(FormatError::FieldType {
            event: exec_fmt.event(),
            field: filename.name.clone(),
            type_decl: filename.type_decl.clone(),
            expected: "a __data_loc string".to_owned(),
        });
    }
    cfg.tp_exec_filename = exec_fmt.sized("filename", &[4])?.0;
    Ok(())
}

/// Fills the tracepoint offsets of `cfg` from the `sched/sched_process_exec` and
/// `sock/inet_sock_set_state` formats. `protocol` may be 1 byte (before it became `__u16`)
/// or 2; its size goes to `tp_sk_protocol_size`. On error `cfg` is unchanged.
pub fn fill_tracepoint_offsets(
    exec_fmt: &Format,
    sock_fmt: &Format,
    cfg: &mut Config,
) -> Result<()> {
    let mut new = *cfg;
    fill_exec_offset(exec_fmt, &mut new)?;
    new.tp_sk_oldstate = sock_fmt.sized("oldstate", &[4])?.0;
    new.tp_sk_newstate = sock_fmt.sized("newstate", &[4])?.0;
    new.tp_sk_dport = sock_fmt.sized("dport", &[2])?.0;
    new.tp_sk_family = sock_fmt.sized("family", &[2])?.0;
    (new.tp_sk_protocol, new.tp_sk_protocol_size) = sock_fmt.sized("protocol", &[1, 2])?;
    new.tp_sk_daddr = sock_fmt.sized("daddr", &[4])?.0;
    new.tp_sk_daddr_v6 = sock_fmt.sized("daddr_v6", &[16])?.0;
    *cfg = new;
    Ok(())
}

/// The first of `candidates` that has an `events/` directory.
fn first_with_events<P: AsRef<Path>>(candidates: &[P]) -> Option<PathBuf> {
    candidates
        .iter()
        .map(|p| p.as_ref())
        .find(|p| p.join("events").is_dir())
        .map(Path::to_path_buf)
}

/// The mounted tracefs: `/sys/kernel/tracing` if it has `events/`, else
/// `/sys/kernel/debug/tracing` if that does; `None` when neither is usable (see
/// [`super::mounts::ensure_tracefs`]).
pub fn tracefs_root() -> Option<PathBuf> {
    first_with_events(&TRACEFS_CANDIDATES)
}

/// Reads and parses `<root>/events/<system>/<event>/format`.
pub fn read_format(root: &Path, system: &str, event: &str) -> Result<Format> {
    for name in [system, event] {
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return Err(FormatError::InvalidName(name.to_owned()));
        }
    }
    let path = root.join("events").join(system).join(event).join("format");
    let text = std::fs::read_to_string(&path).map_err(|source| FormatError::Io {
        path: path.clone(),
        source,
    })?;
    Format::parse(&text)
}

#[cfg(test)]
mod tests;
