//! Spyglass sqlx instrumentation: every query timed, fingerprinted and nested under the request that
//! ran it.
//!
//! # Example
//!
//! ```no_run
//! # async fn demo() -> Result<(), sqlx::Error> {
//! use spyglass_sqlx::{instrument, InstrumentedPool};
//!
//! // Wrap the pool once, use it as you would use the pool:
//! let pool = InstrumentedPool::new(sqlx::SqlitePool::connect("sqlite::memory:").await?);
//! sqlx::query("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)").execute(&pool).await?;
//! let user = sqlx::query("SELECT name FROM users WHERE id = ?").bind(42).fetch_optional(&pool).await?;
//!
//! // Or wrap any executor at the call: a connection, a transaction.
//! let mut tx = pool.begin().await?;
//! sqlx::query("DELETE FROM users WHERE id = ?").bind(42).execute(instrument(&mut *tx)).await?;
//! tx.commit().await?;
//! # Ok(()) }
//! ```
//!
//! Each query becomes a `db` event: the statement's fingerprint (`SELECT name FROM users WHERE id
//! = ?`: the SQL text with literals replaced, never a bind value), `db.system.name` (`postgresql`,
//! `sqlite`, `mysql`), duration, rows (returned, or affected by INSERT/UPDATE/DELETE) and, for a
//! failed query, its error. The event is a child of the current span: the request's span under the
//! axum or actix middleware, an `#[spyglass::instrument]`ed function's, or a context entered with
//! [`TraceContext::scope`](spyglass_core::TraceContext::scope).
//!
//! # How queries are caught
//!
//! sqlx has no per-query hook. Its `sqlx::query` tracing events carry the statement, elapsed time
//! and row counts but not the error, exist only at the levels the connection's `log_statements` /
//! `log_slow_statements` settings allow, carry no link to the caller's span, and would need a
//! `tracing` subscriber formatting fields on the query's own path. So this crate wraps the executor
//! instead:
//! [`Instrumented`] implements [`sqlx::Executor`] around any executor (`&Pool`, `&mut PgConnection`,
//! `&mut *transaction`), and [`InstrumentedPool`] around a pool. Every sqlx API that takes an
//! executor (`query`, `query_as`, `query_scalar`, `raw_sql`, `QueryBuilder`, the `query!` macros)
//! runs through it, so every query is seen with its outcome, including errors (a syntax error, a
//! constraint violation) and queries whose stream is dropped early. The cost is a clock read at each
//! end and the emit (see `benches/db`).
//!
//! Queries run on an executor that is *not* wrapped are not recorded: wrap the pool once where it
//! is built, and wrap transactions with [`instrument`] (`instrument(&mut *tx)`).
//!
//! # Errors
//!
//! The recorded error text is the database's SQLSTATE code and message with every quoted run and
//! number masked (`[42601] syntax error at or near "?"`), plus the constraint name for constraint
//! violations: messages can quote the offending value, and bind values are never recorded.
//!
//! # Pool gauges
//!
//! [`InstrumentedPool::stats`] returns [`PoolStats`]: size, idle and in-use connections, the
//! configured maximum, and how many acquisitions waited how long (total and max). A query's
//! recorded duration starts once it has a connection, so a slow query and a starved pool are told
//! apart.
//!
//! # Features
//!
//! sqlx's `Executor` API does not expose rows *affected* generically, only per backend. With the
//! feature `postgres` or `sqlite` (enable the ones your application uses), rows affected by
//! INSERT/UPDATE/DELETE on that backend are recorded; without it, rows returned are still counted and
//! a statement that returned none records `rows: null`. No feature is on by default, so an
//! application never compiles a driver it does not use (and `sqlite` on its own would link the
//! system libsqlite3).
//!
//! # In a library
//!
//! Take an executor generically (`E: sqlx::Executor<'c>`) and let the application pass an
//! instrumented one; a library need not depend on this crate.

pub mod executor;
pub mod pool;

mod error;

pub use executor::Instrumented;
pub use pool::{InstrumentedPool, PoolStats};

/// Wraps an sqlx executor so its queries are recorded: `query.fetch_all(instrument(&pool))`,
/// `query.execute(instrument(&mut *tx))`.
///
/// ```no_run
/// # async fn demo(pool: sqlx::PgPool) -> Result<(), sqlx::Error> {
/// let n: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
///     .fetch_one(spyglass_sqlx::instrument(&pool))
///     .await?;
/// # Ok(()) }
/// ```
pub fn instrument<E>(executor: E) -> Instrumented<E> {
    Instrumented::new(executor)
}
