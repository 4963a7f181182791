//! The books `tollgate bench mixed` checks after its load, read through the API: every hold
//! a client was granted closed exactly once, the way it chose; no ledger entry took a balance
//! below zero or a spend past a limit; no account still holds money.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};
use tollgate_api::billing::{Account, History, LedgerEntry, LedgerEntryType};

use super::bench_http::Conn;

/// What a client does with a hold it was granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fate {
    Settle,
    Release,
    Expire,
}

impl Fate {
    /// The description of the release entry that closes such a hold.
    pub(super) fn release_description(self) -> &'static str {
        match self {
            Fate::Settle => "hold settled",
            Fate::Release => "hold released",
            Fate::Expire => "hold expired",
        }
    }
}

/// What the ledgers say about the holds granted.
#[derive(Default)]
pub(super) struct Books {
    checked: usize,
    /// Holds not closed exactly once, or closed another way than the client chose.
    wrong: Vec<String>,
    /// Holds in the ledgers no client was told of.
    unknown: usize,
    /// Entries that took a balance below zero or a spend past a limit.
    overshoot: usize,
    /// Money still held once every hold closed.
    still_held: Vec<String>,
}

impl Books {
    pub(super) fn clean(&self) -> bool {
        self.wrong.is_empty()
            && self.unknown == 0
            && self.overshoot == 0
            && self.still_held.is_empty()
    }

    pub(super) fn json(&self) -> Value {
        json!({
            "holds_checked": self.checked,
            "holds_not_closed_exactly_once": self.wrong.len(),
            "examples": self.wrong.iter().take(5).collect::<Vec<_>>(),
            "unknown_holds": self.unknown,
            "overshooting_entries": self.overshoot,
            "accounts_still_holding": self.still_held,
            "clean": self.clean(),
        })
    }

    pub(super) fn summary(&self) -> String {
        if self.clean() {
            format!("clean ({} holds each closed exactly once as chosen; no balance below zero, no limit passed)", self.checked)
        } else {
            format!(
                "NOT clean: {} holds not closed exactly once (e.g. {:?}), {} unknown holds, {} overshooting entries, still held on {:?}",
                self.wrong.len(),
                self.wrong.first(),
                self.unknown,
                self.overshoot,
                self.still_held
            )
        }
    }
}

/// Reads every user's ledger until the holds left to expire have closed (or `wait` passed),
/// then judges the books.
pub(super) async fn check_books(
    conn: &mut Conn,
    users: &[String],
    holds: &[(String, String, Fate)],
    wait: Duration,
) -> anyhow::Result<Books> {
    let deadline = Instant::now() + wait;
    loop {
        let mut entries = Vec::new();
        for u in users {
            entries.extend(ledger(conn, u).await?);
        }
        let books = judge(&entries, users, holds, conn).await?;
        if books.clean() || Instant::now() >= deadline {
            return Ok(books);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Every entry of one user's ledger.
async fn ledger(conn: &mut Conn, user: &str) -> anyhow::Result<Vec<LedgerEntry>> {
    let mut out = Vec::new();
    loop {
        let path = format!(
            "/api/v1/billing/history?user_id={user}&limit=500&offset={}",
            out.len()
        );
        let (status, body) = conn.send("GET", &path, None).await?;
        if status != 200 {
            bail!("reading {user}'s ledger: {status} {body}");
        }
        let page: History = serde_json::from_value(body)
            .with_context(|| format!("reading {user}'s ledger: an unexpected answer"))?;
        out.extend(page.transactions);
        if !page.pagination.has_more {
            return Ok(out);
        }
    }
}

async fn judge(
    entries: &[LedgerEntry],
    users: &[String],
    holds: &[(String, String, Fate)],
    conn: &mut Conn,
) -> anyhow::Result<Books> {
    // Per hold id: how many hold entries, the release descriptions, the charges.
    let mut seen: BTreeMap<&str, (usize, Vec<&str>, usize)> = BTreeMap::new();
    let mut books = Books::default();
    for e in entries {
        if !e.flags.is_empty() || e.balance_after.starts_with('-') {
            books.overshoot += 1;
        }
        let Some(hold) = e.hold_id.as_deref() else {
            continue;
        };
        let slot = seen.entry(hold).or_default();
        match e.kind {
            LedgerEntryType::Hold => slot.0 += 1,
            LedgerEntryType::Release => slot.1.push(e.description.as_deref().unwrap_or("")),
            LedgerEntryType::Charge => slot.2 += 1,
            _ => {}
        }
    }
    let granted: BTreeMap<&str, Fate> = holds.iter().map(|(_, h, f)| (h.as_str(), *f)).collect();
    books.unknown = seen.keys().filter(|h| !granted.contains_key(*h)).count();
    for (hold, fate) in &granted {
        books.checked += 1;
        let (placed, releases, charges) = seen.get(hold).cloned().unwrap_or_default();
        let settled_charges = usize::from(*fate == Fate::Settle);
        if placed != 1 || releases != [fate.release_description()] || charges != settled_charges {
            books.wrong.push(format!(
                "{hold} ({fate:?}): {placed} hold entries, releases {releases:?}, {charges} charges"
            ));
        }
    }
    for u in users {
        let (status, body) = conn
            .send("GET", &format!("/api/v1/billing/balance?user_id={u}"), None)
            .await?;
        if status != 200 {
            bail!("reading {u}'s balance: {status} {body}");
        }
        let account: Account = serde_json::from_value(body)
            .with_context(|| format!("reading {u}'s balance: an unexpected answer"))?;
        let held = account
            .balances
            .values()
            .any(|b| !b.held.trim_start_matches(['0', '.']).is_empty());
        if held {
            books.still_held.push(u.clone());
        }
    }
    Ok(books)
}
