//! The import's hot path: rows written through one prepared statement on SQLite's own handle,
//! inside the import's sqlx transaction. The only module of the workspace allowed `unsafe` code
//! (`[workspace.lints]` denies it elsewhere): its functions take sqlx's locked handle, so the
//! exclusive use of the connection that the FFI calls need is proven by the borrow, and callers stay safe.
#![allow(unsafe_code)]
//!
//! Why not sqlx's query API here: binding through it copies every value (SQLITE_TRANSIENT) and
//! allocates per argument; for a million 35-column rows that is most of the import's time. Here each
//! value is bound in place (SQLITE_STATIC) from the row that owns it, for the one step that uses it.

use std::ffi::{CStr, CString, c_int};
use std::ptr::{self, NonNull};

use libsqlite3_sys as ffi;
use sqlx::sqlite::LockedSqliteHandle;

use crate::import::validate::{ValidRow, Value};

/// A failure reported by SQLite itself.
#[derive(Debug, thiserror::Error)]
#[error("SQLite: {0}")]
pub struct SqliteError(pub String);

fn error(db: *mut ffi::sqlite3) -> SqliteError {
    // SAFETY: `db` is a live connection; sqlite3_errmsg returns a NUL-terminated string it owns.
    let msg = unsafe { CStr::from_ptr(ffi::sqlite3_errmsg(db)) };
    SqliteError(msg.to_string_lossy().into_owned())
}

/// A statement prepared on a connection, finalised on drop.
struct Statement {
    db: *mut ffi::sqlite3,
    stmt: *mut ffi::sqlite3_stmt,
}

impl Drop for Statement {
    fn drop(&mut self) {
        // SAFETY: `stmt` came from sqlite3_prepare_v2 on `db` and is finalised exactly once.
        unsafe { ffi::sqlite3_finalize(self.stmt) };
    }
}

fn prepare(db: NonNull<ffi::sqlite3>, sql: &str) -> Result<Statement, SqliteError> {
    let db = db.as_ptr();
    let sql = CString::new(sql).map_err(|_| SqliteError("SQL with a NUL byte".into()))?;
    let mut stmt = ptr::null_mut();
    // SAFETY: a live connection (the callers' contract) and NUL-terminated SQL; `stmt` receives the
    // new statement, owned from here by `Statement`.
    let rc = unsafe { ffi::sqlite3_prepare_v2(db, sql.as_ptr(), -1, &mut stmt, ptr::null_mut()) };
    if rc != ffi::SQLITE_OK {
        return Err(error(db));
    }
    Ok(Statement { db, stmt })
}

/// Runs `sql` (one row's worth of `?` placeholders) once per row; returns rows changed.
pub fn execute_rows(
    handle: &mut LockedSqliteHandle<'_>,
    sql: &str,
    rows: &[ValidRow],
) -> Result<u64, SqliteError> {
    // The locked handle is a live connection this caller holds alone while it is borrowed.
    let db = handle.as_raw_handle();
    let stmt = prepare(db, sql)?;
    let mut changed = 0u64;
    for row in rows {
        for (i, value) in row.values.iter().enumerate() {
            let col = (i + 1) as c_int;
            // SAFETY: the statement is live; with SQLITE_STATIC the text must outlive the step below,
            // and it does: `row` is borrowed for the whole iteration and bindings are replaced before
            // the next row is stepped.
            let rc = unsafe {
                match value {
                    Some(Value::Text(t)) => ffi::sqlite3_bind_text(
                        stmt.stmt,
                        col,
                        t.as_ptr().cast(),
                        t.len() as c_int,
                        ffi::SQLITE_STATIC(),
                    ),
                    Some(Value::Int(n)) => ffi::sqlite3_bind_int64(stmt.stmt, col, *n),
                    None => ffi::sqlite3_bind_null(stmt.stmt, col),
                }
            };
            if rc != ffi::SQLITE_OK {
                return Err(error(stmt.db));
            }
        }
        // SAFETY: a prepared statement with every parameter bound.
        let rc = unsafe { ffi::sqlite3_step(stmt.stmt) };
        if rc != ffi::SQLITE_DONE {
            let e = error(stmt.db);
            // SAFETY: resetting a statement that failed is how SQLite wants it left.
            unsafe { ffi::sqlite3_reset(stmt.stmt) };
            return Err(e);
        }
        // SAFETY: live connection; counts rows the last statement inserted or updated.
        changed += unsafe { ffi::sqlite3_changes(stmt.db) } as u64;
        // SAFETY: ready the statement for the next row.
        unsafe { ffi::sqlite3_reset(stmt.stmt) };
    }
    Ok(changed)
}

/// One result row, read in place: valid only inside the callback of [`for_each_row`].
pub struct ResultRow {
    stmt: *mut ffi::sqlite3_stmt,
}

impl ResultRow {
    /// The column's text, or `None` for NULL.
    pub fn text(&self, i: usize) -> Option<&str> {
        let col = i as c_int;
        // SAFETY: `stmt` has a current row (we are inside a step that returned SQLITE_ROW); the text
        // pointer stays valid until the next step, which cannot happen while `self` is borrowed.
        unsafe {
            if ffi::sqlite3_column_type(self.stmt, col) == ffi::SQLITE_NULL {
                return None;
            }
            let p = ffi::sqlite3_column_text(self.stmt, col);
            let n = ffi::sqlite3_column_bytes(self.stmt, col) as usize;
            if p.is_null() {
                return Some("");
            }
            // The archive only ever stores UTF-8 text.
            std::str::from_utf8(std::slice::from_raw_parts(p, n)).ok()
        }
    }

    /// The column as an integer, or `None` for NULL.
    pub fn int(&self, i: usize) -> Option<i64> {
        let col = i as c_int;
        // SAFETY: as for `text`.
        unsafe {
            if ffi::sqlite3_column_type(self.stmt, col) == ffi::SQLITE_NULL {
                None
            } else {
                Some(ffi::sqlite3_column_int64(self.stmt, col))
            }
        }
    }
}

/// Runs a query and hands each row to `f` without copying it: reading a million households'
/// facts through sqlx's row API took 11 s, most of it decoding into owned values.
pub fn for_each_row(
    handle: &mut LockedSqliteHandle<'_>,
    sql: &str,
    mut f: impl FnMut(&ResultRow),
) -> Result<(), SqliteError> {
    // As in [`execute_rows`]: live, and held by this caller alone while borrowed.
    let db = handle.as_raw_handle();
    let stmt = prepare(db, sql)?;
    loop {
        // SAFETY: a prepared statement without parameters.
        match unsafe { ffi::sqlite3_step(stmt.stmt) } {
            ffi::SQLITE_ROW => f(&ResultRow { stmt: stmt.stmt }),
            ffi::SQLITE_DONE => return Ok(()),
            _ => return Err(error(stmt.db)),
        }
    }
}
