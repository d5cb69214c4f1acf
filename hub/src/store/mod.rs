//! The hub's store: SQLite (`hub.db` in the data folder, WAL) by default, PostgreSQL when `init` was
//! given `--database-url postgres://…`.
//!
//! Both go through `sqlx::Any` with one set of portable migrations (`hub/migrations`: TEXT and BIGINT,
//! dates as ISO text, `$1` placeholders), so every query is written once and both databases run
//! the same code. The queries live with the module that owns their table (registry, campaigns,
//! intake); this module only opens the pool and migrates it.

pub mod ingest;

use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;

/// What can go wrong opening or using the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database refused a statement or the connection.
    #[error("database: {0}")]
    Sql(#[from] sqlx::Error),
    /// The migrations could not be applied.
    #[error("migrating the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored row no longer parses (someone edited the database by hand).
    #[error("a stored row is unreadable: {0}")]
    Corrupt(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The hub's database connection pool.
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) pool: AnyPool,
    /// The writer task that group-commits accepted reports ([`ingest`]), started on first use.
    pub(crate) ingest: ingest::Slot,
}

impl Store {
    /// Connects and applies the migrations.
    pub async fn open(url: &str) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let sqlite = url.starts_with("sqlite:");
        let pool = AnyPoolOptions::new()
            .max_connections(if sqlite { 4 } else { 8 })
            // sqlx pings every idle connection it hands out. A SQLite connection is a file this
            // process holds open, with nothing between to drop it; its ping was one more
            // round trip to the connection's thread on every query, the intake's included
            // (docs/BENCHMARKS.md). A server's connection can die idle, so PostgreSQL keeps it.
            .test_before_acquire(!sqlite)
            .connect(url)
            .await?;
        if sqlite {
            // Readers do not wait for the intake's writes (and sqlx's SQLite default is WAL too).
            sqlx::query("PRAGMA journal_mode=WAL")
                .execute(&pool)
                .await?;
        }
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Store {
            pool,
            ingest: Default::default(),
        })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}
