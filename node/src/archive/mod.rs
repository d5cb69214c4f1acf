//! The archive store: one SQLite file (WAL) in the node's `--data` folder, migrated at start-up.
//!
//! Every write of an import happens inside one transaction, so an import killed part-way leaves the
//! archive as it was. Queries here never log household fields.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use futures_util::TryStreamExt;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Row, Sqlite, SqlitePool, Transaction};

pub mod bulk;

use crate::columns::Kind;
use crate::import::validate::{Known, ValidRow, Value};

/// The archive's file name inside `--data`.
pub const FILE_NAME: &str = "archive.db";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "no archive in {0}: run `bangfu-node init --data {0} --org CODE --name NAME` first / 尚未初始化"
    )]
    NotInitialised(String),
    #[error("archive database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("archive database: {0}")]
    Sqlite(#[from] bulk::SqliteError),
    #[error("archive migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored row no longer reads as what was written (the database was edited by hand): said,
    /// not panicked on, so the rest of the node keeps working.
    #[error("a stored row is unreadable: {0} / 数据库记录损坏")]
    Corrupt(String),
    /// The archive file could not be created owner-only.
    #[error("creating {path}: {detail} / 无法创建档案库文件")]
    Create { path: String, detail: String },
}

/// Counts of what the archive holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub households: i64,
    pub on_file: i64,
    pub lifted: i64,
    pub removed: i64,
    pub members: i64,
    pub aid: i64,
}

/// One line of the import log.
#[derive(Debug, Clone)]
pub struct ImportLogEntry {
    pub file_name: String,
    pub sha256: String,
    pub kind: Kind,
    pub imported_at: String,
    pub rows_read: u64,
    pub rows_new: u64,
    pub rows_updated: u64,
    pub rows_unchanged: u64,
    pub rows_rejected: u64,
}

#[derive(Clone)]
pub struct Archive {
    pool: SqlitePool,
}

impl Archive {
    /// Opens (and with `create`, creates) the archive in `data`, applying migrations.
    pub async fn open(data: &Path, create: bool) -> Result<Archive, Error> {
        let path = data.join(FILE_NAME);
        if !create && !path.exists() {
            return Err(Error::NotInitialised(data.display().to_string()));
        }
        if create && !path.exists() {
            // Made 0600 before SQLite opens it: SQLite gives its -wal and -shm files the mode of
            // the database file, so the whole archive stays its owner's.
            crate::private::create(&path).map_err(|e| Error::Create {
                path: path.display().to_string(),
                detail: e.to_string(),
            })?;
        }
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(&path)
            .create_if_missing(create)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // A 64 MiB page cache keeps the indexes of a million-household import in memory.
            .pragma("cache_size", "-65536")
            .pragma("temp_store", "memory");
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Archive { pool })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Every household's 职工编号 and 身份证号, for the duplicate and reference rules.
    pub async fn known(&self) -> Result<Known, Error> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM households")
            .fetch_one(&self.pool)
            .await?;
        let mut known = Known::with_capacity(n as usize);
        let mut rows = sqlx::query("SELECT staff_no, id_number FROM households").fetch(&self.pool);
        while let Some(row) = rows.try_next().await? {
            known.insert(
                row.get_unchecked::<&str, _>(0),
                row.get_unchecked::<&str, _>(1),
            );
        }
        Ok(known)
    }

    /// A write transaction. `BEGIN IMMEDIATE` takes the write lock first, waiting (busy_timeout) for
    /// another process's import to finish: a deferred transaction that has read and then writes
    /// fails at once with "database is locked" when another writer committed meanwhile, which
    /// `serve` met while an import ran beside it.
    pub async fn begin(&self) -> Result<Transaction<'static, Sqlite>, Error> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    pub async fn counts(&self) -> Result<Counts, Error> {
        let row = sqlx::query(
            "SELECT count(*), \
                    coalesce(sum(status = '在档'), 0), coalesce(sum(status = '已脱困'), 0), coalesce(sum(status = '已剔除'), 0), \
                    (SELECT count(*) FROM members), (SELECT count(*) FROM aid) \
             FROM households",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(Counts {
            households: row.get(0),
            on_file: row.get(1),
            lifted: row.get(2),
            removed: row.get(3),
            members: row.get(4),
            aid: row.get(5),
        })
    }

    /// Streams the archive's rows of `kind`, in key order, aligned with the kind's columns.
    pub fn rows(
        &self,
        kind: Kind,
    ) -> impl futures_util::Stream<Item = Result<Vec<Option<Value>>, sqlx::Error>> + '_ {
        let columns: Vec<&str> = kind.columns().iter().map(|c| c.key).collect();
        let order = match kind {
            Kind::Households => "staff_no",
            Kind::Members => "staff_no, relation, name",
            Kind::Aid => "staff_no, date, kind, amount, note",
        };
        let sql = format!(
            "SELECT {} FROM {} ORDER BY {order}",
            columns.join(", "),
            table(kind)
        );
        let width = columns.len();
        sqlx::query(AssertSqlSafe(sql))
            .fetch(&self.pool)
            .map_ok(move |row| row_values(&row, width))
    }

    pub async fn close(self) {
        self.pool.close().await;
    }
}

fn row_values(row: &SqliteRow, width: usize) -> Vec<Option<Value>> {
    use sqlx::ValueRef;
    (0..width)
        .map(|i| {
            let raw = row.try_get_raw(i).ok()?;
            if raw.is_null() {
                return None;
            }
            match row.try_get::<i64, _>(i) {
                Ok(n) if raw.type_info().to_string() == "INTEGER" => Some(Value::Int(n)),
                _ => row.try_get::<String, _>(i).ok().map(Value::Text),
            }
        })
        .map(|v| match v {
            // aid notes are stored as '' (they are part of the record's identity); '' is an empty cell
            Some(Value::Text(t)) if t.is_empty() => None,
            other => other,
        })
        .collect()
}

pub fn table(kind: Kind) -> &'static str {
    match kind {
        Kind::Households => "households",
        Kind::Members => "members",
        Kind::Aid => "aid",
    }
}

/// The upsert of `n` rows of `kind`. A row equal to what is stored is left untouched, so that
/// re-importing a file changes nothing and `rows_affected` counts only real changes.
fn upsert_sql(kind: Kind, n: usize) -> String {
    let columns: Vec<&str> = kind.columns().iter().map(|c| c.key).collect();
    let row = format!("({})", vec!["?"; columns.len()].join(","));
    let mut sql = format!(
        "INSERT INTO {} ({}) VALUES ",
        table(kind),
        columns.join(", ")
    );
    sql.push_str(&vec![row.as_str(); n].join(","));
    let key: &[&str] = match kind {
        Kind::Households => &["staff_no"],
        Kind::Members => &["staff_no", "name", "relation"],
        Kind::Aid => return sql + " ON CONFLICT DO NOTHING",
    };
    let rest: Vec<&str> = columns
        .iter()
        .copied()
        .filter(|c| !key.contains(c))
        .collect();
    let set: Vec<String> = rest.iter().map(|c| format!("{c} = excluded.{c}")).collect();
    let changed: Vec<String> = rest
        .iter()
        .map(|c| format!("{t}.{c} IS NOT excluded.{c}", t = table(kind)))
        .collect();
    sql.push_str(&format!(
        " ON CONFLICT ({}) DO UPDATE SET {} WHERE {}",
        key.join(", "),
        set.join(", "),
        changed.join(" OR ")
    ));
    sql
}

/// Writes a batch of valid rows; returns how many rows were inserted or changed.
pub async fn upsert(
    tx: &mut Transaction<'static, Sqlite>,
    kind: Kind,
    rows: &mut [ValidRow],
) -> Result<u64, Error> {
    if kind == Kind::Aid {
        // An aid record's note is part of its identity, so "no note" is stored as '' (NULLs are never equal).
        let note = kind.index_of("note");
        for row in rows.iter_mut() {
            row.values[note].get_or_insert_with(|| Value::Text(String::new()));
        }
    }
    let sql = upsert_sql(kind, 1);
    let mut handle = tx.lock_handle().await?;
    let changed = bulk::execute_rows(&mut handle, &sql, rows)?;
    Ok(changed)
}

pub async fn log_import(
    tx: &mut Transaction<'static, Sqlite>,
    e: &ImportLogEntry,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO imports (file_name, sha256, kind, imported_at, rows_read, rows_new, rows_updated, rows_unchanged, rows_rejected) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&e.file_name)
    .bind(&e.sha256)
    .bind(e.kind.key())
    .bind(&e.imported_at)
    .bind(e.rows_read as i64)
    .bind(e.rows_new as i64)
    .bind(e.rows_updated as i64)
    .bind(e.rows_unchanged as i64)
    .bind(e.rows_rejected as i64)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_household_upsert_leaves_equal_rows_alone() {
        let sql = upsert_sql(Kind::Households, 2);
        assert!(sql.contains("ON CONFLICT (staff_no) DO UPDATE SET name = excluded.name"));
        assert!(sql.contains("WHERE households.name IS NOT excluded.name OR"));
        assert_eq!(sql.matches("),(").count(), 1);
    }
}
