//! SQLite through rusqlite: one writer thread that owns the only write connection, and a
//! pool of read-only connections beside it.
//!
//! SQLite admits one writer at a time; one thread owning the only write connection means no
//! connection of this process ever waits on another's lock, and nothing blocks an async
//! worker. Work reaches the writer as jobs on a channel, in order: a group commit of appends
//! (`ops::sqlite_append`), one autocommit statement, or a transaction, which holds the writer
//! (`BEGIN IMMEDIATE`) while its statements arrive one by one from the async code that
//! drives it ([`Session`]). A transaction dropped without a commit rolls back.
//!
//! Reads outside a transaction take a connection from the read pool and run on the blocking
//! thread pool. In WAL mode they never wait for the writer, and each sees the database as of
//! its last commit.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, Value, ValueRef};
use rusqlite::{Connection, OpenFlags, Statement, ToSql};
use tokio::sync::{oneshot, Semaphore};

use super::decode::{Inner, Row};
use super::query::{Arg, Sql};
use super::Answer;
use crate::StoreError;

/// How long a transaction waits for the writer before giving up (a job queued behind it
/// that is given up on rolls back as soon as it starts).
const WRITER_WAIT: Duration = Duration::from_secs(30);

/// What a statement's caller wants back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Want {
    /// How many rows it changed.
    Count,
    /// The rows it answered.
    Rows,
    /// Its first row, if any; the rest are not read.
    First,
}

impl ToSql for Arg {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Arg::Int(Some(v)) => ValueRef::Integer(*v),
            Arg::Text(Some(v)) => ValueRef::Text(v.as_bytes()),
            Arg::Bytes(v) => ValueRef::Blob(v),
            Arg::Float(v) => ValueRef::Real(*v),
            Arg::Int(None) | Arg::Text(None) => ValueRef::Null,
        }))
    }
}

/// How the SQLite engine opens its connections.
#[derive(Debug, Clone)]
pub(super) struct Options {
    pub(super) path: PathBuf,
    pub(super) synchronous_full: bool,
    pub(super) create: bool,
    pub(super) readers: usize,
}

/// The SQLite engine of one store: the writer thread, the checkpointer and the read pool.
#[derive(Debug)]
pub(crate) struct Sqlite {
    writer: Writer,
    readers: ReadPool,
}

/// How many WAL pages the writer lets accumulate before it checkpoints them itself, on its
/// own time: only when the checkpointer has fallen this far behind (SQLite's default is 1,000).
const WRITER_CHECKPOINT_PAGES: u32 = 16_000;

/// How long the checkpointer waits after a checkpoint before the next, so that one
/// checkpoint copies the pages of many commits.
const CHECKPOINT_PAUSE: Duration = Duration::from_millis(20);

impl Sqlite {
    /// Opens the write connection (creating the file only with `opts.create`), starts its
    /// thread, and opens one reader to prove the file readable.
    pub(super) fn open(opts: &Options) -> Result<Sqlite, StoreError> {
        let conn = open_writer(opts)?;
        let checkpointer = Checkpointer::start(open_checkpointer(&opts.path)?)?;
        let writer = Writer::start(conn, checkpointer)?;
        let readers = ReadPool::new(opts.path.clone(), opts.readers);
        readers.put(open_reader(&opts.path)?);
        Ok(Sqlite { writer, readers })
    }

    /// Runs `f` on the writer thread, after the work queued before it.
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.writer.run(f).await
    }

    /// Runs `f` on a reader, on the blocking thread pool.
    pub(crate) async fn read_with<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.readers.run(f).await
    }

    /// Runs one statement on a reader.
    pub(super) async fn read(&self, sql: Sql, want: Want) -> Result<Answer, StoreError> {
        self.readers.run(move |conn| run(conn, &sql, want)).await
    }

    /// Runs one statement on the writer, in its own (autocommit) transaction.
    pub(super) async fn write_one(&self, sql: Sql, want: Want) -> Result<Answer, StoreError> {
        self.writer.run(move |conn| run(conn, &sql, want)).await
    }

    /// Starts a write transaction.
    pub(super) async fn begin(&self) -> Result<Session, StoreError> {
        let (commands, mut inbox) = tokio::sync::mpsc::unbounded_channel::<Command>();
        let (began, begun) = oneshot::channel();
        self.writer.send(Box::new(move |conn| {
            if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
                let _ = began.send(Err(StoreError::from(e)));
                return;
            }
            let _ = began.send(Ok(()));
            while let Some(command) = inbox.blocking_recv() {
                match command {
                    Command::Run(sql, want, reply) => {
                        let _ = reply.send(run(conn, &sql, want));
                    }
                    Command::Script(text, reply) => {
                        let _ = reply.send(conn.execute_batch(&text).map_err(StoreError::from));
                    }
                    Command::Commit(reply) => {
                        let committed = conn.execute_batch("COMMIT");
                        if committed.is_err() && !conn.is_autocommit() {
                            let _ = conn.execute_batch("ROLLBACK");
                        }
                        let _ = reply.send(committed.map_err(StoreError::from));
                        return;
                    }
                }
            }
            // The transaction was dropped without an end.
            let _ = conn.execute_batch("ROLLBACK");
        }))?;
        // The writer runs one transaction at a time; one that never ends (a bug holding a
        // transaction across a wait for another) must not hang every later one silently.
        match tokio::time::timeout(WRITER_WAIT, begun).await {
            Ok(began) => began.map_err(|_| stopped())??,
            Err(_) => {
                return Err(StoreError::Unavailable(format!(
                    "the SQLite writer was busy for {} s",
                    WRITER_WAIT.as_secs()
                )))
            }
        }
        Ok(Session { commands })
    }

    /// Stops the writer thread (after the work queued before) and closes every connection.
    pub(super) async fn close(&self) {
        self.readers.close();
        let handle = self.writer.stop();
        if let Some(handle) = handle {
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        }
    }
}

/// Work for the writer thread.
type Job = Box<dyn FnOnce(&mut Connection) + Send>;

enum Message {
    Job(Job),
    Stop,
}

/// The thread that copies committed pages from the WAL into the database file, beside the
/// writer: a commit then pays for writing and syncing its own WAL frames only, and the copy
/// and its sync run on another core. It checkpoints when the writer has committed since the
/// last time (`PASSIVE`: it never waits for readers or the writer), so an idle store costs
/// nothing; the writer checkpoints itself only past [`WRITER_CHECKPOINT_PAGES`].
#[derive(Debug)]
struct Checkpointer {
    poke: mpsc::SyncSender<()>,
    thread: JoinHandle<()>,
}

impl Checkpointer {
    fn start(conn: Connection) -> Result<Checkpointer, StoreError> {
        let (poke, pokes) = mpsc::sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("tollgate-sqlite-checkpoint".into())
            .spawn(move || {
                // Ends when the writer, the only sender, has stopped.
                while pokes.recv().is_ok() {
                    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                    {
                        tracing::warn!(error = %e, "a WAL checkpoint failed; the next commit asks again");
                    }
                    std::thread::sleep(CHECKPOINT_PAUSE);
                }
            })
            .map_err(|e| {
                StoreError::Unavailable(format!("cannot start the SQLite checkpointer: {e}"))
            })?;
        Ok(Checkpointer { poke, thread })
    }

    /// Asks for a checkpoint; one already asked for covers this commit too.
    fn poke(&self) {
        let _ = self.poke.try_send(());
    }
}

/// The thread that owns the write connection.
#[derive(Debug)]
struct Writer {
    jobs: Mutex<Option<mpsc::Sender<Message>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Writer {
    fn start(mut conn: Connection, checkpointer: Checkpointer) -> Result<Writer, StoreError> {
        let (jobs, inbox) = mpsc::channel::<Message>();
        let thread = std::thread::Builder::new()
            .name("tollgate-sqlite-writer".into())
            .spawn(move || {
                while let Ok(Message::Job(job)) = inbox.recv() {
                    let run = std::panic::AssertUnwindSafe(|| job(&mut conn));
                    if std::panic::catch_unwind(run).is_err() {
                        tracing::error!(
                            "a SQLite write job panicked; its transaction is rolled back"
                        );
                        if !conn.is_autocommit() {
                            let _ = conn.execute_batch("ROLLBACK");
                        }
                    }
                    checkpointer.poke();
                }
                // Stop the checkpointer first: the writer's connection, closing last,
                // checkpoints whatever is left and removes the WAL.
                let Checkpointer { poke, thread } = checkpointer;
                drop(poke);
                let _ = thread.join();
            })
            .map_err(|e| StoreError::Unavailable(format!("cannot start the SQLite writer: {e}")))?;
        Ok(Writer {
            jobs: Mutex::new(Some(jobs)),
            thread: Mutex::new(Some(thread)),
        })
    }

    fn send(&self, job: Job) -> Result<(), StoreError> {
        let jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        jobs.as_ref()
            .ok_or_else(closed)?
            .send(Message::Job(job))
            .map_err(|_| stopped())
    }

    async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.send(Box::new(move |conn| {
            let _ = reply.send(f(conn));
        }))?;
        answer.await.map_err(|_| stopped())?
    }

    fn stop(&self) -> Option<JoinHandle<()>> {
        if let Some(jobs) = self.jobs.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = jobs.send(Message::Stop);
        }
        self.thread.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// What a transaction sends the writer thread.
enum Command {
    Run(Sql, Want, oneshot::Sender<Result<Answer, StoreError>>),
    Script(String, oneshot::Sender<Result<(), StoreError>>),
    Commit(oneshot::Sender<Result<(), StoreError>>),
}

/// A transaction open on the writer thread.
pub(crate) struct Session {
    commands: tokio::sync::mpsc::UnboundedSender<Command>,
}

impl Session {
    /// Runs one statement inside the transaction.
    pub(super) async fn run(&mut self, sql: Sql, want: Want) -> Result<Answer, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Run(sql, want, reply))
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Runs statements separated by semicolons, without bind values (a migration).
    pub(super) async fn script(&mut self, text: &str) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Script(text.to_string(), reply))
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    pub(super) async fn commit(self) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Commit(reply))
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// Read-only connections, opened as needed up to a limit.
#[derive(Debug)]
struct ReadPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: Semaphore,
}

impl ReadPool {
    fn new(path: PathBuf, size: usize) -> ReadPool {
        ReadPool {
            path,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(size.max(1)),
        }
    }

    fn put(&self, conn: Connection) {
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(conn);
    }

    async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let _permit = self.permits.acquire().await.map_err(|_| closed())?;
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut conn = match idle {
            Some(conn) => conn,
            None => open_reader(&self.path)?,
        };
        let (conn, out) = tokio::task::spawn_blocking(move || {
            let out = f(&mut conn);
            (conn, out)
        })
        .await
        .map_err(|e| StoreError::Invariant(format!("a SQLite read failed: {e}")))?;
        self.put(conn);
        out
    }

    fn close(&self) {
        self.permits.close();
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

fn open_writer(opts: &Options) -> Result<Connection, StoreError> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if opts.create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn =
        Connection::open_with_flags(&opts.path, flags).map_err(|e| cannot_open(&opts.path, e))?;
    // Only another process can hold the write lock (a `tollgate migrate`, a backup).
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = {}; PRAGMA foreign_keys = ON; \
         PRAGMA cache_size = -16000; PRAGMA wal_autocheckpoint = {WRITER_CHECKPOINT_PAGES};",
        if opts.synchronous_full {
            "FULL"
        } else {
            "NORMAL"
        }
    ))?;
    conn.set_prepared_statement_cache_capacity(128);
    Ok(conn)
}

/// The checkpointer's connection: it writes only the database file, from the WAL, and reads
/// nothing, so it needs no page cache to speak of.
fn open_checkpointer(path: &Path) -> Result<Connection, StoreError> {
    open_with(path, OpenFlags::SQLITE_OPEN_READ_WRITE, 1000)
}

fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let conn = open_with(path, OpenFlags::SQLITE_OPEN_READ_ONLY, 16000)?;
    conn.set_prepared_statement_cache_capacity(128);
    Ok(conn)
}

/// A connection to an existing database, opened with `access`, waiting up to 10 s for
/// another process's write lock, with a page cache of `cache_kib` KiB.
fn open_with(path: &Path, access: OpenFlags, cache_kib: u32) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        access | OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| cannot_open(path, e))?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.execute_batch(&format!("PRAGMA cache_size = -{cache_kib};"))?;
    Ok(conn)
}

fn cannot_open(path: &Path, e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(format!("cannot open {} ({e})", path.display()))
}

/// Runs one statement on `conn`.
fn run(conn: &Connection, sql: &Sql, want: Want) -> Result<Answer, StoreError> {
    let mut stmt = conn.prepare_cached(sql.text())?;
    bind(&mut stmt, sql.args())?;
    let columns: Arc<[String]> = match want {
        Want::Rows | Want::First => stmt.column_names().into_iter().map(String::from).collect(),
        Want::Count => Arc::from(Vec::new()),
    };
    let mut rows = Vec::new();
    let mut raw = stmt.raw_query();
    while let Some(r) = raw.next()? {
        if want == Want::Count {
            continue;
        }
        let values = (0..columns.len())
            .map(|i| r.get::<_, Value>(i))
            .collect::<Result<Vec<_>, _>>()?;
        rows.push(Row(Inner::Sqlite {
            columns: columns.clone(),
            values,
        }));
        if want == Want::First {
            break;
        }
    }
    drop(raw);
    Ok(Answer {
        changed: if want == Want::Count {
            conn.changes()
        } else {
            0
        },
        rows,
    })
}

/// Binds `args` to the statement's parameters: `$N` and `?N` take value N, a bare `?` the
/// value at its position.
pub(crate) fn bind(stmt: &mut Statement<'_>, args: &[Arg]) -> Result<(), StoreError> {
    for i in 1..=stmt.parameter_count() {
        let n = match stmt.parameter_name(i) {
            Some(name) => name
                .get(1..)
                .and_then(|d| d.parse::<usize>().ok())
                .ok_or_else(|| {
                    StoreError::Invariant(format!("parameter {name} is not numbered"))
                })?,
            None => i,
        };
        let arg = n
            .checked_sub(1)
            .and_then(|k| args.get(k))
            .ok_or_else(|| StoreError::Invariant(format!("no value bound for parameter {n}")))?;
        stmt.raw_bind_parameter(i, arg)?;
    }
    Ok(())
}

fn closed() -> StoreError {
    StoreError::Unavailable("the store is closed".into())
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the SQLite writer stopped".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn committed_pages_reach_the_database_file_without_the_writer_checkpointing() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("tollgate.db");
        let db = Sqlite::open(&Options {
            path: path.clone(),
            synchronous_full: true,
            create: true,
            readers: 1,
        })
        .expect("open");
        db.write(|c| Ok(c.execute_batch("CREATE TABLE t (n BIGINT)")?))
            .await
            .expect("create a table");
        for n in 0..50_i64 {
            db.write(move |c| Ok(c.execute("INSERT INTO t (n) VALUES (?1)", [n])?))
                .await
                .expect("insert");
        }
        // Fifty small commits are far below the writer's own threshold: only the
        // checkpointer copies their pages from the WAL into the database file.
        let copy = dir.path().join("copy.db");
        let mut rows = 0;
        for _ in 0..100 {
            std::fs::copy(&path, &copy).expect("copy the database file alone");
            rows = Connection::open(&copy)
                .and_then(|c| c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get::<_, i64>(0)))
                .unwrap_or(0);
            if rows == 50 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            rows, 50,
            "the database file alone holds every committed row"
        );
        db.close().await;
    }
}
