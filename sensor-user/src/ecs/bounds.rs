//! How much of a command line a document carries: at most [`ARG_MAX_BYTES`] of each argument,
//! [`ARGS_MAX_COUNT`] arguments and [`ARGS_MAX_BYTES`] in all (each argument counting one byte
//! more, for its separator), so `process.args` and `process.command_line` stay small whatever
//! argv the watched user gives a process. What was cut is said, never hidden: the alert lists
//! the cut fields in `sshd_sensor.truncated`.

/// Bytes kept of one argument.
pub const ARG_MAX_BYTES: usize = 4096;
/// Arguments kept.
pub const ARGS_MAX_COUNT: usize = 256;
/// Bytes kept of all arguments together (plus one per argument).
pub const ARGS_MAX_BYTES: usize = 16 * 1024;

/// `args` within the bounds, and whether anything was cut.
pub fn bounded_args(args: &[String]) -> (Vec<String>, bool) {
    let mut out = Vec::with_capacity(args.len().min(ARGS_MAX_COUNT));
    let mut budget = ARGS_MAX_BYTES;
    let mut cut = args.len() > ARGS_MAX_COUNT;
    for arg in args.iter().take(ARGS_MAX_COUNT) {
        if budget == 0 {
            cut = true;
            break;
        }
        let room = ARG_MAX_BYTES.min(budget - 1);
        let kept = prefix(arg, room);
        cut |= kept.len() < arg.len();
        budget -= kept.len() + 1;
        out.push(kept.to_owned());
    }
    (out, cut)
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn prefix(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_command_lines_are_untouched() {
        let args = vec!["curl".to_owned(), "-s".into(), "https://x/".into()];
        assert_eq!(bounded_args(&args), (args.clone(), false));
    }

    #[test]
    fn each_argument_the_count_and_the_total_are_bounded() {
        let (one, cut) = bounded_args(&["é".repeat(3000)]);
        assert!(cut && one[0].len() <= ARG_MAX_BYTES && one[0].len() >= ARG_MAX_BYTES - 1);
        let (many, cut) = bounded_args(&vec![String::new(); 100_000]);
        assert!(cut && many.len() == ARGS_MAX_COUNT);
        let (big, cut) = bounded_args(&vec!["a".repeat(ARG_MAX_BYTES); 200]);
        let total: usize = big.iter().map(|a| a.len() + 1).sum();
        assert!(cut && total <= ARGS_MAX_BYTES, "{total}");
    }

    /// Exactly as many arguments as kept is no cut; the total budget is spent byte for byte:
    /// four whole 4,000-byte arguments (4,001 with the separator), then what is left of 16 KiB
    /// less one separator.
    #[test]
    fn bounds_are_exact() {
        let (all, cut) = bounded_args(&vec!["x".to_owned(); ARGS_MAX_COUNT]);
        assert!(!cut && all.len() == ARGS_MAX_COUNT);
        let (kept, cut) = bounded_args(&vec!["a".repeat(4000); 5]);
        let lens: Vec<usize> = kept.iter().map(String::len).collect();
        assert_eq!(
            lens,
            [4000, 4000, 4000, 4000, ARGS_MAX_BYTES - 4 * 4001 - 1]
        );
        assert!(cut);
    }

    /// An argument cut inside a multi-byte character keeps the characters before it: 1,365
    /// three-byte euro signs (4,095 bytes) of a longer run.
    #[test]
    fn a_cut_ends_on_a_character_boundary() {
        let (kept, cut) = bounded_args(&["€".repeat(2000)]);
        assert!(cut);
        assert_eq!(kept[0], "€".repeat(1365));
    }
}
