//! Differential test: the replay path (parser, merge, engine) against Elastic's reference EQL
//! implementation, the Python package `eql` 1.0.1, on seeded adversarial streams
//! (`difftest/generator.rs`, `difftest/oracle.py`), for both embedded rules: one test per
//! profile (v4, the default, and latest), each replaying with the profile's compiled rule as
//! `sshd-sensor replay --profile` does and giving the oracle the profile's rule file itself
//! (`src/rule/profiles/*.toml`), whose query `difftest/eql_adapt.py` adapts for eql 1.0.1.
//! Both run over the same streams (the same seed); each must see at least 1,000,000 events and
//! more matches than a tenth of its streams. It fails, never skips, when Python or `eql`
//! is missing: run `cargo xtask setup` (or `python3 -m venv difftest/.venv &&
//! difftest/.venv/bin/pip install eql==1.0.1`). `DIFFTEST_SEED` and `DIFFTEST_STREAMS` choose
//! the run (`cargo xtask difftest --seed N --streams N`); `DIFFTEST_PYTHON` the interpreter.
//! A disagreement is shrunk to a minimal stream, printed in both engines' input forms.
//! Streams are generated and checked in batches of [`BATCH`], one worker thread per core, each
//! batch with its own generator seeded from the run's seed and the batch number (so a seed
//! always gives the same streams) and its own Python process running while we replay it.

#[path = "../../difftest/generator.rs"]
#[expect(dead_code, reason = "shared with other users of the generator")]
mod generator;

use std::io::{self, Cursor, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

use generator::{GenEvent, Rng};
use serde_json::Value;
use sshd_sensor::replay::{self, Input, Options, diagnostics::Diagnostics};
use sshd_sensor::rule::RuleConfig;
use sshd_sensor::rule::profiles::{Profile, RuleSource};

const DEFAULT_SEED: u64 = 0x5eed_0003;
const DEFAULT_STREAMS: u64 = 10_000;
/// Streams per Python run.
const BATCH: u64 = 1_000;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn python() -> PathBuf {
    if let Ok(p) = std::env::var("DIFFTEST_PYTHON") {
        return p.into();
    }
    repo_root().join("difftest/.venv/bin/python")
}

/// The rule file `profile` embeds: the oracle's query comes from it.
fn rule_file(profile: Profile) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!(
        "src/rule/profiles/persistence_ssh_netcon.{}.toml",
        profile.name()
    ))
}

/// One profile's run: what replay and the oracle are given.
struct Run {
    profile: Profile,
    seed: u64,
    streams: u64,
    /// Replay's options: the profile's compiled rule with its own parent executables (as
    /// `sshd-sensor replay --profile NAME` builds them), no rate cap.
    opts: Options,
    dir: PathBuf,
}

impl Run {
    fn new(profile: Profile) -> Run {
        let text = std::fs::read_to_string(rule_file(profile)).expect("read the rule file");
        assert_eq!(
            text,
            profile.text(),
            "the oracle reads the file the profile embeds"
        );
        let rule = profile.rule();
        let parent_executables = rule
            .parent_executables()
            .expect("stage 1 tests process.parent.executable");
        let seed = env_u64("DIFFTEST_SEED", DEFAULT_SEED);
        let streams = env_u64("DIFFTEST_STREAMS", DEFAULT_STREAMS);
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "difftest-{}-{seed}-{}",
            profile.name(),
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("create difftest dir");
        Run {
            profile,
            seed,
            streams,
            opts: Options {
                rule: RuleConfig {
                    source: RuleSource::Profile(profile),
                    rule,
                    parent_executables,
                    ..RuleConfig::default()
                },
                rate_cap: false,
                ..Options::default()
            },
            dir,
        }
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name}={v:?} is not a number"))
        })
        .unwrap_or(default)
}

/// One stream as our inputs (a process file and a network file, like one export per index,
/// each slightly out of order) and the merged order both engines must see.
struct Case {
    id: u64,
    files: [Vec<String>; 2],
    /// Events in replay order: (@timestamp, file, line) sorted.
    merged: Vec<GenEvent>,
}

fn make_case(rng: &mut Rng, id: u64, events: Vec<GenEvent>) -> Case {
    let mut files: [Vec<(GenEvent, String)>; 2] = [Vec::new(), Vec::new()];
    for e in events {
        let line = generator::our_line(rng, &e);
        let f = usize::from(e.category == "network");
        files[f].push((e, line));
    }
    for file in &mut files {
        // Disorder within the tolerance: swap disjoint neighbour pairs less than 1.5 s apart.
        let mut i = 1;
        while i < file.len() {
            if rng.chance(15) && (file[i].0.ms - file[i - 1].0.ms).abs() <= 1500 {
                file.swap(i - 1, i);
            }
            i += 2;
        }
    }
    let mut keyed: Vec<(i64, usize, usize, GenEvent)> = Vec::new();
    let mut lines: [Vec<String>; 2] = [Vec::new(), Vec::new()];
    for (f, file) in files.into_iter().enumerate() {
        for (line, (e, text)) in file.into_iter().enumerate() {
            lines[f].push(text);
            keyed.push((e.ms, f, line, e));
        }
    }
    keyed.sort_by_key(|(ms, f, line, _)| (*ms, *f, *line));
    Case {
        id,
        files: lines,
        merged: keyed.into_iter().map(|(_, _, _, e)| e).collect(),
    }
}

fn event_id(e: &sshd_sensor::event::Event) -> String {
    let doc = e
        .original
        .as_deref()
        .expect("replayed alert events carry their document");
    doc.pointer("/event/id")
        .or_else(|| doc.get("event.id"))
        .and_then(Value::as_str)
        .expect("event.id")
        .to_owned()
}

fn ours(run: &Run, case: &Case) -> Vec<(String, String)> {
    let inputs = case
        .files
        .iter()
        .enumerate()
        .map(|(i, lines)| {
            let mut bytes = lines.join("\n").into_bytes();
            bytes.push(b'\n');
            Input {
                name: format!("stream{}-{i}", case.id),
                reader: Box::new(Cursor::new(bytes)),
            }
        })
        .collect();
    let mut diag = Diagnostics::new(Box::new(io::sink()), 0);
    let mut out = Vec::new();
    let summary = replay::replay(inputs, &run.opts, &mut diag, |a| {
        out.push((event_id(&a.stage1), event_id(&a.stage2)));
        Ok(())
    })
    .expect("replay");
    assert_eq!(
        summary.bad_lines, 0,
        "stream {}: generated lines must parse",
        case.id
    );
    assert_eq!(
        summary.late, 0,
        "stream {}: disorder is within tolerance",
        case.id
    );
    out
}

/// The Python engine's matches for each case, in one interpreter run.
fn oracle(run: &Run, cases: &[&Case]) -> Vec<Vec<(String, String)>> {
    let first = cases.first().map_or(0, |c| c.id);
    let child = start_oracle(
        run,
        cases,
        &run.dir.join(format!("shrink-input-{first}.ndjson")),
    );
    finish_oracle(cases, child)
}

/// Writes the oracle's input to `input` and starts Python on it (it runs while we replay).
fn start_oracle(run: &Run, cases: &[&Case], input: &Path) -> std::process::Child {
    let py = python();
    {
        let mut w = io::BufWriter::new(std::fs::File::create(input).expect("create oracle input"));
        for case in cases {
            for e in &case.merged {
                writeln!(w, "{}", generator::python_record(case.id, e))
                    .expect("write oracle input");
            }
        }
        w.flush().expect("flush oracle input");
    }
    Command::new(&py)
        .arg(repo_root().join("difftest/oracle.py"))
        .arg(rule_file(run.profile))
        .stdin(std::fs::File::open(input).expect("open oracle input"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}): the differential test needs Python with eql 1.0.1; \
                 run `cargo xtask setup` or `python3 -m venv difftest/.venv && \
                 difftest/.venv/bin/pip install eql==1.0.1`",
                py.display()
            )
        })
}

fn finish_oracle(cases: &[&Case], child: std::process::Child) -> Vec<Vec<(String, String)>> {
    let py = python();
    let output = child.wait_with_output().expect("wait for the oracle");
    assert!(
        output.status.success(),
        "{} difftest/oracle.py failed ({}); is eql 1.0.1 installed? \
         (`difftest/.venv/bin/pip install eql==1.0.1`)",
        py.display(),
        output.status
    );
    let mut by_stream = std::collections::HashMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let v: Value = serde_json::from_str(line).expect("oracle output is JSON");
        let s = v["s"].as_u64().expect("stream id");
        let m: Vec<(String, String)> = serde_json::from_value(v["m"].clone()).expect("matches");
        by_stream.insert(s, m);
    }
    cases
        .iter()
        .map(|c| by_stream.remove(&c.id).unwrap_or_default())
        .collect()
}

/// Greedily drops events while the two engines still disagree.
fn shrink(run: &Run, case: &Case) -> Case {
    let mut events = case.merged.clone();
    let mut rng = Rng::new(1);
    let mut i = 0;
    while i < events.len() {
        let mut fewer = events.clone();
        fewer.remove(i);
        fewer.sort_by_key(|e| e.ms);
        let candidate = make_case(&mut rng, case.id, fewer.clone());
        let disagree = oracle(run, &[&candidate])[0] != ours(run, &candidate);
        if disagree {
            events = fewer;
        } else {
            i += 1;
        }
    }
    make_case(&mut Rng::new(1), case.id, events)
}

/// Shrinks a disagreeing case and fails with the minimal stream.
fn report_disagreement(run: &Run, case: &Case) -> ! {
    let min = shrink(run, case);
    let mut report = String::new();
    for e in &min.merged {
        report.push_str(&generator::python_record(min.id, e));
        report.push('\n');
    }
    panic!(
        "profile {} seed {} stream {}: sshd-sensor {:?} != eql {:?}\nminimal stream \
         (oracle form, merge order):\n{report}our files:\n{}\n--\n{}",
        run.profile.name(),
        run.seed,
        case.id,
        ours(run, &min),
        oracle(run, &[&min])[0],
        min.files[0].join("\n"),
        min.files[1].join("\n"),
    );
}

/// Generates batch `batch` (streams `batch * BATCH ..`, at most `run.streams` in all), checks
/// it against Python, and returns its [`Counts`]; a disagreement panics with the minimal stream.
fn check_batch(run: &Run, batch: u64) -> Counts {
    let mut rng = Rng::new(
        run.seed
            .wrapping_add(batch.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
    );
    let first = batch * BATCH;
    let cases: Vec<Case> = (first..(first + BATCH).min(run.streams))
        .map(|id| {
            let n = 61 + rng.below(81) as usize;
            let events = generator::stream(&mut rng, id, n);
            make_case(&mut rng, id, events)
        })
        .collect();
    let mut counts = Counts {
        events: cases.iter().map(|c| c.merged.len()).sum::<usize>(),
        ..Counts::default()
    };
    let refs: Vec<&Case> = cases.iter().collect();
    let input = run.dir.join(format!("oracle-input-{batch}.ndjson"));
    let child = start_oracle(run, &refs, &input);
    let got_all: Vec<_> = cases.iter().map(|c| ours(run, c)).collect();
    let expected = finish_oracle(&refs, child);
    let _ = std::fs::remove_file(&input);
    for ((case, want), got) in cases.iter().zip(&expected).zip(got_all) {
        counts.matches += want.len();
        counts.streams_matched += usize::from(!want.is_empty());
        if &got != want {
            report_disagreement(run, case);
        }
    }
    counts
}

/// What a batch or a run checked.
#[derive(Clone, Copy, Debug, Default)]
struct Counts {
    events: usize,
    matches: usize,
    /// Streams with at least one match.
    streams_matched: usize,
}

impl std::ops::Add for Counts {
    type Output = Counts;
    fn add(self, o: Counts) -> Counts {
        Counts {
            events: self.events + o.events,
            matches: self.matches + o.matches,
            streams_matched: self.streams_matched + o.streams_matched,
        }
    }
}

/// Replays `run.streams` generated streams with `profile` and the oracle, and checks the run was
/// big and matched enough to mean something.
fn difftest(profile: Profile) {
    let run = Run::new(profile);
    let started = std::time::Instant::now();
    // Batches bound memory (a batch's cases, not the whole run's); workers take the next batch
    // until none is left.
    let batches = run.streams.div_ceil(BATCH);
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(usize::try_from(batches).unwrap_or(1))
        .max(1);
    let next = AtomicU64::new(0);
    let counts = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut counts = Counts::default();
                    loop {
                        let batch = next.fetch_add(1, Ordering::Relaxed);
                        if batch >= batches {
                            return counts;
                        }
                        counts = counts + check_batch(&run, batch);
                    }
                })
            })
            .collect();
        handles.into_iter().fold(Counts::default(), |all, h| {
            all + h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))
        })
    });
    let _ = std::fs::remove_dir_all(&run.dir);
    let (seed, streams) = (run.seed, run.streams);
    let Counts {
        events,
        matches,
        streams_matched,
    } = counts;
    eprintln!(
        "difftest {}: seed {seed}: {streams} streams, {events} events, {matches} matches \
         (in {streams_matched} streams), 0 disagreements ({workers} workers, {:.0} s)",
        profile.name(),
        started.elapsed().as_secs_f64()
    );
    if streams >= DEFAULT_STREAMS {
        assert!(events >= 1_000_000, "only {events} events");
    }
    assert!(
        matches > streams as usize / 10,
        "streams too tame for {}: {matches} matches",
        profile.name()
    );
}

#[test]
fn replay_agrees_with_the_reference_eql_engine() {
    difftest(Profile::V4);
}

#[test]
fn latest_replay_agrees_with_the_reference_eql_engine() {
    difftest(Profile::Latest);
}
