//! The one store implementation of Keyzone, on SQLite and PostgreSQL.
//!
//! Both dialects run the same SQL text (`$n` placeholders work in both); where
//! a statement must differ it is chosen inside this crate and nowhere else.
//! Each method body is written once and compiled per driver by [`on_pool!`],
//! so rows decode with each driver's native types.
//!
//! Schemas live in `migrations/{sqlite,postgres}`, are embedded in the binary
//! and applied at start; a released migration is never edited.

mod directory;
mod errors;
mod identity;
mod onboarding;
mod organizations;
mod secrets;
mod signin;
mod sql;
pub mod testing;
mod throttle;
mod vault;
mod zones;

use keyzone_core::store::{HealthCheck, StoreError};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::str::FromStr;
use std::time::Duration;

pub use errors::map_sqlx_error;

#[derive(Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$p` bound to the typed pool of whichever database this
/// store uses. The body is compiled once per driver.
macro_rules! on_pool {
    ($store:expr, |$p:ident| $body:expr) => {
        match &$store.pool {
            $crate::Pool::Sqlite($p) => $body,
            $crate::Pool::Postgres($p) => $body,
        }
    };
}
pub(crate) use on_pool;

/// The one read of a zone-owned row by id: `WHERE zone_id = $1 AND id = $2`.
/// Tenancy rests on this shape, so every entity's `get_…` uses it rather
/// than writing the query again. The row type converts with `TryFrom`.
macro_rules! get_in_zone {
    ($store:expr, $row:ty, $columns:expr, $table:literal, $zone:expr, $id:expr) => {{
        let sql = format!(
            "SELECT {} FROM {} WHERE zone_id = $1 AND id = $2",
            $columns, $table
        );
        let row: Option<$row> = $crate::on_pool!($store, |p| {
            sqlx::query_as(&sql)
                .bind($zone.as_str())
                .bind($id.as_str())
                .fetch_optional(p)
                .await
        })
        .map_err($crate::errors::map_sqlx_error)?;
        row.map(TryInto::try_into).transpose()
    }};
}
pub(crate) use get_in_zone;

/// One statement with its arguments, on either pool: the rows it touched.
macro_rules! exec {
    ($self:expr, $sql:expr, $($arg:expr),*) => {{
        $crate::on_pool!($self, |p| {
            sqlx::query($sql)
                $(.bind($arg))*
                .execute(p)
                .await
                .map(|r| r.rows_affected())
        })
        .map_err($crate::errors::map_sqlx_error)
    }};
}
pub(crate) use exec;

/// Opens a write transaction. SQLite's is `BEGIN IMMEDIATE`: it takes the
/// write lock at the start, so concurrent writers queue on the busy timeout
/// instead of failing with "database is locked" when a deferred
/// transaction tries to upgrade its read lock.
pub(crate) trait BeginWrite {
    type Db: sqlx::Database;
    fn begin_write(
        &self,
    ) -> impl std::future::Future<Output = Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>>
           + Send;
}

impl BeginWrite for SqlitePool {
    type Db = sqlx::Sqlite;
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        self.begin_with("BEGIN IMMEDIATE").await
    }
}

impl BeginWrite for PgPool {
    type Db = sqlx::Postgres;
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
        self.begin().await
    }
}

/// How often a transaction that the database aborted for contention
/// ([`errors::is_transient`]: a deadlock, a serialization failure, SQLite
/// busy) is run again before the caller gets a retryable 503.
const TRANSIENT_ATTEMPTS: u32 = 5;

/// Runs `tx` (a whole transaction) again when the database aborted it for
/// contention, with a short growing pause.
pub(crate) async fn retry_transient<T, F, Fut>(mut tx: F) -> Result<T, sqlx::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, sqlx::Error>>,
{
    let mut attempt = 0;
    loop {
        match tx().await {
            Err(e) if errors::is_transient(&e) && attempt + 1 < TRANSIENT_ATTEMPTS => {
                attempt += 1;
                let jitter = u64::from(rand::random::<u8>() % 20);
                tokio::time::sleep(Duration::from_millis(10 * u64::from(attempt) + jitter)).await;
            }
            r => return r,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Connection settings beyond the URL.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub max_connections: u32,
    /// PostgreSQL only: the schema to use (created if missing). Tests give
    /// each run its own schema so runs never see each other's rows.
    pub pg_schema: Option<String>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            pg_schema: None,
        }
    }
}

#[derive(Clone)]
pub struct Store {
    pool: Pool,
}

/// Why a database URL was refused, before any connection was attempted.
#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    #[error("unsupported database URL scheme {0:?}: use sqlite://… or postgres://…")]
    UnsupportedScheme(String),
    #[error("invalid database URL: {0}")]
    Invalid(String),
}

/// Checks a database URL without connecting.
pub fn backend_of(url: &str) -> Result<Backend, UrlError> {
    let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or("");
    match scheme {
        "sqlite" => Ok(Backend::Sqlite),
        "postgres" | "postgresql" => Ok(Backend::Postgres),
        other => Err(UrlError::UnsupportedScheme(other.to_owned())),
    }
}

impl Store {
    pub async fn connect(url: &str, opts: &ConnectOptions) -> Result<Self, StoreError> {
        let invalid = |e: String| StoreError::Other(Box::new(UrlError::Invalid(e)));
        let backend = backend_of(url).map_err(|e| StoreError::Other(Box::new(e)))?;
        let pool = match backend {
            Backend::Sqlite => {
                let options = SqliteConnectOptions::from_str(url)
                    .map_err(|e| invalid(e.to_string()))?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    // FULL: a commit that returned is on disk even after a power cut.
                    .synchronous(SqliteSynchronous::Full)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(5));
                let pool = SqlitePoolOptions::new()
                    .max_connections(opts.max_connections.max(1))
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await
                    .map_err(map_sqlx_error)?;
                Pool::Sqlite(pool)
            }
            Backend::Postgres => {
                let mut options =
                    PgConnectOptions::from_str(url).map_err(|e| invalid(e.to_string()))?;
                if let Some(schema) = &opts.pg_schema {
                    if !schema
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                    {
                        return Err(invalid("schema name must be [a-z0-9_]".into()));
                    }
                    let admin = PgPoolOptions::new()
                        .max_connections(1)
                        .connect_with(options.clone())
                        .await
                        .map_err(map_sqlx_error)?;
                    sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                        .execute(&admin)
                        .await
                        .map_err(map_sqlx_error)?;
                    admin.close().await;
                    options = options.options([("search_path", schema.as_str())]);
                }
                let pool = PgPoolOptions::new()
                    .max_connections(opts.max_connections.max(1))
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await
                    .map_err(map_sqlx_error)?;
                Pool::Postgres(pool)
            }
        };
        Ok(Self { pool })
    }

    /// Applies the embedded migrations of this store's dialect.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let result = match &self.pool {
            Pool::Sqlite(p) => sqlx::migrate!("./migrations/sqlite").run(p).await,
            Pool::Postgres(p) => sqlx::migrate!("./migrations/postgres").run(p).await,
        };
        result.map_err(|e| StoreError::Other(Box::new(e)))
    }

    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    pub async fn close(&self) {
        on_pool!(self, |p| p.close().await)
    }
}

#[async_trait::async_trait]
impl HealthCheck for Store {
    async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(self, |p| sqlx::query("SELECT 1")
            .execute(p)
            .await
            .map(|_| ()))
        .map_err(map_sqlx_error)
    }

    fn pool_usage(&self) -> (u32, u32) {
        on_pool!(self, |p| (p.size(), p.num_idle() as u32))
    }
}
