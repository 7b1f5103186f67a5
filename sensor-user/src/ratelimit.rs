//! The rule's "max alerts per execution" kept as a rate cap, per SSH session: each session (the
//! stage-1 process, keyed by its entity id) may raise `max` alerts per window of event time;
//! what it raises beyond that is not printed one by one but summed up in one [`Summary`] per
//! window (count, and the distinct destinations with the processes that connected to them), so
//! one session's flood never hides another session's alert, nor its own implant's destination.
//!
//! Bounded: at most [`MAX_SESSIONS`] sessions are tracked (a new one evicts the one whose window
//! started first, and the evicted session's pending summary comes out first), and a summary
//! lists at most [`MAX_DESTINATIONS`] destinations, saying how many alerts it left out. A
//! process image not listed yet takes the slot of a repeated image's entry, so a flood of decoys
//! from one program cannot push a second program's destination out. Pure: time comes from the
//! alerts ([`RateCap::admit`]) or from the caller ([`RateCap::expire`]).

use crate::rule::file::RuleMeta;
use std::{collections::HashMap, net::IpAddr, sync::Arc};

use crate::event::{Alert, Event, Process, TimestampNs};

/// Kibana's "max alerts per execution" of the rule, kept as the default cap: alerts per window.
pub const MAX_ALERTS_PER_WINDOW: u32 = 100;
/// The default window of the cap: the rule's 5-minute schedule.
pub const ALERT_WINDOW_NS: i64 = 300 * 1_000_000_000;

/// Sessions tracked at once.
pub const MAX_SESSIONS: usize = 256;
/// Destinations one summary lists.
pub const MAX_DESTINATIONS: usize = 16;

/// What to do with one alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Emit it.
    Emit,
    /// Drop it: it is counted in its session's summary.
    Suppress,
}

/// The verdict on one alert, and the summaries of windows that closed before it (write those
/// first).
#[derive(Debug)]
pub struct Admission {
    pub verdict: Verdict,
    pub summaries: Vec<Summary>,
}

/// Why a summary came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closed {
    /// The session's window ended (a later alert, or the caller's clock, said so).
    WindowEnded,
    /// More than [`MAX_SESSIONS`] sessions: this one made room.
    Evicted,
    /// The caller asked (shutdown).
    Flushed,
}

impl Closed {
    pub fn as_str(self) -> &'static str {
        match self {
            Closed::WindowEnded => "window_ended",
            Closed::Evicted => "evicted",
            Closed::Flushed => "flushed",
        }
    }
}

/// One destination of suppressed alerts, with the first process that connected to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DestinationCount {
    pub ip: Option<IpAddr>,
    pub port: Option<u16>,
    /// Suppressed alerts to this destination by this image.
    pub count: u64,
    /// The connecting process (pid, entity id, executable, name, user).
    pub process: Process,
}

/// One session's suppressed alerts of one window.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// The session: its newest stage-1 event (process, parent, host, session context; no args).
    pub session: Arc<Event>,
    /// The rule whose alerts were suppressed.
    pub rule: Arc<RuleMeta>,
    pub window_start: TimestampNs,
    /// `window_start` plus the window length.
    pub window_end: TimestampNs,
    /// First and last suppressed alert (stage-2 time).
    pub first: TimestampNs,
    pub last: TimestampNs,
    pub emitted: u64,
    pub suppressed: u64,
    /// At most [`MAX_DESTINATIONS`], in order of first appearance.
    pub destinations: Vec<DestinationCount>,
    /// Suppressed alerts whose destination is not listed (the list was full).
    pub omitted_alerts: u64,
    pub max_per_window: u64,
    pub window_ns: i64,
    pub closed: Closed,
}

impl Summary {
    /// The list was cut.
    pub fn truncated(&self) -> bool {
        self.omitted_alerts > 0
    }
}

/// A process without its arguments (which may be large): what a summary names.
fn slim(p: &Process) -> Process {
    Process {
        pid: p.pid,
        entity_id: p.entity_id.clone(),
        executable: p.executable.clone(),
        name: p.name.clone(),
        user_id: p.user_id,
        user_name: p.user_name.clone(),
        group_id: p.group_id,
        start: p.start,
        args: None,
        args_truncated: false,
        command_line: None,
    }
}

fn slim_event(e: &Event) -> Event {
    Event {
        timestamp: e.timestamp,
        host_id: e.host_id.clone(),
        host_name: e.host_name.clone(),
        host_os_type: e.host_os_type.clone(),
        process: slim(&e.process),
        parent: slim(&e.parent),
        session: e.session.clone(),
        ..Event::default()
    }
}

#[derive(Debug)]
struct Pending {
    first: TimestampNs,
    last: TimestampNs,
    count: u64,
    destinations: Vec<DestinationCount>,
    omitted_alerts: u64,
}

impl Pending {
    fn new(at: TimestampNs) -> Pending {
        Pending {
            first: at,
            last: at,
            count: 0,
            destinations: Vec::new(),
            omitted_alerts: 0,
        }
    }

    fn note(&mut self, stage2: &Event) {
        self.count += 1;
        self.first = self.first.min(stage2.timestamp);
        self.last = self.last.max(stage2.timestamp);
        let (ip, port) = (stage2.destination.ip, stage2.destination.port);
        let exe = &stage2.process.executable;
        if let Some(d) = self
            .destinations
            .iter_mut()
            .find(|d| d.ip == ip && d.port == port && &d.process.executable == exe)
        {
            d.count += 1;
            return;
        }
        let entry = DestinationCount {
            ip,
            port,
            count: 1,
            process: slim(&stage2.process),
        };
        if self.destinations.len() < MAX_DESTINATIONS {
            self.destinations.push(entry);
            return;
        }
        // Full. An image not listed yet replaces the newest entry of an image listed twice.
        let listed = |e: &Option<String>| {
            self.destinations
                .iter()
                .filter(|d| &d.process.executable == e)
                .count()
        };
        let victim = (listed(exe) == 0)
            .then(|| {
                self.destinations
                    .iter()
                    .rposition(|d| listed(&d.process.executable) >= 2)
            })
            .flatten();
        match victim {
            Some(i) => {
                let old = self.destinations.remove(i);
                self.omitted_alerts += old.count;
                self.destinations.push(entry);
            }
            None => self.omitted_alerts += 1,
        }
    }
}

#[derive(Debug)]
struct Window {
    start: TimestampNs,
    emitted: u64,
    stage1: Arc<Event>,
    rule: Arc<RuleMeta>,
    pending: Option<Pending>,
}

/// The per-session rate cap.
#[derive(Debug)]
pub struct RateCap {
    max: u64,
    window_ns: i64,
    sessions: HashMap<Option<String>, Window>,
    suppressed_total: u64,
    evicted: u64,
}

impl RateCap {
    pub fn new(max: u64, window_ns: i64) -> RateCap {
        RateCap {
            max,
            window_ns: window_ns.max(1),
            sessions: HashMap::new(),
            suppressed_total: 0,
            evicted: 0,
        }
    }

    fn summary(&self, w: Window, closed: Closed) -> Option<Summary> {
        let p = w.pending?;
        Some(Summary {
            session: w.stage1,
            rule: w.rule,
            window_start: w.start,
            window_end: w.start.saturating_add(self.window_ns),
            first: p.first,
            last: p.last,
            emitted: w.emitted,
            suppressed: p.count,
            destinations: p.destinations,
            omitted_alerts: p.omitted_alerts,
            max_per_window: self.max,
            window_ns: self.window_ns,
            closed,
        })
    }

    /// Judges `alert`, raised at its stage 2's time, against its session's window.
    pub fn admit(&mut self, alert: &Alert) -> Admission {
        let at = alert.stage2.timestamp;
        let key = alert.stage1.process.entity_id.clone();
        let mut summaries = Vec::new();
        if self
            .sessions
            .get(&key)
            .is_some_and(|w| at >= w.start.saturating_add(self.window_ns))
            && let Some(w) = self.sessions.remove(&key)
        {
            summaries.extend(self.summary(w, Closed::WindowEnded));
        }
        if !self.sessions.contains_key(&key) && self.sessions.len() >= MAX_SESSIONS {
            let oldest = self
                .sessions
                .iter()
                .min_by_key(|(_, w)| w.start)
                .map(|(k, _)| k.clone());
            if let Some(w) = oldest.and_then(|k| self.sessions.remove(&k)) {
                self.evicted += 1;
                summaries.extend(self.summary(w, Closed::Evicted));
            }
        }
        let w = self.sessions.entry(key).or_insert_with(|| Window {
            start: at,
            emitted: 0,
            stage1: Arc::new(slim_event(&alert.stage1)),
            rule: alert.rule.clone(),
            pending: None,
        });
        // The newest stage 1 names the session; on a tie the later arrival, as in the engine.
        if w.stage1.timestamp <= alert.stage1.timestamp {
            w.stage1 = Arc::new(slim_event(&alert.stage1));
        }
        let verdict = if w.emitted < self.max {
            w.emitted += 1;
            Verdict::Emit
        } else {
            w.pending
                .get_or_insert_with(|| Pending::new(at))
                .note(&alert.stage2);
            self.suppressed_total += 1;
            Verdict::Suppress
        };
        Admission { verdict, summaries }
    }

    /// Closes every window that ended at or before `now` (the caller's clock, ns since the
    /// epoch), oldest first; returns the summaries of those that suppressed anything.
    pub fn expire(&mut self, now: TimestampNs) -> Vec<Summary> {
        let window = self.window_ns;
        let mut ended: Vec<Option<String>> = self
            .sessions
            .iter()
            .filter(|(_, w)| now >= w.start.saturating_add(window))
            .map(|(k, _)| k.clone())
            .collect();
        ended.sort_by_key(|k| self.sessions.get(k).map(|w| w.start));
        let windows: Vec<Window> = ended
            .into_iter()
            .filter_map(|k| self.sessions.remove(&k))
            .collect();
        windows
            .into_iter()
            .filter_map(|w| self.summary(w, Closed::WindowEnded))
            .collect()
    }

    /// Summaries of every window with suppressed alerts, now (shutdown); the windows' emitted
    /// counts stay.
    pub fn flush(&mut self) -> Vec<Summary> {
        let mut keys: Vec<Option<String>> = self
            .sessions
            .iter()
            .filter(|(_, w)| w.pending.is_some())
            .map(|(k, _)| k.clone())
            .collect();
        keys.sort_by_key(|k| self.sessions.get(k).map(|w| w.start));
        let mut out = Vec::new();
        for k in keys {
            if let Some(w) = self.sessions.get_mut(&k) {
                let taken = Window {
                    start: w.start,
                    emitted: w.emitted,
                    stage1: Arc::clone(&w.stage1),
                    rule: Arc::clone(&w.rule),
                    pending: w.pending.take(),
                };
                out.extend(self.summary(taken, Closed::Flushed));
            }
        }
        out
    }

    /// Every alert suppressed since start.
    pub fn suppressed_total(&self) -> u64 {
        self.suppressed_total
    }

    /// Sessions evicted to stay within [`MAX_SESSIONS`].
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Sessions tracked now.
    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }

    pub fn set_limits(&mut self, max: u64, window_ns: i64) {
        self.max = max;
        self.window_ns = window_ns.max(1);
    }
}

#[cfg(test)]
mod tests;
