//! `tollgate transparency verify`: checks the tenant log's signed checkpoint against the last
//! one this machine verified, kept in a local state file. A new checkpoint must extend the
//! old one (an RFC 6962 consistency proof); anything else means the server showed two
//! different histories, and is reported loudly. The first run trusts what it sees.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use clap::{Args, Subcommand};
use tollgate_api::transparency::ConsistencyProof;
use tollgate_receipts::merkle::{verify_consistency, Hash};
use tollgate_receipts::note::{parse_note, Checkpoint, NoteError};

use super::checks::{finish, Report};
use super::trust;
use super::usage::ClientArgs;

/// The tenant log.
#[derive(Debug, Subcommand)]
pub enum Transparency {
    /// Check the log's checkpoint for consistency with the last one verified here. Exit 0
    /// consistent, 1 forked or badly signed, 2 could not check.
    Verify(VerifyLog),
}

impl Transparency {
    /// Runs the command; it chooses its own exit code.
    pub async fn run(self) -> ExitCode {
        match self {
            Transparency::Verify(v) => v.run().await,
        }
    }
}

/// Arguments of `transparency verify`.
#[derive(Debug, Args)]
pub struct VerifyLog {
    #[command(flatten)]
    client: ClientArgs,
    /// The file keeping the last verified checkpoint (default:
    /// ~/.config/tollgate/checkpoints/<server>_<log>.note).
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

impl VerifyLog {
    async fn run(self) -> ExitCode {
        let as_json = self.json;
        finish(self.check().await, as_json)
    }

    async fn check(self) -> anyhow::Result<Report> {
        let client = self.client.client()?;
        let note = client
            .checkpoint()
            .await
            .context("cannot fetch the checkpoint")?;
        let origin = note.lines().next().unwrap_or_default().to_string();
        let state = match self.state {
            Some(path) => path,
            None => default_state(client.base(), &origin)?,
        };
        let mut report = Report::default();
        report.with("state", state.display().to_string());
        report.with("checkpoint", &note);
        let Some(new) = open_checkpoint(&mut report, client.base(), &note, &origin).await? else {
            return Ok(report);
        };
        let Some(old_note) = read_state(&state)? else {
            save_state(&state, &note)?;
            report.pass(
                "consistency",
                format!(
                    "first checkpoint seen for {origin} (size {}): trusted on first use and \
                     stored in {}",
                    new.size,
                    state.display()
                ),
            );
            return Ok(report);
        };
        let old = parse_state(&state, &old_note, &origin)?;
        report.with("previous_checkpoint", &old_note);
        let proof = if new.size > old.size {
            let answer = client
                .consistency(old.size, new.size)
                .await
                .with_context(|| {
                    format!(
                        "cannot fetch the consistency proof {} → {}",
                        old.size, new.size
                    )
                })?;
            report.with("consistency_proof", &answer);
            Some(hashes(&answer, old.size, new.size))
        } else {
            None
        };
        let verdict = match (&proof, new.size.cmp(&old.size)) {
            (_, std::cmp::Ordering::Less) => Err(format!(
                "the log shrank from {} to {} entries",
                old.size, new.size
            )),
            (_, std::cmp::Ordering::Equal) if old.root != new.root => Err(format!(
                "two different roots for the same size {}",
                new.size
            )),
            (_, std::cmp::Ordering::Equal) => Ok(format!(
                "unchanged since the last check (size {})",
                new.size
            )),
            (Some(Ok(path)), _) => {
                verify_consistency(old.size, new.size, &old.root, &new.root, path)
                    .map(|()| {
                        format!(
                            "size {} extends the verified size {} ({} proof hashes)",
                            new.size,
                            old.size,
                            path.len()
                        )
                    })
                    .map_err(|e| format!("the consistency proof does not verify: {e}"))
            }
            (Some(Err(why)), _) => Err(why.clone()),
            (None, _) => Err("no consistency proof".into()),
        };
        match verdict {
            Ok(detail) => {
                if new.size != old.size {
                    save_state(&state, &note)?;
                }
                report.pass("consistency", detail);
            }
            Err(why) => {
                eprintln!(
                    "\nSECURITY ERROR: the log forked: {why}.\n\
                     The server's current checkpoint is not an extension of the one verified \
                     before,\nso it has shown different histories of the same log.\n\n\
                     Previously verified checkpoint ({}):\n{old_note}\n\
                     Current checkpoint:\n{note}\n\
                     Consistency proof {} → {}: {}\n\n\
                     The previous checkpoint is kept; keep both notes as evidence.\n",
                    state.display(),
                    old.size,
                    new.size,
                    proof_text(&proof),
                );
                report.fail(
                    "consistency",
                    format!("SECURITY ERROR: the log forked: {why}"),
                );
            }
        }
        Ok(report)
    }
}

/// Verifies the note with each key the server publishes; None when no key verifies it
/// (then the report says why).
async fn open_checkpoint(
    report: &mut Report,
    server: &str,
    note: &str,
    origin: &str,
) -> anyhow::Result<Option<Checkpoint>> {
    let keys = trust::published_keys(server).await?;
    let mut failure = None;
    for k in &keys {
        match Checkpoint::open(note, origin, &k.key) {
            Ok(cp) => {
                report.pass(
                    "checkpoint signature",
                    format!(
                        "{origin} at size {} signed by {} ({})",
                        cp.size, k.key_id, k.source
                    ),
                );
                return Ok(Some(cp));
            }
            Err(NoteError::NoSignatureByKey { .. }) => {}
            Err(e) => failure = Some(format!("{e} (key {})", k.key_id)),
        }
    }
    report.fail(
        "checkpoint signature",
        failure.unwrap_or_else(|| {
            format!(
                "none of the {} keys {server} publishes signed this checkpoint of {origin:?}",
                keys.len()
            )
        }),
    );
    Ok(None)
}

/// The proof's hashes, or why they are unusable.
fn hashes(answer: &ConsistencyProof, from: u64, to: u64) -> Result<Vec<Hash>, String> {
    if u64::try_from(answer.from).ok() != Some(from) || u64::try_from(answer.to).ok() != Some(to) {
        return Err(format!(
            "asked for a proof {from} → {to} but got {} → {}",
            answer.from, answer.to
        ));
    }
    answer
        .proof
        .iter()
        .map(|h| {
            STANDARD
                .decode(h)
                .ok()
                .and_then(|b| Hash::try_from(b.as_slice()).ok())
                .ok_or_else(|| format!("the proof holds {h:?}, not a base64 SHA-256 hash"))
        })
        .collect()
}

fn proof_text(proof: &Option<Result<Vec<Hash>, String>>) -> String {
    match proof {
        None => "none (no proof can show a log shrinking or changing at the same size)".into(),
        Some(Err(why)) => why.clone(),
        Some(Ok(p)) if p.is_empty() => "[] (empty)".into(),
        Some(Ok(p)) => format!(
            "[{}]",
            p.iter()
                .map(|h| STANDARD.encode(h))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// `~/.config/tollgate/checkpoints/<server>_<origin>.note` (or under `$XDG_CONFIG_HOME`).
fn default_state(server: &str, origin: &str) -> anyhow::Result<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|d| !d.is_empty())
                .map(|h| PathBuf::from(h).join(".config"))
        })
        .context("neither XDG_CONFIG_HOME nor HOME is set; name a state file with --state")?;
    let server = server.split_once("://").map_or(server, |(_, rest)| rest);
    Ok(base.join("tollgate").join("checkpoints").join(format!(
        "{}_{}.note",
        sanitize(server),
        sanitize(origin)
    )))
}

/// Letters, digits, `.` and `-` kept; runs of anything else become one `_`.
fn sanitize(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_matches('_').to_string()
}

fn read_state(path: &Path) -> anyhow::Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read state file {}", path.display())),
    }
}

/// The checkpoint in a state file; its signature was checked when it was stored.
fn parse_state(path: &Path, note: &str, origin: &str) -> anyhow::Result<Checkpoint> {
    let text = parse_note(note)
        .map(|n| n.text)
        .with_context(|| format!("state file {} holds no signed note", path.display()))?;
    let old = Checkpoint::parse_body(&text)
        .with_context(|| format!("state file {} holds no checkpoint", path.display()))?;
    if old.origin != origin {
        bail!(
            "state file {} is for log {:?}, but the server serves {origin:?}; name another \
             file with --state",
            path.display(),
            old.origin
        );
    }
    Ok(old)
}

/// Replaces the state file atomically (a temporary file renamed over it).
fn save_state(path: &Path, note: &str) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut temp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    std::io::Write::write_all(&mut temp, note.as_bytes())?;
    temp.as_file().sync_all()?;
    temp.persist(path)
        .with_context(|| format!("cannot write state file {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_file_name_is_safe_and_readable() {
        assert_eq!(sanitize("127.0.0.1:8000/prefix/"), "127.0.0.1_8000_prefix");
        assert_eq!(sanitize("tollgate/tnt_01AB"), "tollgate_tnt_01AB");
        assert_eq!(sanitize("../../etc"), ".._.._etc");
    }
}
