//! The added cost per query of `spyglass-sqlx` and `spyglass-diesel`, on SQLite in memory: the same
//! query run uninstrumented and instrumented, side by side, with the
//! closure instrumentation diesel documents (timing + formatting the query) as the peer.
//!
//! Run: `cargo bench -p spyglass-benches-db --bench db`
//!
//! Results: filled in below after a run (median of criterion's estimate; "added" is instrumented
//! minus plain).
//!
//! RESULTS_TABLE

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use diesel::connection::{Instrumentation, InstrumentationEvent};
use diesel::prelude::*;
use sqlx::{Connection as _, Executor as _};

mod schema {
    diesel::table! {
        users (id) {
            id -> Integer,
            email -> Text,
        }
    }
}
use schema::users;

const DDL: &str = "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL)";

/// The global instance every instrumented query records into (stats store on, no exporter: the
/// collector drains the queue).
fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let guard = spyglass_core::Spyglass::builder()
            .service_name("bench-db")
            .install()
            .expect("install");
        // Keep the instance for the whole run.
        Box::leak(Box::new(guard));
    });
}

fn sqlx_sqlite(c: &mut Criterion) {
    install();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut conn = rt.block_on(async {
        let mut conn = sqlx::SqliteConnection::connect("sqlite::memory:")
            .await
            .unwrap();
        conn.execute(DDL).await.unwrap();
        for i in 0..100 {
            sqlx::query("INSERT INTO users (id, email) VALUES (?, ?)")
                .bind(i)
                .bind(format!("user{i}@example.org"))
                .execute(&mut conn)
                .await
                .unwrap();
        }
        conn
    });
    let sql = "SELECT id, email FROM users WHERE id = ?";
    let mut g = c.benchmark_group("sqlx_sqlite_fetch_one");
    g.bench_function("plain", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let t0 = Instant::now();
                for i in 0..iters {
                    let row = sqlx::query(sql)
                        .bind((i % 100) as i64)
                        .fetch_one(&mut conn)
                        .await
                        .unwrap();
                    black_box(row);
                }
                t0.elapsed()
            })
        })
    });
    g.bench_function("spyglass", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let t0 = Instant::now();
                for i in 0..iters {
                    let row = sqlx::query(sql)
                        .bind((i % 100) as i64)
                        .fetch_one(spyglass_sqlx::instrument(&mut conn))
                        .await
                        .unwrap();
                    black_box(row);
                }
                t0.elapsed()
            })
        })
    });
    g.finish();

    let mut g = c.benchmark_group("sqlx_sqlite_fetch_all_10_rows");
    let sql10 = "SELECT id, email FROM users WHERE id >= ? AND id < ? + 10";
    g.bench_function("plain", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let t0 = Instant::now();
                for i in 0..iters {
                    let s = (i % 90) as i64;
                    let rows = sqlx::query(sql10)
                        .bind(s)
                        .bind(s)
                        .fetch_all(&mut conn)
                        .await
                        .unwrap();
                    black_box(rows);
                }
                t0.elapsed()
            })
        })
    });
    g.bench_function("spyglass", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let t0 = Instant::now();
                for i in 0..iters {
                    let s = (i % 90) as i64;
                    let rows = sqlx::query(sql10)
                        .bind(s)
                        .bind(s)
                        .fetch_all(spyglass_sqlx::instrument(&mut conn))
                        .await
                        .unwrap();
                    black_box(rows);
                }
                t0.elapsed()
            })
        })
    });
    g.finish();
}

fn diesel_conn() -> SqliteConnection {
    let mut conn = SqliteConnection::establish(":memory:").unwrap();
    diesel::sql_query(DDL).execute(&mut conn).unwrap();
    for i in 0..100 {
        diesel::insert_into(users::table)
            .values((
                users::id.eq(i),
                users::email.eq(format!("user{i}@example.org")),
            ))
            .execute(&mut conn)
            .unwrap();
    }
    conn
}

/// What a user writes without Spyglass to time queries: diesel's documented closure
/// instrumentation, keeping the start time and formatting the query (SQL and binds) at the end.
fn closure_logger() -> impl Instrumentation {
    let mut start = None;
    move |ev: InstrumentationEvent<'_>| match ev {
        InstrumentationEvent::StartQuery { .. } => start = Some(Instant::now()),
        InstrumentationEvent::FinishQuery { query, .. } => {
            let took = start.take().map(|s| s.elapsed());
            black_box((query.to_string(), took));
        }
        _ => {}
    }
}

fn diesel_sqlite(c: &mut Criterion) {
    install();
    let mut g = c.benchmark_group("diesel_sqlite_find");
    let mut conns = [
        ("plain", diesel_conn()),
        ("spyglass", diesel_conn()),
        ("closure_format_debug_query", diesel_conn()),
    ];
    conns[1]
        .1
        .set_instrumentation(spyglass_diesel::SpyglassInstrumentation::with_system(
            "sqlite",
        ));
    conns[2].1.set_instrumentation(closure_logger());
    for (name, conn) in conns.iter_mut() {
        g.bench_function(*name, |b| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % 100;
                let row: (i32, String) = users::table.find(i).first(conn).unwrap();
                black_box(row)
            })
        });
    }
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50)
}

criterion_group! {
    name = benches;
    config = config();
    targets = sqlx_sqlite, diesel_sqlite
}
criterion_main!(benches);
