//! Added cost per query, measured robustly on a shared, loaded machine: rounds of 100 plain queries
//! then 100 instrumented ones (the same query on the same kind of connection), alternating, and the
//! median over rounds of each side's per-query time. Load spikes hit single rounds and drop out of the
//! medians; the difference of medians is the added cost. Criterion's `db` bench in this folder
//! measures each side on its own (see its header); this harness exists because on two busy cores
//! the plain and instrumented criterion runs are minutes apart and their noise (several µs) swamps a
//! sub-microsecond difference.
//!
//! Run: `cargo bench -p spyglass-benches-db --bench added` (prints the table).
//!
//! See `db.rs` for the results table.

use std::hint::black_box;
use std::time::Instant;

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
const ROUNDS: usize = 1001;
const PER_ROUND: u32 = 100;

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Per-query nanoseconds of one side: the median and the minimum over rounds (noise only ever adds
/// time, so the minimum is the cost on a quiet machine).
#[derive(Clone, Copy)]
struct Side {
    median: f64,
    min: f64,
}

/// Runs `plain` and `instrumented` (each does one query) in alternating rounds.
fn paired(mut plain: impl FnMut(u32), mut instrumented: impl FnMut(u32)) -> (Side, Side) {
    // Warm up both (statement caches, fingerprint cache, allocator).
    for i in 0..2_000 {
        plain(i);
        instrumented(i);
    }
    let (mut p, mut s, mut d) = (Vec::new(), Vec::new(), Vec::new());
    for r in 0..ROUNDS {
        // Alternate which side goes first so a slow start of a round does not favour one side.
        let run = |f: &mut dyn FnMut(u32)| {
            let t0 = Instant::now();
            for i in 0..PER_ROUND {
                f(i);
            }
            t0.elapsed().as_nanos() as f64 / f64::from(PER_ROUND)
        };
        let (a, b) = if r % 2 == 0 {
            let a = run(&mut plain);
            (a, run(&mut instrumented))
        } else {
            let b = run(&mut instrumented);
            (run(&mut plain), b)
        };
        p.push(a);
        s.push(b);
        d.push(b - a);
    }
    let _ = median(&mut d);
    let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    (
        Side {
            median: median(&mut p),
            min: min(&p),
        },
        Side {
            median: median(&mut s),
            min: min(&s),
        },
    )
}

fn row(name: &str, plain: Side, inst: Side) {
    println!(
        "| {name} | {:.2} µs / {:.2} µs | {:.2} µs / {:.2} µs | {:.0} ns / {:.0} ns |",
        plain.min / 1e3,
        plain.median / 1e3,
        inst.min / 1e3,
        inst.median / 1e3,
        inst.min - plain.min,
        inst.median - plain.median,
    );
}

fn main() {
    // `cargo bench` passes `--bench`; this harness takes no options.
    let _guard = spyglass_core::Spyglass::builder()
        .service_name("bench-db")
        .install()
        .expect("install");

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
    let conn = std::cell::RefCell::new(&mut conn);
    let (sp, ss) = paired(
        |i| {
            let mut c = conn.borrow_mut();
            black_box(
                rt.block_on(
                    sqlx::query(sql)
                        .bind(i64::from(i % 100))
                        .fetch_one(&mut **c),
                )
                .unwrap(),
            );
        },
        |i| {
            let mut c = conn.borrow_mut();
            black_box(
                rt.block_on(
                    sqlx::query(sql)
                        .bind(i64::from(i % 100))
                        .fetch_one(spyglass_sqlx::instrument(&mut **c)),
                )
                .unwrap(),
            );
        },
    );

    let mk = || {
        let mut c = SqliteConnection::establish(":memory:").unwrap();
        diesel::sql_query(DDL).execute(&mut c).unwrap();
        for i in 0..100 {
            diesel::insert_into(users::table)
                .values((
                    users::id.eq(i),
                    users::email.eq(format!("user{i}@example.org")),
                ))
                .execute(&mut c)
                .unwrap();
        }
        c
    };
    let mut plain_conn = mk();
    let mut inst_conn = mk();
    inst_conn.set_instrumentation(spyglass_diesel::SpyglassInstrumentation::with_system(
        "sqlite",
    ));
    let mut peer_conn = mk();
    peer_conn.set_instrumentation({
        let mut start = None;
        move |ev: diesel::connection::InstrumentationEvent<'_>| match ev {
            diesel::connection::InstrumentationEvent::StartQuery { .. } => {
                start = Some(Instant::now())
            }
            diesel::connection::InstrumentationEvent::FinishQuery { query, .. } => {
                black_box((query.to_string(), start.take().map(|s| s.elapsed())));
            }
            _ => {}
        }
    });
    let find = |c: &mut SqliteConnection, i: u32| {
        black_box(
            users::table
                .find((i % 100) as i32)
                .first::<(i32, String)>(c)
                .unwrap(),
        );
    };
    let (dp, ds) = paired(|i| find(&mut plain_conn, i), |i| find(&mut inst_conn, i));
    let (dp2, dpeer) = paired(|i| find(&mut plain_conn, i), |i| find(&mut peer_conn, i));

    println!("| query (SQLite in memory) | plain (min / median) | instrumented (min / median) | added (min / median) |");
    println!("| --- | --- | --- | --- |");
    row("sqlx `fetch_one` by id, `instrument(&mut conn)`", sp, ss);
    row(
        "diesel `find(id).first()`, `SpyglassInstrumentation`",
        dp,
        ds,
    );
    row(
        "diesel, peer: closure timing + `query.to_string()`",
        dp2,
        dpeer,
    );
}
