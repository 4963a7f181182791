//! The signing key: loaded or created at start, reloaded when its file changes (after
//! `tollgate signing-key rotate`), and the public half of every key that ever signed, which
//! the database keeps so that every instance verifies every receipt.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use tollgate_receipts::keys::{self, KeyError, PublicKey, SigningKey};
use tollgate_store::{Store, StoreError};

/// Why the signing key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SignerError {
    /// The key file could not be read or written.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The database refused the public key.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The key file is missing while the database already knows signing keys: creating one
    /// would give this instance a key of its own.
    #[error(
        "the database already has signing key(s) {}, but this instance has no key file at {}. \
         Creating a new key here would sign this instance's receipts with a key of its own, \
         and receipts signed by different keys per instance confuse verifiers. \
         Copy the key file from the instance that has it to {} (or set \
         receipts.signing_key_file to the shared file); to start a new key on purpose, run \
         `tollgate serve --new-signing-key` (or set receipts.create_signing_key = true)",
        key_ids.join(", "),
        path.display(),
        path.display()
    )]
    NoKeyFile {
        /// The ids of the keys the database has.
        key_ids: Vec<String>,
        /// Where this instance looked for its key.
        path: PathBuf,
    },
}

struct Current {
    key: Arc<SigningKey>,
    key_id: String,
    modified: Option<FileStamp>,
}

/// What tells a replaced key file from the one loaded: its modification time and, on Unix,
/// its inode (a rotation renames a new file into place, so the inode changes even when the
/// clock's tick does not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    modified: Option<SystemTime>,
    inode: u64,
}

/// Signs receipts and checkpoints; resolves key ids to public keys.
pub struct Signer {
    path: PathBuf,
    store: Arc<dyn Store>,
    current: RwLock<Current>,
    known: RwLock<HashMap<String, PublicKey>>,
}

fn modified(path: &Path) -> Option<FileStamp> {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&meta);
    #[cfg(not(unix))]
    let inode = 0;
    Some(FileStamp {
        modified: meta.modified().ok(),
        inode,
    })
}

impl Signer {
    /// Loads the key at `path`, creating it if there is none, and records its public half.
    /// A missing file is created only in a database that has no signing key yet, or with
    /// `create_new` (`receipts.create_signing_key`): otherwise another instance (or a lost
    /// file) already signs for this database, and a second key would be a mistake.
    pub async fn open(
        path: PathBuf,
        store: Arc<dyn Store>,
        create_new: bool,
    ) -> Result<Signer, SignerError> {
        if !create_new && !path.exists() {
            let known = store.signing_keys().await?;
            if !known.is_empty() {
                return Err(SignerError::NoKeyFile {
                    key_ids: known.into_iter().map(|k| k.key_id).collect(),
                    path,
                });
            }
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|error| KeyError::Io {
                action: "create the directory",
                path: dir.to_path_buf(),
                error,
            })?;
        }
        let (key, created) = keys::load_or_create(&path)?;
        let public = key.public_key();
        let key_id = public.key_id();
        if created {
            tracing::info!(path = %path.display(), %key_id, "created a new signing key");
        }
        store
            .register_signing_key(&key_id, &public.to_base64url())
            .await?;
        let signer = Signer {
            current: RwLock::new(Current {
                key: Arc::new(key),
                key_id: key_id.clone(),
                modified: modified(&path),
            }),
            known: RwLock::new(HashMap::from([(key_id, public)])),
            path,
            store,
        };
        Ok(signer)
    }

    /// The current key and its id, reloading the file first if it changed.
    pub async fn current(&self) -> Result<(Arc<SigningKey>, String), SignerError> {
        let now = modified(&self.path);
        {
            let current = self.current.read().unwrap_or_else(|p| p.into_inner());
            if current.modified == now {
                return Ok((current.key.clone(), current.key_id.clone()));
            }
        }
        let key = SigningKey::from_pkcs8_pem(&read_key(&self.path)?)?;
        let public = key.public_key();
        let key_id = public.key_id();
        self.store
            .register_signing_key(&key_id, &public.to_base64url())
            .await?;
        tracing::info!(%key_id, "the signing key file changed: signing with the new key");
        self.known
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key_id.clone(), public);
        let key = Arc::new(key);
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Current {
            key: key.clone(),
            key_id: key_id.clone(),
            modified: now,
        };
        Ok((key, key_id))
    }

    /// The public key with this id, if any key by that id ever signed here.
    pub async fn public_key(&self, key_id: &str) -> Result<Option<PublicKey>, StoreError> {
        if let Some(k) = self
            .known
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(key_id)
        {
            return Ok(Some(*k));
        }
        let found = self
            .store
            .signing_keys()
            .await?
            .into_iter()
            .find(|k| k.key_id == key_id);
        let Some(record) = found else {
            return Ok(None);
        };
        let public = PublicKey::from_base64url(&record.public_key)
            .map_err(|e| StoreError::Invariant(format!("signing key {key_id}: {e}")))?;
        self.known
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key_id.to_string(), public);
        Ok(Some(public))
    }
}

fn read_key(path: &Path) -> Result<String, KeyError> {
    std::fs::read_to_string(path).map_err(|error| KeyError::Io {
        action: "read the key file",
        path: path.to_path_buf(),
        error,
    })
}
