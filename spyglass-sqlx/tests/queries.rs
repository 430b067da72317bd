//! sqlx instrumentation over a real PostgreSQL (`SPYGLASS_TEST_PG_URL`, started by
//! `scripts/setup.d/20-postgres.sh`) and a real SQLite file: durations, rows, errors, nesting under a
//! request and under an `#[instrument]`ed function, N+1 findings, pool gauges, and no bind value in
//! any output.

use std::sync::OnceLock;
use std::time::Duration;

use futures_util::TryStreamExt;
use spyglass::context::FutureExt;
use spyglass::event::EventKind;
use spyglass::export::InMemoryExporter;
use spyglass::{SpyglassGuard, TraceContext};
use spyglass_http_suite::db::{
    assert_no_secret_anywhere, db_events, finish_request, pg_base_url, trace_events, unique,
};
use spyglass_sqlx::{instrument, InstrumentedPool};

/// Bind values that must never appear in any output.
const SECRETS: [&str; 3] = ["s3cret-alice@example.org", "hunter2-password", "4242424242"];

struct Harness {
    mem: InMemoryExporter,
    _guard: SpyglassGuard,
}

/// The global instance, installed once per process with an in-memory exporter (nextest runs one
/// test per process; `cargo test` shares it between threads, so tests filter by trace id).
fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| {
        let mem = InMemoryExporter::new();
        let guard = spyglass::Spyglass::builder()
            .service_name("sqlx-tests")
            .flush_interval(Duration::from_millis(20))
            .exporter(mem.clone())
            .install()
            .expect("install the global instance");
        Harness { mem, _guard: guard }
    })
}

/// Removes a test's SQLite file (and its journal files) when the test ends.
struct TempFile(Option<std::path::PathBuf>);

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(p) = &self.0 {
            for suffix in ["", "-wal", "-shm", "-journal"] {
                let mut f = p.clone().into_os_string();
                f.push(suffix);
                let _ = std::fs::remove_file(f);
            }
        }
    }
}

fn sqlite_path(name: &str) -> std::path::PathBuf {
    let dir = std::env::var_os("SPYGLASS_TEST_TMP").map_or_else(std::env::temp_dir, Into::into);
    dir.join(format!("{}.sqlite3", unique(name)))
}

macro_rules! backend_suite {
    ($modname:ident, $db:ty, $system:literal, $pool:expr, $p1:literal, $p2:literal) => {
        mod $modname {
            use super::*;

            type Db = $db;

            async fn pool() -> Option<(sqlx::Pool<Db>, TempFile)> {
                $pool
            }

            async fn setup(pool: &sqlx::Pool<Db>) -> String {
                let table = unique("users");
                let ddl = format!(
                    "CREATE TABLE {table} (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, name TEXT)"
                );
                sqlx::raw_sql(sqlx::AssertSqlSafe(ddl)).execute(pool).await.unwrap();
                table
            }

            fn q(sql: String) -> sqlx::query::Query<'static, Db, <Db as sqlx::Database>::Arguments> {
                sqlx::query(sqlx::AssertSqlSafe(sql))
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn durations_rows_and_system_under_a_request() {
                harness();
                let Some((pool, _tmp)) = pool().await else { return };
                let table = setup(&pool).await;
                let root = TraceContext::new_root(true);
                async {
                    for (i, email) in [SECRETS[0], SECRETS[1], "bob@example.org"].iter().enumerate() {
                        q(format!("INSERT INTO {table} (id, email) VALUES ({}, {})", $p1, $p2))
                            .bind(i as i64 + 1)
                            .bind(*email)
                            .execute(instrument(&pool))
                            .await
                            .unwrap();
                    }
                    let rows = q(format!("SELECT id, email FROM {table} WHERE id > {} ORDER BY id", $p1))
                        .bind(0_i64)
                        .fetch_all(instrument(&pool))
                        .await
                        .unwrap();
                    assert_eq!(rows.len(), 3);
                    let done = q(format!("UPDATE {table} SET name = {} WHERE id <= 2", $p1))
                        .bind(SECRETS[2])
                        .execute(instrument(&pool))
                        .await
                        .unwrap();
                    assert_eq!(done.rows_affected(), 2);
                    // Right after an UPDATE of 2 rows, a SELECT of none records 0 rows (SQLite
                    // reports the UPDATE's count again for it).
                    let none = q(format!("SELECT id FROM {table} WHERE id > {}", $p1))
                        .bind(1000_i64)
                        .fetch_all(instrument(&pool))
                        .await
                        .unwrap();
                    assert!(none.is_empty());
                    let one = q(format!("SELECT email FROM {table} WHERE id = {}", $p1))
                        .bind(3_i64)
                        .fetch_optional(instrument(&pool))
                        .await
                        .unwrap();
                    assert!(one.is_some());
                }
                .with_context(root)
                .await;

                let evs = trace_events(&harness().mem, root.trace_id());
                let dbs = db_events(&evs);
                assert_eq!(dbs.len(), 7, "3 inserts, a select, an update, an empty select, a fetch_optional: {dbs:#?}");
                for (e, d) in &dbs {
                    assert_eq!(d.system, $system);
                    assert!(e.dur_ns > 0, "duration recorded: {e:?}");
                    assert_eq!(e.parent_span_id, Some(root.span_id()), "child of the request span");
                    assert_ne!(e.span_id, root.span_id());
                    assert!(!d.error);
                }
                let inserts: Vec<_> = dbs.iter().filter(|(_, d)| d.statement.as_str().starts_with("INSERT")).collect();
                assert_eq!(inserts.len(), 3);
                let fp = format!("INSERT INTO {table} (id, email) VALUES (?)");
                assert!(inserts.iter().all(|(_, d)| d.statement.as_str() == fp), "{inserts:?}");
                let affected_known = ($system == "postgresql" && cfg!(feature = "postgres"))
                    || ($system == "sqlite" && cfg!(feature = "sqlite"));
                if affected_known {
                    assert!(inserts.iter().all(|(_, d)| d.rows == Some(1)), "{inserts:?}");
                }
                let select = dbs.iter().find(|(_, d)| d.statement.as_str().contains("ORDER BY")).unwrap();
                assert_eq!(select.1.rows, Some(3));
                let update = dbs.iter().find(|(_, d)| d.statement.as_str().starts_with("UPDATE")).unwrap();
                if affected_known {
                    assert_eq!(update.1.rows, Some(2));
                }
                let empty = dbs.iter().find(|(_, d)| d.statement.as_str().starts_with("SELECT id FROM")).unwrap();
                assert_eq!(empty.1.rows, affected_known.then_some(0), "{empty:?}");
                let opt = dbs.iter().find(|(_, d)| d.statement.as_str().starts_with("SELECT email")).unwrap();
                assert_eq!(opt.1.rows, Some(1));
                assert_no_secret_anywhere(&harness().mem, "sqlx-tests", &SECRETS);
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn syntax_error_and_constraint_violation() {
                harness();
                let Some((pool, _tmp)) = pool().await else { return };
                let table = setup(&pool).await;
                let root = TraceContext::new_root(true);
                async {
                    let err = q(format!("SELEC email FROM {table} WHERE name = '{}'", SECRETS[1]))
                        .fetch_all(instrument(&pool))
                        .await
                        .unwrap_err();
                    assert!(err.as_database_error().is_some(), "{err}");
                    q(format!("INSERT INTO {table} (id, email) VALUES ({}, {})", $p1, $p2))
                        .bind(1_i64)
                        .bind(SECRETS[0])
                        .execute(instrument(&pool))
                        .await
                        .unwrap();
                    let dup = q(format!("INSERT INTO {table} (id, email) VALUES ({}, {})", $p1, $p2))
                        .bind(2_i64)
                        .bind(SECRETS[0])
                        .execute(instrument(&pool))
                        .await
                        .unwrap_err();
                    assert!(dup.as_database_error().unwrap().is_unique_violation(), "{dup}");
                }
                .with_context(root)
                .await;

                let evs = trace_events(&harness().mem, root.trace_id());
                let dbs = db_events(&evs);
                assert_eq!(dbs.len(), 3);
                let syntax = dbs.iter().find(|(_, d)| d.statement.as_str().starts_with("SELEC ")).unwrap();
                assert!(syntax.1.error);
                let text = syntax.1.error_text.as_deref().unwrap();
                assert!(text.contains("syntax error"), "{text}");
                assert_eq!(syntax.1.statement.as_str(), format!("SELEC email FROM {table} WHERE name = ?"));
                let failed: Vec<_> = dbs.iter().filter(|(_, d)| d.error).collect();
                assert_eq!(failed.len(), 2);
                let dup = failed.iter().find(|(_, d)| d.statement.as_str().starts_with("INSERT")).unwrap();
                let text = dup.1.error_text.as_deref().unwrap().to_lowercase();
                assert!(text.contains("unique"), "{text}");
                assert!(dup.0.parent_span_id == Some(root.span_id()));
                // Errors are always exported and kept by the flight recorder.
                let recent = spyglass::global().recent().errors(1000);
                assert!(recent.iter().filter(|e| e.trace_id == root.trace_id()).count() == 2);
                assert_no_secret_anywhere(&harness().mem, "sqlx-tests", &SECRETS);
            }

            #[spyglass::instrument]
            async fn load_names(pool: &sqlx::Pool<Db>, table: &str) -> Result<Vec<String>, sqlx::Error> {
                let rows: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT email FROM {table}")))
                    .fetch_all(instrument(pool))
                    .await?;
                Ok(rows.into_iter().map(|r| r.0).collect())
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn nested_under_an_instrumented_function() {
                harness();
                let Some((pool, _tmp)) = pool().await else { return };
                let table = setup(&pool).await;
                let root = TraceContext::new_root(true);
                let names = load_names(&pool, &table).with_context(root).await.unwrap();
                assert!(names.is_empty());
                let evs = trace_events(&harness().mem, root.trace_id());
                let f = evs
                    .iter()
                    .find(|e| matches!(&e.kind, EventKind::Fn(f) if f.name.as_str() == "load_names"))
                    .expect("the function's event");
                assert_eq!(f.parent_span_id, Some(root.span_id()));
                let dbs = db_events(&evs);
                assert_eq!(dbs.len(), 1);
                assert_eq!(dbs[0].0.parent_span_id, Some(f.span_id), "the query is a child of the function");
                // No row returned: zero when the backend's result is readable, else unknown.
                let readable = ($system == "postgresql" && cfg!(feature = "postgres"))
                    || ($system == "sqlite" && cfg!(feature = "sqlite"));
                assert_eq!(dbs[0].1.rows, readable.then_some(0));
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn n_plus_one_found_for_a_loop_not_for_distinct_queries() {
                harness();
                let Some((pool, _tmp)) = pool().await else { return };
                let table = setup(&pool).await;
                let ipool = InstrumentedPool::new(pool.clone());
                // The loop: one query per id, the same statement 6 times (threshold 5).
                let loop_route: &'static str = Box::leak(format!("/{}/loop", unique("n1")).into_boxed_str());
                let ctx = spyglass::global().new_request_context(None, None);
                async {
                    for id in 0..6_i64 {
                        q(format!("SELECT email FROM {table} WHERE id = {}", $p1))
                            .bind(id)
                            .fetch_optional(&ipool)
                            .await
                            .unwrap();
                    }
                }
                .with_context(ctx)
                .await;
                finish_request(ctx, loop_route);

                // Six distinct statements in one request: no finding.
                let distinct_route: &'static str = Box::leak(format!("/{}/distinct", unique("n1")).into_boxed_str());
                let ctx2 = spyglass::global().new_request_context(None, None);
                async {
                    for col in ["id", "email", "name", "id, email", "email, name", "id, name"] {
                        q(format!("SELECT {col} FROM {table} WHERE id = {}", $p1))
                            .bind(1_i64)
                            .fetch_all(&ipool)
                            .await
                            .unwrap();
                    }
                }
                .with_context(ctx2)
                .await;
                finish_request(ctx2, distinct_route);

                assert!(spyglass::global().flush(Duration::from_secs(10)));
                let snap = spyglass::stats().snapshot(Duration::from_secs(900));
                let found: Vec<_> = snap.n_plus_one.iter().filter(|f| f.route.as_str() == loop_route).collect();
                assert_eq!(found.len(), 1, "{:?}", snap.n_plus_one);
                assert_eq!(found[0].count, 6);
                assert_eq!(found[0].system, $system);
                assert_eq!(found[0].statement.as_str(), format!("SELECT email FROM {table} WHERE id = {}", $p1));
                assert_eq!(found[0].trace_id, ctx.trace_id());
                assert!(
                    !snap.n_plus_one.iter().any(|f| f.route.as_str() == distinct_route),
                    "distinct queries are not an N+1: {:?}",
                    snap.n_plus_one
                );
                let json = serde_json::to_value(&snap).unwrap();
                assert!(json["n_plus_one"].as_array().unwrap().iter().any(|f| f["route"] == loop_route));
                // Every query went through the pool wrapper: 12 timed acquisitions.
                let stats = ipool.stats();
                assert_eq!(stats.acquires, 12);
                assert_eq!(stats.acquire_errors, 0);
                assert_eq!(stats.system, $system);
                assert!(stats.size >= 1 && stats.idle <= stats.size as usize);
                assert_eq!(stats.in_use, stats.size - stats.idle as u32);
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_starved_pool_is_an_error_event_and_counted() {
                harness();
                let Some((pool, _tmp)) = pool().await else { return };
                // One connection, a short acquire timeout, and the connection held elsewhere.
                let small = sqlx::pool::PoolOptions::<Db>::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_millis(200))
                    .connect_with((*pool.connect_options()).clone())
                    .await
                    .unwrap();
                let ipool = InstrumentedPool::new(small);
                let held = ipool.acquire().await.unwrap();
                let root = TraceContext::new_root(true);
                async {
                    let e1 = sqlx::query("SELECT 1").fetch_all(&ipool).await.unwrap_err();
                    assert!(matches!(e1, sqlx::Error::PoolTimedOut), "{e1}");
                    let e2 = sqlx::query("SELECT 2").fetch_optional(&ipool).await.unwrap_err();
                    assert!(matches!(e2, sqlx::Error::PoolTimedOut), "{e2}");
                }
                .with_context(root)
                .await;
                let stats = ipool.stats();
                assert_eq!((stats.acquires, stats.acquire_errors), (1, 2));
                assert_eq!((stats.size, stats.idle, stats.in_use, stats.max_connections), (1, 0, 1, 1));
                assert!(stats.acquire_wait_total >= stats.acquire_wait_max);
                drop(held);

                let evs = trace_events(&harness().mem, root.trace_id());
                let dbs = db_events(&evs);
                assert_eq!(dbs.len(), 2, "{dbs:#?}");
                for (e, d) in &dbs {
                    assert!(d.error);
                    assert_eq!(d.statement.as_str(), "SELECT ?");
                    assert_eq!(d.rows, None);
                    assert_eq!(e.parent_span_id, Some(root.span_id()));
                    let text = d.error_text.as_deref().unwrap();
                    assert!(text.contains("timed out"), "{text}");
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn pool_stream_dropped_early_transactions_and_no_context() {
                harness();
                let Some((pool, _tmp)) = pool().await else { return };
                let table = setup(&pool).await;
                let ipool = InstrumentedPool::new(pool.clone());
                let root = TraceContext::new_root(true);
                async {
                    let mut tx = ipool.begin().await.unwrap();
                    for id in 1..=3_i64 {
                        q(format!("INSERT INTO {table} (id, email) VALUES ({}, {})", $p1, $p2))
                            .bind(id)
                            .bind(format!("user{id}@example.org"))
                            .execute(instrument(&mut *tx))
                            .await
                            .unwrap();
                    }
                    tx.commit().await.unwrap();
                    // Read one row of three, then drop the stream: the query is still recorded.
                    let sql = format!("SELECT id FROM {table} ORDER BY id");
                    let mut s = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch(&ipool);
                    let first = s.try_next().await.unwrap();
                    assert!(first.is_some());
                    drop(s);
                }
                .with_context(root)
                .await;
                let evs = trace_events(&harness().mem, root.trace_id());
                let dbs = db_events(&evs);
                assert_eq!(dbs.len(), 4, "{dbs:#?}");
                let partial = dbs.iter().find(|(_, d)| d.statement.as_str().contains("ORDER BY")).unwrap();
                assert_eq!(partial.1.rows, Some(1));
                assert!(dbs.iter().all(|(e, _)| e.parent_span_id == Some(root.span_id())));
                assert_eq!(ipool.stats().acquires, 2, "the transaction's connection and the select's");

                // Outside any context, a query is a root span of its own trace.
                let marker = unique("c");
                let sql = format!("SELECT count(*) AS {marker} FROM {table}");
                let n: (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).fetch_one(&ipool).await.unwrap();
                assert_eq!(n.0, 3);
                assert!(spyglass::global().flush(Duration::from_secs(10)));
                let ev = harness()
                    .mem
                    .events()
                    .into_iter()
                    .find(|e| matches!(&e.kind, EventKind::Db(d) if d.statement.as_str().contains(&marker)))
                    .expect("the context-free query");
                assert_eq!(ev.parent_span_id, None);
            }
        }
    };
}

backend_suite!(
    postgres,
    sqlx::Postgres,
    "postgresql",
    {
        let url = pg_base_url()?;
        Some((
            sqlx::postgres::PgPoolOptions::new()
                .max_connections(4)
                .connect(&url)
                .await
                .expect("connect to PostgreSQL"),
            TempFile(None),
        ))
    },
    "$1",
    "$2"
);

backend_suite!(
    sqlite,
    sqlx::Sqlite,
    "sqlite",
    {
        let path = sqlite_path("sqlx");
        let opts = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true);
        Some((
            sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(opts)
                .await
                .expect("open SQLite"),
            TempFile(Some(path)),
        ))
    },
    "?",
    "?"
);
