//! `tollgate signing-key show | rotate`: the receipt signing key file and the public keys the
//! database keeps. Acts on the configured key file and database directly, like `keys`.
//!
//! Rotation never loses the old key: it stays beside the current one as
//! `signing-key.<key id>.pem`, and its public half stays published, so receipts it signed
//! keep verifying. Running servers notice the new file at their next signature.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Subcommand;
use serde_json::json;
use tollgate_core::time::format_us;
use tollgate_receipts::keys::{self, SigningKey};

use super::output::{json, out, outln, table};
use super::Db;
use crate::config;

/// The signing key.
#[derive(Debug, Subcommand)]
pub enum SigningKeyCmd {
    /// The current key (id, public key, PEM) and every key that has signed.
    Show {
        #[command(flatten)]
        db: Db,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Make a new current key; the old one is kept and retired.
    Rotate {
        #[command(flatten)]
        db: Db,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn read_key(path: &Path) -> anyhow::Result<SigningKey> {
    let pem = keys::Zeroizing::new(std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read the signing key {} (the server creates it at first start)",
            path.display()
        )
    })?);
    SigningKey::from_pkcs8_pem(&pem)
        .with_context(|| format!("{} holds no usable signing key", path.display()))
}

impl SigningKeyCmd {
    /// Runs the command.
    pub async fn run(self) -> anyhow::Result<()> {
        match self {
            SigningKeyCmd::Show { db, json: as_json } => {
                let settings = config::load(&db, &[])?;
                let path = settings.signing_key_path();
                let public = read_key(&path)?.public_key();
                let store = config::open_store(&settings).await?;
                let all = store.signing_keys().await?;
                let current = public.key_id();
                if as_json {
                    let rows: Vec<_> = all
                        .iter()
                        .map(|k| {
                            json!({
                                "key_id": k.key_id, "public_key": k.public_key,
                                "not_before": format_us(k.created_us),
                                "not_after": k.retired_us.map(format_us),
                                "current": k.key_id == current,
                            })
                        })
                        .collect();
                    outln!(
                        "{}",
                        json(&json!({
                            "key_file": path.display().to_string(),
                            "key_id": current,
                            "public_key": public.to_base64url(),
                            "public_key_pem": public.to_spki_pem(),
                            "keys": rows,
                        }))
                    );
                    return Ok(());
                }
                outln!("key file:   {}", path.display());
                outln!("key id:     {current}");
                outln!("public key: {} (base64url)", public.to_base64url());
                out!("{}", public.to_spki_pem());
                let rows = all
                    .iter()
                    .map(|k| {
                        let status = match (k.key_id == current, k.retired_us) {
                            (true, _) => "current".to_string(),
                            (false, Some(_)) => "retired".to_string(),
                            (false, None) => "not retired".to_string(),
                        };
                        vec![
                            k.key_id.clone(),
                            format_us(k.created_us),
                            k.retired_us.map(format_us).unwrap_or_default(),
                            status,
                            k.public_key.clone(),
                        ]
                    })
                    .collect();
                outln!(
                    "{}",
                    table(
                        &["key id", "not before", "not after", "status", "public key"],
                        rows
                    )
                );
            }
            SigningKeyCmd::Rotate { db, json: as_json } => {
                let settings = config::load(&db, &[])?;
                let path = settings.signing_key_path();
                let store = config::open_store(&settings).await?;
                let rotated = rotate(&path, &*store).await?;
                if as_json {
                    outln!(
                        "{}",
                        json(&json!({
                            "old_key_id": rotated.old_id,
                            "new_key_id": rotated.new_id,
                            "key_file": path.display().to_string(),
                            "old_key_file": rotated.kept.display().to_string(),
                        }))
                    );
                } else {
                    outln!(
                        "old key {} kept as {}",
                        rotated.old_id,
                        rotated.kept.display()
                    );
                    outln!("new key {} is now {}", rotated.new_id, path.display());
                    outln!(
                        "Running servers sign with the new key from their next signature (they \
                         reload the file when it changes); receipts signed with the old key still \
                         verify with it."
                    );
                }
            }
        }
        Ok(())
    }
}

struct Rotated {
    old_id: String,
    new_id: String,
    kept: PathBuf,
}

/// New key to a temporary file beside the old one; old key kept under its id; new public key
/// recorded; the new file renamed over the key path; the old key retired. A crash at any
/// point leaves a usable key file and every key that may have signed still published.
async fn rotate(path: &Path, store: &dyn tollgate_store::Store) -> anyhow::Result<Rotated> {
    let old = read_key(path)?.public_key();
    let old_id = old.key_id();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .context("the signing key path names no file")?
        .to_string_lossy()
        .into_owned();
    let stem = name.strip_suffix(".pem").unwrap_or(&name);
    let kept = dir.join(format!("{stem}.{old_id}.pem"));

    let new = SigningKey::generate();
    let new_id = new.public_key().key_id();
    let temp = dir.join(format!(".{name}.rotate-{:016x}", rand::random::<u64>()));
    keys::write_new(&temp, &new)?;
    let result = async {
        keep_old(path, &kept)?;
        // Recorded before the file changes, so no instance ever signs with a key the
        // database does not publish.
        store
            .register_signing_key(&old_id, &old.to_base64url())
            .await?;
        store
            .register_signing_key(&new_id, &new.public_key().to_base64url())
            .await?;
        std::fs::rename(&temp, path)
            .with_context(|| format!("cannot move the new key into place at {}", path.display()))?;
        sync_dir(dir);
        anyhow::Ok(())
    }
    .await;
    if let Err(e) = result {
        let _ = std::fs::remove_file(&temp);
        return Err(e);
    }
    store.retire_signing_key(&old_id).await.with_context(|| {
        format!("the new key is in place, but retiring {old_id} in the database failed")
    })?;
    Ok(Rotated {
        old_id,
        new_id,
        kept,
    })
}

/// Keeps the old key file at `kept` (a hard link, else a copy with mode 0600).
fn keep_old(path: &Path, kept: &Path) -> anyhow::Result<()> {
    if kept.exists() {
        let same = std::fs::read(kept).ok() == std::fs::read(path).ok();
        if !same {
            bail!(
                "{} exists and differs from the current key; move it away first",
                kept.display()
            );
        }
        return Ok(());
    }
    if std::fs::hard_link(path, kept).is_err() {
        std::fs::copy(path, kept)
            .with_context(|| format!("cannot keep the old key as {}", kept.display()))?;
        if let Ok(f) = std::fs::File::open(kept) {
            let _ = f.sync_all();
        }
    }
    // With a hard link this also tightens the old path, which the new key replaces next.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(kept, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot make {} private", kept.display()))?;
    }
    Ok(())
}

/// Makes a rename durable; best effort (not every platform can open a directory).
fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}
