//! Reading what the guests said and printing the release × check matrix. A guest speaks the
//! line protocol of `tests/vm/guest-test.sh` (`VMTEST-INFO`, `VMTEST-PLAN`, `VMTEST <check>
//! PASS|FAIL <detail>`, `VMTEST-END`); everything else on its port is diagnostics. A check that
//! any guest planned but this one did not report is `not-run`, and so is every check of a guest
//! that reported nothing. The matrix passes only when every cell is PASS and every guest ended
//! its script and powered off by itself within its timeout.

use std::time::Duration;

/// One check's result as the guest reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    pub check: String,
    pub pass: bool,
    pub detail: String,
}

/// Everything one guest reported, and how its boot ended.
#[derive(Debug, Clone, Default)]
pub struct GuestReport {
    /// Column header, e.g. `13 trixie`.
    pub name: String,
    pub info: Vec<String>,
    pub plan: Vec<String>,
    pub results: Vec<CheckResult>,
    /// `VMTEST-END` seen: the script ran to its end.
    pub ended: bool,
    /// `None` when QEMU exited by itself after the guest powered off; else what went wrong.
    pub problem: Option<String>,
    pub wall: Duration,
    /// Guest uptime when the script started and when the checks were done (seconds).
    pub uptime_at_start: Option<f64>,
    pub uptime_at_done: Option<f64>,
}

impl GuestReport {
    pub fn new(name: String) -> Self {
        Self {
            name,
            ..Self::default()
        }
    }

    /// Takes one line of the guest's results port.
    pub fn line(&mut self, line: &str) {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("VMTEST-INFO ") {
            let uptime = field(rest, "uptime").and_then(|v| v.trim_end_matches('s').parse().ok());
            if rest.starts_with("checks-done") {
                self.uptime_at_done = uptime;
            } else if self.uptime_at_start.is_none() {
                self.uptime_at_start = uptime;
            }
            self.info.push(rest.to_string());
        } else if let Some(rest) = line.strip_prefix("VMTEST-PLAN") {
            for check in rest.split_whitespace() {
                if !self.plan.iter().any(|c| c == check) {
                    self.plan.push(check.to_string());
                }
            }
        } else if line == "VMTEST-END" {
            self.ended = true;
        } else if let Some(rest) = line.strip_prefix("VMTEST ") {
            let mut words = rest.splitn(3, ' ');
            let (Some(check), Some(status)) = (words.next(), words.next()) else {
                return;
            };
            let pass = match status {
                "PASS" => true,
                "FAIL" => false,
                _ => return,
            };
            self.results.push(CheckResult {
                check: check.to_string(),
                pass,
                detail: words.next().unwrap_or("").to_string(),
            });
        }
    }

    /// The cell for `check`: the last result reported for it, or `not-run`.
    fn cell(&self, check: &str) -> &'static str {
        match self.results.iter().rev().find(|r| r.check == check) {
            Some(r) if r.pass => "PASS",
            Some(_) => "FAIL",
            None => "not-run",
        }
    }

    fn guest_cell(&self) -> String {
        match (&self.problem, self.ended) {
            (Some(p), _) => p.clone(),
            (None, true) => "ok".into(),
            (None, false) => "no VMTEST-END".into(),
        }
    }

    fn guest_ok(&self) -> bool {
        self.problem.is_none() && self.ended
    }

    /// One line of timings: QEMU's wall time, boot to script start, and the checks.
    pub fn timing(&self) -> String {
        let secs = |v: Option<f64>| v.map_or("?".to_string(), |s| format!("{s:.1} s"));
        let checks = match (self.uptime_at_start, self.uptime_at_done) {
            (Some(a), Some(b)) => Some(b - a),
            _ => None,
        };
        format!(
            "{}: {:.1} s in QEMU; script started at guest uptime {}; checks took {}",
            self.name,
            self.wall.as_secs_f64(),
            secs(self.uptime_at_start),
            secs(checks)
        )
    }
}

/// `key=value` (or `key="value with spaces"`) out of an info line.
fn field<'a>(info: &'a str, key: &str) -> Option<&'a str> {
    let start = info.find(&format!("{key}="))? + key.len() + 1;
    let rest = &info[start..];
    if let Some(quoted) = rest.strip_prefix('"') {
        return quoted.split('"').next();
    }
    rest.split_whitespace().next()
}

/// The matrix as a Markdown table, the failures' details, and whether everything passed.
pub fn matrix(guests: &[GuestReport]) -> (String, bool) {
    let mut checks: Vec<&str> = Vec::new();
    for g in guests {
        let names = g.plan.iter().chain(g.results.iter().map(|r| &r.check));
        for name in names {
            if !checks.contains(&name.as_str()) {
                checks.push(name);
            }
        }
    }
    let mut rows: Vec<Vec<String>> = vec![guests.iter().map(GuestReport::guest_cell).collect()];
    let mut ok = guests.iter().all(GuestReport::guest_ok);
    for check in &checks {
        let cells: Vec<String> = guests.iter().map(|g| g.cell(check).to_string()).collect();
        ok &= cells.iter().all(|c| c == "PASS");
        rows.push(cells);
    }
    let names: Vec<&str> = std::iter::once("guest")
        .chain(checks.iter().copied())
        .collect();
    let mut out = format!(
        "| check | {} |\n|---|{}\n",
        guests
            .iter()
            .map(|g| g.name.as_str())
            .collect::<Vec<_>>()
            .join(" | "),
        "---|".repeat(guests.len())
    );
    for (name, cells) in names.iter().zip(&rows) {
        out.push_str(&format!("| {name} | {} |\n", cells.join(" | ")));
    }
    let mut details = String::new();
    for g in guests {
        for check in &checks {
            match g.results.iter().rev().find(|r| r.check == *check) {
                Some(r) if !r.pass => {
                    details.push_str(&format!("{} {check}: FAIL {}\n", g.name, r.detail))
                }
                None => details.push_str(&format!("{} {check}: not run\n", g.name)),
                Some(_) => {}
            }
        }
    }
    if !details.is_empty() {
        out.push('\n');
        out.push_str(&details);
    }
    (out, ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guest(name: &str, lines: &[&str]) -> GuestReport {
        let mut g = GuestReport::new(name.into());
        for l in lines {
            g.line(l);
        }
        g
    }

    #[test]
    fn parses_the_protocol() {
        let g = guest(
            "13 trixie",
            &[
                "VMTEST-INFO release=trixie kernel=6.12 uptime=21.5s openssh=\"OpenSSH_10.0p2 Debian\"",
                "VMTEST-PLAN network install",
                "noise VMTEST network PASS x",
                "VMTEST network PASS lo routes [0.4s]",
                "VMTEST install FAIL dpkg -i failed: x [2.0s]\r",
                "VMTEST-INFO checks-done uptime=101.5s",
                "VMTEST-END",
            ],
        );
        assert_eq!(g.plan, ["network", "install"]);
        assert_eq!(g.results.len(), 2);
        assert!(g.results[0].pass);
        assert_eq!(g.results[1].detail, "dpkg -i failed: x [2.0s]");
        assert!(g.ended);
        assert_eq!(g.uptime_at_start, Some(21.5));
        assert_eq!(g.uptime_at_done, Some(101.5));
        assert_eq!(field(&g.info[0], "openssh"), Some("OpenSSH_10.0p2 Debian"));
    }

    #[test]
    fn all_pass_only_when_every_cell_passes() {
        let a = guest("a", &["VMTEST-PLAN x", "VMTEST x PASS d", "VMTEST-END"]);
        let b = guest("b", &["VMTEST-PLAN x", "VMTEST x PASS d", "VMTEST-END"]);
        let (text, ok) = matrix(&[a.clone(), b]);
        assert!(ok, "{text}");
        assert!(text.contains("| x | PASS | PASS |"), "{text}");

        let failed = guest("c", &["VMTEST-PLAN x", "VMTEST x FAIL why", "VMTEST-END"]);
        let (text, ok) = matrix(&[a.clone(), failed]);
        assert!(!ok);
        assert!(text.contains("c x: FAIL why"), "{text}");
    }

    #[test]
    fn silent_or_unfinished_guests_fail() {
        let a = guest(
            "a",
            &[
                "VMTEST-PLAN x y",
                "VMTEST x PASS d",
                "VMTEST y PASS d",
                "VMTEST-END",
            ],
        );
        let mut hung = guest("b", &["VMTEST-PLAN x y", "VMTEST x PASS d"]);
        hung.problem = Some("timed out after 600 s".into());
        let (text, ok) = matrix(&[a.clone(), hung]);
        assert!(!ok);
        assert!(
            text.contains("| guest | ok | timed out after 600 s |"),
            "{text}"
        );
        assert!(text.contains("| y | PASS | not-run |"), "{text}");

        let unfinished = guest(
            "c",
            &["VMTEST-PLAN x y", "VMTEST x PASS d", "VMTEST y PASS d"],
        );
        let (text, ok) = matrix(&[a.clone(), unfinished]);
        assert!(!ok, "{text}");

        let silent = GuestReport::new("d".into());
        let (text, ok) = matrix(&[a, silent]);
        assert!(!ok);
        assert!(text.contains("| x | PASS | not-run |"), "{text}");
    }
}
