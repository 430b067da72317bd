//! [`Instrumented`]: any sqlx [`Executor`] (a pool, a connection, a transaction) whose queries are
//! recorded.
//!
//! # Example
//!
//! ```no_run
//! # async fn demo(pool: sqlx::SqlitePool) -> Result<(), sqlx::Error> {
//! use spyglass_sqlx::instrument;
//!
//! // A pool: each query is timed from the moment it is issued (acquire wait included).
//! let n: (i64,) = sqlx::query_as("SELECT count(*) FROM users").fetch_one(instrument(&pool)).await?;
//!
//! // A transaction (or any `&mut` connection):
//! let mut tx = pool.begin().await?;
//! sqlx::query("UPDATE users SET seen = 1 WHERE id = ?").bind(7).execute(instrument(&mut *tx)).await?;
//! tx.commit().await?;
//! # Ok(()) }
//! ```

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use either::Either;
use futures_core::future::BoxFuture;
use futures_core::stream::{BoxStream, Stream};
use sqlx_core::database::Database;
use sqlx_core::describe::Describe;
use sqlx_core::error::{BoxDynError, Error};
use sqlx_core::executor::{Execute, Executor};
use sqlx_core::sql_str::SqlStr;

use spyglass_core::clock::Instant;
use spyglass_core::context::{self, TraceContext};

/// An sqlx [`Executor`] whose every query is recorded as a Spyglass `db` event: its statement
/// fingerprint, duration, rows and error, as a child of the current span.
///
/// Made by [`instrument`](crate::instrument) (or [`Instrumented::new`]). It is as cheap as the
/// executor it wraps (`&Pool`, `&mut PgConnection`, `&mut *transaction`) and is used the same way:
/// `query.fetch_all(instrument(&pool))`.
#[derive(Clone, Copy)]
pub struct Instrumented<E> {
    inner: E,
}

impl<E: fmt::Debug> fmt::Debug for Instrumented<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Instrumented").field(&self.inner).finish()
    }
}

impl<E> Instrumented<E> {
    /// Wraps `inner`.
    pub fn new(inner: E) -> Self {
        Instrumented { inner }
    }

    /// The wrapped executor.
    pub fn get_ref(&self) -> &E {
        &self.inner
    }

    /// The wrapped executor, mutably.
    pub fn get_mut(&mut self) -> &mut E {
        &mut self.inner
    }

    /// Unwraps the executor.
    pub fn into_inner(self) -> E {
        self.inner
    }
}

/// The OpenTelemetry `db.system.name` of an sqlx database.
pub(crate) fn system_name<DB: Database>() -> &'static str {
    match DB::NAME {
        "PostgreSQL" => "postgresql",
        "SQLite" => "sqlite",
        "MySQL" => "mysql",
        "MSSQL" => "microsoft.sql_server",
        _ => "other_sql",
    }
}

/// Rows affected by a statement, for the backends this crate was built with.
fn rows_affected<DB: Database>(r: &DB::QueryResult) -> Option<u64> {
    let any: &dyn std::any::Any = r;
    #[cfg(feature = "postgres")]
    if let Some(r) = any.downcast_ref::<sqlx_postgres::PgQueryResult>() {
        return Some(r.rows_affected());
    }
    #[cfg(feature = "sqlite")]
    if let Some(r) = any.downcast_ref::<sqlx_sqlite::SqliteQueryResult>() {
        return Some(r.rows_affected());
    }
    let _ = any;
    None
}

/// Whether `sql` starts with a data-changing keyword (INSERT, UPDATE, DELETE, REPLACE).
fn changes_data(sql: &str) -> bool {
    let head = sql.trim_start().as_bytes();
    ["insert", "update", "delete", "replace"]
        .iter()
        .any(|k| head.len() >= k.len() && head[..k.len()].eq_ignore_ascii_case(k.as_bytes()))
}

/// The query handed to the wrapped executor: the caller's query taken apart (its SQL, statement,
/// arguments and persistence flag), because reading the SQL of an [`Execute`] consumes it.
pub(crate) struct Traced<DB: Database> {
    sql: SqlStr,
    statement: Option<DB::Statement>,
    arguments: Option<Result<Option<DB::Arguments>, BoxDynError>>,
    persistent: bool,
}

impl<DB: Database> Execute<'_, DB> for Traced<DB> {
    fn sql(self) -> SqlStr {
        self.sql
    }

    fn statement(&self) -> Option<&DB::Statement> {
        self.statement.as_ref()
    }

    fn take_arguments(&mut self) -> Result<Option<DB::Arguments>, BoxDynError> {
        self.arguments.take().unwrap_or(Ok(None))
    }

    fn persistent(&self) -> bool {
        self.persistent
    }
}

/// Records one query: started when the query is issued, emitted once when it completes, fails or
/// is dropped (a stream read only partly, a cancelled future).
pub(crate) struct Recorder {
    start: Instant,
    sql: SqlStr,
    system: &'static str,
    parent: Option<TraceContext>,
    rows: u64,
    affected: Option<u64>,
    done: bool,
}

impl Recorder {
    /// Takes `query` apart and starts timing it, or hands it back untouched when Spyglass is off.
    pub(crate) fn start<'q, DB: Database, Q: Execute<'q, DB>>(
        mut query: Q,
    ) -> Either<Q, (Traced<DB>, Recorder)> {
        if !spyglass_core::global().emitter().is_enabled() {
            return Either::Left(query);
        }
        let statement = query.statement().cloned();
        let persistent = query.persistent();
        let arguments = Some(query.take_arguments());
        let sql = query.sql();
        let rec = Recorder {
            start: Instant::now(),
            sql: sql.clone(),
            system: system_name::<DB>(),
            parent: context::current(),
            rows: 0,
            affected: None,
            done: false,
        };
        Either::Right((
            Traced {
                sql,
                statement,
                arguments,
                persistent,
            },
            rec,
        ))
    }

    /// Records a query that never ran because no connection could be had (a pool timeout, a failed
    /// connect): an error event whose duration is the wait, under the caller's span.
    pub(crate) fn record_unrun<'q, DB: Database, Q: Execute<'q, DB>>(
        query: Q,
        waited_since: Instant,
        error: &Error,
    ) {
        if let Either::Right((_, mut rec)) = Recorder::start::<DB, Q>(query) {
            rec.start = waited_since;
            rec.finish(Some(error));
        }
    }

    fn on_item<DB: Database>(&mut self, item: &Either<DB::QueryResult, DB::Row>) {
        match item {
            Either::Left(r) => {
                if let Some(n) = rows_affected::<DB>(r) {
                    *self.affected.get_or_insert(0) += n;
                }
            }
            Either::Right(_) => self.rows += 1,
        }
    }

    /// Rows returned, else rows affected when the backend reports them; unknown for a statement that
    /// returned nothing on a backend whose result this crate cannot read.
    ///
    /// SQLite reports, for a statement that changes nothing, the changes of the connection's last
    /// INSERT/UPDATE/DELETE (`sqlite3_changes`), so there only a data-changing statement's count is
    /// taken.
    fn rows_recorded(&self) -> Option<u64> {
        if self.rows > 0 {
            return Some(self.rows);
        }
        let n = self.affected?;
        if self.system == "sqlite" && !changes_data(self.sql.as_str()) {
            return Some(0);
        }
        Some(n)
    }

    /// Emits the event (once).
    pub(crate) fn finish(&mut self, error: Option<&Error>) {
        if self.done {
            return;
        }
        self.done = true;
        let dur = self.start.elapsed();
        let rows = self.rows_recorded();
        let text = error.map(crate::error::error_text);
        let emit = || {
            spyglass_core::global().emitter().emit_db_with(
                self.system,
                self.sql.as_str(),
                dur,
                rows,
                text.as_deref(),
            )
        };
        match self.parent {
            Some(p) if context::current() != Some(p) => p.in_scope(emit),
            _ => emit(),
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.finish(None);
    }
}

impl fmt::Debug for Recorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recorder")
            .field("system", &self.system)
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

/// What `Executor::fetch_many` returns.
type ManyStream<'e, DB> =
    BoxStream<'e, Result<Either<<DB as Database>::QueryResult, <DB as Database>::Row>, Error>>;

/// The rows and results of a recorded query, passed through unchanged.
pub(crate) struct RecordedStream<'e, DB: Database> {
    inner: ManyStream<'e, DB>,
    rec: Recorder,
}

impl<'e, DB: Database> RecordedStream<'e, DB> {
    pub(crate) fn new(inner: ManyStream<'e, DB>, rec: Recorder) -> Self {
        RecordedStream { inner, rec }
    }
}

impl<DB: Database> Stream for RecordedStream<'_, DB> {
    type Item = Result<Either<DB::QueryResult, DB::Row>, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let out = this.inner.as_mut().poll_next(cx);
        match &out {
            Poll::Ready(Some(Ok(item))) => this.rec.on_item::<DB>(item),
            Poll::Ready(Some(Err(e))) => this.rec.finish(Some(e)),
            Poll::Ready(None) => this.rec.finish(None),
            Poll::Pending => {}
        }
        out
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

/// Runs `fetch_optional` on `exec` and records it.
pub(crate) fn fetch_optional_recorded<'c, 'e, 'q: 'e, X, Q>(
    exec: X,
    query: Q,
) -> BoxFuture<'e, Result<Option<<X::Database as Database>::Row>, Error>>
where
    X: Executor<'c>,
    'c: 'e,
    Q: 'q + Execute<'q, X::Database>,
{
    match Recorder::start::<X::Database, Q>(query) {
        Either::Left(q) => exec.fetch_optional(q),
        Either::Right((q, rec)) => Box::pin(optional_recorded(exec.fetch_optional(q), rec)),
    }
}

/// Awaits a `fetch_optional` and finishes its record: the row count, or the error.
pub(crate) async fn optional_recorded<R>(
    fetch: impl std::future::Future<Output = Result<Option<R>, Error>>,
    mut rec: Recorder,
) -> Result<Option<R>, Error> {
    let out = fetch.await;
    match &out {
        Ok(row) => {
            rec.rows = u64::from(row.is_some());
            rec.affected.get_or_insert(0);
            rec.finish(None);
        }
        Err(e) => rec.finish(Some(e)),
    }
    out
}

impl<'c, E> Executor<'c> for Instrumented<E>
where
    E: Executor<'c>,
{
    type Database = E::Database;

    fn fetch_many<'e, 'q: 'e, Q>(
        self,
        query: Q,
    ) -> BoxStream<
        'e,
        Result<
            Either<<Self::Database as Database>::QueryResult, <Self::Database as Database>::Row>,
            Error,
        >,
    >
    where
        'c: 'e,
        Q: 'q + Execute<'q, Self::Database>,
    {
        match Recorder::start::<Self::Database, Q>(query) {
            Either::Left(q) => self.inner.fetch_many(q),
            Either::Right((q, rec)) => Box::pin(RecordedStream::<Self::Database>::new(
                self.inner.fetch_many(q),
                rec,
            )),
        }
    }

    fn fetch_optional<'e, 'q: 'e, Q>(
        self,
        query: Q,
    ) -> BoxFuture<'e, Result<Option<<Self::Database as Database>::Row>, Error>>
    where
        'c: 'e,
        Q: 'q + Execute<'q, Self::Database>,
    {
        fetch_optional_recorded(self.inner, query)
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [<Self::Database as Database>::TypeInfo],
    ) -> BoxFuture<'e, Result<<Self::Database as Database>::Statement, Error>>
    where
        'c: 'e,
    {
        self.inner.prepare_with(sql, parameters)
    }

    fn describe<'e>(self, sql: SqlStr) -> BoxFuture<'e, Result<Describe<Self::Database>, Error>>
    where
        'c: 'e,
    {
        self.inner.describe(sql)
    }
}
