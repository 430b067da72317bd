//! Spyglass diesel instrumentation: every query timed, fingerprinted and nested under the request
//! that ran it, through diesel's own [`Instrumentation`] hook.
//!
//! # Example
//!
//! ```no_run
//! use diesel::prelude::*;
//! use diesel::r2d2::{ConnectionManager, Pool};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Once, before connections are made: every connection diesel opens from now on (pooled ones
//! // included) records its queries.
//! spyglass_diesel::install()?;
//!
//! let pool = Pool::new(ConnectionManager::<SqliteConnection>::new("app.db"))?;
//! let mut conn = pool.get()?;
//! diesel::sql_query("CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, name TEXT)").execute(&mut conn)?;
//! # Ok(()) }
//! ```
//!
//! In an async handler, run diesel on tokio's blocking pool with [`spawn_blocking`], which carries
//! the request's trace context to the blocking thread so the queries nest under the request:
//!
//! ```no_run
//! # use diesel::prelude::*;
//! # async fn handler(pool: diesel::r2d2::Pool<diesel::r2d2::ConnectionManager<SqliteConnection>>) {
//! let count: i64 = spyglass_diesel::spawn_blocking(move || {
//!     let mut conn = pool.get().expect("a connection");
//!     diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>("count(*) FROM users"))
//!         .get_result(&mut conn)
//!         .expect("count")
//! })
//! .await
//! .expect("the blocking task");
//! # }
//! ```
//!
//! Each query becomes a `db` event: the statement's fingerprint (the SQL diesel sent, literals
//! replaced; bind values are never read), `db.system.name` (`postgresql`, `sqlite`, `mysql`, from
//! the connection URL), the duration from diesel's `StartQuery` to its `FinishQuery`, and the error
//! of a failed query (its message with quoted runs and numbers masked, and the constraint name).
//! diesel does not report row counts to instrumentation, so `rows` is unknown (`null`).
//!
//! A top-level transaction is recorded as a span of its own, a `fn` event named `transaction`
//! (module `diesel`, an error when rolled back or when its commit fails), and the queries inside it
//! (`BEGIN`, the statements, `COMMIT`/`ROLLBACK`) are its children. Savepoints of nested
//! transactions are recorded as queries.
//!
//! # Bind values
//!
//! diesel hands instrumentation an opaque query whose `Display` prints the SQL followed by
//! `-- binds: [...]`. [`SpyglassInstrumentation`] reads only the SQL: it formats the query into a
//! sink that stops the formatting at the `-- binds:` marker, so the bind values are never even
//! formatted. The statement is then fingerprinted by spyglass-core, which also drops comments.
//!
//! diesel-async connections take the same [`Instrumentation`] (`set_instrumentation`, untested
//! here): their callbacks run while the query's future is polled, so the current context is the
//! caller's and no helper is needed.
//!
//! # In a library
//!
//! Leave installing to the application; a library's diesel calls are recorded like any other once
//! the application called [`install`].

use std::fmt::{self, Write as _};
use std::sync::Arc;

use diesel::connection::{set_default_instrumentation, Instrumentation, InstrumentationEvent};
use spyglass_core::clock::Instant;
use spyglass_core::context::TraceContext;
use spyglass_core::event::{EventKind, FnEvent};
use spyglass_core::Name;

mod error;

/// Makes [`SpyglassInstrumentation`] diesel's default instrumentation: every connection established
/// from now on (by `Connection::establish`, r2d2, deadpool or bb8 pools alike) records its queries.
/// Connections established before the call are not affected; give them one with
/// `conn.set_instrumentation(SpyglassInstrumentation::new())`.
///
/// Replaces any default instrumentation set before. Fails only if diesel's global lock is
/// poisoned.
pub fn install() -> diesel::QueryResult<()> {
    set_default_instrumentation(default_instrumentation)
}

fn default_instrumentation() -> Option<Box<dyn Instrumentation>> {
    Some(Box::new(SpyglassInstrumentation::new()))
}

/// A diesel [`Instrumentation`] recording every query as a Spyglass `db` event, and top-level
/// transactions as spans. One per connection (diesel gives each connection its own).
pub struct SpyglassInstrumentation {
    system: &'static str,
    query_start: Option<Instant>,
    sql: String,
    tx: Option<Transaction>,
}

/// The top-level transaction in progress on a connection.
struct Transaction {
    span: TraceContext,
    start: Instant,
    /// Set by the begin/commit/rollback event, settled by the `FinishQuery` of that statement.
    awaiting: Option<TxStep>,
    rolled_back: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum TxStep {
    Begin,
    Commit,
    Rollback,
}

impl fmt::Debug for SpyglassInstrumentation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpyglassInstrumentation")
            .field("system", &self.system)
            .field("in_query", &self.query_start.is_some())
            .field("in_transaction", &self.tx.is_some())
            .finish()
    }
}

impl Default for SpyglassInstrumentation {
    fn default() -> Self {
        Self::new()
    }
}

impl SpyglassInstrumentation {
    /// An instrumentation that learns the database system from the connection URL (`postgres://…`
    /// → `postgresql`, `mysql://…` → `mysql`, anything else → `sqlite`) when it sees the
    /// connection established, and records `other_sql` until then.
    pub fn new() -> Self {
        SpyglassInstrumentation {
            system: "other_sql",
            query_start: None,
            sql: String::new(),
            tx: None,
        }
    }

    /// An instrumentation for a known system, for connections already established: `postgresql`,
    /// `sqlite`, `mysql` (OpenTelemetry `db.system.name` values).
    pub fn with_system(system: &'static str) -> Self {
        SpyglassInstrumentation {
            system,
            ..Self::new()
        }
    }

    /// The `db.system.name` recorded for this connection's queries.
    pub fn system(&self) -> &'static str {
        self.system
    }

    fn finish_query(
        &mut self,
        query: &dyn diesel::connection::DebugQuery,
        error: Option<&diesel::result::Error>,
    ) {
        let Some(start) = self.query_start.take() else {
            return;
        };
        let dur = start.elapsed();
        sql_only(query, &mut self.sql);
        let text = error.map(error::error_text);
        let em = spyglass_core::global().emitter();
        let emit = || em.emit_db_with(self.system, &self.sql, dur, None, text.as_deref());
        match &self.tx {
            Some(tx) => tx.span.in_scope(emit),
            None => emit(),
        }
        // Settle a transaction step whose statement just ran.
        let step = self.tx.as_ref().and_then(|t| t.awaiting);
        match step {
            Some(TxStep::Begin) => {
                if error.is_some() {
                    self.end_transaction(true);
                } else if let Some(tx) = &mut self.tx {
                    tx.awaiting = None;
                }
            }
            Some(TxStep::Commit) | Some(TxStep::Rollback) => {
                let failed = error.is_some() || step == Some(TxStep::Rollback);
                self.end_transaction(failed);
            }
            None => {}
        }
    }

    fn begin_transaction(&mut self) {
        let em = spyglass_core::global().emitter();
        if !em.is_enabled() {
            return;
        }
        // Unfinished bookkeeping from a previous transaction (a BEGIN that never reported back):
        // close it rather than nest under it.
        if self.tx.is_some() {
            self.end_transaction(true);
        }
        self.tx = Some(Transaction {
            span: em.new_span(),
            start: Instant::now(),
            awaiting: Some(TxStep::Begin),
            rolled_back: false,
        });
    }

    fn end_transaction(&mut self, failed: bool) {
        let Some(tx) = self.tx.take() else { return };
        let dur_ns = u64::try_from(tx.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let rolled_back = tx.rolled_back;
        spyglass_core::global().emitter().emit_span(
            tx.span,
            dur_ns,
            EventKind::Fn(FnEvent {
                name: Name::from_static("transaction"),
                module: Name::from_static("diesel"),
                error: failed,
                error_text: failed.then(|| {
                    Arc::from(if rolled_back {
                        "transaction rolled back"
                    } else {
                        "transaction failed"
                    })
                }),
            }),
        );
    }
}

impl Instrumentation for SpyglassInstrumentation {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        match event {
            InstrumentationEvent::StartEstablishConnection { url, .. } => {
                self.system = system_from_url(url);
            }
            InstrumentationEvent::StartQuery { .. } => {
                self.query_start = Some(Instant::now());
            }
            InstrumentationEvent::FinishQuery { query, error, .. } => {
                self.finish_query(query, error);
            }
            InstrumentationEvent::BeginTransaction { depth, .. } if depth.get() == 1 => {
                self.begin_transaction();
            }
            InstrumentationEvent::CommitTransaction { depth, .. } if depth.get() == 1 => {
                if let Some(tx) = &mut self.tx {
                    tx.awaiting = Some(TxStep::Commit);
                }
            }
            InstrumentationEvent::RollbackTransaction { depth, .. } if depth.get() == 1 => {
                if let Some(tx) = &mut self.tx {
                    tx.awaiting = Some(TxStep::Rollback);
                    tx.rolled_back = true;
                }
            }
            _ => {}
        }
    }
}

/// `db.system.name` from a diesel connection URL.
fn system_from_url(url: &str) -> &'static str {
    let lower = url.get(..12).unwrap_or(url).to_ascii_lowercase();
    if lower.starts_with("postgres://") || lower.starts_with("postgresql:/") {
        "postgresql"
    } else if lower.starts_with("mysql://") || lower.starts_with("mariadb://") {
        "mysql"
    } else if url.contains("host=") || url.contains("dbname=") || url.contains("user=") {
        // libpq keyword/value connection strings.
        "postgresql"
    } else {
        "sqlite"
    }
}

/// Formats only the SQL of a diesel query into `out`: diesel's `Display` writes the SQL, then
/// ` -- binds: `, then the binds; the sink refuses the marker, which stops the formatting before any
/// bind value is formatted.
fn sql_only(query: &dyn diesel::connection::DebugQuery, out: &mut String) {
    out.clear();
    let mut sink = SqlSink {
        out,
        stopped: false,
    };
    let _ = write!(sink, "{query}");
}

struct SqlSink<'a> {
    out: &'a mut String,
    stopped: bool,
}

const BINDS_MARKER: &str = " -- binds: ";

impl fmt::Write for SqlSink<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.stopped {
            return Err(fmt::Error);
        }
        if let Some(i) = s.find(BINDS_MARKER) {
            self.out.push_str(&s[..i]);
            self.stopped = true;
            return Err(fmt::Error);
        }
        self.out.push_str(s);
        Ok(())
    }
}

/// Wraps `f` so it runs in the trace context that is current now: for closures handed to another
/// thread (a blocking pool, deadpool's `interact`, `std::thread::spawn`), so the diesel queries they
/// run nest under the current request. The same function as
/// [`spyglass_core::context::in_current_context`] (`spyglass::context::in_current_context` in the
/// facade), re-exported here.
///
/// ```
/// use spyglass_core::{context, TraceContext};
///
/// let root = TraceContext::new_root(true);
/// let job = root.in_scope(|| spyglass_diesel::in_current_context(|| context::current()));
/// let seen = std::thread::spawn(job).join().unwrap();
/// assert_eq!(seen, Some(root));
/// ```
pub use spyglass_core::context::in_current_context;

/// [`tokio::task::spawn_blocking`] carrying the current trace context to the blocking thread, so the
/// diesel queries `f` runs nest under the current request (or `#[spyglass::instrument]`ed
/// function).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use spyglass_core::context::{self, FutureExt};
/// use spyglass_core::TraceContext;
///
/// let root = TraceContext::new_root(true);
/// let seen = async { spyglass_diesel::spawn_blocking(|| context::current()).await.unwrap() }
///     .with_context(root)
///     .await;
/// assert_eq!(seen, Some(root));
/// # }
/// ```
#[cfg(feature = "tokio")]
pub fn spawn_blocking<F, R>(f: F) -> tokio::task::JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    tokio::task::spawn_blocking(in_current_context(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_names_from_urls() {
        assert_eq!(system_from_url("postgres://u:p@h/db"), "postgresql");
        assert_eq!(system_from_url("postgresql://h/db"), "postgresql");
        assert_eq!(system_from_url("POSTGRES://h/db"), "postgresql");
        assert_eq!(system_from_url("host=localhost dbname=x"), "postgresql");
        assert_eq!(system_from_url("mysql://h/db"), "mysql");
        assert_eq!(system_from_url("app.db"), "sqlite");
        assert_eq!(system_from_url(":memory:"), "sqlite");
        assert_eq!(system_from_url("file:test.db?mode=memory"), "sqlite");
    }

    struct Shown(&'static str);
    impl fmt::Debug for Shown {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }
    impl fmt::Display for Shown {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            let sql = String::from("SELECT * FROM t WHERE a = $1");
            write!(f, "{sql} -- binds: {:?}", [self.0])
        }
    }
    impl diesel::connection::DebugQuery for Shown {}

    #[test]
    fn sql_only_stops_before_the_binds() {
        let mut out = String::new();
        sql_only(&Shown("the-secret"), &mut out);
        assert_eq!(out, "SELECT * FROM t WHERE a = $1");
        // Reused buffer.
        sql_only(&Shown("x"), &mut out);
        assert_eq!(out, "SELECT * FROM t WHERE a = $1");
    }
}
