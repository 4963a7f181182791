//! What the verifying commands print and how they exit: each check with ✓ or ✗ and why, and
//! the exit code contract: 0 when everything checked holds, 1 when anything does not, 2 when
//! the checks could not be made (bad arguments, an unreadable file, an unknown key, no
//! answer from the server).

use std::process::ExitCode;

use serde::Serialize;
use serde_json::{json, Value};

use super::output::{json as pretty, outln};

/// Everything was checked and holds.
pub const VALID: u8 = 0;
/// Something checked does not hold.
pub const INVALID: u8 = 1;
/// Nothing could be concluded.
pub const UNUSABLE: u8 = 2;

/// One check and its outcome.
#[derive(Debug)]
pub struct Check {
    name: &'static str,
    ok: bool,
    detail: String,
}

/// The checks one command made, in order.
#[derive(Debug, Default)]
pub struct Report {
    checks: Vec<Check>,
    /// Extra members of the `--json` output (what was verified, proofs, notes).
    extra: serde_json::Map<String, Value>,
}

impl Report {
    /// Records a check.
    pub fn check(&mut self, name: &'static str, ok: bool, detail: impl Into<String>) {
        self.checks.push(Check {
            name,
            ok,
            detail: detail.into(),
        });
    }

    /// Records a check that holds.
    pub fn pass(&mut self, name: &'static str, detail: impl Into<String>) {
        self.check(name, true, detail);
    }

    /// Records a check that fails.
    pub fn fail(&mut self, name: &'static str, detail: impl Into<String>) {
        self.check(name, false, detail);
    }

    /// Adds a member to the `--json` output.
    pub fn with(&mut self, key: &str, value: impl Serialize) {
        // What is shown here (ids, proofs, notes) has string keys only, so it converts.
        let value = serde_json::to_value(value).unwrap_or(Value::Null);
        self.extra.insert(key.to_string(), value);
    }

    /// True when every check holds (and at least one was made).
    pub fn valid(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(|c| c.ok)
    }

    /// Prints the checks, or the report as JSON.
    pub fn print(&self, as_json: bool) {
        if as_json {
            let mut v = json!({
                "valid": self.valid(),
                "checks": self.checks.iter().map(|c| json!({
                    "check": c.name, "ok": c.ok, "detail": c.detail,
                })).collect::<Vec<_>>(),
            });
            for (k, val) in &self.extra {
                v[k] = val.clone();
            }
            outln!("{}", pretty(&v));
            return;
        }
        for c in &self.checks {
            let mark = if c.ok { "✓" } else { "✗" };
            outln!("{mark} {}: {}", c.name, c.detail);
        }
        let failed = self.checks.iter().filter(|c| !c.ok).count();
        if failed == 0 {
            outln!("VALID: all {} checks passed", self.checks.len());
        } else {
            outln!("INVALID: {failed} of {} checks failed", self.checks.len());
        }
    }

    /// The exit code for this report.
    pub fn code(&self) -> u8 {
        if self.valid() {
            VALID
        } else {
            INVALID
        }
    }
}

/// Prints a verifying command's outcome and turns it into its exit code: the report's (0 or
/// 1), or 2 with the error on stderr when the checks could not be made.
pub fn finish(outcome: anyhow::Result<Report>, as_json: bool) -> ExitCode {
    match outcome {
        Ok(report) => {
            report.print(as_json);
            ExitCode::from(report.code())
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            if as_json {
                outln!(
                    "{}",
                    pretty(&json!({"valid": null, "error": format!("{e:#}")}))
                );
            }
            ExitCode::from(UNUSABLE)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_is_valid_only_when_every_check_holds() {
        let mut r = Report::default();
        assert!(!r.valid(), "no checks prove nothing");
        r.pass("signature", "ok");
        assert_eq!(r.code(), VALID);
        r.fail("count", "3 != 4");
        assert_eq!(r.code(), INVALID);
    }
}
