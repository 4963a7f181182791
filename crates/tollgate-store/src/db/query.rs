//! Statements and where they run.
//!
//! A [`Sql`] is SQL text with its bind values. Placeholders are `$N` (both engines read them:
//! PostgreSQL natively, SQLite by the number in the parameter's name) or, in text written
//! for SQLite only, `?`. A statement is built either fluently, `query("… $1 …").bind(x)`, or
//! piece by piece for a variable number of filters, `push("…")` and `push_bind(x)`, which
//! writes the next `$N` itself.
//!
//! It runs [`On`] the read side of a [`Db`] (a pooled connection, outside any transaction) or
//! inside a write transaction [`Tx`], and answers [`Row`]s that decode by column name.

use super::decode::{FromRow, Row};
use super::Answer;
use super::{postgres, sqlite, Db, Dialect, Engine};
use crate::StoreError;

/// A bind value.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Int(Option<i64>),
    Text(Option<String>),
    Bytes(Vec<u8>),
    Float(f64),
}

impl From<i64> for Arg {
    fn from(v: i64) -> Arg {
        Arg::Int(Some(v))
    }
}
impl From<Option<i64>> for Arg {
    fn from(v: Option<i64>) -> Arg {
        Arg::Int(v)
    }
}
impl From<bool> for Arg {
    /// Booleans are stored as 0 and 1 on both engines.
    fn from(v: bool) -> Arg {
        Arg::Int(Some(i64::from(v)))
    }
}
impl From<&str> for Arg {
    fn from(v: &str) -> Arg {
        Arg::Text(Some(v.to_string()))
    }
}
impl From<&String> for Arg {
    fn from(v: &String) -> Arg {
        Arg::Text(Some(v.clone()))
    }
}
impl From<String> for Arg {
    fn from(v: String) -> Arg {
        Arg::Text(Some(v))
    }
}
impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Arg {
        Arg::Text(v)
    }
}
impl From<Option<&str>> for Arg {
    fn from(v: Option<&str>) -> Arg {
        Arg::Text(v.map(str::to_string))
    }
}
impl From<Option<&String>> for Arg {
    fn from(v: Option<&String>) -> Arg {
        Arg::Text(v.cloned())
    }
}
impl From<&i64> for Arg {
    fn from(v: &i64) -> Arg {
        Arg::Int(Some(*v))
    }
}
impl From<i32> for Arg {
    fn from(v: i32) -> Arg {
        Arg::Int(Some(i64::from(v)))
    }
}
impl From<&Option<String>> for Arg {
    fn from(v: &Option<String>) -> Arg {
        Arg::Text(v.clone())
    }
}
impl From<Vec<u8>> for Arg {
    fn from(v: Vec<u8>) -> Arg {
        Arg::Bytes(v)
    }
}
impl From<&[u8]> for Arg {
    fn from(v: &[u8]) -> Arg {
        Arg::Bytes(v.to_vec())
    }
}
impl From<f64> for Arg {
    fn from(v: f64) -> Arg {
        Arg::Float(v)
    }
}

/// SQL text with its bind values.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sql {
    text: String,
    args: Vec<Arg>,
}

/// A statement whose text already holds its placeholders; bind them in order with
/// [`Sql::bind`].
pub(crate) fn query(text: impl Into<String>) -> Sql {
    Sql {
        text: text.into(),
        args: Vec::new(),
    }
}

impl Sql {
    /// A statement to build with [`Sql::push`] and [`Sql::push_bind`].
    pub(crate) fn new(text: &str) -> Sql {
        query(text)
    }

    /// Binds the next placeholder already in the text.
    pub(crate) fn bind(mut self, arg: impl Into<Arg>) -> Sql {
        self.args.push(arg.into());
        self
    }

    /// Appends SQL text.
    pub(crate) fn push(&mut self, text: &str) -> &mut Sql {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder (`$N`) bound to `arg`.
    pub(crate) fn push_bind(&mut self, arg: impl Into<Arg>) -> &mut Sql {
        self.args.push(arg.into());
        self.text.push('$');
        self.text.push_str(&self.args.len().to_string());
        self
    }

    /// The SQL text.
    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    /// The bind values, in order.
    pub(crate) fn args(&self) -> &[Arg] {
        &self.args
    }

    /// Runs the statement; how many rows it changed.
    pub(crate) async fn execute<'a>(&self, on: impl Into<On<'a>>) -> Result<u64, StoreError> {
        Ok(self.run(on.into(), sqlite::Want::Count).await?.changed)
    }

    /// Every row the statement answers.
    pub(crate) async fn fetch_all<'a>(
        &self,
        on: impl Into<On<'a>>,
    ) -> Result<Vec<Row>, StoreError> {
        Ok(self.run(on.into(), sqlite::Want::Rows).await?.rows)
    }

    async fn run(&self, on: On<'_>, want: sqlite::Want) -> Result<Answer, StoreError> {
        match on {
            On::Read(db) => match &db.engine {
                Engine::Sqlite(s) => s.read(self.clone(), want).await,
                Engine::Postgres(pool) => postgres::run(pool, self, want).await,
            },
            On::Write(db) => match &db.engine {
                Engine::Sqlite(s) => s.write_one(self.clone(), want).await,
                Engine::Postgres(pool) => postgres::run(pool, self, want).await,
            },
            On::Tx(tx) => match &mut tx.inner {
                TxInner::Sqlite(s) => s.run(self.clone(), want).await,
                TxInner::Postgres(t) => postgres::run(&mut ***t, self, want).await,
            },
        }
    }

    /// The first row, if any (the rest are not read).
    pub(crate) async fn fetch_optional<'a>(
        &self,
        on: impl Into<On<'a>>,
    ) -> Result<Option<Row>, StoreError> {
        let answer = self.run(on.into(), sqlite::Want::First).await?;
        Ok(answer.rows.into_iter().next())
    }

    /// The one row the statement must answer.
    pub(crate) async fn fetch_one<'a>(&self, on: impl Into<On<'a>>) -> Result<Row, StoreError> {
        // As sqlx answered a missing row.
        self.fetch_optional(on)
            .await?
            .ok_or_else(|| StoreError::NotFound("row".to_string()))
    }

    /// Every row, decoded.
    pub(crate) async fn fetch_all_as<'a, T: FromRow>(
        &self,
        on: impl Into<On<'a>>,
    ) -> Result<Vec<T>, StoreError> {
        self.fetch_all(on).await?.iter().map(T::from_row).collect()
    }

    /// The first row, if any, decoded.
    pub(crate) async fn fetch_optional_as<'a, T: FromRow>(
        &self,
        on: impl Into<On<'a>>,
    ) -> Result<Option<T>, StoreError> {
        self.fetch_optional(on)
            .await?
            .as_ref()
            .map(T::from_row)
            .transpose()
    }

    /// The one row, decoded.
    pub(crate) async fn fetch_one_as<'a, T: FromRow>(
        &self,
        on: impl Into<On<'a>>,
    ) -> Result<T, StoreError> {
        T::from_row(&self.fetch_one(on).await?)
    }
}

/// Where a statement runs.
pub(crate) enum On<'a> {
    /// A pooled connection outside any transaction.
    Read(&'a Db),
    /// One write outside any transaction (its own, on SQLite's writer thread).
    Write(&'a Db),
    /// Inside a write transaction.
    Tx(&'a mut Tx),
}

impl<'a> From<&'a Db> for On<'a> {
    fn from(db: &'a Db) -> On<'a> {
        On::Read(db)
    }
}

impl<'a> From<&'a mut Tx> for On<'a> {
    fn from(tx: &'a mut Tx) -> On<'a> {
        On::Tx(tx)
    }
}

/// A write transaction: on SQLite a session on the writer thread holding `BEGIN IMMEDIATE`,
/// on PostgreSQL a pooled connection's transaction. Dropped without [`Tx::commit`], it rolls
/// back.
pub(crate) struct Tx {
    pub(super) inner: TxInner,
}

pub(super) enum TxInner {
    Sqlite(sqlite::Session),
    Postgres(Box<sqlx::Transaction<'static, sqlx::Postgres>>),
}

impl std::fmt::Debug for Tx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.inner {
            TxInner::Sqlite(_) => "Tx(sqlite)",
            TxInner::Postgres(_) => "Tx(postgres)",
        })
    }
}

impl Tx {
    /// Runs statements separated by semicolons, without bind values (a migration).
    pub(crate) async fn script(&mut self, text: &str) -> Result<(), StoreError> {
        match &mut self.inner {
            TxInner::Sqlite(s) => s.script(text).await,
            TxInner::Postgres(t) => {
                sqlx::raw_sql(text).execute(&mut ***t).await?;
                Ok(())
            }
        }
    }

    /// Makes the transaction's writes durable.
    pub(crate) async fn commit(self) -> Result<(), StoreError> {
        match self.inner {
            TxInner::Sqlite(s) => s.commit().await,
            TxInner::Postgres(t) => Ok(t.commit().await?),
        }
    }
}

/// SQL written with `?N` placeholders, as the engine takes them: PostgreSQL's `$N`.
pub(crate) fn numbered(dialect: Dialect, text: &str) -> String {
    match dialect {
        Dialect::Postgres => text.replace('?', "$"),
        Dialect::Sqlite => text.to_string(),
    }
}
