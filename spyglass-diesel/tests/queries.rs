//! diesel instrumentation over a real PostgreSQL (`SPYGLASS_TEST_PG_URL`, started by
//! `scripts/setup.d/20-postgres.sh`) and a real SQLite file: durations, SQL without binds, errors,
//! transactions, nesting under a request, under an `#[instrument]`ed function and across
//! `spawn_blocking`, N+1 findings, and no bind value in any output.

use std::sync::OnceLock;
use std::time::Duration;

use diesel::prelude::*;
use spyglass::context::FutureExt;
use spyglass::event::{Event, EventKind};
use spyglass::export::InMemoryExporter;
use spyglass::{SpyglassGuard, TraceContext};
use spyglass_http_suite::db::{
    assert_no_secret_anywhere, db_events, finish_request, flush, pg_base_url, trace_events, unique,
};

/// Bind values that must never appear in any output.
const SECRETS: [&str; 3] = ["s3cret-alice@example.org", "hunter2-password", "4242424242"];

mod schema {
    diesel::table! {
        users (id) {
            id -> Integer,
            email -> Text,
            name -> Nullable<Text>,
        }
    }
}
use schema::users;

struct Harness {
    mem: InMemoryExporter,
    _guard: SpyglassGuard,
}

/// The global instance (installed once per process, with an in-memory exporter) and diesel's default
/// instrumentation.
fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| {
        let mem = InMemoryExporter::new();
        let guard = spyglass::Spyglass::builder()
            .service_name("diesel-tests")
            .flush_interval(Duration::from_millis(20))
            .exporter(mem.clone())
            .install()
            .expect("install the global instance");
        spyglass_diesel::install().expect("install diesel's default instrumentation");
        Harness { mem, _guard: guard }
    })
}

/// A URL of a fresh schema of the test database (every connection made with it uses the schema), so
/// tests sharing one PostgreSQL do not collide.
fn pg_url() -> Option<(String, TempFile)> {
    let base = pg_base_url()?;
    let schema = unique("t");
    let mut c = PgConnection::establish(&base).expect("connect to PostgreSQL");
    diesel::sql_query(format!("CREATE SCHEMA {schema}"))
        .execute(&mut c)
        .unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    Some((
        format!("{base}{sep}options=-csearch_path%3D{schema}"),
        TempFile(None),
    ))
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

fn sqlite_url() -> Option<(String, TempFile)> {
    let dir = std::env::var_os("SPYGLASS_TEST_TMP").map_or_else(std::env::temp_dir, Into::into);
    let path = dir.join(format!("{}.sqlite3", unique("diesel")));
    Some((path.to_string_lossy().into_owned(), TempFile(Some(path))))
}

/// The SQL diesel sends for `q`, without its binds, fingerprinted: what the event must carry.
fn expected_fingerprint(debug: String) -> String {
    let sql = debug.split(" -- binds: ").next().unwrap().to_owned();
    spyglass::redact::redact(&sql)
}

macro_rules! backend_suite {
    ($modname:ident, $conn:ty, $backend:ty, $system:literal, $url:expr) => {
        mod $modname {
            use super::*;

            type Conn = $conn;

            fn url() -> Option<(String, TempFile)> {
                $url
            }

            fn setup(url: &str) -> Conn {
                harness();
                let mut c = Conn::establish(url).expect("connect");
                diesel::sql_query("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, name TEXT)")
                    .execute(&mut c)
                    .unwrap();
                c
            }

            #[test]
            fn durations_system_and_sql_without_binds_under_a_request() {
                let Some((url, _tmp)) = url() else { return };
                let mut conn = setup(&url);
                let root = TraceContext::new_root(true);
                root.in_scope(|| {
                    for (i, email) in [SECRETS[0], SECRETS[1], "bob@example.org"].iter().enumerate() {
                        diesel::insert_into(users::table)
                            .values((users::id.eq(i as i32 + 1), users::email.eq(*email)))
                            .execute(&mut conn)
                            .unwrap();
                    }
                    let n = diesel::update(users::table.filter(users::id.le(2)))
                        .set(users::name.eq(SECRETS[2]))
                        .execute(&mut conn)
                        .unwrap();
                    assert_eq!(n, 2);
                    let rows: Vec<(i32, String)> = users::table
                        .select((users::id, users::email))
                        .filter(users::email.ne(SECRETS[1]))
                        .order(users::id)
                        .load(&mut conn)
                        .unwrap();
                    assert_eq!(rows.len(), 2);
                    diesel::sql_query("UPDATE users SET name = NULL WHERE email = $1".replace("$1", if $system == "sqlite" { "?" } else { "$1" }))
                        .bind::<diesel::sql_types::Text, _>(SECRETS[0])
                        .execute(&mut conn)
                        .unwrap();
                });
                let evs = trace_events(&harness().mem, root.trace_id());
                let dbs = db_events(&evs);
                assert_eq!(dbs.len(), 6, "{dbs:#?}");
                for (e, d) in &dbs {
                    assert_eq!(d.system, $system);
                    assert!(e.dur_ns > 0, "duration recorded: {e:?}");
                    assert_eq!(e.parent_span_id, Some(root.span_id()));
                    assert!(!d.error);
                    assert_eq!(d.rows, None, "diesel does not report rows to instrumentation");
                }
                let insert = diesel::insert_into(users::table).values((users::id.eq(1), users::email.eq("x")));
                let want = expected_fingerprint(diesel::debug_query::<$backend, _>(&insert).to_string());
                assert_eq!(dbs.iter().filter(|(_, d)| d.statement.as_str() == want).count(), 3, "{want}: {dbs:#?}");
                let select = users::table
                    .select((users::id, users::email))
                    .filter(users::email.ne("x"))
                    .order(users::id);
                let want = expected_fingerprint(diesel::debug_query::<$backend, _>(&select).to_string());
                assert!(dbs.iter().any(|(_, d)| d.statement.as_str() == want), "{want}: {dbs:#?}");
                assert_no_secret_anywhere(&harness().mem, "diesel-tests", &SECRETS);
            }

            #[test]
            fn syntax_error_and_constraint_violation() {
                let Some((url, _tmp)) = url() else { return };
                let mut conn = setup(&url);
                let root = TraceContext::new_root(true);
                root.in_scope(|| {
                    let sql = format!("SELEC email FROM users WHERE name = '{}'", SECRETS[1]);
                    assert!(diesel::sql_query(sql).execute(&mut conn).is_err());
                    diesel::insert_into(users::table)
                        .values((users::id.eq(1), users::email.eq(SECRETS[0])))
                        .execute(&mut conn)
                        .unwrap();
                    let dup = diesel::insert_into(users::table)
                        .values((users::id.eq(2), users::email.eq(SECRETS[0])))
                        .execute(&mut conn)
                        .unwrap_err();
                    assert!(matches!(
                        dup,
                        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
                    ));
                });
                let evs = trace_events(&harness().mem, root.trace_id());
                let dbs = db_events(&evs);
                assert_eq!(dbs.len(), 3, "{dbs:#?}");
                let failed: Vec<_> = dbs.iter().filter(|(_, d)| d.error).collect();
                assert_eq!(failed.len(), 2);
                let syntax = failed.iter().find(|(_, d)| d.statement.as_str().starts_with("SELEC ")).unwrap();
                assert_eq!(syntax.1.statement.as_str(), "SELEC email FROM users WHERE name = ?");
                let text = syntax.1.error_text.as_deref().unwrap();
                assert!(text.contains("syntax error"), "{text}");
                let dup = failed.iter().find(|(_, d)| d.statement.as_str().starts_with("INSERT")).unwrap();
                let text = dup.1.error_text.as_deref().unwrap().to_lowercase();
                assert!(text.contains("unique"), "{text}");
                assert_no_secret_anywhere(&harness().mem, "diesel-tests", &SECRETS);
            }

            #[spyglass::instrument]
            fn load_emails(conn: &mut Conn) -> QueryResult<Vec<String>> {
                users::table.select(users::email).load(conn)
            }

            #[test]
            fn nested_under_an_instrumented_function() {
                let Some((url, _tmp)) = url() else { return };
                let mut conn = setup(&url);
                let root = TraceContext::new_root(true);
                let emails = root.in_scope(|| load_emails(&mut conn)).unwrap();
                assert!(emails.is_empty());
                let evs = trace_events(&harness().mem, root.trace_id());
                let f = evs
                    .iter()
                    .find(|e| matches!(&e.kind, EventKind::Fn(f) if f.name.as_str() == "load_emails"))
                    .expect("the function's event");
                assert_eq!(f.parent_span_id, Some(root.span_id()));
                let dbs = db_events(&evs);
                assert_eq!(dbs.len(), 1);
                assert_eq!(dbs[0].0.parent_span_id, Some(f.span_id), "the query is a child of the function");
            }

            #[test]
            fn transactions_are_spans_with_their_queries() {
                let Some((url, _tmp)) = url() else { return };
                let mut conn = setup(&url);
                let root = TraceContext::new_root(true);
                root.in_scope(|| {
                    conn.transaction::<_, diesel::result::Error, _>(|c| {
                        diesel::insert_into(users::table)
                            .values((users::id.eq(1), users::email.eq("a@example.org")))
                            .execute(c)?;
                        // A nested transaction: a savepoint, recorded as queries.
                        c.transaction::<_, diesel::result::Error, _>(|c| {
                            diesel::insert_into(users::table)
                                .values((users::id.eq(2), users::email.eq("b@example.org")))
                                .execute(c)
                        })?;
                        Ok(())
                    })
                    .unwrap();
                    let r = conn.transaction::<(), _, _>(|c| {
                        diesel::insert_into(users::table)
                            .values((users::id.eq(3), users::email.eq("c@example.org")))
                            .execute(c)?;
                        Err(diesel::result::Error::RollbackTransaction)
                    });
                    assert!(r.is_err());
                });
                let count: i64 = users::table.count().get_result(&mut conn).unwrap();
                assert_eq!(count, 2);

                let evs = trace_events(&harness().mem, root.trace_id());
                let txs: Vec<&Event> = evs
                    .iter()
                    .filter(|e| matches!(&e.kind, EventKind::Fn(f) if f.name.as_str() == "transaction" && f.module.as_str() == "diesel"))
                    .collect();
                assert_eq!(txs.len(), 2, "{evs:#?}");
                let (ok, rolled): (Vec<&Event>, Vec<&Event>) = txs.iter().partition(|e| !e.is_error());
                assert_eq!((ok.len(), rolled.len()), (1, 1));
                for tx in &txs {
                    assert_eq!(tx.parent_span_id, Some(root.span_id()));
                }
                let children = |tx: &Event| -> Vec<String> {
                    db_events(&evs)
                        .into_iter()
                        .filter(|(e, _)| e.parent_span_id == Some(tx.span_id))
                        .map(|(_, d)| d.statement.as_str().to_owned())
                        .collect()
                };
                let committed = children(ok[0]);
                assert_eq!(committed.len(), 6, "BEGIN, insert, SAVEPOINT, insert, RELEASE, COMMIT: {committed:?}");
                assert!(committed[0].starts_with("BEGIN"), "{committed:?}");
                assert!(committed[2].starts_with("SAVEPOINT"), "{committed:?}");
                assert!(committed[4].starts_with("RELEASE SAVEPOINT"), "{committed:?}");
                assert_eq!(committed[5], "COMMIT");
                let rolled_back = children(rolled[0]);
                assert_eq!(rolled_back.len(), 3, "{rolled_back:?}");
                assert_eq!(rolled_back[2], "ROLLBACK");
                // No query of this trace is left outside the transactions.
                assert!(db_events(&evs).iter().all(|(e, _)| e.parent_span_id != Some(root.span_id())));
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn pooled_connections_and_spawn_blocking_keep_the_context() {
                let Some((url, _tmp)) = url() else { return };
                drop(setup(&url));
                let pool = diesel::r2d2::Pool::builder()
                    .max_size(2)
                    .build(diesel::r2d2::ConnectionManager::<Conn>::new(url))
                    .expect("a pool");
                let root = TraceContext::new_root(true);
                let (p1, p2) = (pool.clone(), pool.clone());
                async move {
                    // With the helper, the query nests under the request.
                    spyglass_diesel::spawn_blocking(move || {
                        let mut c = p1.get().unwrap();
                        users::table.count().get_result::<i64>(&mut c).unwrap()
                    })
                    .await
                    .unwrap();
                    // Plain spawn_blocking loses the context (why the helper exists).
                    tokio::task::spawn_blocking(move || {
                        let mut c = p2.get().unwrap();
                        users::table.select(users::id).load::<i32>(&mut c).unwrap()
                    })
                    .await
                    .unwrap();
                }
                .with_context(root)
                .await;
                let evs = trace_events(&harness().mem, root.trace_id());
                let dbs = db_events(&evs);
                // r2d2 checks a connection out with a `SELECT 1`: a real query, recorded too.
                let users_queries: Vec<_> = dbs.iter().filter(|(_, d)| d.statement.as_str().contains("users")).collect();
                assert_eq!(users_queries.len(), 1, "only the helper's query is in the request's trace: {dbs:#?}");
                let (e, d) = users_queries[0];
                assert!(d.statement.as_str().contains("COUNT(*)"), "{dbs:#?}");
                assert_eq!(d.system, $system, "the pool's connections got the default instrumentation");
                assert_eq!(e.parent_span_id, Some(root.span_id()));
                assert!(dbs.iter().all(|(e, _)| e.parent_span_id == Some(root.span_id())));
            }

            #[test]
            fn n_plus_one_found_for_a_loop_not_for_distinct_queries() {
                let Some((url, _tmp)) = url() else { return };
                let mut conn = setup(&url);
                let loop_route: &'static str = Box::leak(format!("/{}/loop", unique("n1")).into_boxed_str());
                let ctx = spyglass::global().new_request_context(None, None);
                ctx.in_scope(|| {
                    for id in 0..6 {
                        users::table.find(id).select(users::email).first::<String>(&mut conn).optional().unwrap();
                    }
                });
                finish_request(ctx, loop_route);
                let distinct_route: &'static str = Box::leak(format!("/{}/distinct", unique("n1")).into_boxed_str());
                let ctx2 = spyglass::global().new_request_context(None, None);
                ctx2.in_scope(|| {
                    users::table.select(users::id).load::<i32>(&mut conn).unwrap();
                    users::table.select(users::email).load::<String>(&mut conn).unwrap();
                    users::table.select(users::name).load::<Option<String>>(&mut conn).unwrap();
                    users::table.count().get_result::<i64>(&mut conn).unwrap();
                    users::table.filter(users::id.gt(3)).select(users::id).load::<i32>(&mut conn).unwrap();
                    users::table.filter(users::email.like("%@x")).select(users::id).load::<i32>(&mut conn).unwrap();
                });
                finish_request(ctx2, distinct_route);
                flush();
                let snap = spyglass::stats().snapshot(Duration::from_secs(900));
                let found: Vec<_> = snap.n_plus_one.iter().filter(|f| f.route.as_str() == loop_route).collect();
                assert_eq!(found.len(), 1, "{:?}", snap.n_plus_one);
                assert_eq!(found[0].count, 6);
                assert_eq!(found[0].system, $system);
                assert_eq!(found[0].trace_id, ctx.trace_id());
                let q = users::table.find(1).select(users::email).limit(1);
                assert_eq!(
                    found[0].statement.as_str(),
                    expected_fingerprint(diesel::debug_query::<$backend, _>(&q).to_string())
                );
                assert!(!snap.n_plus_one.iter().any(|f| f.route.as_str() == distinct_route), "{:?}", snap.n_plus_one);
            }
        }
    };
}

backend_suite!(
    postgres,
    PgConnection,
    diesel::pg::Pg,
    "postgresql",
    pg_url()
);
backend_suite!(
    sqlite,
    SqliteConnection,
    diesel::sqlite::Sqlite,
    "sqlite",
    sqlite_url()
);
