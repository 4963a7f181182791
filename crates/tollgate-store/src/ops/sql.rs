//! A small builder for statements with a variable number of placeholders (the filters of a
//! listing). sqlx's own `QueryBuilder` writes `?` under the `Any` driver, which
//! PostgreSQL does not accept; here PostgreSQL gets `$N`, and SQLite gets `?`, because
//! binding a numbered SQLite parameter looks its name up in a list (quadratic in the number
//! of parameters of a large insert).

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, Transaction};

use crate::db::{Db, Dialect};
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
impl From<&str> for Arg {
    fn from(v: &str) -> Arg {
        Arg::Text(Some(v.to_string()))
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
impl From<Vec<u8>> for Arg {
    fn from(v: Vec<u8>) -> Arg {
        Arg::Bytes(v)
    }
}
impl From<f64> for Arg {
    fn from(v: f64) -> Arg {
        Arg::Float(v)
    }
}

/// SQL text with its bind values.
#[derive(Debug)]
pub(crate) struct Sql {
    text: String,
    args: Vec<Arg>,
    numbered: bool,
}

impl Sql {
    pub(crate) fn new(dialect: Dialect, text: &str) -> Sql {
        Sql {
            text: text.to_string(),
            args: Vec::new(),
            numbered: dialect == Dialect::Postgres,
        }
    }

    /// Appends SQL text.
    pub(crate) fn push(&mut self, text: &str) -> &mut Sql {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder bound to `arg`.
    pub(crate) fn bind(&mut self, arg: impl Into<Arg>) -> &mut Sql {
        self.args.push(arg.into());
        if self.numbered {
            self.text.push('$');
            self.text.push_str(&self.args.len().to_string());
        } else {
            self.text.push('?');
        }
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

    /// The statement, ready to run.
    pub(crate) fn query(&self) -> Query<'_, Any, AnyArguments<'_>> {
        let mut q = sqlx::query(&self.text);
        for a in &self.args {
            q = match a {
                Arg::Int(v) => q.bind(*v),
                Arg::Text(v) => q.bind(v.as_deref()),
                Arg::Bytes(v) => q.bind(v.as_slice()),
                Arg::Float(v) => q.bind(*v),
            };
        }
        q
    }
}

/// Starts a write transaction. SQLite's is `IMMEDIATE`, taking the write lock up front, so a
/// transaction that reads before it writes can never fail to upgrade its lock.
pub(crate) async fn begin_write(db: &Db) -> Result<Transaction<'static, Any>, StoreError> {
    Ok(match db.dialect {
        Dialect::Sqlite => db.writer.begin_with("BEGIN IMMEDIATE").await?,
        Dialect::Postgres => db.writer.begin().await?,
    })
}

/// SQL written with `?N` placeholders, as the engine takes them (sqlx's `Any` driver passes
/// SQL through): PostgreSQL's `$N`.
pub(crate) fn numbered(dialect: Dialect, text: &str) -> String {
    match dialect {
        Dialect::Postgres => text.replace('?', "$"),
        Dialect::Sqlite => text.to_string(),
    }
}
