//! Rows, decoded by column name.
//!
//! A [`Row`] is what a statement answers on either engine. Its values are read by name,
//! never by position, so a column added to a select list cannot shift another; [`row!`]
//! declares a private row struct whose fields are the columns it reads, and the operations
//! convert those into domain types.

use std::sync::Arc;

use rusqlite::types::Value;
use sqlx::postgres::PgRow;
use sqlx::{Column as _, Row as _, TypeInfo as _};

use crate::StoreError;

/// One row a statement answered.
pub(crate) struct Row(pub(super) Inner);

pub(super) enum Inner {
    Sqlite {
        columns: Arc<[String]>,
        values: Vec<Value>,
    },
    Postgres(PgRow),
}

impl std::fmt::Debug for Row {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Inner::Sqlite { columns, values } => f
                .debug_map()
                .entries(columns.iter().zip(values.iter()))
                .finish(),
            Inner::Postgres(row) => write!(f, "PgRow({} columns)", row.len()),
        }
    }
}

impl Row {
    /// The value of column `name`.
    pub(crate) fn get<T: Column>(&self, name: &str) -> Result<T, StoreError> {
        match &self.0 {
            Inner::Sqlite { columns, values } => {
                let i = columns
                    .iter()
                    .position(|c| c == name)
                    .ok_or_else(|| missing(name))?;
                T::from_sqlite(&values[i]).map_err(|why| mistyped(name, &why))
            }
            Inner::Postgres(row) => {
                let column = row
                    .columns()
                    .iter()
                    .find(|c| c.name() == name)
                    .ok_or_else(|| missing(name))?;
                T::from_postgres(row, column.ordinal(), column.type_info().name())
                    .map_err(|why| mistyped(name, &why))
            }
        }
    }
}

impl From<PgRow> for Row {
    /// A row the PostgreSQL append read through sqlx directly.
    fn from(row: PgRow) -> Row {
        Row(Inner::Postgres(row))
    }
}

impl Row {
    /// A copy of a row the SQLite append read through rusqlite directly.
    pub(crate) fn copy_of(r: &rusqlite::Row<'_>) -> Result<Row, StoreError> {
        let stmt = r.as_ref();
        let columns: Arc<[String]> = stmt.column_names().into_iter().map(String::from).collect();
        let values = (0..columns.len())
            .map(|i| r.get::<_, Value>(i))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Row(Inner::Sqlite { columns, values }))
    }
}

fn missing(name: &str) -> StoreError {
    StoreError::Invariant(format!("no column {name} in the row"))
}

fn mistyped(name: &str, why: &str) -> StoreError {
    StoreError::Invariant(format!("column {name}: {why}"))
}

/// A Rust value one column decodes into.
pub(crate) trait Column: Sized {
    /// From a SQLite value.
    fn from_sqlite(v: &Value) -> Result<Self, String>;
    /// From column `i` of a PostgreSQL row, whose type is named `ty`.
    fn from_postgres(row: &PgRow, i: usize, ty: &str) -> Result<Self, String>;
}

fn pg<'r, T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>>(
    row: &'r PgRow,
    i: usize,
) -> Result<T, String> {
    row.try_get(i).map_err(|e| e.to_string())
}

fn is_null(row: &PgRow, i: usize) -> bool {
    use sqlx::ValueRef as _;
    row.try_get_raw(i).map(|v| v.is_null()).unwrap_or(false)
}

fn unexpected(v: &Value, wanted: &str) -> String {
    format!("{v:?} is not {wanted}")
}

impl Column for i64 {
    fn from_sqlite(v: &Value) -> Result<i64, String> {
        match v {
            Value::Integer(n) => Ok(*n),
            other => Err(unexpected(other, "an integer")),
        }
    }

    fn from_postgres(row: &PgRow, i: usize, ty: &str) -> Result<i64, String> {
        match ty {
            "INT2" => pg::<i16>(row, i).map(i64::from),
            "INT4" => pg::<i32>(row, i).map(i64::from),
            _ => pg::<i64>(row, i),
        }
    }
}

impl Column for f64 {
    fn from_sqlite(v: &Value) -> Result<f64, String> {
        match v {
            Value::Real(x) => Ok(*x),
            Value::Integer(n) => Ok(*n as f64),
            other => Err(unexpected(other, "a number")),
        }
    }

    fn from_postgres(row: &PgRow, i: usize, ty: &str) -> Result<f64, String> {
        match ty {
            "FLOAT4" => pg::<f32>(row, i).map(f64::from),
            "INT8" | "INT4" | "INT2" => i64::from_postgres(row, i, ty).map(|n| n as f64),
            _ => pg::<f64>(row, i),
        }
    }
}

impl Column for bool {
    /// Stored as 0 or 1 (a PostgreSQL `BOOLEAN` reads too).
    fn from_sqlite(v: &Value) -> Result<bool, String> {
        i64::from_sqlite(v).map(|n| n != 0)
    }

    fn from_postgres(row: &PgRow, i: usize, ty: &str) -> Result<bool, String> {
        match ty {
            "BOOL" => pg::<bool>(row, i),
            _ => i64::from_postgres(row, i, ty).map(|n| n != 0),
        }
    }
}

impl Column for String {
    fn from_sqlite(v: &Value) -> Result<String, String> {
        match v {
            Value::Text(t) => Ok(t.clone()),
            other => Err(unexpected(other, "text")),
        }
    }

    fn from_postgres(row: &PgRow, i: usize, _ty: &str) -> Result<String, String> {
        pg::<String>(row, i)
    }
}

impl Column for Vec<u8> {
    fn from_sqlite(v: &Value) -> Result<Vec<u8>, String> {
        match v {
            Value::Blob(b) => Ok(b.clone()),
            other => Err(unexpected(other, "a blob")),
        }
    }

    fn from_postgres(row: &PgRow, i: usize, _ty: &str) -> Result<Vec<u8>, String> {
        pg::<Vec<u8>>(row, i)
    }
}

impl<T: Column> Column for Option<T> {
    fn from_sqlite(v: &Value) -> Result<Option<T>, String> {
        match v {
            Value::Null => Ok(None),
            other => T::from_sqlite(other).map(Some),
        }
    }

    fn from_postgres(row: &PgRow, i: usize, ty: &str) -> Result<Option<T>, String> {
        if is_null(row, i) {
            Ok(None)
        } else {
            T::from_postgres(row, i, ty).map(Some)
        }
    }
}

/// A type a whole row decodes into.
pub(crate) trait FromRow: Sized {
    /// Reads the row's columns by name.
    fn from_row(row: &Row) -> Result<Self, StoreError>;
}

/// Declares a private row struct whose fields are named after the columns they read, and
/// decodes it by those names:
///
/// ```ignore
/// row! {
///     struct BalanceRow { currency: String, balance_nanos: i64 }
/// }
/// ```
macro_rules! row {
    ($(#[$meta:meta])* $vis:vis struct $name:ident { $($fvis:vis $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        $vis struct $name {
            $($fvis $field: $ty,)*
        }

        impl $crate::db::FromRow for $name {
            fn from_row(row: &$crate::db::Row) -> Result<Self, $crate::StoreError> {
                Ok($name {
                    $($field: row.get(stringify!($field))?,)*
                })
            }
        }
    };
}
pub(crate) use row;
