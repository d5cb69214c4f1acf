//! Group commit of accepted reports: one writer task per store takes every report the intake has
//! checked, and commits all that are waiting in one transaction, answering each request only after
//! that commit (so an acknowledged report is as durable as before, one fsync per batch instead of
//! one per report).
//!
//! Batches form by themselves: while one commit runs, the next reports queue, and the writer takes
//! all of them (up to [`MAX_BATCH`]) at once. A lone report is committed at once, with no waiting
//! for company. Versions keep their meaning inside a batch: the transaction sees its own inserts,
//! so a second copy of a version is a duplicate (same hash) or a conflict (other content) exactly
//! as if the first had been committed before it. If a batch fails, each of its reports is retried
//! in a transaction of its own, so one bad row cannot fail its neighbours.

use std::sync::Arc;

use sqlx::AnyPool;
use tokio::sync::{mpsc, oneshot};

use crate::store::{self, Store};

/// The most reports committed in one transaction.
pub const MAX_BATCH: usize = 256;

/// A checked report, ready to store.
#[derive(Debug, Clone)]
pub struct Row {
    pub org: String,
    pub campaign: String,
    pub version: i64,
    /// The body's SHA-256: a version's identity.
    pub hash: String,
    pub body: String,
    pub received_at: String,
    pub on_time: bool,
    /// The sender's detached JWS over `body` (None only in rows planted by tests of old stores).
    pub jws: Option<String>,
    /// The serial of the certificate that signed it, as verified at intake.
    pub signer: Option<String>,
}

/// What storing a row came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// A new version, committed.
    Inserted,
    /// This version with this content was stored before (or earlier in the same batch).
    Duplicate { on_time: bool },
    /// This version is stored with other content.
    Conflict,
}

/// The sending end of a store's writer task.
#[derive(Debug)]
pub(crate) struct Writer {
    tx: mpsc::Sender<Pending>,
}

#[derive(Debug)]
struct Pending {
    row: Row,
    reply: oneshot::Sender<Result<Stored, store::Error>>,
}

/// The writer of a store, started on first use on the caller's runtime.
pub(crate) type Slot = Arc<std::sync::OnceLock<Writer>>;

/// Stores a checked report through the store's writer, returning once its transaction is committed.
pub async fn store(store: &Store, row: Row) -> Result<Stored, store::Error> {
    let writer = store.ingest.get_or_init(|| {
        let (tx, rx) = mpsc::channel(MAX_BATCH * 4);
        tokio::spawn(run(store.pool.clone(), rx));
        Writer { tx }
    });
    let (reply, answer) = oneshot::channel();
    match writer.tx.send(Pending { row, reply }).await {
        Ok(()) => answer.await.unwrap_or_else(|_| {
            Err(store::Error::Corrupt(
                "the intake's writer stopped before answering".into(),
            ))
        }),
        // The writer's runtime has ended (a store shared across runtimes): commit this one here.
        Err(mpsc::error::SendError(pending)) => {
            write(&store.pool, std::slice::from_ref(&pending.row))
                .await
                .map(|s| s[0])
                .map_err(Into::into)
        }
    }
}

/// The writer task: takes whatever is waiting, commits it as one transaction, answers, repeats.
async fn run(pool: AnyPool, mut rx: mpsc::Receiver<Pending>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let rows: Vec<Row> = batch.iter().map(|p| p.row.clone()).collect();
        match write(&pool, &rows).await {
            Ok(outcomes) => {
                for (p, o) in batch.drain(..).zip(outcomes) {
                    let _ = p.reply.send(Ok(o));
                }
            }
            Err(e) => {
                tracing::warn!(reports = rows.len(), error = %e, "a batch of reports did not commit; committing them one by one");
                for p in batch.drain(..) {
                    let one = write(&pool, std::slice::from_ref(&p.row))
                        .await
                        .map(|s| s[0])
                        .map_err(Into::into);
                    let _ = p.reply.send(one);
                }
            }
        }
    }
}

/// Inserts `rows` in one transaction, in order, and commits: one batch of the writer (public so
/// that tests can make a batch of their choosing).
pub async fn write_batch(store: &Store, rows: &[Row]) -> Result<Vec<Stored>, store::Error> {
    Ok(write(&store.pool, rows).await?)
}

async fn write(pool: &AnyPool, rows: &[Row]) -> Result<Vec<Stored>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let inserted = sqlx::query(
            "INSERT INTO reports (org, campaign, version, hash, body, received_at, on_time, jws, signer) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (org, campaign, version) DO NOTHING",
        )
        .bind(row.org.as_str())
        .bind(row.campaign.as_str())
        .bind(row.version)
        .bind(row.hash.as_str())
        .bind(row.body.as_str())
        .bind(row.received_at.as_str())
        .bind(i64::from(row.on_time))
        .bind(row.jws.clone())
        .bind(row.signer.clone())
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 1 {
            out.push(Stored::Inserted);
            continue;
        }
        // Stored already: by an earlier commit or earlier in this transaction, which it sees.
        let (hash, on_time): (String, i64) = sqlx::query_as(
            "SELECT hash, on_time FROM reports WHERE org = $1 AND campaign = $2 AND version = $3",
        )
        .bind(row.org.as_str())
        .bind(row.campaign.as_str())
        .bind(row.version)
        .fetch_one(&mut *tx)
        .await?;
        out.push(if hash == row.hash {
            Stored::Duplicate {
                on_time: on_time != 0,
            }
        } else {
            Stored::Conflict
        });
    }
    tx.commit().await?;
    Ok(out)
}

/// How many report versions the store holds (all orgs and campaigns).
pub async fn stored_versions(store: &Store) -> Result<i64, store::Error> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM reports")
        .fetch_one(&store.pool)
        .await?;
    Ok(n)
}
