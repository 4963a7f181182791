//! Archive files: gzip-compressed JSON lines of archived usage events, each with its stored
//! canonical entry, `seq`, log id and leaf hash, plus a JSON manifest beside it.
//!
//! Every file is written under a temporary name, fsynced, renamed into place and its
//! directory fsynced, so a file under its final name is always complete. This module knows
//! files only; which events go in and what the database records is `ops::retention`'s.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tollgate_core::time::{format_us, month_string};
use tollgate_receipts::merkle::{leaf_hash, Frontier};
use tollgate_receipts::Hash;

use crate::retention::ArchiveRecord;

/// The `format` of a manifest.
pub const MANIFEST_FORMAT: &str = "tollgate.archive/v1";

/// Why an archive file could not be written or does not check out.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The file is not what its record says.
    #[error("archive {0}")]
    Mismatch(String),
    /// A file the database records is not in this archive directory, and its manifest does
    /// not say it was deleted.
    #[error("{0} is missing: instances that share a database must share retention.archive_dir")]
    Missing(PathBuf),
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> ArchiveError + '_ {
    move |source| ArchiveError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One archived event, as a line of the data file holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivedLine {
    /// Position in the tenant's log.
    pub seq: i64,
    /// The log id.
    pub log_id: String,
    /// The canonical entry, byte for byte as stored at ingest.
    pub entry: Vec<u8>,
    /// SHA-256(0x00 || entry).
    pub leaf_hash: Hash,
}

/// The paths of an archive's data file and manifest, relative to the archive directory.
pub fn relative_paths(tenant_id: &str, archive_id: &str) -> (String, String) {
    (
        format!("{tenant_id}/{archive_id}.jsonl.gz"),
        format!("{tenant_id}/{archive_id}.manifest.json"),
    )
}

/// A `Write` that hashes what passes through it.
struct Hashing<W> {
    inner: W,
    sha: Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A data file being written under a temporary name.
pub(crate) struct DataWriter {
    tmp: PathBuf,
    path: PathBuf,
    gz: GzEncoder<Hashing<BufWriter<File>>>,
    frontier: Frontier,
    count: i64,
    first_seq: Option<i64>,
    last_seq: i64,
}

/// What a finished data file holds.
pub(crate) struct Written {
    pub(crate) sha256: String,
    pub(crate) root: Hash,
    pub(crate) count: i64,
    pub(crate) first_seq: i64,
    pub(crate) last_seq: i64,
}

impl DataWriter {
    /// Starts `<dir>/<relative>` under a temporary name unique to `writer` (a runner id).
    pub(crate) fn create(dir: &Path, relative: &str, writer: &str) -> Result<Self, ArchiveError> {
        let path = dir.join(relative);
        let parent = path.parent().unwrap_or(dir).to_path_buf();
        fs::create_dir_all(&parent).map_err(io_at(&parent))?;
        sync_dir(&parent)?;
        if let Some(up) = parent.parent() {
            sync_dir(up)?;
        }
        let tmp = path.with_extension(format!("gz.{writer}.tmp"));
        let file = File::create(&tmp).map_err(io_at(&tmp))?;
        let hashing = Hashing {
            inner: BufWriter::new(file),
            sha: Sha256::new(),
        };
        Ok(DataWriter {
            tmp,
            path,
            gz: GzEncoder::new(hashing, Compression::default()),
            frontier: Frontier::new(),
            count: 0,
            first_seq: None,
            last_seq: -1,
        })
    }

    /// Appends one event; events must come in ascending `seq`.
    pub(crate) fn push(&mut self, line: &ArchivedLine) -> Result<(), ArchiveError> {
        if line.seq <= self.last_seq {
            return Err(ArchiveError::Mismatch(format!(
                "events out of order at seq {}",
                line.seq
            )));
        }
        let entry = std::str::from_utf8(&line.entry)
            .map_err(|_| ArchiveError::Mismatch(format!("entry {} is not UTF-8", line.seq)))?;
        let text = json!({
            "seq": line.seq,
            "log_id": line.log_id,
            "leaf_hash": STANDARD.encode(line.leaf_hash),
            "entry": entry,
        })
        .to_string();
        self.gz
            .write_all(text.as_bytes())
            .and_then(|()| self.gz.write_all(b"\n"))
            .map_err(io_at(&self.tmp))?;
        self.frontier.push(line.leaf_hash);
        self.count += 1;
        self.first_seq.get_or_insert(line.seq);
        self.last_seq = line.seq;
        Ok(())
    }

    /// Finishes the file: flushed, fsynced, renamed into place, directory fsynced.
    pub(crate) fn finish(self) -> Result<Written, ArchiveError> {
        let tmp = self.tmp;
        let hashing = self.gz.finish().map_err(io_at(&tmp))?;
        let Hashing { inner, sha } = hashing;
        let file = inner
            .into_inner()
            .map_err(|e| io_at(&tmp)(e.into_error()))?;
        file.sync_all().map_err(io_at(&tmp))?;
        drop(file);
        fs::rename(&tmp, &self.path).map_err(io_at(&self.path))?;
        sync_dir(self.path.parent().unwrap_or(Path::new(".")))?;
        Ok(Written {
            sha256: hex::encode(sha.finalize()),
            root: self.frontier.root(),
            count: self.count,
            first_seq: self.first_seq.unwrap_or(0),
            last_seq: self.last_seq,
        })
    }
}

/// The manifest of an archive: what it holds and how to check it.
pub fn manifest(record: &ArchiveRecord, deleted_us: Option<i64>) -> Value {
    let mut m = json!({
        "format": MANIFEST_FORMAT,
        "tenant_id": record.tenant_id,
        "archive_id": record.id,
        "month": month_string(record.month),
        "count": record.count,
        "first_seq": record.first_seq,
        "last_seq": record.last_seq,
        "file": Path::new(&record.file).file_name().map(|f| f.to_string_lossy()),
        "sha256": record.sha256,
        "merkle_root": STANDARD.encode(record.root),
        "created_at": format_us(record.created_us),
        "live": deleted_us.is_none(),
    });
    if let Some(at) = deleted_us {
        m["deleted_at"] = json!(format_us(at));
    }
    m
}

/// Writes `bytes` to `path` atomically and durably (temporary file, fsync, rename, fsync of
/// the directory).
pub(crate) fn write_durably(path: &Path, bytes: &[u8], writer: &str) -> Result<(), ArchiveError> {
    let tmp = path.with_extension(format!("json.{writer}.tmp"));
    let mut file = File::create(&tmp).map_err(io_at(&tmp))?;
    file.write_all(bytes).map_err(io_at(&tmp))?;
    file.sync_all().map_err(io_at(&tmp))?;
    drop(file);
    fs::rename(&tmp, path).map_err(io_at(path))?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Whether an archive's manifest says its data file was deleted (`live: false`); false when
/// there is no manifest.
fn marked_deleted(dir: &Path, record: &ArchiveRecord) -> Result<bool, ArchiveError> {
    let (_, manifest) = relative_paths(&record.tenant_id, &record.id);
    let path = dir.join(manifest);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(io_at(&path)(e)),
    };
    let v: Value = serde_json::from_slice(&bytes)
        .map_err(|e| ArchiveError::Mismatch(format!("{}: manifest: {e}", record.id)))?;
    Ok(v["live"] == Value::Bool(false))
}

/// The first step of deleting an archive: its manifest is rewritten with `live: false` and
/// `deleted_at`, unless it already says so. Refuses when the data file is not here: the
/// archive then lives in another instance's directory, and nothing may say it is gone.
pub(crate) fn mark_deleted(
    dir: &Path,
    record: &ArchiveRecord,
    at_us: i64,
    writer: &str,
) -> Result<(), ArchiveError> {
    if marked_deleted(dir, record)? {
        return Ok(());
    }
    let data = dir.join(&record.file);
    match fs::metadata(&data) {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(ArchiveError::Missing(data)),
        Err(e) => return Err(io_at(&data)(e)),
    }
    let text = serde_json::to_vec_pretty(&manifest(record, Some(at_us)))
        .map_err(|e| ArchiveError::Mismatch(format!("{}: manifest: {e}", record.id)))?;
    let (_, manifest) = relative_paths(&record.tenant_id, &record.id);
    write_durably(&dir.join(manifest), &text, writer)
}

/// The second step: removes the data file and fsyncs its directory. A file already gone is
/// fine only when the manifest says so (a crash between the two steps); otherwise it was
/// never here, and that is an error rather than a deletion.
pub(crate) fn remove_data(dir: &Path, record: &ArchiveRecord) -> Result<(), ArchiveError> {
    let path = dir.join(&record.file);
    if let Err(e) = fs::remove_file(&path) {
        if e.kind() != io::ErrorKind::NotFound {
            return Err(io_at(&path)(e));
        }
        if !marked_deleted(dir, record)? {
            return Err(ArchiveError::Missing(path));
        }
    }
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

fn sync_dir(dir: &Path) -> Result<(), ArchiveError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_at(dir))
}

/// SHA-256 (hex) of a file.
pub(crate) fn file_sha256(path: &Path) -> Result<String, ArchiveError> {
    let mut file = File::open(path).map_err(io_at(path))?;
    let mut sha = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf).map_err(io_at(path))?;
        if n == 0 {
            break;
        }
        sha.update(&buf[..n]);
    }
    Ok(hex::encode(sha.finalize()))
}

/// Reads an archive's data file and checks it against its record: the file's SHA-256, every
/// line's leaf hash against its entry, ascending `seq`, the count, the seq range and the
/// Merkle root. Returns its lines.
pub fn verify(dir: &Path, record: &ArchiveRecord) -> Result<Vec<ArchivedLine>, ArchiveError> {
    scan(dir, record, true)
}

/// [`verify`] without keeping the lines.
pub fn check(dir: &Path, record: &ArchiveRecord) -> Result<(), ArchiveError> {
    scan(dir, record, false).map(drop)
}

fn scan(dir: &Path, record: &ArchiveRecord, keep: bool) -> Result<Vec<ArchivedLine>, ArchiveError> {
    let path = dir.join(&record.file);
    let mismatch = |what: String| ArchiveError::Mismatch(format!("{}: {what}", record.id));
    let sha = file_sha256(&path)?;
    if sha != record.sha256 {
        return Err(mismatch(format!(
            "the file's SHA-256 is {sha}, the record says {}",
            record.sha256
        )));
    }
    let file = File::open(&path).map_err(io_at(&path))?;
    let mut lines = Vec::new();
    let mut frontier = Frontier::new();
    let (mut count, mut first, mut last) = (0i64, None, None::<i64>);
    for text in BufReader::new(GzDecoder::new(file)).lines() {
        let text = text.map_err(io_at(&path))?;
        let line = parse_line(&text).ok_or_else(|| mismatch("a line is malformed".into()))?;
        if leaf_hash(&line.entry) != line.leaf_hash {
            return Err(mismatch(format!(
                "the entry at seq {} does not hash to its leaf hash",
                line.seq
            )));
        }
        if last.is_some_and(|l| l >= line.seq) {
            return Err(mismatch(format!("seq {} is out of order", line.seq)));
        }
        frontier.push(line.leaf_hash);
        count += 1;
        first.get_or_insert(line.seq);
        last = Some(line.seq);
        if keep {
            lines.push(line);
        }
    }
    if count != record.count || first != Some(record.first_seq) || last != Some(record.last_seq) {
        return Err(mismatch(format!(
            "{count} lines over {first:?}..={last:?}, the record says {} over {}..={}",
            record.count, record.first_seq, record.last_seq
        )));
    }
    if frontier.root() != record.root {
        return Err(mismatch("the Merkle root differs from the record's".into()));
    }
    Ok(lines)
}

fn parse_line(text: &str) -> Option<ArchivedLine> {
    let v: Value = serde_json::from_str(text).ok()?;
    let hash = STANDARD.decode(v["leaf_hash"].as_str()?).ok()?;
    Some(ArchivedLine {
        seq: v["seq"].as_i64()?,
        log_id: v["log_id"].as_str()?.to_string(),
        entry: v["entry"].as_str()?.as_bytes().to_vec(),
        leaf_hash: hash.try_into().ok()?,
    })
}
