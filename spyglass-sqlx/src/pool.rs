//! [`InstrumentedPool`]: an sqlx [`Pool`] whose queries are recorded and whose connection
//! acquisitions are timed, with [`PoolStats`] gauges.
//!
//! # Example
//!
//! ```no_run
//! # async fn demo() -> Result<(), sqlx::Error> {
//! use spyglass_sqlx::InstrumentedPool;
//!
//! let pool = InstrumentedPool::new(sqlx::SqlitePool::connect("sqlite::memory:").await?);
//! sqlx::query("CREATE TABLE t (x INTEGER)").execute(&pool).await?;
//! let rows = sqlx::query("SELECT x FROM t").fetch_all(&pool).await?;
//!
//! let stats = pool.stats();
//! println!("{} connections, {} idle, waited {:?} in all", stats.size, stats.idle, stats.acquire_wait_total);
//! # Ok(()) }
//! ```

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use spyglass_core::clock::Instant;

use either::Either;
use futures_core::future::BoxFuture;
use futures_core::stream::BoxStream;
use futures_util::TryStreamExt;
use sqlx_core::database::Database;
use sqlx_core::describe::Describe;
use sqlx_core::error::Error;
use sqlx_core::executor::{Execute, Executor};
use sqlx_core::ext::async_stream::TryAsyncStream;
use sqlx_core::pool::{Pool, PoolConnection};
use sqlx_core::sql_str::SqlStr;
use sqlx_core::transaction::Transaction;

use crate::executor::{optional_recorded, Instrumented, Recorder};

/// A point-in-time view of a pool: its gauges and how long callers waited for connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStats {
    /// `db.client.connection.system`-style label: `postgresql`, `sqlite`, …
    pub system: &'static str,
    /// Connections open now (idle and in use).
    pub size: u32,
    /// Idle connections now.
    pub idle: usize,
    /// In-use connections now (`size - idle`).
    pub in_use: u32,
    /// The pool's configured maximum.
    pub max_connections: u32,
    /// Successful acquisitions through this wrapper since it was made.
    pub acquires: u64,
    /// Failed acquisitions (timeouts, connect errors, closed pool).
    pub acquire_errors: u64,
    /// Total time spent waiting for a connection, over every acquisition.
    pub acquire_wait_total: Duration,
    /// The longest single wait.
    pub acquire_wait_max: Duration,
}

impl PoolStats {
    /// Mean wait per acquisition (zero when there was none).
    pub fn acquire_wait_mean(&self) -> Duration {
        let n = self.acquires + self.acquire_errors;
        if n == 0 {
            Duration::ZERO
        } else {
            self.acquire_wait_total / u32::try_from(n).unwrap_or(u32::MAX)
        }
    }
}

#[derive(Debug, Default)]
struct AcquireCounters {
    ok: AtomicU64,
    errors: AtomicU64,
    wait_ns_total: AtomicU64,
    wait_ns_max: AtomicU64,
}

impl AcquireCounters {
    fn record(&self, waited: Duration, ok: bool) {
        let ns = u64::try_from(waited.as_nanos()).unwrap_or(u64::MAX);
        if ok {
            self.ok.fetch_add(1, Relaxed);
        } else {
            self.errors.fetch_add(1, Relaxed);
        }
        self.wait_ns_total.fetch_add(ns, Relaxed);
        self.wait_ns_max.fetch_max(ns, Relaxed);
    }
}

/// An sqlx [`Pool`] whose queries are recorded (like [`Instrumented`]) and whose connection
/// acquisitions are timed. Cheap to clone: clones share the pool and the counters.
///
/// Use `&InstrumentedPool` wherever `&Pool` is used as an executor. A query's recorded duration
/// starts once it has a connection; the wait for that connection is counted in [`stats`](Self::stats)
/// (`acquire_wait_total`, `acquire_wait_max`) instead, so a slow query and a starved pool are told
/// apart. A query that never ran because no connection could be had (the pool's acquire timeout, a
/// failed connect) is recorded as a failed query whose duration is the wait and whose error says
/// why.
pub struct InstrumentedPool<DB: Database> {
    pool: Pool<DB>,
    counters: Arc<AcquireCounters>,
}

impl<DB: Database> Clone for InstrumentedPool<DB> {
    fn clone(&self) -> Self {
        InstrumentedPool {
            pool: self.pool.clone(),
            counters: self.counters.clone(),
        }
    }
}

impl<DB: Database> fmt::Debug for InstrumentedPool<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstrumentedPool")
            .field("pool", &self.pool)
            .field("stats", &self.stats())
            .finish()
    }
}

impl<DB: Database> From<Pool<DB>> for InstrumentedPool<DB> {
    fn from(pool: Pool<DB>) -> Self {
        InstrumentedPool::new(pool)
    }
}

impl<DB: Database> InstrumentedPool<DB> {
    /// Wraps `pool`.
    pub fn new(pool: Pool<DB>) -> Self {
        InstrumentedPool {
            pool,
            counters: Arc::default(),
        }
    }

    /// The wrapped pool (its queries are not recorded).
    pub fn get_ref(&self) -> &Pool<DB> {
        &self.pool
    }

    /// Unwraps the pool.
    pub fn into_inner(self) -> Pool<DB> {
        self.pool
    }

    /// Gauges and acquisition counters, read now.
    pub fn stats(&self) -> PoolStats {
        let size = self.pool.size();
        let idle = self.pool.num_idle();
        let c = &self.counters;
        PoolStats {
            system: crate::executor::system_name::<DB>(),
            size,
            idle,
            in_use: size.saturating_sub(u32::try_from(idle).unwrap_or(u32::MAX)),
            max_connections: self.pool.options().get_max_connections(),
            acquires: c.ok.load(Relaxed),
            acquire_errors: c.errors.load(Relaxed),
            acquire_wait_total: Duration::from_nanos(c.wait_ns_total.load(Relaxed)),
            acquire_wait_max: Duration::from_nanos(c.wait_ns_max.load(Relaxed)),
        }
    }

    /// Acquires a connection, timing the wait. Run queries on it with
    /// [`instrument(&mut *conn)`](crate::instrument) to record them.
    pub async fn acquire(&self) -> Result<PoolConnection<DB>, Error> {
        timed_acquire(&self.pool, &self.counters).await
    }

    /// Starts a transaction on a connection acquired with a timed wait. Run queries in it with
    /// [`instrument(&mut *tx)`](crate::instrument) to record them.
    pub async fn begin(&self) -> Result<Transaction<'static, DB>, Error> {
        let conn = self.acquire().await?;
        Transaction::begin(conn, None).await
    }
}

async fn timed_acquire<DB: Database>(
    pool: &Pool<DB>,
    counters: &AcquireCounters,
) -> Result<PoolConnection<DB>, Error> {
    let t0 = Instant::now();
    let r = pool.acquire().await;
    counters.record(t0.elapsed(), r.is_ok());
    r
}

impl<'p, DB: Database> Executor<'p> for &'_ InstrumentedPool<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    type Database = DB;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<DB::QueryResult, DB::Row>, Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, DB>,
    {
        let pool = self.clone();
        Box::pin(TryAsyncStream::new(move |yielder| async move {
            let t0 = Instant::now();
            let mut conn = match timed_acquire(&pool.pool, &pool.counters).await {
                Ok(c) => c,
                Err(e) => {
                    Recorder::record_unrun::<DB, E>(query, t0, &e);
                    return Err(e);
                }
            };
            let mut s = Instrumented::new(&mut *conn).fetch_many(query);
            while let Some(v) = s.try_next().await? {
                yielder.r#yield(v).await;
            }
            Ok(())
        }))
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<DB::Row>, Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, DB>,
    {
        let pool = self.clone();
        Box::pin(async move {
            let t0 = Instant::now();
            let mut conn = match timed_acquire(&pool.pool, &pool.counters).await {
                Ok(c) => c,
                Err(e) => {
                    Recorder::record_unrun::<DB, E>(query, t0, &e);
                    return Err(e);
                }
            };
            // Recorded here rather than through `Instrumented`, whose own boxed future would be a
            // second allocation per query.
            match Recorder::start::<DB, E>(query) {
                Either::Left(q) => (&mut *conn).fetch_optional(q).await,
                Either::Right((q, rec)) => {
                    optional_recorded((&mut *conn).fetch_optional(q), rec).await
                }
            }
        })
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [DB::TypeInfo],
    ) -> BoxFuture<'e, Result<DB::Statement, Error>>
    where
        'p: 'e,
    {
        let pool = self.clone();
        Box::pin(async move {
            let mut conn = timed_acquire(&pool.pool, &pool.counters).await?;
            conn.prepare_with(sql, parameters).await
        })
    }

    fn describe<'e>(self, sql: SqlStr) -> BoxFuture<'e, Result<Describe<DB>, Error>>
    where
        'p: 'e,
    {
        let pool = self.clone();
        Box::pin(async move {
            let mut conn = timed_acquire(&pool.pool, &pool.counters).await?;
            conn.describe(sql).await
        })
    }
}
